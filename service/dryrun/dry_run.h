// The dry-run: a candidate bundle evaluated beside the active one, request by request, and what
// would change summarised for the governance team that proposes the candidate.
//
//   std::vector<v1::DryRunCase> cases = ...;            // hand-written, or a decision log replayed
//   CandidateLoad candidate = LoadCandidate(files);     // the same rules as a real load
//   if (candidate.bundle == nullptr) ...                // candidate.errors: "file:line: message"
//   absl::StatusOr<v1::DryRunResponse> r =
//       CompareBundles(*active, *candidate.bundle, cases, options);
//
// Nothing here enforces, logs or activates anything: both bundles are only evaluated. The module
// knows nothing of gRPC; the server wraps RunDryRun in its PolicyService.DryRun handler (through
// MakeDryRunHandler) and the CLI calls LoadCandidate/CompareBundles directly for offline runs, so
// a dry-run on a laptop and one against a server count and classify changes the same way.
//
// How a request is judged "changed" (DryRunResult.change): one of the ChangeOutcome values
// below, written by its name from kChangeOutcomes (the one list of them, with what each means).
// Waivers (docs/waivers.md) that waive a finding in one decision and not the other are listed
// per result (waiver_changes: "W-12 added", "W-12 removed", "W-12 expired", "W-12 no longer
// matches") and flips are counted per such change in summary.by_waiver.
// summary.changed counts the flips and the reasons_changed results.
#ifndef ARBITER_SERVICE_DRYRUN_DRY_RUN_H_
#define ARBITER_SERVICE_DRYRUN_DRY_RUN_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "arbiter/v1/policy_service.pb.h"
#include "service/decision_log/decision_log.h"
#include "service/engine/bundle.h"

namespace arbiter {

// What happened to one request between the active and the candidate bundle.
enum class ChangeOutcome { kUnchanged, kReasonsChanged, kAllowToDeny, kDenyToAllow, kFailed };

struct ChangeOutcomeInfo {
  ChangeOutcome outcome;
  absl::string_view name;  // DryRunResult.change
  absl::string_view description;
};

// In enum order (a static_assert in dry_run.cc keeps it so).
inline constexpr ChangeOutcomeInfo kChangeOutcomes[] = {
    {ChangeOutcome::kUnchanged, "unchanged", "same effect, findings and obligations"},
    {ChangeOutcome::kReasonsChanged, "reasons_changed",
     "the effect stayed, but a finding (policy, effect, severity, message) or an obligation "
     "differs; details are not compared: they may name values, not outcomes"},
    {ChangeOutcome::kAllowToDeny, "allow_to_deny", "the effect flipped to deny"},
    {ChangeOutcome::kDenyToAllow, "deny_to_allow", "the effect flipped to allow"},
    {ChangeOutcome::kFailed, "failed",
     "the active or the candidate bundle could not evaluate it (a malformed request, a table "
     "the candidate's catalog gives to another domain, an unreadable log line): counted in "
     "summary.failed, never dropped, never counted as a flip"},
};

// The outcome's name ("allow_to_deny"), as DryRunResult.change carries it.
absl::string_view ChangeOutcomeName(ChangeOutcome outcome);
// The outcome a DryRunResult.change names; nullopt for any other text.
std::optional<ChangeOutcome> ParseChangeOutcome(absl::string_view name);

// Bounds and knobs of one dry-run.
struct DryRunOptions {
  // Results kept as examples per flip direction (and of failed requests) in the summary.
  int max_examples = 5;
  // The dry-run stops with DEADLINE_EXCEEDED once this passes (a partial comparison would
  // under-report flips, so none is returned).
  absl::Time deadline = absl::InfiniteFuture();
  // `ctx.now` for cases without a recorded time; one instant for the whole run, so that the two
  // bundles see the same clock.
  absl::Time now = absl::Now();
  // When set, `ctx.now` of every candidate evaluation (the active bundle keeps the times
  // above): a candidate "at" a future date shows which waivers will have lapsed.
  std::optional<absl::Time> candidate_at;
};

// Largest accepted DryRunRequest.max_examples.
inline constexpr int kMaxDryRunExamples = 100;

// A case that could not even be read (a torn or malformed decision-log line): it is kept, with
// its error, so that it is counted in `failed` and shown rather than silently dropped.
struct DryRunInput {
  v1::DryRunCase request;
  // Non-empty when the case could not be read; `request` is then empty.
  std::string error;
};

// Parses one line in the decision log's shape: a JSON object with at least `kind` ("access",
// "product", "deployment") and `request` (the proto3 JSON mapping of that kind's request);
// `decision_id` and `time` (RFC 3339) are used when present, everything else is ignored. So a
// recorded decision and a hand-written case are one format. INVALID_ARGUMENT naming the field.
absl::StatusOr<v1::DryRunCase> ParseCaseLine(absl::string_view line);

// Parses JSON lines (blank lines and lines starting with '#' are skipped). `source` names the
// input in messages ("cases.jsonl:3: kind: ..."). Strict (`lenient` false): the first bad line is
// an INVALID_ARGUMENT error. Lenient: a bad line becomes a DryRunInput carrying its error — for
// decision logs, whose last line may be torn by a crash.
absl::StatusOr<std::vector<DryRunInput>> ParseCaseLines(absl::string_view content,
                                                        absl::string_view source, bool lenient);

// A candidate bundle loaded by the same rules as a real load: either `bundle`, or `errors`
// ("file:line: message", every problem at once; a Lua syntax error is reported as one).
struct CandidateLoad {
  std::shared_ptr<const Bundle> bundle;
  std::vector<std::string> errors;
};
CandidateLoad LoadCandidate(const BundleFiles& files, const LoadOptions& options = {});

// What one caller of the server's DryRun may submit and see. The server fills it from the
// caller's role (service/authz); the defaults trust the caller fully (the offline CLI).
struct DryRunAccess {
  // Maps candidate_path to the directory to read, or refuses it (PERMISSION_DENIED). Null:
  // the path is read as given.
  std::function<absl::StatusOr<std::string>(const std::string&)> resolve_path;
  // Refuses a candidate the caller may not submit (a domain's change outside its own files).
  // Null: any candidate.
  std::function<absl::Status(const BundleFiles&)> check_candidate;
  // Non-empty: only recorded decisions whose `domain` is this one are replayed; the rest are
  // neither evaluated nor counted.
  std::string replay_domain;
  // Limits ceiling and deadline for loading the candidate.
  LoadOptions load;
};

// Evaluates every input on `active` and on `candidate` and compares. Results are in input order
// (`index` is the position); the summary counts flips by kind, by domain (the candidate's
// resolution, else the active's) and by policy (the policies whose findings differ; "(default)"
// when only a kind's default decided), and lists the reasons that appear or disappear, most
// frequent first. Errors: DEADLINE_EXCEEDED when options.deadline passes; INVALID_ARGUMENT when
// options.max_examples is outside [0, kMaxDryRunExamples]. Each bundle must outlive the call.
absl::StatusOr<v1::DryRunResponse> CompareBundles(const Bundle& active, const Bundle& candidate,
                                                  const std::vector<DryRunInput>& inputs,
                                                  const DryRunOptions& options);

// Serves one PolicyService.DryRun request: loads the candidate (inline files or a server-side
// path; a candidate that does not load comes back OK with `candidate_errors` and nothing
// evaluated), takes the cases from the request or, when it has none, from `log`'s recent lines
// (`recent` newest, and/or those at or after `since`), and compares against `active`.
// Errors: INVALID_ARGUMENT (no candidate, no cases and neither recent nor since, negative
// recent or max_examples); FAILED_PRECONDITION when a replay is asked of a server whose decision
// logging is off (`log` null); DEADLINE_EXCEEDED. Nothing is logged: the log is only read.
absl::StatusOr<v1::DryRunResponse> RunDryRun(const v1::DryRunRequest& request, const Bundle& active,
                                             const DecisionLog* log, absl::Time deadline,
                                             const DryRunAccess& access = {});

// The server's DryRun hook (same signature as server/grpc_services.h's DryRunHandler): takes
// the active snapshot from `active` on each call (FAILED_PRECONDITION when it is null) and runs
// RunDryRun. `log` may be null (decision logging off); it and whatever `active` reads must
// outlive the handler. Thread-safe.
std::function<absl::StatusOr<v1::DryRunResponse>(const v1::DryRunRequest&, absl::Time,
                                                 const DryRunAccess&)>
MakeDryRunHandler(std::function<std::shared_ptr<const Bundle>()> active, const DecisionLog* log);

// A one-line description of a request for reports: "ana [sales-analysts] read
// marketing.campaigns.performance", "product customer-360 1.2.0 (register)", "deployment
// customer-360 1.3.0 to production".
std::string SummarizeRequest(const v1::DryRunCase& request);

}  // namespace arbiter

#endif  // ARBITER_SERVICE_DRYRUN_DRY_RUN_H_
