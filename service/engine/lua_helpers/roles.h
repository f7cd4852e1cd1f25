// has_role, has_any_role, in_group: tests on a principal's roles and groups lists.
//
// The adapter reads the principal's field (p.roles, p.groups) off the Lua stack, since reading a
// Lua table by key is a Lua call; a principal view is read here, in place (making a Lua view of
// the list just to scan it would cost more than the scan: these run in most decisions).
#ifndef ARBITER_SERVICE_ENGINE_LUA_HELPERS_ROLES_H_
#define ARBITER_SERVICE_ENGINE_LUA_HELPERS_ROLES_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "service/engine/lua_helpers/arg.h"
#include "service/engine/lua_helpers/lists.h"

namespace arbiter::lua_helpers {

inline constexpr char kRolesField[] = "roles";
inline constexpr char kGroupsField[] = "groups";

// `field` of a principal view's map: nil when absent (or when the view is not a map).
Arg PrincipalField(const Value& principal, absl::string_view field);

// PrincipalField(principal, field), remembered for the principal read last in the same `epoch`:
// a decision's policies test the same req.principal several times. The caller passes a new
// epoch whenever a tree may have changed or been freed (one per evaluation, as for PathCache).
class FieldMemo {
 public:
  const Arg& Get(const Value& principal, absl::string_view field, uint64_t epoch) {
    if (principal_ != &principal || epoch_ != epoch) {
      field_ = PrincipalField(principal, field);
      principal_ = &principal;
      epoch_ = epoch;
    }
    return field_;
  }

 private:
  const Value* principal_ = nullptr;  // null: nothing remembered
  uint64_t epoch_ = 0;
  Arg field_;
};

// has_role(p, r): whether p.roles (`roles`) holds `role`. nil roles hold nothing.
absl::StatusOr<bool> HasRole(const Arg& roles, const Arg& role, ListClock clock = NoClock);

// has_any_role(p, wanted): whether p.roles holds any element of the list `wanted`.
absl::StatusOr<bool> HasAnyRole(const Arg& roles, const Arg& wanted, ListClock clock = NoClock);

// in_group(p, g): whether p.groups (`groups`) holds `group`.
absl::StatusOr<bool> InGroup(const Arg& groups, const Arg& group, ListClock clock = NoClock);

}  // namespace arbiter::lua_helpers

#endif  // ARBITER_SERVICE_ENGINE_LUA_HELPERS_ROLES_H_
