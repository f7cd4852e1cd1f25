#include "service/engine/worker_pool.h"

#include <atomic>
#include <cstdint>

#include "absl/strings/str_cat.h"

namespace arbiter {

absl::StatusOr<std::unique_ptr<WorkerSet>> WorkerSet::Create(
    const EngineLimits& limits, const absl::flat_hash_set<const Value*>* stable,
    size_t num_policies) {
  std::unique_ptr<WorkerSet> w(new WorkerSet());
  auto g = LuaSandbox::Create(limits, stable);
  if (!g.ok()) return g.status();
  w->global = *std::move(g);
  w->handles.assign(num_policies, -1);
  w->states.assign(num_policies, nullptr);
  w->limits_ = &limits;
  w->stable_ = stable;
  return w;
}

absl::Status WorkerSet::LoadPolicy(size_t i, const PolicyInfo& policy, absl::string_view source,
                                   PolicySpec& spec, absl::Time deadline) {
  LuaSandbox* state = global.get();
  if (!policy.domain.empty()) {
    std::unique_ptr<LuaSandbox>& slot = domains[policy.domain];
    if (slot == nullptr) {
      auto s = LuaSandbox::Create(*limits_, stable_);
      if (!s.ok()) {
        return absl::Status(s.status().code(),
                            absl::StrCat(policy.file, ":1: ", s.status().message()));
      }
      slot = *std::move(s);
    }
    state = slot.get();
  }
  absl::StatusOr<int> handle = state->LoadPolicy(policy.file, source, spec, deadline);
  if (!handle.ok()) return handle.status();
  handles[i] = *handle;
  states[i] = state;
  return absl::OkStatus();
}

void WorkerSet::Use(LuaSandbox* state) {
  for (size_t k = 0; k < num_used_; ++k) {
    if (used_[k] == state) return;
  }
  if (num_used_ < used_.size()) {
    used_[num_used_++] = state;
  } else {
    all_used_ = true;
  }
}

bool WorkerSet::EndEvaluation() {
  bool ok = true;
  if (num_used_ == 0 || all_used_) {
    global->EndEvaluation();
    for (auto& [d, s] : domains) s->EndEvaluation();
    ok = healthy();
  } else {
    // The states no check ran in have nothing to end, and are as healthy as when they were
    // pooled (the pool only keeps healthy sets).
    for (size_t k = 0; k < num_used_; ++k) {
      used_[k]->EndEvaluation();
      ok = ok && used_[k]->healthy();
    }
  }
  num_used_ = 0;
  all_used_ = false;
  return ok;
}

bool WorkerSet::healthy() const {
  if (!global->healthy()) return false;
  for (const auto& [d, s] : domains) {
    if (!s->healthy()) return false;
  }
  return true;
}

namespace {

// The set this thread gave back last, and to which pool (by its id: a later pool may reuse an
// address). The set is only compared with the pooled ones, never followed.
struct LastRelease {
  uint64_t pool = 0;
  const WorkerSet* set = nullptr;
};
thread_local LastRelease last_release;

uint64_t NextPoolId() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

WorkerPool::WorkerPool(const EngineLimits& limits, const std::vector<PolicyInfo>& policies,
                       const std::vector<std::string>& sources,
                       const absl::flat_hash_set<const Value*>* stable)
    : limits_(limits), policies_(policies), sources_(sources), stable_(stable), id_(NextPoolId()) {}

WorkerPool::Lease::~Lease() {
  if (set_ == nullptr) return;  // moved from, or dropped by EndEvaluation
  bool healthy = ended_ || set_->EndEvaluation();
  pool_->Release(std::move(set_), healthy);
}

bool WorkerPool::Lease::EndEvaluation() {
  ended_ = true;
  if (set_->EndEvaluation()) return true;
  set_.reset();  // as Release drops an unhealthy set: the next Acquire builds a fresh one
  return false;
}

absl::StatusOr<WorkerPool::Lease> WorkerPool::Acquire() const {
  {
    absl::MutexLock lock(&mu_);
    if (!sets_.empty()) {
      // The set this thread used last when it is free (else the one given back last): its
      // states' heaps are in this core's caches. Taken in turn, two threads deciding one batch
      // swapped sets at every chunk, and each chunk began with the other core's memory.
      size_t pick = sets_.size() - 1;
      if (last_release.pool == id_) {
        for (size_t i = 0; i < sets_.size(); ++i) {
          if (sets_[i].get() == last_release.set) {
            pick = i;
            break;
          }
        }
      }
      std::unique_ptr<WorkerSet> w = std::move(sets_[pick]);
      if (pick != sets_.size() - 1) sets_[pick] = std::move(sets_.back());
      sets_.pop_back();
      return Lease(this, std::move(w));
    }
  }
  absl::StatusOr<std::unique_ptr<WorkerSet>> w = NewWorkerSet();
  if (!w.ok()) {
    return absl::InternalError(absl::StrCat("cannot prepare policies: ", w.status().message()));
  }
  return Lease(this, *std::move(w));
}

void WorkerPool::Add(std::unique_ptr<WorkerSet> set) const {
  // Every pooled set is healthy throughout: a lease then only checks the states it used.
  if (!set->healthy()) return;
  absl::MutexLock lock(&mu_);
  sets_.push_back(std::move(set));
}

absl::StatusOr<std::unique_ptr<WorkerSet>> WorkerPool::NewWorkerSet() const {
  auto w = WorkerSet::Create(limits_, stable_, policies_.size());
  if (!w.ok()) return w.status();
  for (size_t i = 0; i < policies_.size(); ++i) {
    PolicySpec spec;
    if (absl::Status s = (*w)->LoadPolicy(i, policies_[i], sources_[i], spec); !s.ok()) return s;
  }
  return w;
}

void WorkerPool::Release(std::unique_ptr<WorkerSet> set, bool healthy) const {
  if (!healthy) return;  // dropped; the next Acquire builds a fresh one
  last_release = {id_, set.get()};
  absl::MutexLock lock(&mu_);
  sets_.push_back(std::move(set));
}

}  // namespace arbiter
