// The library policies see: an allow-list of Lua's base functions, read-only string/table/math/
// utf8, the finding builders and Arbiter's helpers (RE2 regexes, semantic versions, durations,
// percentages, role and list tests).
//
// C functions here keep no C++ object with a destructor alive across a Lua call that can raise
// (lua_error unwinds with longjmp): results are computed in an inner scope into plain locals
// first, then pushed.
#include <cmath>
#include <cstdio>
#include <cstring>

#include "absl/strings/numbers.h"
#include "re2/re2.h"
#include "service/diff/semver.h"
#include "service/engine/lua_internal.h"

extern "C" {
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
}

namespace arbiter::lua_internal {

void RegisterViewMetatable(lua_State* L);  // lua_view.cc

namespace {

// Each cached RE2 program may use up to kRegexMaxMem outside the Lua allocator (its program and
// its DFA caches, which grow as it matches). That much is charged to the state's memory (the
// same count the Lua allocator checks against memory_limit_mb) while the program is cached, so
// patterns and Lua data share one ceiling; the cache holds at most kMaxRegexCache programs.
constexpr size_t kMaxRegexCache = 64;
constexpr int64_t kRegexMaxMem = 256 << 10;
constexpr size_t kMaxRegexPatternBytes = 4096;
constexpr int kMaxCaptures = 16;
// C functions run where no instruction hook reaches, so each call is priced before it runs and
// refused when its worst case could overrun the policy's time budget by more than a few
// milliseconds (issue 11). Costs are in "steps": one step of Lua's backtracking matcher, one
// subject byte times pattern byte for RE2. Measured on the CI machine, a step takes well under
// a nanosecond; kMaxCallSteps keeps one call to a few milliseconds even several times slower
// (sanitizers), and the clock is checked before every call so that many calls cannot add up.
constexpr double kMaxCallSteps = 5e6;
constexpr double kMaxRegexSteps = 2e8;  // RE2's DFA is linear and fast per step

// --- Finding builders. ---

const char* FindingTypeName(Finding::Type t) {
  switch (t) {
    case Finding::Type::kAllow:
      return "allow";
    case Finding::Type::kDeny:
      return "deny";
    case Finding::Type::kWarn:
      return "warn";
    case Finding::Type::kObligate:
      return "obligate";
  }
  return "deny";
}

// allow(message [, opts]) and friends; upvalue 1 is the Finding::Type.
int MakeFinding(lua_State* L) {
  auto type = static_cast<Finding::Type>(lua_tointeger(L, lua_upvalueindex(1)));
  const char* fname = FindingTypeName(type);
  if (lua_type(L, 1) != LUA_TSTRING && lua_type(L, 1) != LUA_TNUMBER) {
    return luaL_error(L, "%s(): the message must be a string, got %s", fname, luaL_typename(L, 1));
  }
  int opts = lua_isnoneornil(L, 2) ? 0 : 2;
  if (opts != 0 && lua_type(L, 2) != LUA_TTABLE) {
    return luaL_error(L, "%s(): opts must be a table, got %s", fname, luaL_typename(L, 2));
  }
  // Every key of opts must be one the builder reads: a typo (`row_filter`) would otherwise drop
  // an obligation and grant more than the author meant. The error names the key; the engine
  // adds the policy id when it fails the policy closed.
  if (opts != 0) {
    lua_pushnil(L);
    while (lua_next(L, opts) != 0) {
      lua_pop(L, 1);
      const char* key = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : nullptr;
      bool known =
          key != nullptr && (std::strcmp(key, "detail") == 0 || std::strcmp(key, "masks") == 0 ||
                             std::strcmp(key, "row_filters") == 0);
      if (!known) {
        if (key == nullptr) {
          return luaL_error(L,
                            "%s(): opts has a %s key; the options are detail, masks, row_filters",
                            fname, luaL_typename(L, -1));
        }
        return luaL_error(
            L, "%s(): unknown option \"%s\" (the options are detail, masks, row_filters)", fname,
            key);
      }
    }
  }
  lua_createtable(L, 0, 5);
  int f = lua_gettop(L);
  lua_pushstring(L, fname);
  lua_setfield(L, f, "type");
  lua_pushvalue(L, 1);
  lua_setfield(L, f, "message");
  if (opts != 0) {
    lua_getfield(L, opts, "detail");
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING) {
      return luaL_error(L, "%s(): opts.detail must be a string", fname);
    }
    lua_setfield(L, f, "detail");
    bool grants = type == Finding::Type::kAllow || type == Finding::Type::kObligate;
    lua_getfield(L, opts, "masks");
    if (!lua_isnil(L, -1)) {
      if (!grants) return luaL_error(L, "%s(): masks apply only to allow() and obligate()", fname);
      if (lua_type(L, -1) != LUA_TTABLE)
        return luaL_error(L, "%s(): opts.masks must be a table", fname);
      int m = lua_gettop(L);
      lua_newtable(L);
      int copy = lua_gettop(L);
      lua_pushnil(L);
      while (lua_next(L, m) != 0) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) {
          return luaL_error(L, "%s(): opts.masks maps column names to SQL expression strings",
                            fname);
        }
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, copy);
      }
      lua_setfield(L, f, "masks");
    }
    lua_pop(L, lua_gettop(L) - f);
    lua_getfield(L, opts, "row_filters");
    if (!lua_isnil(L, -1)) {
      if (!grants) {
        return luaL_error(L, "%s(): row_filters apply only to allow() and obligate()", fname);
      }
      if (lua_type(L, -1) != LUA_TTABLE) {
        return luaL_error(L, "%s(): opts.row_filters must be a list of strings", fname);
      }
      int r = lua_gettop(L);
      lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, r));
      lua_createtable(L, static_cast<int>(n), 0);
      for (lua_Integer i = 1; i <= n; ++i) {
        if (lua_rawgeti(L, r, i) != LUA_TSTRING) {
          return luaL_error(L, "%s(): opts.row_filters[%d] must be a string", fname,
                            static_cast<int>(i));
        }
        lua_rawseti(L, -2, i);
      }
      lua_setfield(L, f, "row_filters");
    }
    lua_pop(L, lua_gettop(L) - f);
  }
  luaL_setmetatable(L, kFindingMeta);
  return 1;
}

// --- print(...): into the evaluation's trace, never to stdout. ---

constexpr size_t kMaxPrintLines = 100;
constexpr size_t kMaxPrintBytes = 16 << 10;
constexpr size_t kMaxPrintLineBytes = 1024;

// Appends a rendering of the value at `idx` to buf[*len..cap) without calling any metamethod:
// strings, numbers, booleans and nil as Lua prints them, a request view as its JSON, a finding
// as "allow(message)", anything else by its type.
void RenderPrintArg(lua_State* L, int idx, char* buf, size_t cap, size_t* len) {
  auto append = [&](const char* s, size_t n) {
    n = std::min(n, cap - *len);
    std::memcpy(buf + *len, s, n);
    *len += n;
  };
  char tmp[64];
  switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
      size_t n;
      const char* s = lua_tolstring(L, idx, &n);  // a string: no conversion, no allocation
      append(s, n);
      return;
    }
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) {
        std::snprintf(tmp, sizeof tmp, "%lld", static_cast<long long>(lua_tointeger(L, idx)));
      } else {
        std::snprintf(tmp, sizeof tmp, "%.14g", lua_tonumber(L, idx));
      }
      append(tmp, std::strlen(tmp));
      return;
    case LUA_TBOOLEAN:
      append(lua_toboolean(L, idx) ? "true" : "false", lua_toboolean(L, idx) ? 4 : 5);
      return;
    case LUA_TNIL:
      append("nil", 3);
      return;
    default:
      break;
  }
  if (IsFinding(L, idx)) {
    lua_pushliteral(L, "type");
    lua_rawget(L, idx < 0 ? idx - 1 : idx);
    lua_pushliteral(L, "message");
    lua_rawget(L, idx < 0 ? idx - 2 : idx);
    size_t tn = 0, mn = 0;
    const char* t = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &tn) : "finding";
    const char* m = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &mn) : "";
    append(t, tn == 0 ? std::strlen(t) : tn);
    append("(", 1);
    append(m, mn);
    append(")", 1);
    lua_pop(L, 2);
    return;
  }
  if (lua_type(L, idx) == LUA_TUSERDATA) {
    const Value* v = ToView(L, idx);  // may raise for a dead view: no C++ object is alive here
    if (v != nullptr) {
      size_t before = *len;
      {
        std::string json = v->ToJson();
        append(json.data(), json.size());
      }
      if (*len == before) append("{}", 2);
      return;
    }
  }
  append(luaL_typename(L, idx), std::strlen(luaL_typename(L, idx)));
}

int Print(lua_State* L) {
  Ctx* c = GetCtx(L);
  if (c->prints == nullptr || c->prints->size() > kMaxPrintLines) return 0;
  if (c->prints->size() == kMaxPrintLines || c->print_bytes >= kMaxPrintBytes) {
    c->prints->push_back("(print: output capped)");
    return 0;
  }
  char buf[kMaxPrintLineBytes];
  size_t len = 0;
  int n = lua_gettop(L);
  for (int i = 1; i <= n && len < sizeof buf; ++i) {
    if (i > 1 && len < sizeof buf) buf[len++] = ' ';
    RenderPrintArg(L, i, buf, sizeof buf, &len);
  }
  std::string line = CleanText(absl::string_view(buf, len), kMaxPrintLineBytes);
  c->print_bytes += line.size();
  c->prints->push_back(std::move(line));
  return 0;
}

// --- Read-only proxies. ---

int ReadOnlyError(lua_State* L) { return luaL_error(L, "this library table is read-only"); }

// Replaces the table at the top of the stack with a read-only proxy of it.
void MakeReadOnlyProxy(lua_State* L) {
  int lib = lua_gettop(L);
  lua_newtable(L);           // proxy
  lua_createtable(L, 0, 3);  // its metatable
  lua_pushvalue(L, lib);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, ReadOnlyError);
  lua_setfield(L, -2, "__newindex");
  lua_pushliteral(L, "locked");
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);
  lua_replace(L, lib);
}

// --- Lists (tables or views). ---

bool ScalarEquals(lua_State* L, int idx, const Value& v) {
  switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
      if (!v.is_string()) return false;
      size_t n;
      const char* s = lua_tolstring(L, idx, &n);
      return v.as_string().size() == n && std::memcmp(v.as_string().data(), s, n) == 0;
    }
    case LUA_TNUMBER:
      return v.is_number() && v.as_double() == lua_tonumber(L, idx);
    case LUA_TBOOLEAN:
      return v.is_bool() && v.as_bool() == static_cast<bool>(lua_toboolean(L, idx));
    default:
      return false;
  }
}

// Whether list `l` (a table or a list view) contains the scalar at `x`. Nil lists are empty.
bool ListContains(lua_State* L, int l, int x) {
  l = lua_absindex(L, l);
  x = lua_absindex(L, x);
  if (const Value* v = ToView(L, l)) {
    if (!v->is_list()) return false;
    for (const Value& e : v->as_list()) {
      if (ScalarEquals(L, x, e)) return true;
    }
    return false;
  }
  if (lua_type(L, l) != LUA_TTABLE) return false;
  lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, l));
  for (lua_Integer i = 1; i <= n; ++i) {
    lua_rawgeti(L, l, i);
    bool eq = lua_rawequal(L, -1, x);
    lua_pop(L, 1);
    if (eq) return true;
  }
  return false;
}

int ListLength(lua_State* L, int l) {
  if (const Value* v = ToView(L, l)) return v->is_list() ? static_cast<int>(v->size()) : 0;
  if (lua_type(L, l) != LUA_TTABLE) return 0;
  return static_cast<int>(lua_rawlen(L, l));
}

// Pushes element i (1-based) of list `l`.
void PushListElement(lua_State* L, int l, int i) {
  if (const Value* v = ToView(L, l)) {
    lua_pushnil(L);
    if (v->is_list() && i >= 1 && static_cast<size_t>(i) <= v->size()) {
      lua_pop(L, 1);
      PushView(L, &v->as_list()[static_cast<size_t>(i - 1)]);
    }
    return;
  }
  lua_rawgeti(L, l, i);
}

int LuaListContains(lua_State* L) {
  lua_pushboolean(L, ListContains(L, 1, 2));
  return 1;
}

// Whether any element of list `needles` is in list `haystack` (tables or views).
bool AnyIn(lua_State* L, int needles, int haystack) {
  needles = lua_absindex(L, needles);
  haystack = lua_absindex(L, haystack);
  int n = ListLength(L, needles);
  for (int i = 1; i <= n; ++i) {
    PushListElement(L, needles, i);
    bool found = ListContains(L, haystack, -1);
    lua_pop(L, 1);
    if (found) return true;
  }
  return false;
}

int LuaListIntersects(lua_State* L) {
  lua_pushboolean(L, AnyIn(L, 1, 2));
  return 1;
}

int LuaListLen(lua_State* L) {
  lua_pushinteger(L, ListLength(L, 1));
  return 1;
}

// Pushes principal[field] (principal is a view or a table; anything else gives nil).
void PushPrincipalField(lua_State* L, int p, const char* field) {
  if (const Value* v = ToView(L, p)) {
    const Value* f = v->Find(field);
    if (f == nullptr) {
      lua_pushnil(L);
    } else {
      PushView(L, f);
    }
    return;
  }
  if (lua_type(L, p) == LUA_TTABLE) {
    lua_pushstring(L, field);
    lua_rawget(L, p);
    return;
  }
  lua_pushnil(L);
}

// get(t, "a.b.1.c"): the value at a dotted path through views and tables, or nil when any step
// is missing or not a container. On views the walk happens in C over the Value tree, so only
// the final value becomes a Lua value (the hot path of most policies).
int GetPath(lua_State* L) {
  size_t n;
  const char* path = luaL_checklstring(L, 2, &n);
  lua_settop(L, 2);
  lua_pushvalue(L, 1);  // the current value, at index 3
  const Value* v = nullptr;
  size_t start = 0;
  while (start <= n) {
    size_t end = start;
    while (end < n && path[end] != '.') ++end;
    absl::string_view key(path + start, end - start);
    start = end + 1;
    if (key.empty()) continue;
    if (v == nullptr) v = ToView(L, 3);
    if (v != nullptr) {
      const Value& cur = v->Get();
      v = nullptr;
      if (cur.is_map()) {
        v = cur.Find(key);
      } else if (cur.is_list()) {
        size_t index;
        if (absl::SimpleAtoi(key, &index) && index >= 1 && index <= cur.size()) {
          v = &cur.as_list()[index - 1];
        }
      }
      if (v == nullptr) {
        lua_pushnil(L);
        return 1;
      }
      continue;
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
  if (v != nullptr) {
    PushView(L, v);
  } else {
    lua_pushvalue(L, 3);
  }
  return 1;
}

// Whether the principal's `field` list holds the value at index 2. A principal view is read in
// place: making a Lua view of the list just to scan it would cost more than the scan.
bool PrincipalListContains(lua_State* L, const char* field) {
  if (const Value* v = ToView(L, 1)) {
    const Value* list = v->Find(field);
    if (list == nullptr || !list->is_list()) return false;
    for (const Value& e : list->as_list()) {
      if (ScalarEquals(L, 2, e)) return true;
    }
    return false;
  }
  PushPrincipalField(L, 1, field);
  return ListContains(L, -1, 2);
}

int HasRole(lua_State* L) {
  luaL_checkany(L, 2);
  lua_pushboolean(L, PrincipalListContains(L, "roles"));
  return 1;
}

int HasAnyRole(lua_State* L) {
  PushPrincipalField(L, 1, "roles");
  lua_pushboolean(L, AnyIn(L, 2, -1));
  return 1;
}

int InGroup(lua_State* L) {
  luaL_checkany(L, 2);
  lua_pushboolean(L, PrincipalListContains(L, "groups"));
  return 1;
}

// --- RE2. ---

void ClearRegexCache(Ctx* c) {
  c->mem_used -= c->regex_cache.size() * static_cast<size_t>(kRegexMaxMem);
  c->regex_cache.clear();
}

// The compiled pattern at `idx`, or nullptr with `err` filled (no Lua error raised here, so no
// C++ temporaries are skipped by longjmp).
const RE2* CompileRegex(lua_State* L, int idx, char* err, size_t err_size) {
  size_t n;
  const char* p = lua_tolstring(L, idx, &n);
  if (p == nullptr) {
    std::snprintf(err, err_size, "the pattern must be a string");
    return nullptr;
  }
  if (n > kMaxRegexPatternBytes) {
    std::snprintf(err, err_size, "the pattern is longer than %zu bytes", kMaxRegexPatternBytes);
    return nullptr;
  }
  Ctx* c = GetCtx(L);
  std::string key(p, n);
  auto it = c->regex_cache.find(key);
  if (it != c->regex_cache.end()) return it->second.get();
  // Room for one more program: first by forgetting the cached ones (recompiling is cheap), and
  // only when the Lua heap itself leaves no room, a memory error.
  if (c->regex_cache.size() >= kMaxRegexCache || c->mem_used + kRegexMaxMem > c->mem_limit) {
    ClearRegexCache(c);
  }
  if (c->mem_used + kRegexMaxMem > c->mem_limit) {
    std::snprintf(err, err_size,
                  "memory limit of %zu bytes exceeded (a compiled pattern takes up to %zu bytes)",
                  c->mem_limit, static_cast<size_t>(kRegexMaxMem));
    return nullptr;
  }
  RE2::Options options;
  options.set_log_errors(false);
  options.set_max_mem(kRegexMaxMem);
  auto re = std::make_unique<RE2>(re2::StringPiece(p, n), options);
  if (!re->ok()) {
    std::snprintf(err, err_size, "invalid pattern: %s", re->error().c_str());
    return nullptr;
  }
  c->mem_used += kRegexMaxMem;
  return c->regex_cache.emplace(std::move(key), std::move(re)).first->second.get();
}

// Refuses a regex call whose subject could take too long (raises a Lua error).
void CheckRegexCost(lua_State* L, size_t n, int pattern_arg) {
  lua_internal::CheckDeadline(L);
  size_t plen = 0;
  lua_tolstring(L, pattern_arg, &plen);
  Ctx* c = GetCtx(L);
  if (n > c->limits.max_string_bytes ||
      static_cast<double>(n) * static_cast<double>(std::max<size_t>(plen, 1)) > kMaxRegexSteps) {
    luaL_error(L, "re: subject of %d bytes is too long for this pattern (limit %d bytes)",
               static_cast<int>(n), static_cast<int>(c->limits.max_string_bytes));
  }
}

template <RE2::Anchor kAnchor>
int RegexTest(lua_State* L) {
  char err[256];
  const RE2* re = CompileRegex(L, 1, err, sizeof err);
  if (re == nullptr) return luaL_error(L, "re: %s", err);
  size_t n;
  const char* s = lua_tolstring(L, 2, &n);
  if (s == nullptr) {
    lua_pushboolean(L, 0);  // nil or a non-string never matches
    return 1;
  }
  CheckRegexCost(L, n, 1);
  bool matched = re->Match(re2::StringPiece(s, n), 0, n, kAnchor, nullptr, 0);
  lua_pushboolean(L, matched);
  return 1;
}

int RegexCaptures(lua_State* L) {
  char err[256];
  const RE2* re = CompileRegex(L, 1, err, sizeof err);
  if (re == nullptr) return luaL_error(L, "re.captures: %s", err);
  size_t n;
  const char* s = lua_tolstring(L, 2, &n);
  if (s == nullptr) {
    lua_pushnil(L);
    return 1;
  }
  CheckRegexCost(L, n, 1);
  int groups = std::min(re->NumberOfCapturingGroups(), kMaxCaptures);
  re2::StringPiece subs[kMaxCaptures + 1];
  if (!re->Match(re2::StringPiece(s, n), 0, n, RE2::UNANCHORED, subs, groups + 1)) {
    lua_pushnil(L);
    return 1;
  }
  lua_createtable(L, groups, 0);
  for (int i = 1; i <= groups; ++i) {
    if (subs[i].data() == nullptr) {
      lua_pushboolean(L, 0);
    } else {
      lua_pushlstring(L, subs[i].data(), subs[i].size());
    }
    lua_rawseti(L, -2, i);
  }
  return 1;
}

// --- Semantic versions, durations, percentages. ---

// Renders the version argument at `idx` (string or number) into `buf`; false if neither, or
// if the text would not fit or holds a NUL (so that it cannot be mistaken for a shorter valid
// version).
bool VersionArg(lua_State* L, int idx, char* buf, size_t size) {
  if (lua_type(L, idx) == LUA_TSTRING) {
    size_t n;
    const char* s = lua_tolstring(L, idx, &n);
    if (n >= size || std::memchr(s, '\0', n) != nullptr) return false;
    std::memcpy(buf, s, n);
    buf[n] = '\0';
    return true;
  }
  if (lua_type(L, idx) == LUA_TNUMBER) {
    if (lua_isinteger(L, idx)) {
      std::snprintf(buf, size, "%lld", static_cast<long long>(lua_tointeger(L, idx)));
    } else {
      std::snprintf(buf, size, "%g", lua_tonumber(L, idx));
    }
    return true;
  }
  return false;
}

struct PlainSemVer {
  bool ok = false;
  int64_t major = 0, minor = 0, patch = 0;
  char prerelease[256] = {0};
};

PlainSemVer ParseVersionArg(lua_State* L, int idx) {
  PlainSemVer out;
  char buf[256];
  if (!VersionArg(L, idx, buf, sizeof buf)) return out;
  std::optional<SemVer> v = ParseSemVer(buf);
  if (!v) return out;
  out.ok = true;
  out.major = v->major;
  out.minor = v->minor;
  out.patch = v->patch;
  std::snprintf(out.prerelease, sizeof out.prerelease, "%s", v->prerelease.c_str());
  return out;
}

int SemverParse(lua_State* L) {
  PlainSemVer v = ParseVersionArg(L, 1);
  if (!v.ok) {
    lua_pushnil(L);
    return 1;
  }
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, v.major);
  lua_setfield(L, -2, "major");
  lua_pushinteger(L, v.minor);
  lua_setfield(L, -2, "minor");
  lua_pushinteger(L, v.patch);
  lua_setfield(L, -2, "patch");
  lua_pushstring(L, v.prerelease);
  lua_setfield(L, -2, "prerelease");
  return 1;
}

int SemverValid(lua_State* L) {
  lua_pushboolean(L, ParseVersionArg(L, 1).ok);
  return 1;
}

// Compares or classifies two version arguments; `op` 0 = compare, 1 = bump.
int SemverBinary(lua_State* L, int op) {
  char a[256], b[256];
  bool ok_a = VersionArg(L, 1, a, sizeof a), ok_b = VersionArg(L, 2, b, sizeof b);
  int cmp = 0;
  const char* bump = nullptr;
  bool valid = false;
  if (ok_a && ok_b) {
    std::optional<SemVer> va = ParseSemVer(a), vb = ParseSemVer(b);
    if (va && vb) {
      valid = true;
      cmp = CompareSemVer(*va, *vb);
      bump = BumpName(ClassifyBump(*va, *vb)).data();  // static strings
    }
  }
  if (!valid) return luaL_error(L, "semver: both arguments must be semantic versions");
  if (op == 0) {
    lua_pushinteger(L, cmp);
  } else {
    lua_pushstring(L, bump);
  }
  return 1;
}

int SemverCompare(lua_State* L) { return SemverBinary(L, 0); }
int SemverBump(lua_State* L) { return SemverBinary(L, 1); }

// "15m", "4h", "1h30m", "7d", "2w", "7y", "250ms", "30s" or a number of seconds -> seconds.
int Duration(lua_State* L) {
  if (lua_type(L, 1) == LUA_TNUMBER) {
    lua_pushnumber(L, lua_tonumber(L, 1));
    return 1;
  }
  size_t n;
  const char* s = lua_tolstring(L, 1, &n);
  if (s == nullptr || n == 0 || n > 64) {
    lua_pushnil(L);
    return 1;
  }
  double total = 0;
  size_t i = 0;
  bool any = false;
  while (i < n) {
    char* end = nullptr;
    double num = std::strtod(s + i, &end);
    if (end == s + i || num < 0 || !std::isfinite(num)) {
      lua_pushnil(L);
      return 1;
    }
    i = static_cast<size_t>(end - s);
    double unit = 0;
    if (i + 1 < n && s[i] == 'm' && s[i + 1] == 's') {
      unit = 0.001;
      i += 2;
    } else if (i < n) {
      switch (s[i]) {
        case 's':
          unit = 1;
          break;
        case 'm':
          unit = 60;
          break;
        case 'h':
          unit = 3600;
          break;
        case 'd':
          unit = 86400;
          break;
        case 'w':
          unit = 7 * 86400;
          break;
        case 'y':
          unit = 365 * 86400;
          break;
        default:
          unit = 0;
      }
      ++i;
    }
    if (unit == 0) {
      lua_pushnil(L);
      return 1;
    }
    total += num * unit;
    any = true;
  }
  if (!any) {
    lua_pushnil(L);
  } else {
    lua_pushnumber(L, total);
  }
  return 1;
}

// "99.5%" -> 99.5; a number is returned as is; anything else -> nil.
int Percent(lua_State* L) {
  if (lua_type(L, 1) == LUA_TNUMBER) {
    lua_pushnumber(L, lua_tonumber(L, 1));
    return 1;
  }
  size_t n;
  const char* s = lua_tolstring(L, 1, &n);
  double d;
  if (s == nullptr || n < 2 || n > 32 || s[n - 1] != '%' ||
      !absl::SimpleAtod(absl::string_view(s, n - 1), &d) || !std::isfinite(d)) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushnumber(L, d);
  return 1;
}

// xpcall(f, msgh, ...) that runs the message handler after unwinding. Lua's own xpcall runs
// the handler at the point of the error; for an error raised by the budget hook that is inside
// the hook, with hooks disabled, so a looping handler would never be stopped.
int SafeXpcall(lua_State* L) {
  int n = lua_gettop(L);
  luaL_checkany(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_pushvalue(L, 1);
  for (int i = 3; i <= n; ++i) lua_pushvalue(L, i);
  if (lua_pcall(L, n - 2, LUA_MULTRET, 0) == LUA_OK) {
    lua_pushboolean(L, 1);
    lua_insert(L, n + 1);
    return lua_gettop(L) - n;
  }
  lua_pushvalue(L, 2);
  lua_insert(L, -2);
  lua_call(L, 1, 1);
  lua_pushboolean(L, 0);
  lua_insert(L, -2);
  return 2;
}

// --- The patched string library. ---

// Worst-case steps of Lua's backtracking matcher for pattern `p` over a subject of `n` bytes.
// Every `*`, `+` or `-` may retry the rest of the pattern at each of up to n positions, `%b`
// and back-references scan up to n bytes per attempt, `?` doubles the attempts, and an
// unanchored search (or gmatch/gsub's iteration) restarts at every position: about
// n^e / e! ways to place e such items, times the pattern's length per step.
double PatternCost(const char* p, size_t plen, size_t n, bool may_anchor) {
  int exponent = 0;
  double factor = static_cast<double>(std::max<size_t>(plen, 1));
  size_t i = 0;
  if (may_anchor && plen > 0 && p[0] == '^') {
    i = 1;
  } else {
    ++exponent;
  }
  auto skip_set = [&] {  // p[i] == '['
    ++i;
    if (i < plen && p[i] == '^') ++i;
    if (i < plen && p[i] == ']') ++i;
    while (i < plen && p[i] != ']') i += p[i] == '%' ? 2 : 1;
    ++i;
  };
  while (i < plen) {
    // One pattern item: %x, %bxy, %f[set], [set], or a single character.
    if (p[i] == '%' && i + 1 < plen && p[i + 1] == 'b') {
      ++exponent;
      i += 4;
      continue;
    }
    if (p[i] == '%' && i + 1 < plen && p[i + 1] >= '0' && p[i + 1] <= '9') {
      ++exponent;
      i += 2;
      continue;
    }
    if (p[i] == '%' && i + 1 < plen && p[i + 1] == 'f') {
      i += 2;
      if (i < plen && p[i] == '[') skip_set();
      continue;
    }
    if (p[i] == '%') {
      i += 2;
    } else if (p[i] == '[') {
      skip_set();
    } else {
      ++i;
    }
    if (i < plen && (p[i] == '*' || p[i] == '+' || p[i] == '-')) {
      ++exponent;
      ++i;
    } else if (i < plen && p[i] == '?') {
      factor *= 2;
      ++i;
    }
  }
  const double base = static_cast<double>(std::max<size_t>(n, 1) + 1);
  double cost = factor;
  for (int k = 1; k <= exponent; ++k) cost *= base / k;
  return cost;
}

// Wraps find/match/gmatch/gsub (upvalue 1: the original). upvalue 2: 1 when argument 4 may ask
// for a plain find; upvalue 3: 1 when a leading '^' anchors the pattern (not for gmatch).
int GuardedPatternCall(lua_State* L) {
  size_t n, plen;
  const char* s = luaL_checklstring(L, 1, &n);
  const char* p = luaL_checklstring(L, 2, &plen);
  (void)s;
  lua_internal::CheckDeadline(L);
  Ctx* c = GetCtx(L);
  bool plain = lua_toboolean(L, lua_upvalueindex(2)) && lua_toboolean(L, 4);
  if (n > c->limits.max_pattern_subject_bytes && !plain) {
    return luaL_error(L,
                      "subject of %d bytes is over the Lua pattern limit of %d bytes; use re.* "
                      "(RE2, linear time)",
                      static_cast<int>(n), static_cast<int>(c->limits.max_pattern_subject_bytes));
  }
  if (!plain && PatternCost(p, plen, n, lua_toboolean(L, lua_upvalueindex(3))) > kMaxCallSteps) {
    return luaL_error(L,
                      "Lua pattern too costly to backtrack over %d bytes; use re.* (RE2, linear "
                      "time)",
                      static_cast<int>(n));
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

// table.sort: with a Lua comparator the hook fires inside the comparator; without one (or with
// a C function) the whole sort runs in C, so its length is capped.
constexpr lua_Integer kMaxSortInC = 50000;
int GuardedSort(lua_State* L) {
  lua_internal::CheckDeadline(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  const bool lua_comparator = lua_type(L, 2) == LUA_TFUNCTION && !lua_iscfunction(L, 2);
  if (!lua_comparator && luaL_len(L, 1) > kMaxSortInC) {
    return luaL_error(L, "table.sort: over %d items need a Lua comparator function",
                      static_cast<int>(kMaxSortInC));
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 0);
  return 0;
}

// string.format's cost is its output, bounded by the memory ceiling; the clock is checked so
// that a loop of large formats cannot run on between hooks.
int GuardedFormat(lua_State* L) {
  lua_internal::CheckDeadline(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

int GuardedRep(lua_State* L) {
  lua_internal::CheckDeadline(L);
  size_t l, lsep = 0;
  luaL_checklstring(L, 1, &l);
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_optlstring(L, 3, "", &lsep);
  Ctx* c = GetCtx(L);
  double total = n <= 0 ? 0 : static_cast<double>(l) * n + static_cast<double>(lsep) * (n - 1);
  // n itself is bounded too: Lua's rep loops n times even for an empty string.
  if (total > c->limits.max_string_bytes ||
      n > static_cast<lua_Integer>(c->limits.max_string_bytes)) {
    return luaL_error(L, "string.rep result over the limit of %d bytes",
                      static_cast<int>(c->limits.max_string_bytes));
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

void PatchStringLibrary(lua_State* L, int string_lib) {
  lua_pushnil(L);
  lua_setfield(L, string_lib, "dump");
  struct {
    const char* name;
    bool plain_arg;
    bool may_anchor;
  } const kPatterned[] = {{"find", true, true},
                          {"match", false, true},
                          {"gmatch", false, false},
                          {"gsub", false, true}};
  for (const auto& f : kPatterned) {
    lua_getfield(L, string_lib, f.name);
    lua_pushboolean(L, f.plain_arg);
    lua_pushboolean(L, f.may_anchor);
    lua_pushcclosure(L, GuardedPatternCall, 3);
    lua_setfield(L, string_lib, f.name);
  }
  lua_getfield(L, string_lib, "format");
  lua_pushcclosure(L, GuardedFormat, 1);
  lua_setfield(L, string_lib, "format");
  lua_getfield(L, string_lib, "rep");
  lua_pushcclosure(L, GuardedRep, 1);
  lua_setfield(L, string_lib, "rep");
}

// Copies the named fields of the table at `from` into the table at `to`.
void CopyFields(lua_State* L, int from, int to, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    lua_getfield(L, from, name);
    lua_setfield(L, to, name);
  }
}

void PushFunctionTable(lua_State* L, const luaL_Reg* fns) {
  lua_newtable(L);
  luaL_setfuncs(L, fns, 0);
  MakeReadOnlyProxy(L);
}

}  // namespace

void InstallSafeLibrary(lua_State* L) {
  RegisterViewMetatable(L);

  luaL_newmetatable(L, kFindingMeta);
  lua_pushliteral(L, "locked");
  lua_setfield(L, -2, "__metatable");
  lua_pushcfunction(L, ReadOnlyError);
  lua_setfield(L, -2, "__newindex");
  lua_pop(L, 1);

  luaL_requiref(L, "_G", luaopen_base, 0);
  int base = lua_gettop(L);
  luaL_requiref(L, "string", luaopen_string, 0);
  int string_lib = lua_gettop(L);
  luaL_requiref(L, "table", luaopen_table, 0);
  int table_lib = lua_gettop(L);
  luaL_requiref(L, "math", luaopen_math, 0);
  int math_lib = lua_gettop(L);
  luaL_requiref(L, "utf8", luaopen_utf8, 0);
  int utf8_lib = lua_gettop(L);

  // The real string table is what every string's metatable reaches ("x"):rep(...), so the
  // patches go there, not into a copy.
  PatchStringLibrary(L, string_lib);

  lua_newtable(L);
  int safe = lua_gettop(L);
  CopyFields(L, base, safe,
             {"assert", "error", "ipairs", "next", "pairs", "pcall", "select", "tonumber",
              "tostring", "type"});
  lua_pushcfunction(L, SafeXpcall);
  lua_setfield(L, safe, "xpcall");

  lua_pushvalue(L, string_lib);
  MakeReadOnlyProxy(L);
  lua_setfield(L, safe, "string");

  lua_newtable(L);
  CopyFields(L, table_lib, lua_gettop(L), {"concat", "insert", "remove", "unpack"});
  lua_getfield(L, table_lib, "sort");
  lua_pushcclosure(L, GuardedSort, 1);
  lua_setfield(L, -2, "sort");
  MakeReadOnlyProxy(L);
  lua_setfield(L, safe, "table");

  lua_newtable(L);
  CopyFields(L, math_lib, lua_gettop(L),
             {"abs", "ceil", "floor", "fmod", "huge", "max", "maxinteger", "min", "mininteger",
              "modf", "pi", "sqrt", "tointeger", "type", "ult", "exp", "log"});
  MakeReadOnlyProxy(L);
  lua_setfield(L, safe, "math");

  lua_pushvalue(L, utf8_lib);
  MakeReadOnlyProxy(L);
  lua_setfield(L, safe, "utf8");

  const std::pair<const char*, Finding::Type> kBuilders[] = {
      {"allow", Finding::Type::kAllow},
      {"deny", Finding::Type::kDeny},
      {"warn", Finding::Type::kWarn},
      {"obligate", Finding::Type::kObligate}};
  for (const auto& [name, type] : kBuilders) {
    lua_pushinteger(L, static_cast<lua_Integer>(type));
    lua_pushcclosure(L, MakeFinding, 1);
    lua_setfield(L, safe, name);
  }

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

  static const luaL_Reg kList[] = {{"contains", LuaListContains},
                                   {"intersects", LuaListIntersects},
                                   {"len", LuaListLen},
                                   {nullptr, nullptr}};
  PushFunctionTable(L, kList);
  lua_setfield(L, safe, "list");

  static const luaL_Reg kTop[] = {{"get", GetPath},
                                  {"duration", Duration},
                                  {"percent", Percent},
                                  {"has_role", HasRole},
                                  {"has_any_role", HasAnyRole},
                                  {"in_group", InGroup},
                                  {"print", Print},
                                  {nullptr, nullptr}};
  luaL_setfuncs(L, kTop, 0);

  lua_pushvalue(L, safe);
  lua_setfield(L, LUA_REGISTRYINDEX, kSafeLibrary);

  lua_createtable(L, 0, 2);
  lua_pushvalue(L, safe);
  lua_setfield(L, -2, "__index");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_setfield(L, LUA_REGISTRYINDEX, kEnvMeta);

  // Nothing runs with the real globals as its environment; empty them anyway so that no path
  // to load/dofile/collectgarbage/print exists in this state.
  lua_pushnil(L);
  while (lua_next(L, base) != 0) {
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_pushnil(L);
    lua_rawset(L, base);
  }
  lua_settop(L, 0);
}

void PushPolicyEnv(lua_State* L) {
  lua_newtable(L);
  lua_getfield(L, LUA_REGISTRYINDEX, kEnvMeta);
  lua_setmetatable(L, -2);
}

bool IsFinding(lua_State* L, int idx) {
  if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx)) return false;
  luaL_getmetatable(L, kFindingMeta);
  bool same = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return same;
}

void FindingFromTable(lua_State* L, int idx, Finding* f, size_t cap) {
  idx = lua_absindex(L, idx);
  auto read_string = [&](const char* key, std::string* out) {
    lua_pushstring(L, key);
    lua_rawget(L, idx);
    if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER) {
      size_t n;
      const char* s = lua_tolstring(L, -1, &n);
      *out = CleanText(absl::string_view(s, n), cap);
    }
    lua_pop(L, 1);
  };
  std::string type;
  read_string("type", &type);
  f->type = type == "allow"      ? Finding::Type::kAllow
            : type == "warn"     ? Finding::Type::kWarn
            : type == "obligate" ? Finding::Type::kObligate
                                 : Finding::Type::kDeny;
  read_string("message", &f->message);
  read_string("detail", &f->detail);
  lua_pushliteral(L, "masks");
  lua_rawget(L, idx);
  if (lua_type(L, -1) == LUA_TTABLE) {
    int m = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, m) != 0) {
      if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING) {
        f->masks.push_back(
            {CleanText(lua_tostring(L, -2), cap), CleanText(lua_tostring(L, -1), cap)});
      }
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  lua_pushliteral(L, "row_filters");
  lua_rawget(L, idx);
  if (lua_type(L, -1) == LUA_TTABLE) {
    lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, -1));
    for (lua_Integer i = 1; i <= n; ++i) {
      if (lua_rawgeti(L, -1, i) == LUA_TSTRING) {
        f->row_filters.push_back(CleanText(lua_tostring(L, -1), cap));
      }
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  // Masks come out of a Lua hash table in no stable order.
  std::sort(f->masks.begin(), f->masks.end(),
            [](const ColumnMask& a, const ColumnMask& b) { return a.column < b.column; });
}

}  // namespace arbiter::lua_internal
