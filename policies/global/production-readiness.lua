-- Automated quality gates: what reaches production carries, in every data contract, the
-- quality rules the platform runs and the SLOs consumers were promised.

local PRODUCTION = {"production", "prod", "prd"}

local function non_empty_map(m)
  if type(m) ~= "userdata" and type(m) ~= "table" then return false end
  for _ in pairs(m) do return true end
  return false
end

return {
  id = "global.production-readiness",
  description = "Production deployments need quality rules and SLOs in every data contract.",
  kinds = {"deployment"},
  mode = "mandatory",
  check = function(req)
    if not list.contains(PRODUCTION, string.lower(tostring(req.environment))) then return end
    local contracts = req.contracts
    if contracts == nil or #contracts == 0 then
      return warn("No data contract accompanies this production deployment; consumers have "
        .. "nothing to rely on.", {detail = "contracts: none"})
    end
    local findings = {}
    for i, c in ipairs(contracts) do
      local name = tostring(get(c, "metadata.name") or ("#" .. i))
      local rules = get(c, "quality.rules")
      if rules == nil or type(rules) == "string" or #rules == 0 then
        findings[#findings + 1] = deny("Data contract " .. name
          .. " needs quality rules (quality.rules) before it can go to production.",
          {detail = "contract " .. name .. ": quality.rules missing or empty"})
      end
      if not non_empty_map(get(c, "slos")) then
        findings[#findings + 1] = deny("Data contract " .. name
          .. " needs SLOs (slos) before it can go to production.",
          {detail = "contract " .. name .. ": slos missing or empty"})
      end
    end
    if #findings > 0 then return findings end
  end,
}
