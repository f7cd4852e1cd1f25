-- Platform operations (`system` action: catalog management, query kill, session properties,
-- what Trino calls system access) belong to the self-serve platform team only.

return {
  id = "global.system-operations",
  description = "The system action is reserved to role platform-admin.",
  kinds = {"access"},
  actions = {"system"},
  mode = "mandatory",
  check = function(req)
    if req.action ~= "system" then return end
    local operation = req.context and req.context.operation
    if has_role(req.principal, "platform-admin") then
      return allow("Platform administrators may perform system operations.",
        {detail = "operation " .. tostring(operation)})
    end
    return deny("System operations are reserved to platform administrators.",
      {detail = "operation " .. tostring(operation) .. " by " .. tostring(req.principal.id)})
  end,
}
