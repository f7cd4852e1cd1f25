-- Finance replaces the mesh's access-control grant for its own products: confidential financial
-- data goes only to principals of the finance domain, even when another domain's role appears
-- in a product's accessControl (e.g. data-scientists); the finance analysts team reads every
-- finance product. Auditors keep their mesh-wide read (global.audit-read is mandatory).

local ACTIONS = {"read", "write", "admin"}
-- The same as a set: the check tests it with one table lookup on every access decision (a
-- list.contains call cost ~500 instructions more).
local IS_ACTION = {}
for _, a in ipairs(ACTIONS) do IS_ACTION[a] = true end
local ANALYSTS = "finance-analysts"

return {
  id = "finance.access-grants",
  description = "Finance data only to finance principals holding a granting role; "
    .. ANALYSTS .. " read every finance product.",
  kinds = {"access"},
  actions = ACTIONS,
  overrides = "global.access-grants",
  check = function(req)
    if not IS_ACTION[req.action] or req.product == nil then return end
    local p = req.principal
    if p.domain ~= "finance" then
      return deny("Finance data is available to the finance domain only.",
        {detail = "principal " .. tostring(p.id) .. " of domain " .. tostring(p.domain)
          .. " asked to " .. req.action .. " " .. tostring(get(req.product, "metadata.name"))})
    end
    if req.action == "read" and has_role(p, ANALYSTS) then
      return allow("Finance analysts may read finance data products.",
        {detail = "role " .. ANALYSTS})
    end
    local acl = get(req.product, "spec.governance.accessControl")
    if acl == nil then return end
    for _, entry in ipairs(acl) do
      local role = get(entry, "role")
      local permissions = get(entry, "permissions")
      if type(role) == "string" and permissions ~= nil and has_role(p, role)
          and list.contains(permissions, req.action) then
        return allow("Granted by the data product's access control (finance domain).",
          {detail = "role " .. role .. " has " .. req.action})
      end
    end
  end,
}
