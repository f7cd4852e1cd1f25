-- Running queries and functions (`execute`: Trino's ExecuteQuery, ExecuteFunction, and reading
-- the metadata views of its system catalog, which Trino filters object by object) is open to
-- every member of the mesh, i.e. any principal holding a role. What a query reads is decided
-- separately, table by table and column by column. Mode `default`: a domain may override it.

return {
  id = "global.query-execution",
  description = "Any principal holding at least one role may run queries and functions "
    .. "(the data they touch is checked separately).",
  kinds = {"access"},
  actions = {"execute"},
  mode = "default",
  check = function(req)
    if req.action ~= "execute" then return end
    local roles = req.principal.roles
    if roles ~= nil and #roles > 0 then
      return allow("Members of the data mesh may run queries.",
        {detail = "operation " .. tostring(req.context and req.context.operation)})
    end
  end,
}
