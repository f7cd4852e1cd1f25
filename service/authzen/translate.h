// The OpenID AuthZEN Authorization API 1.0 (final), translated to Arbiter access requests and
// decisions back to AuthZEN's JSON. Pure translation: no HTTP and no server state, so the unit
// tests and the fuzzer call it directly; routes.h serves it. docs/authzen.md has the mapping.
//
// Request mapping (every evaluation becomes one `access` request):
//   subject.type / .id / .properties  -> principal.type, principal.id, principal.properties (the
//       whole object, JSON values kept); properties.roles / .groups (a list of strings or one
//       space- or comma-separated string) and .domain (a string) also fill principal.roles /
//       .groups / .domain, and scalar properties become principal.attributes (as text).
//   action.name / .properties         -> action, action_properties.
//   resource.type / .id / .properties -> resource.type, resource.id, resource.properties; type
//       "table" (id catalog.schema.table) and "product" (id = product name) resolve through the
//       catalog exactly as CheckAccess does, with properties.columns (a list of strings) as the
//       columns; any other type has no catalog owner and is judged by the global policies.
//   context                           -> context_values (req.context, JSON values kept).
// Unknown members are ignored, as the specification requires; a missing or mistyped required
// member is INVALID_ARGUMENT naming it ("evaluations[2].subject.id: required string").
#ifndef ARBITER_SERVICE_AUTHZEN_TRANSLATE_H_
#define ARBITER_SERVICE_AUTHZEN_TRANSLATE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "service/engine/types.h"
#include "service/value/parse.h"

namespace arbiter::authzen {

// options.evaluations_semantic.
enum class Semantic { kExecuteAll, kDenyOnFirstDeny, kPermitOnFirstPermit };

// One Access Evaluations request: its evaluations (the top-level subject, action, resource and
// context applied as defaults), in order. `single` is set when the body had no (or an empty)
// `evaluations` array: the request is one evaluation and is answered as the Access Evaluation
// API answers it.
struct Evaluations {
  std::vector<AccessRequest> items;
  Semantic semantic = Semantic::kExecuteAll;
  bool single = false;
};

// Bounds on a request body: evaluations may be many, but each is small and shallow.
ParseLimits DefaultParseLimits();

// POST /access/v1/evaluation. INVALID_ARGUMENT (message naming the member) for a body that is not
// a JSON object or lacks subject, action or resource.
absl::StatusOr<AccessRequest> ParseEvaluation(absl::string_view body,
                                              const ParseLimits& limits = DefaultParseLimits());

// POST /access/v1/evaluations. INVALID_ARGUMENT also for more than `max_items` evaluations and an
// unknown options.evaluations_semantic.
absl::StatusOr<Evaluations> ParseEvaluations(absl::string_view body, size_t max_items,
                                             const ParseLimits& limits = DefaultParseLimits());

// One Decision object: {"decision": bool, "context": {"decision_id", "reasons": [{"effect",
// "severity", "message"}], "obligations": {"row_filters", "column_masks"}}}. Reasons carry only
// requester-safe messages, never a policy's detail.
// `explain` (the trace a governance caller asked for with ?explain=true) goes to
// context.explain when not empty.
std::string DecisionJson(const Decision& decision, absl::string_view explain = "");

// A Decision object for an evaluation the engine refused as malformed: {"decision": false,
// "context": {"error": {"status": 400, "message"}}} (the specification's per-evaluation error).
std::string EvaluationErrorJson(const absl::Status& status);

}  // namespace arbiter::authzen

#endif  // ARBITER_SERVICE_AUTHZEN_TRANSLATE_H_
