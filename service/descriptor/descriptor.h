// A document's identity: the name, version and domain of a data product descriptor or a data
// contract, by one rule for every shape Arbiter reads. The catalog indexes by it, the schema
// diff matches contracts and versions by it, `arbiter gate` names its inputs and finds their
// deployed versions by it, the engine and the server's authorization read a product's domain by
// it: a document is the same document to all of them.
//
// The rule: each fact is read from the first of its keys that is present and not null
//   name     metadata.name (data product descriptors, the seed's contracts), name (ODCS v3),
//            id (datacontract.com)
//   version  metadata.version, version (ODCS v3), info.version (datacontract.com)
//   domain   metadata.domain, domain (ODCS v3)
// and is the text of a scalar there (DescriptorText: a string as written, a number in its
// shortest form, a boolean as true/false). A key
// that is present with a map or list counts as the fact being unreadable (""), not as absent:
// a malformed `metadata.name` does not silently fall back to `id`; the catalog's shape check
// reports it.
//
// Everything here is pure and thread-safe; results point into the document given.
#ifndef ARBITER_SERVICE_DESCRIPTOR_DESCRIPTOR_H_
#define ARBITER_SERVICE_DESCRIPTOR_DESCRIPTOR_H_

#include <array>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "service/value/value.h"

namespace arbiter {

enum class DescriptorFact { kName, kVersion, kDomain };

// The rule's table: for each fact (indexed by DescriptorFact), its name and its keys in the
// order they are tried, as dotted paths; unused slots are empty.
struct DescriptorFactRule {
  DescriptorFact fact;
  absl::string_view name;  // "name", "version", "domain"
  std::array<absl::string_view, 3> keys;
};
extern const std::array<DescriptorFactRule, 3> kDescriptorFactRules;

// Where the rule found a fact.
struct DescriptorField {
  const Value* value = nullptr;  // the node (any type); null when no key is present
  absl::string_view key;         // its dotted path, e.g. "info.version"; "" when absent
  // The scalar's text; "" when absent or not a scalar.
  std::string text;
};

DescriptorField FindDescriptorField(const Value& doc, DescriptorFact fact);

// FindDescriptorField(doc, ...).text; "" for a document that is not a map.
std::string DescriptorName(const Value& doc);
std::string DescriptorVersion(const Value& doc);
std::string DescriptorDomain(const Value& doc);

// The text of a scalar: a string as written, an integer in decimal, a double in the shortest
// form that reads back as the same number (1.2, not 1.1999999999999999; YAML has already read
// an unquoted 1.10 as 1.1), true/false; nullopt for null, maps, lists and non-finite numbers.
std::optional<std::string> DescriptorText(const Value& v);

// The keys of a fact for messages: "metadata.name, name or id".
std::string DescriptorKeys(DescriptorFact fact);

}  // namespace arbiter

#endif  // ARBITER_SERVICE_DESCRIPTOR_DESCRIPTOR_H_
