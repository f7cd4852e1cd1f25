// The policy linter, and the strict finding options it shares with loading and evaluation.
#include "service/engine/policy_lint.h"

#include <set>

#include "gtest/gtest.h"
#include "service/engine/testing.h"

namespace arbiter {
namespace {

using enginetest::DomainAccess;
using enginetest::Files;
using enginetest::FindReason;
using enginetest::MustEvaluate;
using enginetest::MustLoad;
using enginetest::Policy;
using enginetest::StatusIs;

std::string Render(const std::vector<LintFinding>& findings) {
  std::string out;
  for (const LintFinding& f : findings) absl::StrAppend(&out, f.Format(), "\n");
  return out;
}

TEST(PolicyLintTest, UnknownLiteralFindingOptionIsALoadError) {
  BundleFiles files =
      Files({{"bundle.yaml", enginetest::BundleYaml()},
             {"domains/hr/share.lua",
              Policy("hr.share",
                     "    return allow('shared', {\n      row_filter = {\"region = 'EU'\"},\n"
                     "      detail = 'x'})")}});
  absl::StatusOr<std::shared_ptr<const Bundle>> b = Bundle::Load(files);
  EXPECT_TRUE(StatusIs(b, absl::StatusCode::kInvalidArgument,
                       "domains/hr/share.lua:6: allow(): unknown option \"row_filter\""));
}

TEST(PolicyLintTest, UnknownOptionBuiltAtRunTimeFailsThePolicyNamingIt) {
  // The table is not a literal, so only the run-time check can see it.
  std::shared_ptr<const Bundle> b = MustLoad(
      Files({{"domains/hr/share.lua", Policy("hr.share",
                                             "    local opts = {}\n    opts.row_filter = {'x'}\n"
                                             "    return allow('shared', opts)")}}));
  ASSERT_NE(b, nullptr);
  Decision d = MustEvaluate(*b, DomainAccess("hr"));
  EXPECT_EQ(d.effect, Effect::kDeny);
  const Reason* r = FindReason(d, "hr.share");
  ASSERT_NE(r, nullptr);
  EXPECT_NE(r->message.find("hr.share"), std::string::npos) << r->message;
  EXPECT_NE(r->detail.find("unknown option \"row_filter\""), std::string::npos) << r->detail;
  EXPECT_NE(r->detail.find("domains/hr/share.lua:"), std::string::npos) << r->detail;
}

TEST(PolicyLintTest, UndefinedGlobalsAndGlobalAssignments) {
  std::shared_ptr<const Bundle> b =
      MustLoad(Files({{"domains/hr/grant.lua",
                       "local function helper(p) return has_role(p, 'x') end\n"
                       "counter = 0\n"
                       "return {\n"
                       "  id = 'hr.grant', kinds = {'access'},\n"
                       "  check = function(req, ctx)\n"
                       "    local ok = helper(req.principal) or has_rol(req.principal, 'hr')\n"
                       "    if ok then return allow('ok', {row_filters = {'a'}}) end\n"
                       "    counter = counter + 1\n"
                       "    return string.format('%d', counter) and nil\n"
                       "  end,\n"
                       "}\n"}}));
  ASSERT_NE(b, nullptr);
  std::string out = Render(b->Lint());
  EXPECT_NE(out.find("domains/hr/grant.lua:6: error: \"has_rol\" is not defined in the policy "
                     "environment (did you mean has_role?)"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("domains/hr/grant.lua:2: warning: assignment to global \"counter\""),
            std::string::npos)
      << out;
  // Read after the policy assigned it: only the assignment is reported.
  EXPECT_EQ(out.find("\"counter\" is not defined"), std::string::npos) << out;
  EXPECT_EQ(out.find("\"string\""), std::string::npos) << out;
  EXPECT_EQ(out.find("\"helper\""), std::string::npos) << out;
}

TEST(PolicyLintTest, CodeAfterDoReturnIsUnreachable) {
  std::vector<LintFinding> f = LintPolicy("p.lua",
                                          "return {check = function(req)\n"
                                          "  do return allow('early') end\n"
                                          "  return deny('never')\n"
                                          "end, other = function(t)\n"
                                          "  for _ in pairs(t) do return true end\n"
                                          "  while t do return false end\n"
                                          "  return nil\n"
                                          "end}\n",
                                          {"allow", "deny", "pairs"});
  ASSERT_EQ(f.size(), 1u) << Render(f);
  EXPECT_EQ(f[0].level, LintFinding::Level::kWarning);
  EXPECT_EQ(f[0].line, 3);
}

TEST(PolicyLintTest, StringsCommentsAndFieldCallsAreNotCalls) {
  std::vector<LintFinding> f = LintFindingOptions(
      "p.lua",
      "-- allow('x', {bogus = 1})\n"
      "local s = \"allow('x', {bogus = 1})\"\n"
      "local t = [[deny('x', {bogus = 1})]]\n"
      "local x = lib.allow('x', {bogus = 1})\n"
      "return allow('x', {detail = 'd', masks = {email = \"'***'\"}, row_filters = {}})\n");
  EXPECT_TRUE(f.empty()) << Render(f);
}

TEST(PolicyLintTest, ShippedBundleIsClean) {
  absl::StatusOr<BundleFiles> files = ReadBundleDir(ARBITER_POLICIES_DIR);
  ASSERT_TRUE(enginetest::IsOk(files));
  absl::StatusOr<std::shared_ptr<const Bundle>> b = Bundle::Load(*files);
  ASSERT_TRUE(enginetest::IsOk(b));
  EXPECT_EQ(Render((*b)->Lint()), "");
}

// Catalog descriptors are checked against the shape the policies read (catalog.h).
TEST(CatalogShapeTest, MistypedMarksAndVersionsAreLoadErrorsWithLines) {
  BundleFiles files = Files({{"bundle.yaml", enginetest::BundleYaml()},
                             {"catalog/products/hr.yaml", R"y(metadata:
  name: salaries
  domain: hr
  version: 1.0
spec:
  classification: {pii: true}
  outputPorts:
    - type: sql
      catalog: hr
      tables:
        - name: salary
          columns:
            - {name: employee_id, type: varchar}
            - {name: salary, type: "decimal(10,2)", pii: yes}
)y"},
                             {"catalog/contracts/hr.yaml", R"(metadata:
  name: salaries-contract
  version: "two"
models:
  salary:
    fields:
      salary: {type: decimal, required: "true"}
)"}});
  absl::StatusOr<std::shared_ptr<const Bundle>> b = Bundle::Load(files);
  EXPECT_TRUE(StatusIs(b, absl::StatusCode::kInvalidArgument,
                       "catalog/products/hr.yaml:14: pii: expected true or false, got \"yes\""));
  EXPECT_TRUE(StatusIs(b, absl::StatusCode::kInvalidArgument,
                       "catalog/products/hr.yaml:4: metadata.version: a number, not a semantic "
                       "version string"));
  EXPECT_TRUE(StatusIs(b, absl::StatusCode::kInvalidArgument,
                       "catalog/products/hr.yaml:8: a sql output port needs `schema`"));
  EXPECT_TRUE(StatusIs(b, absl::StatusCode::kInvalidArgument,
                       "catalog/contracts/hr.yaml:3: metadata.version: \"two\" is not a semantic"));
  EXPECT_TRUE(StatusIs(b, absl::StatusCode::kInvalidArgument,
                       "catalog/contracts/hr.yaml:7: required: expected true or false"));
}

// print(...) and the evaluation trace (EvalOptions::trace), and test-mode line coverage.
TEST(DebugTest, PrintGoesToTheTraceOnlyWhenTracing) {
  std::shared_ptr<const Bundle> b = MustLoad(
      Files({{"global/p.lua",
              Policy("global.p",
                     "    print('checking', req.action, 42, 1.5, nil, true, req.principal.roles)\n"
                     "    return allow('ok', {detail = 'because'})")}}));
  ASSERT_NE(b, nullptr);
  Decision quiet = MustEvaluate(*b, DomainAccess("sales"));
  EXPECT_EQ(quiet.trace, nullptr);
  EvalOptions o = enginetest::Opts();
  o.trace = true;
  Decision d = MustEvaluate(*b, DomainAccess("sales"), o);
  ASSERT_NE(d.trace, nullptr);
  ASSERT_EQ(d.trace->policies.size(), 1u);
  const PolicyTrace& t = d.trace->policies[0];
  EXPECT_EQ(t.policy_id, "global.p");
  ASSERT_EQ(t.prints.size(), 1u);
  EXPECT_EQ(t.prints[0], "checking read 42 1.5 nil true [\"analyst\"]");
  ASSERT_EQ(t.findings.size(), 1u);
  EXPECT_EQ(t.findings[0], "allow: ok (because)");
  EXPECT_GE(t.time, absl::ZeroDuration());
}

TEST(DebugTest, PrintIsCapped) {
  std::shared_ptr<const Bundle> b =
      MustLoad(Files({{"global/p.lua", Policy("global.p", "    for i = 1, 500 do print(i) end")}}));
  ASSERT_NE(b, nullptr);
  EvalOptions o = enginetest::Opts();
  o.trace = true;
  Decision d = MustEvaluate(*b, DomainAccess("sales"), o);
  ASSERT_NE(d.trace, nullptr);
  const std::vector<std::string>& prints = d.trace->policies[0].prints;
  ASSERT_EQ(prints.size(), 101u);
  EXPECT_EQ(prints.back(), "(print: output capped)");
}

TEST(DebugTest, CoverageCountsTheLinesRun) {
  std::shared_ptr<const Bundle> b =
      MustLoad(Files({{"global/p.lua",
                       "return {\n"                                // 1
                       "  id = 'global.p', kinds = {'access'},\n"  // 2
                       "  check = function(req, ctx)\n"            // 3
                       "    if req.action == 'read' then\n"        // 4
                       "      return allow('read')\n"              // 5
                       "    end\n"                                 // 6
                       "    return deny('other')\n"                // 7
                       "  end,\n"                                  // 8
                       "}\n"}}));
  ASSERT_NE(b, nullptr);
  std::set<int> coverable = b->CoverableLines().at("global/p.lua");
  EXPECT_EQ(coverable, (std::set<int>{4, 5, 7})) << absl::StrJoin(coverable, ",");
  LineCoverage lines;
  EvalOptions o = enginetest::Opts();
  o.coverage = &lines;
  MustEvaluate(*b, DomainAccess("sales", "read"), o);
  MustEvaluate(*b, DomainAccess("sales", "read"), o);
  ASSERT_EQ(lines.count("global/p.lua"), 1u);
  const std::map<int, int64_t>& hit = lines["global/p.lua"];
  EXPECT_EQ(hit.count(4), 1u);
  EXPECT_EQ(hit.at(5), 2);
  EXPECT_EQ(hit.count(7), 0u);
}

}  // namespace
}  // namespace arbiter
