#include "service/diff/diff_rules.h"

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace arbiter {
namespace {

constexpr ChangeClass B = ChangeClass::kBreaking;
constexpr ChangeClass W = ChangeClass::kWarning;
constexpr ChangeClass I = ChangeClass::kInfo;
constexpr uint8_t kDcs = kShapeDcs;
constexpr uint8_t kOdcs = kShapeOdcs;
constexpr uint8_t kAvro = kShapeAvro;
constexpr uint8_t kAll = kShapeContracts;
constexpr uint8_t kProduct = kShapeProduct;

}  // namespace

// clang-format off
constexpr std::array<DiffRuleInfo, kDiffRuleCount> kDiffRules = {{
  {DiffRule::kContractAdded, "contract_added", I, kAll, "", "",
   "A contract the previous version did not have (matched by name). Arbiter's own."},
  {DiffRule::kContractRemoved, "contract_removed", B, kAll, "", "",
   "A contract of the previous version is gone. Arbiter's own."},
  {DiffRule::kDescriptionChanged, "description_changed", I, kAll | kProduct, "info.description",
   "description",
   "The description of the whole contract or product, or of a table or column of a product. "
   "Arbiter's own (datacontract-cli: info_description_*, info)."},
  {DiffRule::kSchemaTypeChanged, "schema_type_changed", W, kAvro, "", "",
   "`schema.type` changed (avro to protobuf, ...): the new schema is not compared field by "
   "field. Arbiter's own."},
  {DiffRule::kUnparseableSchema, "unparseable_schema", W, kAll | kProduct, "", "",
   "Part of a document cannot be read (a specification that is not JSON, fields that are "
   "neither a list nor a map, an unknown `$ref`, ...); `new` holds the reason. Arbiter's own."},
  {DiffRule::kModelAdded, "model_added", I, kAll, "models.<m>", "schema[]", "A model was added."},
  {DiffRule::kModelRemoved, "model_removed", B, kAll, "models.<m>", "schema[]",
   "A model was removed."},
  {DiffRule::kModelDescriptionAdded, "model_description_added", I, kAll, "description",
   "description", "A model got a description."},
  {DiffRule::kModelDescriptionRemoved, "model_description_removed", I, kAll, "description",
   "description", "A model lost its description."},
  {DiffRule::kModelDescriptionUpdated, "model_description_updated", I, kAll, "description",
   "description", "A model's description changed."},
  {DiffRule::kModelTypeAdded, "model_type_added", I, kDcs | kOdcs, "type", "physicalType",
   "A model got a type (table, view, object, ...) (datacontract-cli: model__added, info)."},
  {DiffRule::kModelTypeRemoved, "model_type_removed", I, kDcs | kOdcs, "type", "physicalType",
   "A model lost its type (datacontract-cli: model__removed, info)."},
  {DiffRule::kModelTypeUpdated, "model_type_updated", B, kDcs | kOdcs, "type", "physicalType",
   "A model's type changed, e.g. table to view."},
  {DiffRule::kFieldAdded, "field_added", I, kAll, "fields.<f>", "properties[]",
   "A field was added (optional, or with a default)."},
  {DiffRule::kFieldAddedRequired, "field_added_required", B, kAll, "fields.<f>", "properties[]",
   "A required field without a default was added: readers of the new schema cannot read data "
   "written without it. Arbiter's own (datacontract-cli: field_added, info)."},
  {DiffRule::kFieldRemoved, "field_removed", B, kAll, "fields.<f>", "properties[]",
   "A field was removed."},
  {DiffRule::kFieldRefAdded, "field_ref_added", W, kDcs, "$ref", "",
   "A field now takes its definition from `$ref`."},
  {DiffRule::kFieldRefRemoved, "field_ref_removed", W, kDcs, "$ref", "",
   "A field no longer uses `$ref`."},
  {DiffRule::kFieldRefUpdated, "field_ref_updated", W, kDcs, "$ref", "",
   "A field's `$ref` points elsewhere. Changes inside a referenced definition are reported "
   "at each field that uses it, by the rules below."},
  {DiffRule::kFieldTitleAdded, "field_title_added", I, kDcs | kOdcs, "title", "businessName",
   "A field got a title."},
  {DiffRule::kFieldTitleRemoved, "field_title_removed", I, kDcs | kOdcs, "title", "businessName",
   "A field lost its title."},
  {DiffRule::kFieldTitleUpdated, "field_title_updated", I, kDcs | kOdcs, "title", "businessName",
   "A field's title changed."},
  {DiffRule::kFieldTypeAdded, "field_type_added", W, kDcs | kOdcs, "type", "logicalType",
   "A field got a type."},
  {DiffRule::kFieldTypeRemoved, "field_type_removed", W, kDcs | kOdcs, "type", "logicalType",
   "A field lost its type."},
  {DiffRule::kFieldTypeUpdated, "field_type_updated", B, kAll, "type", "logicalType",
   "A field's type changed (Avro: the canonical type text, decimal precision and scale and "
   "logical types included, union branch order ignored)."},
  {DiffRule::kFieldPhysicalTypeAdded, "field_physical_type_added", W, kOdcs, "", "physicalType",
   "A property got a physical type. Arbiter's own, classed like field_type_added."},
  {DiffRule::kFieldPhysicalTypeRemoved, "field_physical_type_removed", W, kOdcs, "",
   "physicalType",
   "A property lost its physical type. Arbiter's own, classed like field_type_removed."},
  {DiffRule::kFieldPhysicalTypeUpdated, "field_physical_type_updated", B, kOdcs, "",
   "physicalType",
   "A property's physical type changed. Arbiter's own, classed like field_type_updated."},
  {DiffRule::kFieldFormatAdded, "field_format_added", W, kAll, "format",
   "logicalTypeOptions.format", "A field got a format."},
  {DiffRule::kFieldFormatRemoved, "field_format_removed", W, kAll, "format",
   "logicalTypeOptions.format", "A field lost its format."},
  {DiffRule::kFieldFormatUpdated, "field_format_updated", B, kAll, "format",
   "logicalTypeOptions.format", "A field's format changed."},
  {DiffRule::kFieldRequiredUpdated, "field_required_updated", B, kAll, "required", "required",
   "A field became required (Avro: a nullable union lost its null branch). An absent flag means "
   "false, so writing `required: false` where there was none is no change."},
  {DiffRule::kFieldRequiredRelaxed, "field_required_relaxed", W, kAll, "required", "required",
   "A required field became optional (Avro: gained a null branch). Arbiter's own: "
   "datacontract-cli classes every required change as field_required_updated (error); Arbiter "
   "lowers this direction to a warning because existing data stays readable."},
  {DiffRule::kFieldPrimaryKeyUpdated, "field_primary_key_updated", W, kAll, "primaryKey",
   "primaryKey",
   "A field became or stopped being (part of) the primary key (`primary` in datacontract.com "
   "0.9 counts too). An absent flag means false."},
  {DiffRule::kFieldReferencesAdded, "field_references_added", W, kDcs | kAvro, "references", "",
   "A field now references another."},
  {DiffRule::kFieldReferencesRemoved, "field_references_removed", W, kDcs | kAvro, "references",
   "", "A field no longer references another."},
  {DiffRule::kFieldReferencesUpdated, "field_references_updated", W, kDcs | kAvro, "references",
   "", "A field references another field than before."},
  {DiffRule::kFieldUniqueUpdated, "field_unique_updated", B, kAll, "unique", "unique",
   "A field became or stopped being unique. An absent flag means false."},
  {DiffRule::kFieldDescriptionAdded, "field_description_added", I, kAll, "description",
   "description", "A field got a description (Avro: `doc`)."},
  {DiffRule::kFieldDescriptionRemoved, "field_description_removed", I, kAll, "description",
   "description", "A field lost its description."},
  {DiffRule::kFieldDescriptionUpdated, "field_description_updated", I, kAll, "description",
   "description", "A field's description changed."},
  {DiffRule::kFieldPiiAdded, "field_pii_added", W, kDcs | kAvro, "pii", "",
   "A field got a `pii` mark."},
  {DiffRule::kFieldPiiRemoved, "field_pii_removed", B, kDcs | kAvro, "pii", "",
   "A field lost its `pii` mark: consumers that relied on it stop protecting the data."},
  {DiffRule::kFieldPiiUpdated, "field_pii_updated", B, kDcs | kAvro, "pii", "",
   "A field's `pii` value changed (true to false or the reverse), as written."},
  {DiffRule::kFieldClassificationAdded, "field_classification_added", W, kAll, "classification",
   "classification", "A field got a classification."},
  {DiffRule::kFieldClassificationRemoved, "field_classification_removed", B, kAll,
   "classification", "classification", "A field lost its classification."},
  {DiffRule::kFieldClassificationUpdated, "field_classification_updated", B, kAll,
   "classification", "classification", "A field's classification changed."},
  {DiffRule::kFieldPatternAdded, "field_pattern_added", W, kAll, "pattern",
   "logicalTypeOptions.pattern", "A field got a pattern."},
  {DiffRule::kFieldPatternRemoved, "field_pattern_removed", B, kAll, "pattern",
   "logicalTypeOptions.pattern", "A field lost its pattern."},
  {DiffRule::kFieldPatternUpdated, "field_pattern_updated", B, kAll, "pattern",
   "logicalTypeOptions.pattern", "A field's pattern changed."},
  {DiffRule::kFieldMinLengthAdded, "field_min_length_added", W, kAll, "minLength",
   "logicalTypeOptions.minLength", "A field got a minimum length."},
  {DiffRule::kFieldMinLengthRemoved, "field_min_length_removed", W, kAll, "minLength",
   "logicalTypeOptions.minLength", "A field lost its minimum length."},
  {DiffRule::kFieldMinLengthUpdated, "field_min_length_updated", B, kAll, "minLength",
   "logicalTypeOptions.minLength", "A field's minimum length changed."},
  {DiffRule::kFieldMaxLengthAdded, "field_max_length_added", W, kAll, "maxLength",
   "logicalTypeOptions.maxLength", "A field got a maximum length."},
  {DiffRule::kFieldMaxLengthRemoved, "field_max_length_removed", W, kAll, "maxLength",
   "logicalTypeOptions.maxLength", "A field lost its maximum length."},
  {DiffRule::kFieldMaxLengthUpdated, "field_max_length_updated", B, kAll, "maxLength",
   "logicalTypeOptions.maxLength", "A field's maximum length changed."},
  {DiffRule::kFieldMinimumAdded, "field_minimum_added", W, kAll, "minimum",
   "logicalTypeOptions.minimum", "A field got a minimum."},
  {DiffRule::kFieldMinimumRemoved, "field_minimum_removed", W, kAll, "minimum",
   "logicalTypeOptions.minimum", "A field lost its minimum."},
  {DiffRule::kFieldMinimumUpdated, "field_minimum_updated", B, kAll, "minimum",
   "logicalTypeOptions.minimum", "A field's minimum changed."},
  {DiffRule::kFieldExclusiveMinimumAdded, "field_exclusive_minimum_added", W, kAll,
   "exclusiveMinimum", "logicalTypeOptions.exclusiveMinimum", "A field got an exclusive minimum."},
  {DiffRule::kFieldExclusiveMinimumRemoved, "field_exclusive_minimum_removed", W, kAll,
   "exclusiveMinimum", "logicalTypeOptions.exclusiveMinimum",
   "A field lost its exclusive minimum."},
  {DiffRule::kFieldExclusiveMinimumUpdated, "field_exclusive_minimum_updated", B, kAll,
   "exclusiveMinimum", "logicalTypeOptions.exclusiveMinimum",
   "A field's exclusive minimum changed."},
  {DiffRule::kFieldMaximumAdded, "field_maximum_added", W, kAll, "maximum",
   "logicalTypeOptions.maximum", "A field got a maximum."},
  {DiffRule::kFieldMaximumRemoved, "field_maximum_removed", W, kAll, "maximum",
   "logicalTypeOptions.maximum", "A field lost its maximum."},
  {DiffRule::kFieldMaximumUpdated, "field_maximum_updated", B, kAll, "maximum",
   "logicalTypeOptions.maximum", "A field's maximum changed."},
  {DiffRule::kFieldExclusiveMaximumAdded, "field_exclusive_maximum_added", W, kAll,
   "exclusiveMaximum", "logicalTypeOptions.exclusiveMaximum", "A field got an exclusive maximum."},
  {DiffRule::kFieldExclusiveMaximumRemoved, "field_exclusive_maximum_removed", W, kAll,
   "exclusiveMaximum", "logicalTypeOptions.exclusiveMaximum",
   "A field lost its exclusive maximum."},
  {DiffRule::kFieldExclusiveMaximumUpdated, "field_exclusive_maximum_updated", B, kAll,
   "exclusiveMaximum", "logicalTypeOptions.exclusiveMaximum",
   "A field's exclusive maximum changed."},
  {DiffRule::kFieldEnumAdded, "field_enum_added", W, kDcs, "enum", "",
   "A field got a list of allowed values (Avro: became an enum)."},
  {DiffRule::kFieldEnumRemoved, "field_enum_removed", I, kDcs, "enum", "",
   "A field lost its list of allowed values: any value is allowed now."},
  {DiffRule::kFieldEnumUpdated, "field_enum_updated", B, kDcs | kAvro, "enum", "",
   "The allowed values changed (order ignored; Avro: enum symbols), one change with the old "
   "and new lists."},
  {DiffRule::kFieldTagsAdded, "field_tags_added", I, kDcs | kOdcs, "tags", "tags",
   "A field got tags."},
  {DiffRule::kFieldTagsRemoved, "field_tags_removed", I, kDcs | kOdcs, "tags", "tags",
   "A field lost its tags."},
  {DiffRule::kFieldTagsUpdated, "field_tags_updated", I, kDcs | kOdcs, "tags", "tags",
   "A field's tags changed (order ignored)."},
  {DiffRule::kFieldExampleAdded, "field_example_added", I, kDcs | kOdcs, "example, examples",
   "examples", "A field got examples."},
  {DiffRule::kFieldExampleRemoved, "field_example_removed", I, kDcs | kOdcs, "example, examples",
   "examples", "A field lost its examples."},
  {DiffRule::kFieldExampleUpdated, "field_example_updated", I, kDcs | kOdcs, "example, examples",
   "examples", "A field's examples changed."},
  {DiffRule::kQualityAdded, "quality_added", I, kDcs, "quality", "",
   "A contract got a top-level `quality: {type, specification}` block (datacontract.com 0.9–1.0)."},
  {DiffRule::kQualityRemoved, "quality_removed", W, kDcs, "quality", "",
   "A contract lost its top-level quality block."},
  {DiffRule::kQualityTypeUpdated, "quality_type_updated", W, kDcs, "quality.type", "",
   "The quality block's type changed (SodaCL, great-expectations, ...)."},
  {DiffRule::kQualitySpecificationUpdated, "quality_specification_updated", W, kDcs,
   "quality.specification", "", "The quality block's checks changed."},
  {DiffRule::kQualityRuleAdded, "quality_rule_added", I, kAll, "quality[]", "quality[]",
   "A quality rule was added to a list of rules: the contract's `quality.rules`, a model's or a "
   "field's `quality` (datacontract.com 1.x, ODCS). Arbiter's own (datacontract-cli: "
   "model__added / field__added, info)."},
  {DiffRule::kQualityRuleRemoved, "quality_rule_removed", W, kAll, "quality[]", "quality[]",
   "A quality rule was removed. Arbiter's own, classed like quality_removed."},
  {DiffRule::kQualityRuleUpdated, "quality_rule_updated", W, kAll, "quality[]", "quality[]",
   "A quality rule changed. Arbiter's own, classed like quality_specification_updated."},
  {DiffRule::kSloAdded, "slo_added", I, kAll | kProduct, "servicelevels", "slaProperties[]",
   "A service level objective was added (`slos`, datacontract.com `servicelevels`, ODCS "
   "`slaProperties`). Arbiter's own."},
  {DiffRule::kSloRemoved, "slo_removed", W, kAll | kProduct, "servicelevels", "slaProperties[]",
   "A service level objective was removed. Arbiter's own."},
  {DiffRule::kSloUpdated, "slo_updated", W, kAll | kProduct, "servicelevels", "slaProperties[]",
   "A service level objective's target changed. Arbiter's own."},
  {DiffRule::kDomainChanged, "domain_changed", B, kProduct, "", "",
   "The product moved to another domain."},
  {DiffRule::kOwnerChanged, "owner_changed", W, kProduct, "", "", "The product's owner changed."},
  {DiffRule::kPiiAdded, "pii_added", W, kProduct, "", "",
   "The product is now marked as holding PII (`spec.classification.pii`)."},
  {DiffRule::kPiiRemoved, "pii_removed", B, kProduct, "", "",
   "The product lost its PII mark."},
  {DiffRule::kClassificationChanged, "classification_changed", W, kProduct, "", "",
   "`governance.dataClassification` changed."},
  {DiffRule::kAccessControlChanged, "access_control_changed", W, kProduct, "", "",
   "`governance.accessControl` changed."},
  {DiffRule::kOutputPortAdded, "output_port_added", I, kProduct, "", "",
   "An output port was added."},
  {DiffRule::kOutputPortRemoved, "output_port_removed", B, kProduct, "", "",
   "An output port was removed."},
  {DiffRule::kOutputPortChanged, "output_port_changed", B, kProduct, "", "",
   "An output port's address changed (type, catalog, schema, endpoint or topic): consumers "
   "connect by these."},
  {DiffRule::kOutputPortUpdated, "output_port_updated", W, kProduct, "", "",
   "Another attribute of an output port changed."},
  {DiffRule::kTableAdded, "table_added", I, kProduct, "", "", "A port's table was added."},
  {DiffRule::kTableRemoved, "table_removed", B, kProduct, "", "",
   "A port's table was removed."},
  {DiffRule::kColumnAdded, "column_added", I, kProduct, "", "", "A table's column was added."},
  {DiffRule::kColumnRemoved, "column_removed", B, kProduct, "", "",
   "A table's column was removed."},
  {DiffRule::kColumnTypeAdded, "column_type_added", W, kProduct, "", "",
   "A column got a type."},
  {DiffRule::kColumnTypeRemoved, "column_type_removed", W, kProduct, "", "",
   "A column lost its type."},
  {DiffRule::kColumnTypeUpdated, "column_type_updated", B, kProduct, "", "",
   "A column's type changed."},
  {DiffRule::kColumnPiiAdded, "column_pii_added", W, kProduct, "", "",
   "A column got a PII mark (`pii: true` or a `pii` tag)."},
  {DiffRule::kColumnPiiRemoved, "column_pii_removed", B, kProduct, "", "",
   "A column lost its PII mark."},
  {DiffRule::kColumnTagsChanged, "column_tags_changed", I, kProduct, "", "",
   "A column's tags changed."},
}};
// clang-format on

namespace {

constexpr bool TableInOrder() {
  for (size_t i = 0; i < kDiffRules.size(); ++i) {
    if (static_cast<size_t>(kDiffRules[i].rule) != i) return false;
  }
  return true;
}
static_assert(TableInOrder(), "kDiffRules must list every DiffRule in enum order");

}  // namespace

constexpr std::array<ChangeClassInfo, 3> kChangeClasses = {{
    {ChangeClass::kBreaking, "breaking", "breaking",
     "can break a reader or writer of the deployed version (datacontract-cli's ERROR); "
     "global.breaking-changes denies it without a major version bump"},
    {ChangeClass::kWarning, "warning", "warnings",
     "may break some readers (datacontract-cli's WARNING); reported, never denied by the "
     "shipped policies"},
    {ChangeClass::kInfo, "info", "info", "compatible (datacontract-cli's INFO)"},
}};

namespace {

constexpr bool ClassesInOrder() {
  for (size_t i = 0; i < kChangeClasses.size(); ++i) {
    if (static_cast<size_t>(kChangeClasses[i].cls) != i) return false;
  }
  return true;
}
static_assert(ClassesInOrder(), "kChangeClasses must list every ChangeClass in enum order");

}  // namespace

absl::string_view ChangeClassName(ChangeClass c) {
  return kChangeClasses[static_cast<size_t>(c)].name;
}

absl::string_view ChangeClassListKey(ChangeClass c) {
  return kChangeClasses[static_cast<size_t>(c)].list_key;
}

std::optional<ChangeClass> ParseChangeClass(absl::string_view name) {
  for (const ChangeClassInfo& c : kChangeClasses) {
    if (c.name == name) return c.cls;
  }
  return std::nullopt;
}

std::optional<DiffRule> FindDiffRule(absl::string_view name) {
  static const auto* index = [] {
    auto* m = new absl::flat_hash_map<absl::string_view, DiffRule>();
    for (const DiffRuleInfo& r : kDiffRules) m->emplace(r.name, r.rule);
    return m;
  }();
  auto it = index->find(name);
  if (it == index->end()) return std::nullopt;
  return it->second;
}

const DiffRuleClasses& DefaultDiffRuleClasses() {
  static const DiffRuleClasses classes = [] {
    DiffRuleClasses c{};
    for (const DiffRuleInfo& r : kDiffRules) c[static_cast<size_t>(r.rule)] = r.default_class;
    return c;
  }();
  return classes;
}

namespace {

std::string ShapeText(uint8_t shapes) {
  std::string out;
  auto add = [&](uint8_t bit, absl::string_view name) {
    if ((shapes & bit) == 0) return;
    if (!out.empty()) out += ", ";
    absl::StrAppend(&out, name);
  };
  add(kShapeDcs, "datacontract.com");
  add(kShapeOdcs, "ODCS v3");
  add(kShapeAvro, "Avro");
  add(kShapeProduct, "product");
  return out;
}

std::string Cell(absl::string_view s) {
  if (s.empty()) return "";
  return absl::StrCat("`", s, "`");
}

}  // namespace

std::string RenderDiffRulesMarkdown() {
  std::string out = R"md(# Schema diff rules

<!-- Rendered from service/diff/diff_rules.cc (kDiffRules); diff_rules_test fails when this
     file and the table differ. Regenerate with `diff_rules_test --render > docs/diff-rules.md`. -->

The deployment gate (`arbiter gate`, `CheckDeployment`) diffs every data contract and the data
product descriptor against the version deployed now and hands the classified changes to the
policies as `req.change` (see [gate.md](gate.md)). Every change names one rule of this table.
Its class decides the list it lands in — `breaking`, `warnings` or `info` — and
`global.breaking-changes` denies a breaking change without a major version bump.

The default classes follow datacontract-cli's published breaking-change rules (its last release
with `breaking`, v0.10.41) field by field: its ERROR is `breaking`, WARNING is `warning`, INFO is
`info`. Rules marked "Arbiter's own" have no datacontract-cli counterpart or deliberately differ:

- `field_required_relaxed`: datacontract-cli classes every change of `required` as an error;
  Arbiter splits it: becoming required is `field_required_updated` (breaking), becoming optional
  is `field_required_relaxed` (warning) — old data stays readable.
- Boolean flags (`required`, `unique`, `primaryKey`) are compared by meaning: absent is false,
  so `required: false` written where there was none is no change (datacontract-cli would report
  an info "added").
- PII marks: `pii` is compared as written, as datacontract-cli does (`field_pii_updated` for
  true ↔ false, an error in both directions), and `classification` follows datacontract-cli's
  `field_classification_*`. (Arbiter used to class a classification change by level — lowering
  it from confidential as a removed PII mark, raising it as an added one; it now follows the
  published rules: every change of a classification is breaking.)
- `field_added_required`: a new required field without a default is breaking (datacontract-cli
  reports every new field as an info `field_added`).
- Quality rule lists, SLOs, products, contracts added/removed and unreadable schemas are
  Arbiter's own rules.

**Shapes.** datacontract.com specification 0.9–1.x (`models` → `fields`, nested `fields`, array
`items`, `definitions` reached through `$ref` — a change inside a definition is reported at every
field that uses it — `quality` at the top level and per model and field, `servicelevels`); ODCS
v3.0–3.1 (`schema[]` → `properties[]`, nested `properties` and `items`, `logicalTypeOptions`,
`quality` on objects and properties, `slaProperties`); the Avro record in
`schema.specification`. Paths start with `models.` (datacontract.com) or `schema.` (ODCS,
Avro), then the model and the field; nested fields are joined by dots (`fields`/`properties`
left out), array items are `.items`. Each change is `{document, path, rule, old, new}` and,
when the new document came as YAML text, `line`: the line of the key the path names, or of the
nearest enclosing key the new version still has (none inside an Avro specification, which is
JSON in a string; `arbiter gate` then searches the text itself).

**Reclassifying.** A council that is stricter or looser sets classes per rule in `bundle.yaml`;
the bundle's deployment decisions (and `req.change`) use them:

```yaml
diff_rules:
  field_enum_removed: breaking
  field_description_updated: warning
```

An unknown rule name or class is a load error naming `bundle.yaml:<line>`.

## Rules

| rule | default class | applies to | datacontract.com key | ODCS key | description |
| --- | --- | --- | --- | --- | --- |
)md";
  for (const DiffRuleInfo& r : kDiffRules) {
    absl::StrAppend(&out, "| `", r.name, "` | ", ChangeClassName(r.default_class), " | ",
                    ShapeText(r.shapes), " | ", Cell(r.dcs_key), " | ", Cell(r.odcs_key), " | ",
                    r.description, " |\n");
  }
  return out;
}

}  // namespace arbiter
