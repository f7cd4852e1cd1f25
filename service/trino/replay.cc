#include "service/trino/replay.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace arbiter::trino {

Replay ReplayRequest(const Bundle& bundle, Endpoint endpoint, absl::string_view body,
                     const IdentityMapper& identities, const EvalOptions& options) {
  Replay out;
  ProductLocator products = ProductLocator::Build(bundle.catalog());
  absl::StatusOr<Plan> plan = Translate(endpoint, body, identities, products);
  if (!plan.ok()) {
    out.translated = plan.status();
    out.answer = RejectedAnswer(plan.status());
    return out;
  }
  out.plan = *std::move(plan);
  out.checks = out.plan.MakeChecks();
  out.decisions.reserve(out.checks.size());
  EvalOptions check_options = options;
  for (size_t i = 0; i < out.checks.size(); ++i) {
    AccessRequest& check = out.checks[i];
    check.principal = out.plan.principal;
    check_options.decision_id = absl::StrCat(options.decision_id, "-", i);
    out.decisions.push_back(bundle.Evaluate(Request(check), check_options));
  }
  out.answer = Shape(out.plan, out.decisions);
  return out;
}

}  // namespace arbiter::trino
