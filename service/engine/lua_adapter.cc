// The adapter between Lua and the helper library (lua_helpers/): the one place where a helper's
// arguments are read off the Lua stack, its result pushed and its error raised.
//
// Why it is built this way. Lua raises errors with longjmp (Debian's liblua5.4 is compiled as
// C), which unwinds the C stack without running C++ destructors: a skipped destructor leaks (a
// std::string's buffer, a Status's message, an RE2 program) or corrupts, and the C++ standard
// makes any longjmp over an object with a non-trivial destructor undefined behaviour. Almost
// every Lua API call can raise: a memory error while pushing a string, a type error in
// luaL_check*, a dead request view, the time budget. So every binding here runs in three
// phases, and this is the only file that has to get them right:
//   1. Read: luaL_check* and the readers below turn the arguments into plain values (Arg,
//      string_view, numbers), all trivially destructible; a raise here skips nothing.
//   2. Compute: Run() calls the helper in a scope of its own and makes no Lua call that can
//      raise. The result is copied out into trivially destructible locals (or into the state's
//      Context, which outlives the call); an error's message goes into the Context too.
//   3. Push, or raise the error: after every C++ object of phase 2 has been destroyed.
// Helpers themselves never see a lua_State, so they use std::string, StatusOr and RAII freely.
//
// The guarded string and table functions are here too: they price a call with a helper
// (lua_helpers/guards.h) before handing it to Lua's own function.
#include <cstring>
#include <optional>
#include <string>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "service/engine/lua_helpers/arg.h"
#include "service/engine/lua_helpers/duration.h"
#include "service/engine/lua_helpers/get.h"
#include "service/engine/lua_helpers/guards.h"
#include "service/engine/lua_helpers/lists.h"
#include "service/engine/lua_helpers/print.h"
#include "service/engine/lua_helpers/regex.h"
#include "service/engine/lua_helpers/roles.h"
#include "service/engine/lua_helpers/semver.h"
#include "service/engine/lua_internal.h"

extern "C" {
#include <lauxlib.h>
#include <lua.h>
}

namespace arbiter::lua_internal {
namespace {

namespace h = lua_helpers;
using h::Arg;

// What phase 1 and phase 3 hold across the raising Lua calls.
static_assert(std::is_trivially_destructible_v<Arg>);
static_assert(std::is_trivially_destructible_v<h::Captures>);
static_assert(std::is_trivially_destructible_v<h::PrintArg>);
static_assert(std::is_trivially_destructible_v<absl::string_view>);
static_assert(std::is_trivially_destructible_v<std::optional<absl::string_view>>);

// --- Phase 2. ---

[[noreturn]] void RaiseHelperError(lua_State* L) {
  const std::string& message = GetCtx(L)->helper_error;
  lua_pushlstring(L, message.data(), message.size());
  lua_error(L);
  __builtin_unreachable();
}

// Runs `compute` (the helper call, copying its result out; see the top of the file) and raises
// its error, if any, once the objects it made are gone. `compute` returns an absl::Status.
template <typename F>
void Run(lua_State* L, const F& compute) {
  static_assert(std::is_trivially_destructible_v<F>, "capture by reference");
  bool failed;
  {
    absl::Status status = compute();
    failed = !status.ok();
    if (failed) GetCtx(L)->helper_error.assign(status.message().data(), status.message().size());
  }
  if (failed) RaiseHelperError(L);
}

// Calls the original function (upvalue 1, one of Lua's own C functions) with this call's
// arguments, directly: a plain C call in this function's frame, which has the arguments where
// the original expects them and the stack room a C function is given (nothing is pushed before
// it). Through lua_call it cost a second Lua call (~150 instructions) and moving the arguments
// above the function; its argument errors now name the function as the policy called it
// ("bad argument #3 to 'find'"), not '?'.
int CallOriginal(lua_State* L) { return lua_tocfunction(L, lua_upvalueindex(1))(L); }

// --- Phase 1: reading arguments. ---

Arg ReadValue(lua_State* L, int idx, int type, const h::Table* table);

// A Lua table on the stack, read with raw accesses only: lua_rawlen and lua_rawgeti run no
// metamethod and allocate nothing, so they cannot raise, and may run in phase 2. The element
// read is pushed and popped again: a C function has LUA_MINSTACK free slots, and no binding
// holds more than a few of them.
class StackTable final : public h::Table {
 public:
  void Bind(lua_State* L, int idx) {
    L_ = L;
    idx_ = lua_absindex(L, idx);
  }
  int64_t RawLen() const override { return static_cast<int64_t>(lua_rawlen(L_, idx_)); }
  Arg RawGet(int64_t i) const override {
    int type = lua_rawgeti(L_, idx_, static_cast<lua_Integer>(i));
    Arg a = ReadValue(L_, -1, type, nullptr);  // the table keeps the element alive
    lua_pop(L_, 1);
    return a;
  }

 private:
  lua_State* L_ = nullptr;
  int idx_ = 0;
};
static_assert(std::is_trivially_destructible_v<StackTable>);

// The value at `idx`, of Lua type `type`, as an Arg, without raising (a dead view is
// kDeadView). A table becomes a kTable read through `table` (bound by the caller), or through
// nothing when `table` is null.
Arg ReadValue(lua_State* L, int idx, int type, const h::Table* table) {
  Arg a;
  switch (type) {
    case LUA_TNONE:
    case LUA_TNIL:
      return a;
    case LUA_TBOOLEAN:
      return Arg::Bool(lua_toboolean(L, idx));
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) return Arg::Int(lua_tointeger(L, idx));
      return Arg::Double(lua_tonumber(L, idx));
    case LUA_TSTRING: {
      size_t n;
      const char* s = lua_tolstring(L, idx, &n);  // a string already: no conversion
      return Arg::String(absl::string_view(s, n));
    }
    case LUA_TTABLE:
      a.kind = Arg::Kind::kTable;
      a.table = table;
      a.identity = lua_topointer(L, idx);
      return a;
    case LUA_TLIGHTUSERDATA:  // a view (lua_view.cc)
    case LUA_TUSERDATA: {
      const Value* v = nullptr;
      switch (PeekView(L, idx, &v)) {
        case ViewState::kLive:
          a.kind = Arg::Kind::kView;
          a.view = v;
          return a;
        case ViewState::kDead:
          a.kind = Arg::Kind::kDeadView;
          break;
        case ViewState::kNone:
          a.kind = Arg::Kind::kOther;
          break;
      }
      a.identity = lua_topointer(L, idx);
      return a;
    }
    default:
      a.kind = Arg::Kind::kOther;
      a.identity = lua_topointer(L, idx);
      return a;
  }
}

// Argument `idx`; a table argument is read through `*table`.
Arg ReadArg(lua_State* L, int idx, StackTable* table) {
  const int type = lua_type(L, idx);
  if (type == LUA_TTABLE) table->Bind(L, idx);
  return ReadValue(L, idx, type, table);
}

// Argument `idx` as text: a string, or a number converted in place (which may raise a memory
// error: phase 1 only). nullopt for anything else.
std::optional<absl::string_view> ReadText(lua_State* L, int idx) {
  size_t n;
  const char* s = lua_tolstring(L, idx, &n);
  if (s == nullptr) return std::nullopt;
  return absl::string_view(s, n);
}

// The principal argument's `field` as the role helpers read it (roles.h): from a view in place
// (through `memo`, which remembers it for this evaluation), from a table by a raw get (the value
// stays pushed for the call), nil for anything else. Raises for a dead view, as any use of one
// does.
Arg ReadPrincipalField(lua_State* L, int idx, const char* field, h::FieldMemo Ctx::*memo,
                       StackTable* table) {
  if (const Value* v = ToView(L, idx)) {
    Ctx* c = GetCtx(L);
    return (c->*memo).Get(*v, field, c->generation);
  }
  if (lua_type(L, idx) != LUA_TTABLE) return Arg();
  lua_pushstring(L, field);
  lua_rawget(L, idx);
  return ReadArg(L, -1, table);
}

// --- re. ---

h::RegexBudget Budget(lua_State* L, const absl::FunctionRef<absl::Status()>& clock) {
  Ctx* c = GetCtx(L);
  return h::RegexBudget{&c->mem_used, c->mem_limit, c->limits.max_string_bytes, clock};
}

// The regex helpers' clock check (phase 2): OutOfTime records the abort and makes the hook
// sticky, neither of which raises; the abort is raised as the helper's error.
absl::Status Clock(lua_State* L) {
  return OutOfTime(L) ? absl::DeadlineExceededError(AbortText(L)) : absl::OkStatus();
}

template <RE2::Anchor kAnchor>
int RegexTest(lua_State* L) {
  std::optional<absl::string_view> pattern = ReadText(L, 1), subject = ReadText(L, 2);
  if (pattern.has_value() && subject.has_value()) {
    // A test made before (a policy's constant pattern, a subject seen already) is answered here,
    // after the helper's clock check, without the helper's Status plumbing (~250 instructions).
    // Out of time, the helper raises the abort as before.
    Ctx* c = GetCtx(L);
    const std::optional<bool> known =
        h::KnownRegexTest(c->regex_cache, c->limits.max_string_bytes, *pattern, *subject, kAnchor);
    if (known.has_value() && !OutOfTime(L)) {
      lua_pushboolean(L, *known);
      return 1;
    }
  }
  bool matched = false;
  Run(L, [&] {
    auto clock = [L] { return Clock(L); };
    absl::StatusOr<bool> r =
        h::RegexTest(GetCtx(L)->regex_cache, Budget(L, clock), pattern, subject, kAnchor);
    if (r.ok()) matched = *r;
    return r.status();
  });
  lua_pushboolean(L, matched);
  return 1;
}

int RegexCaptures(lua_State* L) {
  std::optional<absl::string_view> pattern = ReadText(L, 1), subject = ReadText(L, 2);
  bool matched = false;
  h::Captures captures;
  Run(L, [&] {
    auto clock = [L] { return Clock(L); };
    absl::StatusOr<std::optional<h::Captures>> r =
        h::RegexCaptures(GetCtx(L)->regex_cache, Budget(L, clock), pattern, subject);
    if (r.ok() && r->has_value()) {
      matched = true;
      captures = **r;
    }
    return r.status();
  });
  if (!matched) {
    lua_pushnil(L);
    return 1;
  }
  lua_createtable(L, captures.count, 0);
  for (int i = 1; i <= captures.count; ++i) {
    absl::string_view g = captures.groups[static_cast<size_t>(i - 1)];
    if (g.data() == nullptr) {
      lua_pushboolean(L, 0);  // a group that took no part in the match
    } else {
      lua_pushlstring(L, g.data(), g.size());
    }
    lua_rawseti(L, -2, i);
  }
  return 1;
}

// --- semver. ---

int SemverParse(lua_State* L) {
  StackTable t;
  Arg v = ReadArg(L, 1, &t);
  bool ok = false;
  int64_t major = 0, minor = 0, patch = 0;
  Run(L, [&] {
    std::optional<SemVer> parsed = h::ParseVersion(v);
    if (parsed) {
      ok = true;
      major = parsed->major;
      minor = parsed->minor;
      patch = parsed->patch;
      GetCtx(L)->helper_text.swap(parsed->prerelease);
    }
    return absl::OkStatus();
  });
  if (!ok) {
    lua_pushnil(L);
    return 1;
  }
  const std::string& prerelease = GetCtx(L)->helper_text;
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, major);
  lua_setfield(L, -2, "major");
  lua_pushinteger(L, minor);
  lua_setfield(L, -2, "minor");
  lua_pushinteger(L, patch);
  lua_setfield(L, -2, "patch");
  lua_pushlstring(L, prerelease.data(), prerelease.size());
  lua_setfield(L, -2, "prerelease");
  return 1;
}

int SemverValid(lua_State* L) {
  StackTable t;
  Arg v = ReadArg(L, 1, &t);
  bool ok = false;
  Run(L, [&] {
    ok = h::ParseVersion(v).has_value();
    return absl::OkStatus();
  });
  lua_pushboolean(L, ok);
  return 1;
}

int SemverCompare(lua_State* L) {
  StackTable ta, tb;
  Arg a = ReadArg(L, 1, &ta), b = ReadArg(L, 2, &tb);
  int cmp = 0;
  Run(L, [&] {
    absl::StatusOr<int> r = h::CompareVersions(a, b);
    if (r.ok()) cmp = *r;
    return r.status();
  });
  lua_pushinteger(L, cmp);
  return 1;
}

int SemverBump(lua_State* L) {
  StackTable ta, tb;
  Arg a = ReadArg(L, 1, &ta), b = ReadArg(L, 2, &tb);
  absl::string_view bump;  // static text
  Run(L, [&] {
    absl::StatusOr<absl::string_view> r = h::BumpBetween(a, b);
    if (r.ok()) bump = *r;
    return r.status();
  });
  lua_pushlstring(L, bump.data(), bump.size());
  return 1;
}

// --- duration, percent. ---

template <std::optional<double> (*kHelper)(const Arg&)>
int NumberOrNil(lua_State* L) {
  StackTable t;
  Arg v = ReadArg(L, 1, &t);
  std::optional<double> d;
  Run(L, [&] {
    d = kHelper(v);
    return absl::OkStatus();
  });
  if (d.has_value()) {
    lua_pushnumber(L, *d);
  } else {
    lua_pushnil(L);
  }
  return 1;
}

// --- list, roles. ---

// A list helper of two arguments giving a boolean; it asks the policy's clock as it walks a
// large table (lists.h).
using ListHelper = absl::StatusOr<bool> (*)(const Arg&, const Arg&, h::ListClock);
template <ListHelper kHelper>
int Bool2(lua_State* L, const Arg& a, const Arg& b) {
  bool result = false;
  Run(L, [&] {
    auto clock = [L] { return Clock(L); };
    absl::StatusOr<bool> r = kHelper(a, b, clock);
    if (r.ok()) result = *r;
    return r.status();
  });
  lua_pushboolean(L, result);
  return 1;
}

template <ListHelper kHelper>
int ListBinary(lua_State* L) {
  StackTable ta, tb;
  Arg a = ReadArg(L, 1, &ta), b = ReadArg(L, 2, &tb);
  return Bool2<kHelper>(L, a, b);
}

// How many elements ListContains reads before it pops them (with its answer, within the
// LUA_MINSTACK slots a C function is given above its arguments).
constexpr lua_Unsigned kElementsHeld = 16;
static_assert(kElementsHeld + 1 <= LUA_MINSTACK);

// list.contains(l, x). When x is a string (list.contains(ACTIONS, req.action)), the helper's
// answer is found here without making Args: over a live list view by ListHoldsString (what the
// helper runs too), over a Lua table element by element with lua_rawequal, since RawEqual(e, x)
// holds exactly when e is a string of the same bytes, which is what lua_rawequal answers (by
// address for Lua's interned short strings). Anything else (dead views included) goes through
// the helper.
int ListContains(lua_State* L) {
  if (lua_type(L, 2) != LUA_TSTRING) return ListBinary<h::ListContains>(L);
  const int type = lua_type(L, 1);
  if (type != LUA_TTABLE) {
    const Value* v = nullptr;
    if ((type != LUA_TLIGHTUSERDATA && type != LUA_TUSERDATA) ||
        PeekView(L, 1, &v) != ViewState::kLive) {
      return ListBinary<h::ListContains>(L);
    }
    size_t len;
    const char* s = lua_tolstring(L, 2, &len);
    lua_pushboolean(L, h::ListHoldsString(*v, absl::string_view(s, len)));
    return 1;
  }
  const lua_Unsigned n = lua_rawlen(L, 1);
  bool found = false;
  for (lua_Unsigned i = 1; i <= n && !found; ++i) {
    if (i % h::kListClockSteps == 0) CheckDeadline(L);  // as the helper's walk does
    // The elements read stay on the stack, up to kElementsHeld of them: the answer is returned
    // from the top whatever lies below it, so a short list is read without a pop per element.
    if (i % kElementsHeld == 0) lua_settop(L, 2);
    lua_rawgeti(L, 1, static_cast<lua_Integer>(i));
    found = lua_rawequal(L, -1, 2);
  }
  lua_pushboolean(L, found);
  return 1;
}

int ListLen(lua_State* L) {
  StackTable t;
  Arg list = ReadArg(L, 1, &t);
  int n = 0;
  Run(L, [&] {
    absl::StatusOr<int> r = h::ListLen(list);
    if (r.ok()) n = *r;
    return r.status();
  });
  lua_pushinteger(L, n);
  return 1;
}

// has_role(p, r), in_group(p, g): p's `kField` list (remembered in `kMemo`) holds argument 2
// (which must be given).
template <const char* kField, h::FieldMemo Ctx::*kMemo, ListHelper kHelper>
int PrincipalTest(lua_State* L) {
  const int type = lua_type(L, 2);
  if (type == LUA_TNONE) luaL_checkany(L, 2);  // raises its "value expected"
  const Value* principal = nullptr;
  if (type == LUA_TSTRING && PeekView(L, 1, &principal) == ViewState::kLive) {
    // has_role(req.principal, 'name'): kHelper's answer (ListContains of the field and the
    // string; roles.h) without making Args.
    Ctx* c = GetCtx(L);
    const Arg& list = (c->*kMemo).Get(*principal, kField, c->generation);
    size_t len;
    const char* s = lua_tolstring(L, 2, &len);
    lua_pushboolean(L, list.kind == Arg::Kind::kView &&
                           h::ListHoldsString(*list.view, absl::string_view(s, len)));
    return 1;
  }
  StackTable tl, tx;
  Arg list = ReadPrincipalField(L, 1, kField, kMemo, &tl);
  Arg x = ReadArg(L, 2, &tx);
  return Bool2<kHelper>(L, list, x);
}

int HasAnyRole(lua_State* L) {
  StackTable tl, tw;
  Arg roles = ReadPrincipalField(L, 1, h::kRolesField, &Ctx::principal_roles, &tl);
  Arg wanted = ReadArg(L, 2, &tw);
  return Bool2<h::HasAnyRole>(L, roles, wanted);
}

// --- get. ---

// The longest string answer get() keeps (see GetPath).
constexpr size_t kMaxKeptBytes = 256;
// GetPath's upvalue after the kept values: the table of the paths the cache's slots hold.
constexpr int kPathsUpvalue = h::PathCache::kSlots + 1;

void PushFound(lua_State* L, const Value* found) {
  if (found == nullptr) {
    lua_pushnil(L);
  } else {
    PushView(L, found);
  }
}

// On a view the whole walk is the helper's (the hot path). Steps through Lua tables are taken
// here, as Lua lookups (they may raise: no C++ object is alive); at the first request view met
// the rest of the path is the helper's.
//
// Upvalue i (1..PathCache::kSlots) is the Lua value last pushed for slot i of the state's path
// cache; upvalue kPathsUpvalue is a table that keeps each slot's path string alive (see Pin). While
// a slot's answer stands (the same root in the same evaluation, or a catalog tree's at any time)
// the value pushed for it is the same (one view per value, a catalog view's handle never changes, a
// scalar is a scalar), so it is pushed again from there: an upvalue copy instead of PushView's view
// lookup or string interning (or a table read). A string answer is also pushed from there in later
// evaluations while its bytes are the same. Strings over kMaxKeptBytes are not kept.
int GetPath(lua_State* L) {
  size_t n;
  // A string, or a number made one, as luaL_checklstring reads it; that raises the error.
  const char* path = lua_tolstring(L, 2, &n);
  if (path == nullptr) path = luaL_checklstring(L, 2, &n);
  const Value* root = nullptr;
  if (PeekView(L, 1, &root) == ViewState::kLive) {
    // (An empty path gives the root, whose view is argument 1 itself: one view per value.)
    const absl::string_view p(path, n);
    Ctx* c = GetCtx(L);
    h::PathCache::Entry* cached = c->path_cache.Get(p);
    if (cached == nullptr) {
      PushFound(L, h::GetPath(*root, p));
      return 1;
    }
    if (!cached->pinned()) {
      // The path's string (argument 2, a number made a string in place) kept alive under the
      // slot's number: no other string can be made at its address while the slot holds it, and
      // a Lua string never changes, so later calls find the slot by address alone. A store into
      // the table's array part, made with room for every slot: no allocation, no raise.
      lua_pushvalue(L, 2);
      lua_rawseti(L, lua_upvalueindex(kPathsUpvalue), cached->slot());
      cached->Pin();
    }
    // A request tree lives for one evaluation (a generation); the catalog's, as long as the
    // state.
    auto outlives_state = [c](const Value& v) {
      return c->stable != nullptr && c->stable->contains(&v);
    };
    const Value* found = cached->Walk(*root, c->generation, outlives_state);
    const int kept = lua_upvalueindex(cached->slot());
    if (!cached->kept() && found != nullptr && found->is_string() &&
        cached->held_string() == found->as_string()) {
      // An answer walked again (the same path in a new evaluation: req.resource.table) that is
      // a string of the bytes kept is the value kept: Lua strings are values. Pushing it makes
      // no new string (a long one would be allocated, a short one hashed and looked up).
      cached->Keep();
    }
    if (cached->kept()) {
      lua_pushvalue(L, kept);
      return 1;
    }
    PushFound(L, found);  // may raise: the slot stays unkept
    // A kept value outlives its evaluation, charged to the state's memory: long strings (up to
    // max_string_bytes, in each of 128 slots) are pushed anew on every call instead.
    if (found != nullptr && found->is_string() && found->as_string().size() > kMaxKeptBytes) {
      return 1;
    }
    // To the upvalue (what lua_replace does, keeping the value pushed): no allocation, no raise.
    // A string's bytes stay where they are while the upvalue holds it.
    lua_copy(L, -1, kept);
    std::optional<absl::string_view> text;
    if (found != nullptr && found->is_string()) text = ReadText(L, kept);  // a string: no raise
    cached->KeepNew(text);
    return 1;
  }
  lua_settop(L, 2);
  lua_pushvalue(L, 1);  // the current value, at index 3
  h::PathKeys keys(absl::string_view(path, n));
  absl::string_view rest = keys.rest(), key;
  int64_t steps = 0;
  for (; keys.Next(&key); rest = keys.rest()) {
    // A table may hold itself, and a path have as many keys as max_string_bytes allows: the
    // clock is asked as the list helpers ask it (lists.h).
    if (++steps % h::kListClockSteps == 0) CheckDeadline(L);
    if (const Value* v = ToView(L, 3)) {
      PushFound(L, h::GetPath(*v, rest));
      return 1;
    }
    if (lua_type(L, 3) != LUA_TTABLE) {
      lua_pushnil(L);
      return 1;
    }
    lua_pushlstring(L, key.data(), key.size());
    int64_t index;
    if (lua_gettable(L, 3) == LUA_TNIL && absl::SimpleAtoi(key, &index)) {
      lua_pop(L, 1);
      lua_geti(L, 3, index);
    }
    lua_replace(L, 3);
  }
  lua_pushvalue(L, 3);
  return 1;
}

// --- type, tostring. ---

// type(v), as the base library's (upvalue 1) answers it: the name of v's type, pushed from the
// upvalue that holds it (kFirstTypeName + the type) instead of made from lua_typename's text
// again (a lookup in the state's string cache, ~90 instructions; checks call type() often). No
// argument: the original raises its "value expected".
constexpr int kFirstTypeName = 2;
int Type(lua_State* L) {
  const int type = lua_type(L, 1);
  if (type == LUA_TNONE) return CallOriginal(L);
  lua_pushvalue(L, lua_upvalueindex(kFirstTypeName + type));
  return 1;
}

// tostring(v), as the base library's (upvalue 1) answers it: a string is returned as it is.
// The original first looks for a __tostring in the strings' metatable (~250 instructions),
// which has none: Lua's string library sets only __index, and policies can set nothing there
// (no setmetatable, getmetatable or debug in the sandbox). Anything else goes to the original.
int ToString(lua_State* L) {
  if (lua_type(L, 1) != LUA_TSTRING) return CallOriginal(L);
  if (lua_gettop(L) != 1) lua_settop(L, 1);
  return 1;
}

// --- print. ---

// The string at t[key] of the table at `idx` (a raw get), or `fallback`; the table keeps it
// alive.
absl::string_view RawStringField(lua_State* L, int idx, const char* key,
                                 absl::string_view fallback) {
  lua_pushstring(L, key);
  lua_rawget(L, idx);
  absl::string_view s = fallback;
  if (lua_type(L, -1) == LUA_TSTRING) {
    size_t n;
    const char* p = lua_tolstring(L, -1, &n);
    s = absl::string_view(p, n);
  }
  lua_pop(L, 1);
  return s;
}

h::PrintArg ReadPrintArg(lua_State* L, int idx) {
  h::PrintArg p;
  const int type = lua_type(L, idx);
  p.value = ReadValue(L, idx, type, nullptr);
  p.type_name = lua_typename(L, type);
  if (type == LUA_TTABLE && IsFinding(L, idx)) {
    p.finding = true;
    p.finding_type = RawStringField(L, idx, "type", "finding");
    p.finding_message = RawStringField(L, idx, "message", "");
  }
  return p;
}

// The line is built in the Context, since arguments are read (which may raise) between appends.
int Print(lua_State* L) {
  Ctx* c = GetCtx(L);
  if (c->prints == nullptr) return 0;
  std::string& line = c->helper_text;
  line.clear();
  if (h::PrintTakesLine(c->prints->size(), c->print_bytes)) {
    const int n = lua_gettop(L);
    for (int i = 1; i <= n && line.size() < h::kMaxPrintLineBytes; ++i) {
      h::PrintArg arg = ReadPrintArg(L, i);
      Run(L, [&] { return h::AppendPrintArg(arg, i == 1, &line); });
    }
  }
  Run(L, [&] {
    h::AddPrintLine(line, c->prints, &c->print_bytes);
    return absl::OkStatus();
  });
  return 0;
}

// --- The guarded string and table functions. ---

// Argument `idx` as luaL_checklstring reads it (a string, or a number made one in place), which
// raises its "bad argument" for anything else; without luaL_checklstring's wrapper when it
// succeeds.
const char* CheckString(lua_State* L, int idx, size_t* len) {
  const char* s = lua_tolstring(L, idx, len);
  return s != nullptr ? s : luaL_checklstring(L, idx, len);
}

// Wraps find/match/gmatch/gsub (upvalue 1: the original). kPlainArg: argument 4 may ask for a
// plain find; kMayAnchor: a leading '^' anchors the pattern (not for gmatch).
template <bool kPlainArg, bool kMayAnchor>
int GuardedPatternCall(lua_State* L) {
  size_t n, plen;
  CheckString(L, 1, &n);
  const char* p = CheckString(L, 2, &plen);
  CheckDeadline(L);
  // A plain find has no pattern to price (CheckPatternCall passes it).
  if (kPlainArg && lua_toboolean(L, 4)) return CallOriginal(L);
  const size_t max_subject = GetCtx(L)->limits.max_pattern_subject_bytes;
  Run(L, [&] {
    return h::CheckPatternCall(n, absl::string_view(p, plen), false, kMayAnchor, max_subject);
  });
  return CallOriginal(L);
}

int GuardedSort(lua_State* L) {
  CheckDeadline(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  const bool lua_comparator = lua_type(L, 2) == LUA_TFUNCTION && !lua_iscfunction(L, 2);
  const int64_t length = lua_comparator ? 0 : luaL_len(L, 1);
  Run(L, [&] { return h::CheckSort(length, lua_comparator); });
  return CallOriginal(L);
}

// string.format's cost is its output, bounded by the memory ceiling; the clock is checked so
// that a loop of large formats cannot run on between hooks.
int GuardedFormat(lua_State* L) {
  CheckDeadline(L);
  return CallOriginal(L);
}

int GuardedRep(lua_State* L) {
  CheckDeadline(L);
  size_t l, lsep = 0;
  luaL_checklstring(L, 1, &l);
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_optlstring(L, 3, "", &lsep);
  const size_t max = GetCtx(L)->limits.max_string_bytes;
  Run(L, [&] { return h::CheckRep(l, n, lsep, max); });
  return CallOriginal(L);
}

void PushFunctionTable(lua_State* L, const luaL_Reg* fns) {
  lua_newtable(L);
  luaL_setfuncs(L, fns, 0);
  MakeReadOnlyProxy(L);
}

}  // namespace

void SetHelpers(lua_State* L, int safe) {
  static const luaL_Reg kRe[] = {{"match", RegexTest<RE2::ANCHOR_BOTH>},
                                 {"find", RegexTest<RE2::UNANCHORED>},
                                 {"captures", RegexCaptures},
                                 {nullptr, nullptr}};
  PushFunctionTable(L, kRe);
  lua_setfield(L, safe, "re");

  static const luaL_Reg kSemver[] = {{"parse", SemverParse},
                                     {"valid", SemverValid},
                                     {"compare", SemverCompare},
                                     {"bump", SemverBump},
                                     {nullptr, nullptr}};
  PushFunctionTable(L, kSemver);
  lua_setfield(L, safe, "semver");

  static const luaL_Reg kList[] = {{"contains", ListContains},
                                   {"intersects", ListBinary<h::ListIntersects>},
                                   {"len", ListLen},
                                   {nullptr, nullptr}};
  PushFunctionTable(L, kList);
  lua_setfield(L, safe, "list");

  static const luaL_Reg kTop[] = {
      {"duration", NumberOrNil<h::Duration>},
      {"percent", NumberOrNil<h::Percent>},
      {"has_role", PrincipalTest<h::kRolesField, &Ctx::principal_roles, h::HasRole>},
      {"has_any_role", HasAnyRole},
      {"in_group", PrincipalTest<h::kGroupsField, &Ctx::principal_groups, h::InGroup>},
      {"print", Print},
      {nullptr, nullptr}};
  lua_pushvalue(L, safe);
  luaL_setfuncs(L, kTop, 0);
  lua_pop(L, 1);

  // type and tostring: the base library's, already in `safe`, wrapped (see Type, ToString).
  lua_getfield(L, safe, "type");
  for (int type = 0; type < LUA_NUMTYPES; ++type) lua_pushstring(L, lua_typename(L, type));
  lua_pushcclosure(L, Type, kFirstTypeName - 1 + LUA_NUMTYPES);
  lua_setfield(L, safe, "type");
  lua_getfield(L, safe, "tostring");
  lua_pushcclosure(L, ToString, 1);
  lua_setfield(L, safe, "tostring");

  // GetPath's kept values, nil until kept, and its table of paths, with an array part for
  // every slot (a C closure may have up to 255 upvalues).
  static_assert(kPathsUpvalue <= 255);
  luaL_checkstack(L, kPathsUpvalue, "get's upvalues");
  for (int i = 0; i < h::PathCache::kSlots; ++i) lua_pushnil(L);
  lua_createtable(L, h::PathCache::kSlots, 0);
  lua_pushcclosure(L, GetPath, kPathsUpvalue);
  lua_setfield(L, safe, "get");
}

void PatchStringLibrary(lua_State* L, int string_lib) {
  lua_pushnil(L);
  lua_setfield(L, string_lib, "dump");
  const struct {
    const char* name;
    lua_CFunction guard;
  } kPatterned[] = {{"find", GuardedPatternCall<true, true>},
                    {"match", GuardedPatternCall<false, true>},
                    {"gmatch", GuardedPatternCall<false, false>},
                    {"gsub", GuardedPatternCall<false, true>}};
  for (const auto& f : kPatterned) {
    lua_getfield(L, string_lib, f.name);
    lua_pushcclosure(L, f.guard, 1);
    lua_setfield(L, string_lib, f.name);
  }
  lua_getfield(L, string_lib, "format");
  lua_pushcclosure(L, GuardedFormat, 1);
  lua_setfield(L, string_lib, "format");
  lua_getfield(L, string_lib, "rep");
  lua_pushcclosure(L, GuardedRep, 1);
  lua_setfield(L, string_lib, "rep");
}

void PushGuardedSort(lua_State* L, int table_lib) {
  lua_getfield(L, table_lib, "sort");
  lua_pushcclosure(L, GuardedSort, 1);
}

}  // namespace arbiter::lua_internal
