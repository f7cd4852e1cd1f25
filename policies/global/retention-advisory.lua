-- Being rolled out (advisory: reported as a warning, never denies). Once every domain's
-- products comply, the governance council switches it to mandatory.

return {
  id = "global.retention-advisory",
  description = "Products should declare governance.retentionPeriod as a duration (e.g. 7y).",
  kinds = {"product"},
  mode = "advisory",
  check = function(req)
    if req.operation == "deprecate" then return end
    local period = get(req.product, "spec.governance.retentionPeriod")
      or get(req.product, "governance.retentionPeriod")
    local seconds = nil
    if type(period) == "string" then seconds = duration(period) end
    if seconds == nil or seconds <= 0 then
      return deny("Products should declare how long data is kept (spec.governance.retentionPeriod, "
        .. "e.g. 7y); this will become mandatory.",
        {detail = "spec.governance.retentionPeriod = " .. tostring(period)})
    end
  end,
}
