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
  check = function(req)
    if req.action == "system" or req.action == "execute" then return end
    local table_name = get(req, "resource.table")
    if type(table_name) == "string" and table_name ~= "" then
      if req.table == nil then
        return deny("This table is not registered in the data mesh catalog.",
          {detail = "unknown table " .. table_name
            .. (req.product ~= nil and (" in a schema of product "
              .. tostring(get(req.product, "metadata.name"))) or "")})
      end
      -- The engine lists the requested columns that the catalog's table does not have.
      local unknown_columns = req.resource.unknown_columns
      local n = #unknown_columns
      if n > 0 then
        -- One name is read as it is: Trino's FilterColumns asks column by column, and the list
        -- copied and joined cost ~3k instructions per item.
        local names = unknown_columns[1]
        if n > 1 then
          local unknown = {}
          for _, c in ipairs(unknown_columns) do unknown[#unknown + 1] = c end
          names = table.concat(unknown, ", ")
        end
        return deny("The request names columns that are not registered in the catalog.",
          {detail = "unknown columns of " .. table_name .. ": " .. names})
      end
      return
    end
    if req.product == nil then
      return deny("This data product is not registered in the data mesh catalog.",
        {detail = "unknown product " .. tostring(get(req, "resource.product"))})
    end
  end,
}
