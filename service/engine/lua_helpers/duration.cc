#include "service/engine/lua_helpers/duration.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "absl/strings/numbers.h"

namespace arbiter::lua_helpers {

std::optional<double> Duration(const Arg& v) {
  if (v.is_number()) return v.as_number();
  constexpr size_t kMaxBytes = 64;
  if (v.kind != Arg::Kind::kString || v.string.empty() || v.string.size() > kMaxBytes) {
    return std::nullopt;
  }
  // strtod needs a terminated string; the text is short, so a copy on the stack.
  char s[kMaxBytes + 1];
  const size_t n = v.string.size();
  std::memcpy(s, v.string.data(), n);
  s[n] = '\0';
  double total = 0;
  size_t i = 0;
  bool any = false;
  while (i < n) {
    char* end = nullptr;
    double num = std::strtod(s + i, &end);
    if (end == s + i || num < 0 || !std::isfinite(num)) return std::nullopt;
    i = static_cast<size_t>(end - s);
    double unit = 0;
    if (i + 1 < n && s[i] == 'm' && s[i + 1] == 's') {
      unit = 0.001;
      i += 2;
    } else if (i < n) {
      switch (s[i]) {
        case 's':
          unit = 1;
          break;
        case 'm':
          unit = 60;
          break;
        case 'h':
          unit = 3600;
          break;
        case 'd':
          unit = 86400;
          break;
        case 'w':
          unit = 7 * 86400;
          break;
        case 'y':
          unit = 365 * 86400;
          break;
        default:
          unit = 0;
      }
      ++i;
    }
    if (unit == 0) return std::nullopt;
    total += num * unit;
    any = true;
  }
  if (!any) return std::nullopt;
  return total;
}

std::optional<double> Percent(const Arg& v) {
  if (v.is_number()) return v.as_number();
  if (v.kind != Arg::Kind::kString) return std::nullopt;
  const absl::string_view s = v.string;
  double d;
  if (s.size() < 2 || s.size() > 32 || s.back() != '%' ||
      !absl::SimpleAtod(s.substr(0, s.size() - 1), &d) || !std::isfinite(d)) {
    return std::nullopt;
  }
  return d;
}

}  // namespace arbiter::lua_helpers
