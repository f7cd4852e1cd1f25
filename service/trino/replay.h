// A Trino request decided offline, on a bundle in hand instead of a server's: what `arbiter eval
// --trino FILE` and Trino-shaped test cases (`trino:` in a bundle's tests/*.yaml) run. The
// translation and the answer's shape are the HTTP route's own (translate.h), so a replay gives
// the same answer arbiterd would, minus what only a server adds (deadline, metrics, decision log).
#ifndef ARBITER_SERVICE_TRINO_REPLAY_H_
#define ARBITER_SERVICE_TRINO_REPLAY_H_

#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "service/engine/bundle.h"
#include "service/engine/types.h"
#include "service/trino/translate.h"

namespace arbiter::trino {

struct Replay {
  // OK, or why Translate refused the body (then `answer` is the 400/413 the route gives and
  // there are no checks).
  absl::Status translated;
  Plan plan;
  // The plan's checks, each with its principal filled in, and their decisions in the same order.
  std::vector<AccessRequest> checks;
  std::vector<absl::StatusOr<Decision>> decisions;
  Answer answer;
};

// Translates `body` (as Trino POSTs it to `endpoint`) with `identities`, evaluates every check on
// `bundle` with `options` (check i gets decision id "<options.decision_id>-<i>"), and shapes the
// answer.
Replay ReplayRequest(const Bundle& bundle, Endpoint endpoint, absl::string_view body,
                     const IdentityMapper& identities, const EvalOptions& options);

}  // namespace arbiter::trino

#endif  // ARBITER_SERVICE_TRINO_REPLAY_H_
