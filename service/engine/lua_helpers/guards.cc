#include "service/engine/lua_helpers/guards.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace arbiter::lua_helpers {

double PatternCost(absl::string_view pattern, size_t n, bool may_anchor) {
  const char* p = pattern.data();
  const size_t plen = pattern.size();
  int exponent = 0;
  double factor = static_cast<double>(std::max<size_t>(plen, 1));
  size_t i = 0;
  if (may_anchor && plen > 0 && p[0] == '^') {
    i = 1;
  } else {
    ++exponent;
  }
  auto skip_set = [&] {  // p[i] == '['
    ++i;
    if (i < plen && p[i] == '^') ++i;
    if (i < plen && p[i] == ']') ++i;
    while (i < plen && p[i] != ']') i += p[i] == '%' ? 2 : 1;
    ++i;
  };
  while (i < plen) {
    // One pattern item: %x, %bxy, %f[set], [set], or a single character.
    if (p[i] == '%' && i + 1 < plen && p[i + 1] == 'b') {
      ++exponent;
      i += 4;
      continue;
    }
    if (p[i] == '%' && i + 1 < plen && p[i + 1] >= '0' && p[i + 1] <= '9') {
      ++exponent;
      i += 2;
      continue;
    }
    if (p[i] == '%' && i + 1 < plen && p[i + 1] == 'f') {
      i += 2;
      if (i < plen && p[i] == '[') skip_set();
      continue;
    }
    if (p[i] == '%') {
      i += 2;
    } else if (p[i] == '[') {
      skip_set();
    } else {
      ++i;
    }
    if (i < plen && (p[i] == '*' || p[i] == '+' || p[i] == '-')) {
      ++exponent;
      ++i;
    } else if (i < plen && p[i] == '?') {
      factor *= 2;
      ++i;
    }
  }
  const double base = static_cast<double>(std::max<size_t>(n, 1) + 1);
  double cost = factor;
  for (int k = 1; k <= exponent; ++k) cost *= base / k;
  return cost;
}

absl::Status CheckPatternCall(size_t subject_bytes, absl::string_view pattern, bool plain,
                              bool may_anchor, size_t max_subject_bytes) {
  if (plain) return absl::OkStatus();
  if (subject_bytes > max_subject_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "subject of ", static_cast<int>(subject_bytes), " bytes is over the Lua pattern limit of ",
        static_cast<int>(max_subject_bytes), " bytes; use re.* (RE2, linear time)"));
  }
  if (PatternCost(pattern, subject_bytes, may_anchor) > kMaxCallSteps) {
    return absl::ResourceExhaustedError(absl::StrCat("Lua pattern too costly to backtrack over ",
                                                     static_cast<int>(subject_bytes),
                                                     " bytes; use re.* (RE2, linear time)"));
  }
  return absl::OkStatus();
}

absl::Status CheckRep(size_t bytes, int64_t n, size_t sep_bytes, size_t max_string_bytes) {
  const double total = n <= 0 ? 0
                              : static_cast<double>(bytes) * static_cast<double>(n) +
                                    static_cast<double>(sep_bytes) * static_cast<double>(n - 1);
  if (total > static_cast<double>(max_string_bytes) || n > static_cast<int64_t>(max_string_bytes)) {
    return absl::ResourceExhaustedError(absl::StrCat("string.rep result over the limit of ",
                                                     static_cast<int>(max_string_bytes), " bytes"));
  }
  return absl::OkStatus();
}

absl::Status CheckSort(int64_t length, bool lua_comparator) {
  if (!lua_comparator && length > kMaxSortInC) {
    return absl::ResourceExhaustedError(absl::StrCat("table.sort: over ",
                                                     static_cast<int>(kMaxSortInC),
                                                     " items need a Lua comparator function"));
  }
  return absl::OkStatus();
}

}  // namespace arbiter::lua_helpers
