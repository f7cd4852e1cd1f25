-- Domain ownership: the team named in metadata.owner runs the product and may read, write and
-- administer it, whether the identity provider reports the team as a role or as a group.
-- Mode `default`, so a domain's own tightening (a change window, say) still applies to it.

local ACTIONS = {"read", "write", "admin"}
-- The same as a set: the check tests it with one table lookup on every access decision (a
-- list.contains call cost ~500 instructions more).
local IS_ACTION = {}
for _, a in ipairs(ACTIONS) do IS_ACTION[a] = true end

return {
  id = "global.owner-access",
  description = "The owning team (metadata.owner, as a role or a group) may read, write and "
    .. "administer its product.",
  kinds = {"access"},
  actions = ACTIONS,
  mode = "default",
  check = function(req)
    if not IS_ACTION[req.action] or req.product == nil then return end
    local owner = get(req.product, "metadata.owner")
    if type(owner) ~= "string" or owner == "" then return end
    if has_role(req.principal, owner) or in_group(req.principal, owner) then
      return allow("Granted to the product's owning team.",
        {detail = "principal belongs to owner " .. owner .. " of "
          .. tostring(get(req.product, "metadata.name"))})
    end
  end,
}
