// Parsing outside input (YAML and JSON text) into Value trees, with limits, and rendering Values
// as JSON. Every error is an INVALID_ARGUMENT status that starts with "<source>:<line>:<col>: "
// so that the person who wrote the document can find the problem.
#ifndef ARBITER_SERVICE_VALUE_PARSE_H_
#define ARBITER_SERVICE_VALUE_PARSE_H_

#include <cstddef>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "service/value/value.h"

namespace arbiter {

// Bounds on a parsed document. Aliases in YAML are expanded, so `max_nodes` also bounds the
// "billion laughs" expansion.
struct ParseLimits {
  size_t max_bytes = 4 << 20;  // size of the text
  int max_depth = 64;          // nesting of lists and maps
  size_t max_nodes = 200000;   // scalars, lists and maps after alias expansion
};

// Parses one YAML document. Plain scalars resolve as YAML 1.2's core schema (null, true/false,
// integers, floats); quoted scalars are always strings. An empty document is null.
absl::StatusOr<Value> ParseYaml(absl::string_view text, absl::string_view source,
                                const ParseLimits& limits = {});

// Parses one JSON document. Integers that fit int64 stay integers.
absl::StatusOr<Value> ParseJson(absl::string_view text, absl::string_view source,
                                const ParseLimits& limits = {});

}  // namespace arbiter

#endif  // ARBITER_SERVICE_VALUE_PARSE_H_
