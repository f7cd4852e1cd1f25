#include <algorithm>

#include "service/engine/bundle_load.h"

namespace arbiter {

PolicyIndex IndexPolicies(const std::vector<PolicyInfo>& policies) {
  PolicyIndex index;
  for (size_t i = 0; i < policies.size(); ++i) {
    const PolicyInfo& p = policies[i];
    for (Kind k : p.kinds) {
      if (p.domain.empty()) {
        index.global_by_kind[static_cast<int>(k)].push_back(i);
      } else {
        index.domain_by_kind[p.domain][static_cast<int>(k)].push_back(i);
      }
    }
    // ValidateOverrides has checked that the target is a global default policy.
    if (!p.domain.empty() && !p.overrides.empty()) index.overrides[p.domain].insert(p.overrides);
  }
  // Access policies by action, so that a request does not test each policy's `actions`.
  auto by_action = [&policies](const std::vector<size_t>& access) {
    PolicyIndex::ByAction b;
    for (size_t i : access) {
      for (const std::string& a : policies[i].actions) b.declared.try_emplace(a);
    }
    for (size_t i : access) {
      const std::vector<std::string>& actions = policies[i].actions;
      if (actions.empty()) b.undeclared.push_back(i);
      for (auto& [a, selected] : b.declared) {
        if (actions.empty() || std::find(actions.begin(), actions.end(), a) != actions.end()) {
          selected.push_back(i);
        }
      }
    }
    return b;
  };
  constexpr int kAccess = static_cast<int>(Kind::kAccess);
  index.global_access = by_action(index.global_by_kind[kAccess]);
  for (const auto& [domain, by_kind] : index.domain_by_kind) {
    index.domain_access[domain] = by_action(by_kind[kAccess]);
  }
  PlanAccessSelections(policies, index);
  return index;
}

}  // namespace arbiter
