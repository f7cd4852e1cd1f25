-- Every helper family through the adapter (lua_adapter.cc), with the arguments that take its
-- error paths: tables and views, numbers for strings, a view kept past its call, bad patterns.
local kept
return {
  id = "sales.helpers",
  description = "helpers",
  kinds = {"access", "product", "deployment"},
  check = function(req, ctx)
    local out = {}
    if kept ~= nil then  -- a view from an earlier check call
      out[#out + 1] = tostring(pcall(has_role, kept, "x")) .. tostring(pcall(get, kept, "id"))
      out[#out + 1] = tostring(pcall(list.intersects, {"a"}, kept))
      out[#out + 1] = tostring(list.contains({kept}, kept)) .. tostring(pcall(print, kept))
    end
    kept = req.principal or req
    if req.principal == nil then return deny(table.concat(out, " ")) end
    out[#out + 1] = tostring(re.match("[a-z]+", req.principal.id))
    out[#out + 1] = tostring(re.find(1, 12))
    local caps = re.captures("(s)(x)?(a)", req.principal.id) or {}
    out[#out + 1] = tostring(caps[2]) .. tostring(#caps)
    out[#out + 1] = tostring(pcall(re.find, "a(", "x"))
    out[#out + 1] = tostring(semver.valid(2)) .. tostring(semver.parse("v1.2.3-rc.1").prerelease)
    out[#out + 1] = tostring(pcall(semver.bump, "1.0.0", {}))
    out[#out + 1] = tostring(duration("1h30m")) .. tostring(percent("99.5%"))
    out[#out + 1] = tostring(has_role(req.principal, "sales-analysts"))
    out[#out + 1] = tostring(has_any_role({roles = {"a", req.principal}}, req.principal.roles))
    out[#out + 1] = tostring(in_group(req.principal, 1.0))
    out[#out + 1] = tostring(list.contains({1, 2.0, "x", req}, req)) .. list.len(req.principal.roles)
    out[#out + 1] = tostring(list.intersects(req.principal.roles, {"sales-analysts"}))
    out[#out + 1] = tostring(get(req, "principal.roles.1"))
    out[#out + 1] = tostring(get({a = {b = req}}, "a.b.action"))
    print(req.principal, allow("x"), print, 1.5, nil)
    return deny(table.concat(out, " "))
  end,
}
