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
// So the limit follows what calls cost: while the decisions' moving average time stays within
// `slow_after` and the calls' within `long_after` (each call weighs 1/64 in both), up to
// `fast_limit` of them (the CPU budget) run inline at once; calls past those wait for a callback
// thread inside gRPC, ~long_after / fast_limit each at most for each call ahead of them, and are
// admitted or refused when they get one. Once either average passes its bound (a stretch of slow
// calls, or one past 64 times it), only `slow_limit` (one) runs inline, which leaves gRPC a thread
// to admit calls with, and so the CallGate sees every call and refuses those past its limit at
// once, until `hold` after an average last passed its bound. The calls that make an average pass
// are the bounded exception: at most fast_limit of them hold their threads for their own
// duration, itself bounded by the call's deadline.
//
// Two averages, because a call may make many decisions (CheckBatch): slow policies show in the
// time per decision, which a batch of fast ones must not hide; how long a thread is held shows in
// the time per call, which a batch's size must not make look like slow policies. With the one
// average of the calls' time, against 1 ms, CheckBatch of 100 checks with the shipped bundle and
// the decision log (0.7 ms of CPU, 1-1.6 ms of wall time on 2 shared cores under load) made the
// server hand off every call but one at a time: 4.3-5.3 thread switches per call instead of
// 2.8-3.0, and ~1 µs more server CPU per decision (bench/README.md).
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
    // Against the moving average of the decisions' wall time (a call's time divided by the
    // decisions it made), which counts the time the kernel ran other threads (the thread's own
    // CPU clock would not, but reading it is a system call, 1.3 µs here, twice per call): under
    // 64 connections on 2 shared cores, of 60,000 CheckAccess calls of ~40 µs, 184 took 1-5 ms
    // and 4 took 5-10 ms. An average, not each call, so that such stragglers do not count as
    // slow decisions.
    absl::Duration slow_after = absl::Milliseconds(1);
    // Against the moving average of the calls' wall time: a batch of 100 fast checks takes
    // 1-1.6 ms under load on 2 shared cores; one of the 1,000 that max_batch_size allows, ~10 ms.
    absl::Duration long_after = absl::Milliseconds(5);
    absl::Duration hold = absl::Seconds(2);
  };

  explicit InlineDecisions(const Options& options);

  // Monotonic nanoseconds: what the two calls below take.
  static int64_t NowNanos();

  // Whether a call arriving at `now` may be decided on the thread that received it. If so, the
  // caller runs it and then calls Leave().
  bool TryEnter(int64_t now);
  void Leave();

  // A call that made `decisions` decisions (at least one counts) between `start` and `end`,
  // inline or on a worker: it moves the averages, and an average past its bound makes the limit
  // slow_limit until `hold` after `end`.
  void Took(int64_t start, int64_t end, int64_t decisions = 1);

  // The limit in force at `now`: what TryEnter compares with.
  int LimitAt(int64_t now) const;

 private:
  const int fast_limit_;
  const int slow_limit_;
  const int64_t slow_after_;
  const int64_t long_after_;
  const int64_t hold_;
  std::atomic<int> running_{0};
  // The moving averages, of a decision's time and of a call's: updated without a lock, so that
  // two calls ending together may lose one's sample, which a heuristic can afford.
  std::atomic<int64_t> decision_average_{0};
  std::atomic<int64_t> call_average_{0};
  std::atomic<int64_t> slow_until_{INT64_MIN};
};

}  // namespace arbiter

#endif  // ARBITER_SERVICE_SERVER_INLINE_DECISIONS_H_
