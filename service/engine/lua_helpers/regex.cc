#include "service/engine/lua_helpers/regex.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace arbiter::lua_helpers {
namespace {

// The cache's errors, with the prefix the calling helper gives them.
absl::StatusOr<const RE2*> CompileArg(RegexCache& cache, const RegexBudget& budget,
                                      std::optional<absl::string_view> pattern,
                                      absl::string_view prefix) {
  if (!pattern.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(prefix, "the pattern must be a string"));
  }
  absl::StatusOr<const RE2*> re = cache.Compile(*pattern, budget.mem_used, budget.mem_limit);
  if (!re.ok())
    return absl::Status(re.status().code(), absl::StrCat(prefix, re.status().message()));
  return re;
}

// Refuses a match whose subject could take too long; checks the clock first.
absl::Status CheckCost(const RegexBudget& budget, size_t subject_bytes, size_t pattern_bytes) {
  if (absl::Status clock = budget.check_clock(); !clock.ok()) return clock;
  if (subject_bytes > budget.max_subject_bytes ||
      static_cast<double>(subject_bytes) * static_cast<double>(std::max<size_t>(pattern_bytes, 1)) >
          kMaxRegexSteps) {
    return absl::ResourceExhaustedError(
        absl::StrCat("re: subject of ", static_cast<int>(subject_bytes),
                     " bytes is too long for this pattern (limit ",
                     static_cast<int>(budget.max_subject_bytes), " bytes)"));
  }
  return absl::OkStatus();
}

re2::StringPiece Piece(absl::string_view s) { return re2::StringPiece(s.data(), s.size()); }

}  // namespace

absl::StatusOr<const RE2*> RegexCache::Compile(absl::string_view pattern, size_t* mem_used,
                                               size_t mem_limit) {
  if (pattern.size() > kMaxRegexPatternBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the pattern is longer than ", kMaxRegexPatternBytes, " bytes"));
  }
  if (const RE2* re = Recent(pattern)) return re;
  RecentProgram& recent = recent_[RecentSlot(pattern)];
  if (auto it = programs_.find(pattern); it != programs_.end()) {
    recent = RecentProgram{pattern.data(), it->second.get()};
    return recent.re;
  }
  if (programs_.size() >= kMaxRegexCache || *mem_used + kRegexMaxMem > mem_limit) {
    Clear(mem_used);
  }
  if (*mem_used + kRegexMaxMem > mem_limit) {
    return absl::ResourceExhaustedError(absl::StrCat("memory limit of ", mem_limit,
                                                     " bytes exceeded (a compiled pattern takes "
                                                     "up to ",
                                                     kRegexMaxMem, " bytes)"));
  }
  RE2::Options options;
  options.set_log_errors(false);
  options.set_max_mem(static_cast<int64_t>(kRegexMaxMem));
  auto re = std::make_unique<RE2>(Piece(pattern), options);
  if (!re->ok()) return absl::InvalidArgumentError(absl::StrCat("invalid pattern: ", re->error()));
  *mem_used += kRegexMaxMem;
  recent = RecentProgram{pattern.data(), re.get()};
  programs_.emplace(std::string(pattern), std::move(re));
  return recent.re;
}

void RegexCache::Clear(size_t* mem_used) {
  *mem_used -= programs_.size() * kRegexMaxMem;
  recent_.fill(RecentProgram());
  answers_.fill(Answered());
  programs_.clear();
}

void RegexCache::RememberAnswer(const RE2* re, RE2::Anchor anchor, absl::string_view subject,
                                bool matched) {
  if (subject.size() > kMaxAnsweredSubjectBytes) return;
  Answered& a = answers_[AnswerSlot(re, subject)];
  a.re = re;
  a.anchor = anchor;
  a.size = static_cast<uint8_t>(subject.size());
  a.matched = matched;
  if (!subject.empty()) std::memcpy(a.subject, subject.data(), subject.size());
}

absl::StatusOr<bool> RegexTest(RegexCache& cache, const RegexBudget& budget,
                               std::optional<absl::string_view> pattern,
                               std::optional<absl::string_view> subject, RE2::Anchor anchor) {
  absl::StatusOr<const RE2*> re = CompileArg(cache, budget, pattern, "re: ");
  if (!re.ok()) return re.status();
  if (!subject.has_value()) return false;  // nil or a non-string never matches
  if (absl::Status s = CheckCost(budget, subject->size(), pattern->size()); !s.ok()) return s;
  if (std::optional<bool> known = cache.Answer(*re, anchor, *subject)) return *known;
  const bool matched = (*re)->Match(Piece(*subject), 0, subject->size(), anchor, nullptr, 0);
  cache.RememberAnswer(*re, anchor, *subject, matched);
  return matched;
}

absl::StatusOr<std::optional<Captures>> RegexCaptures(RegexCache& cache, const RegexBudget& budget,
                                                      std::optional<absl::string_view> pattern,
                                                      std::optional<absl::string_view> subject) {
  absl::StatusOr<const RE2*> re = CompileArg(cache, budget, pattern, "re.captures: ");
  if (!re.ok()) return re.status();
  if (!subject.has_value()) return std::nullopt;
  if (absl::Status s = CheckCost(budget, subject->size(), pattern->size()); !s.ok()) return s;
  Captures out;
  out.count = std::min((*re)->NumberOfCapturingGroups(), kMaxCaptures);
  re2::StringPiece subs[kMaxCaptures + 1];
  if (!(*re)->Match(Piece(*subject), 0, subject->size(), RE2::UNANCHORED, subs, out.count + 1)) {
    return std::nullopt;
  }
  for (int i = 1; i <= out.count; ++i) {
    out.groups[static_cast<size_t>(i - 1)] = absl::string_view(subs[i].data(), subs[i].size());
  }
  return out;
}

}  // namespace arbiter::lua_helpers
