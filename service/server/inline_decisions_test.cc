#include "service/server/inline_decisions.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace arbiter {
namespace {

constexpr int64_t kMs = 1'000'000;

InlineDecisions Make(int fast_limit) {
  return InlineDecisions({.fast_limit = fast_limit,
                          .slow_limit = 1,
                          .slow_after = absl::Milliseconds(1),
                          .long_after = absl::Milliseconds(5),
                          .hold = absl::Seconds(2)});
}

// `n` calls of `each` nanoseconds, one after the other from `t`, each making `decisions`
// decisions; returns the end of the last.
int64_t Calls(InlineDecisions& d, int64_t t, int n, int64_t each, int64_t decisions = 1) {
  for (int i = 0; i < n; ++i, t += each) d.Took(t, t + each, decisions);
  return t;
}

// Calls of `each` nanoseconds making `decisions` decisions, after a hundred fast ones, until the
// limit is the slow one (at most 1,000); returns how many it took.
int CallsUntilSlow(InlineDecisions& d, int64_t each, int64_t decisions = 1) {
  int64_t t = Calls(d, 1000 * kMs, 100, 50'000);
  int n = 0;
  while (d.LimitAt(t) != 1 && n < 1000) t = Calls(d, t, 1, each, decisions), ++n;
  return n;
}

TEST(InlineDecisionsTest, WhileCallsAreFastUpToTheFastLimitRunInline) {
  InlineDecisions d = Make(3);
  const int64_t t = 1000 * kMs;
  EXPECT_EQ(d.LimitAt(t), 3);
  EXPECT_TRUE(d.TryEnter(t));
  EXPECT_TRUE(d.TryEnter(t));
  EXPECT_TRUE(d.TryEnter(t));
  EXPECT_FALSE(d.TryEnter(t));  // the fourth goes to a worker
  d.Leave();
  EXPECT_TRUE(d.TryEnter(t));  // a freed place is taken again
  // Thousands of fast calls with a straggler of 20 ms (the kernel ran something else) among
  // every hundred: still fast.
  int64_t at = t;
  for (int i = 0; i < 50; ++i) {
    at = Calls(d, at, 99, 50'000);
    at = Calls(d, at, 1, 20 * kMs);
  }
  EXPECT_EQ(d.LimitAt(at), 3);
}

TEST(InlineDecisionsTest, OneVerySlowCallLeavesOneInlineUntilHoldAfterItsEnd) {
  InlineDecisions d = Make(2);
  const int64_t t = Calls(d, 1000 * kMs, 100, 50'000);
  const int64_t end = Calls(d, t, 1, 100 * kMs);  // moves the average past 1 ms at once
  EXPECT_EQ(d.LimitAt(end), 1);
  EXPECT_TRUE(d.TryEnter(end));
  EXPECT_FALSE(d.TryEnter(end));  // gRPC keeps a thread to admit and refuse calls with
  d.Leave();
  // Fast calls bring the average back under 1 ms (within 20 ms here), but the limit stays for
  // `hold` after the last call that ended with the average past it.
  const int64_t later = Calls(d, end, 400, 50'000);
  EXPECT_EQ(d.LimitAt(later), 1);
  EXPECT_EQ(d.LimitAt(end + 2000 * kMs - 1), 1);
  EXPECT_EQ(d.LimitAt(later + 2000 * kMs), 2);  // fast again
}

TEST(InlineDecisionsTest, AStretchOfCallsOverTheAverageIsSlow) {
  InlineDecisions d = Make(2);
  // 7 ms each (the faults test's slow policy): slow within a dozen calls.
  EXPECT_LE(CallsUntilSlow(d, 7 * kMs), 12);
}

// CheckBatch: a call of 100 fast checks takes over a millisecond under load. Its time per
// decision is what tells slow policies; its time as a call stays within long_after.
TEST(InlineDecisionsTest, BatchesOfFastDecisionsStayFast) {
  InlineDecisions d = Make(2);
  int64_t t = Calls(d, 1000 * kMs, 100, 50'000);
  t = Calls(d, t, 1000, 1600'000, 100);  // 1.6 ms each, 16 us a decision
  EXPECT_EQ(d.LimitAt(t), 2);
  // Mixed with single checks, as a gateway and a query engine share a server.
  for (int i = 0; i < 100; ++i) t = Calls(d, Calls(d, t, 3, 50'000), 1, 1600'000, 100);
  EXPECT_EQ(d.LimitAt(t), 2);
}

// Slow policies show in the time per decision, however few of them a call makes: two checks of
// 2 ms each are slow, though the call (4 ms) is within long_after.
TEST(InlineDecisionsTest, SlowDecisionsInABatchAreSlow) {
  InlineDecisions d = Make(2);
  EXPECT_LE(CallsUntilSlow(d, 4 * kMs, 2), 64);
}

// A call that holds its thread long is long whatever its decisions cost: batches of 1,000 fast
// checks (10 us each, 10 ms a call) leave gRPC a thread, as slow calls do.
TEST(InlineDecisionsTest, LongCallsOfFastDecisionsAreSlow) {
  InlineDecisions d = Make(2);
  EXPECT_LE(CallsUntilSlow(d, 10 * kMs, 1000), 64);
  // ... and a call past 64 times long_after does so at once.
  InlineDecisions e = Make(2);
  const int64_t end = Calls(e, Calls(e, 1000 * kMs, 100, 50'000), 1, 400 * kMs, 1000);
  EXPECT_EQ(e.LimitAt(end), 1);
}

TEST(InlineDecisionsTest, TheLatestSlowPeriodEndWins) {
  InlineDecisions d = Make(2);
  const int64_t t = 1000 * kMs;
  d.Took(t, t + 500 * kMs);  // slow until t + 2500 ms
  EXPECT_EQ(d.LimitAt(t + 2499 * kMs), 1);
  d.Took(t + 500 * kMs, t + 600 * kMs);  // the average is still past 1 ms: until t + 2600 ms
  EXPECT_EQ(d.LimitAt(t + 2599 * kMs), 1);
  EXPECT_EQ(d.LimitAt(t + 2600 * kMs), 2);
}

TEST(InlineDecisionsTest, LimitsAreAtLeastOneAndTheSlowOneNoMoreThanTheFastOne) {
  InlineDecisions one = InlineDecisions({.fast_limit = 0, .slow_limit = 0});
  EXPECT_EQ(one.LimitAt(0), 1);
  InlineDecisions d = InlineDecisions({.fast_limit = 2, .slow_limit = 4});
  d.Took(0, 1000 * kMs);
  EXPECT_EQ(d.LimitAt(10 * kMs), 2);
}

TEST(InlineDecisionsTest, ConcurrentCallersNeverExceedTheLimit) {
  InlineDecisions d = Make(2);
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  std::atomic<int> entered{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        if (!d.TryEnter(InlineDecisions::NowNanos())) continue;
        const int now = inside.fetch_add(1) + 1;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        entered.fetch_add(1);
        inside.fetch_sub(1);
        d.Leave();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(most.load(), 2);
  EXPECT_GT(entered.load(), 0);
}

}  // namespace
}  // namespace arbiter
