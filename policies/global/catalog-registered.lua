-- Addressability: only data the mesh knows can be governed, so access to anything that is not
-- in the catalog is refused: a table no product serves, a table a product's schema holds but
-- its descriptor does not list (its columns have no PII marks), a column the catalog does not
-- know, or a product name that is not registered. `system` and `execute` actions (platform
-- operations, running a query or a function) have no data resource: what a query reads is
-- checked table by table.

return {
  id = "global.catalog-registered",
  description = "Denies access to tables, columns and products that are not registered in the "
    .. "data mesh catalog.",
  kinds = {"access"},
  mode = "mandatory",
  check = function(req, ctx)
    if req.action == "system" or req.action == "execute" then return end
    local table_name = get(req, "resource.table")
    local product_name = get(req, "resource.product")
    if type(table_name) == "string" and table_name ~= "" then
      if req.table == nil then
        return deny("This table is not registered in the data mesh catalog.",
          {detail = "unknown table " .. table_name
            .. (req.product ~= nil and (" in a schema of product "
              .. tostring(get(req.product, "metadata.name"))) or "")})
      end
      local known = {}
      local columns = get(req.table, "columns")
      if columns ~= nil then
        for _, c in ipairs(columns) do
          local n = get(c, "name")
          if type(n) == "string" then known[string.lower(n)] = true end
        end
      end
      local unknown = {}
      local requested = get(req, "resource.columns")
      if requested ~= nil then
        for _, c in ipairs(requested) do
          local n = type(c) == "string" and c or get(c, "name")
          if type(n) ~= "string" or not known[string.lower(n)] then
            unknown[#unknown + 1] = tostring(n)
          end
        end
      end
      if #unknown > 0 then
        return deny("The request names columns that are not registered in the catalog.",
          {detail = "unknown columns of " .. table_name .. ": " .. table.concat(unknown, ", ")})
      end
      return
    end
    if req.product == nil then
      return deny("This data product is not registered in the data mesh catalog.",
        {detail = "unknown product " .. tostring(product_name)})
    end
  end,
}
