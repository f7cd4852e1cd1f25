#include <algorithm>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "re2/re2.h"
#include "service/engine/bundle_load.h"
#include "service/engine/policy_lint.h"

namespace arbiter {
namespace {

// Line of the first `key =` in a policy's source, for messages about table keys. A search of
// the source because Lua keeps no line for the fields of a table constructor: the policy table
// is a value the chunk returns, and the debug API knows the lines of functions only.
int LineOfKey(absl::string_view source, absl::string_view key) {
  RE2 re(absl::StrCat("\\b(", RE2::QuoteMeta(re2::StringPiece(key.data(), key.size())),
                      ")\\s*=(?:[^=]|$)"));
  re2::StringPiece m;
  if (!RE2::PartialMatch(re2::StringPiece(source.data(), source.size()), re, &m)) return 1;
  return 1 + static_cast<int>(std::count(source.data(), m.data(), '\n'));
}

bool ValidPolicyName(absl::string_view s) {
  static const RE2* re = new RE2("[a-z0-9][a-z0-9._-]{0,127}");
  return RE2::FullMatch(re2::StringPiece(s.data(), s.size()), *re);
}

}  // namespace

std::string CleanId(absl::string_view id) {
  std::string out;
  for (char c : id.substr(0, 128)) out.push_back(c >= 0x20 && c < 0x7F ? c : '?');
  return out;
}

void ValidatePolicy(const PolicySpec& spec, const std::string& source, size_t i,
                    std::vector<PolicyInfo>& policies,
                    absl::flat_hash_map<std::string, size_t>& ids,
                    std::vector<std::string>& errors) {
  PolicyInfo& p = policies[i];
  // A literal options table with a typo (`row_filter`) is refused here rather than at the
  // first request that reaches the call.
  for (const LintFinding& f : LintFindingOptions(p.file, source)) {
    errors.push_back(absl::StrCat(f.file, ":", f.line, ": ", f.message));
  }
  auto err = [&](absl::string_view key, absl::string_view msg) {
    errors.push_back(
        absl::StrCat(p.file, ":", key.empty() ? 1 : LineOfKey(source, key), ": ", msg));
  };
  // Capped: each reported key costs a scan of the source for its line, and a policy
  // returning 20,000 unknown keys must not make loading quadratic (issue 11).
  constexpr size_t kMaxKeyErrors = 20;
  for (size_t k = 0; k < spec.unknown_keys.size() && k < kMaxKeyErrors; ++k) {
    const std::string& key = spec.unknown_keys[k];
    err(key, absl::StrCat("unknown key \"", key,
                          "\" (allowed: id, description, kinds, actions, mode, severity, "
                          "overrides, waivable, check)"));
  }
  if (spec.unknown_keys.size() > kMaxKeyErrors) {
    err("", absl::StrCat("and ", spec.unknown_keys.size() - kMaxKeyErrors, " more unknown keys"));
  }
  for (size_t k = 0; k < spec.type_errors.size() && k < kMaxKeyErrors; ++k) {
    const std::string& e = spec.type_errors[k];
    err(std::string(e.substr(0, e.find_first_of(":["))), e);
  }
  if (spec.type_errors.size() > kMaxKeyErrors) {
    err("", absl::StrCat("and ", spec.type_errors.size() - kMaxKeyErrors,
                         " more errors in the policy table"));
  }
  std::string prefix = p.domain.empty() ? "global." : absl::StrCat(p.domain, ".");
  if (spec.id.empty()) {
    err("", "missing id");
  } else if (!absl::StartsWith(spec.id, prefix) || spec.id.size() == prefix.size()) {
    err("id", absl::StrCat("id \"", CleanId(spec.id), "\" must start with \"", prefix, "\""));
  } else if (!ValidPolicyName(absl::string_view(spec.id).substr(prefix.size()))) {
    // Ids reach logs, metrics labels and responses: no control bytes, no free text.
    err("id", absl::StrCat("id \"", CleanId(spec.id), "\" must be ", prefix,
                           "<name> with a name of lower-case letters, digits, '.', '-' and "
                           "'_'"));
  } else if (auto [it, inserted] = ids.emplace(spec.id, i); !inserted) {
    err("id", absl::StrCat("duplicate policy id ", spec.id, " (also in ", policies[it->second].file,
                           ")"));
  }
  p.id = spec.id;
  p.description = spec.description;
  if (!spec.has_check) err("", "missing check function");
  if (spec.kinds.empty())
    err("kinds", "kinds must list at least one of access, product, deployment");
  for (const std::string& k : spec.kinds) {
    absl::StatusOr<Kind> kind = ParseKind(k);
    if (!kind.ok()) {
      err("kinds", absl::StrCat("kinds: ", kind.status().message()));
    } else if (std::find(p.kinds.begin(), p.kinds.end(), *kind) == p.kinds.end()) {
      p.kinds.push_back(*kind);
    }
  }
  if (spec.actions.has_value()) {
    if (spec.actions->empty()) {
      err("actions", "actions must list at least one action (or be left out: every action)");
    } else if (std::find(p.kinds.begin(), p.kinds.end(), Kind::kAccess) == p.kinds.end()) {
      err("actions", "actions applies to access policies only (kinds has no access)");
    }
    for (const std::string& a : *spec.actions) {
      if (a.empty()) err("actions", "actions: an action cannot be empty");
      if (std::find(p.actions.begin(), p.actions.end(), a) == p.actions.end()) {
        p.actions.push_back(a);
      }
    }
  }
  if (p.domain.empty()) {
    std::optional<PolicyMode> mode =
        spec.mode ? ParsePolicyMode(*spec.mode) : PolicyMode::kMandatory;
    if (mode == PolicyMode::kMandatory || mode == PolicyMode::kDefault ||
        mode == PolicyMode::kAdvisory) {
      p.mode = *mode;
    } else {
      err("mode", absl::StrCat("mode \"", *spec.mode, "\" is not one of ",
                               PolicyModeName(PolicyMode::kMandatory), ", ",
                               PolicyModeName(PolicyMode::kDefault), ", ",
                               PolicyModeName(PolicyMode::kAdvisory)));
    }
    if (spec.overrides) err("overrides", "only domain policies may override");
  } else {
    p.mode = PolicyMode::kDomain;
    if (spec.mode) {
      err("mode", absl::StrCat("mode applies to global policies only; domain policy ", spec.id,
                               " cannot set it"));
    }
    if (spec.overrides) p.overrides = *spec.overrides;
  }
  p.waivable = spec.waivable.value_or(p.mode != PolicyMode::kMandatory);
  std::optional<Severity> severity =
      spec.severity ? ParseSeverity(*spec.severity) : Severity::kError;
  if (severity == Severity::kError || severity == Severity::kWarning) {
    p.severity = *severity;
  } else {
    err("severity",
        absl::StrCat("severity \"", *spec.severity, "\" is not ", SeverityName(Severity::kError),
                     " or ", SeverityName(Severity::kWarning)));
  }
}

void ValidateOverrides(const std::vector<PolicyInfo>& policies,
                       const std::vector<std::string>& sources,
                       const absl::flat_hash_map<std::string, size_t>& ids,
                       std::vector<std::string>& errors) {
  for (size_t i = 0; i < policies.size(); ++i) {
    const PolicyInfo& p = policies[i];
    if (p.overrides.empty()) continue;
    auto it = ids.find(p.overrides);
    std::string msg;
    if (it == ids.end() || !policies[it->second].domain.empty()) {
      msg = absl::StrCat("domain ", p.domain, " cannot override ", p.overrides,
                         ": no such global policy");
    } else if (const PolicyInfo& target = policies[it->second];
               target.mode != PolicyMode::kDefault) {
      msg = absl::StrCat("domain ", p.domain, " cannot override ", PolicyModeName(target.mode),
                         " policy ", target.id);
    }
    if (!msg.empty()) {
      errors.push_back(absl::StrCat(p.file, ":", LineOfKey(sources[i], "overrides"), ": ", msg));
    }
  }
}

}  // namespace arbiter
