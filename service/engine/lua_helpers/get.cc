#include "service/engine/lua_helpers/get.h"

#include "absl/strings/numbers.h"

namespace arbiter::lua_helpers {

const Value* GetPath(const Value& root, absl::string_view path) {
  const Value* v = &root;
  PathKeys keys(path);
  absl::string_view key;
  while (keys.Next(&key)) {
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
    if (v == nullptr) return nullptr;
  }
  return v;
}

}  // namespace arbiter::lua_helpers
