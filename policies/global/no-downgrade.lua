-- Versions only move forward: a deployment may not replace a product or a contract with a
-- lower version (consumers and caches key on versions), nor ship a version that is not a
-- semantic version (nothing could then be compared).

return {
  id = "global.no-downgrade",
  description = "Product and contract versions must be semantic versions and never go down.",
  kinds = {"deployment"},
  mode = "mandatory",
  check = function(req)
    local change = req.change
    if change == nil then return end
    local findings = {}
    local v = change.version
    local bump = get(v, "bump")
    if bump == "downgrade" then
      findings[#findings + 1] = deny("The product's version must not go down.",
        {detail = "metadata.version " .. tostring(get(v, "from")) .. " -> " .. tostring(get(v, "to"))})
    elseif bump == "invalid" then
      findings[#findings + 1] = deny("The product's metadata.version must be a semantic version.",
        {detail = "metadata.version " .. tostring(get(v, "from")) .. " -> " .. tostring(get(v, "to"))})
    end
    local versions = change.contract_versions
    if versions ~= nil then
      for name, cv in pairs(versions) do
        local cbump = get(cv, "bump")
        if cbump == "downgrade" then
          findings[#findings + 1] = deny("The version of data contract " .. name .. " must not go down.",
            {detail = "contract " .. name .. " " .. tostring(get(cv, "from")) .. " -> "
              .. tostring(get(cv, "to"))})
        elseif cbump == "invalid" then
          findings[#findings + 1] = deny("Data contract " .. name
            .. " must have a semantic version (metadata.version).",
            {detail = "contract " .. name .. " " .. tostring(get(cv, "from")) .. " -> "
              .. tostring(get(cv, "to"))})
        end
      end
    end
    if #findings > 0 then return findings end
  end,
}
