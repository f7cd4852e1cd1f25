// The gRPC handler layer: arbiter.v1 DecisionService and PolicyService, and DecisionCalls, which
// Envoy's ext_authz door (service/envoy) serves its Check through. The only code that knows
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
#include "google/protobuf/arena.h"
#include "google/protobuf/message.h"
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

// Where a raw request message is decoded: its strings and sub-messages are carved from one
// block (on the stack for requests of common size) and dropped at once, instead of a malloc and
// a free each. A bigger message (a batch) continues in heap blocks sized from its wire size.
class RequestArena {
 public:
  explicit RequestArena(size_t wire_bytes = 0);
  template <typename Message>
  Message* Create() {
    return google::protobuf::Arena::CreateMessage<Message>(&arena_);
  }

 private:
  static google::protobuf::ArenaOptions Options(char (&block)[4096], size_t wire_bytes);
  alignas(8) char block_[4096];
  google::protobuf::Arena arena_;
};

// Decodes a raw request; a message that does not decode is the caller's error
// (INVALID_ARGUMENT naming the message type).
grpc::Status ParseRaw(const grpc::ByteBuffer& raw, google::protobuf::Message* msg);

// Decision calls on gRPC's callback API, with raw (undecoded) messages: arbiter.v1's
// DecisionService and Envoy's ext_authz Check share one of these, so one CPU budget and one set
// of workers.
// - admission (CallGate) happens when the call arrives, on gRPC's thread, so that an overload is
//   RESOURCE_EXHAUSTED at once instead of a queue inside gRPC;
// - a call is decided on the gRPC thread that received it (no thread switch) while fewer than
//   InlineDecisions' limit are, and handed to DecisionWorkers otherwise: while calls are fast
//   the limit is the CPU budget, and after a slow one it is one, so that gRPC's few callback
//   threads are not all held by slow policies and keep admitting or refusing calls.
class DecisionCalls {
 public:
  // All pointers must outlive this.
  DecisionCalls(Decider* decider, const ServerConfig* config, CallGate* gate,
                const authz::Authorizer* authorizer);

  // Authorizes (authz::Operation::kDecide) and admits the call, then runs `work` for the
  // authenticated caller (inline or on a worker) and finishes the call with its status; on OK,
  // `work` has written the response message. `work` is called as
  // grpc::Status(CallerInfo&, int64_t& decisions): the caller, whose `explain` it may set, and
  // the number of decisions the call makes (1 unless `work` says more: a batch's checks), which
  // InlineDecisions weighs the call's time by.
  template <typename Work>
  grpc::ServerUnaryReactor* Serve(grpc::CallbackServerContext* ctx, absl::string_view method,
                                  Work&& work);

  Decider& decider() const { return *decider_; }
  const ServerConfig& config() const { return *config_; }

 private:
  Decider* decider_;
  const ServerConfig* config_;
  CallGate* gate_;
  const authz::Authorizer* authorizer_;
  InlineDecisions inline_;
  DecisionWorkers workers_;
};

template <typename Work>
grpc::ServerUnaryReactor* DecisionCalls::Serve(grpc::CallbackServerContext* ctx,
                                               absl::string_view method, Work&& work) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  absl::StatusOr<authz::Caller> caller =
      Admit(ctx, *authorizer_, authz::Operation::kDecide, method, decider_->metrics());
  if (!caller.ok()) {
    reactor->Finish(ToGrpcStatus(caller.status()));
    return reactor;
  }
  if (absl::Status s = gate_->Enter(); !s.ok()) {
    decider_->metrics()
        .rejected_calls
        .WithLabels({s.code() == absl::StatusCode::kUnavailable ? "draining" : "overload"})
        .Increment();
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
  // `work` is held by value in `run` (no std::function of its own): a call decided inline
  // allocates nothing here; one handed to a worker becomes its job.
  // The peer's address is for the decision log only (building it allocates).
  auto run = [this, reactor, work = std::forward<Work>(work),
              who = ToCallerInfo(*caller, decider_->log() != nullptr ? ctx->peer() : std::string(),
                                 "grpc")]() mutable {
    const int64_t start = InlineDecisions::NowNanos();
    int64_t decisions = 1;
    grpc::Status status = work(who, decisions);
    inline_.Took(start, InlineDecisions::NowNanos(), decisions);
    gate_->Leave();
    reactor->Finish(status);
  };
  if (inline_.TryEnter(InlineDecisions::NowNanos())) {
    run();
    inline_.Leave();
  } else {
    workers_.Run(std::move(run));
  }
  return reactor;
}

// DecisionService on DecisionCalls:
// - a request that does not decode is INVALID_ARGUMENT (gRPC's own decoding would answer
//   UNIMPLEMENTED before any handler ran);
// - CheckAccess and CheckBatch decode the common wire shapes straight into engine requests
//   (access_wire.h), protobuf the rest.
class DecisionServiceImpl final
    : public v1::DecisionService::WithRawCallbackMethod_CheckAccess<
          v1::DecisionService::WithRawCallbackMethod_CheckProduct<
              v1::DecisionService::WithRawCallbackMethod_CheckDeployment<
                  v1::DecisionService::WithRawCallbackMethod_CheckBatch<
                      v1::DecisionService::Service>>>> {
 public:
  explicit DecisionServiceImpl(DecisionCalls* calls) : calls_(calls) {}

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
  // The gRPC-independent parts of one decision call.
  grpc::Status Decide(grpc::CallbackServerContext* ctx, const CallerInfo& caller,
                      const Request& request, grpc::ByteBuffer* out);
  grpc::Status Batch(grpc::CallbackServerContext* ctx, const CallerInfo& caller, WireBatch batch,
                     grpc::ByteBuffer* out);

  DecisionCalls* calls_;
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
