// Parsing outside input (YAML and JSON text) into Value trees, with limits, and rendering Values
// as JSON. Every error is an INVALID_ARGUMENT status that starts with "<source>:<line>:<col>: "
// so that the person who wrote the document can find the problem.
#ifndef ARBITER_SERVICE_VALUE_PARSE_H_
#define ARBITER_SERVICE_VALUE_PARSE_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "service/value/value.h"

namespace arbiter {

// Bounds on a parsed document. Aliases in YAML are expanded, so an alias counts the nodes and
// bytes of what it copies: `max_nodes` and `max_expanded_bytes` bound the "billion laughs"
// (many aliases of one big collection) and its cousin, many aliases of one big scalar.
//
// Every parser of outside input uses these; the values each caller passes are listed in
// docs/limits.md (keep that table true when changing a default or a caller).
struct ParseLimits {
  size_t max_bytes = 4 << 20;  // size of the text
  int max_depth = 64;          // nesting of lists and maps
  size_t max_nodes = 200000;   // scalars, lists and maps after alias expansion
  // Bytes of scalar text (values and map keys) after alias expansion. JSON has no aliases, so
  // there it never exceeds max_bytes.
  size_t max_expanded_bytes = 16 << 20;
};

// Parses one YAML document. Plain scalars resolve as YAML 1.2's core schema (null, true/false,
// integers, floats); quoted scalars are always strings. An empty document is null. Every node
// carries its position (Value::pos(), file `source`); a map entry's is its key's.
absl::StatusOr<Value> ParseYaml(absl::string_view text, absl::string_view source,
                                const ParseLimits& limits = {});

// Parses one JSON document. Integers that fit int64 stay integers. Nodes carry positions as
// ParseYaml's do (columns count bytes).
absl::StatusOr<Value> ParseJson(absl::string_view text, absl::string_view source,
                                const ParseLimits& limits = {});

// ParseJson by nlohmann's parser alone. ParseJson parses the common documents (strings without
// \u escapes, integers, no floats) with a faster parser of its own and hands everything else,
// errors included, to this one; tests and the JSON fuzzer check that both build the same tree
// with the same positions.
absl::StatusOr<Value> ParseJsonReference(absl::string_view text, absl::string_view source,
                                         const ParseLimits& limits = {});

}  // namespace arbiter

#endif  // ARBITER_SERVICE_VALUE_PARSE_H_
