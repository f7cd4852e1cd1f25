#include "service/engine/lua_helpers/get.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "absl/strings/numbers.h"

namespace arbiter::lua_helpers {
namespace {

// Element `index` (1-based; 0 names none) of the list `v` shows, or nullptr. A step tries the
// map first: Find is nullptr for anything but a map, and a map step is the common one.
inline const Value* ListStep(const Value& v, size_t index) {
  if (index == 0) return nullptr;
  const Value& list = v.Get();
  if (!list.is_list() || index > list.size()) return nullptr;
  return &list.as_list()[index - 1];
}

// The list index `key` names, as SimpleAtoi reads it; 0 for none.
size_t ListIndex(absl::string_view key) {
  size_t index;
  return absl::SimpleAtoi(key, &index) ? index : 0;
}

}  // namespace

const Value* GetPath(const Value& root, absl::string_view path) {
  const Value* v = &root;
  PathKeys keys(path);
  absl::string_view key;
  while (keys.Next(&key)) {
    const Value* child = v->Find(key);
    if (child == nullptr && v->is_list()) child = ListStep(*v, ListIndex(key));
    if (child == nullptr) return nullptr;
    v = child;
  }
  return v;
}

bool CompilePath(absl::string_view path, CompiledPath* out) {
  out->valid = false;
  if (path.size() > kMaxCompiledPathBytes) return false;
  if (!path.empty()) std::memcpy(out->text, path.data(), path.size());
  out->size = static_cast<uint8_t>(path.size());
  out->count = 0;
  PathKeys keys(path);
  absl::string_view key;
  while (keys.Next(&key)) {
    if (out->count == kMaxCompiledPathKeys) return false;
    const size_t index = ListIndex(key);
    out->keys[out->count++] = CompiledPath::Key{
        static_cast<uint8_t>(key.data() - path.data()), static_cast<uint8_t>(key.size()),
        static_cast<uint32_t>(std::min<size_t>(index, std::numeric_limits<uint32_t>::max()))};
  }
  out->valid = true;
  return true;
}

const Value* GetPath(const Value& root, const CompiledPath& path) {
  const Value* v = &root;
  for (int i = 0; i < path.count; ++i) {
    const Value* child = v->Find(path.key(i));
    if (child == nullptr) child = ListStep(*v, path.keys[i].index);
    if (child == nullptr) return nullptr;
    v = child;
  }
  return v;
}

PathCache::Entry* PathCache::Replace(Set& set, absl::string_view path) {
  const int victim = set.next;
  set.next = static_cast<uint8_t>((victim + 1) % kWays);
  set.address[victim] = path.data();
  Entry& e = set.entries[victim];
  e.root_ = nullptr;
  e.kept_ = false;
  e.pinned_ = false;
  return CompilePath(path, &e.path_) ? &e : nullptr;
}

PathCache::PathCache() {
  int slot = 0;
  for (Set& set : sets_) {
    for (Entry& e : set.entries) e.slot_ = static_cast<uint8_t>(++slot);
  }
}

const Value* PathCache::Entry::WalkAgain(const Value& root, uint64_t epoch,
                                         absl::FunctionRef<bool(const Value&)> outlives_cache) {
  // The same root in another epoch: one that outlives the cache would have been answered.
  const bool outlives = root_ != &root && outlives_cache(root);
  found_ = GetPath(root, path_);
  kept_ = false;
  root_ = &root;
  epoch_ = outlives ? kForever : epoch;
  return found_;
}

}  // namespace arbiter::lua_helpers
