#include "service/engine/types.h"

#include "absl/strings/str_cat.h"

namespace arbiter {

absl::string_view KindName(Kind kind) {
  switch (kind) {
    case Kind::kAccess:
      return "access";
    case Kind::kProduct:
      return "product";
    case Kind::kDeployment:
      return "deployment";
  }
  return "access";
}

absl::StatusOr<Kind> ParseKind(absl::string_view name) {
  if (name == "access") return Kind::kAccess;
  if (name == "product") return Kind::kProduct;
  if (name == "deployment") return Kind::kDeployment;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown kind \"", name, "\" (expected access, product or deployment)"));
}

Kind KindOf(const Request& request) {
  switch (request.index()) {
    case 0:
      return Kind::kAccess;
    case 1:
      return Kind::kProduct;
    default:
      return Kind::kDeployment;
  }
}

size_t ContextEntryCount(const AccessRequest& a) {
  size_t n = 0;
  ForEachContextEntry(a, [&n](const std::string&, const std::string&) { ++n; });
  return n;
}

ContextMap ContextEntries(const AccessRequest& a) {
  ContextMap out;
  ForEachContextEntry(
      a, [&out](const std::string& k, const std::string& v) { out.emplace_hint(out.end(), k, v); });
  return out;
}

absl::string_view EffectName(Effect effect) { return effect == Effect::kAllow ? "allow" : "deny"; }

constexpr std::array<VocabularyEntry<Severity>, 4> kSeverities = {{
    {Severity::kNone, "", "a grant: an allow or obligate finding"},
    {Severity::kError, "error", "a deny that counts in the combining rule"},
    {Severity::kWarning, "warning",
     "reported, never changes the effect: warn(), a deny of a severity-warning or advisory "
     "policy, a waived deny"},
    {Severity::kInfo, "info", "the engine's own note explaining a decision"},
}};

constexpr std::array<VocabularyEntry<PolicyMode>, 5> kPolicyModes = {{
    {PolicyMode::kNone, "", "no policy: a reason the engine adds itself"},
    {PolicyMode::kMandatory, "mandatory",
     "global, the first layer: its error deny or its allow is final; no domain can override it"},
    {PolicyMode::kDefault, "default",
     "global, a baseline a domain policy may replace (`overrides`) for that domain's resources"},
    {PolicyMode::kAdvisory, "advisory",
     "global, every finding is a warning: never changes the effect"},
    {PolicyMode::kDomain, "domain", "a domain's own policy, run for that domain's resources only"},
}};

namespace {

// The tables are indexed by the enum: checked here once rather than trusted.
template <typename E, size_t N>
constexpr bool IndexedByValue(const std::array<VocabularyEntry<E>, N>& table) {
  for (size_t i = 0; i < N; ++i) {
    if (static_cast<size_t>(table[i].value) != i) return false;
  }
  return true;
}
static_assert(IndexedByValue(kSeverities));
static_assert(IndexedByValue(kPolicyModes));

template <typename E, size_t N>
absl::string_view NameIn(const std::array<VocabularyEntry<E>, N>& table, E value) {
  size_t i = static_cast<size_t>(value);
  return i < N ? table[i].name : absl::string_view();
}

template <typename E, size_t N>
std::optional<E> ParseIn(const std::array<VocabularyEntry<E>, N>& table, absl::string_view name) {
  if (name.empty()) return std::nullopt;
  for (const VocabularyEntry<E>& e : table) {
    if (e.name == name) return e.value;
  }
  return std::nullopt;
}

}  // namespace

absl::string_view SeverityName(Severity severity) { return NameIn(kSeverities, severity); }
std::optional<Severity> ParseSeverity(absl::string_view name) { return ParseIn(kSeverities, name); }
absl::string_view PolicyModeName(PolicyMode mode) { return NameIn(kPolicyModes, mode); }
std::optional<PolicyMode> ParsePolicyMode(absl::string_view name) {
  return ParseIn(kPolicyModes, name);
}

absl::string_view PolicyFaultTypeName(PolicyFault::Type type) {
  switch (type) {
    case PolicyFault::Type::kError:
      return "error";
    case PolicyFault::Type::kBudget:
      return "budget";
    case PolicyFault::Type::kMemory:
      return "memory";
    case PolicyFault::Type::kMalformed:
      return "malformed";
  }
  return "error";
}

}  // namespace arbiter
