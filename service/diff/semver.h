// Semantic versions (https://semver.org, 2.0.0) as deployment gates use them: parse what people
// write in descriptors, order versions by semver precedence, and classify the step from one
// version to the next so that a policy can say "breaking change without a major version bump".
//
// Everything here is a pure function of its arguments and thread-safe.
#ifndef ARBITER_SERVICE_DIFF_SEMVER_H_
#define ARBITER_SERVICE_DIFF_SEMVER_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "service/value/value.h"

namespace arbiter {

// A parsed version. `prerelease` and `build` hold the text after '-' and '+' (without them);
// both are empty when absent.
struct SemVer {
  int64_t major = 0;
  int64_t minor = 0;
  int64_t patch = 0;
  std::string prerelease;
  std::string build;
};

// Parses a semantic version. Accepts a leading "v"/"V", and the short forms "1.2" (1.2.0) and
// "2" (2.0.0) because people write those in YAML. Numeric components have no leading zeros and
// must fit int64; identifiers are non-empty [0-9A-Za-z-]. Returns nullopt for anything else.
std::optional<SemVer> ParseSemVer(absl::string_view text);

// Renders a version in canonical form ("1.2.0-rc.1+build.5"), without any "v".
std::string FormatSemVer(const SemVer& v);

// Semver precedence: -1 when a < b, 0 when equal, 1 when a > b. A prerelease sorts before its
// release; prerelease identifiers compare numerically when both are numeric, numeric ones sort
// before alphanumeric ones, and a shorter list of equal identifiers sorts first. Build metadata
// is ignored.
int CompareSemVer(const SemVer& a, const SemVer& b);

// How a version moved from one release to the next: the first five compare two semantic
// versions (ClassifyBump, the Lua helper semver.bump); the schema diff's req.change adds the
// last three for a document that is new, gone, or not semantically versioned on one side.
enum class Bump : uint8_t {
  kMajor,
  kMinor,
  kPatch,
  kNone,
  kDowngrade,
  kInitial,
  kRemoved,
  kInvalid
};

// The one table of bumps, indexed by Bump: the name policies and `arbiter gate` see.
struct BumpInfo {
  Bump bump;
  absl::string_view name;
  absl::string_view description;
};
extern const std::array<BumpInfo, 8> kBumps;

// `to` < `from` is a downgrade and equal precedence is none; otherwise the highest of major,
// minor, patch that increased. A change of the prerelease alone (1.0.0-rc.1 → 1.0.0) counts as
// a patch.
Bump ClassifyBump(const SemVer& from, const SemVer& to);

// "major", "minor", "patch", "none", "downgrade", "initial", "removed" or "invalid".
absl::string_view BumpName(Bump bump);
// By name; nullopt for anything else.
std::optional<Bump> ParseBump(absl::string_view name);

// The text of a version as it appears in a parsed document: strings as they are, integers
// (`version: 2`) and doubles (`version: 1.2`) rendered back to the shortest text that reads as
// the same number. YAML has already lost trailing zeros ("1.10" arrives as 1.1), which is why
// versions should be quoted. nullopt for anything else (null, booleans, maps, non-finite
// numbers). The rendering is DescriptorText's (service/descriptor), which names versions too.
std::optional<std::string> VersionString(const Value& v);

}  // namespace arbiter

#endif  // ARBITER_SERVICE_DIFF_SEMVER_H_
