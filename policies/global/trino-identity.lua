-- Say why a Trino user gets nothing: the Trino endpoint maps the user's groups to roles through
-- the server's trino.group_roles; a user none of whose groups is mapped reaches the policies
-- with no role at all, and would otherwise be denied by the closed default with no word of
-- why. Advisory: a warning that never changes the decision.

return {
  id = "global.trino-identity",
  description = "Warns when a Trino identity's groups map to no Arbiter role.",
  kinds = {"access"},
  mode = "advisory",
  check = function(req)
    local c = req.context
    if c == nil or c.source ~= "trino" then return end
    if list.len(req.principal.roles) > 0 then return end
    local groups = {}
    for i = 1, list.len(req.principal.groups) do groups[i] = req.principal.groups[i] end
    return warn("Your Trino identity carries no role: none of your groups maps to a role of the "
      .. "data mesh.", {detail = "user " .. tostring(req.principal.id) .. ", groups ["
        .. table.concat(groups, ", ") .. "]: none is in the server's trino.group_roles"})
  end,
}
