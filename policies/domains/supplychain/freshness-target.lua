-- Supply chain products feed replenishment, which plans every hour: a product promising less
-- freshness than that is reported to its team (severity warning: it does not block).

local MAX_SECONDS = 3600

return {
  id = "supplychain.freshness-target",
  description = "Supply chain products should promise a freshness of one hour or better.",
  kinds = {"product"},
  severity = "warning",
  check = function(req)
    if req.operation == "deprecate" then return end
    local target = get(req.product, "spec.slos.freshness.target")
    local seconds = type(target) == "number" and target
      or (type(target) == "string" and duration(target)) or nil
    if seconds ~= nil and seconds > MAX_SECONDS then
      return deny("Supply chain products should be fresh within one hour for replenishment.",
        {detail = "spec.slos.freshness.target = " .. tostring(target)})
    end
  end,
}
