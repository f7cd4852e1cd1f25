// Decisions as JSON, written straight from the engine's types (no protobuf reflection): the
// decision log line and the strings of every hand-written JSON answer go through here, so one
// decision has one JSON shape.
//
// The log line (one object, no newline), fields in this order:
//   decision_id, time (RFC 3339, UTC), kind, request, effect ("allow"/"deny"),
//   reasons [{policy_id, origin, effect, severity, message, detail}],
//   obligations {column_masks [{column, expression}], row_filters []}, bundle_revision, domain,
//   evaluated_policies, overridden_policies, faults [{policy_id, type}], latency_us,
//   caller {peer, identity, role, claimed, transport} (identity and role as authenticated;
//   claimed: what the client's x-arbiter-caller header said, recorded only).
// `request` is the proto3 JSON mapping of the request message (AccessRequest, ProductRequest or
// DeploymentRequest; lowerCamelCase names, empty fields left out), so that `arbiter dry-run`
// and the DryRun call can replay it. Documents (products, contracts) are written as
// {"struct": <the parsed tree>}: the tree the policies saw, whatever form the caller sent (a
// replay sees the same values; map keys may come back in another order, as from any Struct).
//
// Thread-safe (no shared state besides a per-thread cache of the formatted second).
#ifndef ARBITER_SERVICE_DECISION_JSON_DECISION_JSON_H_
#define ARBITER_SERVICE_DECISION_JSON_DECISION_JSON_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "service/engine/types.h"
#include "service/value/value.h"

namespace arbiter::json {

// `s` as a JSON string, quotes included (AppendJsonString of service/value, the one JSON writer;
// the engine's texts are well-formed UTF-8 already, see CleanText).
std::string Quote(absl::string_view s);

// Appends the proto3 JSON mapping of the request message that `request` came from. `principal`,
// when set, is the access request's principal (a batch's shared one, EvalOptions::principal).
void AppendRequest(std::string& out, const Request& request, const Principal* principal = nullptr);

// `t` as RFC 3339 in UTC with the shortest exact fraction ("2026-11-30T01:52:53.25+00:00"), the
// form absl::RFC3339_full gives.
void AppendTime(std::string& out, absl::Time t);

// Who asked, as the log records it.
struct Caller {
  absl::string_view peer;
  absl::string_view identity;
  absl::string_view role;
  absl::string_view claimed;
  absl::string_view transport;
};

// The decision log line described above, appended to `out` (the decision log's Lines buffer).
void AppendDecisionLogLine(std::string& out, const Decision& d, const Request& request,
                           absl::Time time, absl::Duration latency, const Caller& caller,
                           const Principal* principal = nullptr);
// The same with the request already written as JSON (`request_json`, of a `kind` request): the
// decision log's redacted form.
void AppendDecisionLogLine(std::string& out, const Decision& d, Kind kind,
                           absl::string_view request_json, absl::Time time, absl::Duration latency,
                           const Caller& caller);
// Each as a string of its own.
std::string DecisionLogLine(const Decision& d, const Request& request, absl::Time time,
                            absl::Duration latency, const Caller& caller,
                            const Principal* principal = nullptr);
std::string DecisionLogLine(const Decision& d, Kind kind, absl::string_view request_json,
                            absl::Time time, absl::Duration latency, const Caller& caller);

// One decision as JSON, the shape docs/decision-json.md describes and every JSON output of
// Arbiter uses (`arbiter eval|check --output json`, the gate's "decision", the log line's
// decision fields): decision_id, kind, then the log line's effect .. faults, then defaulted and,
// for deployments, change (the classified changes policies saw).
void AppendDecision(std::string& out, const Decision& d, Kind kind);
std::string DecisionJson(const Decision& d, Kind kind);

}  // namespace arbiter::json

#endif  // ARBITER_SERVICE_DECISION_JSON_DECISION_JSON_H_
