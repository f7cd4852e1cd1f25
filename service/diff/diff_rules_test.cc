// The rule table against the diff: one case per rule and document shape (one change between two
// documents → exactly that rule, in its class, and nothing else), every rule covered for every
// shape the table claims; docs/diff-rules.md rendered from the table; reclassification.
#include "service/diff/diff_rules.h"

#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "service/diff/schema_diff.h"
#include "service/value/parse.h"

namespace arbiter {
namespace {

enum class Family { kDcs, kOdcs, kAvro, kProduct };

const char* FamilyName(Family f) {
  switch (f) {
    case Family::kDcs:
      return "datacontract.com";
    case Family::kOdcs:
      return "ODCS";
    case Family::kAvro:
      return "Avro";
    case Family::kProduct:
      return "product";
  }
  return "?";
}

// One version of a document, built from the family's template. `field` is the inside of the
// flow map of field "f" (JSON syntax, which is also YAML, so that Avro can use it too).
struct Side {
  Side() = default;
  Side(std::string f) : field(std::move(f)) {}  // NOLINT: cases write {"<field>"}
  std::string field;                            // "" = the family's default
  std::string field2;                           // a second field "g" when not empty
  std::string model = "-";  // lines of model "orders" besides its fields; "-" = default
  bool model2 = false;      // a second model "other"
  std::string info;         // datacontract.com: lines inside `info`
  std::string extra;        // top-level YAML appended to the document
  std::string schema_type = "avro";
  bool absent = false;  // no such contract in this version
};

std::string DefaultField(Family f) {
  return f == Family::kOdcs ? R"("logicalType": "string")" : R"("type": "string")";
}

std::string Contract(Family family, const Side& s) {
  std::string field = s.field.empty() ? DefaultField(family) : s.field;
  std::string model = s.model;
  switch (family) {
    case Family::kDcs: {
      if (model == "-") model = "type: table";
      std::string out = absl::StrCat(
          "dataContractSpecification: 1.1.0\nid: rules-contract\ninfo:\n  title: rules\n"
          "  version: 1.0.0\n",
          s.info.empty() ? "" : absl::StrCat("  ", s.info, "\n"), "models:\n  orders:\n    ", model,
          "\n    fields:\n      f: {", field, "}\n");
      if (!s.field2.empty()) absl::StrAppend(&out, "      g: {", s.field2, "}\n");
      if (s.model2) absl::StrAppend(&out, "  other:\n    fields:\n      x: {type: string}\n");
      absl::StrAppend(&out,
                      "definitions:\n  d1: {name: d1, type: string}\n"
                      "  d2: {name: d2, type: string}\n",
                      s.extra);
      return out;
    }
    case Family::kOdcs: {
      if (model == "-") model = "physicalType: table";
      std::string out = absl::StrCat(
          "apiVersion: v3.0.2\nkind: DataContract\nid: 53581432-6c55-4ba2-a65f-72344a91553a\n"
          "name: rules-contract\nversion: 1.0.0\nstatus: active\nschema:\n  - name: orders\n"
          "    logicalType: object\n    ",
          model, "\n    properties:\n      - {\"name\": \"f\", ", field, "}\n");
      if (!s.field2.empty()) absl::StrAppend(&out, "      - {\"name\": \"g\", ", s.field2, "}\n");
      if (s.model2) {
        absl::StrAppend(&out, "  - name: other\n    properties:\n      - {name: x}\n");
      }
      absl::StrAppend(&out, s.extra);
      return out;
    }
    case Family::kAvro: {
      if (model == "-") model = "";
      std::string fields = absl::StrCat("{\"name\": \"f\", ", field, "}");
      if (!s.field2.empty()) absl::StrAppend(&fields, ", {\"name\": \"g\", ", s.field2, "}");
      std::string records = absl::StrCat("{\"type\": \"record\", \"name\": \"Orders\", ", model,
                                         "\"fields\": [", fields, "]}");
      if (s.model2) {
        absl::StrAppend(&records, ", {\"type\": \"record\", \"name\": \"Other\", \"fields\": ",
                        "[{\"name\": \"x\", \"type\": \"string\"}]}");
      }
      return absl::StrCat(
          "apiVersion: datacontract/v1\nkind: DataContract\nmetadata:\n  name: rules-contract\n"
          "  version: 1.0.0\nschema:\n  type: ",
          s.schema_type, "\n  specification: '[", records, "]'\n", s.extra);
    }
    case Family::kProduct:
      break;
  }
  return "";
}

constexpr char kProductBase[] = R"yaml(apiVersion: datamesh/v1
kind: DataProduct
metadata:
  name: rules-product
  domain: sales
  owner: sales-data-team
  version: 1.0.0
spec:
  description: A product
  classification:
    pii: false
  outputPorts:
    - name: sql
      type: sql
      catalog: c
      schema: s
      engine: trino
      tables:
        - name: t
          columns:
            - {name: a, type: varchar, tags: [x]}
  governance:
    dataClassification: internal
    accessControl: [{role: r, permissions: [read]}]
)yaml";

// A product version: the base with text replacements applied.
std::string Product(const std::vector<std::pair<std::string, std::string>>& edits) {
  std::string text = kProductBase;
  for (const auto& [from, to] : edits) {
    size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) text.replace(at, from.size(), to);
  }
  return text;
}

struct RuleCase {
  std::string rule;
  Family family;
  Side old_side;
  Side new_side;
  std::string path;  // expected path
  std::vector<std::pair<std::string, std::string>> old_product = {};
  std::vector<std::pair<std::string, std::string>> new_product = {};
};

Value Yaml(const std::string& text) {
  absl::StatusOr<Value> v = ParseYaml(text, "test");
  EXPECT_TRUE(v.ok()) << v.status() << "\n" << text;
  return v.ok() ? *v : Value();
}

// "<class> <rule> <path>" of every change ComputeChange reports.
std::vector<std::string> Changes(const Value& change) {
  std::vector<std::string> out;
  for (const char* cls : {"breaking", "warnings", "info"}) {
    const Value* list = change.Find(cls);
    if (list == nullptr) continue;
    for (const Value& c : list->as_list()) {
      out.push_back(absl::StrCat(cls == std::string("warnings") ? "warning" : cls, " ",
                                 c.GetString("rule"), " ", c.GetString("path")));
    }
  }
  return out;
}

Value RunCase(const RuleCase& c, const DiffRuleClasses& classes) {
  if (c.family == Family::kProduct) {
    Value old_p = Yaml(Product(c.old_product));
    Value new_p = Yaml(Product(c.new_product));
    return ComputeChange(new_p, &old_p, {}, {}, classes);
  }
  Value product = Yaml(kProductBase);
  std::vector<Value> old_contracts, new_contracts;
  if (!c.old_side.absent) old_contracts.push_back(Yaml(Contract(c.family, c.old_side)));
  if (!c.new_side.absent) new_contracts.push_back(Yaml(Contract(c.family, c.new_side)));
  return ComputeChange(product, &product, new_contracts, old_contracts, classes);
}

// Field attributes with three rules: the value before, the value after, per family (JSON
// syntax); an empty text means the family has no such key.
struct Triple {
  DiffRule added;
  std::string dcs1, dcs2, odcs1, odcs2, avro1, avro2;
  std::string dcs_key, odcs_key, avro_key;  // the path's last segment(s)
};

std::vector<Triple> Triples() {
  auto same = [](DiffRule r, std::string key, std::string v1, std::string v2) {
    std::string a = absl::StrCat("\"", key, "\": ", v1), b = absl::StrCat("\"", key, "\": ", v2);
    return Triple{r, a, b, a, b, a, b, key, key, key};
  };
  auto opts = [](DiffRule r, std::string key, std::string v1, std::string v2) {
    std::string a = absl::StrCat("\"", key, "\": ", v1), b = absl::StrCat("\"", key, "\": ", v2);
    std::string oa = absl::StrCat("\"logicalTypeOptions\": {", a, "}");
    std::string ob = absl::StrCat("\"logicalTypeOptions\": {", b, "}");
    return Triple{r, a, b, oa, ob, a, b, key, "logicalTypeOptions." + key, key};
  };
  std::vector<Triple> t;
  t.push_back(same(DiffRule::kFieldPhysicalTypeAdded, "physicalType", "\"varchar(10)\"",
                   "\"varchar(20)\""));
  t.back().dcs1.clear();
  t.back().avro1.clear();
  Triple title = same(DiffRule::kFieldTitleAdded, "title", "\"A\"", "\"B\"");
  title.odcs1 = R"("businessName": "A")";
  title.odcs2 = R"("businessName": "B")";
  title.odcs_key = "businessName";
  title.avro1.clear();
  t.push_back(title);
  t.push_back(opts(DiffRule::kFieldFormatAdded, "format", "\"email\"", "\"uri\""));
  Triple refs = same(DiffRule::kFieldReferencesAdded, "references", "\"a.b\"", "\"a.c\"");
  refs.odcs1.clear();
  t.push_back(refs);
  Triple ref =
      same(DiffRule::kFieldRefAdded, "$ref", "\"#/definitions/d1\"", "\"#/definitions/d2\"");
  ref.odcs1.clear();
  ref.avro1.clear();
  t.push_back(ref);
  Triple desc = same(DiffRule::kFieldDescriptionAdded, "description", "\"A\"", "\"B\"");
  desc.avro1 = R"("doc": "A")";
  desc.avro2 = R"("doc": "B")";
  desc.avro_key = "doc";
  t.push_back(desc);
  Triple pii = same(DiffRule::kFieldPiiAdded, "pii", "true", "false");
  pii.odcs1.clear();
  t.push_back(pii);
  t.push_back(same(DiffRule::kFieldClassificationAdded, "classification", "\"internal\"",
                   "\"restricted\""));
  t.push_back(opts(DiffRule::kFieldPatternAdded, "pattern", "\"^a\"", "\"^b\""));
  t.push_back(opts(DiffRule::kFieldMinLengthAdded, "minLength", "3", "5"));
  t.push_back(opts(DiffRule::kFieldMaxLengthAdded, "maxLength", "36", "20"));
  t.push_back(opts(DiffRule::kFieldMinimumAdded, "minimum", "0", "1"));
  t.push_back(opts(DiffRule::kFieldExclusiveMinimumAdded, "exclusiveMinimum", "0", "1"));
  t.push_back(opts(DiffRule::kFieldMaximumAdded, "maximum", "10", "9"));
  t.push_back(opts(DiffRule::kFieldExclusiveMaximumAdded, "exclusiveMaximum", "10", "9"));
  Triple en = same(DiffRule::kFieldEnumAdded, "enum", "[\"a\", \"b\"]", "[\"b\", \"c\"]");
  en.odcs1.clear();
  en.avro1.clear();
  t.push_back(en);
  Triple tags = same(DiffRule::kFieldTagsAdded, "tags", "[\"a\"]", "[\"b\"]");
  tags.avro1.clear();
  t.push_back(tags);
  Triple ex = same(DiffRule::kFieldExampleAdded, "example", "\"a\"", "\"b\"");
  ex.odcs1 = R"("examples": ["a"])";
  ex.odcs2 = R"("examples": ["b"])";
  ex.odcs_key = "examples";
  ex.avro1.clear();
  t.push_back(ex);
  return t;
}

std::string FieldPath(Family f, absl::string_view key) {
  switch (f) {
    case Family::kDcs:
      return absl::StrCat("models.orders.f.", key);
    case Family::kOdcs:
      return absl::StrCat("schema.orders.f.", key);
    default:
      return absl::StrCat("schema.Orders.f.", key);
  }
}

std::string ModelPath(Family f) {
  return f == Family::kDcs    ? "models.orders"
         : f == Family::kOdcs ? "schema.orders"
                              : "schema.Orders";
}

std::vector<RuleCase> Cases() {
  std::vector<RuleCase> cases;
  const std::vector<Family> contract_families = {Family::kDcs, Family::kOdcs, Family::kAvro};
  auto field = [](Family f, std::string extra) {
    std::string base = DefaultField(f);
    return extra.empty() ? base : absl::StrCat(base, ", ", extra);
  };
  // Attributes compared as written.
  for (const Triple& t : Triples()) {
    for (Family f : contract_families) {
      const std::string& v1 = f == Family::kDcs ? t.dcs1 : f == Family::kOdcs ? t.odcs1 : t.avro1;
      const std::string& v2 = f == Family::kDcs ? t.dcs2 : f == Family::kOdcs ? t.odcs2 : t.avro2;
      const std::string& key = f == Family::kDcs    ? t.dcs_key
                               : f == Family::kOdcs ? t.odcs_key
                                                    : t.avro_key;
      if (v1.empty()) continue;
      std::string path = FieldPath(f, key);
      std::string added(RuleInfo(t.added).name);
      std::string stem = added.substr(0, added.size() - std::strlen("added"));
      Side none{field(f, "")}, one{field(f, v1)}, two{field(f, v2)};
      cases.push_back({added, f, none, one, path});
      cases.push_back({stem + "removed", f, one, none, path});
      cases.push_back({stem + "updated", f, one, two, path});
    }
  }
  // Types, flags and enum symbols.
  cases.push_back({"field_type_added",
                   Family::kDcs,
                   {R"("title": "T")"},
                   {R"("title": "T", "type": "string")"},
                   FieldPath(Family::kDcs, "type")});
  cases.push_back({"field_type_removed",
                   Family::kDcs,
                   {R"("title": "T", "type": "string")"},
                   {R"("title": "T")"},
                   FieldPath(Family::kDcs, "type")});
  cases.push_back({"field_type_added",
                   Family::kOdcs,
                   {R"("businessName": "T")"},
                   {R"("businessName": "T", "logicalType": "string")"},
                   FieldPath(Family::kOdcs, "logicalType")});
  cases.push_back({"field_type_removed",
                   Family::kOdcs,
                   {R"("businessName": "T", "logicalType": "string")"},
                   {R"("businessName": "T")"},
                   FieldPath(Family::kOdcs, "logicalType")});
  cases.push_back({"field_type_updated",
                   Family::kDcs,
                   {},
                   {R"("type": "integer")"},
                   FieldPath(Family::kDcs, "type")});
  cases.push_back({"field_type_updated",
                   Family::kOdcs,
                   {},
                   {R"("logicalType": "integer")"},
                   FieldPath(Family::kOdcs, "logicalType")});
  cases.push_back({"field_type_updated",
                   Family::kAvro,
                   {},
                   {R"("type": "long")"},
                   FieldPath(Family::kAvro, "type")});
  for (Family f : {Family::kDcs, Family::kOdcs}) {
    cases.push_back({"field_required_updated",
                     f,
                     {},
                     {field(f, R"("required": true)")},
                     FieldPath(f, "required")});
    cases.push_back({"field_required_relaxed",
                     f,
                     {field(f, R"("required": true)")},
                     {},
                     FieldPath(f, "required")});
    cases.push_back(
        {"field_unique_updated", f, {}, {field(f, R"("unique": true)")}, FieldPath(f, "unique")});
    cases.push_back({"field_primary_key_updated",
                     f,
                     {},
                     {field(f, R"("primaryKey": true)")},
                     FieldPath(f, "primaryKey")});
  }
  cases.push_back({"field_required_updated",
                   Family::kAvro,
                   {R"("type": ["null", "string"])"},
                   {},
                   FieldPath(Family::kAvro, "required")});
  cases.push_back({"field_required_relaxed",
                   Family::kAvro,
                   {},
                   {R"("type": ["null", "string"])"},
                   FieldPath(Family::kAvro, "required")});
  cases.push_back({"field_unique_updated",
                   Family::kAvro,
                   {},
                   {field(Family::kAvro, R"("unique": true)")},
                   FieldPath(Family::kAvro, "unique")});
  cases.push_back({"field_primary_key_updated",
                   Family::kAvro,
                   {},
                   {field(Family::kAvro, R"("primaryKey": true)")},
                   FieldPath(Family::kAvro, "primaryKey")});
  cases.push_back({"field_enum_updated",
                   Family::kAvro,
                   {R"("type": {"type": "enum", "name": "E", "symbols": ["A", "B"]})"},
                   {R"("type": {"type": "enum", "name": "E", "symbols": ["A", "C"]})"},
                   FieldPath(Family::kAvro, "symbols")});
  // Fields and models come and go.
  for (Family f : contract_families) {
    Side base{};
    Side with_optional{};
    with_optional.field2 =
        f == Family::kAvro ? R"("type": ["null", "string"], "default": null)" : DefaultField(f);
    Side with_required{};
    with_required.field2 =
        f == Family::kAvro ? R"("type": "string")" : field(f, R"("required": true)");
    std::string gpath = absl::StrCat(ModelPath(f), ".g");
    cases.push_back({"field_added", f, base, with_optional, gpath});
    cases.push_back({"field_added_required", f, base, with_required, gpath});
    cases.push_back({"field_removed", f, with_optional, base, gpath});
    Side two_models{};
    two_models.model2 = true;
    std::string other = f == Family::kDcs    ? "models.other"
                        : f == Family::kOdcs ? "schema.other"
                                             : "schema.Other";
    cases.push_back({"model_added", f, base, two_models, other});
    cases.push_back({"model_removed", f, two_models, base, other});
    Side gone{};
    gone.absent = true;
    cases.push_back({"contract_added", f, gone, base, "metadata.name"});
    cases.push_back({"contract_removed", f, base, gone, "metadata.name"});
  }
  // Model attributes.
  for (Family f : {Family::kDcs, Family::kOdcs}) {
    std::string type_line = f == Family::kDcs ? "type: table" : "physicalType: table";
    std::string view_line = f == Family::kDcs ? "type: view" : "physicalType: view";
    std::string type_path =
        absl::StrCat(ModelPath(f), f == Family::kDcs ? ".type" : ".physicalType");
    Side no_type{}, table{}, view{};
    no_type.model = "";
    table.model = type_line;
    view.model = view_line;
    cases.push_back({"model_type_added", f, no_type, table, type_path});
    cases.push_back({"model_type_removed", f, table, no_type, type_path});
    cases.push_back({"model_type_updated", f, table, view, type_path});
  }
  for (Family f : contract_families) {
    Side none{}, a{}, b{};
    if (f == Family::kAvro) {
      a.model = R"("doc": "A", )";
      b.model = R"("doc": "B", )";
    } else {
      std::string t = f == Family::kDcs ? "type: table" : "physicalType: table";
      a.model = absl::StrCat(t, "\n    description: A");
      b.model = absl::StrCat(t, "\n    description: B");
    }
    std::string path = absl::StrCat(ModelPath(f), ".description");
    cases.push_back({"model_description_added", f, none, a, path});
    cases.push_back({"model_description_removed", f, a, none, path});
    cases.push_back({"model_description_updated", f, a, b, path});
  }
  // Quality.
  {
    Side none{}, soda{}, custom{}, soda2{};
    soda.extra =
        "quality:\n  type: SodaCL\n  specification: 'checks for orders: [row_count > 0]'\n";
    custom.extra =
        "quality:\n  type: custom\n  specification: 'checks for orders: [row_count > 0]'\n";
    soda2.extra =
        "quality:\n  type: SodaCL\n  specification: 'checks for orders: [row_count > 10]'\n";
    cases.push_back({"quality_added", Family::kDcs, none, soda, "quality"});
    cases.push_back({"quality_removed", Family::kDcs, soda, none, "quality"});
    cases.push_back({"quality_type_updated", Family::kDcs, soda, custom, "quality.type"});
    cases.push_back(
        {"quality_specification_updated", Family::kDcs, soda, soda2, "quality.specification"});
  }
  for (Family f : {Family::kDcs, Family::kOdcs}) {
    // A model's list of rules.
    std::string t = f == Family::kDcs ? "type: table" : "physicalType: table";
    Side none{}, one{}, two{};
    one.model = absl::StrCat(t, "\n    quality: [{name: rows, type: sql, query: 'select 1'}]");
    two.model = absl::StrCat(t, "\n    quality: [{name: rows, type: sql, query: 'select 2'}]");
    std::string path = absl::StrCat(ModelPath(f), ".quality.*.rows");
    cases.push_back({"quality_rule_added", f, none, one, path});
    cases.push_back({"quality_rule_removed", f, one, none, path});
    cases.push_back({"quality_rule_updated", f, one, two, path});
    // A field's.
    Side fone{field(f, R"("quality": [{"rule": "nullCheck", "mustBe": 0}])")};
    Side ftwo{field(f, R"("quality": [{"rule": "nullCheck", "mustBe": 1}])")};
    cases.push_back({"quality_rule_updated", f, fone, ftwo, FieldPath(f, "quality.*.nullCheck")});
  }
  {
    Side none{}, one{}, two{};
    one.extra = "quality:\n  rules:\n    - {column: f, check: not_null}\n";
    two.extra = "quality:\n  rules:\n    - {column: f, check: not_null, threshold: 1}\n";
    std::string path = "quality.rules.f.not_null";
    cases.push_back({"quality_rule_added", Family::kAvro, none, one, path});
    cases.push_back({"quality_rule_removed", Family::kAvro, one, none, path});
    cases.push_back({"quality_rule_updated", Family::kAvro, one, two, path});
  }
  // Service levels.
  {
    Side none{}, one{}, two{};
    one.extra = "servicelevels:\n  availability:\n    percentage: 99.9%\n";
    two.extra = "servicelevels:\n  availability:\n    percentage: 99%\n";
    cases.push_back({"slo_added", Family::kDcs, none, one, "servicelevels.availability"});
    cases.push_back({"slo_removed", Family::kDcs, one, none, "servicelevels.availability"});
    cases.push_back({"slo_updated", Family::kDcs, one, two, "servicelevels.availability"});
    one.extra = "slaProperties:\n  - {property: latency, value: 4, unit: d}\n";
    two.extra = "slaProperties:\n  - {property: latency, value: 1, unit: d}\n";
    cases.push_back({"slo_added", Family::kOdcs, none, one, "slaProperties.latency"});
    cases.push_back({"slo_removed", Family::kOdcs, one, none, "slaProperties.latency"});
    cases.push_back({"slo_updated", Family::kOdcs, one, two, "slaProperties.latency"});
    one.extra = "slos:\n  freshness:\n    target: 15m\n";
    two.extra = "slos:\n  freshness:\n    target: 30m\n";
    cases.push_back({"slo_added", Family::kAvro, none, one, "slos.freshness"});
    cases.push_back({"slo_removed", Family::kAvro, one, none, "slos.freshness"});
    cases.push_back({"slo_updated", Family::kAvro, one, two, "slos.freshness.target"});
  }
  // The document as a whole.
  {
    Side a{}, b{};
    a.info = "description: A";
    b.info = "description: B";
    cases.push_back({"description_changed", Family::kDcs, a, b, "info.description"});
    a = b = Side{};
    a.extra = "description: {purpose: A}\n";
    b.extra = "description: {purpose: B}\n";
    cases.push_back({"description_changed", Family::kOdcs, a, b, "description"});
    a = b = Side{};
    a.extra = "description: A\n";
    b.extra = "description: B\n";
    cases.push_back({"description_changed", Family::kAvro, a, b, "description"});
    Side broken{field(Family::kDcs, R"("quality": 5)")};
    cases.push_back(
        {"unparseable_schema", Family::kDcs, {}, broken, FieldPath(Family::kDcs, "quality")});
    broken = Side{field(Family::kOdcs, R"("quality": 5)")};
    cases.push_back(
        {"unparseable_schema", Family::kOdcs, {}, broken, FieldPath(Family::kOdcs, "quality")});
    Side proto{}, json{};
    proto.schema_type = "protobuf";
    json.schema_type = "json";
    cases.push_back({"schema_type_changed", Family::kAvro, proto, json, "schema.type"});
    Side unreadable{};
    unreadable.field = R"("type": "string", "x": )";  // the specification is no longer JSON
    cases.push_back({"unparseable_schema", Family::kAvro, {}, unreadable, "schema.specification"});
  }
  // Products.
  auto product = [&cases](std::string rule, std::vector<std::pair<std::string, std::string>> o,
                          std::vector<std::pair<std::string, std::string>> n, std::string path) {
    cases.push_back({rule, Family::kProduct, {}, {}, path, std::move(o), std::move(n)});
  };
  product("domain_changed", {}, {{"domain: sales", "domain: finance"}}, "metadata.domain");
  product("owner_changed", {}, {{"owner: sales-data-team", "owner: x"}}, "metadata.owner");
  product("pii_added", {}, {{"pii: false", "pii: true"}}, "spec.classification.pii");
  product("pii_removed", {{"pii: false", "pii: true"}}, {}, "spec.classification.pii");
  product("classification_changed", {},
          {{"dataClassification: internal", "dataClassification: confidential"}},
          "spec.governance.dataClassification");
  product("access_control_changed", {}, {{"role: r", "role: q"}}, "spec.governance.accessControl");
  const std::string port2 = "  outputPorts:\n    - {name: api, type: rest, endpoint: /v1}\n";
  product("output_port_added", {}, {{"  outputPorts:\n", port2}}, "spec.outputPorts.api");
  product("output_port_removed", {{"  outputPorts:\n", port2}}, {}, "spec.outputPorts.api");
  product("output_port_changed", {}, {{"catalog: c", "catalog: d"}},
          "spec.outputPorts.sql.catalog");
  product("output_port_updated", {}, {{"engine: trino", "engine: spark"}},
          "spec.outputPorts.sql.engine");
  const std::string table2 = "      tables:\n        - {name: u, columns: [{name: b}]}\n";
  product("table_added", {}, {{"      tables:\n", table2}}, "spec.outputPorts.sql.tables.u");
  product("table_removed", {{"      tables:\n", table2}}, {}, "spec.outputPorts.sql.tables.u");
  const std::string col2 = "          columns:\n            - {name: b}\n";
  const std::string cols = "          columns:\n";
  product("column_added", {}, {{cols, col2}}, "spec.outputPorts.sql.tables.t.columns.b");
  product("column_removed", {{cols, col2}}, {}, "spec.outputPorts.sql.tables.t.columns.b");
  const std::string a_path = "spec.outputPorts.sql.tables.t.columns.a.";
  product("column_type_added", {{"type: varchar, ", ""}}, {}, a_path + "type");
  product("column_type_removed", {}, {{"type: varchar, ", ""}}, a_path + "type");
  product("column_type_updated", {}, {{"type: varchar", "type: bigint"}}, a_path + "type");
  product("column_pii_added", {}, {{"tags: [x]", "tags: [x], pii: true"}}, a_path + "pii");
  product("column_pii_removed", {{"tags: [x]", "tags: [x], pii: true"}}, {}, a_path + "pii");
  product("column_tags_changed", {}, {{"tags: [x]", "tags: [y]"}}, a_path + "tags");
  product("description_changed", {}, {{"description: A product", "description: B"}},
          "spec.description");
  product("slo_added", {},
          {{"  governance:", "  slos:\n    freshness: {target: 4h}\n  governance:"}},
          "spec.slos.freshness");
  const std::string slos = "  slos:\n    freshness: {target: 4h}\n  governance:";
  product("slo_removed", {{"  governance:", slos}}, {}, "spec.slos.freshness");
  product("slo_updated", {{"  governance:", slos}},
          {{"  governance:", "  slos:\n    freshness: {target: 8h}\n  governance:"}},
          "spec.slos.freshness.target");
  product("unparseable_schema", {}, {{"    - name: sql\n", "    - 7\n    - name: sql\n"}},
          "spec.outputPorts[0]");
  return cases;
}

TEST(DiffRulesTest, EveryRuleAloneGivesThatRuleInItsClass) {
  EXPECT_GT(Cases().size(), kDiffRuleCount);
  for (const RuleCase& c : Cases()) {
    SCOPED_TRACE(absl::StrCat(c.rule, " (", FamilyName(c.family), ")"));
    std::optional<DiffRule> rule = FindDiffRule(c.rule);
    ASSERT_TRUE(rule.has_value()) << "no such rule";
    std::string want =
        absl::StrCat(ChangeClassName(RuleInfo(*rule).default_class), " ", c.rule, " ", c.path);
    std::vector<std::string> got = Changes(RunCase(c, DefaultDiffRuleClasses()));
    EXPECT_EQ(got, std::vector<std::string>{want}) << "got:\n  " << absl::StrJoin(got, "\n  ");
  }
}

TEST(DiffRulesTest, EveryRuleHasACaseForEveryShapeItAppliesTo) {
  std::set<std::pair<std::string, Family>> covered;
  for (const RuleCase& c : Cases()) covered.emplace(c.rule, c.family);
  for (const DiffRuleInfo& r : kDiffRules) {
    std::string name(r.name);
    if (r.shapes & kShapeDcs) {
      EXPECT_TRUE(covered.count({name, Family::kDcs})) << name << " dcs";
    }
    if (r.shapes & kShapeOdcs) {
      EXPECT_TRUE(covered.count({name, Family::kOdcs})) << name << " ODCS";
    }
    if (r.shapes & kShapeAvro) {
      EXPECT_TRUE(covered.count({name, Family::kAvro})) << name << " Avro";
    }
    if (r.shapes & kShapeProduct) {
      EXPECT_TRUE(covered.count({name, Family::kProduct})) << name << " product";
    }
  }
}

TEST(DiffRulesTest, ReclassifiedRulesLandInTheirNewClass) {
  DiffRuleClasses classes = DefaultDiffRuleClasses();
  classes[static_cast<size_t>(DiffRule::kFieldEnumRemoved)] = ChangeClass::kBreaking;
  classes[static_cast<size_t>(DiffRule::kFieldRemoved)] = ChangeClass::kInfo;
  RuleCase enum_removed{
      "field_enum_removed", Family::kDcs, {R"("type": "string", "enum": ["a"])"}, {}, ""};
  EXPECT_EQ(Changes(RunCase(enum_removed, classes)),
            std::vector<std::string>{"breaking field_enum_removed models.orders.f.enum"});
  Side two{};
  two.field2 = R"("type": "string")";
  RuleCase removed{"field_removed", Family::kDcs, two, {}, ""};
  EXPECT_EQ(Changes(RunCase(removed, classes)),
            std::vector<std::string>{"info field_removed models.orders.g"});
}

TEST(DiffRulesTest, NamesAndClassesParse) {
  EXPECT_EQ(FindDiffRule("field_max_length_updated"), DiffRule::kFieldMaxLengthUpdated);
  EXPECT_FALSE(FindDiffRule("field_maxLength_updated").has_value());
  EXPECT_EQ(ParseChangeClass("warning"), ChangeClass::kWarning);
  EXPECT_FALSE(ParseChangeClass("error").has_value());
  std::set<absl::string_view> names;
  for (const DiffRuleInfo& r : kDiffRules) {
    EXPECT_TRUE(names.insert(r.name).second) << "duplicate " << r.name;
    EXPECT_FALSE(r.description.empty()) << r.name;
    EXPECT_NE(r.shapes, 0) << r.name;
  }
}

// The class table names each class once and the lists of req.change are its list keys.
TEST(DiffRulesTest, ChangeClassesAreOneTable) {
  for (const ChangeClassInfo& c : kChangeClasses) {
    EXPECT_EQ(ParseChangeClass(c.name), c.cls) << c.name;
    EXPECT_EQ(ChangeClassName(c.cls), c.name);
    EXPECT_EQ(ChangeClassListKey(c.cls), c.list_key);
    EXPECT_FALSE(c.description.empty()) << c.name;
  }
  EXPECT_EQ(ChangeClassListKey(ChangeClass::kWarning), "warnings");
  EXPECT_FALSE(ParseChangeClass("warnings").has_value());  // a list key, not a class name
  absl::StatusOr<Value> product = ParseYaml("metadata: {name: p, version: 1.0.0}\n", "p.yaml");
  ASSERT_TRUE(product.ok());
  Value change = ComputeChange(*product, &*product, {}, {});
  std::vector<std::string> lists;
  for (const auto& [key, v] : change.as_map()) {
    if (v.is_list()) lists.push_back(key);
  }
  std::vector<std::string> want;
  for (const ChangeClassInfo& c : kChangeClasses) want.emplace_back(c.list_key);
  EXPECT_EQ(lists, want);
}

// The published defaults this table promises (datacontract-cli's, spot-checked by name).
TEST(DiffRulesTest, DefaultsFollowDatacontractCli) {
  const std::map<std::string, ChangeClass> want = {
      {"field_pattern_added", ChangeClass::kWarning},
      {"field_pattern_removed", ChangeClass::kBreaking},
      {"field_pattern_updated", ChangeClass::kBreaking},
      {"field_min_length_added", ChangeClass::kWarning},
      {"field_min_length_removed", ChangeClass::kWarning},
      {"field_min_length_updated", ChangeClass::kBreaking},
      {"field_enum_added", ChangeClass::kWarning},
      {"field_enum_removed", ChangeClass::kInfo},
      {"field_enum_updated", ChangeClass::kBreaking},
      {"field_pii_added", ChangeClass::kWarning},
      {"field_pii_removed", ChangeClass::kBreaking},
      {"field_pii_updated", ChangeClass::kBreaking},
      {"quality_removed", ChangeClass::kWarning},
      {"quality_type_updated", ChangeClass::kWarning},
      {"quality_specification_updated", ChangeClass::kWarning},
      {"model_type_updated", ChangeClass::kBreaking},
      {"field_ref_added", ChangeClass::kWarning},
      {"field_ref_removed", ChangeClass::kWarning},
      {"field_ref_updated", ChangeClass::kWarning},
      {"field_classification_added", ChangeClass::kWarning},
      {"field_classification_removed", ChangeClass::kBreaking},
      {"field_classification_updated", ChangeClass::kBreaking},
  };
  for (const auto& [name, cls] : want) {
    std::optional<DiffRule> r = FindDiffRule(name);
    ASSERT_TRUE(r.has_value()) << name;
    EXPECT_EQ(RuleInfo(*r).default_class, cls) << name;
  }
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(DiffRulesTest, DocMatchesTheTable) {
  std::string doc = ReadFile(std::string(ARBITER_SOURCE_DIR) + "/docs/diff-rules.md");
  EXPECT_EQ(doc, RenderDiffRulesMarkdown())
      << "docs/diff-rules.md is stale: regenerate it with `diff_rules_test --render > "
         "docs/diff-rules.md`";
}

// Arbiter's own fixture pairs with the kinds of change of datacontract-cli's breaking fixtures
// (v0.10.41, tests/fixtures/breaking): the same counts of errors/breaking and warnings.
TEST(DiffRulesTest, FixturePairsGiveDatacontractCliCounts) {
  struct Pair {
    std::string from, to;
    size_t breaking, warnings;
  };
  const std::vector<Pair> pairs = {
      {"fields-v2", "fields-v3", 15, 3},          {"fields-v2", "fields-v1", 5, 11},
      {"fields-v1", "fields-v2", 0, 15},          {"definitions-v2", "definitions-v3", 12, 1},
      {"definitions-v2", "definitions-v1", 3, 9}, {"quality-v2", "quality-v3", 0, 2},
      {"models-v2", "models-v3", 1, 0},           {"array-v1", "array-v2", 3, 0},
  };
  const std::string dir = std::string(ARBITER_SOURCE_DIR) + "/service/diff/testdata/breaking/";
  for (const Pair& p : pairs) {
    SCOPED_TRACE(absl::StrCat(p.from, " -> ", p.to));
    Value from = Yaml(ReadFile(dir + p.from + ".yaml"));
    Value to = Yaml(ReadFile(dir + p.to + ".yaml"));
    ASSERT_TRUE(from.is_map() && to.is_map());
    ChangeSet cs = DiffContracts(from, to);
    std::vector<std::string> got;
    for (const Change& c : cs.breaking) got.push_back("breaking " + c.rule + " " + c.path);
    for (const Change& c : cs.warnings) got.push_back("warning " + c.rule + " " + c.path);
    EXPECT_EQ(cs.breaking.size(), p.breaking) << absl::StrJoin(got, "\n");
    EXPECT_EQ(cs.warnings.size(), p.warnings) << absl::StrJoin(got, "\n");
  }
}

}  // namespace
}  // namespace arbiter

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "--render") == 0) {
    std::cout << arbiter::RenderDiffRulesMarkdown();
    return 0;
  }
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
