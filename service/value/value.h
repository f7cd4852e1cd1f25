// A small immutable-by-convention document tree: what data product descriptors, data contracts
// and requests look like once parsed, independent of where they came from (YAML text, JSON, a
// protobuf Struct). Policies see these trees through read-only Lua views (engine/lua_view.h).
//
// Maps keep insertion order so that iteration (Lua `pairs`, JSON output, diffs) is deterministic.
// A Value may share an immutable subtree (`Value::Shared`) so that, say, a catalog descriptor is
// attached to every access request without being copied.
//
// A node parsed from text remembers where it was written (SourcePos: file, line, column), so
// that every "file:line: message" about a document comes from the parser rather than from a
// search of the text. Positions are free for Values built in code (requests converted on the
// hot path): they live in the variant's tail padding, so a Value stays 40 bytes (checked below).
//
// Thread-compatible: concurrent const access is safe; mutation needs external synchronization.
#ifndef ARBITER_SERVICE_VALUE_VALUE_H_
#define ARBITER_SERVICE_VALUE_VALUE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/string_view.h"

namespace arbiter {

// Where a node was written. `file` is an id from the process-wide table of source names
// (SourceFileId/SourceFileName); 0 means "not from a parsed text". Lines and columns are
// 1-based (0: unknown) and saturate at 2^20-1 and 2^12-1: a compact 32 bits, since every
// parsed node carries one. A map entry's position is its key's: a message about an entry
// points at the key that introduced it.
struct SourcePos {
  uint16_t file = 0;
  int line = 0;
  int column = 0;

  bool known() const { return line > 0; }
  // "file:line" (just the line when the file is unknown or `file` is 0).
  std::string FileLine() const;
};

// The id of a source name ("bundle.yaml", "catalog/products/a.yaml"), interned on first use.
// The table is bounded (request documents may be named by callers): once it holds 4096 names, or
// for names longer than 512 bytes, the answer is 0 and positions keep their line and column only.
uint16_t SourceFileId(absl::string_view name);
// The name of an id from SourceFileId; "" for 0.
std::string SourceFileName(uint16_t id);

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

  // The type of the value, looking through a shared reference. Type's enumerators are in the
  // order of the variant's alternatives (checked in value.cc), and Get() never answers a shared
  // reference, so this is the variant's index.
  Type type() const { return static_cast<Type>(Get().v_.index()); }
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
  // For trees rebuilt in place (the engine's request tree, once per decision), which reuse what
  // a node already holds: the string, list or map this value owns; null when it holds anything
  // else (a shared reference included) or has a source position of its own (reused, it would
  // keep it).
  std::string* owned_string() { return line_col_ == 0 ? std::get_if<std::string>(&v_) : nullptr; }
  List* owned_list() { return line_col_ == 0 ? std::get_if<List>(&v_) : nullptr; }
  Map* owned_map() { return line_col_ == 0 ? std::get_if<Map>(&v_) : nullptr; }
  // The target of a shared reference (Shared) without a position of its own, not followed
  // further; null for any other value.
  const Value* shared_target() const {
    const auto* p = line_col_ == 0 ? std::get_if<kSharedIndex>(&v_) : nullptr;
    return p != nullptr ? p->get() : nullptr;
  }

  // Map lookup; nullptr when this is not a map or has no such key.
  const Value* Find(absl::string_view key) const;
  // Follows a path of map keys; nullptr when any step is missing.
  const Value* FindPath(std::initializer_list<absl::string_view> path) const;
  // The string at `key`, or `fallback` when absent or not a string.
  std::string GetString(absl::string_view key, absl::string_view fallback = "") const;

  // Inserts or replaces `key` in a map value (a null value becomes an empty map first).
  Value& Set(std::string key, Value v);
  // Appends `key` to a map value without looking for an existing entry: the caller knows the key
  // is new (a null value becomes an empty map first). The entry's value is constructed in place
  // from `v` (anything a Value is constructible from): requests are built of these on the hot
  // path, and a temporary Value would cost a move and a destruction per entry.
  template <typename V>
  Value& Add(std::string key, V&& v) {
    return MapForAdd()
        .emplace_back(std::piecewise_construct, std::forward_as_tuple(std::move(key)),
                      std::forward_as_tuple(std::forward<V>(v)))
        .second;
  }
  // Appends to a list value (a null value becomes an empty list first).
  Value& Append(Value v);
  // Makes this value an empty string, constructed in place, for a parser to fill: a string
  // parsed into a temporary and moved into its value is copied (a short one lives inside the
  // std::string), and a request body is mostly short names.
  std::string& EmplaceString() { return v_.emplace<std::string>(); }

  // Number of elements of a list or map, 0 otherwise.
  size_t size() const;

  // The value itself, or the shared target it refers to. Inline: every accessor starts here, many
  // times per decision, and most values are not shared references.
  const Value& Get() const {
    if (v_.index() != kSharedIndex) [[likely]]
      return *this;
    return SharedTarget();
  }

  // Deep structural equality (ints and doubles compare numerically).
  friend bool operator==(const Value& a, const Value& b);

  // Compact JSON (non-finite doubles become null); used for messages, diffs and logs. The one
  // JSON writer of a tree: AppendJson below, which the decision log also uses.
  std::string ToJson() const;

  // Where this node was written (a shared reference answers for its target when it has no
  // position of its own); unknown for values built in code.
  SourcePos pos() const;
  int line() const { return pos().line; }
  void set_pos(uint16_t file, int line, int column);
  void set_pos(const SourcePos& p) { set_pos(p.file, p.line, p.column); }

 private:
  static constexpr uint32_t kColumnBits = 12;
  static constexpr uint32_t kMaxColumn = (1u << kColumnBits) - 1;
  static constexpr uint32_t kMaxLine = (1u << (32 - kColumnBits)) - 1;

  // The index of the shared reference in v_.
  static constexpr size_t kSharedIndex = 7;
  // Get() for a shared reference: its target, through any chain of shared references.
  const Value& SharedTarget() const;
  // This map, after turning a null value into an empty one (Add).
  Map& MapForAdd() {
    if (std::holds_alternative<std::monostate>(v_)) v_ = Map{};
    return std::get<Map>(v_);
  }
  // no_unique_address lets file_ and line_col_ sit in the variant's tail padding (its index
  // byte is followed by 7 unused bytes), so positions cost no memory.
  [[no_unique_address]] std::variant<std::monostate, bool, int64_t, double, std::string, List, Map,
                                     std::shared_ptr<const Value>>
      v_;
  uint16_t file_ = 0;
  uint32_t line_col_ = 0;  // line << kColumnBits | column; 0 when unknown
};

// Requests are Values built on the hot path: positions must not make them bigger.
static_assert(sizeof(Value) <= 40, "Value's source position should live in tail padding");

// Appends the compact JSON of `v` (as Value::ToJson) to `out`, without a temporary string.
void AppendJson(std::string& out, const Value& v);
// Appends as much of v's compact JSON as fits until `out` is `cap` bytes long: the result is a
// prefix of what AppendJson would append, and the work is bounded by the cap, not by the size of
// the tree (a request's whole descriptor rendered by a C function called from a policy would
// take milliseconds no hook interrupts). Appends nothing when `out` is `cap` bytes or longer.
void AppendJsonPrefix(std::string& out, const Value& v, size_t cap);
// Appends `s` as a JSON string (quotes included). Bytes >= 0x80 pass through unchanged (texts
// are well-formed UTF-8 already); control characters, quotes and backslashes are escaped.
void AppendJsonString(std::string& out, absl::string_view s);
// How many leading bytes of `s` AppendJsonString copies unchanged (s.size() when no byte needs
// an escape): writers with their own buffer (the decision log line) copy such strings
// themselves and call AppendJsonString for the rest.
size_t JsonPlainPrefix(absl::string_view s);

}  // namespace arbiter

#endif  // ARBITER_SERVICE_VALUE_VALUE_H_
