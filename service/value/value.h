// A small immutable-by-convention document tree: what data product descriptors, data contracts
// and requests look like once parsed, independent of where they came from (YAML text, JSON, a
// protobuf Struct). Policies see these trees through read-only Lua views (engine/lua_view.h).
//
// Maps keep insertion order so that iteration (Lua `pairs`, JSON output, diffs) is deterministic.
// A Value may share an immutable subtree (`Value::Shared`) so that, say, a catalog descriptor is
// attached to every access request without being copied.
//
// Thread-compatible: concurrent const access is safe; mutation needs external synchronization.
#ifndef ARBITER_SERVICE_VALUE_VALUE_H_
#define ARBITER_SERVICE_VALUE_VALUE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/string_view.h"

namespace arbiter {

class Value {
 public:
  enum class Type { kNull, kBool, kInt, kDouble, kString, kList, kMap };
  using List = std::vector<Value>;
  using Map = std::vector<std::pair<std::string, Value>>;

  Value() = default;
  Value(bool b) : v_(b) {}                            // NOLINT
  Value(int v) : v_(static_cast<int64_t>(v)) {}       // NOLINT
  Value(int64_t v) : v_(v) {}                         // NOLINT
  Value(double v) : v_(v) {}                          // NOLINT
  Value(std::string s) : v_(std::move(s)) {}          // NOLINT
  Value(absl::string_view s) : v_(std::string(s)) {}  // NOLINT
  Value(const char* s) : v_(std::string(s)) {}        // NOLINT
  Value(List l) : v_(std::move(l)) {}                 // NOLINT
  Value(Map m) : v_(std::move(m)) {}                  // NOLINT

  static Value EmptyList() { return Value(List{}); }
  static Value EmptyMap() { return Value(Map{}); }
  // An empty map with room for `n` entries (requests are built with a known shape).
  static Value MapWithCapacity(size_t n) {
    Map m;
    m.reserve(n);
    return Value(std::move(m));
  }
  // Shares `target` (which must not be null) instead of copying it.
  static Value Shared(std::shared_ptr<const Value> target);

  // The type of the value, looking through a shared reference.
  Type type() const { return Get().TypeOfSelf(); }
  bool is_null() const { return type() == Type::kNull; }
  bool is_bool() const { return type() == Type::kBool; }
  bool is_int() const { return type() == Type::kInt; }
  bool is_double() const { return type() == Type::kDouble; }
  bool is_number() const { return is_int() || is_double(); }
  bool is_string() const { return type() == Type::kString; }
  bool is_list() const { return type() == Type::kList; }
  bool is_map() const { return type() == Type::kMap; }

  // Accessors; calling one for the wrong type is a programming error (checked by std::get).
  bool as_bool() const { return std::get<bool>(Get().v_); }
  int64_t as_int() const { return std::get<int64_t>(Get().v_); }
  double as_double() const;  // ints convert
  const std::string& as_string() const { return std::get<std::string>(Get().v_); }
  const List& as_list() const { return std::get<List>(Get().v_); }
  const Map& as_map() const { return std::get<Map>(Get().v_); }
  // Mutable access to a value that owns its contents (not a shared reference).
  List& mutable_list() { return std::get<List>(v_); }
  Map& mutable_map() { return std::get<Map>(v_); }

  // Map lookup; nullptr when this is not a map or has no such key.
  const Value* Find(absl::string_view key) const;
  // Follows a path of map keys; nullptr when any step is missing.
  const Value* FindPath(std::initializer_list<absl::string_view> path) const;
  // The string at `key`, or `fallback` when absent or not a string.
  std::string GetString(absl::string_view key, absl::string_view fallback = "") const;

  // Inserts or replaces `key` in a map value (a null value becomes an empty map first).
  Value& Set(std::string key, Value v);
  // Appends `key` to a map value without looking for an existing entry: the caller knows the key
  // is new (a null value becomes an empty map first).
  Value& Add(std::string key, Value v);
  // Appends to a list value (a null value becomes an empty list first).
  Value& Append(Value v);

  // Number of elements of a list or map, 0 otherwise.
  size_t size() const;

  // The value itself, or the shared target it refers to.
  const Value& Get() const;

  // Deep structural equality (ints and doubles compare numerically).
  friend bool operator==(const Value& a, const Value& b);

  // Compact JSON (non-finite doubles become null); used for messages, diffs and logs.
  std::string ToJson() const;

 private:
  Type TypeOfSelf() const;
  std::variant<std::monostate, bool, int64_t, double, std::string, List, Map,
               std::shared_ptr<const Value>>
      v_;
};

}  // namespace arbiter

#endif  // ARBITER_SERVICE_VALUE_VALUE_H_
