-- Memory bomb, error objects that are not strings, deep recursion.
local function f(n) return f(n + 1) + 1 end
return {
  id = "sales.memory",
  description = "memory",
  kinds = {"access", "product", "deployment"},
  check = function(req, ctx)
    if req.kind == "product" then error({}) end
    if req.kind == "deployment" then
      pcall(f, 1)
      error(nil)
    end
    local s = "ab"
    local t = {}
    for i = 1, 1e9 do t[i] = s .. i; s = s .. s end
  end,
}
