-- Marketing's licences with its ad platforms let campaign data be used only where marketing
-- operates. Reads of marketing data from a principal whose region attribute is outside those
-- regions, or unknown, are refused (a domain-only tightening: it cannot remove a mandatory
-- global grant such as the auditors').

local BUSINESS_REGIONS = {"EU", "NA"}

return {
  id = "marketing.region-restriction",
  description = "Marketing data may be read only by principals whose region attribute is one of "
    .. table.concat(BUSINESS_REGIONS, ", ") .. ".",
  kinds = {"access"},
  actions = {"read"},
  check = function(req)
    if req.action ~= "read" then return end
    local attributes = req.principal.attributes
    local region = attributes and attributes.region
    if not list.contains(BUSINESS_REGIONS, region) then
      return deny("Marketing data may only be used in the regions where marketing operates.",
        {detail = "principal " .. tostring(req.principal.id) .. " region "
          .. tostring(region) .. " not in " .. table.concat(BUSINESS_REGIONS, ", ")})
    end
  end,
}
