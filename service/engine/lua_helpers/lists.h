// list.contains, list.intersects, list.len: membership tests over Lua tables and request lists
// alike, so that a policy need not know which one it holds.
#ifndef ARBITER_SERVICE_ENGINE_LUA_HELPERS_LISTS_H_
#define ARBITER_SERVICE_ENGINE_LUA_HELPERS_LISTS_H_

#include "absl/status/statusor.h"
#include "service/engine/lua_helpers/arg.h"

namespace arbiter::lua_helpers {

// list.len(l): a table's raw length or a list view's size; 0 for anything else (nil, a map
// view). Errors: a dead view (as for every helper below).
absl::StatusOr<int> ListLen(const Arg& list);

// list.contains(l, x): whether list `l` holds `x`. A table's elements are compared with raw
// equality, a request list's with ScalarEquals; anything but a list holds nothing.
absl::StatusOr<bool> ListContains(const Arg& list, const Arg& x);

// list.intersects(a, b): whether any element of `needles` is in `haystack`.
absl::StatusOr<bool> ListIntersects(const Arg& needles, const Arg& haystack);

}  // namespace arbiter::lua_helpers

#endif  // ARBITER_SERVICE_ENGINE_LUA_HELPERS_LISTS_H_
