return {
  id = "global.not-mine",
  kinds = {"access", "nope"},
  overrides = "global.unknown",
  mode = "mandatory",
  extra = true,
  check = function(req, ctx) return {1, "x", {}, allow} end,
}
