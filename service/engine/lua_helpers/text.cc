#include "service/engine/lua_helpers/text.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace arbiter::lua_helpers {

namespace {

constexpr uint64_t kOnes = 0x0101010101010101;
constexpr uint64_t kHighs = 0x8080808080808080;

// True when every byte of `w` is printable ASCII, 0x20..0x7E. A byte under 0x20 borrows into its
// high bit when 0x20 is subtracted (and had it clear); a byte of 0x7F or more has its high bit
// set or sets it when 1 is added. Carries and borrows between bytes start only at a byte that is
// not printable, so they can make a word fail only when it fails anyway.
inline bool AllPrintable(uint64_t w) {
  const uint64_t below = (w - 0x20 * kOnes) & ~w;
  const uint64_t above = (w + kOnes) | w;
  return ((below | above) & kHighs) == 0;
}

}  // namespace

std::string CleanText(absl::string_view s, size_t cap) {
  // Fast path for the common case, printable ASCII: the result is the (capped) text itself.
  // Eight bytes at a time (a reason or detail is tens to hundreds of bytes), then the tail.
  size_t head = std::min(s.size(), cap);
  size_t plain = 0;
  for (; plain + 8 <= head; plain += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + plain, 8);
    if (!AllPrintable(w)) break;
  }
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
