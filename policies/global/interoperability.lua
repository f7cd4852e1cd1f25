-- The seed's InteroperabilityPolicy: every data product is addressable by a qualified name,
-- documented, and served through at least one standard output port.
--
-- Naming: the seed's rule is ^[a-z]+\.[a-z-]+\.v\d+$ on "<domain>.<name>.v<major>", but that
-- rule rejects the seed's own product ("sales.customer-360.v2" has digits). The mesh therefore
-- lets a product name carry digits after its first letter; domain names stay letters only.
-- A deprecation is never blocked: retiring a legacy product must not require fixing it first.

local NAME_RULE = [[^[a-z]+\.[a-z][a-z0-9-]*\.v\d+$]]
local STANDARD_PORTS = {"sql", "rest", "graphql", "kafka"}

local function blank(v)
  return v == nil or (type(v) == "string" and not re.find([[\S]], v))
end

return {
  id = "global.interoperability",
  description = "Data products are named <domain>.<name>.v<major>, documented (description, "
    .. "owner, SLOs, schema) and served through a standard output port (sql, rest, graphql, kafka).",
  kinds = {"product"},
  mode = "mandatory",
  check = function(req)
    if req.operation == "deprecate" then return end
    local p = req.product
    local findings = {}

    local domain = get(p, "metadata.domain")
    local name = get(p, "metadata.name")
    local version = get(p, "metadata.version")
    local v = version ~= nil and semver.parse(tostring(version)) or nil
    if v == nil then
      findings[#findings + 1] = deny("metadata.version must be a semantic version (e.g. 2.1.0).",
        {detail = "metadata.version = " .. tostring(version)})
    end
    local qualified = tostring(domain) .. "." .. tostring(name) .. ".v" ..
      (v and tostring(v.major) or "?")
    if type(domain) ~= "string" or type(name) ~= "string" or v == nil
        or not re.match(NAME_RULE, qualified) then
      findings[#findings + 1] = deny(
        "The product's qualified name must follow <domain>.<name>.v<major>: lower-case letters, "
          .. "digits and hyphens.",
        {detail = "qualified name '" .. qualified .. "' does not match " .. NAME_RULE})
    end

    local required = {
      {"spec.description", "a description"},
      {"metadata.owner", "an owner"},
      {"spec.slos", "SLOs"},
      {"spec.schema", "a schema"},
    }
    for _, r in ipairs(required) do
      if blank(get(p, r[1])) then
        findings[#findings + 1] = deny("The product must document " .. r[2] .. " (" .. r[1] .. ").",
          {detail = r[1] .. " is missing or empty"})
      end
    end

    local ports = get(p, "spec.outputPorts")
    local standard = false
    local seen = {}
    if ports ~= nil then
      for _, port in ipairs(ports) do
        local t = get(port, "type")
        seen[#seen + 1] = tostring(t)
        if list.contains(STANDARD_PORTS, t) then standard = true end
      end
    end
    if not standard then
      findings[#findings + 1] = deny(
        "The product needs at least one standard output port (sql, rest, graphql or kafka).",
        {detail = "output port types: [" .. table.concat(seen, ", ") .. "]"})
    end
    if #findings > 0 then return findings end
  end,
}
