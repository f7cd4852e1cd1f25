#include "service/engine/lua_helpers/roles.h"

#include "service/engine/lua_helpers/lists.h"

namespace arbiter::lua_helpers {

Arg PrincipalField(const Value& principal, absl::string_view field) {
  const Value* f = principal.Find(field);
  return f == nullptr ? Arg() : Arg::Of(*f);
}

absl::StatusOr<bool> HasRole(const Arg& roles, const Arg& role, ListClock clock) {
  return ListContains(roles, role, clock);
}

absl::StatusOr<bool> HasAnyRole(const Arg& roles, const Arg& wanted, ListClock clock) {
  return ListIntersects(wanted, roles, clock);
}

absl::StatusOr<bool> InGroup(const Arg& groups, const Arg& group, ListClock clock) {
  return ListContains(groups, group, clock);
}

}  // namespace arbiter::lua_helpers
