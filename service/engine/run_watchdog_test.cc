// RunWatchdog: a run past its deadline is interrupted on its own thread; a run that ended, or
// one not yet due, is not; a thread that exits leaves no slot behind.
#include "service/engine/run_watchdog.h"

#include <atomic>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace arbiter {
namespace {

constexpr int64_t kHour = int64_t{3600} * 1000 * 1000 * 1000;

thread_local bool tls_in_run = false;

struct Probe {
  std::atomic<int> calls{0};
  std::atomic<bool> on_the_running_thread{true};
};

// Runs in the signal handler: atomics and a thread_local bool only.
void Interrupt(void* arg) {
  auto* p = static_cast<Probe*>(arg);
  if (!tls_in_run) p->on_the_running_thread.store(false);
  p->calls.fetch_add(1);
}

// Spins (as a runaway Lua loop would) until interrupted; false when nothing came in a minute
// (the watchdog ticks every millisecond; the bound is only there to fail instead of hanging).
bool SpinUntilInterrupted(const Probe& p) {
  const absl::Time give_up = absl::Now() + absl::Minutes(1);
  while (p.calls.load() == 0) {
    if (absl::Now() > give_up) return false;
  }
  return true;
}

TEST(RunWatchdogTest, ARunPastItsDeadlineIsInterruptedOnItsThread) {
  Probe p;
  const int64_t signals = RunWatchdog::signals_sent();
  std::thread t([&] {
    tls_in_run = true;
    ASSERT_TRUE(RunWatchdog::Begin(RunWatchdog::NowNanos() - 1, Interrupt, &p));
    EXPECT_TRUE(SpinUntilInterrupted(p));
    RunWatchdog::End();
    tls_in_run = false;
  });
  t.join();
  EXPECT_GE(p.calls.load(), 1);
  EXPECT_TRUE(p.on_the_running_thread.load());
  EXPECT_GT(RunWatchdog::signals_sent(), signals);
}

TEST(RunWatchdogTest, TheWatchdogThreadItselfStopsARunaway) {
  // The same on the test's main thread, twice: the second run gets a new id and is interrupted
  // again (the first run's interrupt does not count for it).
  for (int i = 0; i < 2; ++i) {
    Probe p;
    tls_in_run = true;
    ASSERT_TRUE(RunWatchdog::Begin(RunWatchdog::NowNanos() + 2'000'000, Interrupt, &p));
    EXPECT_TRUE(SpinUntilInterrupted(p));
    RunWatchdog::End();
    tls_in_run = false;
    EXPECT_TRUE(p.on_the_running_thread.load());
  }
}

TEST(RunWatchdogTest, AFinishedRunIsNotSignalled) {
  Probe p;
  // Due in an hour: the watchdog thread leaves it alone; the scans below pretend the hour passed.
  ASSERT_TRUE(RunWatchdog::Begin(RunWatchdog::NowNanos() + kHour, Interrupt, &p));
  RunWatchdog::End();
  const int64_t signals = RunWatchdog::signals_sent();
  for (int i = 0; i < 3; ++i) RunWatchdog::ScanForTesting(RunWatchdog::NowNanos() + 2 * kHour);
  EXPECT_EQ(RunWatchdog::signals_sent(), signals);
  EXPECT_EQ(p.calls.load(), 0);
}

TEST(RunWatchdogTest, ARunBeforeItsDeadlineIsNotSignalled) {
  Probe p;
  ASSERT_TRUE(RunWatchdog::Begin(RunWatchdog::NowNanos() + kHour, Interrupt, &p));
  const int64_t signals = RunWatchdog::signals_sent();
  RunWatchdog::ScanForTesting(RunWatchdog::NowNanos());
  EXPECT_EQ(RunWatchdog::signals_sent(), signals);
  EXPECT_EQ(p.calls.load(), 0);
  // An hour later it is.
  tls_in_run = true;
  RunWatchdog::ScanForTesting(RunWatchdog::NowNanos() + 2 * kHour);
  EXPECT_TRUE(SpinUntilInterrupted(p));
  RunWatchdog::End();
  tls_in_run = false;
  EXPECT_EQ(RunWatchdog::signals_sent(), signals + 1);
}

TEST(RunWatchdogTest, AnExitedThreadLeavesNoSlot) {
  std::atomic<bool> registered{false};
  const int before = RunWatchdog::registered_threads_for_testing();
  std::thread t([&] {
    Probe p;
    // Ends without End (as if the thread died mid-run): its slot must still go with it.
    ASSERT_TRUE(RunWatchdog::Begin(RunWatchdog::NowNanos() + kHour, Interrupt, &p));
    registered.store(RunWatchdog::registered_threads_for_testing() == before + 1);
  });
  t.join();
  EXPECT_TRUE(registered.load());
  EXPECT_EQ(RunWatchdog::registered_threads_for_testing(), before);
  // Scanning as if its deadline had passed signals nothing (it would be a dead thread).
  const int64_t signals = RunWatchdog::signals_sent();
  RunWatchdog::ScanForTesting(RunWatchdog::NowNanos() + 2 * kHour);
  EXPECT_EQ(RunWatchdog::signals_sent(), signals);
}

TEST(RunWatchdogTest, AParkedWatchdogWakesForTheNextRun) {
  // Idle for about a second, the watchdog parks on its condition variable; the next run must
  // wake it, or a runaway after a quiet spell would never be stopped. (Polls for the parked
  // state, up to a minute; not a timing assertion.)
  Probe warm;
  ASSERT_TRUE(RunWatchdog::Begin(RunWatchdog::NowNanos() + kHour, Interrupt, &warm));
  RunWatchdog::End();
  const absl::Time give_up = absl::Now() + absl::Minutes(1);
  while (!RunWatchdog::parked_for_testing() && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_TRUE(RunWatchdog::parked_for_testing());
  Probe p;
  tls_in_run = true;
  ASSERT_TRUE(RunWatchdog::Begin(RunWatchdog::NowNanos() - 1, Interrupt, &p));
  EXPECT_TRUE(SpinUntilInterrupted(p));
  RunWatchdog::End();
  tls_in_run = false;
  EXPECT_TRUE(p.on_the_running_thread.load());
}

TEST(RunWatchdogTest, AThreadThatBlocksTheSignalIsRefused) {
  std::thread t([] {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, RunWatchdog::kSignal);
    pthread_sigmask(SIG_BLOCK, &s, nullptr);
    Probe p;
    EXPECT_FALSE(RunWatchdog::Begin(RunWatchdog::NowNanos() - 1, Interrupt, &p));
    RunWatchdog::End();
  });
  t.join();
}

}  // namespace
}  // namespace arbiter
