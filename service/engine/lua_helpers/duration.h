// duration and percent: the quantities descriptors write as text ("4h", "99.5%") as numbers.
#ifndef ARBITER_SERVICE_ENGINE_LUA_HELPERS_DURATION_H_
#define ARBITER_SERVICE_ENGINE_LUA_HELPERS_DURATION_H_

#include <optional>

#include "service/engine/lua_helpers/arg.h"

namespace arbiter::lua_helpers {

// duration(v): "15m", "4h", "1h30m", "7d", "2w", "7y", "250ms", "30s" -> seconds; a number is
// seconds already. nullopt for anything else (no unit, a negative part, over 64 bytes).
std::optional<double> Duration(const Arg& v);

// percent(v): "99.5%" -> 99.5; a number is returned as it is. nullopt for anything else.
std::optional<double> Percent(const Arg& v);

}  // namespace arbiter::lua_helpers

#endif  // ARBITER_SERVICE_ENGINE_LUA_HELPERS_DURATION_H_
