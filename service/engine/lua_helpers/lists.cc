#include "service/engine/lua_helpers/lists.h"

namespace arbiter::lua_helpers {

absl::StatusOr<int> ListLen(const Arg& list) {
  switch (list.kind) {
    case Arg::Kind::kDeadView:
      return DeadViewError();
    case Arg::Kind::kView:
      return list.view->is_list() ? static_cast<int>(list.view->size()) : 0;
    case Arg::Kind::kTable:
      return list.table != nullptr ? static_cast<int>(list.table->RawLen()) : 0;
    default:
      return 0;
  }
}

absl::StatusOr<bool> ListContains(const Arg& list, const Arg& x, ListClock clock) {
  switch (list.kind) {
    case Arg::Kind::kDeadView:
      return DeadViewError();
    case Arg::Kind::kView:
      if (x.kind == Arg::Kind::kString) return ListHoldsString(*list.view, x.string);
      if (!list.view->is_list()) return false;
      for (const Value& e : list.view->as_list()) {
        if (ScalarEquals(x, e)) return true;
      }
      return false;
    case Arg::Kind::kTable: {
      if (list.table == nullptr) return false;
      const int64_t n = list.table->RawLen();
      for (int64_t i = 1; i <= n; ++i) {
        if (i % kListClockSteps == 0) {
          if (absl::Status s = clock(); !s.ok()) return s;
        }
        if (RawEqual(list.table->RawGet(i), x)) return true;
      }
      return false;
    }
    default:
      return false;
  }
}

absl::StatusOr<bool> ListIntersects(const Arg& needles, const Arg& haystack, ListClock clock) {
  absl::StatusOr<int> n = ListLen(needles);
  if (!n.ok()) return n.status();
  // The comparisons each needle may cost (a dead haystack's error is ListContains's to give).
  absl::StatusOr<int> per_needle = ListLen(haystack);
  const int64_t cost = per_needle.ok() ? *per_needle : 0;
  int64_t steps = 0;
  for (int i = 1; i <= *n; ++i) {
    steps += cost;
    if (steps >= kListClockSteps) {
      steps = 0;
      if (absl::Status s = clock(); !s.ok()) return s;
    }
    // ListLen > 0: a list view or a readable table.
    Arg needle = needles.kind == Arg::Kind::kView
                     ? Arg::Of(needles.view->as_list()[static_cast<size_t>(i - 1)])
                     : needles.table->RawGet(i);
    absl::StatusOr<bool> found = ListContains(haystack, needle, clock);
    if (!found.ok() || *found) return found;
  }
  return false;
}

}  // namespace arbiter::lua_helpers
