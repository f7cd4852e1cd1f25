// print(...): lines in the evaluation's trace (when tracing: `arbiter test`, dry runs), never on
// stdout. Arguments are rendered without calling any metamethod.
#ifndef ARBITER_SERVICE_ENGINE_LUA_HELPERS_PRINT_H_
#define ARBITER_SERVICE_ENGINE_LUA_HELPERS_PRINT_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "service/engine/lua_helpers/arg.h"

namespace arbiter::lua_helpers {

inline constexpr size_t kMaxPrintLines = 100;
inline constexpr size_t kMaxPrintBytes = 16 << 10;
inline constexpr size_t kMaxPrintLineBytes = 1024;

// One print argument as the adapter read it.
struct PrintArg {
  Arg value;
  // A finding (allow(...) & co.) renders as "type(message)": its type ("finding" when it has
  // none) and message ("" when it has none).
  bool finding = false;
  absl::string_view finding_type;
  absl::string_view finding_message;
  // Lua's name of the value's type, for anything else ("table", "function", ...).
  absl::string_view type_name;
};

// Appends `arg` to the line being built (after a space unless it is the first), as Lua prints
// strings, numbers, booleans and nil, a request view as its JSON, a finding as
// "allow(message)", anything else by its type; the line stops at kMaxPrintLineBytes. Errors: a
// dead view.
absl::Status AppendPrintArg(const PrintArg& arg, bool first, std::string* line);

// A check's print lines are capped at kMaxPrintLines lines and kMaxPrintBytes bytes: once a
// trace holds that many, print(...) adds the note "(print: output capped)" instead of its line,
// and past kMaxPrintLines nothing. PrintTakesLine says whether the next call adds its line
// (else its arguments need not be read); AddPrintLine adds the finished `line` (cleaned, its
// bytes counted into `*bytes`), the note, or nothing.
bool PrintTakesLine(size_t lines, size_t bytes);
void AddPrintLine(absl::string_view line, std::vector<std::string>* lines, size_t* bytes);

}  // namespace arbiter::lua_helpers

#endif  // ARBITER_SERVICE_ENGINE_LUA_HELPERS_PRINT_H_
