// Runs a bundle's own test cases (tests/*.yaml): each case is a request and the decision it must
// get. Like `opa test`, this is how a governance team proves a policy change before it ships.
//
// Case format (see policies/tests/ for examples; docs/trino.md for Trino-shaped cases):
//   cases:
//     - name: analyst reads customers
//       kind: access                       # access | product | deployment
//       now: "2026-11-21T10:00:00Z"        # optional; ctx.now
//       decisions: [{time, kind, request, effect}, ...]  # deployments: the decision log
//                                          # req.change.impact reads (service/impact; 30 days
//                                          # before `now`); without it, declared consumers only
//       request: {...}                     # proto3 JSON mapping of the request message
//       expect:
//         effect: allow                    # allow | deny
//         reasons: [global.access-grants]  # ids that must appear among the reasons
//                                          # (bundle.default: the closed default's own)
//         not_reasons: [...]               # ids that must not
//         warnings: [...]                  # ids that must appear with severity warning
//         masks: {email: "'***'"}          # exact column masks
//         row_filters: ["region = 'EU'"]   # exact row filters (any order)
// Trino-shaped cases replace kind/request with the body Trino's OPA plugin POSTs, decided through
// the Trino endpoint's own translation (service/trino):
//   group_roles: {analysts: "sales-analysts, domain:sales"}   # file level: every case's mapping
//   cases:
//     - name: ...
//       trino: {input: {context: {identity: {...}}, action: {...}}}   # or the JSON text
//       endpoint: batch            # optional: allow | batch | rowFilters | columnMask |
//                                  # batchColumnMask; inferred from the body when left out
//       group_roles: {...}         # optional: this case's mapping instead of the file's
//       expect:
//         effect: allow            # allow/rowFilters/columnMask: whether the item is allowed
//         allowed: [0, 2]          # batch/batchColumnMask: the allowed item indexes
//         result: ...              # the answer's exact `result`
//         masks / row_filters      # as the answer gives them, by column name
//         reasons / not_reasons / warnings   # among the reasons of all the checks
//         error: "text"            # the endpoint refuses the body (400/413) with this text
// Documents in a request may be {file: <path in the bundle>, set: {dotted.path: value},
// unset: [dotted.path]}, {yaml: text} or {struct: tree}.
#ifndef ARBITER_SERVICE_BUNDLE_TEST_POLICY_TESTS_H_
#define ARBITER_SERVICE_BUNDLE_TEST_POLICY_TESTS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "service/engine/bundle.h"
#include "service/engine/types.h"
#include "service/value/value.h"

namespace arbiter {

struct TestCaseResult {
  std::string file;
  std::string name;
  int line = 1;  // of the case in its file
  bool passed = false;
  std::vector<std::string> failures;  // expected vs actual, one line each
  double seconds = 0;
};

struct TestReport {
  std::vector<TestCaseResult> cases;
  int passed = 0;
  int failed = 0;
};

struct TestOptions {
  // RE2 pattern; only cases whose "file: name" it matches (partially) run. Empty: all.
  std::string run;
  // When set, lines of policy code the cases run are counted here (Bundle::CoverableLines()
  // gives what could run). Not owned.
  LineCoverage* coverage = nullptr;
};

// Line coverage of the policies by the cases that ran: per file, lines hit / lines coverable.
struct CoverageReport {
  struct File {
    std::string file;
    std::vector<int> hit, missed;
  };
  std::vector<File> files;
  size_t hit = 0, total = 0;
  double percent() const { return total == 0 ? 100.0 : 100.0 * hit / total; }
};
CoverageReport BuildCoverage(const Bundle& bundle, const LineCoverage& lines);
// The report as text: one line per policy file, the lines missed, and the total.
std::string FormatCoverageText(const CoverageReport& report);
// The report as an lcov tracefile (genhtml, Codecov and most CI tools read it); `root` is
// prefixed to every path (the bundle directory).
std::string FormatCoverageLcov(const CoverageReport& report, const LineCoverage& lines,
                               const std::string& root);

// Checks every test file against the case schema: unknown keys anywhere, a bad kind or effect,
// policy ids the bundle does not have, requests that do not parse as the kind's message (unless
// the case expects an error). OK, or INVALID_ARGUMENT listing every problem as "file:line:
// message". `cases` (optional) receives the number of well-formed cases.
absl::Status ValidateTestFiles(const Bundle& bundle, const BundleFiles& files,
                               int* cases = nullptr);

// Runs the cases of every test file of `bundle`; `files` gives the documents that cases name by
// path. Test files are checked first (ValidateTestFiles): a broken test must not pass silently,
// so any problem is an INVALID_ARGUMENT error listing all of them.
absl::StatusOr<TestReport> RunBundleTests(const Bundle& bundle, const BundleFiles& files,
                                          const TestOptions& options = {});

// Expands test-case documents ({file, set, unset}) inside `request` into {struct: tree}. Used by
// the test runner and by the CLI for request files that reference documents.
absl::Status ExpandDocuments(Kind kind, const BundleFiles& files, Value& request);

// Human-readable report: one line per failing case with expected vs actual, then a summary.
std::string FormatTestText(const TestReport& report, bool verbose);
// Escapes text for XML 1.0 (used by every JUnit report the CLI writes). `attribute` also
// encodes newlines and tabs, which attribute-value normalisation would turn into spaces;
// other control characters, which XML 1.0 does not allow, become '?'.
std::string XmlEscape(absl::string_view s, bool attribute = true);

// JUnit XML (one <testsuite> per test file) for CI systems.
std::string FormatTestJunit(const TestReport& report);

}  // namespace arbiter

#endif  // ARBITER_SERVICE_BUNDLE_TEST_POLICY_TESTS_H_
