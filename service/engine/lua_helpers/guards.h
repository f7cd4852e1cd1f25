// The prices of the string and table library functions that run in C, where no instruction
// hook reaches (issue 11): each call is priced before it runs and refused when its worst case
// could overrun the policy's time budget by more than a few milliseconds. The adapter checks the
// clock before each of these calls, so that many cheap calls cannot add up either.
#ifndef ARBITER_SERVICE_ENGINE_LUA_HELPERS_GUARDS_H_
#define ARBITER_SERVICE_ENGINE_LUA_HELPERS_GUARDS_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace arbiter::lua_helpers {

// Costs are in "steps": one step of Lua's backtracking matcher. Measured on the CI machine, a
// step takes well under a nanosecond; kMaxCallSteps keeps one call to a few milliseconds even
// several times slower (sanitizers).
inline constexpr double kMaxCallSteps = 5e6;
// table.sort without a Lua comparator runs wholly in C.
inline constexpr int64_t kMaxSortInC = 50000;

// Worst-case steps of Lua's backtracking matcher for `pattern` over a subject of `n` bytes.
// Every `*`, `+` or `-` may retry the rest of the pattern at each of up to n positions, `%b`
// and back-references scan up to n bytes per attempt, `?` doubles the attempts, and an
// unanchored search (or gmatch/gsub's iteration) restarts at every position: about
// n^e / e! ways to place e such items, times the pattern's length per step. `may_anchor`: a
// leading '^' anchors the pattern (not for gmatch).
double PatternCost(absl::string_view pattern, size_t n, bool may_anchor);

// string.find/match/gmatch/gsub(s, pattern): refuses a subject over `max_subject_bytes` or a
// pattern too costly over it, unless the call is a plain find.
absl::Status CheckPatternCall(size_t subject_bytes, absl::string_view pattern, bool plain,
                              bool may_anchor, size_t max_subject_bytes);

// string.rep(s, n, sep) with s of `bytes` and sep of `sep_bytes`: refuses a result over
// `max_string_bytes` (and an n over it: Lua's rep loops n times even for an empty string).
absl::Status CheckRep(size_t bytes, int64_t n, size_t sep_bytes, size_t max_string_bytes);

// table.sort(t, comp) of `length` items: a Lua comparator is interrupted by the hook; without
// one (or with a C function) the whole sort runs in C, so its length is capped.
absl::Status CheckSort(int64_t length, bool lua_comparator);

}  // namespace arbiter::lua_helpers

#endif  // ARBITER_SERVICE_ENGINE_LUA_HELPERS_GUARDS_H_
