// The one evaluation path of the server, shared by the gRPC services and the HTTP (Trino)
// endpoint: takes the active snapshot once, evaluates, counts the outcome in metrics and writes
// the decision log line. Transport-neutral: callers convert their wire formats to engine
// requests and map absl::Status to their own status codes.
//
// Thread-safe.
#ifndef ARBITER_SERVICE_SERVER_DECIDER_H_
#define ARBITER_SERVICE_SERVER_DECIDER_H_

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "service/decision_log/decision_log.h"
#include "service/engine/bundle.h"
#include "service/impact/impact.h"
#include "service/metrics/metrics.h"
#include "service/redact/redact.h"
#include "service/server/bundle_manager.h"
#include "service/server/fan_out.h"

namespace arbiter {

// Who asked, for the decision log.
struct CallerInfo {
  std::string peer;       // transport address
  std::string identity;   // from the verified client certificate, or "anonymous"
  std::string role;       // the role the identity maps to ("" when none)
  std::string claimed;    // a client-set x-arbiter-caller, recorded beside the identity only
  std::string transport;  // "grpc" or "http"
  // The caller asked for the evaluations' traces (`explain`) and its role may have them (the
  // transport checked authz::Operation::kExplain): the engine traces, Decision::trace is set.
  bool explain = false;
};

// The metrics the server exports; registered once in a Registry.
struct ServerMetrics {
  explicit ServerMetrics(metrics::Registry& registry);
  // Series that can appear are created at 0 here (and per domain by InitDomain), so that rate()
  // and absent() alerts see them before the first event.
  metrics::CounterFamily& decisions;      // kind, effect, domain, transport
  metrics::CounterFamily& errors;         // kind, code
  metrics::HistogramFamily& latency;      // kind
  metrics::CounterFamily& policy_faults;  // policy, type
  metrics::CounterFamily& reloads;        // outcome
  metrics::GaugeFamily& bundle_info;      // revision, digest
  metrics::GaugeFamily& last_reload_ok;
  metrics::GaugeFamily& last_reload_success_time;  // unix seconds
  metrics::GaugeFamily& last_reload_failure_time;  // unix seconds, 0 before any failure
  metrics::CounterFamily& rejected_calls;          // reason
  metrics::CounterFamily& authz_denied;            // method, reason
  metrics::GaugeFamily& build_info;                // version

  // Creates the decision series of `domain` (a domain of a newly loaded bundle) at 0.
  void InitDomain(const std::string& domain);
};

class Decider {
 public:
  // `log` may be null (decision logging off). All pointers must outlive the Decider. `redactor`
  // applies to each request's JSON before its log line is written.
  // `batch_helpers` threads help decide the checks of a batch (FanOut); -1 = one per core
  // besides the caller's.
  Decider(BundleManager* bundles, DecisionLog* log, ServerMetrics* metrics,
          redact::Redactor redactor = {}, int batch_helpers = -1);

  // Evaluates `request` on the active snapshot; the log line renders the engine request and
  // decision (service/decision_json, the shape of docs/decision-json.md). Errors are the engine's
  // (INVALID_ARGUMENT, DEADLINE_EXCEEDED, INTERNAL) plus FAILED_PRECONDITION when no bundle is
  // loaded.
  absl::StatusOr<Decision> Decide(const Request& request, absl::Time deadline,
                                  const CallerInfo& caller);

  // Evaluates several access requests on ONE snapshot; one result per request, in order.
  // `requests` is consumed (moved into the engine's requests one by one): pass it with std::move
  // unless a copy is wanted. `principal` and `keep` as for DecideBatchOn.
  using KeepFn = std::function<void(size_t index, Decision& decision)>;
  std::vector<absl::StatusOr<Decision>> DecideBatch(std::vector<AccessRequest> requests,
                                                    absl::Time deadline, const CallerInfo& caller,
                                                    std::string* revision,
                                                    const SharedPrincipal* principal = nullptr,
                                                    const KeepFn& keep = nullptr);
  // The same on `bundle`, a snapshot the caller holds, so that a batch decided in parts sees
  // one revision. The checks are spread over the calling thread and idle helper threads
  // (FanOut), a chunk of kBatchChunk at a time. Past the deadline no further chunk starts and
  // the result ends at the first DEADLINE_EXCEEDED (the last result then); checks decided in
  // time are logged. `principal`, when set, is every request's principal (theirs are left
  // empty): a batch holds one, the log shows it on each line.
  // `keep`, when set, is called with each decision made (and its index in `requests`) on the
  // thread that made it, after its log line is made (the chunk's lines are appended together at
  // its end); what it leaves in the decision is what the result holds. A caller that needs only
  // part of each decision (CheckBatch: the decision's response bytes) takes it there and frees
  // the rest while it is in that core's cache, instead of holding a hundred whole decisions for
  // the calling thread to read and free. It is called from several threads at once, never twice
  // for one index.
  std::vector<absl::StatusOr<Decision>> DecideBatchOn(const Bundle& bundle,
                                                      std::vector<AccessRequest> requests,
                                                      absl::Time deadline, const CallerInfo& caller,
                                                      const SharedPrincipal* principal = nullptr,
                                                      const KeepFn& keep = nullptr);
  // Makes check `index` of a batch in `check`, on the thread that decides it: `check` is the
  // check that thread decided last in the same chunk (empty for a chunk's first). A maker can
  // keep what consecutive checks share (their strings' room, their common context) instead of
  // allocating each check anew, and each check is then the deciding core's own memory: a
  // batch's checks made by the calling thread were read first, from the other core's cache, by
  // whichever helper decided them. Called from several threads at once, never twice for one
  // index.
  using MakeFn = std::function<void(size_t index, AccessRequest& check)>;
  // `count` checks made by `make`, decided as DecideBatchOn decides its requests, each decision
  // handed to `take` (called as DecideBatchOn's `keep` is) instead of returned. Returns each
  // check's status in order (OK for one decided), ending as DecideBatchOn's result does. For a
  // caller that keeps a little of each decision (Trino's answers: the effect and the obligations):
  // a thousand statuses are 8 KB, where a thousand decisions are ~380 KB that the calling thread
  // makes, each deciding core writes and the calling thread reads back, line by line from the other
  // core's cache.
  std::vector<absl::Status> DecideBatchInto(const Bundle& bundle, size_t count, const MakeFn& make,
                                            const KeepFn& take, absl::Time deadline,
                                            const CallerInfo& caller,
                                            const SharedPrincipal* principal = nullptr);

  // Deployments get the blast radius of their breaking changes (req.change.impact,
  // service/impact) from the decision log at `log_path` and its rotations up to `max_files`,
  // read newest first within `options` (window, byte/line/time caps; `now` and the deadline are
  // the request's). A path of "" or "-" reads the in-memory recent decisions instead. Lines are
  // as the log wrote them, so readers appear redacted as the log redacts them. One scan runs at
  // a time: concurrent deployments wait (each scan is bounded by options.limits.max_time and
  // the caller's deadline). Call before serving.
  void SetImpactSource(std::string log_path, int max_files, impact::Options options);

  ServerMetrics& metrics() { return *metrics_; }
  BundleManager& bundles() { return *bundles_; }
  DecisionLog* log() { return log_; }

 private:
  // What the checks of one chunk of a batch share on the thread that decides them.
  struct Chunk {
    explicit Chunk(const Bundle& bundle) : session(bundle) {}
    Bundle::Session session;         // one worker set for all of them
    DecisionLog::Lines log_lines;    // logged together at the chunk's end, in one buffer
    Request check{AccessRequest()};  // the check being decided (MakeFn's `check`)
    // The next of the decision ids taken for the chunk at once, one per check (one update of
    // the counter all cores share, not one per check).
    uint64_t next_id = 0;
  };
  // `chunk`: the batch chunk the check is decided in (null: a call of its own).
  absl::StatusOr<Decision> DecideOn(const Bundle& bundle, const Request& request,
                                    absl::Time deadline, const CallerInfo& caller,
                                    const SharedPrincipal* principal = nullptr,
                                    Chunk* chunk = nullptr);
  // The id of the next decision: "%016x-%08x" of the process's prefix and a counter.
  std::string NextDecisionId() { return DecisionId(id_counter_.value.fetch_add(1) + 1); }
  // The id of counter value `n`.
  std::string DecisionId(uint64_t n) const;
  // The decisions counter of these labels, looked up once per label set and kept (the
  // registry's lookup builds a vector of strings and takes the family's mutex).
  metrics::Counter& DecisionCounter(Kind kind, Effect effect, const std::string& domain,
                                    const std::string& transport);
  // DecisionCounter past the thread's cache: the lookup in counters_ (`slot` its index there).
  metrics::Counter& DecisionCounterSlow(size_t slot, Kind kind, Effect effect,
                                        const std::string& domain, const std::string& transport);

  BundleManager* bundles_;
  DecisionLog* log_;
  ServerMetrics* metrics_;
  const redact::Redactor redactor_;
  std::string impact_path_;
  int impact_max_files_ = 0;
  impact::Options impact_options_;
  absl::Mutex impact_mu_;  // one scan at a time
  const uint64_t id_prefix_;
  // This Decider among every one the process made (none is ever reused): tells a thread's
  // cached counters (DecisionCounter) from a destroyed Decider's.
  const uint64_t instance_ = NextInstance();
  static uint64_t NextInstance();
  // Incremented by every decision (by a batch's chunk at once) from every core: on a cache line
  // of its own (the type's alignment pads it to one), so that the fields read beside it per
  // decision are not invalidated by each increment.
  struct alignas(64) IdCounter {
    std::atomic<uint64_t> value{0};
  };
  IdCounter id_counter_;
  std::array<metrics::Histogram*, 3> latency_{};  // by Kind
  absl::Mutex counters_mu_;
  // By domain: kind x effect x transport (grpc, http).
  absl::flat_hash_map<std::string, std::array<metrics::Counter*, 12>> counters_
      ABSL_GUARDED_BY(counters_mu_);
  // Checks per claimed range: big enough that claiming costs nothing against deciding (~10 µs
  // each), small enough that a 100-check batch spreads over a few cores.
  static constexpr size_t kBatchChunk = 8;
  FanOut fan_out_;
};

}  // namespace arbiter

#endif  // ARBITER_SERVICE_SERVER_DECIDER_H_
