// The steps that build `req` (request_build.h), each on its own against a small real catalog:
// what each makes of a request, and that each error names the field to fix. bundle_test.cc
// checks the same through Bundle::Evaluate as a whole.
#include "service/engine/request_build.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "service/diff/diff_rules.h"
#include "service/engine/catalog.h"
#include "service/engine/testing.h"
#include "service/value/parse.h"

namespace arbiter {
namespace {

using enginetest::DomainAccess;
using enginetest::IsOk;
using enginetest::StatusIs;

// A product `orders` of domain sales serving hive.sales: the table `orders` (columns id and a
// PII email) is listed, any other table of the schema is known to belong to it but unlisted.
constexpr char kOrders[] = R"(metadata: {name: orders, domain: sales}
spec:
  outputPorts:
    - type: sql
      catalog: hive
      schema: sales
      tables:
        - name: orders
          columns:
            - {name: id, type: bigint}
            - {name: email, type: varchar, pii: true}
)";

Catalog MakeCatalog() {
  std::vector<Catalog::Document> products;
  absl::StatusOr<Value> tree = ParseYaml(kOrders, "catalog/products/orders.yaml");
  EXPECT_TRUE(IsOk(tree));
  products.push_back(
      {"catalog/products/orders.yaml", std::make_shared<const Value>(tree.ok() ? *tree : Value())});
  std::vector<std::string> errors;
  Catalog c = Catalog::Build(std::move(products), {}, errors);
  EXPECT_TRUE(errors.empty()) << absl::StrJoin(errors, "\n");
  return c;
}

AccessRequest TableAccess(absl::string_view table) {
  AccessRequest r = DomainAccess("sales");
  r.resource.product.clear();
  r.resource.table = std::string(table);
  return r;
}

// A product descriptor owned by `domain` ("" for none).
Value Descriptor(absl::string_view domain) {
  Value metadata = Value::Map{{"name", Value("orders")}};
  if (!domain.empty()) metadata.Add("domain", Value(domain));
  return Value::Map{{"metadata", metadata}};
}

DeploymentRequest Deployment() {
  DeploymentRequest d;
  d.product = Descriptor("sales");
  d.environment = "prod";
  return d;
}

// The keys of a map, in order.
std::vector<std::string> Keys(const Value& v) {
  std::vector<std::string> keys;
  if (!v.is_map()) return keys;
  for (const auto& [k, e] : v.as_map()) keys.push_back(k);
  return keys;
}

// --- validate ---

TEST(ValidateRequestTest, AcceptsWellFormedRequestsOfEveryKind) {
  EXPECT_TRUE(IsOk(ValidateRequest(DomainAccess("sales"), nullptr)));
  EXPECT_TRUE(IsOk(ValidateRequest(TableAccess("hive.sales.orders"), nullptr)));
  // Validation needs no catalog: an unknown table is a matter for "resolve", and no error.
  EXPECT_TRUE(IsOk(ValidateRequest(TableAccess("hive.nowhere.t"), nullptr)));
  AccessRequest doc = DomainAccess("sales");
  doc.resource = ResourceRef();
  doc.resource.type = "document";
  doc.resource.id = "doc-1";
  EXPECT_TRUE(IsOk(ValidateRequest(doc, nullptr)));
  ProductRequest p;
  p.product = Descriptor("sales");
  EXPECT_TRUE(IsOk(ValidateRequest(p, nullptr)));
  EXPECT_TRUE(IsOk(ValidateRequest(Deployment(), nullptr)));
}

TEST(ValidateRequestTest, AccessErrorsNameTheField) {
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  AccessRequest r = DomainAccess("sales");
  r.principal.id.clear();
  EXPECT_TRUE(StatusIs(ValidateRequest(r, nullptr), kInvalid, "principal.id: required"));
  // A batch's shared principal stands for the request's own.
  SharedPrincipal shared(DomainAccess("sales").principal);
  EXPECT_TRUE(IsOk(ValidateRequest(r, &shared)));
  SharedPrincipal nobody{Principal()};
  EXPECT_TRUE(StatusIs(ValidateRequest(DomainAccess("sales"), &nobody), kInvalid,
                       "principal.id: required"));

  r = DomainAccess("sales");
  r.action.clear();
  EXPECT_TRUE(StatusIs(ValidateRequest(r, nullptr), kInvalid, "action: required"));

  r = DomainAccess("sales");
  r.resource.product.clear();
  EXPECT_TRUE(StatusIs(ValidateRequest(r, nullptr), kInvalid,
                       "resource: name a table (catalog.schema.table) or a product"));

  for (const char* bad : {"orders", "hive.orders", ".sales.orders", "hive..orders", "hive.sales.",
                          "hive.sales.orders.x"}) {
    SCOPED_TRACE(bad);
    EXPECT_TRUE(
        StatusIs(ValidateRequest(TableAccess(bad), nullptr), kInvalid,
                 absl::StrCat("resource.table: expected catalog.schema.table, got \"", bad, "\"")));
  }

  r = DomainAccess("sales");
  r.resource.columns.assign(kMaxRequestColumns + 1, "c");
  EXPECT_TRUE(StatusIs(ValidateRequest(r, nullptr), kInvalid,
                       "resource.columns: 10001 columns, over the limit of 10000"));
  r.resource.columns.resize(kMaxRequestColumns);
  EXPECT_TRUE(IsOk(ValidateRequest(r, nullptr)));

  r = DomainAccess("sales");
  r.resource = ResourceRef();
  r.resource.type = "document";
  EXPECT_TRUE(StatusIs(ValidateRequest(r, nullptr), kInvalid,
                       "resource.id: required for a resource of type \"document\""));
  r.resource.id = "doc-1";
  r.resource.domain = "sales";
  EXPECT_TRUE(StatusIs(ValidateRequest(r, nullptr), kInvalid,
                       "resource: a resource of type \"document\" has no catalog owner"));
}

TEST(ValidateRequestTest, DocumentErrorsNameTheField) {
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  ProductRequest p;
  EXPECT_TRUE(StatusIs(ValidateRequest(p, nullptr), kInvalid,
                       "product: expected a document (a map), got nothing"));
  p.product = Value("orders");
  EXPECT_TRUE(StatusIs(ValidateRequest(p, nullptr), kInvalid,
                       "product: expected a document (a map), got a scalar"));

  DeploymentRequest d = Deployment();
  d.previous = Value::EmptyList();
  EXPECT_TRUE(StatusIs(ValidateRequest(d, nullptr), kInvalid,
                       "previous: expected a document (a map), got a list"));
  d = Deployment();
  d.contracts = {Value::EmptyMap(), Value(1)};
  EXPECT_TRUE(StatusIs(ValidateRequest(d, nullptr), kInvalid,
                       "contracts[1]: expected a document (a map), got a scalar"));
  d = Deployment();
  d.previous_contracts = {Value()};
  EXPECT_TRUE(StatusIs(ValidateRequest(d, nullptr), kInvalid,
                       "previous_contracts[0]: expected a document (a map), got nothing"));
  d = Deployment();
  d.environment.clear();
  EXPECT_TRUE(StatusIs(ValidateRequest(d, nullptr), kInvalid, "environment: required"));
}

// --- resolve ---

TEST(ResolveRequestTest, ATableResolvesToItsProductAndDomain) {
  Catalog catalog = MakeCatalog();
  // Names compare case-insensitively, as in Trino.
  Request req = TableAccess("HIVE.Sales.Orders");
  absl::StatusOr<ResolvedRequest> r = ResolveRequest(req, catalog);
  ASSERT_TRUE(IsOk(r));
  EXPECT_EQ(r->domain, "sales");
  EXPECT_EQ(r->product_name, "orders");  // from the catalog: the request named no product
  ASSERT_NE(r->product, nullptr);
  EXPECT_EQ(r->product, catalog.FindProductEntry("orders"));
  ASSERT_NE(r->table, nullptr);
  EXPECT_EQ(r->table, catalog.FindTable("hive.sales.orders"));
  ASSERT_NE(r->table->table, nullptr);
  EXPECT_EQ(r->table->table->GetString("name"), "orders");

  // A table of a known schema that the port does not list: owned, but without an entry.
  req = TableAccess("hive.sales.returns");
  r = ResolveRequest(req, catalog);
  ASSERT_TRUE(IsOk(r));
  EXPECT_EQ(r->domain, "sales");
  EXPECT_EQ(r->product_name, "orders");
  ASSERT_NE(r->table, nullptr);
  EXPECT_EQ(r->table->table, nullptr);
}

// FindTable lower-cases eight bytes at a time: every byte at every place of a name, in the
// words and in the tail, is lower-cased as absl::ascii_tolower does it (ASCII letters only:
// the table's name holds every letter, the bytes next to the letters' ranges and a byte of
// what a letter's bit 7 would make (U+20AC is E2 82 AC), so a byte lower-cased wrongly either
// misses it or hits it), and a name needs three non-empty parts.
TEST(ResolveRequestTest, FindTableLowerCasesAsciiLettersOnlyAndWantsThreeParts) {
  constexpr char kTable[] = "\u20acabcdefghijklmnopqrstuvwxyz`{@[_09\u20ac";
  const std::string yaml = absl::StrCat(R"(metadata: {name: letters, domain: sales}
spec:
  outputPorts:
    - type: sql
      catalog: hive
      schema: sales
      tables:
        - name: ")",
                                        kTable, "\"\n");
  absl::StatusOr<Value> tree = ParseYaml(yaml, "catalog/products/letters.yaml");
  ASSERT_TRUE(IsOk(tree));
  std::vector<Catalog::Document> products;
  products.push_back({"catalog/products/letters.yaml", std::make_shared<const Value>(*tree)});
  std::vector<std::string> errors;
  Catalog catalog = Catalog::Build(std::move(products), {}, errors);
  ASSERT_TRUE(errors.empty()) << absl::StrJoin(errors, "\n");
  const std::string listed = absl::StrCat("hive.sales.", kTable);
  const Catalog::TableEntry* table = catalog.FindTable(listed);
  const Catalog::TableEntry* schema = catalog.FindTable("hive.sales.unlisted");
  ASSERT_NE(table, nullptr);
  ASSERT_NE(schema, nullptr);
  ASSERT_NE(table, schema);
  // What FindTable answers for `name`, by the byte-at-a-time rule.
  auto expected = [&](const std::string& name) -> const Catalog::TableEntry* {
    std::string lower = absl::AsciiStrToLower(name);
    std::vector<std::string> parts = absl::StrSplit(lower, '.');
    if (parts.size() != 3) return nullptr;
    for (const std::string& part : parts) {
      if (part.empty()) return nullptr;
    }
    if (lower == listed) return table;
    return parts[0] == "hive" && parts[1] == "sales" ? schema : nullptr;
  };
  for (const std::string& base :
       std::vector<std::string>{listed, absl::AsciiStrToUpper(listed),
                                std::string("hive.sales.") + std::string(300, 'T')}) {
    SCOPED_TRACE(base.substr(0, 48));
    EXPECT_EQ(catalog.FindTable(base), expected(base));
    for (size_t k = 0; k < std::min<size_t>(base.size(), 64); ++k) {
      for (int b = 0; b < 256; ++b) {
        std::string name = base;
        name[k] = static_cast<char>(b);
        ASSERT_EQ(catalog.FindTable(name), expected(name)) << "byte " << b << " at " << k;
      }
    }
  }
  for (const std::string bad : {"", ".", "..", "hive.sales", ".hive.sales.x", "hive..x",
                                "hive.sales.", "hive.sales.x.", "hive.sales.x.y"}) {
    EXPECT_EQ(catalog.FindTable(bad), nullptr) << bad;
  }
}

TEST(ResolveRequestTest, AProductResolvesByName) {
  Catalog catalog = MakeCatalog();
  Request req = DomainAccess("sales");
  AccessRequest& a = std::get<AccessRequest>(req);
  a.resource.product = "orders";
  absl::StatusOr<ResolvedRequest> r = ResolveRequest(req, catalog);
  ASSERT_TRUE(IsOk(r));
  EXPECT_EQ(r->domain, "sales");
  EXPECT_EQ(r->product_name, "orders");
  EXPECT_EQ(r->product, catalog.FindProductEntry("orders"));
  EXPECT_EQ(r->table, nullptr);
}

TEST(ResolveRequestTest, AnUnknownResourceHasNoOwnerWhateverTheRequestSays) {
  Catalog catalog = MakeCatalog();
  Request req = TableAccess("hive.finance.ledger");
  AccessRequest& a = std::get<AccessRequest>(req);
  a.resource.domain = "finance";  // not trusted for ownership
  absl::StatusOr<ResolvedRequest> r = ResolveRequest(req, catalog);
  ASSERT_TRUE(IsOk(r));
  EXPECT_EQ(r->domain, "");
  EXPECT_EQ(r->product, nullptr);
  EXPECT_EQ(r->table, nullptr);

  a = DomainAccess("finance");  // product finance-data: not in this catalog
  a.resource.domain = "finance";
  r = ResolveRequest(req, catalog);
  ASSERT_TRUE(IsOk(r));
  EXPECT_EQ(r->domain, "");
  EXPECT_EQ(r->product, nullptr);
  EXPECT_EQ(r->product_name, "finance-data");  // the request's name, as it said it
}

TEST(ResolveRequestTest, ARequestMayConfirmTheOwnerButNotContradictIt) {
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  Catalog catalog = MakeCatalog();
  Request req = TableAccess("hive.sales.orders");
  AccessRequest& a = std::get<AccessRequest>(req);
  a.resource.domain = "sales";
  a.resource.product = "orders";
  EXPECT_TRUE(IsOk(ResolveRequest(req, catalog)));
  a.resource.domain = "marketing";
  EXPECT_TRUE(StatusIs(ResolveRequest(req, catalog), kInvalid,
                       "resource.domain: table hive.sales.orders belongs to domain sales, not "
                       "marketing"));
  a.resource.domain.clear();
  a.resource.product = "leads";
  EXPECT_TRUE(StatusIs(ResolveRequest(req, catalog), kInvalid,
                       "resource.product: table hive.sales.orders belongs to product orders, not "
                       "leads"));
  a = DomainAccess("sales");
  a.resource.product = "orders";
  a.resource.domain = "marketing";
  EXPECT_TRUE(StatusIs(ResolveRequest(req, catalog), kInvalid,
                       "resource.domain: product orders belongs to domain sales, not marketing"));
}

TEST(ResolveRequestTest, DocumentsAreOwnedByTheirDescriptorsDomain) {
  Catalog catalog = MakeCatalog();
  Request req = ProductRequest();
  ProductRequest& p = std::get<ProductRequest>(req);
  p.product = Descriptor("marketing");  // the catalog's `orders` is sales': not asked
  absl::StatusOr<ResolvedRequest> r = ResolveRequest(req, catalog);
  ASSERT_TRUE(IsOk(r));
  EXPECT_EQ(r->domain, "marketing");
  EXPECT_EQ(r->product, nullptr);
  p.product = Descriptor("");
  r = ResolveRequest(req, catalog);
  ASSERT_TRUE(IsOk(r));
  EXPECT_EQ(r->domain, "");
  // The descriptor rule (service/descriptor): an ODCS document's top-level domain.
  p.product = Value::Map{{"name", Value("orders")}, {"domain", Value("finance")}};
  r = ResolveRequest(req, catalog);
  ASSERT_TRUE(IsOk(r));
  EXPECT_EQ(r->domain, "finance");
  const Request deployment = Deployment();
  r = ResolveRequest(deployment, catalog);
  ASSERT_TRUE(IsOk(r));
  EXPECT_EQ(r->domain, "sales");
}

// --- tree ---

TEST(RequestTreeTest, AnAccessRequestSharesTheCatalogsTreesAndTheBatchsPrincipal) {
  Catalog catalog = MakeCatalog();
  Request req = TableAccess("hive.sales.orders");
  AccessRequest& a = std::get<AccessRequest>(req);
  a.principal.id = "not-used";  // the shared principal stands for it
  a.resource.columns = {"ID", "nope"};
  a.context = {{"ip", "10.0.0.1"}};
  Principal ana;
  ana.id = "ana";
  ana.roles = {"analyst"};
  SharedPrincipal shared(ana);
  absl::StatusOr<ResolvedRequest> resolved = ResolveRequest(req, catalog);
  ASSERT_TRUE(IsOk(resolved));

  Value tree = RequestTree(req, &shared, *resolved);
  EXPECT_EQ(Keys(tree), (std::vector<std::string>{"kind", "domain", "principal", "action",
                                                  "context", "resource", "product", "table"}));
  EXPECT_EQ(tree.GetString("kind"), "access");
  EXPECT_EQ(tree.GetString("domain"), "sales");
  EXPECT_EQ(tree.GetString("action"), "read");
  EXPECT_EQ(tree.Find("context")->GetString("ip"), "10.0.0.1");
  // The very tree SharedPrincipal built once, not a copy.
  EXPECT_EQ(&tree.Find("principal")->Get(), shared.value().get());
  EXPECT_EQ(tree.FindPath({"principal", "id"})->as_string(), "ana");

  const Value& resource = *tree.Find("resource");
  EXPECT_EQ(Keys(resource), (std::vector<std::string>{"domain", "product", "table", "type", "id",
                                                      "columns", "unknown_columns"}));
  EXPECT_EQ(resource.GetString("domain"), "sales");
  EXPECT_EQ(resource.GetString("product"), "orders");
  EXPECT_EQ(resource.GetString("table"), "hive.sales.orders");
  EXPECT_EQ(resource.GetString("type"), "table");
  EXPECT_EQ(resource.GetString("id"), "hive.sales.orders");
  // A listed column is the catalog's entry itself; an unlisted one only its name, and listed
  // as unknown.
  const Value::List& columns = resource.Find("columns")->as_list();
  ASSERT_EQ(columns.size(), 2u);
  EXPECT_EQ(&columns[0].Get(), resolved->table->columns.at("id"));
  EXPECT_EQ(columns[0].GetString("type"), "bigint");
  EXPECT_EQ(columns[1], Value(Value::Map{{"name", Value("nope")}}));
  EXPECT_EQ(*resource.Find("unknown_columns"), Value(Value::List{Value("nope")}));

  EXPECT_EQ(&tree.Find("product")->Get(), resolved->product->tree.get());
  EXPECT_EQ(&tree.Find("table")->Get(), resolved->table->table.get());
}

// A batch's shared context entries and a check's own make one req.context, in key order: an
// own entry replaces a shared one of its key, and a JSON-valued one replaces either.
TEST(RequestTreeTest, SharedAndOwnContextEntriesMakeOneContextInKeyOrder) {
  Catalog catalog = MakeCatalog();
  Request req = TableAccess("hive.sales.orders");
  AccessRequest& a = std::get<AccessRequest>(req);
  a.shared_context = std::make_shared<ContextMap>(ContextMap{
      {"catalog", "hive"}, {"operation", "FilterTables"}, {"table", "shared"}, {"zone", "z"}});
  a.context = {{"column", "id"}, {"table", "orders"}, {"zz", "last"}};
  absl::StatusOr<ResolvedRequest> resolved = ResolveRequest(req, catalog);
  ASSERT_TRUE(IsOk(resolved));

  EXPECT_EQ(RequestTree(req, nullptr, *resolved).Find("context")->ToJson(),
            R"({"catalog":"hive","column":"id","operation":"FilterTables","table":"orders",)"
            R"("zone":"z","zz":"last"})");
  EXPECT_EQ(ContextEntryCount(a), 6u);
  EXPECT_EQ(ContextEntries(a), (ContextMap{{"catalog", "hive"},
                                           {"column", "id"},
                                           {"operation", "FilterTables"},
                                           {"table", "orders"},
                                           {"zone", "z"},
                                           {"zz", "last"}}));

  a.context_values = Value::Map{{"operation", Value(int64_t{1})}};
  EXPECT_EQ(RequestTree(req, nullptr, *resolved).Find("context")->ToJson(),
            R"({"catalog":"hive","column":"id","table":"orders","zone":"z","zz":"last",)"
            R"("operation":1})");

  a.context.clear();  // the shared entries alone
  a.context_values = Value();
  EXPECT_EQ(RequestTree(req, nullptr, *resolved).Find("context")->ToJson(),
            R"({"catalog":"hive","operation":"FilterTables","table":"shared","zone":"z"})");
  EXPECT_EQ(ContextEntryCount(a), 4u);
}

// Every entry an access request can put in `req`, in order, written out: the tree is built in
// place (subtrees added empty, then filled) and must come out exactly as documented.
TEST(RequestTreeTest, AnAccessRequestsOwnTreeInFull) {
  Catalog catalog = MakeCatalog();
  Request req = TableAccess("hive.sales.orders");
  AccessRequest& a = std::get<AccessRequest>(req);
  a.principal.groups = {"everyone", "sales"};
  a.principal.domain = "sales";
  a.principal.attributes = {{"region", "EU"}, {"level", "3"}};
  a.principal.type = "user";
  a.principal.properties = Value::Map{{"team", Value("crm")}};
  a.resource.columns = {"Email", "id", "gone"};
  a.resource.properties = Value::Map{{"sensitivity", Value(int64_t{2})}};
  a.context = {{"ip", "10.0.0.1"}, {"query_id", "q1"}};
  a.context_values = Value::Map{{"ip", Value(Value::List{Value("10.0.0.2")})}};
  a.action_properties = Value::Map{{"method", Value("select")}};
  absl::StatusOr<ResolvedRequest> resolved = ResolveRequest(req, catalog);
  ASSERT_TRUE(IsOk(resolved));

  Value tree = RequestTree(req, nullptr, *resolved);
  EXPECT_EQ(Keys(tree),
            (std::vector<std::string>{"kind", "domain", "principal", "action", "context",
                                      "action_properties", "resource", "product", "table"}));
  EXPECT_EQ(tree.Find("principal")->ToJson(),
            R"({"id":"ana","roles":["analyst"],"groups":["everyone","sales"],"domain":"sales",)"
            R"("attributes":{"level":"3","region":"EU"},"type":"user",)"
            R"("properties":{"team":"crm"}})");
  // The string entries the JSON-valued ones do not replace, then the JSON-valued ones.
  EXPECT_EQ(tree.Find("context")->ToJson(), R"({"query_id":"q1","ip":["10.0.0.2"]})");
  EXPECT_EQ(tree.Find("action_properties")->ToJson(), R"({"method":"select"})");
  EXPECT_EQ(tree.Find("resource")->ToJson(),
            R"({"domain":"sales","product":"orders","table":"hive.sales.orders",)"
            R"("type":"table","id":"hive.sales.orders","properties":{"sensitivity":2},)"
            R"("columns":[{"name":"email","type":"varchar","pii":true},)"
            R"({"name":"id","type":"bigint"},{"name":"gone"}],"unknown_columns":["gone"]})");
}

TEST(RequestTreeTest, AnUncataloguedResourceHasNoProductTableOrUnknownColumns) {
  Catalog catalog = MakeCatalog();
  Request req = TableAccess("hive.finance.ledger");
  AccessRequest& a = std::get<AccessRequest>(req);
  a.resource.columns = {"amount"};
  absl::StatusOr<ResolvedRequest> resolved = ResolveRequest(req, catalog);
  ASSERT_TRUE(IsOk(resolved));
  Value tree = RequestTree(req, nullptr, *resolved);
  EXPECT_EQ(tree.Find("product"), nullptr);
  EXPECT_EQ(tree.Find("table"), nullptr);
  EXPECT_EQ(tree.GetString("domain"), "");
  // Without a shared principal, the request's own.
  EXPECT_EQ(tree.FindPath({"principal", "id"})->as_string(), "ana");
  EXPECT_EQ(*tree.FindPath({"principal", "roles"}), Value(Value::List{Value("analyst")}));
  EXPECT_EQ(*tree.FindPath({"resource", "columns"}),
            Value(Value::List{Value(Value::Map{{"name", Value("amount")}})}));
  // Nothing is known about the table, so no column of it is "unknown".
  EXPECT_EQ(tree.FindPath({"resource", "unknown_columns"})->size(), 0u);
}

TEST(RequestTreeTest, DocumentRequestsCarryTheirDocuments) {
  Catalog catalog = MakeCatalog();
  Request req = ProductRequest();
  ProductRequest& p = std::get<ProductRequest>(req);
  p.product = Descriptor("sales");
  p.requester.id = "ci";
  Value tree = RequestTree(req, nullptr, *ResolveRequest(req, catalog));
  EXPECT_EQ(Keys(tree),
            (std::vector<std::string>{"kind", "domain", "product", "operation", "requester"}));
  EXPECT_EQ(tree.GetString("operation"), "register");
  EXPECT_EQ(*tree.Find("product"), p.product);

  DeploymentRequest d = Deployment();
  d.pipeline = {{"commit", "abc"}};
  const Request deployment = d;
  tree = RequestTree(deployment, nullptr, *ResolveRequest(deployment, catalog));
  // `change` comes from its own step.
  EXPECT_EQ(Keys(tree), (std::vector<std::string>{"kind", "domain", "product", "contracts",
                                                  "previous_contracts", "environment", "pipeline",
                                                  "requester"}));
  EXPECT_EQ(tree.GetString("kind"), "deployment");
  EXPECT_EQ(tree.GetString("domain"), "sales");
  EXPECT_EQ(tree.Find("pipeline")->GetString("commit"), "abc");
}

// Bundle::Evaluate rebuilds one tree in place per worker set (FillRequestTree): whatever the
// tree held before, the result is the tree RequestTree builds, key order included; and a
// request shaped like the one before reuses the tree's storage rather than allocating it again.
TEST(RequestTreeTest, ATreeRebuiltInPlaceEqualsOneBuiltAnew) {
  Catalog catalog = MakeCatalog();
  Principal ana;
  ana.id = "ana";
  ana.roles = {"analyst", "auditor"};
  SharedPrincipal shared(ana);

  std::vector<Request> requests;
  std::vector<const SharedPrincipal*> principals;
  auto add = [&](Request r, const SharedPrincipal* p = nullptr) {
    requests.push_back(std::move(r));
    principals.push_back(p);
  };
  Request plain = TableAccess("hive.sales.orders");
  std::get<AccessRequest>(plain).resource.columns = {"id", "EMAIL", "gone"};
  std::get<AccessRequest>(plain).context = {{"ip", "10.0.0.1"}, {"query_id", "a long query id"}};
  add(plain);
  add(plain);             // the same again: everything reused
  Request other = plain;  // other strings and fewer columns and groups, the same shape
  AccessRequest& o = std::get<AccessRequest>(other);
  o.principal.id = "a principal id longer than the small-string buffer";
  o.principal.groups = {};
  o.resource.columns = {"email"};
  o.context = {{"ip", "10.0.0.2"}};
  add(other);
  add(plain, &shared);   // a shared principal where the own one was
  add(plain);            // and back
  Request rich = plain;  // entries added in the middle
  AccessRequest& r = std::get<AccessRequest>(rich);
  r.principal.type = "user";
  r.principal.properties = Value::Map{{"team", Value("crm")}};
  r.principal.attributes = {{"region", "EU"}};
  r.action_properties = Value::Map{{"method", Value("select")}};
  r.context_values = Value::Map{{"ip", Value(Value::List{Value("10.0.0.3")})}};
  r.resource.properties = Value::Map{{"sensitivity", Value(int64_t{2})}};
  add(rich);
  add(plain);
  Request split = plain;  // the same entries, some of them shared by a batch
  std::get<AccessRequest>(split).context = {{"ip", "10.0.0.1"}};
  std::get<AccessRequest>(split).shared_context =
      std::make_shared<ContextMap>(ContextMap{{"query_id", "a long query id"}, {"zone", "z"}});
  add(split);
  add(plain);
  add(TableAccess("hive.finance.ledger"));  // uncatalogued: no product, no table
  Request product = ProductRequest();
  std::get<ProductRequest>(product).product = Descriptor("sales");
  add(product);
  add(Deployment());
  add(plain);

  Value tree;
  for (size_t i = 0; i < requests.size(); ++i) {
    SCOPED_TRACE(i);
    absl::StatusOr<ResolvedRequest> resolved = ResolveRequest(requests[i], catalog);
    ASSERT_TRUE(IsOk(resolved));
    Value fresh = RequestTree(requests[i], principals[i], *resolved);
    const Value* columns_before = nullptr;
    const std::string* id_before = nullptr;
    if (i == 1) {
      columns_before = tree.FindPath({"resource", "columns"})->as_list().data();
      id_before = &tree.FindPath({"resource", "id"})->as_string();
    }
    FillRequestTree(requests[i], principals[i], *resolved, tree);
    EXPECT_EQ(tree, fresh);
    EXPECT_EQ(tree.ToJson(), fresh.ToJson());  // key order too
    if (i == 1) {
      // The same shape: the same storage, the long string rewritten in its own buffer.
      EXPECT_EQ(tree.FindPath({"resource", "columns"})->as_list().data(), columns_before);
      EXPECT_EQ(tree.FindPath({"resource", "id"})->as_string().data(), id_before->data());
    }
    if (principals[i] != nullptr) {
      EXPECT_EQ(&tree.Find("principal")->Get(), shared.value().get());
    }
    const auto* access = std::get_if<AccessRequest>(&requests[i]);
    if (access != nullptr && resolved->table != nullptr && !access->resource.columns.empty() &&
        access->resource.columns[0] == "id") {
      // Listed columns are still the catalog's entries themselves.
      EXPECT_EQ(&tree.FindPath({"resource", "columns"})->as_list()[0].Get(),
                resolved->table->columns.at("id"));
    }
  }
}

// A rebuilt tree keeps a column's entry from the request before only when the lookup would
// find it again: another table's entry of the same name, or a column whose name differs from
// the entry's (in case), goes through the catalog's index. Checked by address: two tables'
// entries of the same name can be equal as values.
TEST(RequestTreeTest, ARebuiltTreesColumnsAreTheRequestedTablesEntries) {
  constexpr char kTwoTables[] = R"(metadata: {name: orders, domain: sales}
spec:
  outputPorts:
    - type: sql
      catalog: hive
      schema: sales
      tables:
        - name: orders
          columns:
            - {name: id, type: bigint}
            - {name: Email, type: varchar, pii: true}
            - {name: email, type: varchar}
            - {type: int, name: qty}
        - name: returns
          columns:
            - {name: id, type: bigint}
            - {name: Email, type: varchar, pii: true}
)";
  std::vector<Catalog::Document> products;
  absl::StatusOr<Value> yaml = ParseYaml(kTwoTables, "catalog/products/orders.yaml");
  ASSERT_TRUE(IsOk(yaml));
  products.push_back({"catalog/products/orders.yaml", std::make_shared<const Value>(*yaml)});
  std::vector<std::string> errors;
  Catalog catalog = Catalog::Build(std::move(products), {}, errors);
  ASSERT_TRUE(errors.empty()) << absl::StrJoin(errors, "\n");

  struct Case {
    const char* table;
    std::vector<std::string> columns;
  };
  const std::vector<Case> cases = {
      {"hive.sales.orders", {"id", "Email", "email"}},
      {"hive.sales.orders", {"id", "Email", "email"}},   // the same: every entry kept
      {"hive.sales.returns", {"id", "Email", "email"}},  // same names, the other table's
      {"hive.sales.orders", {"id", "email", "Email"}},   // "email" finds the first, Email
      {"hive.sales.orders", {"ID", "EMAIL", "nope"}},
      {"hive.sales.returns", {"id", "Email"}},
      {"hive.sales.returns", {"id", "Email"}},
      {"hive.sales.orders", {"qty", "id"}},  // an entry whose name is not its first key
      {"hive.sales.orders", {"qty", "id"}},
      {"hive.sales.orders", {"QTY", "qty"}},
  };
  Value tree;
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(i);
    Request req = TableAccess(cases[i].table);
    std::get<AccessRequest>(req).resource.columns = cases[i].columns;
    absl::StatusOr<ResolvedRequest> resolved = ResolveRequest(req, catalog);
    ASSERT_TRUE(IsOk(resolved));
    ASSERT_NE(resolved->table, nullptr);
    FillRequestTree(req, nullptr, *resolved, tree);
    EXPECT_EQ(tree, RequestTree(req, nullptr, *resolved));
    const Value::List& columns = tree.FindPath({"resource", "columns"})->as_list();
    ASSERT_EQ(columns.size(), cases[i].columns.size());
    for (size_t k = 0; k < columns.size(); ++k) {
      auto it = resolved->table->columns.find(absl::AsciiStrToLower(cases[i].columns[k]));
      if (it == resolved->table->columns.end()) {
        EXPECT_EQ(columns[k].shared_target(), nullptr) << cases[i].columns[k];
      } else {
        EXPECT_EQ(&columns[k].Get(), it->second) << cases[i].columns[k];
      }
    }
  }
}

// --- change ---

constexpr char kPreviousContract[] = R"(id: orders
models:
  orders:
    fields:
      id: {type: string}
      status: {type: string}
)";
constexpr char kContract[] = R"(id: orders
models:
  orders:
    fields:
      id: {type: string}
)";

DeploymentRequest RemovesAField() {
  DeploymentRequest d = Deployment();
  d.previous = d.product;
  d.previous_contracts.push_back(*ParseYaml(kPreviousContract, "previous.yaml"));
  d.contracts.push_back(*ParseYaml(kContract, "contract.yaml"));
  return d;
}

TEST(RequestChangeTest, ADeploymentsChangeIsClassifiedWithLines) {
  Value change = RequestChange(RemovesAField(), DefaultDiffRuleClasses(), nullptr);
  ASSERT_TRUE(change.is_map());
  ASSERT_EQ(change.Find("breaking")->size(), 1u);
  const Value& removed = change.Find("breaking")->as_list()[0];
  EXPECT_EQ(removed.GetString("rule"), "field_removed");
  EXPECT_EQ(removed.GetString("document"), "contract:orders");
  // From the parser's positions: a removed field's line is its model's in the current contract.
  ASSERT_NE(removed.Find("line"), nullptr);
  EXPECT_EQ(removed.Find("line")->as_int(), 3);
  EXPECT_EQ(change.Find("impact"), nullptr);

  // The bundle's classes decide.
  DiffRuleClasses looser = DefaultDiffRuleClasses();
  looser[static_cast<size_t>(DiffRule::kFieldRemoved)] = ChangeClass::kInfo;
  change = RequestChange(RemovesAField(), looser, nullptr);
  EXPECT_EQ(change.Find("breaking")->size(), 0u);
  ASSERT_EQ(change.Find("info")->size(), 1u);
  EXPECT_EQ(change.Find("info")->as_list()[0].GetString("rule"), "field_removed");
}

TEST(RequestChangeTest, TheCallersImpactJoinsTheChange) {
  DeploymentRequest d = RemovesAField();
  int calls = 0;
  auto impact = [&](const DeploymentRequest& got, const Value& change) -> Value {
    ++calls;
    EXPECT_EQ(&got, &d);
    EXPECT_EQ(change.Find("breaking")->size(), 1u);  // called with the computed change
    return Value::Map{{"consumers", Value(3)}};
  };
  Value change = RequestChange(d, DefaultDiffRuleClasses(), impact);
  EXPECT_EQ(calls, 1);
  ASSERT_NE(change.Find("impact"), nullptr);
  EXPECT_EQ(change.FindPath({"impact", "consumers"})->as_int(), 3);

  // A null answer adds nothing.
  change = RequestChange(d, DefaultDiffRuleClasses(),
                         [](const DeploymentRequest&, const Value&) { return Value(); });
  EXPECT_EQ(change.Find("impact"), nullptr);
}

}  // namespace
}  // namespace arbiter
