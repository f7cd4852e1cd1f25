-- The seed's PIIHandlingPolicy: a product that holds personal data says so, is classified
-- confidential or restricted, marks its PII columns (so query engines can mask them) or
-- declares GDPR compliance, and restricts access through governance.accessControl.
-- Also: columns marked PII in a product that claims to hold none are a contradiction, and a
-- column whose name looks like the seed's PII list but is not marked gets a warning.

local PII_NAMES = [[(?i)name|(.*_)?(email|e_mail|ssn|phone|phone_number|address|street|dob|]]
  .. [[birth_date|date_of_birth|first_name|last_name|full_name)]]
local PII_CLASSIFICATIONS = {"confidential", "restricted"}

local function truthy(v)
  return v == true or v == "true" or v == "yes"
end

-- Every column of every table of the product's sql ports: {table, name, pii}.
local function columns(p)
  local out = {}
  local ports = get(p, "spec.outputPorts")
  if ports == nil then return out end
  for _, port in ipairs(ports) do
    if get(port, "type") == "sql" and get(port, "tables") ~= nil then
      for _, t in ipairs(port.tables) do
        if get(t, "columns") ~= nil then
          for _, c in ipairs(t.columns) do
            out[#out + 1] = {table = tostring(get(t, "name")), name = tostring(get(c, "name")),
                             pii = truthy(get(c, "pii"))}
          end
        end
      end
    end
  end
  return out
end

return {
  id = "global.pii-handling",
  description = "Products holding PII are classified confidential or restricted, mark their PII "
    .. "columns or declare GDPR compliance, and declare access control.",
  kinds = {"product"},
  mode = "mandatory",
  check = function(req)
    if req.operation == "deprecate" then return end
    local p = req.product
    local findings = {}
    local marked, unmarked = {}, {}
    for _, c in ipairs(columns(p)) do
      if c.pii then
        marked[#marked + 1] = c.table .. "." .. c.name
      elseif re.match(PII_NAMES, c.name) then
        unmarked[#unmarked + 1] = c.table .. "." .. c.name
      end
    end
    if #unmarked > 0 then
      findings[#findings + 1] = warn("Some column names suggest personal data but are not marked pii.",
        {detail = "unmarked: " .. table.concat(unmarked, ", ")})
    end

    if not truthy(get(p, "spec.classification.pii")) then
      if #marked > 0 then
        findings[#findings + 1] = deny(
          "Columns are marked as PII but spec.classification.pii is not true.",
          {detail = "pii columns: " .. table.concat(marked, ", ")})
      end
      if #findings > 0 then return findings end
      return
    end

    -- The seed nests governance under spec; a top-level governance block is read as well.
    local gov = get(p, "spec.governance") or get(p, "governance")
    local class = get(gov, "dataClassification")
    if not list.contains(PII_CLASSIFICATIONS, class) then
      findings[#findings + 1] = deny(
        "A product holding PII must be classified confidential or restricted.",
        {detail = "spec.governance.dataClassification = " .. tostring(class)})
    end
    if #marked == 0 and not truthy(get(gov, "gdprCompliant")) then
      findings[#findings + 1] = deny(
        "A product holding PII must mark its PII columns (pii: true) so they can be masked, "
          .. "or declare spec.governance.gdprCompliant: true.",
        {detail = "no column marked pii and gdprCompliant is not true"})
    end
    local acl = get(gov, "accessControl")
    if acl == nil or #acl == 0 then
      findings[#findings + 1] = deny(
        "A product holding PII must declare spec.governance.accessControl.",
        {detail = "accessControl is missing or empty"})
    end
    if #findings > 0 then return findings end
  end,
}
