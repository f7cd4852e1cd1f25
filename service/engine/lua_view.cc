// Read-only userdata views over Value trees: how requests reach policies. A view is created
// lazily per accessed list or map, so a policy that reads three fields of a large descriptor
// pays for three fields, not for converting the descriptor.
//
// A read through a view is a call of the C function __index of the shared view metatable,
// except for the request's root, which every policy reads (req.action, req.product,
// req.principal: ~30 reads of ~6 keys per access decision with the shipped bundle). Its view
// gets, for one evaluation, the state's root metatable, whose __index is a Lua table, the root
// cache, filled as keys are read: the first read of a key goes through the cache's own __index
// (ViewFill, a C function that rawsets what it pushes), later reads of that key are plain table
// lookups in the VM. The view itself stays an empty userdata with an erroring __newindex, so a
// write raises even for a cached key; policies reach neither metatable nor cache (no
// getmetatable/rawget in the sandbox, __metatable locked). EndEvaluation gives the view the
// shared metatable back (a stashed one then raises on every read, as any request view does)
// and empties the cache: the keys stored in it are listed as they are stored, so that it
// clears exactly those (a lua_next walk over the cache cost twice as much, ~1.2k instructions
// per evaluation of a state; a fresh cache table per evaluation, with the collector's work
// for the old one, cost more still).
//
// Only the root is cached: measured on BM_Access, caching every view read more than a few times
// cost more than it saved (a cache table and a metatable per view, and emptying them, cost as
// much as the C calls they spare: most views are read once or twice per evaluation, and an
// absent key, such as a column's `pii`, is never cached and costs a C call every time).
#include <cstring>

#include "re2/re2.h"
#include "service/engine/lua_internal.h"

extern "C" {
#include <lauxlib.h>
#include <lua.h>
}

namespace arbiter {

LuaSandbox::Context::~Context() = default;

namespace lua_internal {
namespace {

struct View {
  const Value* value;
  uint64_t generation;
  uint32_t reads;  // through ViewIndex, counted for a request root only
  bool root;       // pushed by PushRequestView: may get the root cache
};

// A request root gets the state's root cache on its kRootCacheAfter-th read: filling the cache
// and emptying it at EndEvaluation cost ~2k instructions per evaluation, which a root read only
// a few times (a domain state's, whose policies read two or three keys) does not earn back.
constexpr uint32_t kRootCacheAfter = 4;

// How many of an evaluation's request views EndEvaluation leaves in the anchor (see there).
constexpr int kAnchorKeptViews = 32;

// Pushes the Lua form of `v`: scalars directly, containers as views.
void PushValue(lua_State* L, const Value& v) {
  switch (v.type()) {
    case Value::Type::kNull:
      lua_pushnil(L);
      break;
    case Value::Type::kBool:
      lua_pushboolean(L, v.as_bool());
      break;
    case Value::Type::kInt:
      lua_pushinteger(L, static_cast<lua_Integer>(v.as_int()));
      break;
    case Value::Type::kDouble:
      lua_pushnumber(L, v.as_double());
      break;
    case Value::Type::kString: {
      const std::string& s = v.as_string();
      lua_pushlstring(L, s.data(), s.size());
      break;
    }
    case Value::Type::kList:
    case Value::Type::kMap: {
      Ctx* c = GetCtx(L);
      const Value* target = &v.Get();
      bool stable = c->stable != nullptr && c->stable->contains(target);
      auto& cache = stable ? c->stable_views : c->views;
      if (auto it = cache.find(target); it != cache.end()) {
        if (stable) {
          lua_rawgeti(L, LUA_REGISTRYINDEX, it->second);
        } else {
          lua_rawgeti(L, LUA_REGISTRYINDEX, c->view_anchor_ref);
          lua_rawgeti(L, -1, it->second);
          lua_replace(L, -2);
        }
        break;
      }
      auto* view = static_cast<View*>(lua_newuserdatauv(L, sizeof(View), 0));
      view->value = target;
      view->generation = stable ? 0 : c->generation;
      view->reads = 0;
      view->root = false;
      lua_rawgeti(L, LUA_REGISTRYINDEX, c->view_meta_ref);
      lua_setmetatable(L, -2);
      if (stable) {
        lua_pushvalue(L, -1);
        int ref = luaL_ref(L, LUA_REGISTRYINDEX);  // may raise (memory): nothing to undo yet
        cache.emplace(target, ref);
        break;
      }
      // A request view is kept alive in the anchor table, at the next index: a rawseti, not a
      // luaL_ref, which costs ~5 times as much with its unref (two views in three are made for
      // this one evaluation).
      lua_rawgeti(L, LUA_REGISTRYINDEX, c->view_anchor_ref);
      lua_pushvalue(L, -2);
      lua_rawseti(L, -2, c->view_count + 1);  // may raise (memory): nothing to undo yet
      lua_pop(L, 1);
      cache.emplace(target, ++c->view_count);
      break;
    }
  }
}

// The view at `idx`, raising for a request view whose evaluation has ended.
View* LiveView(lua_State* L, int idx) {
  auto* view = static_cast<View*>(lua_touserdata(L, idx));
  if (view->generation != 0 && view->generation != GetCtx(L)->generation) {
    luaL_error(L, "a request view was kept beyond the check call that received it");
  }
  return view;
}

// The view at index 1 of a metamethod call. Metamethods are reachable only through the locked
// view metatables, so argument 1 is always a view.
const Value& SelfView(lua_State* L) { return *LiveView(L, 1)->value; }

// Pushes v[key] for the key at index 2 (nil for an absent key or one of the wrong type).
inline void PushChild(lua_State* L, const Value& v) {
  if (v.is_map()) {
    if (lua_type(L, 2) != LUA_TSTRING) {
      lua_pushnil(L);
      return;
    }
    size_t n;
    const char* key = lua_tolstring(L, 2, &n);
    const Value* child = v.Find(absl::string_view(key, n));
    if (child == nullptr) {
      lua_pushnil(L);
    } else {
      PushValue(L, *child);
    }
    return;
  }
  int isnum = 0;
  lua_Integer i = lua_tointegerx(L, 2, &isnum);
  const Value::List& list = v.as_list();
  if (!isnum || i < 1 || static_cast<size_t>(i) > list.size()) {
    lua_pushnil(L);
  } else {
    PushValue(L, list[static_cast<size_t>(i - 1)]);
  }
}

// Gives the request root's view at index 1 the root metatable, whose __index is the (empty)
// root cache, and stores the value at index 3 under the key at index 2 in it.
void AttachRootCache(lua_State* L, View* view) {
  Ctx* c = GetCtx(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->root_view.fill_ref);
  lua_pushvalue(L, 1);
  lua_setupvalue(L, -2, 1);
  lua_pop(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->root_view.meta_ref);
  lua_setmetatable(L, 1);
  c->root_view.attached = true;
  view->root = false;
  if (!lua_isnil(L, 3)) {
    // Listed before it is stored (either may raise, for memory): a key in the cache is always
    // one EndEvaluation clears.
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->root_view.fill_ref);
    lua_getupvalue(L, -1, 2);
    lua_pushvalue(L, 2);
    lua_rawseti(L, -2, ++c->root_view.cached);
    lua_pop(L, 2);
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->root_view.cache_ref);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 3);
    lua_rawset(L, -3);  // may raise (memory): the view is attached, the cache consistent
    lua_pop(L, 1);
  }
}

// __index of the shared view metatable: (view, key).
int ViewIndex(lua_State* L) {
  View* view = LiveView(L, 1);
  PushChild(L, *view->value);
  if (view->root && ++view->reads >= kRootCacheAfter && !GetCtx(L)->root_view.attached) {
    AttachRootCache(L, view);
  }
  return 1;
}

// __index of the root cache: (cache, key) for a key not cached yet; upvalue 1 is the view,
// upvalue 2 the list of the keys cached this evaluation.
int ViewFill(lua_State* L) {
  lua_settop(L, 2);
  if (lua_type(L, lua_upvalueindex(1)) != LUA_TUSERDATA) {
    lua_pushnil(L);  // not attached (unreachable: only an attached view's metatable leads here)
    return 1;
  }
  auto* view = static_cast<View*>(lua_touserdata(L, lua_upvalueindex(1)));
  if (view->generation != GetCtx(L)->generation) {
    luaL_error(L, "a request view was kept beyond the check call that received it");
  }
  PushChild(L, *view->value);
  // Nil (an absent key) is not stored; any other value's key is a string, which rawset takes.
  // The key is listed before it is stored, as in AttachRootCache.
  if (!lua_isnil(L, 3)) {
    lua_pushvalue(L, 2);
    lua_rawseti(L, lua_upvalueindex(2), ++GetCtx(L)->root_view.cached);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 3);
    lua_rawset(L, 1);
  }
  return 1;
}

int ViewLen(lua_State* L) {
  lua_pushinteger(L, static_cast<lua_Integer>(SelfView(L).size()));
  return 1;
}

// Iterator closure for pairs(view): upvalue 1 is the view, upvalue 2 the next position.
int ViewNext(lua_State* L) {
  lua_settop(L, 0);
  lua_pushvalue(L, lua_upvalueindex(1));
  const Value& v = SelfView(L);
  lua_Integer pos = lua_tointeger(L, lua_upvalueindex(2));
  if (static_cast<size_t>(pos) >= v.size()) return 0;
  lua_pushinteger(L, pos + 1);
  lua_replace(L, lua_upvalueindex(2));
  if (v.is_map()) {
    const auto& [key, child] = v.as_map()[static_cast<size_t>(pos)];
    lua_pushlstring(L, key.data(), key.size());
    PushValue(L, child);
  } else {
    lua_pushinteger(L, pos + 1);
    PushValue(L, v.as_list()[static_cast<size_t>(pos)]);
  }
  return 2;
}

int ViewPairs(lua_State* L) {
  SelfView(L);
  lua_pushvalue(L, 1);
  lua_pushinteger(L, 0);
  lua_pushcclosure(L, ViewNext, 2);
  lua_pushnil(L);
  lua_pushnil(L);
  return 3;
}

int ViewNewIndex(lua_State* L) { return luaL_error(L, "the request is read-only"); }

// Appends v's JSON to `out`, stopping soon after `out` reaches `cap` bytes: the work is bounded by
// the cap, not by the size of the tree (a whole descriptor rendered per call would cost
// milliseconds in a C function no hook interrupts).
void AppendJsonBounded(const Value& v, std::string& out, size_t cap) {
  if (out.size() >= cap) return;
  if (v.is_list()) {
    out += '[';
    bool first = true;
    for (const Value& item : v.as_list()) {
      if (out.size() >= cap) return;
      if (!first) out += ',';
      first = false;
      AppendJsonBounded(item, out, cap);
    }
    out += ']';
  } else if (v.is_map()) {
    out += '{';
    bool first = true;
    for (const auto& [key, item] : v.as_map()) {
      if (out.size() >= cap) return;
      if (!first) out += ',';
      first = false;
      AppendJsonBounded(Value(key.substr(0, cap)), out, cap);
      out += ':';
      AppendJsonBounded(item, out, cap);
    }
    out += '}';
  } else if (v.is_string() && v.as_string().size() > cap) {
    out += Value(v.as_string().substr(0, cap)).ToJson();
  } else {
    out += v.ToJson();
  }
}

int ViewToString(lua_State* L) {
  const Value& v = SelfView(L);
  constexpr size_t kCap = 4096;
  // Built in the Context, not in this frame: pushing it may raise (a memory error), and a raise
  // must skip no destructor (see lua_adapter.cc).
  std::string& json = GetCtx(L)->helper_text;
  json.clear();
  AppendJsonBounded(v, json, kCap);
  if (json.size() > kCap) json.resize(kCap);
  lua_pushlstring(L, json.data(), json.size());
  return 1;
}

}  // namespace

void SetCtx(lua_State* L, Ctx* c) { std::memcpy(lua_getextraspace(L), &c, sizeof c); }

Ctx* GetCtx(lua_State* L) {
  Ctx* c;
  std::memcpy(&c, lua_getextraspace(L), sizeof c);
  return c;
}

void RegisterViewMetatable(lua_State* L) {
  luaL_newmetatable(L, kViewMeta);
  static const luaL_Reg kMethods[] = {{"__len", ViewLen},
                                      {"__pairs", ViewPairs},
                                      {"__newindex", ViewNewIndex},
                                      {"__tostring", ViewToString},
                                      {nullptr, nullptr}};
  luaL_setfuncs(L, kMethods, 0);
  lua_pushcfunction(L, ViewIndex);
  lua_setfield(L, -2, "__index");
  lua_pushliteral(L, "locked");
  lua_setfield(L, -2, "__metatable");
  Ctx* c = GetCtx(L);
  c->view_meta = lua_topointer(L, -1);
  c->view_meta_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_newtable(L);
  c->view_anchor_ref = luaL_ref(L, LUA_REGISTRYINDEX);

  // The root cache (sized for the keys a request's root has), its metatable, whose __index is
  // a closure whose upvalue is the attached view, and the root metatable: the shared one's
  // methods and name, with the cache as __index.
  lua_createtable(L, 0, 8);
  int cache = lua_gettop(L);
  lua_createtable(L, 0, 2);
  lua_pushboolean(L, 0);
  lua_createtable(L, 8, 0);
  lua_pushcclosure(L, ViewFill, 2);
  lua_pushvalue(L, -1);
  c->root_view.fill_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_setfield(L, -2, "__index");
  lua_pushliteral(L, "locked");
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, cache);
  lua_createtable(L, 0, 8);
  luaL_setfuncs(L, kMethods, 0);
  lua_pushliteral(L, "locked");
  lua_setfield(L, -2, "__metatable");
  lua_pushstring(L, kViewMeta);
  lua_setfield(L, -2, "__name");
  lua_pushvalue(L, cache);
  lua_setfield(L, -2, "__index");
  c->root_view.meta = lua_topointer(L, -1);
  c->root_view.meta_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  c->root_view.cache_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

void EndEvaluation(lua_State* L) {
  Ctx* c = GetCtx(L);
  ++c->generation;
  // Nothing below allocates (reads of existing slots, setmetatable, nil stored to existing
  // keys and upvalues), so it cannot raise outside a protected call.
  if (c->root_view.attached) {
    // The root's view gets the shared metatable back, and the cache, filled from this
    // evaluation's request, is emptied for the next evaluation's root.
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->root_view.fill_ref);
    lua_getupvalue(L, -1, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->view_meta_ref);
    lua_setmetatable(L, -2);
    lua_pop(L, 1);
    lua_pushboolean(L, 0);
    lua_setupvalue(L, -2, 1);
    // The keys listed stay there (the root's field names), to be overwritten by the next
    // evaluation's; nil stored to a listed key that a memory error kept out of the cache
    // inserts nothing.
    lua_getupvalue(L, -1, 2);
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->root_view.cache_ref);
    for (int i = 1; i <= c->root_view.cached; ++i) {
      lua_rawgeti(L, -2, i);
      lua_pushnil(L);
      lua_rawset(L, -3);
    }
    lua_pop(L, 3);
    c->root_view.cached = 0;
    c->root_view.attached = false;
  }
  if (c->view_count == 0) return;
  c->views.clear();
  // The anchor's first kAnchorKeptViews slots are left for the next evaluations to overwrite:
  // emptying them cost ~60 instructions a view (~0.9k per BM_Access decision), and the dead
  // views they keep (at most that many, ~64 bytes each, reachable from no policy, refusing
  // every read by their generation) cost nothing. Beyond that they are emptied: a policy that
  // made many views would otherwise keep them alive as long as the state. Storing nil in
  // existing slots allocates nothing, so this cannot raise outside a protected call.
  if (c->view_count <= kAnchorKeptViews) {
    c->view_count = 0;
    return;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->view_anchor_ref);
  for (int i = 1; i <= c->view_count; ++i) {
    lua_pushnil(L);
    lua_rawseti(L, -2, i);
  }
  lua_pop(L, 1);
  c->view_count = 0;
}

void PushView(lua_State* L, const Value* v) { PushValue(L, *v); }

void PushRequestView(lua_State* L, const Value* v) {
  PushValue(L, *v);
  if (lua_type(L, -1) != LUA_TUSERDATA) return;
  auto* view = static_cast<View*>(lua_touserdata(L, -1));
  if (view->generation != 0) view->root = true;
}

ViewState PeekView(lua_State* L, int idx, const Value** value) {
  if (lua_type(L, idx) != LUA_TUSERDATA || !lua_getmetatable(L, idx)) return ViewState::kNone;
  Ctx* c = GetCtx(L);
  const void* meta = lua_topointer(L, -1);
  bool is_view = meta == c->view_meta || meta == c->root_view.meta;
  lua_pop(L, 1);
  if (!is_view) return ViewState::kNone;
  auto* view = static_cast<View*>(lua_touserdata(L, idx));
  if (view->generation != 0 && view->generation != c->generation) return ViewState::kDead;
  *value = view->value;
  return ViewState::kLive;
}

const Value* ToView(lua_State* L, int idx) {
  const Value* v = nullptr;
  if (PeekView(L, idx, &v) == ViewState::kDead) {
    luaL_error(L, "a request view was kept beyond the check call that received it");
  }
  return v;
}

}  // namespace lua_internal
}  // namespace arbiter
