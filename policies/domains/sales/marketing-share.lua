-- Sales shares customer-360 with marketing analytics for campaign attribution in the EU (the
-- GDPR-covered consent base), as agreed with the marketing domain: EU analysts only, EU
-- customers only (row filter). Personal data is masked by the mesh's global.pii-masking.

local PRODUCT = "customer-360"
local ROLE = "marketing-analytics"
local REGION = "EU"

return {
  id = "sales.marketing-share",
  description = "Role " .. ROLE .. " with region " .. REGION .. " may read " .. PRODUCT
    .. " tables, filtered to " .. REGION .. " customers.",
  kinds = {"access"},
  actions = {"read"},
  check = function(req)
    if req.action ~= "read" or req.table == nil then return end
    if get(req.product, "metadata.name") ~= PRODUCT then return end
    local p = req.principal
    if not has_role(p, ROLE) or get(p, "attributes.region") ~= REGION then return end
    -- Only tables that carry the region column can be filtered; the others are not shared.
    local has_region = false
    local columns = get(req.table, "columns")
    if columns ~= nil then
      for _, c in ipairs(columns) do
        if string.lower(tostring(get(c, "name"))) == "region" then has_region = true end
      end
    end
    if not has_region then return end
    return allow("Customer data shared with marketing analytics for EU campaign attribution.",
      {row_filters = {"region = '" .. REGION .. "'"},
       detail = "shared with " .. ROLE .. " of region " .. REGION .. ", rows of region " .. REGION})
  end,
}
