#include "service/server/fan_out.h"

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace arbiter {
namespace {

// Every item is worked on exactly once, whatever the number of helpers.
TEST(FanOutTest, EveryItemOnce) {
  for (int helpers : {0, 1, 3}) {
    FanOut fan(helpers);
    for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{8}, size_t{100}, size_t{1001}}) {
      std::vector<std::atomic<int>> seen(n);
      fan.Run(n, 8, [&](size_t begin, size_t end) {
        EXPECT_LE(end - begin, 8u);
        for (size_t i = begin; i < end; ++i) seen[i].fetch_add(1);
        return true;
      });
      for (size_t i = 0; i < n; ++i)
        ASSERT_EQ(seen[i].load(), 1) << helpers << " " << n << " " << i;
    }
  }
}

// Helpers do take ranges: a range that waits for a second range to start would block forever
// if the caller worked alone.
TEST(FanOutTest, HelpersWorkBesideTheCaller) {
  FanOut fan(1);
  absl::Notification first_started;
  absl::Notification second_started;
  std::atomic<int> ranges{0};
  fan.Run(2, 1, [&](size_t begin, size_t) {
    ranges.fetch_add(1);
    if (begin == 0) {
      first_started.Notify();
      EXPECT_TRUE(second_started.WaitForNotificationWithTimeout(absl::Seconds(30)));
    } else {
      second_started.Notify();
      EXPECT_TRUE(first_started.WaitForNotificationWithTimeout(absl::Seconds(30)));
    }
    return true;
  });
  EXPECT_EQ(ranges.load(), 2);
}

// With as many callers inside Run as helpers and caller together, a further call runs alone on
// its caller: the callers already keep every core busy.
TEST(FanOutTest, CallersThatFillTheCoresWorkAlone) {
  FanOut fan(1);
  absl::Notification first_inside;
  absl::Notification second_done;
  std::thread first([&] {
    fan.Run(1, 1, [&](size_t, size_t) {  // one range: the caller's own
      first_inside.Notify();
      EXPECT_TRUE(second_done.WaitForNotificationWithTimeout(absl::Seconds(30)));
      return true;
    });
  });
  ASSERT_TRUE(first_inside.WaitForNotificationWithTimeout(absl::Seconds(30)));
  const std::thread::id caller = std::this_thread::get_id();
  std::set<std::thread::id> threads;
  absl::Mutex mu;
  fan.Run(64, 1, [&](size_t, size_t) {
    absl::SleepFor(absl::Microseconds(200));  // long enough for an idle helper to join
    absl::MutexLock lock(&mu);
    threads.insert(std::this_thread::get_id());
    return true;
  });
  second_done.Notify();
  first.join();
  EXPECT_EQ(threads, std::set<std::thread::id>{caller});

  // Alone inside Run, a call is helped again: a range that waits for another would block
  // forever on its caller alone.
  absl::Notification a, b;
  fan.Run(2, 1, [&](size_t begin, size_t) {
    (begin == 0 ? a : b).Notify();
    EXPECT_TRUE((begin == 0 ? b : a).WaitForNotificationWithTimeout(absl::Seconds(30)));
    return true;
  });
}

// After a range returns false no new range starts.
TEST(FanOutTest, StopsAfterFalse) {
  FanOut fan(0);
  std::vector<size_t> begins;
  fan.Run(100, 10, [&](size_t begin, size_t) {
    begins.push_back(begin);
    return begin < 30;
  });
  EXPECT_EQ(begins, (std::vector<size_t>{0, 10, 20, 30}));

  FanOut helped(2);
  std::atomic<int> started{0};
  helped.Run(1000, 1, [&](size_t, size_t) {
    started.fetch_add(1);
    return false;
  });
  // Each thread (the caller and two helpers) starts at most one range before seeing the stop.
  EXPECT_GE(started.load(), 1);
  EXPECT_LE(started.load(), 3);
}

// Calls from several threads at once share the helpers without losing or repeating items, and
// a call whose helpers are busy elsewhere still completes on its caller.
TEST(FanOutTest, ConcurrentCalls) {
  FanOut fan(2);
  constexpr int kCallers = 6;
  constexpr size_t kItems = 500;
  std::vector<std::thread> callers;
  std::vector<std::vector<std::atomic<int>>> seen(kCallers);
  for (auto& s : seen) s = std::vector<std::atomic<int>>(kItems);
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&, c] {
      for (int round = 0; round < 20; ++round) {
        fan.Run(kItems, 3, [&](size_t begin, size_t end) {
          for (size_t i = begin; i < end; ++i) seen[c][i].fetch_add(1);
          return true;
        });
      }
    });
  }
  for (auto& t : callers) t.join();
  for (int c = 0; c < kCallers; ++c) {
    for (size_t i = 0; i < kItems; ++i) ASSERT_EQ(seen[c][i].load(), 20) << c << " " << i;
  }
}

}  // namespace
}  // namespace arbiter
