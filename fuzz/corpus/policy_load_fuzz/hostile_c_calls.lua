-- Time spent in C: sorting with a slow comparator, huge string.rep and string.format, error
-- handling that errors (no xpcall handler that loops: see crashes/policy_load_fuzz/).
return {
  id = "sales.hostile-c-calls",
  description = "c calls",
  kinds = {"access", "product", "deployment"},
  check = function(req, ctx)
    if req.kind == "product" then
      local t = {}
      for i = 1, 200 do t[i] = 201 - i end
      table.sort(t, function(a, b) for _ = 1, 1e6 do end return a < b end)
    elseif req.kind == "deployment" then
      local ok, e = pcall(error, setmetatable and {} or nil)
      return deny(tostring(ok) .. tostring(e), {detail = string.format("%099d", 1)})
    else
      local s = ("x"):rep(1 << 20)
      return deny(s:rep(1 << 20))
    end
  end,
}
