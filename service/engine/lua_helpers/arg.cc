#include "service/engine/lua_helpers/arg.h"

#include <cmath>
#include <cstring>

namespace arbiter::lua_helpers {
namespace {

// Lua's F2Ieq conversion: the integer a float is exactly, if any.
bool FloatToInteger(double d, int64_t* out) {
  if (std::floor(d) != d) return false;
  // [-2^63, 2^63): the range lua_numbertointeger accepts.
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return false;
  *out = static_cast<int64_t>(d);
  return true;
}

}  // namespace

bool RawEqual(const Arg& a, const Arg& b) {
  using K = Arg::Kind;
  if (a.is_number() && b.is_number()) {
    if (a.kind == K::kInt && b.kind == K::kInt) return a.integer == b.integer;
    if (a.kind == K::kDouble && b.kind == K::kDouble) return a.number == b.number;
    const Arg& i = a.kind == K::kInt ? a : b;
    const Arg& d = a.kind == K::kInt ? b : a;
    int64_t n;
    return FloatToInteger(d.number, &n) && n == i.integer;
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case K::kNil:
      return true;
    case K::kBool:
      return a.boolean == b.boolean;
    case K::kString:
      return a.string == b.string;
    case K::kView:
      return a.view == b.view;
    default:
      return a.identity == b.identity;
  }
}

absl::Status DeadViewError() {
  return absl::FailedPreconditionError(
      "a request view was kept beyond the check call that received it");
}

}  // namespace arbiter::lua_helpers
