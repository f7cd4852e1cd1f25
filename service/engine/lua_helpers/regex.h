// re.match, re.find, re.captures: RE2 (linear time) for policies, with the compiled programs
// cached per Lua state and charged against that state's memory ceiling.
#ifndef ARBITER_SERVICE_ENGINE_LUA_HELPERS_REGEX_H_
#define ARBITER_SERVICE_ENGINE_LUA_HELPERS_REGEX_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "re2/re2.h"

namespace arbiter::lua_helpers {

// Each cached RE2 program may use up to kRegexMaxMem outside the Lua allocator (its program and
// its DFA caches, which grow as it matches). That much is charged to the state's memory (the
// same count the Lua allocator checks against memory_limit_mb) while the program is cached, so
// patterns and Lua data share one ceiling; the cache holds at most kMaxRegexCache programs.
inline constexpr size_t kMaxRegexCache = 64;
inline constexpr size_t kRegexMaxMem = 256 << 10;
inline constexpr size_t kMaxRegexPatternBytes = 4096;
inline constexpr int kMaxCaptures = 16;
// A match runs in C, where no instruction hook reaches, so it is priced before it runs (one step
// per subject byte times pattern byte) and refused over this (issue 11): RE2's DFA is linear
// and fast per step.
inline constexpr double kMaxRegexSteps = 2e8;

// What a regex call may use of the Lua state it runs in.
struct RegexBudget {
  // The state's byte count, which its Lua allocator checks against `mem_limit`.
  size_t* mem_used;
  size_t mem_limit;
  // The longest subject (the bundle's max_string_bytes).
  size_t max_subject_bytes;
  // Checked before each match: an error (the policy's time is up) is returned as it is.
  absl::FunctionRef<absl::Status()> check_clock;
};

// The compiled programs of one Lua state.
class RegexCache {
 public:
  RegexCache() = default;
  RegexCache(const RegexCache&) = delete;
  RegexCache& operator=(const RegexCache&) = delete;

  // The program for `pattern`, cached or compiled now. Room for a new one is made first by
  // forgetting the cached ones (recompiling is cheap), and only when the Lua heap itself leaves
  // no room is it an error. Errors (as policies see them, after "re: "): a pattern over
  // kMaxRegexPatternBytes, the memory ceiling, an invalid pattern.
  absl::StatusOr<const RE2*> Compile(absl::string_view pattern, size_t* mem_used, size_t mem_limit);
  // Forgets every program (and every answer remembered for one) and gives back their charge.
  void Clear(size_t* mem_used);
  size_t size() const { return programs_.size(); }

  // re.match/re.find's answer for a subject of up to kMaxAnsweredSubjectBytes, remembered by
  // program, anchor and subject bytes: policies test the same few values (column types and
  // names) against their constant patterns in every decision, and a match costs far more than
  // the lookup. nullopt when not remembered. `re` must be a program of this cache.
  static constexpr size_t kMaxAnsweredSubjectBytes = 48;
  std::optional<bool> Answer(const RE2* re, RE2::Anchor anchor, absl::string_view subject) const {
    const Answered& a = answers_[AnswerSlot(re, subject)];
    if (a.re != re || a.anchor != anchor || a.size != subject.size() ||
        absl::string_view(a.subject, a.size) != subject) {
      return std::nullopt;
    }
    return a.matched;
  }
  void RememberAnswer(const RE2* re, RE2::Anchor anchor, absl::string_view subject, bool matched);

  // The program Compile returned last for a pattern at `pattern`'s address with its bytes, or
  // nullptr: what Compile(pattern) gives without hashing the pattern. (Inline, with Answer: the
  // adapter answers a repeated re.match from them alone.)
  const RE2* Recent(absl::string_view pattern) const {
    const RecentProgram& r = recent_[RecentSlot(pattern)];
    return r.address == pattern.data() && r.re != nullptr && r.re->pattern() == pattern ? r.re
                                                                                        : nullptr;
  }

 private:
  // The programs last returned, by the address of their pattern's bytes (a policy's constant
  // pattern keeps its address in Lua), so that a repeated call skips hashing the pattern. An
  // entry is used only when its program's pattern equals the one asked for.
  static constexpr int kRecentBits = 4;
  struct RecentProgram {
    const char* address = nullptr;
    const RE2* re = nullptr;
  };
  static size_t RecentSlot(absl::string_view pattern) {
    return static_cast<size_t>(
        (reinterpret_cast<uintptr_t>(pattern.data()) * 0x9E3779B97F4A7C15ull) >>
        (64 - kRecentBits));
  }
  std::array<RecentProgram, size_t{1} << kRecentBits> recent_;
  // Answers, direct-mapped by the program's and the subject's addresses (a policy's subjects
  // are Lua strings, which keep theirs while they live); an entry answers only for its own
  // program, anchor and bytes. Keyed by program address: Clear empties it with the programs.
  static constexpr int kAnswerBits = 4;
  struct Answered {
    const RE2* re = nullptr;  // null: empty
    RE2::Anchor anchor = RE2::UNANCHORED;
    uint8_t size = 0;
    bool matched = false;
    char subject[kMaxAnsweredSubjectBytes];
  };
  static size_t AnswerSlot(const RE2* re, absl::string_view subject) {
    const uint64_t key =
        reinterpret_cast<uintptr_t>(re) ^ reinterpret_cast<uintptr_t>(subject.data());
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> (64 - kAnswerBits));
  }
  std::array<Answered, size_t{1} << kAnswerBits> answers_;
  absl::flat_hash_map<std::string, std::unique_ptr<RE2>> programs_;
};

// re.match(pattern, s) (kAnchor RE2::ANCHOR_BOTH: the whole of s) and re.find(pattern, s)
// (RE2::UNANCHORED: anywhere in s). `pattern` and `subject` are nullopt when the Lua argument
// is neither a string nor a number; a missing subject never matches.
absl::StatusOr<bool> RegexTest(RegexCache& cache, const RegexBudget& budget,
                               std::optional<absl::string_view> pattern,
                               std::optional<absl::string_view> subject, RE2::Anchor anchor);

// RegexTest's answer when it needs no compiling and no match: `pattern` is the program the
// cache returned last for its address, and the answer for `subject` is remembered; nullopt
// otherwise (or when RegexTest would refuse the subject). RegexTest also asks the clock before
// answering: so must the caller. (Inline: the adapter answers repeated tests with it.)
inline std::optional<bool> KnownRegexTest(const RegexCache& cache, size_t max_subject_bytes,
                                          absl::string_view pattern, absl::string_view subject,
                                          RE2::Anchor anchor) {
  // A remembered subject passes RegexTest's pricing whatever the pattern.
  static_assert(static_cast<double>(RegexCache::kMaxAnsweredSubjectBytes) * kMaxRegexPatternBytes <=
                kMaxRegexSteps);
  if (subject.size() > max_subject_bytes) return std::nullopt;
  const RE2* re = cache.Recent(pattern);
  if (re == nullptr) return std::nullopt;
  return cache.Answer(re, anchor, subject);
}

// The groups of re.captures' first match: group i is groups[i - 1], with a null data() for a
// group that took no part in the match. Views into the subject.
struct Captures {
  int count = 0;
  std::array<absl::string_view, kMaxCaptures> groups;
};

// re.captures(pattern, s): nullopt when s (nullopt: not a string) does not match. Only the
// first kMaxCaptures groups are returned.
absl::StatusOr<std::optional<Captures>> RegexCaptures(RegexCache& cache, const RegexBudget& budget,
                                                      std::optional<absl::string_view> pattern,
                                                      std::optional<absl::string_view> subject);

}  // namespace arbiter::lua_helpers

#endif  // ARBITER_SERVICE_ENGINE_LUA_HELPERS_REGEX_H_
