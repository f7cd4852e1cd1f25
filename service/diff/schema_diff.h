// The classified diff between two versions of a data contract or data product descriptor: what a
// deployment gate hands to policies as `req.change`, so that a policy can say "breaking change
// without a major version bump" without parsing schemas in Lua.
//
// Every change names a rule of the one rule table (service/diff/diff_rules.h, rendered into
// docs/diff-rules.md) and lands in the class the table gives it — or the class a bundle gave it
// (`diff_rules:` in bundle.yaml). Contract shapes are normalised into models → fields with
// attributes before diffing:
//   - datacontract.com 0.9–1.x: `models: {<model>: {type, description, quality, fields: {...}}}`
//     with nested `fields`, array `items`, and `$ref: '#/definitions/<name>'` resolved against
//     `definitions` (a change inside a definition shows at every field that uses it);
//   - ODCS v3.0–3.1: `schema: [{name, physicalType, quality, properties: [{name, logicalType,
//     physicalType, logicalTypeOptions, ...}]}]` with nested `properties` and `items`;
//   - `schema: {type: avro, specification: <Avro record schema as JSON text or a map>}`.
//
// Paths start with "schema." (Avro, ODCS) or "models." (datacontract.com), then the model and
// the field, nested fields joined by dots (without "fields"/"properties"), an array's item as
// "items", then the attribute key as the document spells it ("logicalTypeOptions.maxLength").
// Avro field types are compared as canonical text: "bytes[decimal(10,2)]",
// "long[timestamp-millis]", "array<string>", "union<long,string>" (branch order ignored); a
// union's "null" branch is not part of the type but of `required`; enum symbols are the field's
// `enum`.
//
// Malformed input never fails the diff: each problem (spec text that is not JSON, fields that
// are neither a list nor a map, an entry without a name, a repeated name of which the first is
// compared, a `$ref` to no definition) becomes an `unparseable_schema` warning whose `new` holds
// the error text, and the rest of the documents is still compared. A specification that does
// not parse at all is not compared field by field; inside one that does, what cannot be read
// counts as absent, so fields that became unreadable also show as removed. Work is linear in
// the size of the documents (up to sorting, and to `$ref` expansion, which copies a definition
// into each field that uses it) and recursion is no deeper than kMaxNesting.
//
// All functions are pure and thread-safe.
#ifndef ARBITER_SERVICE_DIFF_SCHEMA_DIFF_H_
#define ARBITER_SERVICE_DIFF_SCHEMA_DIFF_H_

#include <string>
#include <vector>

#include "service/diff/diff_rules.h"
#include "service/value/parse.h"
#include "service/value/value.h"

namespace arbiter {

// One classified difference.
struct Change {
  // "contract:<name>" or "product:<name>".
  std::string document;
  // A dotted path a person can read, e.g. "schema.CustomerTransaction.amount.type" or
  // "spec.outputPorts.sql-access.schema".
  std::string path;
  // The name of the rule that classified the change (diff_rules.h).
  std::string rule;
  // What was there before and what is there now; null when absent.
  Value old_value;
  Value new_value;
  // 1-based line in the current document of the key the path names, or of the nearest enclosing
  // key it still has (a removed field: its model); 0 when unknown (the document did not come as
  // YAML text, or the path is inside an Avro specification, which is JSON text in a string).
  int line = 0;
};

// Changes by class, each ordered by (document, path) and then by discovery order.
struct ChangeSet {
  std::vector<Change> breaking;
  std::vector<Change> warnings;
  std::vector<Change> info;

  // The list of class `c`.
  std::vector<Change>& of(ChangeClass c) {
    return c == ChangeClass::kBreaking ? breaking : c == ChangeClass::kWarning ? warnings : info;
  }
  const std::vector<Change>& of(ChangeClass c) const {
    return c == ChangeClass::kBreaking ? breaking : c == ChangeClass::kWarning ? warnings : info;
  }
};

// Diffs one data contract against its previous version. The document name is the current
// contract's DescriptorName (service/descriptor).
ChangeSet DiffContracts(const Value& previous, const Value& current,
                        const DiffRuleClasses& classes = DefaultDiffRuleClasses());

// Diffs a data product descriptor against its previous version.
ChangeSet DiffProducts(const Value& previous, const Value& current,
                       const DiffRuleClasses& classes = DefaultDiffRuleClasses());

// The line of `path` (a Change path) in `doc`, from the parser's positions (see Change::line).
int LineOfPath(const Value& doc, absl::string_view path);

// Builds what policies see as `req.change`, a map:
//   breaking, warnings, info: lists of {document, path, rule, old, new, line}, ordered by
//     (document, path); `line` only when `with_lines` and known (see Change::line);
//   version: {from, to, bump} for the product's DescriptorVersion; without a previous product
//     {to, bump: "initial"}; bump is "invalid" when a side is not a semantic version;
//   contract_versions: contract name → {from, to, bump}, in name order; a new contract has
//     {to, bump: "initial"}, a removed one {from, bump: "removed"};
//   first_deployment: true when there is no previous product.
// Contracts are matched by DescriptorName and versioned by DescriptorVersion (service/descriptor);
// a previous contract without a current counterpart is a breaking `contract_removed`, a new one
// an info `contract_added`. `previous_product` may be null; nothing is retained after the call.
Value ComputeChange(const Value& product, const Value* previous_product,
                    const std::vector<Value>& contracts,
                    const std::vector<Value>& previous_contracts,
                    const DiffRuleClasses& classes = DefaultDiffRuleClasses(),
                    bool with_lines = false);

}  // namespace arbiter

#endif  // ARBITER_SERVICE_DIFF_SCHEMA_DIFF_H_
