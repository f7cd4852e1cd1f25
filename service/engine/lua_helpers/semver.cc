#include "service/engine/lua_helpers/semver.h"

#include <cstdio>

#include "absl/status/status.h"

namespace arbiter::lua_helpers {

std::optional<SemVer> ParseVersion(const Arg& v) {
  if (v.kind == Arg::Kind::kString) {
    if (v.string.size() > kMaxVersionBytes || v.string.find('\0') != absl::string_view::npos) {
      return std::nullopt;
    }
    return ParseSemVer(v.string);
  }
  // Numbers read as Lua prints them in short: integers in full, floats with %g ("1.5").
  char text[32];
  if (v.kind == Arg::Kind::kInt) {
    std::snprintf(text, sizeof text, "%lld", static_cast<long long>(v.integer));
  } else if (v.kind == Arg::Kind::kDouble) {
    std::snprintf(text, sizeof text, "%g", v.number);
  } else {
    return std::nullopt;
  }
  return ParseSemVer(text);
}

namespace {

absl::Status NotVersions() {
  return absl::InvalidArgumentError("semver: both arguments must be semantic versions");
}

}  // namespace

absl::StatusOr<int> CompareVersions(const Arg& a, const Arg& b) {
  std::optional<SemVer> va = ParseVersion(a), vb = ParseVersion(b);
  if (!va || !vb) return NotVersions();
  return CompareSemVer(*va, *vb);
}

absl::StatusOr<absl::string_view> BumpBetween(const Arg& from, const Arg& to) {
  std::optional<SemVer> va = ParseVersion(from), vb = ParseVersion(to);
  if (!va || !vb) return NotVersions();
  return BumpName(ClassifyBump(*va, *vb));
}

}  // namespace arbiter::lua_helpers
