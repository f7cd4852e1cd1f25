// get(t, "a.b.1.c"): the value at a dotted path, or nil when a step is missing or not a
// container. Keys are map keys, or 1-based indexes into lists; empty keys (a leading, trailing
// or doubled dot) are skipped.
//
// On request data the whole walk happens here, over the Value tree, so only the final value
// becomes a Lua value: the hot path of most policies. Steps through Lua tables are lookups in
// Lua, which the adapter takes with PathKeys until it meets request data.
#ifndef ARBITER_SERVICE_ENGINE_LUA_HELPERS_GET_H_
#define ARBITER_SERVICE_ENGINE_LUA_HELPERS_GET_H_

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

}  // namespace arbiter::lua_helpers

#endif  // ARBITER_SERVICE_ENGINE_LUA_HELPERS_GET_H_
