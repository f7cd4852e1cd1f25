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

// allow(message [, opts]) and friends; upvalue 1 is the Finding::Type, upvalue 2 the finding
// metatable (no registry lookup by name per finding), upvalue 3 the type's name.
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
  // Which of them opts has: the others are not looked up below (a lookup each cost ~130
  // instructions, and most findings give a detail only).
  bool has_detail = false, has_masks = false, has_row_filters = false;
  if (opts != 0) {
    lua_pushnil(L);
    while (lua_next(L, opts) != 0) {
      lua_pop(L, 1);
      const char* key = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : nullptr;
      bool known = false;
      if (key != nullptr) {
        if (std::strcmp(key, "detail") == 0) {
          known = has_detail = true;
        } else if (std::strcmp(key, "masks") == 0) {
          known = has_masks = true;
        } else if (std::strcmp(key, "row_filters") == 0) {
          known = has_row_filters = true;
        }
      }
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
  lua_pushvalue(L, lua_upvalueindex(3));  // the type's name, made once
  lua_setfield(L, f, "type");
  lua_pushvalue(L, 1);
  lua_setfield(L, f, "message");
  if (has_detail) {
    lua_getfield(L, opts, "detail");
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING) {
      return luaL_error(L, "%s(): opts.detail must be a string", fname);
    }
    lua_setfield(L, f, "detail");
  }
  const bool grants = type == Finding::Type::kAllow || type == Finding::Type::kObligate;
  if (has_masks) {
    lua_getfield(L, opts, "masks");
    if (!lua_isnil(L, -1)) {
      if (!grants) return luaL_error(L, "%s(): masks apply only to allow() and obligate()", fname);
      if (lua_type(L, -1) != LUA_TTABLE)
        return luaL_error(L, "%s(): opts.masks must be a table", fname);
      int m = lua_gettop(L);
      // Room for a few columns from the start: growing an empty table rehashes it on each of
      // its first inserts.
      lua_createtable(L, 0, 4);
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
  }
  if (has_row_filters) {
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
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_setmetatable(L, -2);
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

  const std::pair<const char*, Finding::Type> kBuilders[] = {
      {"allow", Finding::Type::kAllow},
      {"deny", Finding::Type::kDeny},
      {"warn", Finding::Type::kWarn},
      {"obligate", Finding::Type::kObligate}};
  for (const auto& [name, type] : kBuilders) {
    lua_pushinteger(L, static_cast<lua_Integer>(type));
    luaL_getmetatable(L, kFindingMeta);
    lua_pushstring(L, FindingTypeName(type));
    lua_pushcclosure(L, MakeFinding, 3);
    lua_setfield(L, safe, name);
  }

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
  // The type is compared in place: no std::string may be alive across the pushes below, which
  // can raise (see lua_adapter.cc).
  lua_pushliteral(L, "type");
  lua_rawget(L, idx);
  size_t tn = 0;
  const char* t = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &tn) : "";
  const absl::string_view type = absl::string_view(t, tn).substr(0, cap);
  f->type = type == "allow"      ? Finding::Type::kAllow
            : type == "warn"     ? Finding::Type::kWarn
            : type == "obligate" ? Finding::Type::kObligate
                                 : Finding::Type::kDeny;
  lua_pop(L, 1);
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
