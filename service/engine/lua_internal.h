// Internals of the Lua sandbox shared by lua_sandbox.cc, lua_view.cc, lua_library.cc and
// lua_adapter.cc. Not for use outside service/engine. Every function here that touches the Lua
// stack must be called inside lua_pcall and says what it pushes.
#ifndef ARBITER_SERVICE_ENGINE_LUA_INTERNAL_H_
#define ARBITER_SERVICE_ENGINE_LUA_INTERNAL_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "service/engine/bundle.h"
#include "service/engine/lua_helpers/get.h"
#include "service/engine/lua_helpers/regex.h"
#include "service/engine/lua_helpers/roles.h"
#include "service/engine/lua_helpers/text.h"
#include "service/engine/lua_sandbox.h"
#include "service/engine/small_block_pool.h"
#include "service/value/value.h"

extern "C" {
#include <lua.h>
}

namespace arbiter {

// Per-state bookkeeping, reachable from the lua_State through its extra space.
struct LuaSandbox::Context {
  // kInterrupted: the watchdog stopped a hookless fast run (lua_sandbox.cc); never reported,
  // the check is run again under the counting hook.
  enum class Abort { kNone, kBudget, kTimeout, kRequestDeadline, kInterrupted };
  EngineLimits limits;
  size_t mem_used = 0;
  size_t mem_limit = 0;
  size_t baseline = 0;
  bool unhealthy = false;
  // Where the state's blocks come from (small_block_pool.h); outlives the state (lua_close runs
  // before the Context goes).
  SmallBlockPool pool;
  int64_t instructions = 0;
  int64_t budget = 0;
  // How long a hookless run may take and still be certified within `budget` (budget / R_max,
  // lua_sandbox.cc), in nanoseconds.
  int64_t fast_bound_ns = 0;
  // The running call's deadlines: the policy's own and the caller's, on the monotonic clock
  // (RunWatchdog::NowNanos), which no step of the system clock moves. INT64_MAX: none.
  int64_t deadline_ns = INT64_MAX;
  int64_t request_deadline_ns = INT64_MAX;
  Abort abort = Abort::kNone;
  // A hookless fast run is in progress (lua_sandbox.cc): the hook, when it fires, was set by
  // the watchdog's interrupt or by OutOfTime, not by the count.
  bool fast_run = false;
  // The finding metatable's address (IsFinding compares it instead of a registry lookup).
  const void* finding_meta = nullptr;
  // The finding fields' names "type", "message", "detail", "masks" and "row_filters" as this
  // state interned them (lua_library.cc, FindingKey): a short string is unique in its state, so a
  // table key is one of them exactly when its text's address is. The builders' upvalues keep
  // them alive.
  const char* finding_keys[5] = {};
  // Views carry the generation they were made in; a view used after its evaluation ended is
  // refused (a policy may stash one in its environment). Catalog views (generation 0, see
  // `stable` below) point into trees that live as long as the state, so they stay valid.
  // 64-bit: a long-lived state ends billions of evaluations, and a wrapped counter would let
  // a stashed view from 2^32 evaluations ago read freed memory (lua_view.cc encodes it in a
  // light userdata's 40 high bits, and retires the state before it wraps).
  uint64_t generation = 1;
  // Registry ref of the view metatable (a request root's view has it, or the root cache's).
  int view_meta_ref = -2;  // LUA_NOREF
  // Every other view is a light userdata, the handle (generation, slot) of lua_view.cc: `views`
  // gives the handle of each request Value viewed this evaluation (one object per value, so
  // that repeated accesses to req.principal & co. are equal; a catalog value's is the state's,
  // below), `view_values` the Value of each slot.
  // `views` is an open-addressing table (a power of two long) whose entries count only in the
  // generation they were made in, so ending an evaluation empties it without touching it.
  struct ViewEntry {
    const Value* value = nullptr;
    uint64_t handle = 0;
    uint64_t generation = 0;
  };
  std::vector<ViewEntry> views;
  size_t views_used = 0;  // entries of this generation
  std::vector<const Value*> view_values;
  // The request roots' full userdata views (PushRequestView), kept alive in the anchor, a
  // registry-held Lua array of view_count entries; root_target is this evaluation's.
  int view_anchor_ref = -2;  // LUA_NOREF
  int view_count = 0;
  const Value* root_target = nullptr;
  uint64_t root_generation = 0;
  int root_anchor = 0;
  // The request root's view caches what is read through it (lua_view.cc): registry refs of the
  // root metatable, of the cache and of the list of keys cached (the upvalue of the cache's
  // __index closure).
  struct RootView {
    int meta_ref = -2;
    int cache_ref = -2;
    int list_ref = -2;
    bool attached = false;
    const Value* value = nullptr;  // the attached view's
    int anchor = 0;                // the attached view's index in the anchor table
    // Keys ever stored in the cache, listed in the list (a Lua array):
    // each evaluation's root is given them at once (lua_view.cc, PrefillRootCache). `stale`:
    // the cache may hold an earlier root's values (a prefill raised).
    int cached = 0;
    bool stale = false;
    // The listed keys in list order, with what the cache holds under each (PrefillRootCache
    // writes only what changed): nil, a string `text`, the view of the catalog value `target`,
    // or something to write again.
    struct Key {
      std::string name;
      uint32_t hint = 0;  // where `name` was in the last root's map
      enum class Held : uint8_t { kNil, kString, kStable, kOther } held = Held::kNil;
      std::string text;
      const Value* target = nullptr;
    };
    std::vector<Key> keys;
  } root_view;
  // Containers of the bundle's catalog (owned by the Bundle, which outlives this state): their
  // views stay valid across evaluations (generation 0): their handles are made once per state
  // and kept in `stable_views` (Value -> handle; slot -> Value in `stable_values`). Null: none.
  // A few small ones get a cached view instead (lua_view.cc, kMaxStableCaches), each held by a
  // registry reference: `stable_cached` of them.
  const absl::flat_hash_set<const Value*>* stable = nullptr;
  absl::flat_hash_map<const Value*, uint64_t> stable_views;
  std::vector<const Value*> stable_values;
  int stable_cached = 0;
  // Whether a Value is in `stable`, by address, and a catalog value's view handle once made
  // (lua_view.cc, IsStable).
  struct StableMemo {
    const Value* value = nullptr;
    bool stable = false;
    uint64_t handle = 0;
  };
  static constexpr int kStableMemoBits = 8;
  std::array<StableMemo, 1 << kStableMemoBits> stable_memo{};
  // print(...) output of the running check when tracing (null: print does nothing), and the
  // bytes it holds; lines run when measuring coverage (null: no line hook).
  std::vector<std::string>* prints = nullptr;
  size_t print_bytes = 0;
  LineCoverage* coverage = nullptr;
  // Compiled RE2 patterns, bounded and charged to mem_used (lua_helpers/regex.h).
  lua_helpers::RegexCache regex_cache;
  // The split forms of the paths get() was given last (lua_helpers/get.h).
  lua_helpers::PathCache path_cache;
  // The roles and groups of the principal has_role & co. read last (lua_helpers/roles.h).
  lua_helpers::FieldMemo principal_roles, principal_groups;
  // What a helper call left for its binding to raise or push once the helper's own C++ objects
  // are gone (lua_adapter.cc): owned here, not by the C function's frame, so that a raise while
  // pushing it skips no destructor. Reused across calls.
  std::string helper_error;
  std::string helper_text;  // also print(...)'s line while it is built
  // By policy handle (a registry ref): whether its check declares a second parameter (or
  // `...`). A check that cannot see its second argument is given nil for ctx, not a view made
  // for nothing (lua_sandbox.cc).
  std::vector<bool> check_takes_ctx;
  ~Context();
};

namespace lua_internal {

using Ctx = LuaSandbox::Context;

void SetCtx(lua_State* L, Ctx* c);
// (Inline: every helper call asks for it.)
inline Ctx* GetCtx(lua_State* L) {
  Ctx* c;
  std::memcpy(&c, lua_getextraspace(L), sizeof c);
  return c;
}

using lua_helpers::CleanText;  // lua_helpers/text.h

// Raises the budget's abort (as the instruction hook would) when the policy's time budget or the
// request's deadline has passed. C functions that may run long call it before they start, since
// no hook fires inside them.
void CheckDeadline(lua_State* L);

// CheckDeadline without the raise: true (with the abort recorded and the hook made sticky, which
// raise nothing) when the time is up; AbortText is then the message to raise.
bool OutOfTime(lua_State* L);
const char* AbortText(lua_State* L);

// Installs the safe library, the patched string library, the view and finding metatables and
// the helpers into the registry. Pushes nothing.
// The caps it applies (string.rep, pattern subjects) are read from the state's Context.
void InstallSafeLibrary(lua_State* L);

// Ends an evaluation: views made so far die (cached ones included). Pushes nothing.
void EndEvaluation(lua_State* L);

// Pushes a new, empty policy environment whose locked metatable falls back to the safe library.
void PushPolicyEnv(lua_State* L);

// Replaces the table at the top of the stack with a read-only proxy of it.
void MakeReadOnlyProxy(lua_State* L);

// lua_adapter.cc: the helpers. SetHelpers sets re, semver, list, get, duration, percent,
// has_role, has_any_role, in_group and print into the table at `safe`, and wraps the base
// library's type and tostring, which must be there already (the same answers, faster);
// PatchStringLibrary guards the real string table's find/match/gmatch/gsub/format/rep and
// removes dump; PushGuardedSort pushes a table.sort that guards the one in the table at
// `table_lib`. They push nothing else.
void SetHelpers(lua_State* L, int safe);
void PatchStringLibrary(lua_State* L, int string_lib);
void PushGuardedSort(lua_State* L, int table_lib);

// Pushes a read-only view of `v` (lists and maps become userdata views; scalars are pushed as
// Lua values). `v` must outlive the current check call.
void PushView(lua_State* L, const Value* v);

// PushView for the request's root, which every policy reads: once read a few times, the
// first such view of an evaluation caches what is read through it (lua_view.cc).
void PushRequestView(lua_State* L, const Value* v);

// A light view (every view but a request root's and a cached catalog map's) is a light
// userdata whose "pointer" is a handle, never dereferenced: generation << kViewSlotBits |
// (slot + 1), the slot indexing this evaluation's view_values (or, for generation 0, the
// state's stable_values); lua_view.cc makes them.
inline constexpr int kViewSlotBits = 24;
inline constexpr uint64_t kViewSlotMask = (uint64_t{1} << kViewSlotBits) - 1;

// The Value of the light view `handle`, or nullptr for a dead one (an ended evaluation's).
inline const Value* LightViewTarget(const Ctx* c, const void* handle) {
  const uint64_t h = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(handle));
  const uint64_t generation = h >> kViewSlotBits;
  const uint64_t slot = (h & kViewSlotMask) - 1;  // a zero slot field wraps: out of range
  const std::vector<const Value*>* values;
  if (generation == 0) {
    values = &c->stable_values;
  } else if (generation == c->generation) {
    values = &c->view_values;
  } else {
    return nullptr;
  }
  return slot < values->size() ? (*values)[slot] : nullptr;
}

// ipairs for the safe library: over a view, an iterator that pushes the list's elements
// directly (no __index call per element); anything else goes to Lua's own ipairs, upvalue 1.
int ViewIpairs(lua_State* L);

// The Value behind the view at `idx`, or nullptr when it is not a live view. Raises a Lua error
// for a view whose call has ended.
const Value* ToView(lua_State* L, int idx);

// ToView without the raise: kDead for a view whose call has ended; `*value` is set for kLive.
// Inline for light views, the most common (helpers peek at an argument on every call: ~25
// instructions less than a call into lua_view.cc); PeekFullView answers for a full userdata.
enum class ViewState { kNone, kLive, kDead };
ViewState PeekFullView(lua_State* L, int idx, const Value** value);
inline ViewState PeekView(lua_State* L, int idx, const Value** value) {
  const int type = lua_type(L, idx);
  if (type == LUA_TLIGHTUSERDATA) {
    const Value* v = LightViewTarget(GetCtx(L), lua_touserdata(L, idx));
    if (v == nullptr) return ViewState::kDead;
    *value = v;
    return ViewState::kLive;
  }
  return type == LUA_TUSERDATA ? PeekFullView(L, idx, value) : ViewState::kNone;
}

// True when the value at `idx` is a finding table made by allow/deny/warn/obligate.
bool IsFinding(lua_State* L, int idx);

// Reads the finding table at `idx` with raw accesses. Pushes nothing.
void FindingFromTable(lua_State* L, int idx, Finding* f, size_t cap);

// Registry keys.
inline constexpr char kViewMeta[] = "arbiter.view";
inline constexpr char kFindingMeta[] = "arbiter.finding";
inline constexpr char kSafeLibrary[] = "arbiter.safe";
inline constexpr char kEnvMeta[] = "arbiter.envmeta";

}  // namespace lua_internal
}  // namespace arbiter

#endif  // ARBITER_SERVICE_ENGINE_LUA_INTERNAL_H_
