#include "service/engine/lua_helpers/text.h"

#include <algorithm>
#include <cstdint>

namespace arbiter::lua_helpers {

std::string CleanText(absl::string_view s, size_t cap) {
  // Fast path for the common case, printable ASCII: the result is the (capped) text itself.
  size_t head = std::min(s.size(), cap);
  size_t plain = 0;
  while (plain < head && static_cast<unsigned char>(s[plain]) >= 0x20 &&
         static_cast<unsigned char>(s[plain]) < 0x7F) {
    ++plain;
  }
  if (plain == head) return std::string(s.substr(0, head));
  std::string out;
  out.reserve(std::min(s.size(), cap));
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xE  ? 3
                 : (c >> 3) == 0x1E ? 4
                                    : 0;
    bool valid = len > 0 && i + len <= s.size();
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t k = 1; valid && k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      valid = (cc & 0xC0) == 0x80;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Well-formed only: no overlong forms, no surrogates, nothing above U+10FFFF (protobuf
    // refuses to serialize such strings, which would make the decision undeliverable).
    if (valid &&
        ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
         (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))) {
      valid = false;
    }
    if (!valid) len = 1;
    if (out.size() + (valid ? len : 1) > cap) break;
    if (!valid) {
      out.push_back('?');
    } else if (len == 1 && (c < 0x20 || c == 0x7F)) {
      out.push_back(' ');
    } else {
      out.append(s.data() + i, len);
    }
    i += len;
  }
  return out;
}

}  // namespace arbiter::lua_helpers
