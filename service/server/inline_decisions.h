// Which decision calls run on the gRPC thread that received them, and which are handed to the
// decision workers.
//
// A hand-off costs a wake-up and two thread switches per call: on the 2-core CI machine,
// CheckAccess with the shipped bundle took 53-68 µs of server CPU per call with one decision
// inline at a time and the rest handed off, 38-46 µs with every call decided where it arrived
// (bench/side_by_side.py). But a gRPC callback thread that is deciding neither admits nor refuses
// other calls: gRPC has few of them (two on a 2-core machine), and if slow policies held them all,
// calls would wait inside gRPC instead of getting RESOURCE_EXHAUSTED from the CallGate at once.
//
// So the limit follows what calls cost: while the calls' moving average time (each call weighs
// 1/64) stays within `slow_after`, up to `fast_limit` of them (the CPU budget) run inline at once;
// calls past those wait for a callback thread inside gRPC, ~slow_after / fast_limit each at most
// for each call ahead of them, and are admitted or refused when they get one. Once the average
// passes `slow_after` (a stretch of slow calls, or one past 64 times it), only `slow_limit` (one)
// runs inline, which leaves gRPC a thread to admit calls with, and so the CallGate sees every
// call and refuses those past its limit at once, until `hold` after the average last passed it.
// The calls that make the average pass are the bounded exception: at most fast_limit of them
// hold their threads for their own duration, itself bounded by the call's deadline.
#ifndef ARBITER_SERVICE_SERVER_INLINE_DECISIONS_H_
#define ARBITER_SERVICE_SERVER_INLINE_DECISIONS_H_

#include <atomic>
#include <cstdint>

#include "absl/time/time.h"

namespace arbiter {

class InlineDecisions {
 public:
  struct Options {
    int fast_limit = 2;
    int slow_limit = 1;
    // Against the moving average of the calls' wall time, which counts the time the kernel ran
    // other threads (the thread's own CPU clock would not, but reading it is a system call, 1.3 µs
    // here, twice per call): under 64 connections on 2 shared cores, of 60,000 CheckAccess calls
    // of ~40 µs, 184 took 1-5 ms and 4 took 5-10 ms. An average, not each call, so that such
    // stragglers do not count as slow decisions.
    absl::Duration slow_after = absl::Milliseconds(1);
    absl::Duration hold = absl::Seconds(2);
  };

  explicit InlineDecisions(const Options& options);

  // Monotonic nanoseconds: what the two calls below take.
  static int64_t NowNanos();

  // Whether a call arriving at `now` may be decided on the thread that received it. If so, the
  // caller runs it and then calls Leave().
  bool TryEnter(int64_t now);
  void Leave();

  // A call decided between `start` and `end`, inline or on a worker: it moves the average, and
  // an average past slow_after makes the limit slow_limit until `hold` after `end`.
  void Took(int64_t start, int64_t end);

  // The limit in force at `now`: what TryEnter compares with.
  int LimitAt(int64_t now) const;

 private:
  const int fast_limit_;
  const int slow_limit_;
  const int64_t slow_after_;
  const int64_t hold_;
  std::atomic<int> running_{0};
  // The moving average: updated without a lock, so that two calls ending together may lose
  // one's sample, which a heuristic can afford.
  std::atomic<int64_t> average_{0};
  std::atomic<int64_t> slow_until_{INT64_MIN};
};

}  // namespace arbiter

#endif  // ARBITER_SERVICE_SERVER_INLINE_DECISIONS_H_
