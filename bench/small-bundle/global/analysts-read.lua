-- Analysts may read: the smallest policy that still reads the request.
return {
  id = "global.analysts-read",
  description = "Principals with role sales-analysts may read.",
  kinds = {"access"},
  mode = "default",
  check = function(req, ctx)
    if has_role(req.principal, "sales-analysts") then return allow("analysts read") end
  end,
}
