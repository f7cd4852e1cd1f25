// The word-at-a-time test for bytes of text that JSON must escape, shared by the JSON writer of
// Values (value.cc: AppendJsonString) and the decision log's line writer (decision_json.cc,
// which copies and tests a string in one pass with JsonCopyPlain).
#ifndef ARBITER_SERVICE_VALUE_JSON_ESCAPE_H_
#define ARBITER_SERVICE_VALUE_JSON_ESCAPE_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

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

// Copies the `n` bytes at `src` to `dst` and tells whether none of them needs an escape (then
// `dst` holds the string's JSON body; else its bytes are junk for the caller to overwrite). One
// pass does both: a separate test and memcpy call cost a short string twice its bytes' work.
// Words overlap rather than running past either end, so exactly dst[0, n) is written and only
// src[0, n) is read.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool JsonCopyPlain(char* dst, const char* src, size_t n) {
#ifdef __SSE2__
  if (n >= 16) {
    const __m128i low = _mm_set1_epi8(0x1f);
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    __m128i hits = _mm_setzero_si128();
    const auto block = [&](size_t at) {
      const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + at));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + at), x);
      hits = _mm_or_si128(hits, _mm_cmpeq_epi8(_mm_min_epu8(x, low), x));
      hits = _mm_or_si128(hits, _mm_cmpeq_epi8(x, quote));
      hits = _mm_or_si128(hits, _mm_cmpeq_epi8(x, backslash));
    };
    for (size_t i = 0; i + 16 < n; i += 16) block(i);
    block(n - 16);
    return _mm_movemask_epi8(hits) == 0;
  }
#endif
  if (n >= 8) {
    uint64_t w = 0;
    uint64_t hits = 0;
    size_t i = 0;
    for (; i + 8 < n; i += 8) {  // no SSE2: longer strings too
      std::memcpy(&w, src + i, 8);
      std::memcpy(dst + i, &w, 8);
      hits |= JsonEscapeBits(w);
    }
    std::memcpy(&w, src + n - 8, 8);
    std::memcpy(dst + n - 8, &w, 8);
    return (hits | JsonEscapeBits(w)) == 0;
  }
  if (n >= 4) {
    uint32_t a, b;
    std::memcpy(&a, src, 4);
    std::memcpy(&b, src + n - 4, 4);
    std::memcpy(dst, &a, 4);
    std::memcpy(dst + n - 4, &b, 4);
    return (JsonEscapeBits(a) | JsonEscapeBits(b)) == 0;
  }
  bool plain = true;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(src[i]);
    dst[i] = static_cast<char>(c);
    plain &= !(c < 0x20 || c == '"' || c == '\\');
  }
  return plain;
}

}  // namespace arbiter

#endif  // ARBITER_SERVICE_VALUE_JSON_ESCAPE_H_
