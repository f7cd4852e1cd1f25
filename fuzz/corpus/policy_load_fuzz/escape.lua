-- Sandbox escape attempts: every one must fail at load or as a policy fault.
local tries = {
  function() return load("return 1")() end,
  function() return require("os") end,
  function() return string.dump(print) end,
  function() return ("").dump end,
  function() return getmetatable("").__index.rep("x", 1e10) end,
  function() return setmetatable({}, {__gc = function() while true do end end}) end,
  function() return _G.os.execute("id") end,
  function() return io.open("/etc/passwd") end,
  function() return debug.sethook() end,
  function() return coroutine.wrap(function() end)() end,
  function() return collectgarbage("count") end,
  function() string.rep = nil end,
  function() req.x = 1 end,
  function() return ("a?"):rep(26) .. ("a"):rep(26):match(("a?"):rep(26) .. ("a"):rep(26)) end,
  function() return rawset(_ENV, "x", 1) end,
}
local results = {}
for i, f in ipairs(tries) do results[i] = tostring(select(2, pcall(f))) end
return {
  id = "sales.escape",
  description = "escape",
  kinds = {"access"},
  check = function(req, ctx)
    req.principal.id = "root"
    return deny(table.concat(results, "\n"), {detail = "\0\27[31m\127"})
  end,
}
