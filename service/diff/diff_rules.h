// The vocabulary of the schema diff: every rule a change can be classified by, with its default
// class, a description and the document shapes it applies to. This table is the one place a rule
// exists: the diff names changes by `DiffRule`, docs/diff-rules.md is rendered from the table
// (diff_rules_test checks that they match), and a bundle may reclassify rules by name
// (`diff_rules:` in bundle.yaml).
//
// Default classes follow datacontract-cli's published breaking-change rules (the last release
// that had them, v0.10.41) field by field, its ERROR → breaking, WARNING → warning, INFO → info.
// Rules that datacontract-cli does not have (products, SLOs, quality rule lists, Avro nullability
// relaxed, ...) are Arbiter's own; their descriptions say so.
//
// Everything here is constant data; the functions are pure and thread-safe.
#ifndef ARBITER_SERVICE_DIFF_DIFF_RULES_H_
#define ARBITER_SERVICE_DIFF_DIFF_RULES_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/strings/string_view.h"

namespace arbiter {

// Which list of a ChangeSet (and of req.change) a change goes to.
enum class ChangeClass : uint8_t { kBreaking, kWarning, kInfo };

// The classes' one table, indexed by ChangeClass.
struct ChangeClassInfo {
  ChangeClass cls;
  // The class as bundle.yaml's `diff_rules:` and docs/diff-rules.md spell it.
  absl::string_view name;
  // The list of req.change (and of `arbiter gate`'s report) that holds its changes.
  absl::string_view list_key;
  absl::string_view description;
};
extern const std::array<ChangeClassInfo, 3> kChangeClasses;

// "breaking", "warning", "info".
absl::string_view ChangeClassName(ChangeClass c);
// "breaking", "warnings", "info".
absl::string_view ChangeClassListKey(ChangeClass c);
// By name (not list key); nullopt for anything else.
std::optional<ChangeClass> ParseChangeClass(absl::string_view name);

// Document shapes a rule applies to (a bit set).
enum DiffShape : uint8_t {
  kShapeDcs = 1,      // datacontract.com specification 0.9–1.x: models → fields
  kShapeOdcs = 2,     // ODCS v3.0–3.1: schema[] → properties[]
  kShapeAvro = 4,     // schema: {type: avro, specification: <record>}
  kShapeProduct = 8,  // data product descriptors
};
inline constexpr uint8_t kShapeContracts = kShapeDcs | kShapeOdcs | kShapeAvro;

// Every rule, in table order (kDiffRules[i].rule == DiffRule(i)).
enum class DiffRule : uint16_t {
  // Contracts and models.
  kContractAdded,
  kContractRemoved,
  kDescriptionChanged,
  kSchemaTypeChanged,
  kUnparseableSchema,
  kModelAdded,
  kModelRemoved,
  kModelDescriptionAdded,
  kModelDescriptionRemoved,
  kModelDescriptionUpdated,
  kModelTypeAdded,
  kModelTypeRemoved,
  kModelTypeUpdated,
  // Fields.
  kFieldAdded,
  kFieldAddedRequired,
  kFieldRemoved,
  kFieldRefAdded,
  kFieldRefRemoved,
  kFieldRefUpdated,
  kFieldTitleAdded,
  kFieldTitleRemoved,
  kFieldTitleUpdated,
  kFieldTypeAdded,
  kFieldTypeRemoved,
  kFieldTypeUpdated,
  kFieldPhysicalTypeAdded,
  kFieldPhysicalTypeRemoved,
  kFieldPhysicalTypeUpdated,
  kFieldFormatAdded,
  kFieldFormatRemoved,
  kFieldFormatUpdated,
  kFieldRequiredUpdated,
  kFieldRequiredRelaxed,
  kFieldPrimaryKeyUpdated,
  kFieldReferencesAdded,
  kFieldReferencesRemoved,
  kFieldReferencesUpdated,
  kFieldUniqueUpdated,
  kFieldDescriptionAdded,
  kFieldDescriptionRemoved,
  kFieldDescriptionUpdated,
  kFieldPiiAdded,
  kFieldPiiRemoved,
  kFieldPiiUpdated,
  kFieldClassificationAdded,
  kFieldClassificationRemoved,
  kFieldClassificationUpdated,
  kFieldPatternAdded,
  kFieldPatternRemoved,
  kFieldPatternUpdated,
  kFieldMinLengthAdded,
  kFieldMinLengthRemoved,
  kFieldMinLengthUpdated,
  kFieldMaxLengthAdded,
  kFieldMaxLengthRemoved,
  kFieldMaxLengthUpdated,
  kFieldMinimumAdded,
  kFieldMinimumRemoved,
  kFieldMinimumUpdated,
  kFieldExclusiveMinimumAdded,
  kFieldExclusiveMinimumRemoved,
  kFieldExclusiveMinimumUpdated,
  kFieldMaximumAdded,
  kFieldMaximumRemoved,
  kFieldMaximumUpdated,
  kFieldExclusiveMaximumAdded,
  kFieldExclusiveMaximumRemoved,
  kFieldExclusiveMaximumUpdated,
  kFieldEnumAdded,
  kFieldEnumRemoved,
  kFieldEnumUpdated,
  kFieldTagsAdded,
  kFieldTagsRemoved,
  kFieldTagsUpdated,
  kFieldExampleAdded,
  kFieldExampleRemoved,
  kFieldExampleUpdated,
  // Quality and service levels.
  kQualityAdded,
  kQualityRemoved,
  kQualityTypeUpdated,
  kQualitySpecificationUpdated,
  kQualityRuleAdded,
  kQualityRuleRemoved,
  kQualityRuleUpdated,
  kSloAdded,
  kSloRemoved,
  kSloUpdated,
  // Products.
  kDomainChanged,
  kOwnerChanged,
  kPiiAdded,
  kPiiRemoved,
  kClassificationChanged,
  kAccessControlChanged,
  kOutputPortAdded,
  kOutputPortRemoved,
  kOutputPortChanged,
  kOutputPortUpdated,
  kTableAdded,
  kTableRemoved,
  kColumnAdded,
  kColumnRemoved,
  kColumnTypeAdded,
  kColumnTypeRemoved,
  kColumnTypeUpdated,
  kColumnPiiAdded,
  kColumnPiiRemoved,
  kColumnTagsChanged,
};

struct DiffRuleInfo {
  DiffRule rule;
  absl::string_view name;
  ChangeClass default_class;
  uint8_t shapes;  // DiffShape bits
  // Where the rule looks in each shape, e.g. "minLength" / "logicalTypeOptions.minLength";
  // empty when it does not apply to that shape or is not about one key.
  absl::string_view dcs_key;
  absl::string_view odcs_key;
  absl::string_view description;
};

inline constexpr size_t kDiffRuleCount = static_cast<size_t>(DiffRule::kColumnTagsChanged) + 1;

// The table, in DiffRule order.
extern const std::array<DiffRuleInfo, kDiffRuleCount> kDiffRules;

inline const DiffRuleInfo& RuleInfo(DiffRule r) { return kDiffRules[static_cast<size_t>(r)]; }

// The rule of that name, if there is one.
std::optional<DiffRule> FindDiffRule(absl::string_view name);

// The class of every rule: the defaults, or a bundle's reclassification.
using DiffRuleClasses = std::array<ChangeClass, kDiffRuleCount>;
const DiffRuleClasses& DefaultDiffRuleClasses();

// docs/diff-rules.md: the table rendered as Markdown, with the text around it.
std::string RenderDiffRulesMarkdown();

}  // namespace arbiter

#endif  // ARBITER_SERVICE_DIFF_DIFF_RULES_H_
