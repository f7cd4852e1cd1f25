-- Who breaks: a breaking change to a column that ANOTHER domain read within the last 7 days
-- breaks that domain's queries and reports. The engine hands policies the blast radius as
-- req.change.impact (the changed columns, the consumers the contracts declare, and who the
-- decision log shows was allowed to read them; README, "req.change.impact"). Being rolled out
-- (advisory: a warning, never a deny): the producer and the council see whom to talk to. Made
-- mandatory, it denies until the consumer domain agrees — as a waiver of this policy that names
-- the deploying domain (waivers/, issue 15).

local WINDOW = 7 * 86400

return {
  id = "global.blast-radius",
  description = "A breaking change to a column another domain read within 7 days needs the "
    .. "consumer domain's agreement (a waiver); advisory: warns.",
  kinds = {"deployment"},
  mode = "advisory",
  check = function(req, ctx)
    local impact = req.change and req.change.impact
    if impact == nil or impact.entries == nil then return end
    local since = ctx.now - WINDOW
    local reads, columns, order = {}, {}, {}
    for _, e in ipairs(impact.entries) do
      for _, d in ipairs(e.domains) do
        local domain = d.domain
        if domain ~= "" and domain ~= req.domain and d.decisions > 0
            and (d.last_seen or 0) >= since then
          if reads[domain] == nil then
            reads[domain], columns[domain] = 0, {}
            order[#order + 1] = domain
          end
          reads[domain] = reads[domain] + d.decisions
          for _, c in ipairs(e.columns) do
            if not list.contains(columns[domain], c) then
              columns[domain][#columns[domain] + 1] = c
            end
          end
        end
      end
    end
    if #order == 0 then return end
    table.sort(order)
    local parts = {}
    for _, domain in ipairs(order) do
      parts[#parts + 1] = domain .. " (" .. reads[domain]
        .. (reads[domain] == 1 and " read of " or " reads of ")
        .. table.concat(columns[domain], ", ") .. ")"
    end
    local incomplete = impact.complete == false and "; the log scan was incomplete" or ""
    return deny("Breaking change to columns that " .. table.concat(order, ", ")
      .. " read in the last 7 days; get the consumer domain's waiver before deploying.",
      {detail = "read within 7 days by " .. table.concat(parts, "; ") .. " (source: "
        .. tostring(impact.source) .. incomplete .. ")"})
  end,
}
