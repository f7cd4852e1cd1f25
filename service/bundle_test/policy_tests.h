// Runs a bundle's own test cases (tests/*.yaml): each case is a request and the decision it must
// get. Like `opa test`, this is how a governance team proves a policy change before it ships.
//
// Case format (see policies/tests/ for examples):
//   cases:
//     - name: analyst reads customers
//       kind: access                       # access | product | deployment
//       now: "2026-11-21T10:00:00Z"        # optional; ctx.now
//       request: {...}                     # proto3 JSON mapping of the request message
//       expect:
//         effect: allow                    # allow | deny
//         reasons: [global.access-grants]  # ids that must appear among the reasons
//         not_reasons: [...]               # ids that must not
//         warnings: [...]                  # ids that must appear with severity warning
//         masks: {email: "'***'"}          # exact column masks
//         row_filters: ["region = 'EU'"]   # exact row filters (any order)
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
  bool passed = false;
  std::vector<std::string> failures;  // expected vs actual, one line each
  double seconds = 0;
};

struct TestReport {
  std::vector<TestCaseResult> cases;
  int passed = 0;
  int failed = 0;
};

// Runs every case of every test file of `bundle`; `files` gives the documents that cases name by
// path. A test file that does not parse, or a case without a kind or request, is an
// INVALID_ARGUMENT error naming the file and case (a broken test must not pass silently).
absl::StatusOr<TestReport> RunBundleTests(const Bundle& bundle, const BundleFiles& files);

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
