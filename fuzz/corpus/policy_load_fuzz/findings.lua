-- Every finding builder and helper family, several findings at once.
local seen = 0
return {
  id = "sales.fuzz-findings",
  description = "findings",
  kinds = {"access", "product", "deployment"},
  severity = "error",
  check = function(req, ctx)
    seen = seen + 1
    local out = {}
    if req.kind == "access" then
      out[#out + 1] = allow("ok", {masks = {email = "'***'"}, row_filters = {"region = 'eu'"}})
      out[#out + 1] = obligate("mask", {masks = {amount = "NULL"}})
      if not has_role(req.principal, "x") and not in_group(req.principal, "g") then
        out[#out + 1] = warn("no x", {detail = req.principal.id .. " " .. #req.resource.columns})
      end
      for i, c in ipairs(req.resource.columns) do out[#out + 1] = warn(tostring(c.name)) end
    elseif req.kind == "deployment" then
      local c = req.change
      out[#out + 1] = deny(string.format("%d breaking, bump %s", #c.breaking, c.version.bump))
      for k, v in pairs(c.contract_versions) do out[#out + 1] = warn(k .. tostring(v.bump)) end
    else
      local v = semver.parse(req.product.metadata.version)
      out[#out + 1] = warn(("%d.%d.%d"):format(v.major, v.minor, v.patch))
      out[#out + 1] = deny(tostring(duration("1h30m")) .. tostring(percent("99.5%")),
        {detail = tostring(re.captures("(\\w+)-(\\d+)", "abc-123"))})
    end
    out[#out + 1] = warn(tostring(seen) .. ctx.kind .. ctx.domain .. ctx.revision .. ctx.now)
    return out
  end,
}
