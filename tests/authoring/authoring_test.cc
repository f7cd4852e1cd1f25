// A new governance engineer authors an `hr` domain from the shipped bundle. Each mistake that
// used to pass silently (issue 14) must now fail loudly, naming the file and line, through the
// `arbiter` binary exactly as an author runs it.
#include <sys/wait.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "service/allocator/allocator.h"
#include "tests/support/arbiterd_process.h"

namespace arbiter {
namespace {

using CliResult = testing::CommandResult;  // out: stdout and stderr

CliResult RunCli(const std::vector<std::string>& args) {
  return testing::RunArbiterCli(args, true);
}

// A copy of the shipped bundle plus `files` (path -> content).
std::string BundleWith(const std::vector<std::pair<std::string, std::string>>& files) {
  std::string dir = testing::MakeTempDir("arbiter-authoring");
  testing::CopyTree(testing::ShippedBundleDir(), dir);
  for (const auto& [path, content] : files) {
    std::string full = absl::StrCat(dir, "/", path);
    std::string parent = full.substr(0, full.rfind('/'));
    std::string mkdir = absl::StrCat("mkdir -p '", parent, "'");
    EXPECT_EQ(std::system(mkdir.c_str()), 0);
    testing::WriteFile(full, content);
  }
  return dir;
}

constexpr char kHrPolicyHead[] =
    "return {\n"
    "  id = 'hr.salaries',\n"
    "  kinds = {'access'},\n"
    "  check = function(req, ctx)\n";

TEST(AuthoringTest, ShippedBundleIsCleanUnderStrictValidation) {
  // At a fixed time: the shipped waiver W-12 ends 2027-03-01, and validate warns two weeks ahead.
  CliResult r = RunCli(
      {"validate", testing::ShippedBundleDir(), "--strict", "--now", "2026-12-01T00:00:00Z"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "is valid")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "lint: 0 errors, 0 warnings")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "test cases pass")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "product policies run over 5 descriptors")) << r.out;
}

TEST(AuthoringTest, SingularRowFilterOptionIsALoadErrorWithLine) {
  std::string dir = BundleWith(
      {{"domains/hr/salaries.lua",
        absl::StrCat(kHrPolicyHead,
                     "    return allow('ok', {row_filter = {\"region = 'EU'\"}})\n  end,\n}\n")}});
  for (const char* command : {"validate", "test"}) {
    CliResult r = RunCli({command, dir});
    EXPECT_EQ(r.exit_code, 2) << r.out;
    EXPECT_TRUE(absl::StrContains(
        r.out, "domains/hr/salaries.lua:5: allow(): unknown option \"row_filter\""))
        << command << ": " << r.out;
  }
}

TEST(AuthoringTest, UndefinedGlobalIsAValidateErrorWithLine) {
  std::string dir =
      BundleWith({{"domains/hr/salaries.lua",
                   absl::StrCat(kHrPolicyHead,
                                "    if has_rol(req.principal, 'hr') then return allow('ok') end\n"
                                "  end,\n}\n")}});
  CliResult r = RunCli({"validate", dir});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out,
                                "domains/hr/salaries.lua:5: error: \"has_rol\" is not defined in "
                                "the policy environment (did you mean has_role?)"))
      << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "is NOT valid")) << r.out;
}

TEST(AuthoringTest, GlobalAssignmentWarnsAndFailsOnlyUnderStrict) {
  std::string dir =
      BundleWith({{"domains/hr/salaries.lua",
                   absl::StrCat("seen = 0\n", kHrPolicyHead, "    return nil\n  end,\n}\n")}});
  CliResult r = RunCli({"validate", dir});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "domains/hr/salaries.lua:1: warning: assignment to global"))
      << r.out;
  EXPECT_EQ(RunCli({"validate", dir, "--strict"}).exit_code, 1);
}

TEST(AuthoringTest, MalformedTestCasesAreAllReportedWithLines) {
  std::string dir = BundleWith({{"tests/hr.yaml", R"(cases:
  - name: hr reads salaries
    kind: access
    request: {principal: {id: ana}, action: read, resource: {product: customer-360}}
    expect:
      effect: allowed
  - name: not_reason is not a key
    kind: access
    request: {principal: {id: ana}, action: read, resource: {product: customer-360}}
    expect:
      effect: deny
      not_reason: [global.access-grants]
  - name: a typo in the request
    kind: access
    request: {principal: {id: ana}, acton: read}
    expect: {effect: deny}
)"}});
  CliResult test = RunCli({"test", dir});
  EXPECT_EQ(test.exit_code, 2) << test.out;
  for (const char* want :
       {"tests/hr.yaml:6: expect.effect: \"allowed\" is not allow or deny",
        "tests/hr.yaml:12: unknown key \"not_reason\" in expect", "tests/hr.yaml:15: request:"}) {
    EXPECT_TRUE(absl::StrContains(test.out, want)) << want << "\n" << test.out;
  }
  CliResult validate = RunCli({"validate", dir});
  EXPECT_EQ(validate.exit_code, 1) << validate.out;
  EXPECT_TRUE(absl::StrContains(validate.out, "tests/hr.yaml:12: error: unknown key"))
      << validate.out;
  EXPECT_TRUE(absl::StrContains(validate.out, "test files have 3 problems")) << validate.out;
}

// Trino-shaped cases: a wrong expectation fails the run with the case's line, and a malformed
// case (a bad endpoint, an expectation the endpoint's answer has not, a body the endpoint refuses)
// is reported with file:line like any other.
TEST(AuthoringTest, TrinoShapedCasesFailLoudlyWithLines) {
  std::string dir = BundleWith({{"tests/hr-trino.yaml", R"(group_roles:
  hr: "hr-analysts, domain:hr"
cases:
  - name: hr may not list the finance tables
    trino:
      input:
        context: {identity: {user: hana, groups: [hr]}}
        action:
          operation: FilterTables
          filterResources:
            - table: {catalogName: finance, schemaName: financial_statements, tableName: nope}
    expect:
      allowed: [0]
)"}});
  CliResult r = RunCli({"test", dir, "--run", "hr-trino"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "FAIL  tests/hr-trino.yaml:4: hr may not list")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "allowed: expected [0], got []")) << r.out;

  dir = BundleWith({{"tests/hr-trino.yaml", R"(cases:
  - name: a bad endpoint
    endpoint: allowed
    trino: {input: {context: {identity: {user: hana}}, action: {operation: ExecuteQuery}}}
    expect: {effect: allow}
  - name: a batch has no single effect
    trino:
      input:
        context: {identity: {user: hana}}
        action: {operation: FilterCatalogs, filterResources: [{catalog: {name: finance}}]}
    expect: {effect: allow}
  - name: no identity
    trino: {input: {action: {operation: ExecuteQuery}}}
    expect: {effect: deny}
)"}});
  r = RunCli({"validate", dir});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  for (const char* want : {"tests/hr-trino.yaml:3: error: endpoint: unknown Trino endpoint",
                           "tests/hr-trino.yaml:11: error: expect.effect: only for allow",
                           "tests/hr-trino.yaml:13: error: trino: input.context.identity"}) {
    EXPECT_TRUE(absl::StrContains(r.out, want)) << want << "\n" << r.out;
  }
}

TEST(AuthoringTest, EvalTrinoRefusesFlagsThatMakeNoSense) {
  std::string b = testing::ShippedBundleDir();
  CliResult r = RunCli({"eval", "--bundle", b, "--trino", "x.json", "--kind", "access"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(r.out, "drop --kind")) << r.out;
  r = RunCli({"eval", "--bundle", b, "--kind", "access", "--principal", "ana", "--action", "read",
              "--table", "a.b.c", "--group-roles", "x.yaml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(r.out, "--group-roles: only with --trino FILE")) << r.out;
}

TEST(AuthoringTest, FailingTestCaseIsAValidateError) {
  std::string dir = BundleWith({{"tests/hr.yaml", R"(cases:
  - name: nobody reads hr
    kind: access
    request: {principal: {id: ana}, action: read, resource: {product: customer-360}}
    expect: {effect: allow}
)"}});
  CliResult r = RunCli({"validate", dir});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_TRUE(
      absl::StrContains(r.out, "tests/hr.yaml:2: error: test case \"nobody reads hr\" fails"))
      << r.out;
}

TEST(AuthoringTest, PiiYesInADescriptorIsALoadErrorWithLine) {
  std::string product = testing::ReadFileOrEmpty(
      absl::StrCat(testing::ShippedBundleDir(), "/catalog/products/customer-360.yaml"));
  ASSERT_TRUE(absl::StrContains(product, "pii: true")) << product;
  std::string dir = BundleWith({{"catalog/products/customer-360.yaml",
                                 absl::StrReplaceAll(product, {{"pii: true", "pii: yes"}})}});
  CliResult r = RunCli({"validate", dir});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "catalog/products/customer-360.yaml:")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "pii: expected true or false, got \"yes\"")) << r.out;
}

TEST(AuthoringTest, PreviousContractWithoutPreviousIsRefused) {
  std::string b = testing::ShippedBundleDir();
  CliResult r =
      RunCli({"eval", "--bundle", b, "--kind", "deployment", "--product",
              b + "/catalog/products/customer-transactions.yaml", "--contract",
              b + "/catalog/contracts/customer-transactions-contract.yaml", "--previous-contract",
              b + "/catalog/contracts/customer-transactions-contract.yaml", "--env", "production"});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "--previous-contract needs --previous")) << r.out;

  r = RunCli({"eval", "--bundle", b, "--kind", "access", "--principal", "ana", "--action", "read",
              "--table", "a.b.c", "--env", "production"});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "--env applies to product or deployment requests")) << r.out;
}

TEST(AuthoringTest, ClosedDefaultDenySaysWhatRan) {
  CliResult r = RunCli({"eval", "--bundle", testing::ShippedBundleDir(), "--kind", "access",
                        "--principal", "eve", "--roles", "visitors", "--action", "read", "--table",
                        "customer_analytics.customer_360.customers"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "no policy allowed this; policies that ran: global."))
      << r.out;
}

TEST(AuthoringTest, ExplainShowsEachPolicyItsFindingsPrintsAndTheDecidingLayer) {
  std::string dir = BundleWith(
      {{"domains/sales/debug.lua",
        "return {\n  id = 'sales.debug',\n  kinds = {'access'},\n"
        "  check = function(req, ctx)\n    print('principal', req.principal.id)\n  end,\n}\n"}});
  CliResult r = RunCli({"eval", "--bundle", dir, "--kind", "access", "--principal", "ana",
                        "--roles", "sales-analysts", "--action", "read", "--table",
                        "customer_analytics.customer_360.customers", "--columns",
                        "customer_id,email", "--explain"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  for (const char* want :
       {"explain:", "decided by step 5, an allow with no error deny: global.access-grants",
        ". global.access-grants [global, default]", "allow: Granted by the data product",
        ". sales.debug [domain:sales, domain]", "print: principal ana", " instructions"}) {
    EXPECT_TRUE(absl::StrContains(r.out, want)) << want << "\n" << r.out;
  }
  // print(...) never reaches stdout without --explain.
  r = RunCli({"eval", "--bundle", dir, "--kind", "access", "--principal", "ana", "--roles",
              "sales-analysts", "--action", "read", "--table",
              "customer_analytics.customer_360.customers"});
  EXPECT_FALSE(absl::StrContains(r.out, "principal ana")) << r.out;
}

TEST(AuthoringTest, CoverageOfTheShippedBundleMeetsItsThresholdAndWritesLcov) {
  std::string lcov = testing::MakeTempDir("arbiter-lcov") + "/policies.lcov";
  CliResult r = RunCli(
      {"test", testing::ShippedBundleDir(), "--coverage", "--threshold", "90", "--lcov", lcov});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "global/access-grants.lua")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "total: ")) << r.out;
  std::string trace = testing::ReadFileOrEmpty(lcov);
  EXPECT_TRUE(absl::StrContains(trace, "SF:")) << trace;
  EXPECT_TRUE(absl::StrContains(trace, "/global/pii-masking.lua\nDA:")) << trace;
  EXPECT_TRUE(absl::StrContains(trace, "end_of_record")) << trace;
  // A threshold above what the cases reach fails the run.
  std::string dir =
      BundleWith({{"domains/sales/untested.lua",
                   "return {\n  id = 'sales.untested',\n  kinds = {'access'},\n"
                   "  check = function(req, ctx)\n    if req.action == 'frobnicate' then\n"
                   "      return deny('never tested')\n    end\n  end,\n}\n"}});
  r = RunCli({"test", dir, "--coverage", "--threshold", "100"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "domains/sales/untested.lua")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "missed lines 6")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "under the threshold of 100%")) << r.out;
}

TEST(AuthoringTest, RunSelectsCases) {
  CliResult r = RunCli({"test", testing::ShippedBundleDir(), "--run", "Trino user", "--verbose"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "PASS: 2 passed, 0 failed, 2 cases")) << r.out;
  r = RunCli({"test", testing::ShippedBundleDir(), "--run", "no such case at all"});
  EXPECT_EQ(r.exit_code, 2) << r.out;
}

TEST(AuthoringTest, VersionIsPrinted) {
  CliResult r = RunCli({"--version"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(absl::StartsWith(r.out, "arbiter ")) << r.out;
}

}  // namespace
}  // namespace arbiter

namespace arbiter {
namespace {

// `arbiterd --version` and `arbiterd --help` (which lists every flag, as documented, with dashes).
TEST(ArbiterdFlagsTest, VersionAndHelpListTheFlags) {
  auto run = [](const std::string& args) {
    return testing::RunCommand(absl::StrCat(testing::ArbiterdBinary(), " ", args, " 2>&1"));
  };
  CliResult version = run("--version");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_TRUE(absl::StartsWith(version.out, "arbiterd 0.")) << version.out;
  // The allocator arbiterd runs on, as the build configured it (tcmalloc unless sanitized):
  // benchmark figures hold for one allocator only.
  EXPECT_TRUE(absl::StrContains(version.out, absl::StrCat("(allocator: ", AllocatorName(), ")")))
      << version.out;
#ifdef ARBITER_TCMALLOC
  EXPECT_TRUE(absl::StrContains(version.out, "(allocator: tcmalloc 2.")) << version.out;
#endif
  CliResult help = run("--help");
  EXPECT_EQ(help.exit_code, 0);
  for (const char* flag : {"--bundle", "--listen (default 127.0.0.1:50051)", "--http-listen",
                           "--config", "--allow-insecure", "--port-file"}) {
    EXPECT_TRUE(absl::StrContains(help.out, flag)) << flag << "\n" << help.out;
  }
  CliResult cli = RunCli({"--help"});
  EXPECT_TRUE(absl::StrContains(cli.out, "--principal-domain D")) << cli.out;
}

}  // namespace
}  // namespace arbiter
