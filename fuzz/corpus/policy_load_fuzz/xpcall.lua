-- Regression seed: an xpcall message handler that loops once escaped every CPU budget (Lua runs
-- it with hooks disabled; fixed in 52161f5 by running the handler after unwinding). The fuzzer
-- hung on this very policy before the fix.
local function h(e) while true do end end
return {
  id = "sales.xpcall",
  description = "xpcall",
  kinds = {"access", "product", "deployment"},
  check = function(req, ctx)
    if req.kind == "access" then
      while true do xpcall(function() while true do end end, h) end
    elseif req.kind == "product" then
      xpcall(function() while true do end end, function() while true do end end)
    else
      local ok, e = xpcall(error, function(m) return error(m) end, {})
      return deny(tostring(ok) .. tostring(e))
    end
  end,
}
