#include "service/engine/run_watchdog.h"

#include <pthread.h>

#include <atomic>
#include <cerrno>
#include <ctime>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace arbiter {
namespace {

// How often the watchdog looks while runs happen: a run is interrupted within about this much
// of its deadline (plus scheduling).
constexpr absl::Duration kTick = absl::Milliseconds(1);
// Ticks without any run before the watchdog parks (an idle server does not wake 1000 times a
// second).
constexpr int kIdleTicksBeforeParking = 1000;

// One thread's run. Written by the owning thread (Begin/End), read by the watchdog (under
// Watchdog::mu) and by the signal handler on the owning thread: hence atomics.
struct Slot {
  explicit Slot(pthread_t t) : thread(t) {}
  const pthread_t thread;
  std::atomic<uint64_t> run{0};  // id of the run in progress; 0: none
  std::atomic<int64_t> deadline_ns{0};
  std::atomic<RunWatchdog::InterruptFn> interrupt{nullptr};
  std::atomic<void*> arg{nullptr};
  std::atomic<uint64_t> target{0};  // the run the watchdog signalled for
  uint64_t last_id = 0;             // owning thread only
  bool interruptible = true;        // owning thread only: it does not block kSignal
  uint64_t seen = 0;                // watchdog only: `run` at its last scan
};
static_assert(std::atomic<uint64_t>::is_always_lock_free &&
              std::atomic<int64_t>::is_always_lock_free &&
              std::atomic<RunWatchdog::InterruptFn>::is_always_lock_free &&
              std::atomic<void*>::is_always_lock_free);

// The calling thread's slot as the signal handler reads it: a constant-initialized pointer
// (no TLS init wrapper), so reading it is async-signal-safe. Null before registration and once
// the thread's slot is being torn down.
constinit thread_local Slot* tls_slot = nullptr;

// Set by the watchdog while it waits for a run (parked); Begin wakes it.
constinit std::atomic<bool> g_parked{false};
// False when the watchdog could not be set up (no thread, no handler): Begin refuses.
constinit std::atomic<bool> g_available{true};
constinit std::atomic<int64_t> g_signals{0};
struct sigaction g_previous;  // kSignal's handler before ours, chained for signals not ours

void OnSignal(int sig, siginfo_t* info, void* uctx) {
  const int saved_errno = errno;
  bool ours = false;
  if (Slot* s = tls_slot; s != nullptr) {
    const uint64_t id = s->run.load(std::memory_order_acquire);
    if (id != 0 && s->target.load(std::memory_order_acquire) == id) {
      ours = true;
      if (RunWatchdog::InterruptFn fn = s->interrupt.load(std::memory_order_acquire)) {
        fn(s->arg.load(std::memory_order_acquire));
      }
    }
  }
  if (!ours) {  // a late one (its run ended), or someone else's: theirs, if they had a handler
    if ((g_previous.sa_flags & SA_SIGINFO) != 0) {
      if (g_previous.sa_sigaction != nullptr) g_previous.sa_sigaction(sig, info, uctx);
    } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN &&
               g_previous.sa_handler != nullptr) {
      g_previous.sa_handler(sig);
    }
  }
  errno = saved_errno;
}

class Watchdog {
 public:
  // Made (handler installed, thread started) by the first registration; never destroyed, as
  // threads may exit (and unregister) during the process's exit.
  static Watchdog& Get() {
    static Watchdog* w = new Watchdog();
    return *w;
  }

  void Add(Slot* s) {
    absl::MutexLock l(&mu_);
    slots_.push_back(s);
  }
  void Remove(Slot* s) {
    absl::MutexLock l(&mu_);
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i] == s) {
        slots_[i] = slots_.back();
        slots_.pop_back();
        break;
      }
    }
  }
  void Wake() {
    absl::MutexLock l(&mu_);
    g_parked.store(false, std::memory_order_seq_cst);
    wake_.Signal();
  }
  void ScanNow(int64_t now_ns) {
    absl::MutexLock l(&mu_);
    Scan(now_ns);
  }
  int threads() {
    absl::MutexLock l(&mu_);
    return static_cast<int>(slots_.size());
  }

 private:
  Watchdog() {
    struct sigaction sa = {};
    sa.sa_sigaction = OnSignal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    pthread_t t;
    if (sigaction(RunWatchdog::kSignal, &sa, &g_previous) != 0 ||
        pthread_create(&t, nullptr, &Watchdog::Main, this) != 0) {
      g_available.store(false);
      return;
    }
    pthread_setname_np(t, "arb-run-watch");
    pthread_detach(t);
  }

  static void* Main(void* self) {
    // Process-directed signals (SIGTERM...) are for the server's own threads.
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    static_cast<Watchdog*>(self)->Loop();
    return nullptr;
  }

  void Loop() {
    int idle = 0;
    for (;;) {
      absl::SleepFor(kTick);
      absl::MutexLock l(&mu_);
      if (Scan(RunWatchdog::NowNanos())) {
        idle = 0;
        continue;
      }
      if (++idle < kIdleTicksBeforeParking) continue;
      // Dekker with Begin (both sides seq_cst): Begin stores its run, then loads g_parked; we
      // store g_parked, then scan. Either this scan sees the run or Begin sees the flag and
      // wakes us.
      g_parked.store(true, std::memory_order_seq_cst);
      if (!Scan(RunWatchdog::NowNanos())) {
        while (g_parked.load(std::memory_order_seq_cst)) wake_.Wait(&mu_);
      }
      g_parked.store(false, std::memory_order_seq_cst);
      idle = 0;
    }
  }

  // Signals each run past its deadline; true when any thread ran something since the last scan
  // (or is running now).
  bool Scan(int64_t now_ns) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    bool active = false;
    for (Slot* s : slots_) {
      const uint64_t id = s->run.load(std::memory_order_seq_cst);
      if (id != s->seen) {
        s->seen = id;
        active = true;
      }
      if (id == 0) continue;
      active = true;
      const int64_t deadline = s->deadline_ns.load(std::memory_order_acquire);
      // The deadline read may belong to a later run that began meanwhile: then `run` changed.
      if (now_ns < deadline || s->run.load(std::memory_order_acquire) != id) continue;
      s->target.store(id, std::memory_order_release);
      // The thread is alive: it removes its slot (under mu_) before it exits.
      pthread_kill(s->thread, RunWatchdog::kSignal);
      g_signals.fetch_add(1, std::memory_order_relaxed);
    }
    return active;
  }

  absl::Mutex mu_;
  absl::CondVar wake_;
  std::vector<Slot*> slots_ ABSL_GUARDED_BY(mu_);
};

// Unregisters the thread's slot when the thread exits.
struct SlotOwner {
  Slot* slot = nullptr;
  ~SlotOwner() {
    if (slot == nullptr) return;
    tls_slot = nullptr;  // a signal still in flight finds no slot
    std::atomic_signal_fence(std::memory_order_seq_cst);
    Watchdog::Get().Remove(slot);
    delete slot;
  }
};
thread_local SlotOwner tls_owner;

Slot* RegisterThisThread() {
  Watchdog& w = Watchdog::Get();  // installs the handler and starts the watchdog, once
  auto* s = new Slot(pthread_self());
  sigset_t blocked;
  s->interruptible = pthread_sigmask(SIG_BLOCK, nullptr, &blocked) == 0 &&
                     sigismember(&blocked, RunWatchdog::kSignal) == 0;
  tls_owner.slot = s;
  w.Add(s);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  tls_slot = s;
  return s;
}

}  // namespace

bool RunWatchdog::Begin(int64_t deadline_ns, InterruptFn interrupt, void* arg) {
  Slot* s = tls_slot;
  if (s == nullptr) s = RegisterThisThread();
  if (!s->interruptible || !g_available.load(std::memory_order_relaxed)) return false;
  s->deadline_ns.store(deadline_ns, std::memory_order_release);
  s->interrupt.store(interrupt, std::memory_order_release);
  s->arg.store(arg, std::memory_order_release);
  s->run.store(++s->last_id, std::memory_order_seq_cst);
  if (g_parked.load(std::memory_order_seq_cst)) Watchdog::Get().Wake();
  return true;
}

void RunWatchdog::End() {
  if (Slot* s = tls_slot; s != nullptr) s->run.store(0, std::memory_order_release);
  // What the caller does next (e.g. clear a hook the interrupt set) stays after this store, as
  // the signal handler on this thread sees it.
  std::atomic_signal_fence(std::memory_order_seq_cst);
}

int64_t RunWatchdog::signals_sent() { return g_signals.load(std::memory_order_relaxed); }

int64_t RunWatchdog::NowNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

void RunWatchdog::ScanForTesting(int64_t now_ns) { Watchdog::Get().ScanNow(now_ns); }

int RunWatchdog::registered_threads_for_testing() { return Watchdog::Get().threads(); }

bool RunWatchdog::parked_for_testing() { return g_parked.load(); }

}  // namespace arbiter
