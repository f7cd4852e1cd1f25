// Read-only userdata views over Value trees: how requests reach policies. A view is created
// lazily per accessed list or map, so a policy that reads three fields of a large descriptor
// pays for three fields, not for converting the descriptor. The request root's view is a full
// userdata (it gets a metatable of its own, below), and so are a few small catalog maps' views,
// cached for the life of the state (kMaxStableCaches); every other view is a light userdata, a
// handle into the evaluation's list of viewed values (see kViewSlotBits), which costs no
// allocation. ipairs over a view steps through the list in C (ViewIpairsNext) rather than
// through __index.
//
// A read through a view is a call of the C function __index of the shared view metatable,
// except for the request's root, which every policy reads (req.action, req.product,
// req.principal: ~30 reads of ~6 keys per access decision with the shipped bundle). Its view
// gets, for one evaluation, the state's root metatable, whose __index is a Lua table, the root
// cache: reads of the keys in it are plain table lookups in the VM, and a key not in it goes
// through the cache's own __index (ViewFill, a C function that rawsets what it pushes). The
// view itself stays an empty userdata with an erroring __newindex, so a write raises even for a
// cached key; policies reach neither metatable nor cache (no getmetatable/rawget in the
// sandbox, __metatable locked). The keys stored in the cache are listed as they are stored,
// and the list is the state's: a root read a few times (kRootCacheAfter) gets the cache, and
// from then on every evaluation's root gets it as it is made (PushRequestView), filled with
// every listed key at once (PrefillRootCache: nil for a key this root lacks), so that the
// state's usual reads call no C function at all. EndEvaluation gives the view the shared
// metatable back (a stashed one then raises on every read, as any request view does) and
// leaves the values in the cache, reachable from nothing, for the next prefill to overwrite
// (emptying it cost ~150 instructions a key per evaluation; a lua_next walk over it cost twice
// as much, a fresh cache table per evaluation, with the collector's work for the old one, more
// still).
//
// Of the request's views only the root is cached (the catalog's are another matter: their
// cache is filled once per state, not per evaluation): measured on BM_Access, caching every view
// read more than a few times cost more than it saved (a cache table and a metatable per view, and
// emptying them, cost as much as the C calls they spare: most views are read once or twice per
// evaluation, and an absent key, such as a column's `pii`, is never cached and costs a C call every
// time).
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

// A request root's view: a full userdata, since it gets a metatable of its own (the root
// cache's) for one evaluation.
struct View {
  const Value* value;
  uint64_t generation;
  uint32_t reads;  // through ViewIndex, counted for a request root only
  uint16_t mark;   // kViewMark: PeekView knows a view by it and its size
  bool root;       // pushed by PushRequestView: may get the root cache
  int anchor;      // a request root's index in the anchor table (0: a catalog view)
};

// Every full userdata view carries it. The engine makes no other full userdata a policy can
// hold (the sandbox loads no library that makes any), so the size and the mark tell a view
// without asking for its metatable (~60 instructions less per helper given a root or a cached
// catalog view).
constexpr uint16_t kViewMark = 0x5657;

// A request root gets the state's root cache on its kRootCacheAfter-th read of an evaluation,
// and from then on every root of the state gets it at once (see above): filling the cache
// (~450 instructions a key) and attaching it cost more than the C calls of a state whose
// policies read the root only two or three times.
constexpr uint32_t kRootCacheAfter = 4;

// How many of an evaluation's root views EndEvaluation leaves in the anchor (see there).
constexpr int kAnchorKeptViews = 32;

// The keys stored in the root cache are listed, and the list is kept from one evaluation to
// the next: a state whose root got the cache once gives the next evaluations' roots the cache
// at once (PushRequestView), filled with the listed keys in one C call (PrefillRootCache), so
// that no read of them calls C. A root has a dozen keys; more are not cached (a root read
// by many keys would otherwise grow the list, and the work of filling and emptying it).
constexpr int kMaxListedKeys = 32;

// A catalog (stable) map whose entries are all scalars, at most kMaxCachedKeys of them (a
// column's entry: name, type, pii, description), gets a cached view when a state first views
// it, while the state holds fewer than kMaxStableCaches of them: a full userdata of its own for
// the life of the state, whose metatable's __index is a Lua table holding every entry, filled
// once. A read is then a table lookup in the VM (~80 instructions instead of ~560 through
// ViewIndex), an absent key included (the table has no metatable: a column's `pii`, absent
// from most columns, is read twice per column by the shipped masking policy). The catalog never
// changes under a state, so the table is never emptied; the views stay valid across
// evaluations as the light catalog views do (generation 0), and a value's view is the same
// object for the life of the state (one object per value: it is cached or not from its first
// view on). Past the bound, catalog values get light views as before: a state that reads a
// big catalog over time keeps at most kMaxStableCaches such views (~0.5 KB each with four
// entries, at most ~1.2 KB with sixteen: ~300 KB at worst, in the state's own memory). Maps
// with a list or map inside (a product, a table) are not cached: filling their table would
// make the views of everything below them.
constexpr size_t kMaxCachedKeys = 16;
constexpr int kMaxStableCaches = 256;
// A handle with this bit is a cached catalog view's registry reference (the light views'
// handles never reach it: the generation has at most 40 bits). A reference, not an index in a
// table of their own: pushing the view is then one lua_rawgeti.
constexpr uint64_t kCachedTag = uint64_t{1} << 63;

// Every other view is a light userdata whose "pointer" is a handle, never dereferenced:
// generation << kViewSlotBits | (slot + 1), the slot indexing this evaluation's view_values (or,
// for generation 0, the state's stable_values). Light userdata cost no allocation, no
// metatable store and no anchoring (~560 instructions a view as a full userdata, eight views
// per BM_Access decision, and the collector's work for them); they share the one metatable Lua
// keeps for all light userdata, which is the view metatable (policies make no light userdata
// of their own, and the engine's are never given to them). A stashed handle of an ended
// evaluation names a generation that is not the current one, so it is refused like any dead
// view; EndEvaluation retires the state before the generation outgrows its 40 bits.
// (The format is lua_internal.h's, whose PeekView decodes it inline: LightViewTarget.)
constexpr size_t kMaxSlots = kViewSlotMask - 1;
constexpr uint64_t kMaxGeneration = (uint64_t{1} << (64 - kViewSlotBits)) - 2;

inline void* HandlePointer(uint64_t h) {
  return reinterpret_cast<void*>(static_cast<uintptr_t>(h));
}

inline uint64_t HandleAt(lua_State* L, int idx) {
  return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(lua_touserdata(L, idx)));
}

// The Value of the light view `h`, or nullptr for a dead one (an ended evaluation's).
inline const Value* HandleTarget(const Ctx* c, uint64_t h) {
  return LightViewTarget(c, HandlePointer(h));
}

[[noreturn]] void RaiseDeadView(lua_State* L) {
  luaL_error(L, "a request view was kept beyond the check call that received it");
  __builtin_unreachable();
}

// A request root's view is in the anchor table while its evaluation runs.
void PushRootView(lua_State* L, const Ctx* c) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->view_anchor_ref);
  lua_rawgeti(L, -1, c->root_anchor);
  lua_replace(L, -2);
}

// The entry of `target` in this evaluation's table of views: its own, or the empty one where
// it goes (generation not the current one). Linear probing; nothing is removed within a
// generation, so a probe never passes over a hole that an entry of this generation was put
// behind. The table is at most three quarters full (GrowViews), so the probe ends.
Ctx::ViewEntry& FindView(Ctx* c, const Value* target) {
  const size_t mask = c->views.size() - 1;
  size_t i = static_cast<size_t>(
                 (reinterpret_cast<uintptr_t>(target) >> 4) * uint64_t{0x9E3779B97F4A7C15} >> 32) &
             mask;
  while (true) {
    Ctx::ViewEntry& e = c->views[i];
    if (e.generation != c->generation || e.value == target) return e;
    i = (i + 1) & mask;
  }
}

// Makes room for one more entry: the table doubles (64 entries at first) when it would be more
// than three quarters full, keeping this generation's entries.
void GrowViews(Ctx* c) {
  if (!c->views.empty() && (c->views_used + 1) * 4 <= c->views.size() * 3) return;
  std::vector<Ctx::ViewEntry> old;
  old.swap(c->views);
  c->views.resize(old.empty() ? 64 : old.size() * 2);
  for (const Ctx::ViewEntry& e : old) {
    if (e.generation == c->generation) FindView(c, e.value) = e;
  }
}

// Whether `target` is a catalog value (in `stable`), remembered by address in a small
// direct-mapped table: a hash set lookup cost ~45 instructions per container viewed, ~16 per
// BM_Access decision. The answer for an address holds for the life of the state: catalog values
// are made before the state and outlive it, so no other value is ever made at their address,
// and an address that is not one never becomes one.
inline Ctx::StableMemo& StableMemoOf(Ctx* c, const Value* target) {
  const size_t i = static_cast<size_t>((reinterpret_cast<uintptr_t>(target) >> 4) *
                                           uint64_t{0x9E3779B97F4A7C15} >>
                                       (64 - Ctx::kStableMemoBits));
  return c->stable_memo[i];
}

inline bool IsStable(Ctx* c, const Value* target) {
  if (c->stable == nullptr) return false;
  Ctx::StableMemo& m = StableMemoOf(c, target);
  if (m.value != target) m = Ctx::StableMemo{target, c->stable->contains(target), 0};
  return m.stable;
}

int ViewLen(lua_State* L);
int ViewPairs(lua_State* L);
int ViewNewIndex(lua_State* L);
int ViewToString(lua_State* L);
void PushValue(lua_State* L, const Value& v);

// The methods of every view's metatable (__index aside: each kind of view has its own).
constexpr luaL_Reg kViewMethods[] = {{"__len", ViewLen},
                                     {"__pairs", ViewPairs},
                                     {"__newindex", ViewNewIndex},
                                     {"__tostring", ViewToString},
                                     {nullptr, nullptr}};

// Pushes a new metatable for views: the methods, locked, named; the caller sets its __index.
void PushViewMetatable(lua_State* L) {
  lua_createtable(L, 0, 8);
  luaL_setfuncs(L, kViewMethods, 0);
  lua_pushliteral(L, "locked");
  lua_setfield(L, -2, "__metatable");
  lua_pushstring(L, kViewMeta);
  lua_setfield(L, -2, "__name");
}

// Whether the catalog value `target` gets a cached view (see kMaxStableCaches).
bool CachesStable(Ctx* c, const Value& target) {
  if (c->stable_cached >= kMaxStableCaches || !target.is_map()) return false;
  const Value::Map& m = target.as_map();
  if (m.size() > kMaxCachedKeys) return false;
  for (const auto& [key, child] : m) {
    if (child.is_map() || (child.is_list() && !IsStable(c, &child.Get()))) return false;
  }
  return true;
}

// The light view of the catalog list or map `target`, made once per state (generation 0;
// bounded by the catalog's size). Lists never get a cached view: they are read by ipairs (which
// steps in C) and by index.
uint64_t StableLightHandle(Ctx* c, const Value* target) {
  auto [it, made] = c->stable_views.try_emplace(target, 0);
  if (made) {
    c->stable_values.push_back(target);
    it->second = c->stable_values.size();
  }
  return it->second;
}

// Makes the cached view of the catalog map `target` (CachesStable) and keeps it in the
// registry; returns its handle. Raises (memory) before it is recorded: the next view of `target`
// tries again. Its lists' light views are made as it is filled (nothing is pushed through
// PushContainer; IsStable may reuse memo slots).
uint64_t MakeCachedView(lua_State* L, Ctx* c, const Value* target) {
  auto* view = static_cast<View*>(lua_newuserdatauv(L, sizeof(View), 0));
  *view = View{target, 0, 0, kViewMark, false, 0};
  const Value::Map& m = target->as_map();
  PushViewMetatable(L);
  lua_createtable(L, 0, static_cast<int>(m.size()));
  // Last entry first, so that of two entries with one key the first one stays, as Value::Find
  // (and ViewIndex) find it; a null entry is nil, as ViewIndex pushes it.
  for (auto it = m.rbegin(); it != m.rend(); ++it) {
    lua_pushlstring(L, it->first.data(), it->first.size());
    if (it->second.is_list()) {
      lua_pushlightuserdata(L, HandlePointer(StableLightHandle(c, &it->second.Get())));
    } else {
      PushValue(L, it->second);  // a scalar
    }
    lua_rawset(L, -3);
  }
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
  const int ref = luaL_ref(L, LUA_REGISTRYINDEX);  // pops the view; may raise (memory)
  ++c->stable_cached;
  const uint64_t handle = kCachedTag | static_cast<uint32_t>(ref);
  c->stable_views.emplace(target, handle);
  return handle;
}

// Pushes the view of the handle `h` (a light view, or a cached catalog view's index).
inline void PushHandle(lua_State* L, const Ctx* c, uint64_t h) {
  if (h & kCachedTag) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, static_cast<lua_Integer>(h & ~kCachedTag));
    return;
  }
  lua_pushlightuserdata(L, HandlePointer(h));
}

// Pushes the view of the list or map `target`: the one made earlier this evaluation (the same
// object: req.principal == req.principal), the state's for a catalog tree, or a new handle.
void PushContainer(lua_State* L, const Value* target) {
  Ctx* c = GetCtx(L);
  if (target == c->root_target && c->root_generation == c->generation) {
    PushRootView(L, c);
    return;
  }
  if (IsStable(c, target)) {
    // A catalog value's view is the state's, the same in every evaluation: its handle is
    // remembered with the memo's answer, else in stable_views, else made (which may raise, and
    // may reuse the memo's slot for a list inside it: the slot is looked at again after).
    const Ctx::StableMemo& m = StableMemoOf(c, target);
    uint64_t handle = m.handle;
    if (handle == 0) {
      auto it = c->stable_views.find(target);
      if (it != c->stable_views.end()) {
        handle = it->second;
      } else if (CachesStable(c, *target)) {
        handle = MakeCachedView(L, c, target);
      } else {
        handle = StableLightHandle(c, target);
      }
      Ctx::StableMemo& again = StableMemoOf(c, target);
      if (again.value == target) again.handle = handle;
    }
    PushHandle(L, c, handle);
    return;
  }
  // Both limits are checked before the table gets an entry (raising after would leave one
  // without a handle). Neither is reached: a slot is made once per list or map viewed, and
  // EndEvaluation retires the state long before the generation's limit.
  if (c->view_values.size() >= kMaxSlots || c->generation > kMaxGeneration) {
    luaL_error(L, "too many request views in one evaluation");
  }
  GrowViews(c);
  Ctx::ViewEntry& e = FindView(c, target);
  if (e.generation != c->generation) {
    c->view_values.push_back(target);
    e = Ctx::ViewEntry{target, (c->generation << kViewSlotBits) | c->view_values.size(),
                       c->generation};
    ++c->views_used;
  }
  PushHandle(L, c, e.handle);
}

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
    case Value::Type::kMap:
      PushContainer(L, &v.Get());
      break;
  }
}

// The root view at `idx`, raising for one whose evaluation has ended.
View* LiveView(lua_State* L, int idx) {
  auto* view = static_cast<View*>(lua_touserdata(L, idx));
  if (view->generation != 0 && view->generation != GetCtx(L)->generation) RaiseDeadView(L);
  return view;
}

// The Value of the view at `idx`, raising for a dead one. Metamethods are reachable only
// through the locked view metatables, so their argument 1 is always a view (a light userdata
// is one: see above); iterators check theirs first.
const Value& ViewAt(lua_State* L, int idx) {
  if (lua_type(L, idx) == LUA_TLIGHTUSERDATA) {
    const Value* v = HandleTarget(GetCtx(L), HandleAt(L, idx));
    if (v == nullptr) RaiseDeadView(L);
    return *v;
  }
  return *LiveView(L, idx)->value;
}

const Value& SelfView(lua_State* L) { return ViewAt(L, 1); }

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

// Gives the request root's view at `idx` the root metatable, whose __index is the root cache.
// Allocates nothing (a metatable store), so it cannot raise.
void AttachRoot(lua_State* L, Ctx* c, int idx, View* view, bool has_meta = false) {
  if (!has_meta) {  // PushRequestView gives it the root metatable as it makes it
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->root_view.meta_ref);
    lua_setmetatable(L, idx);
  }
  c->root_view.attached = true;
  c->root_view.value = view->value;
  c->root_view.anchor = view->anchor;
  view->root = false;
}

// Stores the value at `value` under the key (a string) at `key` in the root cache at `cache`,
// listing the key first in the list at `list` (absolute or upvalue indices) and in
// root_view.keys: a key in the cache is always a listed one, whichever store raises (memory).
// Once kMaxListedKeys keys are listed, nothing more is cached (the value is still the answer).
void StoreInRootCache(lua_State* L, Ctx* c, int list, int cache, int key, int value) {
  if (c->root_view.cached >= kMaxListedKeys) return;
  lua_pushvalue(L, key);
  lua_rawseti(L, list, c->root_view.cached + 1);
  size_t n;
  const char* name = lua_tolstring(L, key, &n);
  c->root_view.keys.push_back(Ctx::RootView::Key{std::string(name, n)});  // holds nil
  ++c->root_view.cached;
  lua_pushvalue(L, key);
  lua_pushvalue(L, value);
  lua_rawset(L, cache);
  c->root_view.keys.back().held = Ctx::RootView::Key::Held::kOther;  // written again next time
}

// The entry `key` of the map `root` (as Value::Find: the engine's roots have no key twice),
// looked for first where it was in the last root (the request tree's keys come in one order).
const Value* FindRootKey(const Value& root, Ctx::RootView::Key& key) {
  if (!root.is_map()) return nullptr;
  const Value::Map& m = root.as_map();
  if (key.hint < m.size() && m[key.hint].first == key.name) return &m[key.hint].second;
  for (size_t i = 0; i < m.size(); ++i) {
    if (m[i].first == key.name) {
      key.hint = static_cast<uint32_t>(i);
      return &m[i].second;
    }
  }
  return nullptr;
}

// Stores every listed key's value in `root` in the root cache, nil for a key `root` lacks:
// what an earlier evaluation's root left there is overwritten, so that EndEvaluation needs not
// empty the cache. One C call for all the keys, where each would cost a ViewFill call on its
// first read (~2.5x as much). A key whose value is what the cache holds already (the same
// string, the same catalog value's view, nil: root_view.keys says what it holds) is not
// written again: the action, the product's and table's views mostly are. While it runs the
// cache is `stale`: a raise (memory) leaves it so, and it is not attached until emptied
// (ClearRootCache) or filled again.
void PrefillRootCache(lua_State* L, Ctx* c, const Value& root) {
  using Held = Ctx::RootView::Key::Held;
  c->root_view.stale = true;
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->root_view.list_ref);
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->root_view.cache_ref);
  const int cache = lua_gettop(L);
  const int list = cache - 1;
  for (size_t i = 0; i < c->root_view.keys.size(); ++i) {
    Ctx::RootView::Key& key = c->root_view.keys[i];
    const Value* child = FindRootKey(root, key);
    Held held = Held::kOther;
    const Value* target = nullptr;
    if (child == nullptr || child->is_null()) {
      if (key.held == Held::kNil) continue;
      held = Held::kNil;
    } else if (child->is_string()) {
      if (key.held == Held::kString && key.text == child->as_string()) continue;
      held = Held::kString;
    } else if (child->is_map() || child->is_list()) {
      target = &child->Get();
      // A catalog value's view is the same object for the life of the state.
      if (key.held == Held::kStable && key.target == target) continue;
      if (IsStable(c, target)) held = Held::kStable;
    }
    lua_rawgeti(L, list, static_cast<lua_Integer>(i + 1));
    if (held == Held::kNil) {
      lua_pushnil(L);
    } else {
      PushValue(L, *child);
    }
    lua_rawset(L, cache);  // may raise (memory) for a value, never for a nil
    key.held = held;
    if (held == Held::kString) key.text = child->as_string();
    key.target = target;
  }
  lua_pop(L, 2);
  c->root_view.stale = false;
}

// Stores nil under every listed key of the root cache. Allocates nothing, so it cannot raise.
void ClearRootCache(lua_State* L, Ctx* c) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->root_view.list_ref);
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->root_view.cache_ref);
  for (size_t i = 0; i < c->root_view.keys.size(); ++i) {
    lua_rawgeti(L, -2, static_cast<lua_Integer>(i + 1));
    lua_pushnil(L);
    lua_rawset(L, -3);
    c->root_view.keys[i].held = Ctx::RootView::Key::Held::kNil;
  }
  lua_pop(L, 2);
  c->root_view.stale = false;
}

// __index of the light views' metatable: (view, key).
int ViewIndex(lua_State* L) {
  const Value* v = HandleTarget(GetCtx(L), HandleAt(L, 1));
  if (v == nullptr) RaiseDeadView(L);
  PushChild(L, *v);
  return 1;
}

// __index of a request root's view while it has the shared root metatable: (view, key).
int RootViewIndex(lua_State* L) {
  View* view = LiveView(L, 1);
  PushChild(L, *view->value);
  Ctx* c = GetCtx(L);
  if (view->root && ++view->reads >= kRootCacheAfter && !c->root_view.attached) {
    if (c->root_view.stale) ClearRootCache(L, c);
    AttachRoot(L, c, 1, view);
    if (!lua_isnil(L, 3)) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, c->root_view.list_ref);
      lua_rawgeti(L, LUA_REGISTRYINDEX, c->root_view.cache_ref);
      StoreInRootCache(L, c, 4, 5, 2, 3);
      lua_settop(L, 3);
    }
  }
  return 1;
}

// __index of the root cache: (cache, key) for a key not cached yet; upvalue 1 is the list of
// the keys cached.
int ViewFill(lua_State* L) {
  // Called by the VM as __index, with (cache, key) only: the cache and its metatable are
  // reachable from no policy. Attached means this evaluation's (EndEvaluation detaches).
  Ctx* c = GetCtx(L);
  if (!c->root_view.attached) {
    lua_pushnil(L);  // unreachable: only an attached view's metatable leads here
    return 1;
  }
  PushChild(L, *c->root_view.value);
  // Nil (an absent key) is not stored; any other value's key is a string, which rawset takes.
  if (!lua_isnil(L, 3)) StoreInRootCache(L, c, lua_upvalueindex(1), 1, 2, 3);
  lua_settop(L, 3);
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

// The iterator ipairs gives for a view: (view, i) -> i + 1, the element, as Lua's ipairsaux
// but without the __index call per element (lua_geti -> metamethod -> ViewIndex: ~300
// instructions an element). It is a plain function a policy can call with anything, so its
// first argument is checked: a non-view goes the way of Lua's ipairsaux.
int ViewIpairsNext(lua_State* L) {
  int isnum = 0;
  lua_Integer i = lua_tointegerx(L, 2, &isnum);
  if (!isnum) luaL_checkinteger(L, 2);                             // raises Lua's own error
  i = static_cast<lua_Integer>(static_cast<lua_Unsigned>(i) + 1);  // wraps, as in ipairsaux
  const Value* v = nullptr;
  if (PeekView(L, 1, &v) == ViewState::kDead) RaiseDeadView(L);  // as ToView
  lua_pushinteger(L, i);
  if (v == nullptr) return lua_geti(L, 1, i) == LUA_TNIL ? 1 : 2;
  if (!v->is_list() || i < 1 || static_cast<uint64_t>(i) > v->as_list().size()) {
    lua_pushnil(L);
    return 1;
  }
  const Value& element = v->as_list()[static_cast<size_t>(i - 1)];
  PushValue(L, element);
  return element.is_null() ? 1 : 2;  // a null element (pushed as nil) ends the loop
}

int ViewNewIndex(lua_State* L) { return luaL_error(L, "the request is read-only"); }

int ViewToString(lua_State* L) {
  const Value& v = SelfView(L);
  constexpr size_t kCap = 4096;
  // Built in the Context, not in this frame: pushing it may raise (a memory error), and a raise
  // must skip no destructor (see lua_adapter.cc).
  std::string& json = GetCtx(L)->helper_text;
  json.clear();
  AppendJsonPrefix(json, v, kCap);
  lua_pushlstring(L, json.data(), json.size());
  return 1;
}

}  // namespace

void SetCtx(lua_State* L, Ctx* c) { std::memcpy(lua_getextraspace(L), &c, sizeof c); }

void RegisterViewMetatable(lua_State* L) {
  luaL_newmetatable(L, kViewMeta);
  luaL_setfuncs(L, kViewMethods, 0);
  lua_pushcfunction(L, RootViewIndex);
  lua_setfield(L, -2, "__index");
  lua_pushliteral(L, "locked");
  lua_setfield(L, -2, "__metatable");
  Ctx* c = GetCtx(L);
  c->view_meta_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  // The metatable of every light userdata, the light views': the same methods, and an __index
  // that needs not tell a light view from a root's.
  lua_pushlightuserdata(L, nullptr);
  PushViewMetatable(L);
  lua_pushcfunction(L, ViewIndex);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
  lua_pop(L, 1);
  lua_newtable(L);
  c->view_anchor_ref = luaL_ref(L, LUA_REGISTRYINDEX);

  // The root cache (sized for the keys a request's root has), its metatable, whose __index is
  // a closure whose upvalue is the list of the keys cached, and the root metatable: the shared
  // one's methods and name, with the cache as __index.
  lua_createtable(L, 0, 8);
  int cache = lua_gettop(L);
  lua_createtable(L, 0, 2);
  lua_createtable(L, 8, 0);
  lua_pushvalue(L, -1);
  c->root_view.list_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushcclosure(L, ViewFill, 1);
  lua_setfield(L, -2, "__index");
  lua_pushliteral(L, "locked");
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, cache);
  PushViewMetatable(L);
  lua_pushvalue(L, cache);
  lua_setfield(L, -2, "__index");
  c->root_view.meta_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  c->root_view.cache_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

void EndEvaluation(lua_State* L) {
  Ctx* c = GetCtx(L);
  ++c->generation;
  // Nothing below allocates (reads of existing slots, setmetatable, nil stored to existing
  // slots), so it cannot raise outside a protected call.
  if (c->root_view.attached) {
    // The root's view gets the shared metatable back (a stashed one then raises on every
    // read).
    // (It is still in the anchor: the anchor is emptied below.)
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->view_anchor_ref);
    lua_rawgeti(L, -1, c->root_view.anchor);
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->view_meta_ref);
    lua_setmetatable(L, -2);
    lua_pop(L, 2);
    // The cache keeps this evaluation's values, reachable from no policy (no view has the
    // root metatable), until the next root's PrefillRootCache overwrites them all.
    c->root_view.attached = false;
    c->root_view.value = nullptr;
  }
  // The generation is the high bits of a light view's handle: a state that has ended that
  // many evaluations (years of them) is retired before the bits run out.
  if (c->generation >= kMaxGeneration) c->unhealthy = true;
  // The table of views empties itself (its entries are this generation's); one a policy made
  // large is given back.
  if (c->views.size() > 4096) c->views = {};
  c->views_used = 0;
  c->view_values.clear();
  c->root_target = nullptr;
  if (c->view_count == 0) return;
  // The anchor's first kAnchorKeptViews slots are left for the next evaluations to overwrite:
  // emptying them cost ~60 instructions a view, and the dead views they keep (at most that
  // many, ~64 bytes each, reachable from no policy, refusing every read by their generation)
  // cost nothing. Beyond that they are emptied: a state given many roots would otherwise keep
  // them alive as long as the state. Storing nil in existing slots allocates nothing, so this
  // cannot raise outside a protected call.
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
  Ctx* c = GetCtx(L);
  const Value* target = &v->Get();
  if ((!target->is_map() && !target->is_list()) ||
      (target == c->root_target && c->root_generation == c->generation) ||
      (!c->views.empty() && FindView(c, target).generation == c->generation) ||
      IsStable(c, target)) {
    PushValue(L, *target);  // a scalar, or a value viewed already (one view per value)
    return;
  }
  // A state whose roots have had the cache fills it before making the view (a raise leaves
  // no view without a metatable), and gives the view the root metatable directly.
  const bool attach = c->root_view.cached > 0 && !c->root_view.attached;
  if (attach) PrefillRootCache(L, c, *target);
  auto* view = static_cast<View*>(lua_newuserdatauv(L, sizeof(View), 0));
  view->value = target;
  view->generation = c->generation;
  view->reads = 0;
  view->mark = kViewMark;
  view->root = true;
  view->anchor = c->view_count + 1;
  lua_rawgeti(L, LUA_REGISTRYINDEX, attach ? c->root_view.meta_ref : c->view_meta_ref);
  lua_setmetatable(L, -2);
  // Kept alive in the anchor table, at the next index: a rawseti, not a luaL_ref, which costs
  // ~5 times as much with its unref.
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->view_anchor_ref);
  lua_pushvalue(L, -2);
  lua_rawseti(L, -2, c->view_count + 1);  // may raise (memory): nothing to undo yet
  lua_pop(L, 1);
  c->root_anchor = ++c->view_count;
  c->root_target = target;
  c->root_generation = c->generation;
  if (attach) AttachRoot(L, c, lua_gettop(L), view, true);
}

ViewState PeekFullView(lua_State* L, int idx, const Value** value) {
  auto* view = static_cast<View*>(lua_touserdata(L, idx));
  if (lua_rawlen(L, idx) != sizeof(View) || view->mark != kViewMark) return ViewState::kNone;
  Ctx* c = GetCtx(L);
  if (view->generation != 0 && view->generation != c->generation) return ViewState::kDead;
  *value = view->value;
  return ViewState::kLive;
}

int ViewIpairs(lua_State* L) {
  const Value* v = nullptr;
  if (PeekView(L, 1, &v) == ViewState::kNone) {
    // Lua's own ipairs, called directly: its argument checks name this function, as before.
    return lua_tocfunction(L, lua_upvalueindex(1))(L);
  }
  // The three values returned, pushed above the arguments (moving the view below the iterator
  // cost ~70 instructions more). A dead view raises at the first step, as through __index.
  lua_pushcfunction(L, ViewIpairsNext);
  lua_pushvalue(L, 1);
  lua_pushinteger(L, 0);
  return 3;
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
