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

-- The mask by column type, remembered in this state: a type's mask never changes, and a lookup
-- here is ~80 instructions against ~1.6k for re.match (BM_AccessPii, two PII columns: 66.3k ->
-- 63.9k instructions). Types come from the catalog, a finite set; the memo stops growing at
-- MASK_MEMO_MAX anyway.
local MASK_MEMO_MAX = 256
local mask_memo, mask_memo_size = {}, 0

local function mask_for(col)
  local t = col.type
  local mask = t ~= nil and mask_memo[t]
  if mask then return mask end
  mask = re.match([[(?i)(var)?char(\s*\(\s*\d+\s*\))?|string|text]], tostring(t or ""))
    and "'***'" or "NULL"
  if type(t) == "string" and mask_memo_size < MASK_MEMO_MAX then
    mask_memo[t] = mask
    mask_memo_size = mask_memo_size + 1
  end
  return mask
end

-- Adds the mask of col to masks (made for the first column) and its name to the list of names.
local function add_mask(masks, names, col)
  masks = masks or {}
  masks[col.name] = mask_for(col)
  return masks, names == nil and col.name or names .. ", " .. col.name
end

-- The masks of the PII columns the request touches (all of them when it names no column) and
-- the list of their names; nil when it touches none. Built in one pass over the columns, with
-- no list in between (BM_AccessPii: ~5k instructions less than a list of the PII columns
-- walked again, with a table of names joined by table.concat).
local function pii_masks(req)
  local requested = req.resource.columns
  local masks, names
  -- Fast path: requested columns already carry the catalog's marks (the engine attaches the
  -- catalog's column entry to each one it knows), so the entries themselves are read.
  if req.table ~= nil and #requested > 0 then
    for _, c in ipairs(requested) do
      local pii = c.pii
      if pii == true or pii == "true" then masks, names = add_mask(masks, names, c) end
    end
    return masks, names
  end
  local cols, by_name = catalog_columns(req)
  if requested ~= nil and #requested > 0 then
    for _, c in ipairs(requested) do
      local n = type(c) == "string" and c or get(c, "name")
      local col = type(n) == "string" and by_name[string.lower(n)] or nil
      if col ~= nil and col.pii then masks, names = add_mask(masks, names, col) end
    end
  else
    for _, col in ipairs(cols) do
      if col.pii then masks, names = add_mask(masks, names, col) end
    end
  end
  return masks, names
end

-- The obligation made for each list of PII columns read on the fast path, remembered in this
-- state: the same columns of the same table, in the same order, always get the same masks and
-- the same detail, and a finding may be returned again (the engine only reads it). Making it
-- anew (the masks, the names, the opts table, the finding and its copy of the masks) cost ~6k of
-- BM_AccessPii's ~61k instructions. A trie keyed by the catalog's column entries as the
-- request carries them: a column's entry is one view object for the life of the state
-- (lua_view.cc's cached catalog views), so the path of a read's PII columns leads to its node.
-- An entry that is not such an object (a light view, made anew for each evaluation: a column
-- entry with a list or map in it, or past the state's bound on cached views) never leads to an
-- earlier node. The trie starts over when it reaches TRIE_MAX_NODES: the nodes such entries add
-- would otherwise fill it for good.
local TRIE_MAX_NODES = 1024
local finding_trie, trie_nodes = {}, 0

-- The trie's node for the requested columns' PII ones, in order, and whether any of them is PII.
-- A missing node ends the walk with nil, unless `make` is set: then it is made (nil past the
-- bound, after a full trie has started over).
local function trie_node(requested, make)
  if make and trie_nodes >= TRIE_MAX_NODES then finding_trie, trie_nodes = {}, 0 end
  local node, any = finding_trie, false
  for _, c in ipairs(requested) do
    local pii = c.pii
    if pii == true or pii == "true" then
      any = true
      local next_node = node[c]
      if next_node == nil then
        if not make or trie_nodes >= TRIE_MAX_NODES then return nil, true end
        next_node = {}
        node[c] = next_node
        trie_nodes = trie_nodes + 1
      end
      node = next_node
    end
  end
  return node, any
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
    local requested = req.resource.columns
    local fast = req.table ~= nil and #requested > 0
    if fast then
      local node, any = trie_node(requested, false)
      if not any then return end
      if node ~= nil and node.finding ~= nil then return node.finding end
    end
    local masks, names = pii_masks(req)
    if masks == nil then return end
    local finding = obligate("Personal data in this result is masked.",
      {masks = masks, detail = "masked PII columns " .. names .. " (no role " .. PII_ROLE .. ")"})
    if fast then
      local node = trie_node(requested, true)
      if node ~= nil then node.finding = finding end
    end
    return finding
  end,
}
