// Static checks of a policy's Lua source, for the mistakes that load fine and then fail (or,
// worse, grant) at run time:
//
//   - an unknown key in a literal options table of a finding builder
//     (`allow(msg, {row_filter = ...})`): an error, also at bundle load;
//   - a global the policy reads that its environment does not define (`has_rol(...)`): an
//     error for `arbiter validate`, which would otherwise deny every request of the domain;
//   - an assignment to a global: a warning (state kept across requests; use `local`);
//   - code after an unconditional return, where cheap to see (`do return allow(...) end` and
//     what follows it in the same block): a warning.
//
// Globals are read from the compiled chunk's bytecode (GETTABUP/SETTABUP on _ENV), which sees
// exactly what the Lua compiler resolved as global — locals, upvalues and fields never count.
// Literal options tables and unreachable code are found by a token scan of the source.
//
// Thread-safe: no shared state.
#ifndef ARBITER_SERVICE_ENGINE_POLICY_LINT_H_
#define ARBITER_SERVICE_ENGINE_POLICY_LINT_H_

#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"

namespace arbiter {

struct LintFinding {
  enum class Level { kError, kWarning };
  Level level = Level::kError;
  std::string file;
  int line = 1;
  std::string message;
  // "file:line: error: message" / "file:line: warning: message".
  std::string Format() const;
};

// Unknown keys in literal options tables of allow/deny/warn/obligate calls (errors).
std::vector<LintFinding> LintFindingOptions(absl::string_view file, absl::string_view source);

// Every check above. `defined` holds the names the policy environment defines (the safe
// library and Arbiter's helpers: LuaSandbox::GlobalNames()). A source that does not compile
// yields nothing (loading reports that).
std::vector<LintFinding> LintPolicy(absl::string_view file, absl::string_view source,
                                    const absl::flat_hash_set<std::string>& defined);

// The lines of `source` that hold code of its functions — not of the chunk's top level, which
// runs once at load, and not each function's implicit final return (the `end` line) — which is
// what `arbiter test --coverage` counts. Empty when the source does not compile.
std::set<int> ExecutableLines(absl::string_view source);

}  // namespace arbiter

#endif  // ARBITER_SERVICE_ENGINE_POLICY_LINT_H_
