// Renderings of a DryRunResponse for the people and pipelines that read it: plain text for a
// terminal, Markdown for the pull request that changes the policy, and the proto3 JSON mapping
// for programs. Pure functions of the response, so a report made offline and one made from a
// server's answer look the same.
#ifndef ARBITER_SERVICE_DRYRUN_REPORT_H_
#define ARBITER_SERVICE_DRYRUN_REPORT_H_

#include <string>

#include "arbiter/v1/policy_service.pb.h"

namespace arbiter {

// Names for the two sides, shown in report headings ("policies-tight/", "server 10.0.0.5:50051").
struct DryRunReportLabels {
  std::string active;
  std::string candidate;
  // The candidate's `ctx.now` when the run chose one (`--at`), as given; else empty.
  std::string candidate_at;
};

// Counts, breakdowns, reasons that appear or disappear, and the examples the summary names
// (each with its request essentials and the findings that changed); failed requests are listed
// with their errors. A response with candidate_errors renders as the list of load errors.
std::string FormatDryRunText(const v1::DryRunResponse& response, const DryRunReportLabels& labels);

// The same as a Markdown report (summary table, breakdown tables, examples) to paste into a
// pull request.
std::string FormatDryRunMarkdown(const v1::DryRunResponse& response,
                                 const DryRunReportLabels& labels);

// The proto3 JSON mapping (camelCase), indented, with zero counts printed: `summary` always has
// total, changed, allowToDeny, denyToAllow and failed.
std::string FormatDryRunJson(const v1::DryRunResponse& response);

// Requests the active bundle decided but the candidate could not: a regression as real as a
// flip, since callers fail closed on errors.
int CandidateOnlyFailures(const v1::DryRunResponse& response);

// The exit code of `arbiter dry-run`: 2 when the candidate did not load, 1 when a decision
// flipped or the candidate cannot decide a request the active one decides, 0 otherwise
// (reason-only changes and requests neither bundle can evaluate are reported, not failed on).
int DryRunExitCode(const v1::DryRunResponse& response);

}  // namespace arbiter

#endif  // ARBITER_SERVICE_DRYRUN_REPORT_H_
