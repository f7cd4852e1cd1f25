// libFuzzer target for the schema diff: the input's first half is the previous version and its
// second half the current one. Each half is used both as a product descriptor and as a data
// contract, so that one input exercises DiffProducts, DiffContracts (when the names match) and
// the version deltas, with the current half's source lines (the `line` of each change).
// Malformed documents must come back as `unparseable_schema` warnings, never as a crash, a hang
// or unbounded recursion (datacontract.com `$ref` expansion included).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"
#include "service/diff/schema_diff.h"
#include "service/value/parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view input(reinterpret_cast<const char*>(data), size);
  absl::string_view first = input.substr(0, size / 2);
  absl::string_view second = input.substr(size / 2);
  absl::StatusOr<arbiter::Value> previous = arbiter::ParseYaml(first, "previous");
  // Parsed positions give every change its `line` (LineOfPath).
  absl::StatusOr<arbiter::Value> current = arbiter::ParseYaml(second, "current");
  if (!previous.ok() || !current.ok()) return 0;
  std::vector<arbiter::Value> contracts = {*current};
  std::vector<arbiter::Value> previous_contracts = {*previous};
  arbiter::Value change =
      arbiter::ComputeChange(*current, &*previous, contracts, previous_contracts,
                             arbiter::DefaultDiffRuleClasses(), /*with_lines=*/true);
  // Rendering walks the whole result, so a malformed tree would show here too.
  (void)change.ToJson();
  return 0;
}
