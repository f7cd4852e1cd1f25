// arbiterd's Trino endpoint over HTTP, on the shipped bundle: the documented request shapes of
// each operation family and the exact bodies and statuses Trino decodes.
#include <sys/wait.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/support/arbiterd_process.h"

namespace arbiter {
namespace {

using ::arbiter::testing::ArbiterdOptions;
using ::arbiter::testing::ArbiterdProcess;
using ::arbiter::testing::HttpResult;

constexpr char kConfig[] = R"(trino:
  group_roles:
    analysts: "sales-analysts"
    marketing-eu: "marketing-analytics, domain:marketing, region=EU"
    platform: "platform-admin"
)";

// A Trino request body: identity `user` in `groups`, `operation`, and the rest of the action
// object (a "resource" or "filterResources" member), as plugin/trino-opa sends them.
std::string Input(const std::string& user, const std::string& groups, const std::string& operation,
                  const std::string& action_rest = "") {
  return absl::StrCat(R"({"input":{"context":{"identity":{"user":")", user, R"(","groups":[)",
                      groups,
                      R"(]},"softwareStack":{"trinoVersion":"455"}},"action":{"operation":")",
                      operation, "\"", action_rest.empty() ? "" : ",", action_rest, "}}}");
}

std::string Table(const std::string& qualified, const std::string& columns = "") {
  std::vector<std::string> p = absl::StrSplit(qualified, '.');
  return absl::StrCat(R"({"table":{"catalogName":")", p[0], R"(","schemaName":")", p[1],
                      R"(","tableName":")", p[2], "\"",
                      columns.empty() ? "" : absl::StrCat(R"(,"columns":[)", columns, "]"), "}}");
}

std::string Column(const std::string& qualified, const std::string& column,
                   const std::string& type = "varchar") {
  std::vector<std::string> p = absl::StrSplit(qualified, '.');
  return absl::StrCat(R"({"column":{"catalogName":")", p[0], R"(","schemaName":")", p[1],
                      R"(","tableName":")", p[2], R"(","columnName":")", column,
                      R"(","columnType":")", type, R"("}})");
}

constexpr char kCustomers[] = "customer_analytics.customer_360.customers";
constexpr char kSegments[] = "customer_analytics.customer_360.customer_segments";
constexpr char kAna[] = R"("analysts")";

class TrinoEndpointTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ArbiterdOptions o;
    o.bundle_dir = testing::ShippedBundleDir();
    o.config_yaml = kConfig;
    auto p = ArbiterdProcess::Start(o);
    ASSERT_TRUE(p.ok()) << p.status();
    server_ = p->release();
  }
  static void TearDownTestSuite() { delete server_; }

  static HttpResult Post(const std::string& document, const std::string& body) {
    return testing::HttpRequest(server_->http_port(), "POST", "/v1/data/trino/" + document, body);
  }
  // Expects a 200 with exactly `expected`.
  static void ExpectAnswer(const std::string& document, const std::string& body,
                           const std::string& expected) {
    HttpResult r = Post(document, body);
    EXPECT_EQ(r.status, 200) << body << "\n" << r.body;
    EXPECT_EQ(r.body, expected) << body;
  }

  static ArbiterdProcess* server_;
};
ArbiterdProcess* TrinoEndpointTest::server_ = nullptr;

TEST_F(TrinoEndpointTest, ExecuteQuery) {
  ExpectAnswer("allow", Input("ana", kAna, "ExecuteQuery"), R"({"result":true})");
  ExpectAnswer("allow", Input("guest", "", "ExecuteQuery"), R"({"result":false})");
}

TEST_F(TrinoEndpointTest, SelectFromColumnsSingleAllowAndDeny) {
  std::string columns = R"("customer_id","email","segment")";
  ExpectAnswer("allow",
               Input("ana", kAna, "SelectFromColumns",
                     absl::StrCat(R"("resource":)", Table(kCustomers, columns))),
               R"({"result":true})");
  // No group that maps to a granting role.
  ExpectAnswer("allow",
               Input("mallory", R"("interns")", "SelectFromColumns",
                     absl::StrCat(R"("resource":)", Table(kCustomers, columns))),
               R"({"result":false})");
  // A table no data product serves.
  ExpectAnswer("allow",
               Input("ana", kAna, "SelectFromColumns",
                     absl::StrCat(R"("resource":)", Table("hive.default.orders", R"("id")"))),
               R"({"result":false})");
  // A column the catalog does not know.
  ExpectAnswer("allow",
               Input("ana", kAna, "SelectFromColumns",
                     absl::StrCat(R"("resource":)", Table(kCustomers, R"("ssn")"))),
               R"({"result":false})");
}

TEST_F(TrinoEndpointTest, WritesAndAdminFollowTheProductsGrants) {
  ExpectAnswer(
      "allow",
      Input("ana", kAna, "InsertIntoTable", absl::StrCat(R"("resource":)", Table(kCustomers))),
      R"({"result":false})");
  ExpectAnswer("allow",
               Input("ana", kAna, "DropTable", absl::StrCat(R"("resource":)", Table(kCustomers))),
               R"({"result":false})");
}

TEST_F(TrinoEndpointTest, SystemOperationsAreThePlatformsOnly) {
  std::string resource = R"("resource":{"systemSessionProperty":{"name":"query_max_memory"}})";
  ExpectAnswer("allow", Input("ana", kAna, "SetSystemSessionProperty", resource),
               R"({"result":false})");
  ExpectAnswer("allow", Input("root", R"("platform")", "SetSystemSessionProperty", resource),
               R"({"result":true})");
  ExpectAnswer("allow", Input("ana", kAna, "ReadSystemInformation"), R"({"result":false})");
  ExpectAnswer("allow",
               Input("ana", kAna, "SelectFromColumns",
                     absl::StrCat(R"("resource":)", Table("system.runtime.queries"))),
               R"({"result":false})");
}

TEST_F(TrinoEndpointTest, BatchFilterTablesIncludingOutOfCatalog) {
  std::string items =
      absl::StrJoin({Table(kCustomers), Table(kSegments), Table("hive.default.orders"),
                     Table("sales_analytics.customer_transactions.transactions"),
                     Table("customer_analytics.customer_360.scratch_copy")},
                    ",");
  ExpectAnswer(
      "batch",
      Input("ana", kAna, "FilterTables", absl::StrCat(R"("filterResources":[)", items, "]")),
      R"({"result":[0,1,3]})");
  // Discovery needs a role in the mesh.
  ExpectAnswer(
      "batch",
      Input("guest", "", "FilterTables", absl::StrCat(R"("filterResources":[)", items, "]")),
      R"({"result":[]})");
}

TEST_F(TrinoEndpointTest, BatchFilterColumnsIndicesReferToTheColumns) {
  ExpectAnswer(
      "batch",
      Input("ana", kAna, "FilterColumns",
            absl::StrCat(R"("filterResources":[)",
                         Table(kCustomers, R"("customer_id","bogus","email","region")"), "]")),
      R"({"result":[0,2,3]})");
}

TEST_F(TrinoEndpointTest, BatchFilterCatalogsAndSchemas) {
  ExpectAnswer("batch",
               Input("ana", kAna, "FilterCatalogs",
                     R"("filterResources":[{"catalog":{"name":"customer_analytics"}},)"
                     R"({"catalog":{"name":"hive"}},{"catalog":{"name":"system"}},)"
                     R"({"catalog":{"name":"finance"}}])"),
               R"({"result":[0,2,3]})");
  ExpectAnswer(
      "batch",
      Input(
          "ana", kAna, "FilterSchemas",
          R"("filterResources":[)"
          R"({"schema":{"catalogName":"customer_analytics","schemaName":"customer_360"}},)"
          R"({"schema":{"catalogName":"customer_analytics","schemaName":"tmp"}},)"
          R"({"schema":{"catalogName":"customer_analytics","schemaName":"information_schema"}}])"),
      R"({"result":[0,2]})");
  // The single-check form Trino uses without opa.policy.batched-uri.
  ExpectAnswer("allow",
               Input("ana", kAna, "AccessCatalog", R"("resource":{"catalog":{"name":"hive"}})"),
               R"({"result":false})");
  ExpectAnswer("allow",
               Input("ana", kAna, "AccessCatalog",
                     R"("resource":{"catalog":{"name":"customer_analytics"}})"),
               R"({"result":true})");
}

TEST_F(TrinoEndpointTest, RowFilters) {
  ExpectAnswer("rowFilters",
               Input("max", R"("marketing-eu")", "GetRowFilters",
                     absl::StrCat(R"("resource":)", Table(kSegments))),
               R"({"result":[{"expression":"region = 'EU'"}]})");
  ExpectAnswer(
      "rowFilters",
      Input("ana", kAna, "GetRowFilters", absl::StrCat(R"("resource":)", Table(kSegments))),
      R"({"result":[]})");
  // A read that is denied filters every row.
  ExpectAnswer(
      "rowFilters",
      Input("mallory", "", "GetRowFilters", absl::StrCat(R"("resource":)", Table(kSegments))),
      R"({"result":[{"expression":"false"}]})");
}

TEST_F(TrinoEndpointTest, SingleColumnMask) {
  ExpectAnswer("columnMask",
               Input("ana", kAna, "GetColumnMask",
                     absl::StrCat(R"("resource":)", Column(kCustomers, "email"))),
               R"({"result":{"expression":"'***'"}})");
  ExpectAnswer("columnMask",
               Input("ana", kAna, "GetColumnMask",
                     absl::StrCat(R"("resource":)", Column(kCustomers, "segment"))),
               "{}");
}

TEST_F(TrinoEndpointTest, BatchColumnMasks) {
  std::string items = absl::StrJoin(
      {Column(kCustomers, "customer_id"), Column(kCustomers, "email"),
       Column(kCustomers, "first_name"), Column(kCustomers, "lifetime_value", "decimal(12,2)")},
      ",");
  std::string body =
      Input("ana", kAna, "GetColumnMask", absl::StrCat(R"("filterResources":[)", items, "]"));
  std::string expected = R"({"result":[{"index":1,"viewExpression":{"expression":"'***'"}},)"
                         R"({"index":2,"viewExpression":{"expression":"'***'"}}]})";
  ExpectAnswer("batchColumnMask", body, expected);
  ExpectAnswer("batchColumnMasks", body, expected);  // the spelling of Trino's docs example
}

TEST_F(TrinoEndpointTest, MalformedRequestsAre400WithAMessage) {
  struct Case {
    std::string document, body, message;
  };
  const Case cases[] = {
      {"allow", "{\"input\": {", "request body:1:"},
      {"allow", "", "request body"},
      {"allow", R"({"inptu":{}})", "input: required"},
      {"allow", R"({"input":{"context":{"identity":{"user":"ana"}},"action":{}}})",
       "input.action.operation: required"},
      {"batch", Input("ana", kAna, "FilterTables"), "input.action.filterResources: required"},
      {"columnMask", Input("ana", kAna, "GetColumnMask"), "input.action.resource.column"},
  };
  for (const Case& c : cases) {
    HttpResult r = Post(c.document, c.body);
    EXPECT_EQ(r.status, 400) << c.body << "\n" << r.body;
    EXPECT_TRUE(absl::StartsWith(r.body, R"({"code":"invalid_parameter","message":")")) << r.body;
    EXPECT_TRUE(absl::StrContains(r.body, c.message)) << r.body;
    EXPECT_FALSE(absl::StrContains(r.body, "\"result\"")) << r.body;
  }
}

TEST_F(TrinoEndpointTest, HealthAndUnknownPaths) {
  HttpResult health = testing::HttpRequest(server_->http_port(), "GET", "/health");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "{}");
  EXPECT_EQ(Post("nothing", Input("ana", kAna, "ExecuteQuery")).status, 404);
  EXPECT_EQ(testing::HttpRequest(server_->http_port(), "GET", "/v1/data/trino/allow").status, 405);
}

// Issue 11: per-request caps, each a 413 naming its config key; a batch within them is answered.
TEST(TrinoCapsTest, OversizedRequestsAre413NamingTheLimit) {
  ArbiterdOptions o;
  o.bundle_dir = testing::ShippedBundleDir();
  o.config_yaml = absl::StrCat(kConfig,
                               "  max_checks_per_request: 100\n"
                               "  max_groups_per_identity: 8\n"
                               "  max_body_bytes: 20000\n");
  auto p = ArbiterdProcess::Start(o);
  ASSERT_TRUE(p.ok()) << p.status();
  auto post = [&](const std::string& body) {
    return testing::HttpRequest((*p)->http_port(), "POST", "/v1/data/trino/batch", body);
  };
  auto columns = [](int n) {
    std::vector<std::string> c;
    for (int i = 0; i < n; ++i) c.push_back(absl::StrCat("\"c", i, "\""));
    return absl::StrJoin(c, ",");
  };
  // 2 tables x 60 columns = 120 checks.
  HttpResult r = post(Input("ana", kAna, "FilterColumns",
                            absl::StrCat(R"("filterResources":[)", Table(kCustomers, columns(60)),
                                         ",", Table(kSegments, columns(60)), "]")));
  EXPECT_EQ(r.status, 413) << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, "request_too_large")) << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, "trino.max_checks_per_request")) << r.body;
  // 100 checks exactly: answered.
  r = post(Input("ana", kAna, "FilterColumns",
                 absl::StrCat(R"("filterResources":[)", Table(kCustomers, columns(50)), ",",
                              Table(kSegments, columns(50)), "]")));
  EXPECT_EQ(r.status, 200) << r.body;
  // Nine groups.
  r = post(Input("ana", R"("a","b","c","d","e","f","g","h","analysts")", "ExecuteQuery"));
  EXPECT_EQ(r.status, 413) << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, "trino.max_groups_per_identity")) << r.body;
  // A body over the Trino cap (but under the side port's own).
  r = post(Input("ana", kAna, "FilterColumns",
                 absl::StrCat(R"("filterResources":[)", Table(kCustomers, columns(3000)), "]")));
  EXPECT_EQ(r.status, 413) << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, "trino.max_body_bytes")) << r.body;
}

// A batch that cannot be decided within server.default_deadline_ms is a 504 naming how many of
// its checks were decided; a small batch on the same server still gets its answer. 5,000 checks
// take tens of milliseconds on any machine, far past a 1 ms deadline.
TEST(TrinoDeadlineTest, ABatchPastTheDeadlineIs504) {
  ArbiterdOptions o;
  o.bundle_dir = testing::ShippedBundleDir();
  o.config_yaml = absl::StrCat("server:\n  default_deadline_ms: 1\n", kConfig);
  auto p = ArbiterdProcess::Start(o);
  ASSERT_TRUE(p.ok()) << p.status();
  std::vector<std::string> tables;
  for (int i = 0; i < 5000; ++i) {
    tables.push_back(Table(absl::StrCat("customer_analytics.customer_360.t", i)));
  }
  HttpResult r = testing::HttpRequest(
      (*p)->http_port(), "POST", "/v1/data/trino/batch",
      Input("ana", kAna, "FilterTables",
            absl::StrCat(R"("filterResources":[)", absl::StrJoin(tables, ","), "]")));
  EXPECT_EQ(r.status, 504) << r.body.substr(0, 300);
  EXPECT_TRUE(absl::StrContains(r.body, R"("code":"deadline_exceeded")")) << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, "the deadline of 1ms passed after ")) << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, " of 5000 checks (server.default_deadline_ms)")) << r.body;
}

// `arbiter eval --trino FILE` replays a body offline and prints the answer the HTTP route gives:
// the same bytes as the real server's, for each endpoint, with the group mapping read from the
// server's own config file.
TEST_F(TrinoEndpointTest, EvalTrinoPrintsTheAnswerTheServerGives) {
  std::string dir = testing::MakeTempDir("arbiter-eval-trino");
  testing::WriteFile(dir + "/arbiterd.yaml", kConfig);
  const std::pair<std::string, std::string> requests[] = {
      {"allow", Input("ana", kAna, "SelectFromColumns",
                      absl::StrCat(R"("resource":)", Table(kCustomers, R"("email")")))},
      {"allow", Input("guest", R"("visitors")", "ExecuteQuery")},
      {"batch", Input("ana", kAna, "FilterTables",
                      absl::StrCat(R"("filterResources":[)", Table(kCustomers), ",",
                                   Table("customer_analytics.customer_360.scratch"), ",",
                                   Table(kSegments), "]"))},
      {"rowFilters", Input("max", R"("marketing-eu")", "GetRowFilters",
                           absl::StrCat(R"("resource":)", Table(kSegments)))},
      {"columnMask", Input("ana", kAna, "GetColumnMask",
                           absl::StrCat(R"("resource":)", Column(kCustomers, "email")))},
      {"batchColumnMask", Input("ana", kAna, "GetColumnMask",
                                absl::StrCat(R"("filterResources":[)", Column(kCustomers, "email"),
                                             ",", Column(kCustomers, "segment"), "]"))},
  };
  int n = 0;
  for (const auto& [document, body] : requests) {
    HttpResult served = Post(document, body);
    ASSERT_EQ(served.status, 200) << body;
    std::string file = absl::StrCat(dir, "/request-", n++, ".json");
    testing::WriteFile(file, body);
    // The endpoint is inferred from the body, as a captured request carries no path.
    std::string command =
        absl::StrCat(testing::ArbiterCliBinary(), " eval --bundle '", testing::ShippedBundleDir(),
                     "' --trino '", file, "' --group-roles '", dir, "/arbiterd.yaml'");
    testing::CommandResult run = testing::RunCommand(command);
    EXPECT_EQ(run.out, served.body + "\n") << document << " " << body;
    // Exit 0 only when every item is allowed.
    bool all = served.body != R"({"result":false})" && document != "batch";
    EXPECT_EQ(run.exit_code, all ? 0 : 1) << document << run.out;
  }
}

TEST(TrinoDecisionLogTest, UnknownOperationIsDeniedWithAReasonInTheLog) {
  std::string dir = testing::MakeTempDir("arbiter-trino-log");
  std::string log = dir + "/decisions.jsonl";
  ArbiterdOptions o;
  o.bundle_dir = testing::ShippedBundleDir();
  o.config_yaml = absl::StrCat(kConfig, "decision_log:\n  path: ", log, "\n");
  auto server = ArbiterdProcess::Start(o);
  ASSERT_TRUE(server.ok()) << server.status();
  HttpResult r = testing::HttpRequest((*server)->http_port(), "POST", "/v1/data/trino/allow",
                                      Input("root", R"("platform")", "FrobnicateTable",
                                            absl::StrCat(R"("resource":)", Table(kCustomers))));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"result":false})");
  EXPECT_EQ((*server)->Stop(SIGTERM), 0);  // drains: the log is flushed
  std::string lines = testing::ReadFileOrEmpty(log);
  bool found = false;
  for (absl::string_view line : absl::StrSplit(lines, '\n', absl::SkipEmpty())) {
    if (!absl::StrContains(line, "FrobnicateTable")) continue;
    found = true;
    EXPECT_TRUE(absl::StrContains(line, R"("effect":"deny")")) << line;
    EXPECT_TRUE(absl::StrContains(line, R"("policy_id":"global.known-actions")")) << line;
    EXPECT_TRUE(absl::StrContains(line, R"("transport":"http")")) << line;
  }
  EXPECT_TRUE(found) << lines;
}

}  // namespace
}  // namespace arbiter
