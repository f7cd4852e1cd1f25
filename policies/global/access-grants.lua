-- The product's own access-control list decides who may read, write or administer it:
-- spec.governance.accessControl: [{role, permissions: [read, write, admin]}].
-- Mode `default`: a domain may replace this rule for its own products (finance does).

local ACTIONS = {"read", "write", "admin"}
-- The same as a set: the check tests it with one table lookup on every access decision (a
-- list.contains call cost ~500 instructions more).
local IS_ACTION = {}
for _, a in ipairs(ACTIONS) do IS_ACTION[a] = true end

-- Each product's grants, read from the catalog once per Lua state: a list, in the ACL's order,
-- of {role, by_action}, where by_action maps each action the entry permits to the finding's
-- detail. Reading the ACL on every decision (three get() calls and a list.contains per entry,
-- and the detail's concatenation) cost ~3.5k of an access decision's ~48k instructions
-- (bench/engine_instructions.py, BM_Access). Keyed by the product's name: an access request's
-- req.product is always the catalog's (request_resolve.cc), the catalog has one product per
-- name, and a state never outlives its bundle's catalog. At most GRANTS_MAX products are kept;
-- past that, a product's grants are read again on each decision.
local GRANTS_MAX = 256
local grants_by_product, grants_kept = {}, 0

local function grants_of(product)
  local name = get(product, "metadata.name")
  local grants = type(name) == "string" and grants_by_product[name]
  if grants then return grants end
  grants = {}
  local shown = tostring(name)
  local acl = get(product, "spec.governance.accessControl")
    or get(product, "governance.accessControl")
  if acl ~= nil then
    for _, entry in ipairs(acl) do
      local role = get(entry, "role")
      local permissions = get(entry, "permissions")
      if type(role) == "string" and permissions ~= nil then
        local by_action = {}
        for _, action in ipairs(ACTIONS) do
          if list.contains(permissions, action) then
            by_action[action] = "role " .. role .. " has " .. action .. " on " .. shown
          end
        end
        grants[#grants + 1] = {role = role, by_action = by_action}
      end
    end
  end
  if type(name) == "string" and grants_kept < GRANTS_MAX then
    grants_by_product[name] = grants
    grants_kept = grants_kept + 1
  end
  return grants
end

return {
  id = "global.access-grants",
  description = "Grants read/write/admin to principals holding a role that the product's "
    .. "governance.accessControl gives that permission.",
  kinds = {"access"},
  actions = ACTIONS,
  mode = "default",
  check = function(req)
    local action = req.action
    if not IS_ACTION[action] or req.product == nil then return end
    -- The first entry, in the ACL's order, that permits the action to one of the principal's
    -- roles grants it. (A numeric loop: ipairs costs a C call to start and one per step.)
    local grants = grants_of(req.product)
    for i = 1, #grants do
      local grant = grants[i]
      local detail = grant.by_action[action]
      if detail ~= nil and has_role(req.principal, grant.role) then
        return allow("Granted by the data product's access control.", {detail = detail})
      end
    end
  end,
}
