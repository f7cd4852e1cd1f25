return {
  id = "sales.x\1\ninjected log line\0",
  description = "d",
  kinds = {"access"},
  check = function(req, ctx) error("boom") end,
}
