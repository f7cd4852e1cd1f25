// One sandboxed Lua 5.4 state: the single place that touches the Lua C API.
//
// The sandbox follows ../shared/SANDBOX.md: text chunks only; every policy in its own
// environment whose locked metatable falls back to a read-only safe library; the shared string
// metatable's library patched (no dump, capped rep, subject caps for Lua patterns); a sticky
// instruction-count hook that also checks wall-clock deadlines (for a check, only once a hookless
// first run could not be certified within the budget: see RunChecks); a per-state memory ceiling
// via the allocator; requests as read-only userdata views over Value trees, invalidated after each
// call so a policy that stashes one cannot read freed memory; non-string error values handled;
// reason strings capped and stripped of control characters.
//
// Every Lua API call runs inside lua_pcall (C++ objects with destructors never sit on a stack
// frame that lua_error can unwind), so memory errors cannot reach the panic handler.
//
// Thread-compatible: one thread at a time per LuaSandbox.
#ifndef ARBITER_SERVICE_ENGINE_LUA_SANDBOX_H_
#define ARBITER_SERVICE_ENGINE_LUA_SANDBOX_H_

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "service/engine/bundle.h"
#include "service/engine/types.h"
#include "service/value/value.h"

struct lua_State;

namespace arbiter {

// What one finding helper (allow/deny/warn/obligate) produced.
struct Finding {
  enum class Type { kAllow, kDeny, kWarn, kObligate };
  Type type = Type::kDeny;
  std::string message;
  std::string detail;
  std::vector<ColumnMask> masks;
  std::vector<std::string> row_filters;
};

// The finding builders' names, in Finding::Type's order: the function a policy calls
// (allow(...)), the value of the finding's `type` field, and the first word of its trace line.
// Literals, so data() is NUL-terminated (the Lua C API takes C strings).
inline constexpr std::array<absl::string_view, 4> kFindingTypeNames = {"allow", "deny", "warn",
                                                                       "obligate"};
inline absl::string_view FindingTypeName(Finding::Type t) {
  return kFindingTypeNames[static_cast<size_t>(t)];
}
// The keys a builder's opts may have (allow(message, {detail = ...})).
inline constexpr std::array<absl::string_view, 3> kFindingOptionNames = {"detail", "masks",
                                                                         "row_filters"};
// "detail, masks, row_filters", for the messages that list them.
inline const std::string& FindingOptionList() {
  static const std::string* const list = new std::string(absl::StrJoin(kFindingOptionNames, ", "));
  return *list;
}

// The declared fields of a policy table, as read at load time (not yet validated against the
// bundle's rules; bundle.cc does that).
struct PolicySpec {
  std::string id;
  std::string description;
  std::vector<std::string> kinds;
  std::optional<std::vector<std::string>> actions;  // access actions, when declared
  std::optional<std::string> mode;
  std::optional<std::string> severity;
  std::optional<std::string> overrides;
  std::optional<bool> waivable;  // `waivable = true`: waivers may apply (issue 15)
  std::vector<std::string> unknown_keys;
  std::vector<std::string> type_errors;  // "key: expected a string" etc.
  bool has_check = false;
};

// The result of one policy check.
struct CheckOutcome {
  std::vector<Finding> findings;
  // Set when the policy could not answer; `error` says why (for the audit detail).
  std::optional<PolicyFault::Type> fault;
  std::string error;
  // The caller's deadline (not the policy's own budget) passed: the whole evaluation stops.
  bool request_deadline_exceeded = false;
  // Filled by RunChecks: instructions run as counted by the budget hook (multiples of its
  // interval; 0 when the check ran hookless and was certified within its budget by its wall
  // time, which never happens when tracing), wall time, and print(...) output when tracing.
  int64_t instructions = 0;
  absl::Duration time;
  std::vector<std::string> prints;
};

// Debugging aids for RunChecks; both off by default.
struct CheckDebug {
  bool trace = false;                // print(...) output kept in CheckOutcome::prints
  LineCoverage* coverage = nullptr;  // lines run are counted here when set (line hook)
};

class LuaSandbox {
 public:
  // Creates a state with the safe library and helpers installed. RESOURCE_EXHAUSTED if the
  // memory limit is too small for even that.
  // `stable`, when given, lists Values that outlive the state (the bundle's catalog trees):
  // their views are made once and stay valid across evaluations. It must outlive the state.
  static absl::StatusOr<std::unique_ptr<LuaSandbox>> Create(
      const EngineLimits& limits, const absl::flat_hash_set<const Value*>* stable = nullptr);
  ~LuaSandbox();
  LuaSandbox(const LuaSandbox&) = delete;
  LuaSandbox& operator=(const LuaSandbox&) = delete;

  // Compiles `source` as a text chunk named `file`, runs its top level under the instruction,
  // time and memory limits in a fresh environment, and reads the returned policy table.
  // Returns a handle for RunCheck. INVALID_ARGUMENT "file:line: message" on any failure.
  // `deadline` (the whole load's) cuts the top level short when it comes before the time limit.
  absl::StatusOr<int> LoadPolicy(absl::string_view file, absl::string_view source, PolicySpec& spec,
                                 absl::Time deadline = absl::InfiniteFuture());

  // Calls the `check` function of policy `handle` with read-only views of `request` and `ctx`.
  // `policy_deadline` bounds this call; `request_deadline` is the caller's deadline.
  CheckOutcome RunCheck(int handle, const Value& request, const Value& ctx,
                        absl::Time policy_deadline, absl::Time request_deadline);

  // Runs the checks of `handles` in order, as RunCheck would one by one (each with its own
  // budget, `policy_timeout` from its start), but inside one protected call: entering Lua once
  // per policy costs more than a small policy's own code. Appends one outcome per handle to
  // `outcomes`; stops after a check whose outcome has request_deadline_exceeded.
  //
  // The outcomes are those of runs under the counting hook, but a check is first run without
  // any hook (a count hook makes Lua trace every VM instruction, ~10% of a decision): when it
  // ends within budget / R_max of wall time, it cannot have run more than its budget and its
  // outcome stands; when it takes longer (a watchdog thread interrupts it, run_watchdog.h), it
  // is run again under the hook and that run decides. Tracing and coverage always count.
  void RunChecks(const std::vector<int>& handles, const Value& request, const Value& ctx,
                 absl::Duration policy_timeout, absl::Time request_deadline,
                 std::vector<CheckOutcome>& outcomes, const CheckDebug& debug = {});

  // Ends one evaluation (after its last RunCheck): views handed to policies die, so a view a
  // policy kept cannot be read once the request it points into is gone. Within an evaluation a
  // request tree must stay as it is and alive: views are reused by address, and what policies
  // read through the request's root is cached (lua_view.cc) until this call.
  void EndEvaluation();

  // Every RunChecks runs its checks under the counting hook (no hookless first run) while set:
  // for tests that compare both ways. Always set in ThreadSanitizer builds, where the
  // watchdog's signal would not reach a runaway loop. Process-wide; returns the previous value.
  static bool SetAlwaysCounted(bool on);
  // Checks run again under the counting hook because their hookless run could not be
  // certified, since the process started.
  static int64_t counted_reruns();

  // False once a memory abort left the state above its baseline after a full collection; the
  // owner should then discard it and build a fresh one.
  bool healthy() const;
  size_t memory_used() const;

  // The names a policy's environment defines (the safe library and Arbiter's helpers), for the
  // linter's undefined-global check.
  std::vector<std::string> GlobalNames();

  struct Context;

 private:
  LuaSandbox() = default;
  lua_State* L_ = nullptr;
  std::unique_ptr<Context> ctx_;
};

}  // namespace arbiter

#endif  // ARBITER_SERVICE_ENGINE_LUA_SANDBOX_H_
