return {id = "sales.view", description = "d", kinds = {"access"}, check = function(req, ctx)
  local keep = req
  return allow(tostring(#req.resource.columns) .. tostring(req.table and req.table.name), {masks = {[req.action] = req.principal.attributes.region}})
end}
