#include "service/server/fan_out.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>

#include "absl/cleanup/cleanup.h"

namespace arbiter {

// One Run's shared state. Helpers hold it by shared_ptr: one that picks the call up after the
// caller has returned finds no range left and touches nothing but these counters.
struct FanOut::Call {
  size_t n = 0;
  size_t chunk = 1;
  const std::function<bool(size_t, size_t)>* work = nullptr;
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  // Threads inside Drain. The caller waits for 0 after the ranges ran out; a helper that enters
  // later cannot claim a range (next >= n), so it never reaches `work`.
  std::atomic<int> active{0};
  absl::Mutex mu;
};

FanOut::FanOut(int helpers) {
  for (int i = 0; i < helpers; ++i)
    threads_.emplace_back([this] {
      pthread_setname_np(pthread_self(), "arb-fan-out");
      Loop();
    });
}

FanOut::~FanOut() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

void FanOut::Drain(Call& call) {
  call.active.fetch_add(1);
  for (;;) {
    if (call.stop.load(std::memory_order_relaxed)) break;
    size_t begin = call.next.fetch_add(call.chunk);
    if (begin >= call.n) break;
    if (!(*call.work)(begin, std::min(call.n, begin + call.chunk))) call.stop.store(true);
  }
  absl::MutexLock lock(&call.mu);  // the caller's wait reads `active` under this lock
  call.active.fetch_sub(1);
}

void FanOut::Run(size_t n, size_t chunk, const std::function<bool(size_t, size_t)>& work) {
  if (n == 0) return;
  chunk = std::max<size_t>(chunk, 1);
  // With as many callers inside Run as there are helpers and caller together (one per core of
  // the budget), the callers already keep every core busy: a helper would only take turns with
  // them, and costs a hand-off per chunk it takes (its reads of data the caller wrote).
  const int others = running_.fetch_add(1);
  absl::Cleanup leave = [this] { running_.fetch_sub(1); };
  if (threads_.empty() || n <= chunk || others >= helpers()) {
    for (size_t begin = 0; begin < n; begin += chunk) {
      if (!work(begin, std::min(n, begin + chunk))) return;
    }
    return;
  }
  auto call = std::make_shared<Call>();
  call->n = n;
  call->chunk = chunk;
  call->work = &work;
  {
    absl::MutexLock lock(&mu_);
    // One entry per helper that could usefully join; idle helpers take them at once.
    size_t wanted = std::min(threads_.size(), (n + chunk - 1) / chunk - 1);
    for (size_t i = 0; i < wanted; ++i) calls_.push_back(call);
  }
  Drain(*call);
  // Entries no helper took are now useless: drop them so that helpers do not wake for nothing.
  {
    absl::MutexLock lock(&mu_);
    calls_.erase(std::remove(calls_.begin(), calls_.end(), call), calls_.end());
  }
  absl::MutexLock lock(&call->mu);
  call->mu.Await(absl::Condition(
      +[](Call* c) { return c->active.load() == 0; }, call.get()));
}

void FanOut::Loop() {
  for (;;) {
    std::shared_ptr<Call> call;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](FanOut* f)
               ABSL_NO_THREAD_SAFETY_ANALYSIS { return f->stopping_ || !f->calls_.empty(); },
          this));
      if (stopping_) return;
      call = std::move(calls_.front());
      calls_.pop_front();
    }
    Drain(*call);
  }
}

}  // namespace arbiter
