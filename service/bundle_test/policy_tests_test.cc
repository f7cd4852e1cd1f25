// The test-case runner: the case schema (every problem reported with file:line, all at once),
// --run filtering, and the shipped bundle's cases.
#include "service/bundle_test/policy_tests.h"

#include "gtest/gtest.h"
#include "service/engine/testing.h"

namespace arbiter {
namespace {

using enginetest::Files;
using enginetest::IsOk;
using enginetest::MustLoad;
using enginetest::Policy;
using enginetest::StatusIs;

BundleFiles WithTests(std::string tests) {
  return Files({{"global/grant.lua",
                 Policy("global.grant",
                        "    if req.principal.id == 'ana' then return allow('granted') end")},
                {"tests/cases.yaml", std::move(tests)}});
}

TEST(PolicyTestsTest, EveryStructuralProblemIsReportedWithItsLine) {
  BundleFiles files = WithTests(R"(cases:
  - name: good
    kind: access
    request: {principal: {id: ana}, action: read, resource: {product: p}}
    expect: {effect: allow}
  - name: effect typo
    kind: access
    request: {principal: {id: ana}, action: read, resource: {product: p}}
    expect:
      effect: allowed
  - name: singular not_reason
    kind: access
    request: {principal: {id: bob}, action: read, resource: {product: p}}
    expect:
      effect: deny
      not_reason: [global.grant]
  - name: malformed request
    kind: access
    request: {principal: {id: ana}, acton: read}
    expect: {effect: allow}
  - name: unknown policy
    kind: acces
    request: {}
    expect: {reasons: [global.grnt]}
)");
  std::shared_ptr<const Bundle> b = MustLoad(files);
  ASSERT_NE(b, nullptr);
  absl::Status s = ValidateTestFiles(*b, files);
  EXPECT_TRUE(StatusIs(s, absl::StatusCode::kInvalidArgument, "5 problems"));
  EXPECT_TRUE(StatusIs(s, absl::StatusCode::kInvalidArgument,
                       "tests/cases.yaml:10: expect.effect: \"allowed\" is not allow or deny"));
  EXPECT_TRUE(StatusIs(s, absl::StatusCode::kInvalidArgument,
                       "tests/cases.yaml:16: unknown key \"not_reason\" in expect"));
  EXPECT_TRUE(StatusIs(s, absl::StatusCode::kInvalidArgument, "tests/cases.yaml:19: request:"));
  EXPECT_TRUE(StatusIs(s, absl::StatusCode::kInvalidArgument, "tests/cases.yaml:22: kind:"));
  EXPECT_TRUE(StatusIs(s, absl::StatusCode::kInvalidArgument,
                       "tests/cases.yaml:24: expect.reasons: no policy global.grnt"));
  // The runner refuses the same files with the same list instead of stopping at the first.
  absl::StatusOr<TestReport> report = RunBundleTests(*b, files);
  EXPECT_TRUE(StatusIs(report, absl::StatusCode::kInvalidArgument, "5 problems"));
}

TEST(PolicyTestsTest, NotReasonsFailsACaseWhoseReasonAppears) {
  BundleFiles files = WithTests(R"(cases:
  - name: ana is granted
    kind: access
    request: {principal: {id: ana}, action: read, resource: {product: p}}
    expect:
      effect: allow
      not_reasons: [global.grant]
)");
  std::shared_ptr<const Bundle> b = MustLoad(files);
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(IsOk(ValidateTestFiles(*b, files)));
  absl::StatusOr<TestReport> report = RunBundleTests(*b, files);
  ASSERT_TRUE(IsOk(report));
  EXPECT_EQ(report->failed, 1);
  EXPECT_EQ(report->cases[0].line, 2);
}

TEST(PolicyTestsTest, RunSelectsCasesByName) {
  BundleFiles files = WithTests(R"(cases:
  - name: ana is granted
    kind: access
    request: {principal: {id: ana}, action: read, resource: {product: p}}
    expect: {effect: allow}
  - name: bob is not
    kind: access
    request: {principal: {id: bob}, action: read, resource: {product: p}}
    expect: {effect: deny}
)");
  std::shared_ptr<const Bundle> b = MustLoad(files);
  ASSERT_NE(b, nullptr);
  TestOptions options;
  options.run = "bob";
  absl::StatusOr<TestReport> report = RunBundleTests(*b, files, options);
  ASSERT_TRUE(IsOk(report));
  ASSERT_EQ(report->cases.size(), 1u);
  EXPECT_EQ(report->cases[0].name, "bob is not");
  options.run = "(";
  EXPECT_TRUE(
      StatusIs(RunBundleTests(*b, files, options), absl::StatusCode::kInvalidArgument, "--run"));
}

TEST(PolicyTestsTest, ShippedBundleCasesAreWellFormedAndPass) {
  absl::StatusOr<BundleFiles> files = ReadBundleDir(ARBITER_POLICIES_DIR);
  ASSERT_TRUE(IsOk(files));
  absl::StatusOr<std::shared_ptr<const Bundle>> b = Bundle::Load(*files);
  ASSERT_TRUE(IsOk(b));
  int cases = 0;
  EXPECT_TRUE(IsOk(ValidateTestFiles(**b, *files, &cases)));
  EXPECT_GT(cases, 100);
  absl::StatusOr<TestReport> report = RunBundleTests(**b, *files);
  ASSERT_TRUE(IsOk(report));
  EXPECT_EQ(report->failed, 0) << FormatTestText(*report, false);
}

}  // namespace
}  // namespace arbiter
