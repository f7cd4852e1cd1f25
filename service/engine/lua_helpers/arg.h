// The plain values Lua helpers take. A helper (regex.h, semver.h, duration.h, lists.h, roles.h,
// get.h, guards.h) is an ordinary C++ function of these values: it never sees a lua_State, so it
// can use std::string, StatusOr and RAII freely and be unit-tested without Lua. The adapter
// (../lua_adapter.cc) reads arguments off the Lua stack into these types, calls the helper and
// pushes its result or raises its error.
#ifndef ARBITER_SERVICE_ENGINE_LUA_HELPERS_ARG_H_
#define ARBITER_SERVICE_ENGINE_LUA_HELPERS_ARG_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "service/value/value.h"

namespace arbiter::lua_helpers {

class Table;

// One Lua value as a helper sees it. Nothing is copied: a string views the Lua string (or the
// request's Value), which stays alive for the whole helper call since helpers run no Lua code.
struct Arg {
  enum class Kind : uint8_t {
    kNil,       // nil, or an argument not given
    kBool,      // `boolean`
    kInt,       // `integer` (a Lua integer, or a request's integer)
    kDouble,    // `number` (a Lua float, or a request's double)
    kString,    // `string`
    kView,      // a live read-only request view: `view` is the list or map behind it
    kDeadView,  // a request view kept beyond the check call that received it
    kTable,     // a Lua table: `table` reads it (null for a table met inside another table,
                // which helpers only compare)
    kOther,     // a function or any other userdata: compared by identity only
  };
  Kind kind = Kind::kNil;
  bool boolean = false;
  int64_t integer = 0;
  double number = 0;
  absl::string_view string;
  const Value* view = nullptr;
  const Table* table = nullptr;
  // kTable, kDeadView, kOther: the Lua object, for raw equality.
  const void* identity = nullptr;

  // The Lua value a request view shows for `v` (a scalar, or a view of a list or map).
  static Arg Of(const Value& v) {
    const Value& target = v.Get();  // what a view of `v` points to (lua_view.cc)
    switch (target.type()) {
      case Value::Type::kNull:
        return Arg();
      case Value::Type::kBool:
        return Bool(target.as_bool());
      case Value::Type::kInt:
        return Int(target.as_int());
      case Value::Type::kDouble:
        return Double(target.as_double());
      case Value::Type::kString:
        return String(target.as_string());
      case Value::Type::kList:
      case Value::Type::kMap:
        break;
    }
    Arg a;
    a.kind = Kind::kView;
    a.view = &target;
    return a;
  }
  static Arg String(absl::string_view s) {
    Arg a;
    a.kind = Kind::kString;
    a.string = s;
    return a;
  }
  static Arg Int(int64_t i) {
    Arg a;
    a.kind = Kind::kInt;
    a.integer = i;
    return a;
  }
  static Arg Double(double d) {
    Arg a;
    a.kind = Kind::kDouble;
    a.number = d;
    return a;
  }
  static Arg Bool(bool b) {
    Arg a;
    a.kind = Kind::kBool;
    a.boolean = b;
    return a;
  }

  bool is_number() const { return kind == Kind::kInt || kind == Kind::kDouble; }
  // The value as a Lua float (lua_tonumber); 0 for non-numbers.
  double as_number() const {
    return kind == Kind::kInt ? static_cast<double>(integer) : kind == Kind::kDouble ? number : 0;
  }
};

// Read-only access to a Lua table's array part, as rawlen and rawgeti see it: no metamethod
// runs and nothing is allocated, so a helper may read a table while C++ objects are alive. The
// adapter implements it over the Lua stack; tests implement it over a vector.
class Table {
 public:
  virtual int64_t RawLen() const = 0;
  // Element `i` (1-based); nil outside 1..RawLen().
  virtual Arg RawGet(int64_t i) const = 0;

 protected:
  ~Table() = default;  // not virtual: a Table is never owned through this type
};

// Lua's raw equality (rawequal): numbers by mathematical value (an integer equals a float only
// when the float is that exact integer), strings by bytes, request views by the data behind
// them (the engine keeps one view per list or map), anything else by identity.
bool RawEqual(const Arg& a, const Arg& b);

// How the list helpers compare a Lua value with an element of request data: strings by bytes,
// numbers as doubles, booleans; nil, tables and views never match. (Inline: role checks run it
// for every role of every principal.)
inline bool ScalarEquals(const Arg& x, const Value& v) {
  switch (x.kind) {
    case Arg::Kind::kString:
      return v.is_string() && v.as_string() == x.string;
    case Arg::Kind::kInt:
    case Arg::Kind::kDouble:
      return v.is_number() && v.as_double() == x.as_number();
    case Arg::Kind::kBool:
      return v.is_bool() && v.as_bool() == x.boolean;
    default:
      return false;
  }
}

// The error for a view used after its check call ended (a policy may stash one).
absl::Status DeadViewError();

}  // namespace arbiter::lua_helpers

#endif  // ARBITER_SERVICE_ENGINE_LUA_HELPERS_ARG_H_
