// The explanation of a decision, as text: which combining step (DESIGN §1) decided and why, the
// policies a domain's overrides replaced, and, when the evaluation was traced
// (EvalOptions::trace), each policy that ran with its mode, time, instructions, findings and
// print(...) output. One formatter for every place that shows it: `arbiter eval --explain` and
// `--trino --explain`, and the `explain` field/flag of gRPC Check*, AuthZEN and Trino answers
// (governance callers only; the transports enforce that).
#ifndef ARBITER_SERVICE_EXPLAIN_EXPLAIN_H_
#define ARBITER_SERVICE_EXPLAIN_EXPLAIN_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "service/engine/types.h"

namespace arbiter {

// "step N, ...": the layer that decided `d` (of a request of `kind`).
std::string DecidingLayer(const Decision& d, Kind kind);

// The block `arbiter eval --explain` prints after a decision, starting "explain:\n".
std::string FormatExplain(const Decision& d, Kind kind);

// The explanation of a Trino request's checks (decided together, in order): a header line, then
// per check "check i: <action> <table or product> -> <effect>" and its FormatExplain.
std::string FormatChecksExplain(absl::string_view header, const std::vector<AccessRequest>& checks,
                                const std::vector<absl::StatusOr<Decision>>& decisions);

// Whether a raw URL query ("a=1&explain=true") asks for the explanation: explain=true or
// explain=1 (or a bare `explain`).
bool QueryAsksExplain(absl::string_view raw_query);

}  // namespace arbiter

#endif  // ARBITER_SERVICE_EXPLAIN_EXPLAIN_H_
