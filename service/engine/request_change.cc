// Step "change" of building `req` (request_build.h): what a deployment changes, apart from the
// tree because it is also an answer (Decision::change, shown by `arbiter gate` and the service)
// and because the caller may extend it with its impact, which the engine cannot compute: it
// reads no decision logs (EvalOptions::deployment_impact).
#include "service/engine/request_build.h"

namespace arbiter {

Value RequestChange(
    const DeploymentRequest& d, const DiffRuleClasses& classes,
    const std::function<Value(const DeploymentRequest&, const Value& change)>& impact) {
  // Documents sent as YAML text carry positions, which give each change its `line`.
  Value change = ComputeChange(d.product, d.previous ? &*d.previous : nullptr, d.contracts,
                               d.previous_contracts, classes, /*with_lines=*/true);
  if (impact && change.is_map()) {
    Value i = impact(d, change);
    if (!i.is_null()) change.Set("impact", std::move(i));
  }
  return change;
}

}  // namespace arbiter
