// The library policies see: an allow-list of Lua's base functions, read-only string/table/math/
// utf8, the finding builders, and Arbiter's helpers (RE2 regexes, semantic versions, durations,
// percentages, role and list tests, get, print), which lua_adapter.cc binds. The functions
// here are Lua glue: the rule they follow, no C++ object with a destructor alive across a Lua
// call that can raise, is explained once in lua_adapter.cc.
#include <algorithm>
#include <cstdio>
#include <cstring>

#include "service/engine/lua_internal.h"

extern "C" {
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
}

namespace arbiter::lua_internal {

void RegisterViewMetatable(lua_State* L);  // lua_view.cc

namespace {

// --- Read-only proxies. ---

int ReadOnlyError(lua_State* L) { return luaL_error(L, "this library table is read-only"); }

// --- Finding builders. ---

// The fields of a finding table, in the order of Ctx::finding_keys and of the builders'
// upvalues from kFirstKeyUpvalue on.
enum FindingKey { kTypeKey, kMessageKey, kDetailKey, kMasksKey, kRowFiltersKey, kFindingKeys };
constexpr absl::string_view kFindingKeyNames[kFindingKeys] = {
    "type", "message", kFindingOptionNames[0], kFindingOptionNames[1], kFindingOptionNames[2]};
static_assert(kFindingOptionNames.size() == kFindingKeys - kDetailKey);

// The builders' upvalues: the finding metatable (no registry lookup by name per finding), the
// type's name (made once) and the field names (pushed as keys for lua_rawset: lua_setfield
// would look its C string up in the string cache each time).
constexpr int kMetaUpvalue = 1;
constexpr int kTypeNameUpvalue = 2;
constexpr int kFirstKeyUpvalue = 3;

// Which field of a finding the key at `idx` names, or kFindingKeys: compares the key's address
// with the state's interned names (no strcmp, no conversion of a number key).
FindingKey KeyAt(lua_State* L, const Ctx* c, int idx) {
  if (lua_type(L, idx) != LUA_TSTRING) return kFindingKeys;
  const char* key = lua_tostring(L, idx);
  int k = 0;
  while (k < kFindingKeys && c->finding_keys[k] != key) ++k;
  return static_cast<FindingKey>(k);
}

// Pushes the name of field `key` (a builder's upvalue).
void PushFindingKey(lua_State* L, FindingKey key) {
  lua_pushvalue(L, lua_upvalueindex(kFirstKeyUpvalue + key));
}

// allow(message [, opts]) and friends. The finding is a table (a policy may read its fields,
// iterate it, keep it or return it in a list; it is read back by FindingFromTable), with just
// the room its fields take.
template <Finding::Type kType>
int MakeFinding(lua_State* L) {
  const char* fname = FindingTypeName(kType).data();  // a literal's: NUL-terminated
  const int message_type = lua_type(L, 1);
  if (message_type != LUA_TSTRING && message_type != LUA_TNUMBER) {
    return luaL_error(L, "%s(): the message must be a string, got %s", fname, luaL_typename(L, 1));
  }
  const int opts_type = lua_type(L, 2);
  // Where opts' detail, masks and row_filters are on the stack (0: opts has none). They are
  // taken from the walk over opts that checks its keys: the same raw values a lookup would
  // find (no table a policy can make has an __index that a present key would consult).
  int detail = 0, masks = 0, row_filters = 0;
  if (opts_type != LUA_TNONE && opts_type != LUA_TNIL) {
    if (opts_type != LUA_TTABLE) {
      return luaL_error(L, "%s(): opts must be a table, got %s", fname, luaL_typename(L, 2));
    }
    // Every key of opts must be one the builder reads: a typo (`row_filter`) would otherwise
    // drop an obligation and grant more than the author meant. The error names the key; the
    // engine adds the policy id when it fails the policy closed.
    lua_settop(L, 2);  // arguments past opts are not options
    const Ctx* c = GetCtx(L);
    lua_pushnil(L);
    while (lua_next(L, 2) != 0) {
      const FindingKey key = KeyAt(L, c, -2);
      int* at = key == kDetailKey       ? &detail
                : key == kMasksKey      ? &masks
                : key == kRowFiltersKey ? &row_filters
                                        : nullptr;
      if (at == nullptr) {
        if (lua_type(L, -2) != LUA_TSTRING) {
          return luaL_error(L, "%s(): opts has a %s key; the options are %s", fname,
                            luaL_typename(L, -2), FindingOptionList().c_str());
        }
        return luaL_error(L, "%s(): unknown option \"%s\" (the options are %s)", fname,
                          lua_tostring(L, -2), FindingOptionList().c_str());
      }
      // The value stays where it is, under a copy of its key for the walk's next step.
      *at = lua_gettop(L);
      lua_pushvalue(L, -2);
    }
  }
  lua_createtable(L, 0, 2 + (detail != 0) + (masks != 0) + (row_filters != 0));
  const int f = lua_gettop(L);
  PushFindingKey(L, kTypeKey);
  lua_pushvalue(L, lua_upvalueindex(kTypeNameUpvalue));
  lua_rawset(L, f);
  PushFindingKey(L, kMessageKey);
  lua_pushvalue(L, 1);
  lua_rawset(L, f);
  if (detail != 0) {
    if (lua_type(L, detail) != LUA_TSTRING) {
      return luaL_error(L, "%s(): opts.detail must be a string", fname);
    }
    PushFindingKey(L, kDetailKey);
    lua_pushvalue(L, detail);
    lua_rawset(L, f);
  }
  constexpr bool kGrants = kType == Finding::Type::kAllow || kType == Finding::Type::kObligate;
  if (masks != 0) {
    if (!kGrants) return luaL_error(L, "%s(): masks apply only to allow() and obligate()", fname);
    if (lua_type(L, masks) != LUA_TTABLE) {
      return luaL_error(L, "%s(): opts.masks must be a table", fname);
    }
    PushFindingKey(L, kMasksKey);
    // Room for a few columns from the start: growing an empty table rehashes it on each of
    // its first inserts.
    lua_createtable(L, 0, 4);
    int copy = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, masks) != 0) {
      if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) {
        return luaL_error(L, "%s(): opts.masks maps column names to SQL expression strings", fname);
      }
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, copy);
    }
    lua_rawset(L, f);
  }
  if (row_filters != 0) {
    if (!kGrants) {
      return luaL_error(L, "%s(): row_filters apply only to allow() and obligate()", fname);
    }
    if (lua_type(L, row_filters) != LUA_TTABLE) {
      return luaL_error(L, "%s(): opts.row_filters must be a list of strings", fname);
    }
    PushFindingKey(L, kRowFiltersKey);
    lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, row_filters));
    lua_createtable(L, static_cast<int>(n), 0);
    for (lua_Integer i = 1; i <= n; ++i) {
      if (lua_rawgeti(L, row_filters, i) != LUA_TSTRING) {
        return luaL_error(L, "%s(): opts.row_filters[%d] must be a string", fname,
                          static_cast<int>(i));
      }
      lua_rawseti(L, -2, i);
    }
    lua_rawset(L, f);
  }
  lua_pushvalue(L, lua_upvalueindex(kMetaUpvalue));
  lua_setmetatable(L, f);
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

// Copies the named fields of the table at `from` into the table at `to`.
void CopyFields(lua_State* L, int from, int to, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    lua_getfield(L, from, name);
    lua_setfield(L, to, name);
  }
}

}  // namespace

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

void InstallSafeLibrary(lua_State* L) {
  RegisterViewMetatable(L);

  luaL_newmetatable(L, kFindingMeta);
  lua_pushliteral(L, "locked");
  lua_setfield(L, -2, "__metatable");
  lua_pushcfunction(L, ReadOnlyError);
  lua_setfield(L, -2, "__newindex");
  GetCtx(L)->finding_meta = lua_topointer(L, -1);
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
  CopyFields(
      L, base, safe,
      {"assert", "error", "next", "pairs", "pcall", "select", "tonumber", "tostring", "type"});
  lua_pushcfunction(L, SafeXpcall);
  lua_setfield(L, safe, "xpcall");
  lua_getfield(L, base, "ipairs");
  lua_pushcclosure(L, ViewIpairs, 1);
  lua_setfield(L, safe, "ipairs");

  lua_pushvalue(L, string_lib);
  MakeReadOnlyProxy(L);
  lua_setfield(L, safe, "string");

  lua_newtable(L);
  CopyFields(L, table_lib, lua_gettop(L), {"concat", "insert", "remove", "unpack"});
  PushGuardedSort(L, table_lib);
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

  // The field names stay on the stack (alive) until the closures hold them.
  Ctx* c = GetCtx(L);
  const int keys = lua_gettop(L) + 1;
  for (int k = 0; k < kFindingKeys; ++k)
    c->finding_keys[k] = lua_pushlstring(L, kFindingKeyNames[k].data(), kFindingKeyNames[k].size());
  for (size_t t = 0; t < kFindingTypeNames.size(); ++t) {
    const auto type = static_cast<Finding::Type>(t);
    const absl::string_view name = kFindingTypeNames[t];
    luaL_getmetatable(L, kFindingMeta);
    lua_pushlstring(L, name.data(), name.size());
    for (int k = 0; k < kFindingKeys; ++k) lua_pushvalue(L, keys + k);
    lua_CFunction make = type == Finding::Type::kAllow  ? MakeFinding<Finding::Type::kAllow>
                         : type == Finding::Type::kDeny ? MakeFinding<Finding::Type::kDeny>
                         : type == Finding::Type::kWarn ? MakeFinding<Finding::Type::kWarn>
                                                        : MakeFinding<Finding::Type::kObligate>;
    lua_pushcclosure(L, make, kFirstKeyUpvalue + kFindingKeys - 1);
    lua_setfield(L, safe, name.data());
  }
  lua_pop(L, kFindingKeys);

  SetHelpers(L, safe);

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
  // The library's entries are copied in, not only reached through __index: a global such as
  // allow, has_role or string is then found by the VM's first lookup (a miss in the empty
  // table cost a metamethod fallback, ~100 instructions, tens of times per decision). The
  // metatable stays: a policy's own global shadows an entry as before, and once set to nil
  // the library's entry shows again, as before.
  lua_getfield(L, LUA_REGISTRYINDEX, kSafeLibrary);
  int safe = lua_gettop(L);
  lua_createtable(L, 0, 64);
  int env = safe + 1;
  lua_pushnil(L);
  while (lua_next(L, safe) != 0) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, env);
  }
  lua_getfield(L, LUA_REGISTRYINDEX, kEnvMeta);
  lua_setmetatable(L, env);
  lua_remove(L, safe);
}

bool IsFinding(lua_State* L, int idx) {
  if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx)) return false;
  bool same = lua_topointer(L, -1) == GetCtx(L)->finding_meta;
  lua_pop(L, 1);
  return same;
}

void FindingFromTable(lua_State* L, int idx, Finding* f, size_t cap) {
  idx = lua_absindex(L, idx);
  const Ctx* c = GetCtx(L);
  // One walk over the fields the table has (a finding has 2-5), each told by its key's address,
  // instead of a lookup per possible field. Raw, as every access here: nothing a policy returns
  // can run code. A field a policy set to nil is not seen, as a lookup would find nil. No
  // std::string may be alive across the calls below, which can raise (see lua_adapter.cc):
  // those made are the finding's own.
  f->type = Finding::Type::kDeny;  // a type that is not a known name's
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    const FindingKey key = KeyAt(L, c, -2);
    switch (key) {
      case kTypeKey:
        if (lua_type(L, -1) == LUA_TSTRING) {
          size_t tn = 0;
          const char* t = lua_tolstring(L, -1, &tn);
          const absl::string_view type = absl::string_view(t, tn).substr(0, cap);
          for (size_t k = 0; k < kFindingTypeNames.size(); ++k) {
            if (type == kFindingTypeNames[k]) {
              f->type = static_cast<Finding::Type>(k);
              break;
            }
          }
        }
        break;
      case kMessageKey:
      case kDetailKey:
        // A number is converted in this copy of it, not in the table.
        if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER) {
          size_t n;
          const char* s = lua_tolstring(L, -1, &n);
          (key == kMessageKey ? f->message : f->detail) = CleanText(absl::string_view(s, n), cap);
        }
        break;
      case kMasksKey:
        if (lua_type(L, -1) == LUA_TTABLE) {
          int m = lua_gettop(L);
          f->masks.reserve(4);  // the room MakeFinding gave the copy: no regrowth for a few
          lua_pushnil(L);
          while (lua_next(L, m) != 0) {
            if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING) {
              f->masks.push_back(
                  {CleanText(lua_tostring(L, -2), cap), CleanText(lua_tostring(L, -1), cap)});
            }
            lua_pop(L, 1);
          }
        }
        break;
      case kRowFiltersKey:
        if (lua_type(L, -1) == LUA_TTABLE) {
          lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, -1));
          for (lua_Integer i = 1; i <= n; ++i) {
            if (lua_rawgeti(L, -1, i) == LUA_TSTRING) {
              f->row_filters.push_back(CleanText(lua_tostring(L, -1), cap));
            }
            lua_pop(L, 1);
          }
        }
        break;
      default:  // no finding has other keys: __newindex refuses them
        break;
    }
    lua_pop(L, 1);
  }
  // Masks come out of a Lua hash table in no stable order. Up to 16, std::sort is an insertion
  // sort, which leaves a sorted range as it is: skipping it then changes nothing.
  const auto by_column = [](const ColumnMask& a, const ColumnMask& b) {
    return a.column < b.column;
  };
  if (f->masks.size() > 16 || !std::is_sorted(f->masks.begin(), f->masks.end(), by_column)) {
    std::sort(f->masks.begin(), f->masks.end(), by_column);
  }
}

}  // namespace arbiter::lua_internal
