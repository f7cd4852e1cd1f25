#include "service/server/inline_decisions.h"

#include <algorithm>
#include <chrono>

namespace arbiter {

InlineDecisions::InlineDecisions(const Options& options)
    : fast_limit_(std::max(1, options.fast_limit)),
      slow_limit_(std::max(1, std::min(options.slow_limit, options.fast_limit))),
      slow_after_(absl::ToInt64Nanoseconds(options.slow_after)),
      hold_(absl::ToInt64Nanoseconds(options.hold)) {}

int64_t InlineDecisions::NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int InlineDecisions::LimitAt(int64_t now) const {
  return now < slow_until_.load(std::memory_order_relaxed) ? slow_limit_ : fast_limit_;
}

bool InlineDecisions::TryEnter(int64_t now) {
  if (running_.fetch_add(1, std::memory_order_relaxed) < LimitAt(now)) return true;
  running_.fetch_sub(1, std::memory_order_relaxed);
  return false;
}

void InlineDecisions::Leave() { running_.fetch_sub(1, std::memory_order_relaxed); }

void InlineDecisions::Took(int64_t start, int64_t end) {
  const int64_t before = average_.load(std::memory_order_relaxed);
  const int64_t average = before + (end - start - before) / 64;
  average_.store(average, std::memory_order_relaxed);
  if (average <= slow_after_) return;
  // The latest end wins: concurrent slow calls only ever push the slow period further.
  const int64_t until = end + hold_;
  int64_t seen = slow_until_.load(std::memory_order_relaxed);
  while (seen < until &&
         !slow_until_.compare_exchange_weak(seen, until, std::memory_order_relaxed)) {
  }
}

}  // namespace arbiter
