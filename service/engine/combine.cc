#include "service/engine/combine.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace arbiter {
namespace {

enum class Role { kErrorDeny, kWarning, kAllow, kObligate };

Role RoleOf(const PolicyFinding& pf) {
  const PolicyInfo& p = *pf.policy;
  if (p.mode == PolicyMode::kAdvisory) return Role::kWarning;
  switch (pf.finding.type) {
    case Finding::Type::kAllow:
      return Role::kAllow;
    case Finding::Type::kObligate:
      return Role::kObligate;
    case Finding::Type::kWarn:
      return Role::kWarning;
    case Finding::Type::kDeny:
      if (pf.waiver != nullptr) return Role::kWarning;
      return p.severity == Severity::kWarning ? Role::kWarning : Role::kErrorDeny;
  }
  return Role::kErrorDeny;
}

}  // namespace

void Combine(const std::vector<PolicyFinding>& findings, Effect default_effect, Decision& out) {
  bool mandatory_deny = false, mandatory_allow = false, any_deny = false, any_allow = false;
  std::vector<Role> roles;
  roles.reserve(findings.size());
  for (const PolicyFinding& pf : findings) {
    Role r = RoleOf(pf);
    roles.push_back(r);
    bool mandatory = pf.policy->mode == PolicyMode::kMandatory;
    if (r == Role::kErrorDeny) {
      any_deny = true;
      mandatory_deny |= mandatory;
    } else if (r == Role::kAllow) {
      any_allow = true;
      mandatory_allow |= mandatory;
    }
  }
  if (mandatory_deny) {
    out.effect = Effect::kDeny;
  } else if (mandatory_allow) {
    out.effect = Effect::kAllow;
  } else if (any_deny) {
    out.effect = Effect::kDeny;
  } else if (any_allow) {
    out.effect = Effect::kAllow;
  } else {
    out.effect = default_effect;
    out.defaulted = true;
  }

  // Reasons: error denies first, then grants and obligations, then warnings.
  for (Role wanted : {Role::kErrorDeny, Role::kAllow, Role::kObligate, Role::kWarning}) {
    for (size_t i = 0; i < findings.size(); ++i) {
      if (roles[i] != wanted) continue;
      const PolicyFinding& pf = findings[i];
      Reason r;
      r.policy_id = pf.policy->id;
      r.origin = pf.policy->origin();
      r.mode = pf.policy->mode;
      r.message = pf.finding.message;
      r.detail = pf.finding.detail;
      bool grants =
          pf.finding.type == Finding::Type::kAllow || pf.finding.type == Finding::Type::kObligate;
      r.effect = grants ? Effect::kAllow : Effect::kDeny;
      r.obligation = pf.finding.type == Finding::Type::kObligate;
      if (pf.waiver != nullptr && pf.finding.type == Finding::Type::kDeny) {
        r.waiver = pf.waiver->id;
        r.message = absl::StrCat(r.message, " [", pf.waiver->Note(), "]");
      }
      r.severity = wanted == Role::kErrorDeny ? Severity::kError
                   : wanted == Role::kWarning ? Severity::kWarning
                                              : Severity::kNone;
      out.reasons.push_back(std::move(r));
    }
  }

  if (out.effect != Effect::kAllow) return;
  // Obligations: mandatory policies' masks first so that they win a conflict.
  absl::flat_hash_set<std::string> masked;
  absl::flat_hash_set<std::string> filters;
  for (bool mandatory_pass : {true, false}) {
    for (size_t i = 0; i < findings.size(); ++i) {
      if (roles[i] != Role::kAllow && roles[i] != Role::kObligate) continue;
      const PolicyFinding& pf = findings[i];
      if ((pf.policy->mode == PolicyMode::kMandatory) != mandatory_pass) continue;
      for (const ColumnMask& m : pf.finding.masks) {
        if (masked.insert(m.column).second) out.obligations.column_masks.push_back(m);
      }
      for (const std::string& f : pf.finding.row_filters) {
        if (filters.insert(f).second) out.obligations.row_filters.push_back(f);
      }
    }
  }
  std::sort(out.obligations.column_masks.begin(), out.obligations.column_masks.end(),
            [](const ColumnMask& a, const ColumnMask& b) { return a.column < b.column; });
}

}  // namespace arbiter
