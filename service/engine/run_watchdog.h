// A per-process watchdog that interrupts runs which outlast their deadline, on the thread that
// runs them, from a signal handler.
//
// The Lua sandbox runs a policy first without any hook (lua_sandbox.cc): the VM then cannot stop
// by itself, so something outside it must. A thread brackets such a run with Begin/End; a
// watchdog thread scans every running thread's slot about once a millisecond and, for a run past
// its deadline, sends that thread a signal (kSignal) whose handler calls the run's interrupt
// function. The interrupt function runs in signal-handler context on the running thread: it
// must be async-signal-safe (the sandbox's only calls lua_sethook, which Lua documents as
// callable from a signal, as lua.c does on Ctrl-C). It is called again about every tick until
// the run ends, so an interrupt that Lua loses to a race is repeated.
//
// Slots are per thread, registered on a thread's first Begin and unregistered when the thread
// exits (a thread_local destructor), under the mutex the watchdog scans with, so the watchdog
// never signals a thread that has gone. A signal that arrives after its run ended (or for an
// older run of the thread) is ignored: each run has its own id.
//
// The watchdog thread starts with the first Begin of the process; after about a second without
// any run it parks on a condition variable, and the next Begin wakes it (one atomic load on
// Begin's path while it is awake).
//
// Thread-safe. Not for use across fork() without exec.
#ifndef ARBITER_SERVICE_ENGINE_RUN_WATCHDOG_H_
#define ARBITER_SERVICE_ENGINE_RUN_WATCHDOG_H_

#include <csignal>
#include <cstdint>

namespace arbiter {

class RunWatchdog {
 public:
  // SIGURG: ignored by default, so a stray one (e.g. sent to a thread outside any run, or to a
  // process that never installed the handler) does nothing; nothing else in arbiterd uses it.
  // Installed with SA_RESTART.
  static constexpr int kSignal = SIGURG;

  // Called on the running thread, in signal-handler context, with the `arg` given to Begin.
  using InterruptFn = void (*)(void* arg);

  // The watchdog's clock: CLOCK_MONOTONIC, in nanoseconds. Not the wall clock: a step of the
  // system clock (settimeofday, an NTP step) would otherwise move every deadline by as much, and
  // a run could go on past its bound for the length of the step.
  static int64_t NowNanos();

  // Starts a run on the calling thread that should end by `deadline_ns` (on NowNanos's clock).
  // Past it, `interrupt(arg)` is called on this
  // thread until End. Runs do not nest. Returns false, and watches nothing, when this thread
  // blocks kSignal (it could not be interrupted): the caller must then bound the run itself.
  static bool Begin(int64_t deadline_ns, InterruptFn interrupt, void* arg);

  // Ends the calling thread's run, if any: no interrupt is called for it from now on.
  static void End();

  // Signals sent to runs past their deadline since the process started (some may have found
  // their run already ended).
  static int64_t signals_sent();

  // For tests: one scan as the watchdog thread makes it, as if the time were `now_ns`; the
  // number of threads registered.
  static void ScanForTesting(int64_t now_ns);
  static int registered_threads_for_testing();
  // Whether the watchdog is parked (no run for about a second).
  static bool parked_for_testing();
};

}  // namespace arbiter

#endif  // ARBITER_SERVICE_ENGINE_RUN_WATCHDOG_H_
