-- Warehouses run on supply chain's data around the clock; changes to it (writes, schema and
-- grant administration) happen only in the staffed change window: Monday to Friday,
-- 06:00-18:00 UTC.

local OPEN_HOUR, CLOSE_HOUR = 6, 18
local MUTATING = {"write", "admin"}
local DAY_NAMES = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}

return {
  id = "supplychain.change-window",
  description = "Writes and admin operations on supply chain data only Monday-Friday, "
    .. "06:00-18:00 UTC.",
  kinds = {"access"},
  actions = MUTATING,
  check = function(req, ctx)
    if not list.contains(MUTATING, req.action) then return end
    local now = math.floor(ctx.now)
    local days = now // 86400
    local weekday = (days + 4) % 7          -- 1970-01-01 was a Thursday; 0 = Sunday
    local hour = (now % 86400) // 3600
    if weekday >= 1 and weekday <= 5 and hour >= OPEN_HOUR and hour < CLOSE_HOUR then return end
    return deny("Supply chain data can only be changed Monday to Friday, 06:00-18:00 UTC.",
      {detail = string.format("%s %02d:%02d UTC is outside the change window",
        DAY_NAMES[weekday + 1], hour, (now % 3600) // 60)})
  end,
}
