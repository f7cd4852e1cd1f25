-- Sales shares customer-360 with marketing analytics for campaign attribution in the EU (the
-- GDPR-covered consent base), as agreed with the marketing domain: EU customers only (row
-- filter) and personal data masked unless the reader holds pii-reader. The masks are applied
-- here because the mesh's global.pii-masking only speaks for readers the product itself lists.

local PRODUCT = "customer-360"
local ROLE = "marketing-analytics"
local REGION = "EU"
local PII_ROLE = "pii-reader"

local function get(t, path)
  for key in string.gmatch(path, "[^.]+") do
    if type(t) ~= "userdata" and type(t) ~= "table" then return nil end
    t = t[key]
  end
  return t
end

local function truthy(v)
  return v == true or v == "true"
end

local function mask_for(type_name)
  if re.match([[(?i)(var)?char(\s*\(\s*\d+\s*\))?|string|text]], tostring(type_name or "")) then
    return "'***'"
  end
  return "NULL"
end

return {
  id = "sales.marketing-share",
  description = "Role " .. ROLE .. " with region " .. REGION .. " may read " .. PRODUCT
    .. ", filtered to EU customers, PII masked.",
  kinds = {"access"},
  check = function(req, ctx)
    if req.action ~= "read" or req.table == nil then return end
    if get(req.product, "metadata.name") ~= PRODUCT then return end
    local p = req.principal
    if not has_role(p, ROLE) then return end
    if get(p, "attributes.region") ~= REGION then return end
    -- Only tables that carry the region column can be filtered; the others are not shared.
    local columns = get(req.table, "columns")
    local by_name, has_region = {}, false
    if columns ~= nil then
      for _, c in ipairs(columns) do
        local n = get(c, "name")
        if type(n) == "string" then
          by_name[string.lower(n)] = c
          if string.lower(n) == "region" then has_region = true end
        end
      end
    end
    if not has_region then return end

    local opts = {row_filters = {"region = '" .. REGION .. "'"},
                  detail = "shared with " .. ROLE .. " (region " .. REGION .. ")"}
    if not has_role(p, PII_ROLE) then
      local masks, names = {}, {}
      local requested = get(req, "resource.columns")
      local wanted = {}
      if requested ~= nil and #requested > 0 then
        for _, c in ipairs(requested) do
          local n = type(c) == "string" and c or get(c, "name")
          local col = type(n) == "string" and by_name[string.lower(n)] or nil
          if col ~= nil then wanted[#wanted + 1] = col end
        end
      else
        for _, c in ipairs(columns) do wanted[#wanted + 1] = c end
      end
      for _, c in ipairs(wanted) do
        if truthy(get(c, "pii")) then
          masks[get(c, "name")] = mask_for(get(c, "type"))
          names[#names + 1] = get(c, "name")
        end
      end
      if #names > 0 then
        opts.masks = masks
        opts.detail = opts.detail .. "; masked PII columns " .. table.concat(names, ", ")
      end
    end
    return allow("Customer data shared with marketing analytics for EU campaign attribution.", opts)
  end,
}
