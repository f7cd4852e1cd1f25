#include "service/diff/schema_diff.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "service/value/parse.h"

namespace arbiter {
namespace {

// The seed's data-contract.yaml (customer-transactions), the base every contract case mutates.
constexpr absl::string_view kAvroContract = R"yaml(
apiVersion: datacontract/v1
kind: DataContract
metadata:
  name: customer-transactions-contract
  version: 1.2.0
  owner: sales-data-team
producer:
  domain: sales
  dataProduct: customer-transactions
schema:
  type: avro
  specification: |
    {
      "type": "record",
      "name": "CustomerTransaction",
      "namespace": "com.company.sales",
      "fields": [
        {"name": "transaction_id", "type": "string"},
        {"name": "customer_id", "type": "string"},
        {"name": "transaction_date", "type": "long", "logicalType": "timestamp-millis"},
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
        {"name": "currency", "type": "string"},
        {"name": "channel", "type": {"type": "enum", "name": "Channel", "symbols": ["WEB", "MOBILE", "STORE", "API"]}}
      ]
    }
slos:
  freshness:
    description: Time from transaction occurrence to availability
    target: 15m
    measurement: max_latency_p99
  completeness:
    target: 99.9%
  accuracy:
    target: 99.5%
quality:
  rules:
    - column: transaction_id
      check: unique
    - column: amount
      check: not_null
    - column: customer_id
      check: regex
      pattern: "^CUS-[A-Z0-9]{8}$"
)yaml";

// An ODCS v3 contract: schema as a list of models with properties.
constexpr absl::string_view kOdcsContract = R"yaml(
apiVersion: v3.0.0
kind: DataContract
id: orders-contract
name: orders-contract
version: 1.0.0
schema:
  - name: orders
    description: All orders
    properties:
      - name: order_id
        logicalType: string
        required: true
        unique: true
        primaryKey: true
      - name: customer_email
        logicalType: string
        format: email
        classification: restricted
        pii: true
      - name: total
        logicalType: number
        physicalType: decimal(10,2)
        required: true
      - name: customer_id
        logicalType: string
        references: customers.customer_id
      - name: lines
        logicalType: array
        items:
          logicalType: object
          properties:
            - name: sku
              logicalType: string
            - name: quantity
              logicalType: integer
)yaml";

// A datacontract.com contract: models → fields maps.
constexpr absl::string_view kModelsContract = R"yaml(
dataContractSpecification: 1.1.0
id: payments-contract
info:
  title: payments-contract
  version: 1.0.0
  description: Card payments
models:
  payments:
    description: One row per payment
    type: table
    fields:
      payment_id:
        type: string
        required: true
        unique: true
        primaryKey: true
      card_holder:
        type: string
        pii: true
        classification: confidential
      status:
        type: string
        enum: [PENDING, SETTLED, FAILED]
      amount:
        type: decimal
        required: true
      address:
        type: object
        fields:
          street:
            type: string
          zip:
            type: string
)yaml";

// The seed's data-product.yaml (customer-360), with tables under its sql port.
constexpr absl::string_view kProduct = R"yaml(
apiVersion: datamesh/v1
kind: DataProduct
metadata:
  name: customer-360
  domain: sales
  owner: sales-data-team
  version: 2.1.0
spec:
  description: Unified customer view
  classification:
    type: aggregate
    tier: gold
    pii: true
  outputPorts:
    - name: sql-access
      type: sql
      engine: trino
      catalog: customer_analytics
      schema: customer_360
      tables:
        - name: customers
          columns:
            - {name: customer_id, type: varchar}
            - {name: email, type: varchar, pii: true, tags: [contact]}
            - {name: segment, type: varchar}
    - name: api-access
      type: rest
      endpoint: /api/v2/customers
      authentication: oauth2
    - name: stream-access
      type: kafka
      topic: customer.360.events
      format: avro
  slos:
    freshness:
      target: 4h
      measurement: last_updated_timestamp
    completeness:
      target: 99.5%
  governance:
    dataClassification: confidential
    retentionPeriod: 7y
    accessControl:
      - role: sales-analysts
        permissions: [read]
)yaml";

using Edits = std::vector<std::pair<std::string, std::string>>;

// Applies each edit once; an edit whose text is missing is a broken test case.
std::string Apply(absl::string_view base, const Edits& edits) {
  std::string text(base);
  for (const auto& [from, to] : edits) {
    size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << "edit target not in fixture: " << from;
    if (at != std::string::npos) text.replace(at, from.size(), to);
  }
  return text;
}

Value Yaml(absl::string_view text) {
  absl::StatusOr<Value> v = ParseYaml(text, "test");
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : Value();
}

// "<class> <rule> <path>" for every change, in the order the diff gives them.
std::vector<std::string> Summary(const ChangeSet& cs) {
  std::vector<std::string> out;
  for (const Change& c : cs.breaking) out.push_back(absl::StrCat("breaking ", c.rule, " ", c.path));
  for (const Change& c : cs.warnings) out.push_back(absl::StrCat("warning ", c.rule, " ", c.path));
  for (const Change& c : cs.info) out.push_back(absl::StrCat("info ", c.rule, " ", c.path));
  return out;
}

struct DiffCase {
  std::string name;
  Edits old_edits;  // applied to the base to make the previous version
  Edits new_edits;  // applied to the base to make the current version
  std::vector<std::string> want;
};

using DiffFn = ChangeSet (*)(const Value&, const Value&, const DiffRuleClasses&);

void RunCases(absl::string_view base, DiffFn diff, const std::vector<DiffCase>& cases) {
  for (const DiffCase& c : cases) {
    SCOPED_TRACE(c.name);
    Value previous = Yaml(Apply(base, c.old_edits));
    Value current = Yaml(Apply(base, c.new_edits));
    std::vector<std::string> got = Summary(diff(previous, current, DefaultDiffRuleClasses()));
    EXPECT_EQ(got, c.want) << "got:\n  " << absl::StrJoin(got, "\n  ");
  }
}

constexpr char kCT[] = "schema.CustomerTransaction";

std::string P(absl::string_view rest) { return absl::StrCat(kCT, ".", rest); }

TEST(DiffContractsTest, AvroRules) {
  const std::string currency = R"({"name": "currency", "type": "string"})";
  const std::string customer = R"({"name": "customer_id", "type": "string"})";
  const std::string channel_symbols = R"(["WEB", "MOBILE", "STORE", "API"])";
  const std::vector<DiffCase> cases = {
      {"unchanged", {}, {}, {}},
      {"field removed", {}, {{currency + ",", ""}}, {"breaking field_removed " + P("currency")}},
      {"type changed",
       {},
       {{customer, R"({"name": "customer_id", "type": "long"})"}},
       {"breaking field_type_updated " + P("customer_id.type")}},
      {"field-level logicalType changed",
       {},
       {{"timestamp-millis", "timestamp-micros"}},
       {"breaking field_type_updated " + P("transaction_date.type")}},
      {"decimal precision changed",
       {},
       {{R"("precision": 10)", R"("precision": 12)"}},
       {"breaking field_type_updated " + P("amount.type")}},
      {"decimal scale changed",
       {},
       {{R"("scale": 2)", R"("scale": 4)"}},
       {"breaking field_type_updated " + P("amount.type")}},
      {"nullable union made non-null",
       {{currency, R"({"name": "currency", "type": ["null", "string"]})"}},
       {},
       {"breaking field_required_updated " + P("currency.required")}},
      {"field made nullable",
       {},
       {{currency, R"({"name": "currency", "type": ["null", "string"]})"}},
       {"warning field_required_relaxed " + P("currency.required")}},
      {"union branch removed",
       {{currency, R"({"name": "currency", "type": ["null", "string", "long"]})"}},
       {{currency, R"({"name": "currency", "type": ["null", "string"]})"}},
       {"breaking field_type_updated " + P("currency.type")}},
      {"union reordered",
       {{currency, R"({"name": "currency", "type": ["null", "string"]})"}},
       {{currency, R"({"name": "currency", "type": ["string", "null"]})"}},
       {}},
      {"enum symbol removed",
       {},
       {{channel_symbols, R"(["WEB", "MOBILE", "API"])"}},
       {"breaking field_enum_updated " + P("channel.symbols")}},
      {"enum symbol added",
       {},
       {{channel_symbols, R"(["WEB", "MOBILE", "STORE", "API", "KIOSK"])"}},
       {"breaking field_enum_updated " + P("channel.symbols")}},
      {"optional field added",
       {},
       {{currency,
         currency + R"(, {"name": "note", "type": ["null", "string"], "default": null})"}},
       {"info field_added " + P("note")}},
      {"required field with default added",
       {},
       {{currency, currency + R"(, {"name": "store", "type": "string", "default": "web"})"}},
       {"info field_added " + P("store")}},
      {"required field without default added",
       {},
       {{currency, currency + R"(, {"name": "store", "type": "string"})"}},
       {"breaking field_added_required " + P("store")}},
      {"doc changed",
       {},
       {{currency, R"({"name": "currency", "type": "string", "doc": "ISO 4217"})"}},
       {"info field_description_added " + P("currency.doc")}},
      {"pii mark removed",
       {{customer, R"({"name": "customer_id", "type": "string", "pii": true})"}},
       {},
       {"breaking field_pii_removed " + P("customer_id.pii")}},
      {"pii mark added",
       {},
       {{customer, R"({"name": "customer_id", "type": "string", "pii": true})"}},
       {"warning field_pii_added " + P("customer_id.pii")}},
      {"classification lowered from confidential",
       {{customer,
         R"({"name": "customer_id", "type": "string", "classification": "confidential"})"}},
       {{customer, R"({"name": "customer_id", "type": "string", "classification": "public"})"}},
       {"breaking field_classification_updated " + P("customer_id.classification")}},
      {"classification removed from restricted",
       {{customer, R"({"name": "customer_id", "type": "string", "classification": "restricted"})"}},
       {},
       {"breaking field_classification_removed " + P("customer_id.classification")}},
      {"classification raised to pii",
       {{customer, R"({"name": "customer_id", "type": "string", "classification": "internal"})"}},
       {{customer, R"({"name": "customer_id", "type": "string", "classification": "PII"})"}},
       {"breaking field_classification_updated " + P("customer_id.classification")}},
      {"classification between unprotected levels",
       {{customer, R"({"name": "customer_id", "type": "string", "classification": "public"})"}},
       {{customer, R"({"name": "customer_id", "type": "string", "classification": "internal"})"}},
       {"breaking field_classification_updated " + P("customer_id.classification")}},
      {"format changed",
       {{customer, R"({"name": "customer_id", "type": "string", "format": "uuid"})"}},
       {{customer, R"({"name": "customer_id", "type": "string", "format": "email"})"}},
       {"breaking field_format_updated " + P("customer_id.format")}},
      {"format added",
       {},
       {{customer, R"({"name": "customer_id", "type": "string", "format": "uuid"})"}},
       {"warning field_format_added " + P("customer_id.format")}},
      {"unique added",
       {},
       {{customer, R"({"name": "customer_id", "type": "string", "unique": true})"}},
       {"breaking field_unique_updated " + P("customer_id.unique")}},
      {"primary key changed",
       {},
       {{customer, R"({"name": "customer_id", "type": "string", "primaryKey": true})"}},
       {"warning field_primary_key_updated " + P("customer_id.primaryKey")}},
      {"references changed",
       {{customer, R"({"name": "customer_id", "type": "string", "references": "customers.id"})"}},
       {{customer, R"({"name": "customer_id", "type": "string", "references": "crm.id"})"}},
       {"warning field_references_updated " + P("customer_id.references")}},
      {"record renamed",
       {},
       {{R"("name": "CustomerTransaction")", R"("name": "Transaction")"}},
       {"breaking model_removed schema.CustomerTransaction",
        "info model_added schema.Transaction"}},
      {"nested record field removed",
       {{currency, currency + R"(, {"name": "address", "type": ["null", {"type": "record",
            "name": "Address", "fields": [{"name": "street", "type": "string"},
            {"name": "zip", "type": "string"}]}]})"}},
       {{currency, currency + R"(, {"name": "address", "type": ["null", {"type": "record",
            "name": "Address", "fields": [{"name": "street", "type": "string"}]}]})"}},
       {"breaking field_removed " + P("address.zip")}},
      {"enum inside an array loses a symbol",
       {{currency, currency + R"(, {"name": "tags", "type": {"type": "array", "items":
            {"type": "enum", "name": "Tag", "symbols": ["A", "B"]}}})"}},
       {{currency, currency + R"(, {"name": "tags", "type": {"type": "array", "items":
            {"type": "enum", "name": "Tag", "symbols": ["A"]}}})"}},
       {"breaking field_enum_updated " + P("tags.symbols")}},
      {"array item type changed",
       {{currency,
         currency + R"(, {"name": "ids", "type": {"type": "array", "items": "string"}})"}},
       {{currency, currency + R"(, {"name": "ids", "type": {"type": "array", "items": "long"}})"}},
       {"breaking field_type_updated " + P("ids.type")}},
      {"several changes come out ordered by path",
       {},
       {{currency + ",", ""}, {customer, R"({"name": "customer_id", "type": "long"})"}},
       {"breaking field_removed " + P("currency"),
        "breaking field_type_updated " + P("customer_id.type")}},
  };
  RunCases(kAvroContract, &DiffContracts, cases);
}

TEST(DiffContractsTest, ContractLevelRules) {
  const std::vector<DiffCase> cases = {
      {"quality rule removed",
       {},
       {{"    - column: amount\n      check: not_null\n", ""}},
       {"warning quality_rule_removed quality.rules.amount.not_null"}},
      {"quality rule added",
       {},
       {{"quality:\n  rules:\n",
         "quality:\n  rules:\n    - column: currency\n      check: not_null\n"}},
       {"info quality_rule_added quality.rules.currency.not_null"}},
      {"quality rule loosened",
       {},
       {{"^CUS-[A-Z0-9]{8}$", ".*"}},
       {"warning quality_rule_updated quality.rules.customer_id.regex"}},
      {"slo removed",
       {},
       {{"  accuracy:\n    target: 99.5%\n", ""}},
       {"warning slo_removed slos.accuracy"}},
      {"slo target changed",
       {},
       {{"target: 15m", "target: 30m"}},
       {"warning slo_updated slos.freshness.target"}},
      {"slo added",
       {},
       {{"slos:\n", "slos:\n  uniqueness:\n    target: 100%\n"}},
       {"info slo_added slos.uniqueness"}},
      {"schema type changed to protobuf",
       {},
       {{"type: avro", "type: protobuf"}},
       {"warning unparseable_schema schema.specification",
        "warning schema_type_changed schema.type"}},
      {"version alone is no change", {}, {{"version: 1.2.0", "version: 2.0.0"}}, {}},
      {"spec that is not JSON",
       {},
       {{R"("fields": [)", R"("fields": [[)"}},
       {"warning unparseable_schema schema.specification"}},
      {"spec that was not JSON before",
       {{R"("fields": [)", R"("fields": [[)"}},
       {},
       {"warning unparseable_schema schema.specification"}},
      {"fields that are not a list",
       {},
       {{R"("fields": [)", R"("fields": 5, "old_fields": [)"}},
       {"breaking field_removed " + P("amount"), "breaking field_removed " + P("channel"),
        "breaking field_removed " + P("currency"), "breaking field_removed " + P("customer_id"),
        "breaking field_removed " + P("transaction_date"),
        "breaking field_removed " + P("transaction_id"),
        "warning unparseable_schema schema.CustomerTransaction"}},
  };
  RunCases(kAvroContract, &DiffContracts, cases);
}

TEST(DiffContractsTest, OdcsRules) {
  const std::vector<DiffCase> cases = {
      {"unchanged", {}, {}, {}},
      {"property removed",
       {},
       {{"      - name: customer_id\n        logicalType: string\n"
         "        references: customers.customer_id\n",
         ""}},
       {"breaking field_removed schema.orders.customer_id"}},
      {"logical type changed",
       {},
       {{"logicalType: number", "logicalType: string"}},
       {"breaking field_type_updated schema.orders.total.logicalType"}},
      {"physical type changed",
       {},
       {{"decimal(10,2)", "decimal(12,2)"}},
       {"breaking field_physical_type_updated schema.orders.total.physicalType"}},
      {"format changed",
       {},
       {{"format: email", "format: uri"}},
       {"breaking field_format_updated schema.orders.customer_email.format"}},
      {"made required",
       {},
       {{"references: customers.customer_id",
         "references: customers.customer_id\n        required: true"}},
       {"breaking field_required_updated schema.orders.customer_id.required"}},
      {"required relaxed",
       {},
       {{"physicalType: decimal(10,2)\n        required: true", "physicalType: decimal(10,2)"}},
       {"warning field_required_relaxed schema.orders.total.required"}},
      {"unique and primary key dropped",
       {},
       {{"        unique: true\n        primaryKey: true\n", ""}},
       {"breaking field_unique_updated schema.orders.order_id.unique",
        "warning field_primary_key_updated schema.orders.order_id.primaryKey"}},
      {"pii false",
       {},
       {{"pii: true", "pii: false"}},
       {"breaking field_pii_updated schema.orders.customer_email.pii"}},
      {"classification lowered",
       {},
       {{"classification: restricted", "classification: internal"}},
       {"breaking field_classification_updated schema.orders.customer_email.classification"}},
      {"references changed",
       {},
       {{"references: customers.customer_id", "references: crm.customers.id"}},
       {"warning field_references_updated schema.orders.customer_id.references"}},
      {"nested array item property removed",
       {},
       {{"            - name: quantity\n              logicalType: integer\n", ""}},
       {"breaking field_removed schema.orders.lines.items.quantity"}},
      {"array item type changed",
       {},
       {{"items:\n          logicalType: object", "items:\n          logicalType: string"}},
       {"breaking field_type_updated schema.orders.lines.items.logicalType"}},
      {"model renamed",
       {},
       {{"  - name: orders\n", "  - name: orders_v2\n"}},
       {"breaking model_removed schema.orders", "info model_added schema.orders_v2"}},
      {"model description changed",
       {},
       {{"description: All orders", "description: Every order"}},
       {"info model_description_updated schema.orders.description"}},
      {"required property added",
       {},
       {{"    properties:\n",
         "    properties:\n      - name: region\n        logicalType: string\n"
         "        required: true\n"}},
       {"breaking field_added_required schema.orders.region"}},
      {"optional property added",
       {},
       {{"    properties:\n",
         "    properties:\n      - name: region\n        logicalType: string\n"}},
       {"info field_added schema.orders.region"}},
      {"properties that are not a list",
       {},
       {{"    properties:\n", "    properties: 7\n    ignored:\n"}},
       {"breaking field_removed schema.orders.customer_email",
        "breaking field_removed schema.orders.customer_id",
        "breaking field_removed schema.orders.lines",
        "breaking field_removed schema.orders.order_id",
        "breaking field_removed schema.orders.total", "warning unparseable_schema schema.orders"}},
  };
  RunCases(kOdcsContract, &DiffContracts, cases);
}

TEST(DiffContractsTest, DatacontractModelsRules) {
  const std::vector<DiffCase> cases = {
      {"unchanged", {}, {}, {}},
      {"field removed",
       {},
       {{"      amount:\n        type: decimal\n        required: true\n", ""}},
       {"breaking field_removed models.payments.amount"}},
      {"type changed",
       {},
       {{"type: decimal", "type: double"}},
       {"breaking field_type_updated models.payments.amount.type"}},
      {"enum value removed",
       {},
       {{"[PENDING, SETTLED, FAILED]", "[PENDING, SETTLED]"}},
       {"breaking field_enum_updated models.payments.status.enum"}},
      {"enum value added",
       {},
       {{"[PENDING, SETTLED, FAILED]", "[PENDING, SETTLED, FAILED, REFUNDED]"}},
       {"breaking field_enum_updated models.payments.status.enum"}},
      {"pii removed and classification lowered",
       {},
       {{"        pii: true\n        classification: confidential\n",
         "        classification: internal\n"}},
       {"breaking field_classification_updated models.payments.card_holder.classification",
        "breaking field_pii_removed models.payments.card_holder.pii"}},
      {"nested object field removed",
       {},
       {{"          zip:\n            type: string\n", ""}},
       {"breaking field_removed models.payments.address.zip"}},
      {"model removed",
       {{"models:\n", "models:\n  refunds:\n    fields:\n      id:\n        type: string\n"}},
       {},
       {"breaking model_removed models.refunds"}},
      {"model added",
       {},
       {{"models:\n", "models:\n  refunds:\n    fields:\n      id:\n        type: string\n"}},
       {"info model_added models.refunds"}},
      {"contract description changed",
       {},
       {{"description: Card payments", "description: Card and wallet payments"}},
       {"info description_changed info.description"}},
      {"fields as a scalar",
       {},
       {{"    fields:\n", "    fields: oops\n    old_fields:\n"}},
       {"breaking field_removed models.payments.address",
        "breaking field_removed models.payments.amount",
        "breaking field_removed models.payments.card_holder",
        "breaking field_removed models.payments.payment_id",
        "breaking field_removed models.payments.status",
        "warning unparseable_schema models.payments"}},
  };
  RunCases(kModelsContract, &DiffContracts, cases);
}

TEST(DiffContractsTest, DefinitionChangesShowAtEveryFieldThatUsesThem) {
  constexpr absl::string_view kBase = R"yaml(
dataContractSpecification: 1.1.0
id: refs
models:
  orders:
    fields:
      billing_email: {$ref: '#/definitions/email'}
      shipping_email: {$ref: '#/definitions/email', description: Where parcels go}
      note: {type: string}
definitions:
  email: {name: email, type: string, format: email, maxLength: 64}
)yaml";
  Value previous = Yaml(kBase);
  Value current = Yaml(Apply(kBase, {{"maxLength: 64", "maxLength: 32"}}));
  EXPECT_EQ(Summary(DiffContracts(previous, current)),
            (std::vector<std::string>{
                "breaking field_max_length_updated models.orders.billing_email.maxLength",
                "breaking field_max_length_updated models.orders.shipping_email.maxLength"}));
  // The field's own attributes win over the definition's.
  current =
      Yaml(Apply(kBase, {{"description: Where parcels go", "description: x, maxLength: 64"},
                         {"format: email, maxLength: 64}", "format: email, maxLength: 32}"}}));
  EXPECT_EQ(Summary(DiffContracts(previous, current)),
            (std::vector<std::string>{
                "breaking field_max_length_updated models.orders.billing_email.maxLength",
                "info field_description_updated models.orders.shipping_email.description"}));
  // A $ref to nothing is reported; the rest is still compared.
  current = Yaml(Apply(kBase, {{"$ref: '#/definitions/email'}", "$ref: '#/definitions/mail'}"},
                               {"note: {type: string}", "note: {type: text}"}}));
  EXPECT_EQ(Summary(DiffContracts(previous, current)),
            (std::vector<std::string>{
                "breaking field_type_updated models.orders.note.type",
                "warning unparseable_schema models.orders.billing_email.$ref",
                "warning field_ref_updated models.orders.billing_email.$ref",
                "warning field_format_removed models.orders.billing_email.format",
                "warning field_max_length_removed models.orders.billing_email.maxLength",
                "warning field_type_removed models.orders.billing_email.type"}));
}

TEST(DiffContractsTest, RefExpansionIsBounded) {
  std::ifstream in(std::string(ARBITER_SOURCE_DIR) + "/service/diff/testdata/ref-expansion.yaml");
  std::stringstream text;
  text << in.rdbuf();
  Value bomb = Yaml(text.str());
  ASSERT_TRUE(bomb.is_map());
  ChangeSet cs = DiffContracts(bomb, bomb);
  std::vector<std::string> got = Summary(cs);
  ASSERT_EQ(got.size(), 1u) << absl::StrJoin(got, "\n");
  EXPECT_TRUE(absl::StartsWith(got[0], "warning unparseable_schema models.m.f.")) << got[0];
  EXPECT_TRUE(
      absl::StrContains(cs.warnings[0].new_value.as_string(), "too large once $ref is expanded"));

  Value loop = Yaml(R"yaml(
models: {m: {fields: {f: {$ref: '#/definitions/a'}}}}
definitions: {a: {$ref: '#/definitions/b'}, b: {$ref: '#/definitions/a'}}
)yaml");
  got = Summary(DiffContracts(loop, loop));
  EXPECT_EQ(got, std::vector<std::string>{"warning unparseable_schema models.m.f"});
}

// Each change's `line` is the line of the key its path names in the current document, or of
// the nearest enclosing key it still has; 0 inside an Avro specification.
TEST(ComputeChangeTest, ChangesCarryTheLineOfTheirKey) {
  constexpr absl::string_view kDcs = R"yaml(dataContractSpecification: 1.1.0
id: payments
models:
  payments:
    type: table
    fields:
      id:
        type: string
        maxLength: 36
      status:
        type: string
      gone:
        type: string
)yaml";
  constexpr absl::string_view kOdcs = R"yaml(apiVersion: v3.0.2
kind: DataContract
id: 0b3e7a52
name: orders
schema:
  - name: orders
    properties:
      - name: id
        logicalType: string
        logicalTypeOptions:
          maxLength: 36
slaProperties:
  - property: latency
    value: 4
)yaml";
  std::string new_dcs = Apply(
      kDcs, {{"maxLength: 36", "maxLength: 20"}, {"      gone:\n        type: string\n", ""}});
  std::string new_odcs =
      Apply(kOdcs, {{"maxLength: 36", "maxLength: 20"}, {"value: 4", "value: 1"}});
  std::vector<Value> current;
  for (const std::string* text : {&new_dcs, &new_odcs}) {
    absl::StatusOr<Value> v = ParseYaml(*text, "test");
    ASSERT_TRUE(v.ok()) << v.status();
    current.push_back(*v);
  }
  std::string new_avro = Apply(kAvroContract, {{R"(, "STORE")", ""}});
  absl::StatusOr<Value> avro = ParseYaml(new_avro, "test");
  ASSERT_TRUE(avro.ok());
  current.push_back(*avro);
  std::vector<Value> previous = {Yaml(kDcs), Yaml(kOdcs), Yaml(kAvroContract)};
  Value product = Yaml(kProduct);
  Value change = ComputeChange(product, &product, current, previous, DefaultDiffRuleClasses(),
                               /*with_lines=*/true);
  std::vector<std::string> got;
  for (const char* cls : {"breaking", "warnings", "info"}) {
    for (const Value& c : change.Find(cls)->as_list()) {
      const Value* line = c.Find("line");
      got.push_back(absl::StrCat(c.GetString("path"), " ", line ? line->ToJson() : "-"));
    }
  }
  EXPECT_EQ(got, (std::vector<std::string>{
                     "schema.CustomerTransaction.channel.symbols -",  // Avro: the gate searches
                     "schema.orders.id.logicalTypeOptions.maxLength 11",
                     "models.payments.gone 4",  // removed: the model that lost it
                     "models.payments.id.maxLength 9",
                     "slaProperties.latency 13",
                 }))
      << absl::StrJoin(got, "\n");
}

TEST(DiffContractsTest, CarriesOldAndNewValues) {
  Value previous = Yaml(kAvroContract);
  Value current = Yaml(Apply(kAvroContract, {{R"("precision": 10)", R"("precision": 12)"}}));
  ChangeSet cs = DiffContracts(previous, current);
  ASSERT_EQ(cs.breaking.size(), 1u);
  const Change& c = cs.breaking[0];
  EXPECT_EQ(c.document, "contract:customer-transactions-contract");
  EXPECT_EQ(c.path, "schema.CustomerTransaction.amount.type");
  EXPECT_EQ(c.old_value, Value("bytes[decimal(10,2)]"));
  EXPECT_EQ(c.new_value, Value("bytes[decimal(12,2)]"));

  cs = DiffContracts(previous, Yaml(Apply(kAvroContract, {{R"(, "STORE")", ""}})));
  ASSERT_EQ(cs.breaking.size(), 1u);
  EXPECT_EQ(cs.breaking[0].old_value, Yaml(R"([WEB, MOBILE, STORE, API])"));
  EXPECT_EQ(cs.breaking[0].new_value, Yaml(R"([WEB, MOBILE, API])"));
}

TEST(DiffContractsTest, ManyFields) {
  // Matching is by name through an index: one change among thousands is found exactly once.
  auto contract = [](absl::string_view changed_type) {
    Value::Map fields;
    for (int i = 0; i < 5000; ++i) {
      Value field = Value::EmptyMap();
      field.Set("type", i == 4321 ? changed_type : "string");
      fields.emplace_back(absl::StrCat("f", i), std::move(field));
    }
    Value model = Value::EmptyMap();
    model.Set("fields", Value(std::move(fields)));
    Value doc = Value::EmptyMap();
    doc.Set("models", Value::EmptyMap()).Set("m", std::move(model));
    return doc;
  };
  EXPECT_EQ(Summary(DiffContracts(contract("string"), contract("long"))),
            std::vector<std::string>{"breaking field_type_updated models.m.f4321.type"});
}

TEST(DiffContractsTest, SpecificationMayBeAMap) {
  // Some descriptors embed the Avro schema as YAML rather than JSON text; both compare equal.
  Value previous = Yaml(kAvroContract);
  Value current = previous;
  absl::StatusOr<Value> spec =
      ParseJson(previous.FindPath({"schema", "specification"})->as_string(), "spec");
  ASSERT_TRUE(spec.ok());
  Value schema = *current.Find("schema");
  schema.Set("specification", *spec);
  current.Set("schema", schema);
  EXPECT_EQ(Summary(DiffContracts(previous, current)), std::vector<std::string>{});
}

TEST(DiffContractsTest, MalformedDocumentsNeverCrash) {
  const Value good = Yaml(kAvroContract);
  const std::vector<Value> bad = {
      Value(),
      Value("a string"),
      Value::EmptyList(),
      Yaml("schema: 5"),
      Yaml("schema: {type: avro}"),
      Yaml("schema: {type: avro, specification: '\"just a string\"'}"),
      Yaml("schema: {type: avro, specification: '[1, {\"type\": \"record\"}]'}"),
      Yaml("schema: {type: avro, specification: {type: record, name: R, fields: [{name: a}, 3, "
           "{type: string}, {name: b, type: {type: enum, symbols: 3}}, {name: c, type: {}}]}}"),
      Yaml("schema: [{name: m, properties: [{name: a, enum: 3, items: 4}, 5]}, 7, {}]"),
      Yaml("models: {m: 3, n: {fields: [1, 2]}}"),
      Yaml("models: 3"),
      Yaml("quality: {rules: {a: b}}\nslos: 3"),
      Yaml("quality: [3, {column: a}]\nslos: [{target: 1}]"),
  };
  for (const Value& b : bad) {
    SCOPED_TRACE(b.ToJson());
    ChangeSet forward = DiffContracts(good, b);
    ChangeSet backward = DiffContracts(b, good);
    ChangeSet self = DiffContracts(b, b);
    // Whatever could not be read is said so, rather than silently passing.
    if (!b.is_map()) {
      ASSERT_EQ(forward.warnings.size(), 1u);
      EXPECT_EQ(forward.warnings[0].rule, "unparseable_schema");
      EXPECT_TRUE(forward.warnings[0].new_value.is_string());
    }
    EXPECT_TRUE(self.breaking.empty());
  }
}

TEST(DiffContractsTest, UnparseableSpecReportsTheParserError) {
  Value previous = Yaml(kAvroContract);
  Value current = Yaml(Apply(kAvroContract, {{R"("type": "record",)", R"("type": "record",,)"}}));
  ChangeSet cs = DiffContracts(previous, current);
  ASSERT_EQ(cs.warnings.size(), 1u);
  EXPECT_TRUE(cs.breaking.empty());
  EXPECT_EQ(cs.warnings[0].rule, "unparseable_schema");
  ASSERT_TRUE(cs.warnings[0].new_value.is_string());
  // The parser's "<source>:<line>:<col>: " prefix names the contract.
  EXPECT_NE(cs.warnings[0].new_value.as_string().find("contract:customer-transactions-contract"),
            std::string::npos)
      << cs.warnings[0].new_value.as_string();
}

TEST(DiffProductsTest, Rules) {
  const std::vector<DiffCase> cases = {
      {"unchanged", {}, {}, {}},
      {"output port removed",
       {},
       {{"    - name: api-access\n      type: rest\n      endpoint: /api/v2/customers\n"
         "      authentication: oauth2\n",
         ""}},
       {"breaking output_port_removed spec.outputPorts.api-access"}},
      {"sql port schema changed",
       {},
       {{"schema: customer_360", "schema: customer_360_v2"}},
       {"breaking output_port_changed spec.outputPorts.sql-access.schema"}},
      {"catalog changed",
       {},
       {{"catalog: customer_analytics", "catalog: analytics"}},
       {"breaking output_port_changed spec.outputPorts.sql-access.catalog"}},
      {"endpoint changed",
       {},
       {{"endpoint: /api/v2/customers", "endpoint: /api/v3/customers"}},
       {"breaking output_port_changed spec.outputPorts.api-access.endpoint"}},
      {"topic changed",
       {},
       {{"topic: customer.360.events", "topic: customer.360.events.v2"}},
       {"breaking output_port_changed spec.outputPorts.stream-access.topic"}},
      {"port type changed",
       {},
       {{"type: kafka", "type: pubsub"}},
       {"breaking output_port_changed spec.outputPorts.stream-access.type"}},
      {"other port attribute changed",
       {},
       {{"authentication: oauth2", "authentication: none"}},
       {"warning output_port_updated spec.outputPorts.api-access.authentication"}},
      {"output port added",
       {},
       {{"  slos:\n", "    - name: graphql-access\n      type: graphql\n  slos:\n"}},
       {"info output_port_added spec.outputPorts.graphql-access"}},
      {"table removed",
       {},
       {{"      tables:\n        - name: customers\n", "      tables:\n        - name: clients\n"}},
       {"breaking table_removed spec.outputPorts.sql-access.tables.customers",
        "info table_added spec.outputPorts.sql-access.tables.clients"}},
      {"column removed",
       {},
       {{"            - {name: segment, type: varchar}\n", ""}},
       {"breaking column_removed spec.outputPorts.sql-access.tables.customers.columns.segment"}},
      {"column type changed",
       {},
       {{"{name: segment, type: varchar}", "{name: segment, type: int}"}},
       {"breaking column_type_updated "
        "spec.outputPorts.sql-access.tables.customers.columns.segment.type"}},
      {"column pii removed",
       {},
       {{"pii: true, tags: [contact]", "pii: false, tags: [contact]"}},
       {"breaking column_pii_removed "
        "spec.outputPorts.sql-access.tables.customers.columns.email.pii"}},
      {"column pii added by tag",
       {},
       {{"{name: segment, type: varchar}", "{name: segment, type: varchar, tags: [PII]}"}},
       {"warning column_pii_added spec.outputPorts.sql-access.tables.customers.columns.segment.pii",
        "info column_tags_changed "
        "spec.outputPorts.sql-access.tables.customers.columns.segment.tags"}},
      {"column added",
       {},
       {{"            - {name: segment, type: varchar}\n",
         "            - {name: segment, type: varchar}\n            - {name: region, type: "
         "varchar}\n"}},
       {"info column_added spec.outputPorts.sql-access.tables.customers.columns.region"}},
      {"product pii cleared",
       {},
       {{"    pii: true\n", "    pii: false\n"}},
       {"breaking pii_removed spec.classification.pii"}},
      {"product pii set",
       {{"    pii: true\n", "    pii: false\n"}},
       {},
       {"warning pii_added spec.classification.pii"}},
      {"data classification changed",
       {},
       {{"dataClassification: confidential", "dataClassification: internal"}},
       {"warning classification_changed spec.governance.dataClassification"}},
      {"access control changed",
       {},
       {{"permissions: [read]", "permissions: [read, write]"}},
       {"warning access_control_changed spec.governance.accessControl"}},
      {"slo target changed",
       {},
       {{"target: 4h", "target: 8h"}},
       {"warning slo_updated spec.slos.freshness.target"}},
      {"slo removed",
       {},
       {{"    completeness:\n      target: 99.5%\n", ""}},
       {"warning slo_removed spec.slos.completeness"}},
      {"owner changed",
       {},
       {{"owner: sales-data-team", "owner: crm-team"}},
       {"warning owner_changed metadata.owner"}},
      {"domain changed",
       {},
       {{"domain: sales", "domain: marketing"}},
       {"breaking domain_changed metadata.domain"}},
      {"description changed",
       {},
       {{"description: Unified customer view", "description: The customer view"}},
       {"info description_changed spec.description"}},
      {"output ports not a list",
       {},
       {{"  outputPorts:\n", "  outputPorts: nope\n  oldPorts:\n"}},
       {"breaking output_port_removed spec.outputPorts.api-access",
        "breaking output_port_removed spec.outputPorts.sql-access",
        "breaking output_port_removed spec.outputPorts.stream-access",
        "warning unparseable_schema spec.outputPorts"}},
  };
  RunCases(kProduct, &DiffProducts, cases);
}

TEST(DiffProductsTest, MalformedDocumentsNeverCrash) {
  const Value good = Yaml(kProduct);
  const std::vector<Value> bad = {
      Value(),
      Value(3),
      Yaml("spec: 3"),
      Yaml("spec: {outputPorts: [3, {name: a, tables: 5}, {name: b, tables: [{name: t, columns: "
           "[1, {name: c, tags: 3}]}]}], slos: [1], governance: 4, classification: 2}"),
      Yaml("metadata: [1]\nspec: {outputPorts: {a: 1}}"),
  };
  for (const Value& b : bad) {
    SCOPED_TRACE(b.ToJson());
    DiffProducts(good, b);
    DiffProducts(b, good);
    EXPECT_TRUE(DiffProducts(b, b).breaking.empty());
  }
}

// ComputeChange -------------------------------------------------------------------------------

const Value* Get(const Value& v, std::initializer_list<absl::string_view> path) {
  const Value* r = v.FindPath(path);
  EXPECT_NE(r, nullptr) << "missing " << absl::StrJoin(path, ".") << " in " << v.ToJson();
  return r;
}

std::vector<std::string> Rules(const Value& change, absl::string_view cls) {
  std::vector<std::string> out;
  const Value* list = change.Find(cls);
  if (list == nullptr || !list->is_list()) return out;
  for (const Value& c : list->as_list()) {
    out.push_back(
        absl::StrCat(c.GetString("document"), " ", c.GetString("rule"), " ", c.GetString("path")));
  }
  return out;
}

Value Contract(absl::string_view name, absl::string_view version, const Edits& edits = {}) {
  Edits all = {{"name: customer-transactions-contract", absl::StrCat("name: ", name)},
               {"version: 1.2.0", absl::StrCat("version: ", version)}};
  all.insert(all.end(), edits.begin(), edits.end());
  return Yaml(Apply(kAvroContract, all));
}

TEST(ComputeChangeTest, FirstDeployment) {
  Value product = Yaml(kProduct);
  Value change = ComputeChange(product, nullptr, {Contract("a", "1.0.0")}, {});
  EXPECT_EQ(*Get(change, {"first_deployment"}), Value(true));
  EXPECT_EQ(*Get(change, {"version", "to"}), Value("2.1.0"));
  EXPECT_EQ(*Get(change, {"version", "bump"}), Value("initial"));
  EXPECT_EQ(change.FindPath({"version", "from"}), nullptr);
  EXPECT_EQ(*Get(change, {"contract_versions", "a", "bump"}), Value("initial"));
  EXPECT_EQ(*Get(change, {"contract_versions", "a", "to"}), Value("1.0.0"));
  EXPECT_EQ(Rules(change, "breaking"), std::vector<std::string>{});
  EXPECT_EQ(Rules(change, "warnings"), std::vector<std::string>{});
  EXPECT_EQ(Rules(change, "info"),
            std::vector<std::string>{"contract:a contract_added metadata.name"});
}

struct VersionCase {
  std::string from, to, bump;
};

TEST(ComputeChangeTest, ProductVersionDeltas) {
  const VersionCase cases[] = {
      {"2.1.0", "3.0.0", "major"},      {"2.1.0", "2.2.0", "minor"},
      {"2.1.0", "2.1.1", "patch"},      {"2.1.0", "2.1.0", "none"},
      {"2.1.0", "2.0.9", "downgrade"},  {"2.1.0", "latest", "invalid"},
      {"next", "2.1.0", "invalid"},     {"2.1.0-rc.1", "2.1.0", "patch"},
      {"2.1.0", "2.2.0-rc.1", "minor"}, {"1.2", "2", "major"},  // YAML double → int
      {"v2.1.0", "2.1.1", "patch"},
  };
  for (const VersionCase& c : cases) {
    SCOPED_TRACE(c.from + " -> " + c.to);
    Value previous = Yaml(Apply(kProduct, {{"version: 2.1.0", "version: " + c.from}}));
    Value current = Yaml(Apply(kProduct, {{"version: 2.1.0", "version: " + c.to}}));
    Value change = ComputeChange(current, &previous, {}, {});
    EXPECT_EQ(*Get(change, {"version", "bump"}), Value(c.bump));
    EXPECT_EQ(*Get(change, {"version", "from"}), Value(c.from));
    EXPECT_EQ(*Get(change, {"version", "to"}), Value(c.to));
    EXPECT_EQ(*Get(change, {"first_deployment"}), Value(false));
  }
}

TEST(ComputeChangeTest, MissingVersionIsInvalid) {
  Value previous = Yaml(kProduct);
  Value current = Yaml(Apply(kProduct, {{"  version: 2.1.0\n", ""}}));
  Value change = ComputeChange(current, &previous, {}, {});
  EXPECT_EQ(*Get(change, {"version", "bump"}), Value("invalid"));
  EXPECT_TRUE(Get(change, {"version", "to"})->is_null());
}

TEST(ComputeChangeTest, MatchesContractsByName) {
  Value product = Yaml(kProduct);
  // Given in another order than the previous ones: matching is by name, not position.
  std::vector<Value> previous = {Contract("alpha", "1.0.0"), Contract("beta", "1.2.0")};
  std::vector<Value> current = {
      Contract("gamma", "0.1.0"),
      Contract("beta", "1.3.0", {{R"({"name": "currency", "type": "string"},)", ""}})};
  Value change = ComputeChange(product, &product, current, previous);
  EXPECT_EQ(Rules(change, "breaking"),
            (std::vector<std::string>{
                "contract:alpha contract_removed metadata.name",
                "contract:beta field_removed schema.CustomerTransaction.currency"}));
  EXPECT_EQ(Rules(change, "info"),
            std::vector<std::string>{"contract:gamma contract_added metadata.name"});
  const Value* versions = Get(change, {"contract_versions"});
  ASSERT_TRUE(versions->is_map());
  std::vector<std::string> names;
  for (const auto& [name, v] : versions->as_map()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"alpha", "beta", "gamma"}));
  EXPECT_EQ(*Get(*versions, {"alpha", "bump"}), Value("removed"));
  EXPECT_EQ(*Get(*versions, {"alpha", "from"}), Value("1.0.0"));
  EXPECT_EQ(*Get(*versions, {"beta", "bump"}), Value("minor"));
  EXPECT_EQ(*Get(*versions, {"beta", "from"}), Value("1.2.0"));
  EXPECT_EQ(*Get(*versions, {"beta", "to"}), Value("1.3.0"));
  EXPECT_EQ(*Get(*versions, {"gamma", "bump"}), Value("initial"));
  EXPECT_EQ(*Get(change, {"version", "bump"}), Value("none"));
}

TEST(ComputeChangeTest, ChangeEntriesHaveTheDocumentedShape) {
  Value previous = Yaml(kProduct);
  Value current = Yaml(Apply(kProduct, {{"schema: customer_360", "schema: customer_360_v2"}}));
  Value change = ComputeChange(current, &previous, {}, {});
  const Value* breaking = Get(change, {"breaking"});
  ASSERT_TRUE(breaking->is_list());
  ASSERT_EQ(breaking->size(), 1u);
  const Value& c = breaking->as_list()[0];
  EXPECT_EQ(c.ToJson(),
            R"({"document":"product:customer-360","path":"spec.outputPorts.sql-access.schema",)"
            R"("rule":"output_port_changed","old":"customer_360","new":"customer_360_v2"})");
}

TEST(ComputeChangeTest, OrdersByDocumentThenPath) {
  Value previous = Yaml(kProduct);
  Value current = Yaml(Apply(kProduct, {{"domain: sales", "domain: marketing"},
                                        {"schema: customer_360", "schema: customer_360_v2"}}));
  std::vector<Value> old_contracts = {Contract("b", "1.0.0"), Contract("a", "1.0.0")};
  Value change = ComputeChange(current, &previous, {}, old_contracts);
  EXPECT_EQ(
      Rules(change, "breaking"),
      (std::vector<std::string>{
          "contract:a contract_removed metadata.name", "contract:b contract_removed metadata.name",
          "product:customer-360 domain_changed metadata.domain",
          "product:customer-360 output_port_changed spec.outputPorts.sql-access.schema"}));
}

TEST(ComputeChangeTest, DuplicateContractNamesAreReported) {
  Value product = Yaml(kProduct);
  Value change = ComputeChange(product, &product, {Contract("a", "1.0.0"), Contract("a", "2.0.0")},
                               {Contract("a", "1.0.0")});
  EXPECT_EQ(Rules(change, "warnings"),
            std::vector<std::string>{"contract:a unparseable_schema metadata.name"});
  EXPECT_EQ(*Get(change, {"contract_versions", "a", "bump"}), Value("none"));
}

TEST(ComputeChangeTest, MalformedInputsNeverCrash) {
  Value junk = Yaml("[1, 2, {a: [3]}]");
  Value null;
  Value change = ComputeChange(junk, &null, {junk, null}, {junk});
  EXPECT_EQ(*Get(change, {"first_deployment"}), Value(true));
  change = ComputeChange(null, &junk, {Value(7)}, {Value("x"), Yaml(kAvroContract)});
  EXPECT_EQ(*Get(change, {"version", "bump"}), Value("invalid"));
  EXPECT_FALSE(Rules(change, "warnings").empty());
}

}  // namespace
}  // namespace arbiter
