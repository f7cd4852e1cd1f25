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
  return index;
}

}  // namespace arbiter
