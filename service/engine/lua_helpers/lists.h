// list.contains, list.intersects, list.len: membership tests over Lua tables and request lists
// alike, so that a policy need not know which one it holds.
#ifndef ARBITER_SERVICE_ENGINE_LUA_HELPERS_LISTS_H_
#define ARBITER_SERVICE_ENGINE_LUA_HELPERS_LISTS_H_

#include <cstdint>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "service/engine/lua_helpers/arg.h"

namespace arbiter::lua_helpers {

// list.len(l): a table's raw length or a list view's size; 0 for anything else (nil, a map
// view). Errors: a dead view (as for every helper below).
absl::StatusOr<int> ListLen(const Arg& list);

// The policy's clock, for walks over Lua tables: they run in C, where no instruction hook
// reaches, and a policy may build tables as large as its memory allows (list.intersects of two
// is quadratic). A walk asks it once per kListClockSteps comparisons, so short walks never do;
// its error is the call's. NoClock: for callers without a time budget (tests).
using ListClock = absl::FunctionRef<absl::Status()>;
inline constexpr int64_t kListClockSteps = 4096;
inline absl::Status NoClock() { return absl::OkStatus(); }

// list.contains(l, x): whether list `l` holds `x`. A table's elements are compared with raw
// equality, a request list's with ScalarEquals; anything but a list holds nothing.
absl::StatusOr<bool> ListContains(const Arg& list, const Arg& x, ListClock clock = NoClock);

// Whether the request data `list` is a list holding the string `s`: ListContains(a view of
// `list`, a string) without making Args (the adapter's fast path for has_role(req.principal,
// 'name') and list.contains(view, 'name')). Inline: role checks run it for every role of every
// principal.
inline bool ListHoldsString(const Value& list, absl::string_view s) {
  if (!list.is_list()) return false;
  for (const Value& e : list.as_list()) {
    if (e.is_string() && e.as_string() == s) return true;
  }
  return false;
}

// list.intersects(a, b): whether any element of `needles` is in `haystack`.
absl::StatusOr<bool> ListIntersects(const Arg& needles, const Arg& haystack,
                                    ListClock clock = NoClock);

}  // namespace arbiter::lua_helpers

#endif  // ARBITER_SERVICE_ENGINE_LUA_HELPERS_LISTS_H_
