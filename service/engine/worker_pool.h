// The Lua states a bundle's evaluations run in, pooled: a worker set holds every policy of the
// bundle compiled, one state for the global policies and one per domain that has policies. A
// domain's state is only ever reached by that domain's requests, so what a domain policy keeps
// between calls can never leak into another domain's decisions.
//
// An evaluation leases a set for its duration (WorkerPool::Lease); the lease ends the
// evaluation on the set's states and returns the set to the pool, or drops it when a memory
// abort left a state unhealthy (the next lease then builds a fresh one). The pool grows to the
// number of threads that evaluate at once; a thread gets back the set it gave back last when
// that one is free, so that a set's memory stays with one core. Internal to the engine.
#ifndef ARBITER_SERVICE_ENGINE_WORKER_POOL_H_
#define ARBITER_SERVICE_ENGINE_WORKER_POOL_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "service/engine/bundle.h"
#include "service/engine/combine.h"
#include "service/engine/lua_sandbox.h"
#include "service/value/value.h"

namespace arbiter {

// What one evaluation builds and drops, kept with the worker set it runs on so that the next
// evaluation on the set reuses its storage instead of allocating it again (Bundle::Evaluate):
// a set is one thread's at a time, and so is this. Between evaluations it holds the last
// request's tree (and so keeps a batch's shared principal alive until the next one), reachable
// from no policy: the views into it died with the evaluation.
struct EvaluationScratch {
  Value req;  // the request tree, rebuilt in place (FillRequestTree)
  Value ctx;
  std::vector<int> global_handles;
  std::vector<int> domain_handles;
  std::vector<CheckOutcome> outcomes;
  Selection selection;
  std::vector<PolicyFinding> findings;
  // The set's own reference to its bundle's table of policy ids, which its decisions' policy
  // lists share (PolicyIdList): the same table, counted in a block of the set's own. Copies of
  // the bundle's one reference moved its count's cache line between the cores at every
  // decision (twice: the copy and its release), on every core deciding at once.
  std::shared_ptr<const std::vector<std::string>> policy_ids;
};

// One Lua state for the global policies and one per domain; thread-compatible.
class WorkerSet {
 public:
  // An empty set: the global state only, no policy loaded (handles all -1). `stable` as for
  // LuaSandbox::Create; it and `limits` must outlive the set.
  static absl::StatusOr<std::unique_ptr<WorkerSet>> Create(
      const EngineLimits& limits, const absl::flat_hash_set<const Value*>* stable,
      size_t num_policies);

  // Loads policy `i` (`policy`, its `source`) into the state it runs in (the global one, or its
  // domain's, created on first use) with LuaSandbox::LoadPolicy, which reads its table into
  // `spec`, and sets handles[i] and states[i]. INVALID_ARGUMENT "file:line: message" when it
  // does not load; the error of LuaSandbox::Create, as "file:1: message", when its domain's
  // state cannot be made.
  absl::Status LoadPolicy(size_t i, const PolicyInfo& policy, absl::string_view source,
                          PolicySpec& spec, absl::Time deadline = absl::InfiniteFuture());
  // Names a state an evaluation runs checks in, before it runs them: only those have an
  // evaluation to end and can have turned unhealthy, so EndEvaluation ends and checks only them
  // (a set has a state per domain, and a request reaches two at most). While none is named (a
  // lease taken to look at the states), EndEvaluation takes every state.
  void Use(LuaSandbox* state);
  // Ends one evaluation on the states named by Use (LuaSandbox::EndEvaluation), or on every
  // state, and forgets the names. False when one of those states is no longer healthy.
  bool EndEvaluation();
  bool healthy() const;  // every state

  std::unique_ptr<LuaSandbox> global;
  absl::flat_hash_map<std::string, std::unique_ptr<LuaSandbox>> domains;
  std::vector<int> handles;  // per policy index: LuaSandbox::LoadPolicy's handle, -1 when none
  std::vector<LuaSandbox*> states;  // per policy index: the state it is loaded in, null when none
  EvaluationScratch scratch;

 private:
  WorkerSet() = default;
  const EngineLimits* limits_ = nullptr;
  const absl::flat_hash_set<const Value*>* stable_ = nullptr;
  std::array<LuaSandbox*, 2> used_{};
  size_t num_used_ = 0;
  bool all_used_ = false;  // more states were named than used_ holds
};

// Worker sets for one bundle. Everything the constructor takes must outlive the pool.
// Thread-safe.
class WorkerPool {
 public:
  // `sources[i]` is the source of `policies[i]`.
  WorkerPool(const EngineLimits& limits, const std::vector<PolicyInfo>& policies,
             const std::vector<std::string>& sources,
             const absl::flat_hash_set<const Value*>* stable);

  // A set borrowed for one evaluation (or one look at the states): on destruction it ends the
  // evaluation and goes back to the pool.
  class Lease {
   public:
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    WorkerSet* operator->() const { return set_.get(); }
    WorkerSet& operator*() const { return *set_; }

    // For a lease kept over several evaluations (Bundle::Session): ends the one that ran, as
    // the destructor would, and keeps the set for the next. False when a state is no longer
    // healthy: the set is then dropped (as the destructor would), and the lease holds none.
    // Once ended, the set goes back to the pool with the lease as it is.
    bool EndEvaluation();
    bool holds_set() const { return set_ != nullptr; }

   private:
    friend class WorkerPool;
    Lease(const WorkerPool* pool, std::unique_ptr<WorkerSet> set)
        : pool_(pool), set_(std::move(set)) {}
    const WorkerPool* pool_;
    std::unique_ptr<WorkerSet> set_;
    bool ended_ = false;  // EndEvaluation ended the evaluation that ran last
  };

  // A pooled set, or a new one with every policy loaded. INTERNAL when a policy that loaded
  // before no longer does (a state cannot be created within the memory limit, say).
  absl::StatusOr<Lease> Acquire() const;

  // Adds a set whose policies are all loaded (the one Bundle::Load compiled with).
  void Add(std::unique_ptr<WorkerSet> set) const;

 private:
  absl::StatusOr<std::unique_ptr<WorkerSet>> NewWorkerSet() const;
  // Back to the pool; dropped when `healthy` is false (the next Acquire builds a fresh set).
  void Release(std::unique_ptr<WorkerSet> set, bool healthy) const;

  const EngineLimits& limits_;
  const std::vector<PolicyInfo>& policies_;
  const std::vector<std::string>& sources_;
  const absl::flat_hash_set<const Value*>* stable_;
  const uint64_t id_;  // never reused: which pool a thread's last released set came from
  mutable absl::Mutex mu_;
  mutable std::vector<std::unique_ptr<WorkerSet>> sets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace arbiter

#endif  // ARBITER_SERVICE_ENGINE_WORKER_POOL_H_
