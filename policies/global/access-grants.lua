-- The product's own access-control list decides who may read, write or administer it:
-- spec.governance.accessControl: [{role, permissions: [read, write, admin]}].
-- Mode `default`: a domain may replace this rule for its own products (finance does).

local ACTIONS = {"read", "write", "admin"}
-- The same as a set: the check tests it with one table lookup on every access decision (a
-- list.contains call cost ~500 instructions more).
local IS_ACTION = {}
for _, a in ipairs(ACTIONS) do IS_ACTION[a] = true end

return {
  id = "global.access-grants",
  description = "Grants read/write/admin to principals holding a role that the product's "
    .. "governance.accessControl gives that permission.",
  kinds = {"access"},
  actions = ACTIONS,
  mode = "default",
  check = function(req)
    if not IS_ACTION[req.action] or req.product == nil then return end
    local acl = get(req.product, "spec.governance.accessControl")
      or get(req.product, "governance.accessControl")
    if acl == nil then return end
    for _, entry in ipairs(acl) do
      local role = get(entry, "role")
      local permissions = get(entry, "permissions")
      if type(role) == "string" and permissions ~= nil and has_role(req.principal, role)
          and list.contains(permissions, req.action) then
        return allow("Granted by the data product's access control.",
          {detail = "role " .. role .. " has " .. req.action .. " on "
            .. tostring(get(req.product, "metadata.name"))})
      end
    end
  end,
}
