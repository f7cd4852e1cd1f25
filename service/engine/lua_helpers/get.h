// get(t, "a.b.1.c"): the value at a dotted path, or nil when a step is missing or not a
// container. Keys are map keys, or 1-based indexes into lists; empty keys (a leading, trailing
// or doubled dot) are skipped.
//
// On request data the whole walk happens here, over the Value tree, so only the final value
// becomes a Lua value: the hot path of most policies. Steps through Lua tables are lookups in
// Lua, which the adapter takes with PathKeys until it meets request data.
//
// Policies pass the same constant paths on every decision, so the adapter keeps their split
// form in a PathCache (one per Lua state) instead of splitting each path on every call.
#ifndef ARBITER_SERVICE_ENGINE_LUA_HELPERS_GET_H_
#define ARBITER_SERVICE_ENGINE_LUA_HELPERS_GET_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "service/value/value.h"

namespace arbiter::lua_helpers {

// The non-empty keys of a dotted path, in order.
class PathKeys {
 public:
  explicit PathKeys(absl::string_view path) : rest_(path) {}
  // The next key, or false at the end. (Inline: get() runs it for every step of every path.)
  bool Next(absl::string_view* key) {
    while (!done_) {
      const size_t dot = rest_.find('.');
      if (dot == absl::string_view::npos) {
        *key = rest_;
        rest_ = absl::string_view();
        done_ = true;
      } else {
        *key = rest_.substr(0, dot);
        rest_.remove_prefix(dot + 1);
      }
      if (!key->empty()) return true;
    }
    return false;
  }
  // What is left of the path (starting with the next key, if any).
  absl::string_view rest() const { return rest_; }

 private:
  absl::string_view rest_;
  bool done_ = false;
};

// The value at `path` below `root`, or nullptr when a step is missing or not a container.
// An empty path is `root` itself.
const Value* GetPath(const Value& root, absl::string_view path);

// A path split once: its text and its keys, each with the list index it names. Fixed size, so
// that a cache of them is one allocation, bounded whatever paths policies pass.
inline constexpr size_t kMaxCompiledPathBytes = 64;
inline constexpr size_t kMaxCompiledPathKeys = 8;
struct CompiledPath {
  struct Key {
    uint8_t offset;  // into text
    uint8_t size;
    // The 1-based list index the key names (as GetPath reads it), saturated at UINT32_MAX (no
    // list is that long); 0 when it names none.
    uint32_t index;
  };
  uint8_t size = 0;  // of text
  uint8_t count = 0;
  bool valid = false;  // false: an empty cache slot
  char text[kMaxCompiledPathBytes];
  Key keys[kMaxCompiledPathKeys];

  absl::string_view path() const { return absl::string_view(text, size); }
  absl::string_view key(int i) const {
    return absl::string_view(text + keys[i].offset, keys[i].size);
  }
};

// Splits `path` into `*out`; false (and `*out` invalid) when it is longer than
// kMaxCompiledPathBytes or has more than kMaxCompiledPathKeys keys: walk those with
// GetPath(root, path).
bool CompilePath(absl::string_view path, CompiledPath* out);

// GetPath(root, path.path()), without splitting the path again.
const Value* GetPath(const Value& root, const CompiledPath& path);

// The compiled forms of the paths a Lua state used last, in a fixed number of slots, each with
// the answer of its last walk. A path is looked for by where its bytes are (a policy's constant
// string keeps its address in Lua), and a slot is used only when its text also equals the path,
// or when the caller pinned the bytes at that address (Entry::Pin): two paths are never
// confused, whatever the addresses. Not thread-safe (one per Lua state).
class PathCache {
 public:
  // An `epoch` no caller passes (see Walk).
  static constexpr uint64_t kForever = 0;

  // One slot: a compiled path and the answer of its last walk.
  class Entry {
   public:
    const CompiledPath& path() const { return path_; }

    // GetPath(root, path()), remembered for the last root walked. `epoch` (never kForever)
    // names the current state of the trees walked: the answer is reused only for the same root
    // in the same epoch, or, when `outlives_cache(root)` said so as it was walked, in any epoch
    // (a tree that stays unchanged as long as the cache: the bundle's catalog). The caller
    // passes a new epoch whenever a tree may have changed or been freed (one per evaluation).
    // outlives_cache's answer for an address must hold as long as the cache (no tree that
    // outlives it can be made at an address that held another): a root walked again at the
    // address it had is not asked again.
    // (Inline: get() calls it on every call, and mostly answers from memory.)
    const Value* Walk(const Value& root, uint64_t epoch,
                      absl::FunctionRef<bool(const Value&)> outlives_cache) {
      if (root_ == &root && (epoch_ == kForever || epoch_ == epoch)) return found_;
      return WalkAgain(root, epoch, outlives_cache);
    }

    // Whether the caller said (Keep) that it holds its own form of the answer the last Walk
    // gave, and that answer has not changed since: the adapter keeps the Lua value it pushed
    // for it, and pushes that again instead of making it anew. Any Walk that walks again, and
    // the slot's reuse for another path, forget it.
    bool kept() const { return kept_; }
    void Keep() { kept_ = true; }
    // Keep, for a new value the caller now holds for the slot: `text` is its bytes when it is a
    // string (they must stay where they are while the caller holds it), nullopt otherwise.
    void KeepNew(std::optional<absl::string_view> text) {
      held_string_ = text;
      kept_ = true;
    }
    // The bytes of the value the caller holds for this slot, when it is a string (KeepNew):
    // an answer walked again that is a string of these bytes is that value. Neither a walk nor
    // the slot's reuse for another path forgets it: only KeepNew replaces what the caller holds.
    const std::optional<absl::string_view>& held_string() const { return held_string_; }
    int slot() const { return slot_; }

    // Whether the caller said (Pin) that the bytes where this slot's path was found stay there,
    // unchanged, while the slot holds the path (the adapter keeps the Lua string alive): then
    // the address alone finds the slot, without comparing the text. The slot's reuse for
    // another path forgets it.
    bool pinned() const { return pinned_; }
    void Pin() { pinned_ = true; }

   private:
    friend class PathCache;
    const Value* WalkAgain(const Value& root, uint64_t epoch,
                           absl::FunctionRef<bool(const Value&)> outlives_cache);

    CompiledPath path_;
    const Value* root_ = nullptr;  // null: no answer
    const Value* found_ = nullptr;
    uint64_t epoch_ = kForever;
    bool kept_ = false;
    std::optional<absl::string_view> held_string_;
    bool pinned_ = false;
    uint8_t slot_ = 0;
  };

  // The number of slots; Entry::slot() numbers them 1..kSlots (the adapter keeps an entry's
  // Lua value under its number).
  static constexpr int kSlots = (1 << 5) * 4;

  PathCache();

  // The slot of `path`, found or compiled now; nullptr when CompilePath refuses the path (walk
  // it with GetPath(root, path)). Valid until the next call. (Inline: see Walk.)
  Entry* Get(absl::string_view path) {
    // Fibonacci hashing of the address: its low bits say little (allocations are aligned).
    const uint64_t address = reinterpret_cast<uintptr_t>(path.data());
    Set& set = sets_[(address * 0x9E3779B97F4A7C15ull) >> (64 - kSetBits)];
    for (int i = 0; i < kWays; ++i) {
      Entry& e = set.entries[i];
      if (set.address[i] == path.data() && e.path_.valid && (e.pinned_ || e.path_.path() == path)) {
        return &e;
      }
    }
    return Replace(set, path);
  }

 private:
  // Set-associative: an address picks a set of kWays slots, replaced in turn, so that a few
  // paths whose addresses share a set do not evict each other on every call.
  static constexpr int kSetBits = 5;
  static constexpr int kWays = 4;
  struct Set {
    const char* address[kWays] = {};
    Entry entries[kWays];
    uint8_t next = 0;  // the slot a miss replaces
  };
  // Get's miss: the set's next slot, compiled for `path`.
  Entry* Replace(Set& set, absl::string_view path);

  std::array<Set, size_t{1} << kSetBits> sets_;
  static_assert(kSlots == (1 << kSetBits) * kWays);
};

}  // namespace arbiter::lua_helpers

#endif  // ARBITER_SERVICE_ENGINE_LUA_HELPERS_GET_H_
