// Text a policy produces (reasons, details, print lines, error messages) made safe to show: it
// reaches responses and logs, so it is capped and cleaned.
#ifndef ARBITER_SERVICE_ENGINE_LUA_HELPERS_TEXT_H_
#define ARBITER_SERVICE_ENGINE_LUA_HELPERS_TEXT_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace arbiter::lua_helpers {

// `s` truncated to `cap` bytes (at a UTF-8 boundary) with control characters replaced by spaces
// and invalid UTF-8 replaced by '?'.
std::string CleanText(absl::string_view s, size_t cap);

}  // namespace arbiter::lua_helpers

#endif  // ARBITER_SERVICE_ENGINE_LUA_HELPERS_TEXT_H_
