// Translation of Trino's OPA requests into access checks, and of decisions into Trino's answers,
// without HTTP or a server.
#include "service/trino/translate.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "service/value/parse.h"

namespace arbiter::trino {
namespace {

constexpr char kSalesProduct[] = R"(
metadata: {name: customer-360, domain: sales}
spec:
  outputPorts:
    - {type: sql, catalog: customer_analytics, schema: customer_360,
       tables: [{name: customers, columns: [{name: email, pii: true}]}]}
    - {type: rest}
)";
constexpr char kMarketingProduct[] = R"(
metadata: {name: campaign-performance, domain: marketing}
spec:
  outputPorts:
    - {type: sql, catalog: Customer_Analytics, schema: campaigns}
)";

ProductLocator TestProducts() {
  std::vector<Catalog::Document> docs;
  for (const char* text : {kSalesProduct, kMarketingProduct}) {
    auto v = ParseYaml(text, "product.yaml");
    EXPECT_TRUE(v.ok()) << v.status();
    docs.push_back({"product.yaml", std::make_shared<const Value>(*v)});
  }
  std::vector<std::string> errors;
  Catalog catalog = Catalog::Build(std::move(docs), {}, errors);
  EXPECT_TRUE(errors.empty());
  return ProductLocator::Build(catalog);
}

// A request body for `operation` by user ana (groups analysts, eu) with `action_rest` spliced
// into the action object (e.g. `"resource": {...}`).
std::string Body(const std::string& operation, const std::string& action_rest = "") {
  return R"({"input":{"context":{"identity":{"user":"ana","groups":["analysts","eu"]},)"
         R"("softwareStack":{"trinoVersion":"455"}},"action":{"operation":")" +
         operation + "\"" + (action_rest.empty() ? "" : "," + action_rest) + "}}}";
}

// A plan with every check made (Plan::MakeChecks), as the tests read them.
struct Translated : Plan {
  std::vector<AccessRequest> checks;
};

class TranslateTest : public ::testing::Test {
 protected:
  absl::StatusOr<Translated> Run(Endpoint e, const std::string& body) {
    absl::StatusOr<Plan> plan = Translate(e, body, identities_, products_);
    if (!plan.ok()) return plan.status();
    Translated t;
    static_cast<Plan&>(t) = *std::move(plan);
    t.checks = t.MakeChecks();
    return t;
  }
  IdentityMapper identities_{
      {{"analysts", "sales-analysts, data-scientists, domain:sales"}, {"eu", "region=EU"}}};
  ProductLocator products_ = TestProducts();
};

TEST(OperationTest, MapsOperationFamilies) {
  EXPECT_EQ(ActionForOperation("SelectFromColumns"), "read");
  EXPECT_EQ(ActionForOperation("GetColumnMask"), "read");
  EXPECT_EQ(ActionForOperation("FilterTables"), "discover");
  EXPECT_EQ(ActionForOperation("AccessCatalog"), "discover");
  EXPECT_EQ(ActionForOperation("InsertIntoTable"), "write");
  EXPECT_EQ(ActionForOperation("DropTable"), "admin");
  EXPECT_EQ(ActionForOperation("ExecuteQuery"), "execute");
  EXPECT_EQ(ActionForOperation("SetSystemSessionProperty"), "system");
  EXPECT_EQ(ActionForOperation("ReadSystemInformation"), "system");
  EXPECT_EQ(ActionForOperation("LaunchMissiles"), "unknown");
  EXPECT_EQ(ActionForOperation("selectfromcolumns"), "unknown");  // names are case-sensitive
}

TEST(IdentityMapperTest, GroupsGrantRolesDomainAndAttributes) {
  IdentityMapper m({{"a", "r1, r2 ,domain:sales"}, {"b", "r2,region=EU,domain:finance"}});
  Principal p = m.Map("ana", {"b", "a", "other"});
  EXPECT_EQ(p.id, "ana");
  EXPECT_EQ(p.groups, (std::vector<std::string>{"b", "a", "other"}));
  EXPECT_EQ(p.roles, (std::vector<std::string>{"r2", "r1"}));
  EXPECT_EQ(p.domain, "finance");  // the first group that names a domain
  EXPECT_EQ(p.attributes.at("region"), "EU");
}

TEST_F(TranslateTest, SelectFromColumnsIsOneReadOfTheTable) {
  auto plan =
      Run(Endpoint::kAllow,
          Body("SelectFromColumns", R"("resource":{"table":{"catalogName":"customer_analytics",)"
                                    R"("schemaName":"customer_360","tableName":"customers",)"
                                    R"("columns":["email","segment"]}})"));
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->checks.size(), 1u);
  ASSERT_EQ(plan->items.size(), 1u);
  const AccessRequest& a = plan->checks[0];
  EXPECT_EQ(a.action, "read");
  EXPECT_EQ(a.resource.table, "customer_analytics.customer_360.customers");
  EXPECT_EQ(a.resource.columns, (std::vector<std::string>{"email", "segment"}));
  EXPECT_TRUE(a.principal.id.empty());  // shared: Plan::principal
  EXPECT_EQ(plan->principal.id, "ana");
  EXPECT_EQ(plan->principal.roles, (std::vector<std::string>{"sales-analysts", "data-scientists"}));
  EXPECT_EQ(plan->principal.domain, "sales");
  EXPECT_EQ(ContextEntries(a).at("operation"), "SelectFromColumns");
  EXPECT_EQ(ContextEntries(a).at("trino_version"), "455");
  EXPECT_EQ(ContextEntries(a).at("catalog"), "customer_analytics");
}

// req.context whole, for resources whose names interleave with the request's own entries in key
// order (shared and own entries merge in that order): every key, and no other.
TEST_F(TranslateTest, ContextHoldsTheRequestsEntriesAndTheResourcesNames) {
  using Ctx = std::map<std::string, std::string>;
  const std::string context =
      R"({"input":{"context":{"identity":{"user":"ana","groups":[]},"queryId":"q-20261130-1",)"
      R"("softwareStack":{"trinoVersion":"455"}},"action":{"operation":)";
  auto plan =
      Run(Endpoint::kAllow,
          context + R"("ExecuteTableProcedure","grantee":{"name":"bob"},)"
                    R"("targetResource":{"table":{"catalogName":"c2","schemaName":"s2",)"
                    R"("tableName":"t2"}},"resource":{"function":{"functionName":"optimize"},)"
                    R"("table":{"catalogName":"customer_analytics",)"
                    R"("schemaName":"customer_360","tableName":"customers"}}}}})");
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->checks.size(), 1u);
  EXPECT_EQ(ContextEntries(plan->checks[0]), (Ctx{{"catalog", "customer_analytics"},
                                                  {"function", "optimize"},
                                                  {"grantee", "bob"},
                                                  {"operation", "ExecuteTableProcedure"},
                                                  {"query_id", "q-20261130-1"},
                                                  {"schema", "customer_360"},
                                                  {"source", "trino"},
                                                  {"table", "customers"},
                                                  {"target", "c2.s2.t2"},
                                                  {"trino_resource", "table"},
                                                  {"trino_version", "455"}}));

  // An empty grantee name is kept (the request named a grantee); empty resource names are not.
  plan = Run(Endpoint::kAllow, context + R"("GetColumnMask","grantee":{},"resource":{"column":{)"
                                         R"("catalogName":"a.b","schemaName":"s","tableName":"t",)"
                                         R"("columnName":"email","columnType":"varchar"}}}}})");
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->checks.size(), 1u);
  EXPECT_EQ(plan->checks[0].resource.table, "$trino.column.GetColumnMask");
  EXPECT_EQ(ContextEntries(plan->checks[0]), (Ctx{{"catalog", "a.b"},
                                                  {"column", "email"},
                                                  {"column_type", "varchar"},
                                                  {"grantee", ""},
                                                  {"operation", "GetColumnMask"},
                                                  {"query_id", "q-20261130-1"},
                                                  {"schema", "s"},
                                                  {"source", "trino"},
                                                  {"table", "t"},
                                                  {"trino_resource", "column"},
                                                  {"trino_version", "455"}}));

  plan =
      Run(Endpoint::kAllow, context + R"("ImpersonateUser","resource":{"user":{"user":"zed"}}}}})");
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->checks.size(), 1u);
  EXPECT_EQ(ContextEntries(plan->checks[0]), (Ctx{{"operation", "ImpersonateUser"},
                                                  {"query_id", "q-20261130-1"},
                                                  {"source", "trino"},
                                                  {"trino_resource", "user"},
                                                  {"trino_version", "455"},
                                                  {"user", "zed"}}));

  plan = Run(Endpoint::kAllow, context + R"("SetCatalogSessionProperty","resource":{)"
                                         R"("catalogSessionProperty":{"catalogName":"hive",)"
                                         R"("propertyName":"compression"}}}}})");
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->checks.size(), 1u);
  EXPECT_EQ(ContextEntries(plan->checks[0]), (Ctx{{"catalog", "hive"},
                                                  {"operation", "SetCatalogSessionProperty"},
                                                  {"property", "compression"},
                                                  {"query_id", "q-20261130-1"},
                                                  {"source", "trino"},
                                                  {"trino_resource", "catalogSessionProperty"},
                                                  {"trino_version", "455"}}));
}

// In a batch each check's context is its own resource's, also where the items before it had other
// names, more names or fewer (Translate builds a check's context from the one before when they
// hold the same keys).
TEST_F(TranslateTest, BatchContextsAreEachItemsOwn) {
  using Ctx = std::map<std::string, std::string>;
  auto column = [](const std::string& catalog, const std::string& table, const std::string& name,
                   const std::string& type) {
    return R"({"column":{"catalogName":")" + catalog + R"(","schemaName":"s","tableName":")" +
           table + R"(","columnName":")" + name + "\"" +
           (type.empty() ? "" : R"(,"columnType":")" + type + "\"") + "}}";
  };
  auto plan = Run(
      Endpoint::kBatchColumnMask,
      Body("GetColumnMask",
           R"("filterResources":[)" + column("customer_analytics", "t", "a", "varchar") + "," +
               column("customer_analytics", "t", "b", "") + "," + column("c", "t", "b", "") + "," +
               column("c", "u", "d", "bigint") + "," + column("c", "u", "e", "bigint") + "]"));
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->checks.size(), 5u);
  auto expect = [](std::string catalog, std::string table, std::string name, std::string type) {
    Ctx ctx{{"catalog", catalog},
            {"column", name},
            {"operation", "GetColumnMask"},
            {"schema", "s"},
            {"source", "trino"},
            {"table", table},
            {"trino_resource", "column"},
            {"trino_version", "455"}};
    if (!type.empty()) ctx["column_type"] = type;
    return ctx;
  };
  EXPECT_EQ(ContextEntries(plan->checks[0]), expect("customer_analytics", "t", "a", "varchar"));
  EXPECT_EQ(ContextEntries(plan->checks[1]), expect("customer_analytics", "t", "b", ""));
  EXPECT_EQ(ContextEntries(plan->checks[2]), expect("c", "t", "b", ""));
  EXPECT_EQ(ContextEntries(plan->checks[3]), expect("c", "u", "d", "bigint"));
  EXPECT_EQ(ContextEntries(plan->checks[4]), expect("c", "u", "e", "bigint"));

  // FilterTables over tables, a schema's products (two checks of one item) and a catalog.
  plan = Run(
      Endpoint::kBatch,
      Body("FilterTables",
           R"("filterResources":[{"table":{"catalogName":"customer_analytics",)"
           R"("schemaName":"customer_360","tableName":"customers"}},)"
           R"({"table":{"catalogName":"hive","schemaName":"default","tableName":"x"}},)"
           R"({"schema":{"catalogName":"customer_analytics","schemaName":"information_schema"}},)"
           R"({"catalog":{"name":"hive"}}])"));
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->checks.size(), 5u);
  const Ctx base{{"operation", "FilterTables"}, {"source", "trino"}, {"trino_version", "455"}};
  auto with = [&base](Ctx names) {
    names.insert(base.begin(), base.end());
    return names;
  };
  EXPECT_EQ(ContextEntries(plan->checks[0]), with({{"catalog", "customer_analytics"},
                                                   {"schema", "customer_360"},
                                                   {"table", "customers"},
                                                   {"trino_resource", "table"}}));
  EXPECT_EQ(ContextEntries(plan->checks[1]), with({{"catalog", "hive"},
                                                   {"schema", "default"},
                                                   {"table", "x"},
                                                   {"trino_resource", "table"}}));
  const Ctx schema = with({{"catalog", "customer_analytics"},
                           {"schema", "information_schema"},
                           {"trino_resource", "schema"}});
  EXPECT_EQ(ContextEntries(plan->checks[2]), schema);
  EXPECT_EQ(ContextEntries(plan->checks[3]), schema);
  EXPECT_EQ(ContextEntries(plan->checks[4]),
            with({{"catalog", "hive"}, {"trino_resource", "catalog"}}));
  // The checks on one schema's resources of one kind share their common entries.
  EXPECT_EQ(plan->checks[2].shared_context, plan->checks[3].shared_context);
  EXPECT_NE(plan->checks[0].shared_context, plan->checks[1].shared_context);
  EXPECT_EQ(plan->checks[0].context, (Ctx{{"table", "customers"}}));

  // Tables of more schemas than Translate keeps context prefixes for (8), in catalogs whose
  // schemas share names and whose names differ only in case: each its own names.
  std::string tables_json;
  auto table_of = [](int i) {
    return std::vector<std::string>{i == 30 ? "C0" : "c" + std::to_string(i % 2),
                                    "s" + std::to_string(i % 5), "t" + std::to_string(i)};
  };
  for (int i = 0; i <= 30; ++i) {
    const std::vector<std::string> t = table_of(i);
    absl::StrAppend(&tables_json, i == 0 ? "" : ",", R"({"table":{"catalogName":")", t[0],
                    R"(","schemaName":")", t[1], R"(","tableName":")", t[2], R"("}})");
  }
  plan = Run(Endpoint::kBatch, Body("FilterTables", R"("filterResources":[)" + tables_json + "]"));
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->checks.size(), 31u);
  for (int i = 0; i <= 30; ++i) {
    const std::vector<std::string> t = table_of(i);
    EXPECT_EQ(
        ContextEntries(plan->checks[i]),
        with({{"catalog", t[0]}, {"schema", t[1]}, {"table", t[2]}, {"trino_resource", "table"}}))
        << i;
    EXPECT_EQ(plan->checks[i].resource.table, absl::StrCat(t[0], ".", t[1], ".", t[2])) << i;
  }

  // FilterColumns: a check per column, of three tables (one not addressable), one column named ""
  // (no column key).
  plan = Run(
      Endpoint::kBatch,
      Body("FilterColumns",
           R"("filterResources":[{"table":{"catalogName":"customer_analytics",)"
           R"("schemaName":"customer_360","tableName":"customers","columns":["a","","b","b"]}},)"
           R"({"table":{"catalogName":"hive","schemaName":"default","tableName":"x",)"
           R"("columns":["c","d"]}},)"
           R"({"table":{"catalogName":"a.b","schemaName":"s","tableName":"t",)"
           R"("columns":["e","f"]}}])"));
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->checks.size(), 8u);
  auto col = [&](std::string catalog, std::string schema, std::string table, std::string name) {
    Ctx ctx{{"catalog", catalog},    {"operation", "FilterColumns"},
            {"schema", schema},      {"source", "trino"},
            {"table", table},        {"trino_resource", "column"},
            {"trino_version", "455"}};
    if (!name.empty()) ctx["column"] = name;
    return ctx;
  };
  EXPECT_EQ(ContextEntries(plan->checks[0]),
            col("customer_analytics", "customer_360", "customers", "a"));
  EXPECT_EQ(ContextEntries(plan->checks[1]),
            col("customer_analytics", "customer_360", "customers", ""));
  EXPECT_EQ(ContextEntries(plan->checks[2]),
            col("customer_analytics", "customer_360", "customers", "b"));
  EXPECT_EQ(ContextEntries(plan->checks[3]),
            col("customer_analytics", "customer_360", "customers", "b"));
  EXPECT_EQ(ContextEntries(plan->checks[4]), col("hive", "default", "x", "c"));
  EXPECT_EQ(ContextEntries(plan->checks[5]), col("hive", "default", "x", "d"));
  EXPECT_EQ(ContextEntries(plan->checks[7]), col("a.b", "s", "t", "f"));
  // A table's columns hold their common entries once, in one map they share.
  ASSERT_NE(plan->checks[0].shared_context, nullptr);
  EXPECT_EQ(plan->checks[0].shared_context, plan->checks[3].shared_context);
  EXPECT_NE(plan->checks[3].shared_context, plan->checks[4].shared_context);
  EXPECT_EQ(plan->checks[4].shared_context, plan->checks[5].shared_context);
  const char* tables[] = {"customer_analytics.customer_360.customers",
                          "customer_analytics.customer_360.customers",
                          "customer_analytics.customer_360.customers",
                          "customer_analytics.customer_360.customers",
                          "hive.default.x",
                          "hive.default.x",
                          "$trino.column.FilterColumns",
                          "$trino.column.FilterColumns"};
  const char* columns[] = {"a", "", "b", "b", "c", "d", "e", "f"};
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(plan->checks[i].resource.table, tables[i]) << i;
    EXPECT_EQ(plan->checks[i].resource.columns, (std::vector<std::string>{columns[i]})) << i;
  }
}

// The server makes each check of a batch where it is decided, into the check that thread made
// before (Plan::MakeCheck): whatever came before, the check made is the one Plan::MakeChecks
// makes afresh.
TEST_F(TranslateTest, ChecksMadeInPlaceAreTheChecksMadeAfresh) {
  const std::string body =
      Body("FilterTables",
           R"("filterResources":[)"
           R"({"table":{"catalogName":"customer_analytics","schemaName":"customer_360",)"
           R"("tableName":"customers","columns":["email","segment","region"]}},)"
           R"({"table":{"catalogName":"customer_analytics","schemaName":"customer_360",)"
           R"("tableName":"orders"}},)"
           R"({"column":{"catalogName":"hive","schemaName":"default","tableName":"x",)"
           R"("columnName":"c","columnType":"varchar"}},)"
           R"({"column":{"catalogName":"hive","schemaName":"default","tableName":"x",)"
           R"("columnName":"d"}},)"
           R"({"schema":{"catalogName":"customer_analytics","schemaName":"customer_360"}},)"
           R"({"schema":{"catalogName":"customer_analytics","schemaName":"information_schema"}},)"
           R"({"catalog":{"name":"customer_analytics"}},)"
           R"({"catalog":{"name":"system"}},)"
           R"({"schema":{"catalogName":"system","schemaName":"runtime"}},)"
           R"({"table":{"catalogName":"a.b","schemaName":"s","tableName":"t","columns":["e"]}},)"
           R"({"function":{"functionName":"f","catalogName":"c","schemaName":"s"}},)"
           R"({"user":{"user":"bob"}},)"
           R"({"systemSessionProperty":{"name":"p"}},)"
           R"({"schema":{"catalogName":"nothing","schemaName":"here"}}])");
  auto plan = Run(Endpoint::kBatch, body);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_GE(plan->checks.size(), 16u);
  auto deferred = Translate(Endpoint::kBatch, body, identities_, products_);
  ASSERT_TRUE(deferred.ok()) << deferred.status();
  ASSERT_EQ(deferred->check_count(), plan->checks.size());
  EXPECT_EQ(deferred->items, plan->items);

  auto expect_same = [&](const AccessRequest& made, size_t i) {
    const AccessRequest& fresh = plan->checks[i];
    EXPECT_EQ(made.action, fresh.action) << i;
    EXPECT_EQ(made.resource.table, fresh.resource.table) << i;
    EXPECT_EQ(made.resource.product, fresh.resource.product) << i;
    EXPECT_EQ(made.resource.columns, fresh.resource.columns) << i;
    EXPECT_EQ(made.context, fresh.context) << i;
    EXPECT_EQ(ContextEntries(made), ContextEntries(fresh)) << i;
    EXPECT_TRUE(made.principal.id.empty()) << i;
  };
  // Forwards, backwards and every check after every other: each kind of check after each.
  AccessRequest reused;
  for (size_t i = 0; i < deferred->check_count(); ++i) {
    deferred->MakeCheck(i, reused);
    expect_same(reused, i);
  }
  for (size_t i = deferred->check_count(); i-- > 0;) {
    deferred->MakeCheck(i, reused);
    expect_same(reused, i);
  }
  for (size_t before = 0; before < deferred->check_count(); ++before) {
    for (size_t i = 0; i < deferred->check_count(); ++i) {
      AccessRequest check;
      deferred->MakeCheck(before, check);
      deferred->MakeCheck(i, check);
      expect_same(check, i);
    }
  }
  // The checks of one group share their common entries, in place as afresh.
  AccessRequest a, b;
  deferred->MakeCheck(2, a);
  deferred->MakeCheck(3, b);
  ASSERT_NE(a.shared_context, nullptr);
  EXPECT_EQ(a.shared_context, b.shared_context);
  EXPECT_EQ(plan->checks[2].shared_context, plan->checks[3].shared_context);
  // The plan holds what its checks are made of, moved or not, once the body it was translated
  // from is gone (a view of the body would read freed memory: the sanitizer build fails then).
  auto text = std::make_unique<std::string>(body);
  auto own = Translate(Endpoint::kBatch, *text, identities_, products_);
  ASSERT_TRUE(own.ok()) << own.status();
  text.reset();
  Plan moved = *std::move(own);
  for (size_t i = 0; i < moved.check_count(); ++i) {
    AccessRequest check;
    moved.MakeCheck(i, check);
    expect_same(check, i);
  }
}

TEST_F(TranslateTest, ExecuteQueryHasAPseudoResource) {
  auto plan = Run(Endpoint::kAllow, Body("ExecuteQuery"));
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->checks.size(), 1u);
  EXPECT_EQ(plan->checks[0].action, "execute");
  EXPECT_EQ(plan->checks[0].resource.table, "$trino.query.ExecuteQuery");
}

TEST_F(TranslateTest, UnknownOperationIsTranslatedNotRejected) {
  auto plan =
      Run(Endpoint::kAllow, Body("Frobnicate.v2", R"("resource":{"catalog":{"name":"x"}})"));
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->checks.size(), 1u);
  EXPECT_EQ(plan->checks[0].action, "unknown");
  EXPECT_EQ(plan->checks[0].resource.table, "x.*.*");
  EXPECT_EQ(ContextEntries(plan->checks[0]).at("operation"), "Frobnicate.v2");
}

TEST_F(TranslateTest, CatalogExpandsToItsProducts) {
  auto plan =
      Run(Endpoint::kBatch, Body("FilterCatalogs", R"("filterResources":[)"
                                                   R"({"catalog":{"name":"customer_analytics"}},)"
                                                   R"({"catalog":{"name":"hive"}},)"
                                                   R"({"catalog":{"name":"system"}}])"));
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->items.size(), 3u);
  EXPECT_EQ(plan->items[0], std::make_pair(size_t{0}, size_t{2}));
  EXPECT_EQ(plan->checks[0].resource.product, "customer-360");
  EXPECT_EQ(plan->checks[1].resource.product, "campaign-performance");
  EXPECT_EQ(plan->checks[0].action, "discover");
  EXPECT_EQ(plan->checks[2].resource.table, "hive.*.*");
  EXPECT_EQ(plan->checks[3].resource.table, "system.*.*");
  EXPECT_EQ(plan->checks[3].action, "execute");
}

TEST_F(TranslateTest, SchemaAndInformationSchema) {
  auto plan = Run(
      Endpoint::kBatch,
      Body("FilterSchemas",
           R"("filterResources":[)"
           R"({"schema":{"catalogName":"customer_analytics","schemaName":"CUSTOMER_360"}},)"
           R"({"schema":{"catalogName":"customer_analytics","schemaName":"information_schema"}},)"
           R"({"schema":{"catalogName":"customer_analytics","schemaName":"nope"}}])"));
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->items.size(), 3u);
  EXPECT_EQ(plan->checks[plan->items[0].first].resource.product, "customer-360");
  EXPECT_EQ(plan->items[0].second - plan->items[0].first, 1u);
  EXPECT_EQ(plan->items[1].second - plan->items[1].first, 2u);  // the whole catalog
  EXPECT_EQ(plan->checks[plan->items[2].first].resource.table, "customer_analytics.nope.*");
}

TEST_F(TranslateTest, FilterColumnsIndicesReferToColumns) {
  auto plan =
      Run(Endpoint::kBatch,
          Body("FilterColumns", R"("filterResources":[{"table":{"catalogName":"c",)"
                                R"("schemaName":"s","tableName":"t","columns":["a","b","c"]}}])"));
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->items.size(), 3u);
  EXPECT_EQ(plan->checks[1].resource.columns, std::vector<std::string>{"b"});
  EXPECT_EQ(ContextEntries(plan->checks[1]).at("column"), "b");
  EXPECT_EQ(plan->checks[1].action, "discover");
}

TEST_F(TranslateTest, SystemCatalogTables) {
  auto runtime = Run(Endpoint::kAllow, Body("SelectFromColumns",
                                            R"("resource":{"table":{"catalogName":"system",)"
                                            R"("schemaName":"runtime","tableName":"queries"}})"));
  ASSERT_TRUE(runtime.ok());
  EXPECT_EQ(runtime->checks[0].action, "system");
  EXPECT_EQ(runtime->checks[0].resource.table, "system.runtime.queries");
  auto jdbc = Run(Endpoint::kAllow,
                  Body("SelectFromColumns", R"("resource":{"table":{"catalogName":"system",)"
                                            R"("schemaName":"jdbc","tableName":"tables"}})"));
  ASSERT_TRUE(jdbc.ok());
  EXPECT_EQ(jdbc->checks[0].action, "execute");
}

TEST_F(TranslateTest, DottedNamesAreNotAddressable) {
  auto plan =
      Run(Endpoint::kAllow, Body("SelectFromColumns", R"("resource":{"table":{"catalogName":"c",)"
                                                      R"("schemaName":"s","tableName":"a.b"}})"));
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->checks[0].resource.table, "$trino.table.SelectFromColumns");
}

TEST_F(TranslateTest, MalformedRequestsNameTheProblem) {
  struct Case {
    Endpoint endpoint;
    std::string body;
    std::string message;
  };
  const Case cases[] = {
      {Endpoint::kAllow, "{not json", "request body:1:"},
      {Endpoint::kAllow, "[]", "expected a JSON object"},
      {Endpoint::kAllow, "{}", "input: required"},
      {Endpoint::kAllow, R"({"input":{"action":{}}})", "input.action.operation: required"},
      {Endpoint::kAllow, R"({"input":{"action":{"operation":7}}})", "expected a string"},
      {Endpoint::kAllow, R"({"input":{"action":{"operation":"ExecuteQuery"}}})",
       "input.context.identity: required"},
      {Endpoint::kAllow,
       R"({"input":{"context":{"identity":{"groups":[]}},"action":{"operation":"ExecuteQuery"}}})",
       "input.context.identity.user: required"},
      {Endpoint::kBatch, Body("FilterTables"), "input.action.filterResources: required"},
      {Endpoint::kAllow, Body("SelectFromColumns", R"("resource":{"table":{"catalogName":"c"}})"),
       "input.action.resource.table.schemaName: required"},
      {Endpoint::kRowFilters, Body("GetRowFilters"), "input.action.resource.table: required"},
      {Endpoint::kColumnMask, Body("GetColumnMask", R"("resource":{"catalog":{"name":"c"}})"),
       "input.action.resource.column: required"},
  };
  for (const Case& c : cases) {
    auto plan = Run(c.endpoint, c.body);
    ASSERT_FALSE(plan.ok()) << c.body;
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(plan.status().message(), c.message))
        << plan.status().message() << " vs " << c.message;
  }
}

Decision Allow(std::vector<ColumnMask> masks = {}, std::vector<std::string> filters = {}) {
  Decision d;
  d.effect = Effect::kAllow;
  d.obligations.column_masks = std::move(masks);
  d.obligations.row_filters = std::move(filters);
  return d;
}
Decision Deny() { return Decision{}; }

Plan PlanOf(Endpoint e, std::vector<std::pair<size_t, size_t>> items,
            std::vector<std::string> columns = {}) {
  Plan p;
  p.endpoint = e;
  p.operation = "Op";
  size_t n = items.empty() ? 0 : items.back().second;
  p.specs.resize(n);
  p.items = std::move(items);
  p.mask_columns = std::move(columns);
  return p;
}

TEST(ShapeTest, Answers) {
  EXPECT_EQ(Shape(PlanOf(Endpoint::kAllow, {{0, 1}}), {Allow()}).body, R"({"result":true})");
  EXPECT_EQ(Shape(PlanOf(Endpoint::kAllow, {{0, 2}}), {Deny(), Allow()}).body,
            R"({"result":true})");
  EXPECT_EQ(Shape(PlanOf(Endpoint::kAllow, {{0, 1}}), {Deny()}).body, R"({"result":false})");
  EXPECT_EQ(
      Shape(PlanOf(Endpoint::kBatch, {{0, 1}, {1, 2}, {2, 4}}), {Allow(), Deny(), Deny(), Allow()})
          .body,
      R"({"result":[0,2]})");
  EXPECT_EQ(Shape(PlanOf(Endpoint::kBatch, {}), {}).body, R"({"result":[]})");
  EXPECT_EQ(Shape(PlanOf(Endpoint::kRowFilters, {{0, 1}}), {Allow({}, {"a = 1", "b = 'x'"})}).body,
            R"({"result":[{"expression":"a = 1"},{"expression":"b = 'x'"}]})");
  EXPECT_EQ(Shape(PlanOf(Endpoint::kRowFilters, {{0, 1}}), {Allow()}).body, R"({"result":[]})");
  EXPECT_EQ(Shape(PlanOf(Endpoint::kRowFilters, {{0, 1}}), {Deny()}).body,
            R"({"result":[{"expression":"false"}]})");
  EXPECT_EQ(
      Shape(PlanOf(Endpoint::kColumnMask, {{0, 1}}, {"Email"}), {Allow({{"email", "'***'"}})}).body,
      R"({"result":{"expression":"'***'"}})");
  EXPECT_EQ(Shape(PlanOf(Endpoint::kColumnMask, {{0, 1}}, {"id"}), {Allow({{"email", "x"}})}).body,
            "{}");
  EXPECT_EQ(Shape(PlanOf(Endpoint::kColumnMask, {{0, 1}}, {"id"}), {Deny()}).body,
            R"({"result":{"expression":"NULL"}})");
  EXPECT_EQ(
      Shape(PlanOf(Endpoint::kBatchColumnMask, {{0, 1}, {1, 2}, {2, 3}}, {"id", "email", "x"}),
            {Allow({{"email", "'***'"}}), Allow({{"email", "'***'"}}), Deny()})
          .body,
      R"({"result":[{"index":1,"viewExpression":{"expression":"'***'"}},)"
      R"({"index":2,"viewExpression":{"expression":"NULL"}}]})");
}

// Shape answers the same from the verdicts taken out of the decisions (what the server keeps of
// each) as from the whole decisions.
TEST(ShapeTest, AnswersTheSameFromTheVerdicts) {
  auto full = [](Decision d) {
    d.decision_id = "0123456789abcdef-00000001";
    d.reasons.push_back(Reason{});
    d.reasons.back().message = std::string(100, 'r');
    d.bundle_revision = "rev";
    d.domain = "sales";
    d.faults.push_back(PolicyFault{});
    return d;
  };
  const std::vector<std::pair<Plan, std::vector<Decision>>> cases = {
      {PlanOf(Endpoint::kAllow, {{0, 2}}), {Deny(), Allow()}},
      {PlanOf(Endpoint::kBatch, {{0, 1}, {1, 2}, {2, 4}}), {Allow(), Deny(), Deny(), Allow()}},
      {PlanOf(Endpoint::kRowFilters, {{0, 1}}), {Allow({}, {"a = 1", "b = 'x'"})}},
      {PlanOf(Endpoint::kRowFilters, {{0, 1}}), {Deny()}},
      {PlanOf(Endpoint::kColumnMask, {{0, 1}}, {"Email"}), {Allow({{"email", "'***'"}})}},
      {PlanOf(Endpoint::kBatchColumnMask, {{0, 1}, {1, 2}, {2, 3}}, {"id", "email", "x"}),
       {Allow({{"email", "'***'"}}), Allow({{"email", "'***'"}}), Deny()}},
  };
  for (const auto& [plan, decisions] : cases) {
    std::vector<absl::StatusOr<Decision>> whole;
    std::vector<absl::Status> statuses;
    std::vector<CheckVerdict> verdicts;
    for (const Decision& d : decisions) {
      whole.push_back(full(d));
      Decision taken = full(d);
      verdicts.push_back(TakeVerdict(taken));
      statuses.push_back(absl::OkStatus());
      EXPECT_EQ(verdicts.back().effect, d.effect);
      EXPECT_EQ(verdicts.back().obligations.column_masks.size(), d.obligations.column_masks.size());
      EXPECT_EQ(verdicts.back().obligations.row_filters, d.obligations.row_filters);
    }
    const Answer from_verdicts = Shape(plan, statuses, verdicts);
    EXPECT_EQ(from_verdicts.body, Shape(plan, whole).body);
    EXPECT_EQ(from_verdicts.status, 200) << from_verdicts.body;
  }
  // An error among the statuses fails the answer as an undecided decision does.
  const Plan plan = PlanOf(Endpoint::kBatch, {{0, 1}, {1, 2}});
  const Answer failed =
      Shape(plan, {absl::OkStatus(), absl::InternalError("the policy state broke")},
            {CheckVerdict{Effect::kAllow, {}}, CheckVerdict{}});
  EXPECT_EQ(failed.status, 500);
  EXPECT_TRUE(absl::StrContains(failed.body, "the policy state broke")) << failed.body;
}

// A decision per check of the plan, no more and no fewer: anything else is the server's bug,
// never an answer.
TEST(ShapeTest, DecisionsThatDoNotCountThePlansChecksFailTheAnswer) {
  const Plan plan = PlanOf(Endpoint::kBatch, {{0, 1}, {1, 2}});
  for (const Answer& a :
       {Shape(plan, {Allow()}), Shape(plan, {Allow(), Allow(), Allow()}),
        Shape(plan, {absl::OkStatus(), absl::OkStatus()}, {CheckVerdict{Effect::kAllow, {}}})}) {
    EXPECT_EQ(a.status, 500);
    EXPECT_TRUE(absl::StrContains(a.body, "decision count does not match")) << a.body;
  }
  EXPECT_EQ(Shape(plan, {Allow(), Deny()}).body, R"({"result":[0]})");
}

TEST(ShapeTest, AnUndecidedCheckFailsTheWholeAnswer) {
  Answer a = Shape(PlanOf(Endpoint::kBatch, {{0, 1}, {1, 2}}),
                   {Allow(), absl::DeadlineExceededError("deadline passed")});
  EXPECT_EQ(a.status, 500);
  EXPECT_TRUE(absl::StrContains(a.body, "deadline passed")) << a.body;
  EXPECT_TRUE(absl::StartsWith(a.body, R"({"code":"internal_error")")) << a.body;
}

}  // namespace
}  // namespace arbiter::trino
