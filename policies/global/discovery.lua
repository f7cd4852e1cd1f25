-- Discoverability: catalogs and search show every registered product to anyone who has a role
-- in the mesh; seeing that a product exists (its descriptor, not its data) needs no grant.
-- Mode `default`: a domain may hide its products by overriding this policy or denying discover.

return {
  id = "global.discovery",
  description = "Any principal holding at least one role may discover (list, describe) "
    .. "registered data products.",
  kinds = {"access"},
  actions = {"discover"},
  mode = "default",
  check = function(req)
    if req.action ~= "discover" or req.product == nil then return end
    local roles = req.principal.roles
    if roles ~= nil and #roles > 0 then
      return allow("Registered data products are discoverable by every member of the mesh.")
    end
  end,
}
