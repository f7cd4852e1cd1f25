#include "service/engine/lua_sandbox.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "service/engine/lua_internal.h"
#include "service/engine/run_watchdog.h"

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

extern "C" {
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
}

namespace arbiter {
namespace {

using lua_internal::Ctx;

// The hook fires every kHookInterval VM instructions; small enough that a runaway loop stops
// within microseconds of its budget, large enough that the hook costs little.
constexpr int kHookInterval = 1000;
constexpr int kMaxFindingsPerCheck = 256;

// R_max of the fast path (see RunChecks' fast runs below): no Lua 5.4 VM executes more than this
// many VM instructions per nanosecond of wall time. Hookless `for i = 1, N do end` (one
// OP_FORLOOP per iteration, the cheapest loop there is) runs at 0.31 instructions/ns on the
// 2.4 GHz EPYC this was measured on; a 6 GHz desktop core with twice the IPC would do ~1.5. 8
// leaves a margin of 5x over that and 26x over the measured rate.
constexpr int64_t kMaxInstructionsPerNanosecond = 8;

// Whether every check runs under the counting hook (LuaSandbox::SetAlwaysCounted). ThreadSanitizer
// delivers signals only when the thread enters an intercepted call, which a runaway loop in
// (uninstrumented) liblua never does: under it the watchdog could not stop a fast run.
#if defined(__SANITIZE_THREAD__)
constinit std::atomic<bool> g_always_counted{true};
#else
constinit std::atomic<bool> g_always_counted{false};
#endif
constinit std::atomic<int64_t> g_counted_reruns{0};

// Under valgrind (bench/engine_instructions.py and server_instructions.sh count instructions
// under callgrind, ~50x slower than the CPU; its lightest tool runs several times slower) the VM
// runs far below R_max; without this, no check would be certified there and every measurement
// would count a fast run plus a counted one instead of what production does. R_max / 16 = 0.5
// instructions/ns still bounds what the VM can do under valgrind (1.6x this machine's native
// rate; callgrind's is ~50x lower). With 4, a check with a collector step in it was now and
// then over the bound under callgrind: 0.02-0.10 reruns per BM_Access decision.
//
// Asked on first use, not by a namespace-scope initializer: sandboxes made during static
// initialization (engine_bench registers a bundle per shipped policy then) would otherwise read
// it before it was set, and get production's bound under valgrind (every check run twice there).
bool UnderValgrind() {
  static const bool under = RUNNING_ON_VALGRIND != 0;
  return under;
}
int64_t ValgrindSlowdown() { return UnderValgrind() ? 16 : 1; }

// Also under valgrind, a check's wall time is mostly not its own: valgrind runs one thread at a
// time and a 50x slower check is preempted often on a loaded machine, so wall time would
// certify a varying share of the checks and the instruction counts would vary with the load.
// There a fast run is certified by this thread's CPU time (a system call, too slow for
// production's ~1 us checks, where a preempted check is rare and only costs a rerun), and the
// watchdog waits this many bounds of wall time before it stops one.
constexpr int kValgrindWallSlack = 100;

int64_t ThreadCpuNanos() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// Charges the sizes Lua asks for against the state's limit; the blocks come from the state's
// small-block pool, or glibc for large ones (small_block_pool.h).
void* Allocate(void* ud, void* ptr, size_t osize, size_t nsize) {
  auto* c = static_cast<LuaSandbox::Context*>(ud);
  if (ptr == nullptr) osize = 0;  // osize is a type tag then
  if (nsize == 0) {
    c->pool.Free(ptr, osize);
    c->mem_used -= osize;
    return nullptr;
  }
  if (nsize > osize && c->mem_used - osize + nsize > c->mem_limit) return nullptr;
  void* p = c->pool.Resize(ptr, osize, nsize);
  if (p != nullptr) c->mem_used = c->mem_used - osize + nsize;
  return p;
}

const char* AbortMessage(Ctx::Abort a) {
  switch (a) {
    case Ctx::Abort::kBudget:
      return "instruction budget exceeded";
    case Ctx::Abort::kTimeout:
      return "policy time budget exceeded";
    case Ctx::Abort::kRequestDeadline:
      return "request deadline exceeded";
    case Ctx::Abort::kInterrupted:
      return "interrupted (run again under the instruction count)";
    default:
      return "aborted";
  }
}

// Test mode: counts the line about to run against its chunk ("@global/x.lua" -> the file).
void RecordLine(Ctx* c, lua_State* L, lua_Debug* ar) {
  if (!lua_getinfo(L, "S", ar) || ar->source == nullptr || ar->source[0] != '@') return;
  (*c->coverage)[ar->source + 1][ar->currentline]++;
}

void Hook(lua_State* L, lua_Debug* ar) {
  Ctx* c = lua_internal::GetCtx(L);
  if (ar->event == LUA_HOOKLINE) {
    if (c->coverage != nullptr && c->abort == Ctx::Abort::kNone) RecordLine(c, L, ar);
    return;
  }
  if (c->abort == Ctx::Abort::kNone && c->fast_run) {
    // A hookless run: only the watchdog's interrupt sets this hook (OutOfTime records its abort
    // first). Past a deadline that is the outcome; otherwise the run outlasted what can be
    // certified without counting, and RunChecks runs it again, counted.
    const int64_t now = RunWatchdog::NowNanos();
    c->abort = now > c->request_deadline_ns ? Ctx::Abort::kRequestDeadline
               : now > c->deadline_ns       ? Ctx::Abort::kTimeout
                                            : Ctx::Abort::kInterrupted;
    lua_sethook(L, Hook, LUA_MASKCOUNT, 1);  // sticky, as below
  } else if (c->abort == Ctx::Abort::kNone) {
    c->instructions += kHookInterval;
    if (c->instructions > c->budget) {
      c->abort = Ctx::Abort::kBudget;
    } else {
      const int64_t now = RunWatchdog::NowNanos();
      if (now > c->request_deadline_ns) {
        c->abort = Ctx::Abort::kRequestDeadline;
      } else if (now > c->deadline_ns) {
        c->abort = Ctx::Abort::kTimeout;
      }
    }
    if (c->abort == Ctx::Abort::kNone) return;
    // Sticky: from now on fail at every instruction, so that pcall cannot swallow the abort
    // and loop on.
    lua_sethook(L, Hook, LUA_MASKCOUNT, 1);
  }
  luaL_error(L, "%s", AbortMessage(c->abort));
}

}  // namespace

bool lua_internal::OutOfTime(lua_State* L) {
  Ctx* c = lua_internal::GetCtx(L);
  if (c->abort == Ctx::Abort::kNone) {
    const int64_t now = RunWatchdog::NowNanos();
    if (now > c->request_deadline_ns) {
      c->abort = Ctx::Abort::kRequestDeadline;
    } else if (now > c->deadline_ns) {
      c->abort = Ctx::Abort::kTimeout;
    } else {
      return false;
    }
    lua_sethook(L, Hook, LUA_MASKCOUNT, 1);  // sticky, as in Hook
  }
  return true;
}

const char* lua_internal::AbortText(lua_State* L) {
  return AbortMessage(lua_internal::GetCtx(L)->abort);
}

void lua_internal::CheckDeadline(lua_State* L) {
  if (OutOfTime(L)) luaL_error(L, "%s", AbortText(L));
}

namespace {

int Panic(lua_State* L) {
  // Unreachable by design: every API call runs under lua_pcall.
  const char* msg = lua_tostring(L, -1);
  std::fprintf(stderr, "arbiter: unprotected Lua error: %s\n", msg != nullptr ? msg : "?");
  std::abort();
}

// a + b for deadlines, saturating: INT64_MAX (no deadline) past the top, INT64_MIN below.
int64_t AddNanos(int64_t a, int64_t b) {
  int64_t sum;
  return __builtin_add_overflow(a, b, &sum) ? (b < 0 ? INT64_MIN : INT64_MAX) : sum;
}

// A deadline given as a wall-clock time (the caller's, the load's), on the monotonic clock of
// the sandbox: the time left until it, from now. Converted once per call, so that a step of the
// system clock during the call moves nothing.
int64_t MonotonicDeadline(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return INT64_MAX;
  if (deadline == absl::InfinitePast()) return INT64_MIN;
  return AddNanos(RunWatchdog::NowNanos(), absl::ToInt64Nanoseconds(deadline - absl::Now()));
}

void StartBudget(Ctx* c, lua_State* L, int64_t policy_deadline_ns, int64_t request_deadline_ns) {
  c->abort = Ctx::Abort::kNone;
  c->instructions = 0;
  c->deadline_ns = policy_deadline_ns;
  c->request_deadline_ns = request_deadline_ns;
  lua_sethook(L, Hook, LUA_MASKCOUNT | (c->coverage != nullptr ? LUA_MASKLINE : 0), kHookInterval);
}

// The watchdog's interrupt, in a signal handler on the thread running the fast run: makes the
// hook fire at the next VM instruction. lua_sethook is the one Lua API function meant to be
// called from a signal (ldebug.c says so; lua.c stops a running script on SIGINT this way).
void InterruptFastRun(void* L) { lua_sethook(static_cast<lua_State*>(L), Hook, LUA_MASKCOUNT, 1); }

// Starts a hookless run of one check: no hook at all (each run sets its hook state itself, so a
// hook that a late interrupt set cannot leak into it), and the watchdog armed for the certified
// bound or the policy's deadline, whichever comes first. False (nothing started) when this
// thread cannot be interrupted: the caller then runs the check counted. `under_valgrind`:
// UnderValgrind(), asked once per ChecksProtected rather than per check.
bool StartFastRun(Ctx* c, lua_State* L, int64_t start_ns, int64_t policy_deadline_ns,
                  int64_t request_deadline_ns, bool under_valgrind) {
  c->abort = Ctx::Abort::kNone;
  c->instructions = 0;
  c->deadline_ns = policy_deadline_ns;
  c->request_deadline_ns = request_deadline_ns;
  lua_sethook(L, nullptr, 0, 0);
  const int64_t bound = c->fast_bound_ns * (under_valgrind ? kValgrindWallSlack : 1);
  c->fast_run =
      RunWatchdog::Begin(std::min(start_ns + bound, policy_deadline_ns), InterruptFastRun, L);
  return c->fast_run;
}

void StopBudget(Ctx* c, lua_State* L) {
  if (c->fast_run) {
    RunWatchdog::End();  // before the hook goes: an interrupt after this does nothing
    c->fast_run = false;
  }
  lua_sethook(L, nullptr, 0, 0);
}

// Whether a fast run's outcome is the one the counted run would have had, so that it can stand.
//
// The counted run aborts with "instruction budget exceeded" once it has run more than the budget
// in VM instructions; the fast run counts nothing, but it ran at most elapsed * R_max of them
// (the count never includes time in C functions, and being descheduled only adds time). So
// when elapsed <= budget / R_max (c->fast_bound_ns) the counted run could not have reached its
// budget: whatever the fast run ended in (a result, an error, a memory fault, a time abort from
// the clock checks of the C helpers or from the watchdog at the policy's deadline), the counted
// run ends the same way. Beyond the bound, or interrupted for it, it is run again counted.
//
// "The same way" holds because a check is a deterministic function of its arguments: the
// sandbox offers no clock, no random numbers and no I/O (SANDBOX.md 4; lua_library.cc installs
// only the safe library and the helpers of lua_adapter.cc, none of which reads time except for
// the deadline checks), and the caches a run fills (get()'s path cache, the compiled regex
// cache, the request root's view cache, the views themselves) return what they would compute.
// Two things a check can see are not its arguments: table addresses (tostring of a table,
// pairs order over table keys), as in any two runs today; and its own environment and chunk
// upvalues, which persist across calls (SANDBOX.md 14; the linter warns on global assignment).
// A discarded fast run leaves what it wrote there, as a run cut short by its budget does today:
// to such a check the fast attempt is one more call.
bool FastRunStands(const Ctx* c, int64_t elapsed_ns, int64_t end_ns) {
  if (elapsed_ns < 0 || elapsed_ns > c->fast_bound_ns) return false;
  switch (c->abort) {
    case Ctx::Abort::kNone:
      // Finished after a deadline: the counted run's clock checks decide, as they do today.
      return end_ns <= c->deadline_ns;
    case Ctx::Abort::kTimeout:
    case Ctx::Abort::kRequestDeadline:
      return true;
    default:
      return false;
  }
}

int CallCheck(lua_State* L, int handle) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, handle);
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  return lua_pcall(L, 2, 1, 0);
}

// The message of the error value at the top of the stack, without calling any metamethod.
std::string ErrorText(lua_State* L, size_t cap) {
  if (lua_type(L, -1) == LUA_TSTRING) {
    size_t n;
    const char* s = lua_tolstring(L, -1, &n);
    return lua_internal::CleanText(absl::string_view(s, n), cap);
  }
  return absl::StrCat("error object is a ", luaL_typename(L, -1), " value");
}

// --- Loading a policy chunk (runs under lua_pcall). ---

struct LoadArgs {
  const char* file;
  const char* source;
  size_t source_len;
  PolicySpec* spec;
  int handle = LUA_NOREF;
  bool takes_ctx = true;  // the check declares a second parameter or `...`
  int status = LUA_OK;    // of the chunk itself; LUA_ERRSYNTAX when it did not compile
};

void ReadStringList(lua_State* L, int idx, const char* key, PolicySpec* spec,
                    std::vector<std::string>* out) {
  if (lua_type(L, idx) != LUA_TTABLE) {
    spec->type_errors.push_back(absl::StrCat(key, ": expected a list of strings"));
    return;
  }
  lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, idx));
  for (lua_Integer i = 1; i <= n; ++i) {
    lua_rawgeti(L, idx, i);
    if (lua_type(L, -1) == LUA_TSTRING) {
      out->emplace_back(lua_tostring(L, -1));
    } else {
      spec->type_errors.push_back(absl::StrCat(key, "[", i, "]: expected a string"));
    }
    lua_pop(L, 1);
  }
}

void ReadOptionalString(lua_State* L, int idx, const char* key, PolicySpec* spec,
                        std::optional<std::string>* out) {
  if (lua_type(L, idx) == LUA_TSTRING) {
    *out = lua_tostring(L, idx);
  } else {
    spec->type_errors.push_back(absl::StrCat(key, ": expected a string"));
  }
}

int LoadProtected(lua_State* L) {
  auto* a = static_cast<LoadArgs*>(lua_touserdata(L, 1));
  lua_settop(L, 0);
  a->status = luaL_loadbufferx(L, a->source, a->source_len, a->file, "t");
  if (a->status != LUA_OK) return 1;  // error message on the stack
  // Fresh environment for this policy: _ENV is the chunk's first upvalue.
  lua_internal::PushPolicyEnv(L);
  lua_setupvalue(L, -2, 1);
  a->status = lua_pcall(L, 0, 1, 0);
  if (a->status != LUA_OK) return 1;
  if (lua_type(L, -1) != LUA_TTABLE) {
    lua_pushfstring(L, "policy file must return a table, got %s", luaL_typename(L, -1));
    a->status = LUA_ERRRUN;
    return 1;
  }
  int t = lua_gettop(L);
  PolicySpec* spec = a->spec;
  lua_pushnil(L);
  while (lua_next(L, t) != 0) {
    if (lua_type(L, -2) != LUA_TSTRING) {
      spec->unknown_keys.push_back(absl::StrCat("[", luaL_typename(L, -2), " key]"));
      lua_pop(L, 1);
      continue;
    }
    const char* key = lua_tostring(L, -2);
    int v = lua_gettop(L);
    if (std::strcmp(key, "id") == 0) {
      std::optional<std::string> s;
      ReadOptionalString(L, v, "id", spec, &s);
      if (s) spec->id = *s;
    } else if (std::strcmp(key, "description") == 0) {
      std::optional<std::string> s;
      ReadOptionalString(L, v, "description", spec, &s);
      if (s) spec->description = *s;
    } else if (std::strcmp(key, "kinds") == 0) {
      ReadStringList(L, v, "kinds", spec, &spec->kinds);
    } else if (std::strcmp(key, "actions") == 0) {
      std::vector<std::string> actions;
      ReadStringList(L, v, "actions", spec, &actions);
      if (lua_type(L, v) == LUA_TTABLE) spec->actions = std::move(actions);
    } else if (std::strcmp(key, "mode") == 0) {
      ReadOptionalString(L, v, "mode", spec, &spec->mode);
    } else if (std::strcmp(key, "severity") == 0) {
      ReadOptionalString(L, v, "severity", spec, &spec->severity);
    } else if (std::strcmp(key, "overrides") == 0) {
      ReadOptionalString(L, v, "overrides", spec, &spec->overrides);
    } else if (std::strcmp(key, "waivable") == 0) {
      if (lua_type(L, v) == LUA_TBOOLEAN) {
        spec->waivable = lua_toboolean(L, v) != 0;
      } else {
        spec->type_errors.push_back("waivable: expected true or false");
      }
    } else if (std::strcmp(key, "check") == 0) {
      if (lua_type(L, v) == LUA_TFUNCTION) {
        spec->has_check = true;
      } else {
        spec->type_errors.push_back("check: expected a function");
      }
    } else {
      spec->unknown_keys.emplace_back(key);
    }
    lua_pop(L, 1);
  }
  if (spec->has_check) {
    lua_getfield(L, t, "check");
    lua_Debug ar;
    lua_pushvalue(L, -1);
    lua_getinfo(L, ">u", &ar);  // pops the copy
    a->takes_ctx = ar.isvararg || ar.nparams >= 2;
    a->handle = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  return 0;
}

// --- Running a check (under lua_pcall). ---

// Whether the check of policy `handle` can see its second argument; a check declared as
// function(req) cannot (no `...`, and no debug library in the sandbox), so it is given nil
// instead of a ctx view that would be made, anchored and released for nothing.
bool TakesCtx(const Ctx* c, int handle) {
  return handle < 0 || static_cast<size_t>(handle) >= c->check_takes_ctx.size() ||
         c->check_takes_ctx[handle];
}

struct CheckArgs {
  int handle;
  const Value* request;
  const Value* ctx;
  CheckOutcome* out;
  size_t message_cap;
  int status = LUA_OK;
  bool malformed = false;
};

int CheckProtected(lua_State* L) {
  auto* a = static_cast<CheckArgs*>(lua_touserdata(L, 1));
  lua_settop(L, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, a->handle);
  lua_internal::PushRequestView(L, a->request);
  if (TakesCtx(lua_internal::GetCtx(L), a->handle)) {
    lua_internal::PushView(L, a->ctx);
  } else {
    lua_pushnil(L);
  }
  a->status = lua_pcall(L, 2, 1, 0);
  if (a->status != LUA_OK) return 1;
  // Findings are read with raw accesses only: nothing a policy returns can run code here.
  int r = lua_gettop(L);
  if (lua_isnil(L, r)) return 0;
  if (lua_internal::IsFinding(L, r)) {
    a->out->findings.emplace_back();
    lua_internal::FindingFromTable(L, r, &a->out->findings.back(), a->message_cap);
    return 0;
  }
  if (lua_type(L, r) != LUA_TTABLE) {
    a->malformed = true;
    lua_pushfstring(L, "check returned a %s; expected nothing, a finding or a list of findings",
                    luaL_typename(L, r));
    return 1;
  }
  lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, r));
  if (n > kMaxFindingsPerCheck) {
    a->malformed = true;
    lua_pushfstring(L, "check returned %d findings; the limit is %d", static_cast<int>(n),
                    kMaxFindingsPerCheck);
    return 1;
  }
  // A table that is neither a finding nor a list of findings (e.g. {effect = "allow"}).
  lua_pushnil(L);
  if (n == 0 && lua_next(L, r) != 0) {
    a->malformed = true;
    lua_pushstring(L,
                   "check returned a table that is not a finding; use allow(), deny(), "
                   "warn() or obligate()");
    return 1;
  }
  lua_settop(L, r);
  for (lua_Integer i = 1; i <= n; ++i) {
    lua_rawgeti(L, r, i);
    if (!lua_internal::IsFinding(L, -1)) {
      a->malformed = true;
      lua_pushfstring(L, "element %d of the returned list is a %s, not a finding",
                      static_cast<int>(i), luaL_typename(L, -1));
      return 1;
    }
    a->out->findings.emplace_back();
    lua_internal::FindingFromTable(L, lua_gettop(L), &a->out->findings.back(), a->message_cap);
    lua_pop(L, 1);
  }
  return 0;
}

// --- Running several checks in one protected call. ---

struct ChecksArgs {
  const std::vector<int>* handles;
  const Value* request;
  const Value* ctx;
  std::vector<CheckOutcome>* outs;
  size_t message_cap;
  absl::Duration policy_timeout;
  absl::Time request_deadline;
  const CheckDebug* debug;
  bool fast;        // run each check hookless first (see FastRunStands)
  size_t next = 0;  // the check being run (or to run)
  bool stop = false;
};

// Reads what the check at `r` returned into `out`, as CheckProtected does; false (with the
// message pushed) when it is malformed.
bool ReadFindings(lua_State* L, int r, CheckOutcome* out, size_t cap) {
  if (lua_isnil(L, r)) return true;
  if (lua_internal::IsFinding(L, r)) {
    out->findings.emplace_back();
    lua_internal::FindingFromTable(L, r, &out->findings.back(), cap);
    return true;
  }
  if (lua_type(L, r) != LUA_TTABLE) {
    lua_pushfstring(L, "check returned a %s; expected nothing, a finding or a list of findings",
                    luaL_typename(L, r));
    return false;
  }
  lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, r));
  if (n > kMaxFindingsPerCheck) {
    lua_pushfstring(L, "check returned %d findings; the limit is %d", static_cast<int>(n),
                    kMaxFindingsPerCheck);
    return false;
  }
  lua_pushnil(L);
  if (n == 0 && lua_next(L, r) != 0) {
    lua_pushstring(L,
                   "check returned a table that is not a finding; use allow(), deny(), "
                   "warn() or obligate()");
    return false;
  }
  lua_settop(L, r);
  for (lua_Integer i = 1; i <= n; ++i) {
    lua_rawgeti(L, r, i);
    if (!lua_internal::IsFinding(L, -1)) {
      lua_pushfstring(L, "element %d of the returned list is a %s, not a finding",
                      static_cast<int>(i), luaL_typename(L, -1));
      return false;
    }
    out->findings.emplace_back();
    lua_internal::FindingFromTable(L, lua_gettop(L), &out->findings.back(), cap);
    lua_pop(L, 1);
  }
  return true;
}

// Classifies a failed check (error value on top of the stack) as RunCheck does.
void RecordFailure(lua_State* L, Ctx* c, int status, CheckOutcome* out, bool malformed) {
  out->findings.clear();
  Ctx::Abort abort = c->abort;
  if (status == LUA_ERRMEM) {
    out->fault = PolicyFault::Type::kMemory;
    out->error = absl::StrCat("memory limit of ", c->mem_limit, " bytes exceeded");
  } else if (abort == Ctx::Abort::kRequestDeadline) {
    out->request_deadline_exceeded = true;
    out->fault = PolicyFault::Type::kBudget;
    out->error = AbortMessage(abort);
  } else if (abort != Ctx::Abort::kNone) {
    out->fault = PolicyFault::Type::kBudget;
    out->error = AbortMessage(abort);
  } else {
    out->fault = malformed ? PolicyFault::Type::kMalformed : PolicyFault::Type::kError;
    out->error = ErrorText(L, c->limits.max_message_bytes);
  }
}

int ChecksProtected(lua_State* L) {
  auto* a = static_cast<ChecksArgs*>(lua_touserdata(L, 1));
  Ctx* c = lua_internal::GetCtx(L);
  // Every time below is on the monotonic clock, in nanoseconds: a check's run time certifies a
  // fast run, and a step of the system clock back during a run would otherwise make it look
  // shorter than it was. The caller's deadline is converted once.
  const int64_t request_deadline_ns = MonotonicDeadline(a->request_deadline);
  const int64_t timeout_ns = absl::ToInt64Nanoseconds(a->policy_timeout);
  // Asked once, not three times per check (a function-local static's guard each time).
  const bool under_valgrind = UnderValgrind();
  lua_settop(L, 0);
  lua_internal::PushRequestView(L, a->request);
  lua_pushnil(L);  // ctx: its view is made for the first check that takes it
  bool ctx_pushed = false;
  // A check starts when the one before it ended (its findings read back since are counted in
  // this one's time, a few microseconds): one clock read per check instead of two.
  int64_t previous_end_ns = 0;
  for (; a->next < a->handles->size(); ++a->next) {
    a->outs->emplace_back();
    CheckOutcome* out = &a->outs->back();
    const int handle = (*a->handles)[a->next];
    if (!ctx_pushed && TakesCtx(c, handle)) {
      // May raise (memory): RunChecks fails this check closed, as for the request's view.
      lua_internal::PushView(L, a->ctx);
      lua_replace(L, 2);
      ctx_pushed = true;
    }
    const int64_t start_ns = previous_end_ns != 0 ? previous_end_ns : RunWatchdog::NowNanos();
    c->prints = a->debug->trace ? &out->prints : nullptr;
    c->print_bytes = 0;
    c->coverage = a->debug->coverage;
    int status = LUA_OK;
    int64_t end_ns = start_ns;
    int64_t counted_from = start_ns;
    bool done = false;
    if (a->fast &&
        StartFastRun(c, L, start_ns, std::min(AddNanos(start_ns, timeout_ns), request_deadline_ns),
                     request_deadline_ns, under_valgrind)) {
      const int64_t cpu_start = under_valgrind ? ThreadCpuNanos() : 0;
      status = CallCheck(L, handle);
      StopBudget(c, L);
      end_ns = RunWatchdog::NowNanos();
      const int64_t elapsed_ns = under_valgrind ? ThreadCpuNanos() - cpu_start : end_ns - start_ns;
      done = FastRunStands(c, elapsed_ns, end_ns);
      if (!done) {
        // Nothing of the fast run is kept: its return value or error (findings are read only
        // from a run that stands), its print output, and its garbage after a memory error.
        lua_settop(L, 2);
        if (status == LUA_ERRMEM) lua_gc(L, LUA_GCCOLLECT, 0);
        out->prints.clear();
        c->print_bytes = 0;
        g_counted_reruns.fetch_add(1, std::memory_order_relaxed);
        counted_from = end_ns;
      }
    }
    if (!done) {
      // Counted: today's run, with the policy's full time from now (a fast attempt that did not
      // stand took about fast_bound_ns, where the watchdog stops it, or less).
      StartBudget(c, L, std::min(AddNanos(counted_from, timeout_ns), request_deadline_ns),
                  request_deadline_ns);
      status = CallCheck(L, handle);
      // The sticky abort hook must not fire while the findings are read.
      StopBudget(c, L);
      out->instructions = c->instructions;
      end_ns = RunWatchdog::NowNanos();
    }
    out->time = absl::Nanoseconds(end_ns - start_ns);
    previous_end_ns = end_ns;
    c->prints = nullptr;
    c->coverage = nullptr;
    if (status != LUA_OK) {
      RecordFailure(L, c, status, out, false);
      lua_settop(L, 2);
      if (status == LUA_ERRMEM) {
        lua_gc(L, LUA_GCCOLLECT, 0);
        if (c->mem_used > c->baseline + c->mem_limit / 4) c->unhealthy = true;
      }
      if (out->request_deadline_exceeded) {
        ++a->next;
        a->stop = true;
        return 0;
      }
      continue;
    }
    if (!ReadFindings(L, 3, out, a->message_cap)) {
      RecordFailure(L, c, LUA_ERRRUN, out, true);
    }
    lua_settop(L, 2);
  }
  return 0;
}

int SetupProtected(lua_State* L) {
  lua_internal::InstallSafeLibrary(L);
  return 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<LuaSandbox>> LuaSandbox::Create(
    const EngineLimits& limits, const absl::flat_hash_set<const Value*>* stable) {
  std::unique_ptr<LuaSandbox> s(new LuaSandbox());
  s->ctx_ = std::make_unique<Context>();
  Ctx* c = s->ctx_.get();
  c->limits = limits;
  c->mem_limit = limits.memory_limit_bytes;
  c->budget = limits.instruction_budget;
  c->fast_bound_ns = limits.instruction_budget / kMaxInstructionsPerNanosecond * ValgrindSlowdown();
  c->stable = stable;
  lua_State* L = lua_newstate(Allocate, c);
  if (L == nullptr) return absl::ResourceExhaustedError("cannot create a Lua state");
  s->L_ = L;
  lua_internal::SetCtx(L, c);
  lua_atpanic(L, Panic);
  lua_pushcfunction(L, SetupProtected);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    std::string err = ErrorText(L, 512);
    return absl::ResourceExhaustedError(absl::StrCat("cannot set up the Lua sandbox: ", err));
  }
  lua_gc(L, LUA_GCCOLLECT, 0);
  c->baseline = c->mem_used;
  return s;
}

LuaSandbox::~LuaSandbox() {
  if (L_ != nullptr) lua_close(L_);
}

absl::StatusOr<int> LuaSandbox::LoadPolicy(absl::string_view file, absl::string_view source,
                                           PolicySpec& spec, absl::Time load_deadline) {
  lua_State* L = L_;
  Ctx* c = ctx_.get();
  std::string chunkname = absl::StrCat("@", file);
  LoadArgs args{chunkname.c_str(), source.data(), source.size(), &spec};
  // The top level may do more work than a check (tables, compiled patterns), within the load's.
  const int64_t deadline = std::min(
      AddNanos(RunWatchdog::NowNanos(), absl::ToInt64Nanoseconds(c->limits.policy_timeout * 10)),
      MonotonicDeadline(load_deadline));
  StartBudget(c, L, deadline, deadline);
  lua_pushcfunction(L, LoadProtected);
  lua_pushlightuserdata(L, &args);
  int status = lua_pcall(L, 1, 1, 0);
  Ctx::Abort abort = c->abort;
  StopBudget(c, L);
  std::string err;
  if (status != LUA_OK || args.status != LUA_OK) {
    err = ErrorText(L, 2048);
    if (args.status == LUA_ERRMEM || status == LUA_ERRMEM) {
      err = absl::StrCat("memory limit of ", c->mem_limit, " bytes exceeded");
    } else if (abort != Ctx::Abort::kNone) {
      err = AbortMessage(abort);
    }
  }
  lua_settop(L, 0);
  if (!err.empty()) {
    lua_gc(L, LUA_GCCOLLECT, 0);
    // Lua's own messages already carry "file:line:"; ours do not.
    if (!absl::StartsWith(err, file)) err = absl::StrCat(file, ":1: ", err);
    // Lua does not say that a parse error is one ("x.lua:3: '}' expected near <eof>"); say so,
    // so that nobody looks for a runtime problem.
    if (args.status == LUA_ERRSYNTAX) {
      size_t colon = err.find(": ", file.size() + 1);
      if (colon != std::string::npos) err.insert(colon + 2, "syntax error: ");
    }
    return absl::InvalidArgumentError(err);
  }
  c->baseline = c->mem_used;
  if (args.handle >= 0) {
    if (c->check_takes_ctx.size() <= static_cast<size_t>(args.handle)) {
      c->check_takes_ctx.resize(args.handle + 1, true);
    }
    c->check_takes_ctx[args.handle] = args.takes_ctx;
  }
  return args.handle;
}

CheckOutcome LuaSandbox::RunCheck(int handle, const Value& request, const Value& ctx,
                                  absl::Time policy_deadline, absl::Time request_deadline) {
  lua_State* L = L_;
  Ctx* c = ctx_.get();
  CheckOutcome out;
  CheckArgs args{handle, &request, &ctx, &out, c->limits.max_message_bytes};
  const int64_t request_deadline_ns = MonotonicDeadline(request_deadline);
  StartBudget(c, L, std::min(MonotonicDeadline(policy_deadline), request_deadline_ns),
              request_deadline_ns);
  lua_pushcfunction(L, CheckProtected);
  lua_pushlightuserdata(L, &args);
  int status = lua_pcall(L, 1, 1, 0);
  Ctx::Abort abort = c->abort;
  StopBudget(c, L);
  if (status != LUA_OK || args.status != LUA_OK || args.malformed) {
    out.findings.clear();
    bool memory = status == LUA_ERRMEM || args.status == LUA_ERRMEM;
    if (memory) {
      out.fault = PolicyFault::Type::kMemory;
      out.error = absl::StrCat("memory limit of ", c->mem_limit, " bytes exceeded");
    } else if (abort == Ctx::Abort::kRequestDeadline) {
      out.request_deadline_exceeded = true;
      out.fault = PolicyFault::Type::kBudget;
      out.error = AbortMessage(abort);
    } else if (abort != Ctx::Abort::kNone) {
      out.fault = PolicyFault::Type::kBudget;
      out.error = AbortMessage(abort);
    } else if (args.malformed) {
      out.fault = PolicyFault::Type::kMalformed;
      out.error = ErrorText(L, c->limits.max_message_bytes);
    } else {
      out.fault = PolicyFault::Type::kError;
      out.error = ErrorText(L, c->limits.max_message_bytes);
    }
    lua_settop(L, 0);
    if (memory) {
      lua_gc(L, LUA_GCCOLLECT, 0);
      // A policy may keep what it allocated reachable (in its environment); such a state is
      // not reused.
      if (c->mem_used > c->baseline + c->mem_limit / 4) c->unhealthy = true;
    }
    return out;
  }
  lua_settop(L, 0);
  return out;
}

void LuaSandbox::RunChecks(const std::vector<int>& handles, const Value& request, const Value& ctx,
                           absl::Duration policy_timeout, absl::Time request_deadline,
                           std::vector<CheckOutcome>& outcomes, const CheckDebug& debug) {
  lua_State* L = L_;
  Ctx* c = ctx_.get();
  // The line hook of coverage needs the hook on, and explain shows the instructions counted.
  const bool fast = !debug.trace && debug.coverage == nullptr &&
                    !g_always_counted.load(std::memory_order_relaxed);
  ChecksArgs args{&handles,       &request,         &ctx,   &outcomes, c->limits.max_message_bytes,
                  policy_timeout, request_deadline, &debug, fast};
  size_t base = outcomes.size();
  outcomes.reserve(base + handles.size());  // ChecksProtected keeps pointers into it
  while (args.next < handles.size() && !args.stop) {
    lua_pushcfunction(L, ChecksProtected);
    lua_pushlightuserdata(L, &args);
    int status = lua_pcall(L, 1, 0, 0);
    StopBudget(c, L);
    c->prints = nullptr;
    c->coverage = nullptr;
    if (status == LUA_OK) break;
    // Raised outside a check (reading its findings, or making the views): that check fails
    // closed as RunCheck's would, and the rest carry on in a fresh protected call.
    if (outcomes.size() <= base + args.next) outcomes.emplace_back();
    CheckOutcome& out = outcomes[base + args.next];
    out.findings.clear();
    if (status == LUA_ERRMEM) {
      out.fault = PolicyFault::Type::kMemory;
      out.error = absl::StrCat("memory limit of ", c->mem_limit, " bytes exceeded");
    } else {
      out.fault = PolicyFault::Type::kError;
      out.error = ErrorText(L, c->limits.max_message_bytes);
    }
    lua_settop(L, 0);
    if (status == LUA_ERRMEM) {
      lua_gc(L, LUA_GCCOLLECT, 0);
      if (c->mem_used > c->baseline + c->mem_limit / 4) c->unhealthy = true;
    }
    ++args.next;
  }
  lua_settop(L, 0);
}

void LuaSandbox::EndEvaluation() { lua_internal::EndEvaluation(L_); }

namespace {
int GlobalNamesProtected(lua_State* L) {
  auto* out = static_cast<std::vector<std::string>*>(lua_touserdata(L, 1));
  lua_getfield(L, LUA_REGISTRYINDEX, lua_internal::kSafeLibrary);
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {
    if (lua_type(L, -2) == LUA_TSTRING) out->emplace_back(lua_tostring(L, -2));
    lua_pop(L, 1);
  }
  return 0;
}
}  // namespace

std::vector<std::string> LuaSandbox::GlobalNames() {
  std::vector<std::string> out;
  lua_pushcfunction(L_, GlobalNamesProtected);
  lua_pushlightuserdata(L_, &out);
  if (lua_pcall(L_, 1, 0, 0) != LUA_OK) lua_settop(L_, 0);
  return out;
}

bool LuaSandbox::SetAlwaysCounted(bool on) { return g_always_counted.exchange(on); }
int64_t LuaSandbox::counted_reruns() { return g_counted_reruns.load(std::memory_order_relaxed); }

bool LuaSandbox::healthy() const { return !ctx_->unhealthy; }
size_t LuaSandbox::memory_used() const { return ctx_->mem_used; }

}  // namespace arbiter
