// The word-at-a-time test for bytes of text that JSON must escape, shared by the JSON writer of
// Values (value.cc: AppendJsonString) and the decision log's line writer (decision_json.cc).
#ifndef ARBITER_SERVICE_VALUE_JSON_ESCAPE_H_
#define ARBITER_SERVICE_VALUE_JSON_ESCAPE_H_

#include "absl/base/attributes.h"

namespace arbiter {

// The high bit of each byte of `w` (a word of text) that needs an escape: below 0x20, '"' or
// '\\', by the classic "has a zero byte" trick. A borrow can flag a byte above a true match
// only, never below one, so the lowest flagged byte is always a true match (when several bytes
// match, the ones above the lowest may be off: callers ask whether, or where the first is).
template <typename Word>
ABSL_ATTRIBUTE_ALWAYS_INLINE constexpr Word JsonEscapeBits(Word w) {
  constexpr Word kOnes = static_cast<Word>(0x0101010101010101ULL);
  constexpr Word kHigh = static_cast<Word>(0x8080808080808080ULL);
  const Word quote = w ^ static_cast<Word>(kOnes * '"');
  const Word backslash = w ^ static_cast<Word>(kOnes * '\\');
  return static_cast<Word>((static_cast<Word>(w - kOnes * 0x20) & ~w) |
                           (static_cast<Word>(quote - kOnes) & ~quote) |
                           (static_cast<Word>(backslash - kOnes) & ~backslash)) &
         kHigh;
}

}  // namespace arbiter

#endif  // ARBITER_SERVICE_VALUE_JSON_ESCAPE_H_
