#include "service/diff/semver.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "service/descriptor/descriptor.h"

namespace arbiter {
namespace {

bool AllDigits(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// A numeric component: digits, no leading zero unless it is "0", fits int64.
bool ParseNumber(absl::string_view s, int64_t* out) {
  if (!AllDigits(s)) return false;
  if (s.size() > 1 && s[0] == '0') return false;
  return absl::SimpleAtoi(s, out);
}

// Dot-separated identifiers of [0-9A-Za-z-]; prerelease ones also forbid numeric leading zeros.
bool ValidIdentifiers(absl::string_view s, bool prerelease) {
  for (absl::string_view id : absl::StrSplit(s, '.')) {
    if (id.empty()) return false;
    for (char c : id) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    }
    if (prerelease && AllDigits(id) && id.size() > 1 && id[0] == '0') return false;
  }
  return true;
}

// Numeric identifiers may exceed int64; without leading zeros, length then text orders them.
int CompareNumericText(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  int c = a.compare(b);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

int ComparePrerelease(absl::string_view a, absl::string_view b) {
  if (a == b) return 0;
  if (a.empty()) return 1;  // a release outranks its prereleases
  if (b.empty()) return -1;
  std::vector<absl::string_view> as = absl::StrSplit(a, '.');
  std::vector<absl::string_view> bs = absl::StrSplit(b, '.');
  for (size_t i = 0; i < as.size() && i < bs.size(); ++i) {
    bool an = AllDigits(as[i]);
    bool bn = AllDigits(bs[i]);
    int c;
    if (an && bn) {
      c = CompareNumericText(as[i], bs[i]);
    } else if (an != bn) {
      c = an ? -1 : 1;
    } else {
      int raw = as[i].compare(bs[i]);
      c = raw < 0 ? -1 : (raw > 0 ? 1 : 0);
    }
    if (c != 0) return c;
  }
  if (as.size() == bs.size()) return 0;
  return as.size() < bs.size() ? -1 : 1;
}

int Cmp(int64_t a, int64_t b) { return a < b ? -1 : (a > b ? 1 : 0); }

}  // namespace

std::optional<SemVer> ParseSemVer(absl::string_view text) {
  absl::string_view s = text;
  if (!s.empty() && (s[0] == 'v' || s[0] == 'V')) s.remove_prefix(1);
  SemVer v;
  if (size_t plus = s.find('+'); plus != absl::string_view::npos) {
    absl::string_view build = s.substr(plus + 1);
    if (!ValidIdentifiers(build, /*prerelease=*/false)) return std::nullopt;
    v.build = std::string(build);
    s = s.substr(0, plus);
  }
  if (size_t dash = s.find('-'); dash != absl::string_view::npos) {
    absl::string_view pre = s.substr(dash + 1);
    if (!ValidIdentifiers(pre, /*prerelease=*/true)) return std::nullopt;
    v.prerelease = std::string(pre);
    s = s.substr(0, dash);
  }
  std::vector<absl::string_view> core = absl::StrSplit(s, '.');
  if (core.empty() || core.size() > 3) return std::nullopt;
  int64_t* parts[] = {&v.major, &v.minor, &v.patch};
  for (size_t i = 0; i < core.size(); ++i) {
    if (!ParseNumber(core[i], parts[i])) return std::nullopt;
  }
  return v;
}

std::string FormatSemVer(const SemVer& v) {
  std::string out = absl::StrCat(v.major, ".", v.minor, ".", v.patch);
  if (!v.prerelease.empty()) absl::StrAppend(&out, "-", v.prerelease);
  if (!v.build.empty()) absl::StrAppend(&out, "+", v.build);
  return out;
}

int CompareSemVer(const SemVer& a, const SemVer& b) {
  if (int c = Cmp(a.major, b.major); c != 0) return c;
  if (int c = Cmp(a.minor, b.minor); c != 0) return c;
  if (int c = Cmp(a.patch, b.patch); c != 0) return c;
  return ComparePrerelease(a.prerelease, b.prerelease);
}

Bump ClassifyBump(const SemVer& from, const SemVer& to) {
  int c = CompareSemVer(from, to);
  if (c > 0) return Bump::kDowngrade;
  if (c == 0) return Bump::kNone;
  if (to.major > from.major) return Bump::kMajor;
  if (to.minor > from.minor) return Bump::kMinor;
  return Bump::kPatch;
}

constexpr std::array<BumpInfo, 8> kBumps = {{
    {Bump::kMajor, "major", "the major version increased"},
    {Bump::kMinor, "minor", "the minor version increased (major unchanged)"},
    {Bump::kPatch, "patch", "the patch version or only the prerelease moved up"},
    {Bump::kNone, "none", "the same version (equal precedence)"},
    {Bump::kDowngrade, "downgrade", "the new version sorts before the deployed one"},
    {Bump::kInitial, "initial", "no deployed version: a first deployment or a new contract"},
    {Bump::kRemoved, "removed", "a contract of the deployed version is gone"},
    {Bump::kInvalid, "invalid", "one side is not a semantic version"},
}};

namespace {

constexpr bool BumpsInOrder() {
  for (size_t i = 0; i < kBumps.size(); ++i) {
    if (static_cast<size_t>(kBumps[i].bump) != i) return false;
  }
  return true;
}
static_assert(BumpsInOrder(), "kBumps must list every Bump in enum order");

}  // namespace

absl::string_view BumpName(Bump bump) { return kBumps[static_cast<size_t>(bump)].name; }

std::optional<Bump> ParseBump(absl::string_view name) {
  for (const BumpInfo& b : kBumps) {
    if (b.name == name) return b.bump;
  }
  return std::nullopt;
}

std::optional<std::string> VersionString(const Value& v) {
  if (v.is_bool()) return std::nullopt;
  return DescriptorText(v);
}

}  // namespace arbiter
