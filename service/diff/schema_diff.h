// The classified diff between two versions of a data contract or data product descriptor: what a
// deployment gate hands to policies as `req.change`, so that a policy can say "breaking change
// without a major version bump" without parsing schemas in Lua.
//
// The classes follow datacontract-cli's breaking-change rules. Three contract shapes are
// understood and normalised into models → fields with attributes before diffing:
//   - `schema: {type: avro, specification: <Avro record schema as JSON text or a map>}`;
//   - ODCS: `schema: [{name, description, properties: [{name, logicalType|type, ...}]}]`;
//   - datacontract.com: `models: {<model>: {description, fields: {<field>: {type, ...}}}}`.
//
// Paths start with "schema." (Avro, ODCS) or "models." (datacontract.com), then the model and
// the field, nested fields joined by dots. Field types are compared as canonical text: Avro
// "bytes[decimal(10,2)]", "long[timestamp-millis]", "array<string>", "union<long,string>"
// (branch order ignored); a union's "null" branch is not part of the type but of `required`.
// Enum symbol changes carry the symbol in `old`/`new`, one change per symbol.
//
// Rules (the `rule` of a Change) by class:
//   breaking: model_removed, field_removed, field_added_required, field_type_changed,
//     field_format_changed, field_required_changed, field_unique_changed, field_pii_removed,
//     enum_symbol_removed, contract_removed; for products: output_port_removed,
//     output_port_changed, table_removed, column_removed, column_type_changed,
//     column_pii_removed, pii_removed, domain_changed.
//   warnings: field_primary_key_changed, field_references_changed, field_pii_added,
//     field_required_relaxed, enum_symbol_added, quality_rule_removed, quality_rule_changed,
//     slo_changed, schema_type_changed, unparseable_schema; a type or format that appears or
//     disappears (rather than changing) is a field_type_changed / field_format_changed /
//     column_type_changed warning, as in datacontract-cli; for products: output_port_updated
//     (a port attribute other than type/catalog/schema/endpoint/topic), column_pii_added,
//     pii_added, classification_changed, access_control_changed, owner_changed.
//   info: model_added, field_added, description_changed, quality_rule_added, slo_added,
//     contract_added, field_classification_changed (a classification change that neither
//     lowers nor raises it to confidential or above, e.g. public → internal); for products:
//     output_port_added, table_added, column_added, column_tags_changed.
//
// Malformed input never fails the diff: each problem (spec text that is not JSON, fields that
// are neither a list nor a map, an entry without a name, a repeated name of which the first is
// compared) becomes an `unparseable_schema` warning whose `new` holds the error text, and the
// rest of the documents is still compared. A specification that does not parse at all is not
// compared field by field; inside one that does, what cannot be read counts as absent, so
// fields that became unreadable also show as removed. Work is linear in the size of the
// documents (up
// to sorting) and recursion is no deeper than the Value trees, which the parsers bound.
//
// All functions are pure and thread-safe.
#ifndef ARBITER_SERVICE_DIFF_SCHEMA_DIFF_H_
#define ARBITER_SERVICE_DIFF_SCHEMA_DIFF_H_

#include <string>
#include <vector>

#include "service/value/value.h"

namespace arbiter {

// One classified difference.
struct Change {
  // "contract:<name>" or "product:<name>".
  std::string document;
  // A dotted path a person can read, e.g. "schema.CustomerTransaction.amount.type" or
  // "spec.outputPorts.sql-access.schema".
  std::string path;
  // The rule that classified the change (see the file comment).
  std::string rule;
  // What was there before and what is there now; null when absent.
  Value old_value;
  Value new_value;
};

// Changes by class, each ordered by (document, path) and then by discovery order.
struct ChangeSet {
  std::vector<Change> breaking;
  std::vector<Change> warnings;
  std::vector<Change> info;
};

// Diffs one data contract against its previous version. The document name is the current
// contract's (metadata.name, else name, id or info.title).
ChangeSet DiffContracts(const Value& previous, const Value& current);

// Diffs a data product descriptor against its previous version.
ChangeSet DiffProducts(const Value& previous, const Value& current);

// Builds what policies see as `req.change`, a map:
//   breaking, warnings, info: lists of {document, path, rule, old, new}, ordered by
//     (document, path);
//   version: {from, to, bump} for the product's metadata.version; without a previous product
//     {to, bump: "initial"}; bump is "invalid" when a side is not a semantic version;
//   contract_versions: contract name → {from, to, bump}, in name order; a new contract has
//     {to, bump: "initial"}, a removed one {from, bump: "removed"};
//   first_deployment: true when there is no previous product.
// Contracts are matched by name; a previous contract without a current counterpart is a
// breaking `contract_removed`, a new one an info `contract_added`. `previous_product` may be
// null; nothing is retained after the call.
Value ComputeChange(const Value& product, const Value* previous_product,
                    const std::vector<Value>& contracts,
                    const std::vector<Value>& previous_contracts);

}  // namespace arbiter

#endif  // ARBITER_SERVICE_DIFF_SCHEMA_DIFF_H_
