-- Data contracts protect consumers: a breaking change (a field or model removed, a type or
-- required-ness changed, a PII mark removed, an output port removed, ...) ships only with a
-- major version bump of the product, so consumers pinned to <domain>.<name>.v<major> keep
-- working. A breaking change in a contract whose own version did not move by a major step is
-- reported as a warning: consumers read the contract's version too.

local function describe(changes, limit)
  local parts = {}
  for i, c in ipairs(changes) do
    if i > limit then
      parts[#parts + 1] = "... (" .. (#changes - limit) .. " more)"
      break
    end
    parts[#parts + 1] = tostring(get(c, "rule")) .. " " .. tostring(get(c, "document")) .. " "
      .. tostring(get(c, "path"))
  end
  return table.concat(parts, "; ")
end

return {
  id = "global.breaking-changes",
  description = "A deployment with breaking schema changes needs a major version bump of the "
    .. "product.",
  kinds = {"deployment"},
  mode = "mandatory",
  check = function(req)
    local change = req.change
    if change == nil or change.first_deployment then return end
    local breaking = change.breaking
    if breaking == nil or #breaking == 0 then return end
    local findings = {}
    local bump = get(change, "version.bump")
    if bump ~= "major" then
      findings[#findings + 1] = deny(
        "This version makes breaking changes; release it as a new major version.",
        {detail = "version " .. tostring(get(change, "version.from")) .. " -> "
          .. tostring(get(change, "version.to")) .. " is a " .. tostring(bump)
          .. " bump; breaking: " .. describe(breaking, 10)})
    end
    -- Per contract: breaking entries are named "contract:<name>".
    local reported = {}
    local versions = change.contract_versions
    for _, c in ipairs(breaking) do
      local doc = tostring(get(c, "document"))
      local name = doc:sub(1, 9) == "contract:" and doc:sub(10) or nil
      if name ~= nil and not reported[name] and versions ~= nil then
        local cbump = get(versions[name], "bump")
        if cbump ~= nil and cbump ~= "major" and cbump ~= "removed" then
          reported[name] = true
          findings[#findings + 1] = warn("Contract " .. name
            .. " changes in a breaking way without a major bump of its own version.",
            {detail = "contract " .. name .. " version bump is " .. tostring(cbump)})
        end
      end
    end
    if #findings > 0 then return findings end
  end,
}
