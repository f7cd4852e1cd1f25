// semver.parse, semver.valid, semver.compare, semver.bump: service/diff's semantic versions for
// policies. A version argument is a string, or a number as people write it in YAML (2, 1.5).
#ifndef ARBITER_SERVICE_ENGINE_LUA_HELPERS_SEMVER_H_
#define ARBITER_SERVICE_ENGINE_LUA_HELPERS_SEMVER_H_

#include <cstddef>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "service/diff/semver.h"
#include "service/engine/lua_helpers/arg.h"

namespace arbiter::lua_helpers {

// Longer version strings are not versions (no real one comes close).
inline constexpr size_t kMaxVersionBytes = 255;

// semver.parse(v) and semver.valid(v): the version, or nullopt when `v` is not one (not a string
// or number, over kMaxVersionBytes, holding a NUL, or not semver).
std::optional<SemVer> ParseVersion(const Arg& v);

// semver.compare(a, b): -1, 0 or 1 by semver precedence. An error unless both are versions.
absl::StatusOr<int> CompareVersions(const Arg& a, const Arg& b);

// semver.bump(from, to): "major", "minor", "patch", "none" or "downgrade" (static text). An
// error unless both are versions.
absl::StatusOr<absl::string_view> BumpBetween(const Arg& from, const Arg& to);

}  // namespace arbiter::lua_helpers

#endif  // ARBITER_SERVICE_ENGINE_LUA_HELPERS_SEMVER_H_
