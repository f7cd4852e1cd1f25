-- Data as a product: every product promises service levels its consumers can rely on, in a form
-- the platform can measure: freshness as a duration, completeness and availability as
-- percentages (accuracy too, when declared).

local function as_percent(v)
  if type(v) == "number" then return v end
  if type(v) == "string" then return percent(v) end
  return nil
end

local function as_duration(v)
  if type(v) == "number" then return v end
  if type(v) == "string" then return duration(v) end
  return nil
end

return {
  id = "global.slos",
  description = "Products declare SLOs: freshness with a valid duration, completeness and "
    .. "availability (and accuracy, if declared) as percentages between 0 and 100.",
  kinds = {"product"},
  mode = "mandatory",
  -- A council may grant a product time to meet its SLOs (waivers/, docs/waivers.md).
  waivable = true,
  check = function(req)
    if req.operation == "deprecate" then return end
    local slos = get(req.product, "spec.slos")
    if type(slos) ~= "userdata" and type(slos) ~= "table" then
      return deny("The product must declare SLOs (spec.slos: freshness, completeness, availability).",
        {detail = "spec.slos is missing"})
    end
    local findings = {}

    local freshness = get(slos, "freshness.target")
    local seconds = as_duration(freshness)
    if seconds == nil or seconds <= 0 then
      findings[#findings + 1] = deny(
        "The freshness SLO must be a positive duration such as 15m, 4h or 1d.",
        {detail = "spec.slos.freshness.target = " .. tostring(freshness)})
    end

    for _, key in ipairs({"completeness", "availability", "accuracy"}) do
      local target = get(slos, key .. ".target")
      if target ~= nil or key ~= "accuracy" then
        local value = as_percent(target)
        if value == nil or value <= 0 or value > 100 then
          findings[#findings + 1] = deny(
            "The " .. key .. " SLO must be a percentage between 0 and 100, such as 99.5%.",
            {detail = "spec.slos." .. key .. ".target = " .. tostring(target)})
        end
      end
    end
    if #findings > 0 then return findings end
  end,
}
