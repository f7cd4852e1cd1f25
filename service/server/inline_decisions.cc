#include "service/server/inline_decisions.h"

#include <algorithm>
#include <chrono>

namespace arbiter {

InlineDecisions::InlineDecisions(const Options& options)
    : fast_limit_(std::max(1, options.fast_limit)),
      slow_limit_(std::max(1, std::min(options.slow_limit, options.fast_limit))),
      slow_after_(absl::ToInt64Nanoseconds(options.slow_after)),
      long_after_(absl::ToInt64Nanoseconds(options.long_after)),
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

namespace {
// Moves `average` by 1/64 of the way to `sample`; returns the new average.
int64_t Move(std::atomic<int64_t>& average, int64_t sample) {
  const int64_t before = average.load(std::memory_order_relaxed);
  const int64_t after = before + (sample - before) / 64;
  average.store(after, std::memory_order_relaxed);
  return after;
}
}  // namespace

void InlineDecisions::Took(int64_t start, int64_t end, int64_t decisions) {
  const int64_t took = end - start;
  const bool slow = Move(decision_average_, took / std::max<int64_t>(1, decisions)) > slow_after_;
  const bool long_held = Move(call_average_, took) > long_after_;
  if (!slow && !long_held) return;
  // The latest end wins: concurrent slow calls only ever push the slow period further.
  const int64_t until = end + hold_;
  int64_t seen = slow_until_.load(std::memory_order_relaxed);
  while (seen < until &&
         !slow_until_.compare_exchange_weak(seen, until, std::memory_order_relaxed)) {
  }
}

}  // namespace arbiter
