-- Runaway code at load time and in check: budget, sticky hook, pcall, string.rep, patterns.
local t = {}
for i = 1, 100 do t[i] = ("x"):rep(i) end
return {
  id = "sales.runaway",
  description = "runaway",
  kinds = {"access", "deployment"},
  check = function(req, ctx)
    local ok = pcall(function() while true do end end)
    while true do pcall(function() while true do end end) end
  end,
}
