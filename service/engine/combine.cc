// DESIGN §1's combining rule, top to bottom: step 1 (what runs), faults (a policy that could not
// decide), steps 2-6 (the layers), and step 6's explanation.
#include "service/engine/combine.h"

#include <algorithm>
#include <array>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace arbiter {

// --- Step 1: the applicable global policies minus those the domain overrides, then the
// domain's own. No other domain's policies run: the index (built at load) is by domain. ---

Selection SelectPolicies(const std::vector<PolicyInfo>& policies, const PolicyIndex& index,
                         Kind kind, const std::string& domain, const std::string* action) {
  Selection s;
  SelectPolicies(policies, index, kind, domain, action, s);
  return s;
}

namespace {

// Step 1 from the lists that apply: `globals` minus the default policies `overridden` names,
// then `own`; unless `by_action` (the lists hold only what applies), each policy's `actions`
// are tested against `action`.
void SelectFrom(const std::vector<PolicyInfo>& policies, const std::vector<size_t>& globals,
                const std::vector<size_t>* own, const absl::flat_hash_set<std::string>* overridden,
                bool by_action, const std::string* action, Selection& s) {
  auto applies = [action](const PolicyInfo& p) {
    return action == nullptr || p.actions.empty() ||
           std::find(p.actions.begin(), p.actions.end(), *action) != p.actions.end();
  };
  s.run.reserve(globals.size() + (own != nullptr ? own->size() : 0));  // one allocation at most
  for (size_t i : globals) {
    const PolicyInfo& p = policies[i];
    if (!by_action && !applies(p)) continue;
    if (overridden != nullptr && p.mode == PolicyMode::kDefault && overridden->contains(p.id)) {
      s.overridden.push_back(i);
      continue;
    }
    s.run.push_back(i);
  }
  s.globals = s.run.size();
  if (own != nullptr) {
    for (size_t i : *own) {
      if (by_action || applies(policies[i])) s.run.push_back(i);
    }
  }
}

PolicyIndex::AccessPlan PlanFrom(const std::vector<PolicyInfo>& policies,
                                 const std::vector<size_t>& globals, const std::vector<size_t>* own,
                                 const absl::flat_hash_set<std::string>* overridden) {
  Selection s;
  SelectFrom(policies, globals, own, overridden, /*by_action=*/true, nullptr, s);
  return PolicyIndex::AccessPlan{std::move(s.run), s.globals, std::move(s.overridden)};
}

}  // namespace

void PlanAccessSelections(const std::vector<PolicyInfo>& policies, PolicyIndex& index) {
  // One domain's plans: for each action either scope declares, the lists ByAction::For gives
  // for it; for any other action, both scopes' `undeclared`.
  auto plans = [&](const PolicyIndex::ByAction* own,
                   const absl::flat_hash_set<std::string>* overridden) {
    PolicyIndex::AccessPlans out;
    auto add = [&](const std::string& action) {
      if (out.declared.contains(action)) return;
      out.declared.emplace(action,
                           PlanFrom(policies, index.global_access.For(action),
                                    own != nullptr ? &own->For(action) : nullptr, overridden));
    };
    for (const auto& [action, list] : index.global_access.declared) add(action);
    if (own != nullptr) {
      for (const auto& [action, list] : own->declared) add(action);
    }
    out.undeclared = PlanFrom(policies, index.global_access.undeclared,
                              own != nullptr ? &own->undeclared : nullptr, overridden);
    return out;
  };
  index.domain_plans.clear();
  for (const auto& [domain, own] : index.domain_access) {
    auto it = index.overrides.find(domain);
    index.domain_plans.emplace(domain,
                               plans(&own, it != index.overrides.end() ? &it->second : nullptr));
  }
  for (const auto& [domain, overridden] : index.overrides) {
    if (index.domain_plans.contains(domain)) continue;
    auto own = index.domain_access.find(domain);
    index.domain_plans.emplace(
        domain, plans(own != index.domain_access.end() ? &own->second : nullptr, &overridden));
  }
  index.no_domain_access = plans(nullptr, nullptr);
  index.plans_built = true;
}

void SelectPolicies(const std::vector<PolicyInfo>& policies, const PolicyIndex& index, Kind kind,
                    const std::string& domain, const std::string* action, Selection& s) {
  s.run.clear();
  s.globals = 0;
  s.overridden.clear();
  // An access request's action picks its policies from the index (by_action): every policy
  // listed there applies, and the lists hold nothing else.
  const bool by_action = kind == Kind::kAccess && action != nullptr;
  if (by_action && index.plans_built) {
    // The selection made at load for this domain and action.
    auto it = index.domain_plans.find(domain);
    const PolicyIndex::AccessPlan& plan =
        (it != index.domain_plans.end() ? it->second : index.no_domain_access).For(*action);
    s.run.assign(plan.run.begin(), plan.run.end());
    s.globals = plan.globals;
    s.overridden.assign(plan.overridden.begin(), plan.overridden.end());
    return;
  }
  const absl::flat_hash_set<std::string>* overridden = nullptr;
  if (auto it = index.overrides.find(domain); it != index.overrides.end()) {
    overridden = &it->second;
  }
  const std::vector<size_t>* globals = &index.global_by_kind[static_cast<int>(kind)];
  const std::vector<size_t>* own = nullptr;
  if (by_action) {
    globals = &index.global_access.For(*action);
    if (auto it = index.domain_access.find(domain); it != index.domain_access.end()) {
      own = &it->second.For(*action);
    }
  } else if (auto it = index.domain_by_kind.find(domain); it != index.domain_by_kind.end()) {
    own = &it->second[static_cast<int>(kind)];
  }
  SelectFrom(policies, *globals, own, overridden, by_action, action, s);
}

// --- Faults: a policy that errs, runs out of budget or memory, or returns something malformed
// could not decide, and that is a deny (fail closed). ---

void AddOutcome(const PolicyInfo& policy, CheckOutcome& outcome,
                absl::FunctionRef<const Waiver*(const PolicyInfo&)> waiver_for,
                std::vector<PolicyFinding>& findings, std::vector<PolicyFault>& faults) {
  if (outcome.fault) {
    faults.push_back({policy.id, *outcome.fault});
    Finding f;
    f.type = Finding::Type::kDeny;
    f.message = absl::StrCat("policy ", policy.id, " could not decide (",
                             PolicyFaultTypeName(*outcome.fault), "); failing closed");
    f.detail = outcome.error;
    findings.push_back({&policy, std::move(f)});
    return;
  }
  for (Finding& f : outcome.findings) {
    // Made in place: the finding is moved once, not into a temporary and then again.
    PolicyFinding& pf = findings.emplace_back();
    pf.policy = &policy;
    pf.waiver = f.type == Finding::Type::kDeny ? waiver_for(policy) : nullptr;
    pf.finding = std::move(f);
  }
}

// --- Steps 2-6: layered deny-overrides, the mandatory layer first. ---

namespace {

// What a finding counts as. Advisory policies and severity-warning denies only warn; so does a
// waived deny.
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

// `findings` is the caller's to give (the engine moves its own in): a reason takes its message
// and detail, and the obligations their masks and row filters, each read once.
void Combine(std::vector<PolicyFinding> findings, Effect default_effect, Decision& out) {
  CombineFrom(findings, default_effect, out);
}

void CombineFrom(std::vector<PolicyFinding>& findings, Effect default_effect, Decision& out) {
  const size_t n = findings.size();
  bool mandatory_deny = false, mandatory_allow = false, any_deny = false, any_allow = false;
  // On the stack for the usual handful of findings; how many have each role, so that the
  // passes below skip the roles nobody has.
  absl::InlinedVector<Role, 16> roles(n);
  std::array<size_t, 4> with_role{};
  for (size_t i = 0; i < n; ++i) {
    const PolicyFinding& pf = findings[i];
    const Role r = RoleOf(pf);
    roles[i] = r;
    ++with_role[static_cast<int>(r)];
    bool mandatory = pf.policy->mode == PolicyMode::kMandatory;
    if (r == Role::kErrorDeny) {
      any_deny = true;
      mandatory_deny |= mandatory;
    } else if (r == Role::kAllow) {
      any_allow = true;
      mandatory_allow |= mandatory;
    }
  }
  if (mandatory_deny) {  // 2.
    out.effect = Effect::kDeny;
  } else if (mandatory_allow) {  // 3.
    out.effect = Effect::kAllow;
  } else if (any_deny) {  // 4.
    out.effect = Effect::kDeny;
  } else if (any_allow) {  // 5.
    out.effect = Effect::kAllow;
  } else {  // 6.
    out.effect = default_effect;
    out.defaulted = true;
  }

  // Every finding is a reason: error denies first, then grants and obligations, then warnings.
  // Room for one more: the engine's own note (closed default, uncatalogued resource).
  out.reasons.reserve(out.reasons.size() + n + 1);
  for (Role wanted : {Role::kErrorDeny, Role::kAllow, Role::kObligate, Role::kWarning}) {
    if (with_role[static_cast<int>(wanted)] == 0) continue;
    for (size_t i = 0; i < n; ++i) {
      if (roles[i] != wanted) continue;
      auto& pf = findings[i];
      Reason& r = out.reasons.emplace_back();  // in place: no Reason moved and destroyed
      r.policy_id = pf.policy->id;
      r.origin = pf.policy->origin();
      r.mode = pf.policy->mode;
      r.message = std::move(pf.finding.message);
      r.detail = std::move(pf.finding.detail);
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
    }
  }

  if (out.effect != Effect::kAllow) return;
  // Obligations of the allows that stand: mandatory policies' masks first so that they win, a
  // column's first mask in that order being the one kept; a row filter is kept once, where it
  // first comes. Every candidate is moved out of its finding into the decision, and the
  // duplicates are then dropped in place: no set of copies for the usual few (a hash set of
  // strings cost ~900 instructions for one mask).
  std::vector<ColumnMask>& masks = out.obligations.column_masks;
  std::vector<std::string>& filters = out.obligations.row_filters;
  const size_t masks_from = masks.size(), filters_from = filters.size();
  size_t candidates = 0, filter_candidates = 0;
  for (size_t i = 0; i < n; ++i) {
    if (roles[i] != Role::kAllow && roles[i] != Role::kObligate) continue;
    candidates += findings[i].finding.masks.size();
    filter_candidates += findings[i].finding.row_filters.size();
  }
  if (candidates == 0 && filter_candidates == 0) return;
  masks.reserve(masks_from + candidates);
  filters.reserve(filters_from + filter_candidates);
  for (bool mandatory_pass : {true, false}) {
    for (size_t i = 0; i < n; ++i) {
      if (roles[i] != Role::kAllow && roles[i] != Role::kObligate) continue;
      auto& pf = findings[i];
      if ((pf.policy->mode == PolicyMode::kMandatory) != mandatory_pass) continue;
      for (auto& m : pf.finding.masks) masks.push_back(std::move(m));
      for (auto& f : pf.finding.row_filters) filters.push_back(std::move(f));
    }
  }
  // Masks: ordered by column (stably: a column's masks stay in the order above), each column's
  // first kept.
  const auto by_column = [](const ColumnMask& a, const ColumnMask& b) {
    return a.column < b.column;
  };
  const auto first = masks.begin() + static_cast<ptrdiff_t>(masks_from);
  if (masks.size() - masks_from <= 16) {
    // Insertion sort: stable, and std::stable_sort would allocate a buffer.
    for (auto it = first; it < masks.end(); ++it) {
      for (auto j = it; j > first && by_column(*j, *(j - 1)); --j) std::iter_swap(j, j - 1);
    }
  } else {
    std::stable_sort(first, masks.end(), by_column);
  }
  masks.erase(
      std::unique(first, masks.end(),
                  [](const ColumnMask& a, const ColumnMask& b) { return a.column == b.column; }),
      masks.end());
  // Sorted already, unless the decision had masks before (it never has in the engine).
  if (masks_from > 0) std::sort(masks.begin(), masks.end(), by_column);
  // Row filters: the first of each, in their order.
  if (filters.size() - filters_from <= 16) {
    size_t kept = filters_from;
    for (size_t i = filters_from; i < filters.size(); ++i) {
      const auto seen = filters.begin() + static_cast<ptrdiff_t>(kept);
      if (std::find(filters.begin() + static_cast<ptrdiff_t>(filters_from), seen, filters[i]) !=
          seen) {
        continue;
      }
      if (kept != i) filters[kept] = std::move(filters[i]);
      ++kept;
    }
    filters.resize(kept);
  } else {
    absl::flat_hash_set<std::string> seen;
    size_t kept = filters_from;
    for (size_t i = filters_from; i < filters.size(); ++i) {
      if (!seen.insert(filters[i]).second) continue;
      if (kept != i) filters[kept] = std::move(filters[i]);
      ++kept;
    }
    filters.resize(kept);
  }
}

// --- Step 6: the bundle's default, and why. ---

Effect DefaultEffect(const KindDefaults& defaults, Kind kind) {
  return kind == Kind::kAccess    ? defaults.access
         : kind == Kind::kProduct ? defaults.product
                                  : defaults.deployment;
}

void ExplainClosedDefault(Decision& decision) {
  if (!decision.defaulted || decision.effect != Effect::kDeny) return;
  Reason r;
  r.policy_id = std::string(kDefaultReasonId);
  r.origin = "global";
  r.mode = PolicyMode::kDefault;
  r.effect = Effect::kDeny;
  r.severity = Severity::kError;
  r.message = absl::StrCat("no policy allowed this; policies that ran: ",
                           decision.evaluated_policies.empty()
                               ? "none"
                               : absl::StrJoin(decision.evaluated_policies, ", "));
  decision.reasons.push_back(std::move(r));
}

}  // namespace arbiter
