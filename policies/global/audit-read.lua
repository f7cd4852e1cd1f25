-- Compliance: auditors may read every registered data product, whatever a domain decides (a
-- guaranteed grant: mandatory). Personal data stays masked for them too, by global.pii-masking,
-- unless they also hold pii-reader.

local AUDIT_ROLE = "auditor"

return {
  id = "global.audit-read",
  description = "Role " .. AUDIT_ROLE .. " may read every registered data product (PII masked "
    .. "by global.pii-masking).",
  kinds = {"access"},
  actions = {"read"},
  mode = "mandatory",
  check = function(req)
    if req.action ~= "read" or req.product == nil then return end
    if not has_role(req.principal, AUDIT_ROLE) then return end
    return allow("Auditors may read every data product.",
      {detail = "audit read of " .. tostring(get(req.product, "metadata.name")) .. " by "
        .. tostring(req.principal.id)})
  end,
}
