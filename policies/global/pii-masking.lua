-- Personal data is masked for every reader without role pii-reader, whoever granted the read:
-- the product's access control, a domain's own grant (sales shares customer-360 with marketing)
-- or the auditors' mandatory grant. The masks are obligations (obligate()): they never grant
-- access by themselves, they attach to whatever allow stands, and being mandatory they win
-- over any mask a domain policy puts on the same column.
-- Masks: character columns become '***', every other type NULL.

local PII_ROLE = "pii-reader"

local function truthy(v)
  return v == true or v == "true"
end

-- The catalog's columns for this request: the table's, or every sql table's of the product
-- when the request names the product only. Returns a list and a lower-case name index.
local function catalog_columns(req)
  local cols, by_name = {}, {}
  local function add(tbl)
    local columns = get(tbl, "columns")
    if columns == nil then return end
    for _, c in ipairs(columns) do
      local n = get(c, "name")
      if type(n) == "string" and by_name[string.lower(n)] == nil then
        local col = {name = n, type = get(c, "type"), pii = truthy(get(c, "pii"))}
        cols[#cols + 1] = col
        by_name[string.lower(n)] = col
      end
    end
  end
  if req.table ~= nil then
    add(req.table)
  elseif get(req, "resource.table") == nil or req.resource.table == "" then
    local ports = get(req.product, "spec.outputPorts")
    if ports ~= nil then
      for _, port in ipairs(ports) do
        if get(port, "type") == "sql" and get(port, "tables") ~= nil then
          for _, t in ipairs(port.tables) do add(t) end
        end
      end
    end
  end
  return cols, by_name
end

-- PII columns the request touches (all of them when it names no column).
local function touched_pii(req)
  local requested = req.resource.columns
  local out = {}
  -- Fast path: requested columns already carry the catalog's marks (the engine attaches the
  -- catalog's column entry to each one it knows), so the entries themselves are returned: a
  -- copy of each cost a table per PII column (~1.2k instructions each, BM_AccessPii).
  if req.table ~= nil and #requested > 0 then
    for _, c in ipairs(requested) do
      local pii = c.pii
      if pii == true or pii == "true" then out[#out + 1] = c end
    end
    return out
  end
  local cols, by_name = catalog_columns(req)
  if requested ~= nil and #requested > 0 then
    for _, c in ipairs(requested) do
      local n = type(c) == "string" and c or get(c, "name")
      local col = type(n) == "string" and by_name[string.lower(n)] or nil
      if col ~= nil and col.pii then out[#out + 1] = col end
    end
  else
    for _, col in ipairs(cols) do
      if col.pii then out[#out + 1] = col end
    end
  end
  return out
end

local function mask_for(col)
  if re.match([[(?i)(var)?char(\s*\(\s*\d+\s*\))?|string|text]], tostring(col.type or "")) then
    return "'***'"
  end
  return "NULL"
end

return {
  id = "global.pii-masking",
  description = "Masks PII columns (pii: true in the catalog) for readers without role "
    .. PII_ROLE .. ".",
  kinds = {"access"},
  actions = {"read"},
  mode = "mandatory",
  check = function(req)
    if req.action ~= "read" or req.product == nil then return end
    if has_role(req.principal, PII_ROLE) then return end
    local pii = touched_pii(req)
    if #pii == 0 then return end
    local masks, names = {}, {}
    for _, col in ipairs(pii) do
      masks[col.name] = mask_for(col)
      names[#names + 1] = col.name
    end
    return obligate("Personal data in this result is masked.",
      {masks = masks,
       detail = "masked PII columns " .. table.concat(names, ", ") .. " (no role " .. PII_ROLE .. ")"})
  end,
}
