// The gRPC handler layer: arbiter.v1 DecisionService and PolicyService. The only code that knows
// gRPC; it converts protos to engine requests (service/convert), enforces the server's limits
// (concurrency, batch size, deadlines, draining) and maps absl::Status to grpc::Status.
#ifndef ARBITER_SERVICE_SERVER_GRPC_SERVICES_H_
#define ARBITER_SERVICE_SERVER_GRPC_SERVICES_H_

#include <atomic>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "arbiter/v1/decision_service.grpc.pb.h"
#include "arbiter/v1/policy_service.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "service/authz/authz.h"
#include "service/convert/access_wire.h"
#include "service/dryrun/dry_run.h"
#include "service/server/config.h"
#include "service/server/decider.h"
#include "service/server/inline_decisions.h"

namespace arbiter {

// absl::Status -> grpc::Status (the codes are the same numbers).
grpc::Status ToGrpcStatus(const absl::Status& status);

// The identity a verified client certificate stands for (SPIFFE URI SAN, then DNS SAN, then
// subject CN), from a call's auth context; "" without one.
std::string CertificateIdentity(const grpc::AuthContext* auth);

// The caller of a gRPC call as authorization knows it: the identity of its verified client
// certificate (SPIFFE URI SAN, then DNS SAN, then subject CN), else "anonymous"; the client-set
// x-arbiter-caller header only as `claimed`.
authz::Caller IdentifyGrpcCaller(grpc::ServerContextBase* ctx, const authz::Authorizer& authorizer);

// Identifies the caller and authorizes `op` for it; PERMISSION_DENIED (counted in
// arbiter_authz_denied_total by method and reason) otherwise. Every handler starts here.
absl::StatusOr<authz::Caller> Admit(grpc::ServerContextBase* ctx,
                                    const authz::Authorizer& authorizer, authz::Operation op,
                                    absl::string_view method, ServerMetrics& metrics);

// The decision log's view of a caller.
CallerInfo ToCallerInfo(const authz::Caller& caller, std::string peer, std::string transport);

// Admission control shared by every handler: at most `max` calls in progress (more get
// RESOURCE_EXHAUSTED at once rather than queueing without bound), and none once draining
// (UNAVAILABLE). Thread-safe.
class CallGate {
 public:
  explicit CallGate(int max) : max_(max) {}
  // OK and a slot taken, or the status to answer with.
  absl::Status Enter();
  void Leave() { in_flight_.fetch_sub(1, std::memory_order_relaxed); }
  void StartDraining() { draining_.store(true); }
  bool draining() const { return draining_.load(); }
  int in_flight() const { return in_flight_.load(); }

 private:
  const int max_;
  std::atomic<int> in_flight_{0};
  std::atomic<bool> draining_{false};
};

// Releases a CallGate slot when the handler returns (take the slot with CallGate::Enter first).
class GateSlot {
 public:
  explicit GateSlot(CallGate* gate) : gate_(gate) {}
  ~GateSlot() {
    if (gate_ != nullptr) gate_->Leave();
  }
  GateSlot(const GateSlot&) = delete;
  GateSlot& operator=(const GateSlot&) = delete;

 private:
  CallGate* gate_;
};

// The evaluation deadline of a call: the client's, or config.default_deadline when it set none,
// capped at config.max_deadline.
absl::Time DeadlineOf(grpc::ServerContextBase* ctx, const ServerConfig& config);

// Runs decisions handed over by the callback handlers on a fixed set of threads. Thread-safe.
class DecisionWorkers {
 public:
  explicit DecisionWorkers(int threads);
  ~DecisionWorkers();  // runs what was queued, then joins
  void Run(std::function<void()> job);

 private:
  void Loop();
  absl::Mutex mu_;
  std::deque<std::function<void()>> jobs_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

// DecisionService on gRPC's callback API, with raw (undecoded) messages:
// - a request that does not decode is INVALID_ARGUMENT (gRPC's own decoding would answer
//   UNIMPLEMENTED before any handler ran);
// - admission (CallGate) happens when the call arrives, on gRPC's thread, so that an overload is
//   RESOURCE_EXHAUSTED at once instead of a queue inside gRPC;
// - a call is decided on the gRPC thread that received it (no thread switch) while fewer than
//   InlineDecisions' limit are, and handed to DecisionWorkers otherwise: while calls are fast
//   the limit is the CPU budget, and after a slow one it is one, so that gRPC's few callback
//   threads are not all held by slow policies and keep admitting or refusing calls.
class DecisionServiceImpl final
    : public v1::DecisionService::WithRawCallbackMethod_CheckAccess<
          v1::DecisionService::WithRawCallbackMethod_CheckProduct<
              v1::DecisionService::WithRawCallbackMethod_CheckDeployment<
                  v1::DecisionService::WithRawCallbackMethod_CheckBatch<
                      v1::DecisionService::Service>>>> {
 public:
  DecisionServiceImpl(Decider* decider, const ServerConfig* config, CallGate* gate,
                      const authz::Authorizer* authorizer);

  grpc::ServerUnaryReactor* CheckAccess(grpc::CallbackServerContext* ctx,
                                        const grpc::ByteBuffer* req,
                                        grpc::ByteBuffer* out) override;
  grpc::ServerUnaryReactor* CheckProduct(grpc::CallbackServerContext* ctx,
                                         const grpc::ByteBuffer* req,
                                         grpc::ByteBuffer* out) override;
  grpc::ServerUnaryReactor* CheckDeployment(grpc::CallbackServerContext* ctx,
                                            const grpc::ByteBuffer* req,
                                            grpc::ByteBuffer* out) override;
  grpc::ServerUnaryReactor* CheckBatch(grpc::CallbackServerContext* ctx,
                                       const grpc::ByteBuffer* req, grpc::ByteBuffer* out) override;

 private:
  // Authorizes and admits the call, then runs `work` for the authenticated caller (inline or
  // on a worker) and finishes the call with its status; on OK, `work` has written the
  // response message into `*response`.
  // `work` is called as grpc::Status(CallerInfo&): the caller, whose `explain` it may set.
  template <typename Work>
  grpc::ServerUnaryReactor* Serve(grpc::CallbackServerContext* ctx, absl::string_view method,
                                  Work&& work);
  // The gRPC-independent parts of one decision call.
  grpc::Status Decide(grpc::CallbackServerContext* ctx, const CallerInfo& caller,
                      const Request& request, grpc::ByteBuffer* out);
  grpc::Status Batch(grpc::CallbackServerContext* ctx, const CallerInfo& caller, WireBatch batch,
                     grpc::ByteBuffer* out);

  Decider* decider_;
  const ServerConfig* config_;
  CallGate* gate_;
  const authz::Authorizer* authorizer_;
  InlineDecisions inline_;
  DecisionWorkers workers_;
};

// DryRun is provided by the dry-run module through this hook (see service/dryrun); `access`
// carries what the caller's role lets it submit and see.
using DryRunHandler = std::function<absl::StatusOr<v1::DryRunResponse>(
    const v1::DryRunRequest&, absl::Time deadline, const DryRunAccess& access)>;

// How many candidate bundles (ValidateBundle, DryRun) load at once; more get RESOURCE_EXHAUSTED:
// a candidate is the caller's Lua, compiled and run at load.
inline constexpr int kMaxConcurrentCandidates = 2;

class PolicyServiceImpl final : public v1::PolicyService::Service {
 public:
  PolicyServiceImpl(Decider* decider, const ServerConfig* config, CallGate* gate,
                    const authz::Authorizer* authorizer, DryRunHandler dry_run)
      : decider_(decider),
        config_(config),
        gate_(gate),
        authorizer_(authorizer),
        dry_run_(std::move(dry_run)) {}

  grpc::Status GetStatus(grpc::ServerContext* ctx, const v1::GetStatusRequest* req,
                         v1::GetStatusResponse* out) override;
  grpc::Status ListPolicies(grpc::ServerContext* ctx, const v1::ListPoliciesRequest* req,
                            v1::ListPoliciesResponse* out) override;
  grpc::Status Reload(grpc::ServerContext* ctx, const v1::ReloadRequest* req,
                      v1::ReloadResponse* out) override;
  grpc::Status ValidateBundle(grpc::ServerContext* ctx, const v1::ValidateBundleRequest* req,
                              v1::ValidateBundleResponse* out) override;
  grpc::Status DryRun(grpc::ServerContext* ctx, const v1::DryRunRequest* req,
                      v1::DryRunResponse* out) override;

 private:
  // What a caller's role lets it do with a candidate bundle: paths inside bundle_roots, and
  // for domain roles only their own files and recorded decisions.
  DryRunAccess AccessFor(const authz::Caller& caller) const;

  Decider* decider_;
  const ServerConfig* config_;
  CallGate* gate_;
  const authz::Authorizer* authorizer_;
  DryRunHandler dry_run_;
  std::atomic<int> candidates_{0};
};

// Splits a load error status into its "file:line: message" lines.
std::vector<std::string> LoadErrorLines(const absl::Status& status);

}  // namespace arbiter

#endif  // ARBITER_SERVICE_SERVER_GRPC_SERVICES_H_
