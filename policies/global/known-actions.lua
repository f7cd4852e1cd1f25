-- Fail closed, and say why: an access request whose action Arbiter's policies do not know (a
-- query engine operation newer than this bundle, say: the Trino endpoint sends action "unknown"
-- with Trino's operation name in req.context.operation) is refused by a named policy, so the
-- decision log shows what was asked instead of a silent default deny.

local KNOWN = {"read", "write", "admin", "discover", "execute", "system"}
-- The same as a set: the check tests it with one table lookup on every access decision (a
-- list.contains call cost ~500 instructions more).
local IS_KNOWN = {}
for _, a in ipairs(KNOWN) do IS_KNOWN[a] = true end

return {
  id = "global.known-actions",
  description = "Denies access requests whose action is not one of " .. table.concat(KNOWN, ", ")
    .. ".",
  kinds = {"access"},
  mode = "mandatory",
  check = function(req)
    if IS_KNOWN[req.action] then return end
    local operation = req.context and req.context.operation
    return deny("This operation is not supported by the data mesh's access policies.",
      {detail = "action " .. tostring(req.action) .. ", operation " .. tostring(operation)
        .. " by " .. tostring(req.principal.id)})
  end,
}
