#include "service/server/grpc_services.h"

#include <pthread.h>

#include <algorithm>
#include <optional>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/util/time_util.h"
#include "service/convert/access_wire.h"
#include "service/convert/convert.h"
#include "service/explain/explain.h"
#include "service/server/cpu_budget.h"
#include "service/server/decision_wire.h"

namespace arbiter {

absl::Time DeadlineOf(grpc::ServerContextBase* ctx, const ServerConfig& config) {
  absl::Time now = absl::Now();
  absl::Time client = absl::FromChrono(ctx->deadline());
  absl::Time deadline = ctx->deadline() == std::chrono::system_clock::time_point::max()
                            ? now + config.default_deadline
                            : client;
  return std::min(deadline, now + config.max_deadline);
}

std::vector<std::string> AuthProperty(const grpc::AuthContext& auth, const char* name) {
  std::vector<std::string> out;
  for (const grpc::string_ref& v : auth.FindPropertyValues(name))
    out.emplace_back(v.data(), v.size());
  return out;
}

// Releases a candidate-load slot when the handler returns.
class CandidateSlot {
 public:
  explicit CandidateSlot(std::atomic<int>* count) : count_(count) {}
  ~CandidateSlot() { count_->fetch_sub(1); }
  CandidateSlot(const CandidateSlot&) = delete;
  CandidateSlot& operator=(const CandidateSlot&) = delete;

 private:
  std::atomic<int>* count_;
};

absl::Status TakeCandidateSlot(std::atomic<int>& count) {
  if (count.fetch_add(1) >= kMaxConcurrentCandidates) {
    count.fetch_sub(1);
    return absl::ResourceExhaustedError(absl::StrCat(
        "the server is already loading ", kMaxConcurrentCandidates, " candidate bundles; retry"));
  }
  return absl::OkStatus();
}

namespace {

google::protobuf::Timestamp ToTimestamp(absl::Time t) {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

std::string CertificateIdentity(const grpc::AuthContext* auth) {
  // Peer identity is set only for a certificate the TLS handshake verified against client_ca.
  if (auth == nullptr || !auth->IsPeerAuthenticated()) return "";
  std::vector<std::string> cn = AuthProperty(*auth, GRPC_X509_CN_PROPERTY_NAME);
  return authz::ChooseCertificateIdentity(AuthProperty(*auth, GRPC_PEER_URI_PROPERTY_NAME),
                                          AuthProperty(*auth, GRPC_PEER_DNS_PROPERTY_NAME),
                                          cn.empty() ? "" : cn.front());
}

authz::Caller IdentifyGrpcCaller(grpc::ServerContextBase* ctx,
                                 const authz::Authorizer& authorizer) {
  std::shared_ptr<const grpc::AuthContext> auth = ctx->auth_context();
  std::string identity = CertificateIdentity(auth.get());
  authz::Caller c = authorizer.Identify(identity, !identity.empty());
  const auto& md = ctx->client_metadata();
  if (auto it = md.find("x-arbiter-caller"); it != md.end()) {
    c.claimed = authz::SanitizeClaim(absl::string_view(it->second.data(), it->second.size()));
  }
  return c;
}

absl::StatusOr<authz::Caller> Admit(grpc::ServerContextBase* ctx,
                                    const authz::Authorizer& authorizer, authz::Operation op,
                                    absl::string_view method, ServerMetrics& metrics) {
  authz::Caller caller = IdentifyGrpcCaller(ctx, authorizer);
  if (absl::Status s = authorizer.Authorize(caller, op); !s.ok()) {
    metrics.authz_denied
        .WithLabels({std::string(method), caller.role.has_value() ? "role" : "no_role"})
        .Increment();
    return s;
  }
  return caller;
}

// A decision call that asks for `explain`: tracing on for the caller when its role may have the
// trace (authz::Operation::kExplain, governance), else PERMISSION_DENIED, counted as a refused
// call. Refusing rather than ignoring tells a caller that expected a trace why it has none.
absl::Status AllowExplain(CallerInfo& caller, bool asked, absl::string_view method,
                          ServerMetrics& metrics) {
  if (!asked) return absl::OkStatus();
  if (absl::Status s = authz::Authorizer::AuthorizeRoleName(caller.identity, caller.role,
                                                            authz::Operation::kExplain);
      !s.ok()) {
    metrics.authz_denied.WithLabels({std::string(method), caller.role.empty() ? "no_role" : "role"})
        .Increment();
    return s;
  }
  caller.explain = true;
  return absl::OkStatus();
}

CallerInfo ToCallerInfo(const authz::Caller& caller, std::string peer, std::string transport) {
  CallerInfo c;
  c.peer = std::move(peer);
  c.identity = caller.identity;
  c.role = caller.role.has_value() ? caller.role->Name() : "";
  c.claimed = caller.claimed;
  c.transport = std::move(transport);
  return c;
}

absl::Status CallGate::Enter() {
  if (draining_.load()) return absl::UnavailableError("server is shutting down");
  if (in_flight_.fetch_add(1, std::memory_order_relaxed) >= max_) {
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    return absl::ResourceExhaustedError("server is at its limit of concurrent calls; retry");
  }
  return absl::OkStatus();
}

std::vector<std::string> LoadErrorLines(const absl::Status& status) {
  std::vector<std::string> lines = absl::StrSplit(status.message(), '\n', absl::SkipEmpty());
  // The first line of a bundle error is a summary ("bundle X has N errors:").
  if (lines.size() > 1 && absl::StartsWith(lines[0], "bundle")) lines.erase(lines.begin());
  return lines;
}

namespace {

// The request's bytes in one piece: the buffer's own slice when it is one (a small message),
// else a copy into `hold`. nullopt when the buffer cannot be read (protobuf then reports it).
std::optional<absl::string_view> Flat(const grpc::ByteBuffer& raw, grpc::Slice& hold) {
  if (!raw.TrySingleSlice(&hold).ok() && !raw.DumpToSingleSlice(&hold).ok()) return std::nullopt;
  return absl::string_view(reinterpret_cast<const char*>(hold.begin()), hold.size());
}

// The engine request for a product or deployment message (their documents may not parse).
template <typename Proto>
absl::StatusOr<Request> ToRequest(const Proto& req) {
  auto r = FromProto(req);
  if (!r.ok()) return r.status();
  return Request(*std::move(r));
}

}  // namespace

// A request of common size decodes in the stack block. Decoded, a check takes about four times
// its wire bytes (message objects, string headers): a bigger message continues in blocks of
// that size rather than in the arena's default blocks of 256 bytes growing to 8 KiB (a dozen of
// them for a batch of 100 checks); at most 32 KiB each, since glibc consolidates its free lists
// on every free of 64 KiB or more.
RequestArena::RequestArena(size_t wire_bytes) : arena_(Options(block_, wire_bytes)) {}

google::protobuf::ArenaOptions RequestArena::Options(char (&block)[4096], size_t wire_bytes) {
  google::protobuf::ArenaOptions o;
  o.initial_block = block;
  o.initial_block_size = sizeof(block);
  constexpr size_t kMaxBlock = size_t{32} << 10;
  if (wire_bytes * 4 > sizeof(block)) {
    const size_t next = std::min(kMaxBlock, std::max(o.max_block_size, wire_bytes * 4));
    o.start_block_size = next;
    o.max_block_size = next;
  }
  return o;
}

grpc::Status ParseRaw(const grpc::ByteBuffer& raw, google::protobuf::Message* msg) {
  grpc::ByteBuffer copy(raw);  // Deserialize consumes its buffer; this shares the slices
  grpc::Status s =
      grpc::GenericDeserialize<grpc::ProtoBufferReader, google::protobuf::Message>(&copy, msg);
  if (s.ok()) return s;
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      absl::StrCat("request: not a valid ", msg->GetDescriptor()->full_name(),
                                   " message (", s.error_message(), ")"));
}

DecisionWorkers::DecisionWorkers(int threads) {
  for (int i = 0; i < threads; ++i)
    threads_.emplace_back([this] {
      pthread_setname_np(pthread_self(), "arb-decide");
      Loop();
    });
}

DecisionWorkers::~DecisionWorkers() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

void DecisionWorkers::Run(std::function<void()> job) {
  absl::MutexLock lock(&mu_);
  jobs_.push_back(std::move(job));
}

void DecisionWorkers::Loop() {
  for (;;) {
    std::function<void()> job;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](DecisionWorkers* w)
               ABSL_NO_THREAD_SAFETY_ANALYSIS { return w->stopping_ || !w->jobs_.empty(); },
          this));
      if (jobs_.empty()) return;  // stopping, and nothing left to run
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

DecisionCalls::DecisionCalls(Decider* decider, const ServerConfig* config, CallGate* gate,
                             const authz::Authorizer* authorizer)
    : decider_(decider),
      config_(config),
      gate_(gate),
      authorizer_(authorizer),
      inline_({.fast_limit = CpuBudget()}),
      workers_(config->WorkerThreads()) {}

grpc::Status DecisionServiceImpl::Decide(grpc::CallbackServerContext* ctx, const CallerInfo& caller,
                                         const Request& request, grpc::ByteBuffer* out) {
  absl::StatusOr<Decision> d =
      calls_->decider().Decide(request, DeadlineOf(ctx, calls_->config()), caller);
  if (!d.ok()) return ToGrpcStatus(d.status());
  // The answer's bytes straight from the engine's decision (no v1::Decision built and freed),
  // into the slice gRPC sends.
  grpc::Slice slice =
      DecisionWireSlice(*d, caller.explain ? FormatExplain(*d, KindOf(request)) : std::string());
  grpc::ByteBuffer buffer(&slice, 1);
  out->Swap(&buffer);
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* DecisionServiceImpl::CheckAccess(grpc::CallbackServerContext* ctx,
                                                           const grpc::ByteBuffer* req,
                                                           grpc::ByteBuffer* out) {
  return calls_->Serve(ctx, "CheckAccess", [this, ctx, req, out](CallerInfo& caller, int64_t&) {
    Request request(std::in_place_type<AccessRequest>);
    AccessRequest& access = std::get<AccessRequest>(request);
    bool explain = false;
    grpc::Slice flat;
    std::optional<absl::string_view> bytes = Flat(*req, flat);
    if (!bytes.has_value() || !AccessRequestFromWire(*bytes, access, explain)) {
      // What the wire decoder declines (access_wire.h), protobuf decodes or refuses.
      RequestArena arena;
      auto& msg = *arena.Create<v1::AccessRequest>();
      if (grpc::Status s = ParseRaw(*req, &msg); !s.ok()) return s;
      FromProto(msg, access);  // every field written, over what the decoder left
      explain = msg.explain();
    }
    if (absl::Status s = AllowExplain(caller, explain, "CheckAccess", calls_->decider().metrics());
        !s.ok()) {
      return ToGrpcStatus(s);
    }
    return Decide(ctx, caller, request, out);
  });
}

grpc::ServerUnaryReactor* DecisionServiceImpl::CheckProduct(grpc::CallbackServerContext* ctx,
                                                            const grpc::ByteBuffer* req,
                                                            grpc::ByteBuffer* out) {
  return calls_->Serve(ctx, "CheckProduct", [this, ctx, req, out](CallerInfo& caller, int64_t&) {
    RequestArena arena;
    auto& msg = *arena.Create<v1::ProductRequest>();
    if (grpc::Status s = ParseRaw(*req, &msg); !s.ok()) return s;
    if (absl::Status s =
            AllowExplain(caller, msg.explain(), "CheckProduct", calls_->decider().metrics());
        !s.ok()) {
      return ToGrpcStatus(s);
    }
    absl::StatusOr<Request> request = ToRequest(msg);
    if (!request.ok()) return ToGrpcStatus(request.status());
    return Decide(ctx, caller, *request, out);
  });
}

grpc::ServerUnaryReactor* DecisionServiceImpl::CheckDeployment(grpc::CallbackServerContext* ctx,
                                                               const grpc::ByteBuffer* req,
                                                               grpc::ByteBuffer* out) {
  return calls_->Serve(ctx, "CheckDeployment", [this, ctx, req, out](CallerInfo& caller, int64_t&) {
    RequestArena arena;
    auto& msg = *arena.Create<v1::DeploymentRequest>();
    if (grpc::Status s = ParseRaw(*req, &msg); !s.ok()) return s;
    if (absl::Status s =
            AllowExplain(caller, msg.explain(), "CheckDeployment", calls_->decider().metrics());
        !s.ok()) {
      return ToGrpcStatus(s);
    }
    absl::StatusOr<Request> request = ToRequest(msg);
    if (!request.ok()) return ToGrpcStatus(request.status());
    return Decide(ctx, caller, *request, out);
  });
}

grpc::ServerUnaryReactor* DecisionServiceImpl::CheckBatch(grpc::CallbackServerContext* ctx,
                                                          const grpc::ByteBuffer* req,
                                                          grpc::ByteBuffer* out) {
  return calls_->Serve(ctx, "CheckBatch", [this, ctx, req, out](CallerInfo& caller, int64_t& made) {
    WireBatch batch;
    grpc::Slice flat;
    std::optional<absl::string_view> bytes = Flat(*req, flat);
    if (!bytes.has_value() || !CheckBatchFromWire(*bytes, batch)) {
      // What the wire decoder declines (access_wire.h), protobuf decodes or refuses.
      batch = WireBatch();
      RequestArena arena(req->Length());
      auto& msg = *arena.Create<v1::CheckBatchRequest>();
      if (grpc::Status s = ParseRaw(*req, &msg); !s.ok()) return s;
      batch.explain_all = msg.explain();
      batch.requests.reserve(msg.requests_size());
      for (const v1::AccessRequest& r : msg.requests()) {
        batch.requests.push_back(FromProto(r));
        batch.explain.push_back(r.explain());
      }
    }
    bool asked = batch.explain_all;
    for (bool e : batch.explain) asked = asked || e;
    if (absl::Status s = AllowExplain(caller, asked, "CheckBatch", calls_->decider().metrics());
        !s.ok()) {
      return ToGrpcStatus(s);
    }
    made = static_cast<int64_t>(batch.requests.size());  // InlineDecisions weighs its time by them
    return Batch(ctx, caller, std::move(batch), out);
  });
}

grpc::Status DecisionServiceImpl::Batch(grpc::CallbackServerContext* ctx, const CallerInfo& caller,
                                        WireBatch batch, grpc::ByteBuffer* out) {
  const size_t items = batch.requests.size();
  if (items > static_cast<size_t>(calls_->config().max_batch_size)) {
    return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
        "requests: ", items, " items, over the limit of ", calls_->config().max_batch_size)));
  }
  // One principal for every check (the decoder found them all the same): converted once, and
  // req.principal's tree built once for the batch rather than per check.
  std::optional<SharedPrincipal> principal;
  if (batch.shared_principal.has_value()) principal.emplace(*std::move(batch.shared_principal));
  // CheckBatchResponse's bytes: the decisions (field 1) written straight from the engine's
  // (AppendDecisionField), then the errors and the revision (fields 2, 3) by protobuf: the same
  // bytes as the message serialized whole, without a v1::Decision per item. Each decision's
  // field is written by the thread that made it, once its log line is made, and the decision
  // freed there while it is in that core's cache: this thread joins bytes.
  std::vector<std::string> encoded(items);
  auto encode = [&](size_t i, Decision& d) {
    const bool explain = caller.explain && (batch.explain_all || batch.explain[i]);
    AppendDecisionField(1, d, explain ? FormatExplain(d, Kind::kAccess) : std::string(),
                        encoded[i]);
    d = Decision();
  };
  std::string revision;
  auto results =
      calls_->decider().DecideBatch(std::move(batch.requests), DeadlineOf(ctx, calls_->config()),
                                    caller, &revision, principal ? &*principal : nullptr, encode);
  v1::CheckBatchResponse rest;
  rest.set_bundle_revision(revision);
  size_t size = 64;
  for (const std::string& e : encoded) size += e.size();
  std::string bytes;
  bytes.reserve(size);
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].ok()) {
      bytes.append(encoded[i]);
      continue;
    }
    const absl::Status& s = results[i].status();
    // A deadline that passed fails the whole call: the remaining items were not decided either.
    if (s.code() == absl::StatusCode::kDeadlineExceeded) return ToGrpcStatus(s);
    auto* e = rest.add_errors();
    e->set_index(static_cast<int>(i));
    e->mutable_error()->set_code(static_cast<int>(s.code()));
    e->mutable_error()->set_message(absl::StrCat("requests[", i, "].", s.message()));
    AppendMessageField(1, "", bytes);  // an undecided item: an empty Decision
  }
  rest.AppendToString(&bytes);
  grpc::Slice slice(bytes);
  grpc::ByteBuffer buffer(&slice, 1);
  out->Swap(&buffer);
  return grpc::Status::OK;
}

grpc::Status PolicyServiceImpl::GetStatus(grpc::ServerContext* ctx, const v1::GetStatusRequest*,
                                          v1::GetStatusResponse* out) {
  if (auto caller =
          Admit(ctx, *authorizer_, authz::Operation::kGetStatus, "GetStatus", decider_->metrics());
      !caller.ok()) {
    return ToGrpcStatus(caller.status());
  }
  BundleManager& bundles = decider_->bundles();
  BundleManager::Status st = bundles.status();
  std::shared_ptr<const Bundle> b = bundles.Current();
  out->set_bundle_revision(st.revision);
  *out->mutable_loaded_at() = ToTimestamp(st.loaded_at);
  *out->mutable_last_load_attempt() = ToTimestamp(st.last_attempt);
  // The server's directory is a governance matter, not something every engine needs to learn.
  if (auto c = IdentifyGrpcCaller(ctx, *authorizer_);
      c.role.has_value() && c.role->kind == authz::Role::Kind::kGovernance) {
    out->set_bundle_path(bundles.dir());
  }
  out->set_last_load_error(st.last_error);
  out->set_reloads_succeeded(st.reloads_succeeded);
  out->set_reloads_failed(st.reloads_failed);
  if (b != nullptr) {
    std::map<std::string, int> counts;
    for (const PolicyInfo& p : b->policies()) counts[p.domain.empty() ? "global" : p.domain]++;
    for (const auto& [domain, n] : counts) {
      auto* dp = out->add_policies();
      dp->set_domain(domain);
      dp->set_policy_count(n);
    }
    out->set_catalog_products(static_cast<int>(b->catalog().products().size()));
    out->set_catalog_contracts(static_cast<int>(b->catalog().contracts().size()));
  }
  return grpc::Status::OK;
}

grpc::Status PolicyServiceImpl::ListPolicies(grpc::ServerContext* ctx,
                                             const v1::ListPoliciesRequest* req,
                                             v1::ListPoliciesResponse* out) {
  if (auto caller = Admit(ctx, *authorizer_, authz::Operation::kListPolicies, "ListPolicies",
                          decider_->metrics());
      !caller.ok()) {
    return ToGrpcStatus(caller.status());
  }
  std::shared_ptr<const Bundle> b = decider_->bundles().Current();
  if (b == nullptr) return ToGrpcStatus(absl::FailedPreconditionError("no bundle loaded"));
  out->set_bundle_revision(b->revision());
  for (const PolicyInfo& p : b->policies()) {
    std::string domain = p.domain.empty() ? "global" : p.domain;
    if (!req->domain().empty() && req->domain() != domain) continue;
    auto* info = out->add_policies();
    info->set_id(p.id);
    info->set_description(p.description);
    for (Kind k : p.kinds) info->add_kinds(std::string(KindName(k)));
    info->set_mode(std::string(PolicyModeName(p.mode)));
    info->set_severity(std::string(SeverityName(p.severity)));
    info->set_overrides(p.overrides);
    info->set_origin(p.origin());
    info->set_file(p.file);
  }
  return grpc::Status::OK;
}

grpc::Status PolicyServiceImpl::Reload(grpc::ServerContext* ctx, const v1::ReloadRequest*,
                                       v1::ReloadResponse* out) {
  if (auto caller =
          Admit(ctx, *authorizer_, authz::Operation::kReload, "Reload", decider_->metrics());
      !caller.ok()) {
    return ToGrpcStatus(caller.status());
  }
  absl::Status s = decider_->bundles().Reload();
  out->set_activated(s.ok());
  out->set_bundle_revision(decider_->bundles().status().revision);
  if (!s.ok()) {
    for (auto& line : LoadErrorLines(s)) out->add_errors(std::move(line));
  }
  return grpc::Status::OK;
}

DryRunAccess PolicyServiceImpl::AccessFor(const authz::Caller& caller) const {
  DryRunAccess access;
  const authz::Authorizer* a = authorizer_;
  access.resolve_path = [a](const std::string& path) { return a->ResolveBundlePath(path); };
  if (caller.role.has_value() && caller.role->kind == authz::Role::Kind::kDomain) {
    std::string domain = caller.role->domain;
    std::shared_ptr<const BundleFiles> active = decider_->bundles().CurrentFiles();
    access.check_candidate = [domain, active](const BundleFiles& candidate) {
      if (active == nullptr) return absl::FailedPreconditionError("no policy bundle is loaded");
      return authz::CheckCandidateScope(*active, candidate, domain);
    };
    access.replay_domain = domain;
  }
  return access;
}

grpc::Status PolicyServiceImpl::ValidateBundle(grpc::ServerContext* ctx,
                                               const v1::ValidateBundleRequest* req,
                                               v1::ValidateBundleResponse* out) {
  absl::StatusOr<authz::Caller> caller = Admit(ctx, *authorizer_, authz::Operation::kValidateBundle,
                                               "ValidateBundle", decider_->metrics());
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  if (absl::Status s = gate_->Enter(); !s.ok()) return ToGrpcStatus(s);
  GateSlot slot(gate_);
  if (absl::Status s = TakeCandidateSlot(candidates_); !s.ok()) return ToGrpcStatus(s);
  CandidateSlot candidate_slot(&candidates_);
  DryRunAccess access = AccessFor(*caller);
  absl::StatusOr<BundleFiles> files;
  switch (req->source_case()) {
    case v1::ValidateBundleRequest::kInline: {
      BundleFiles f;
      for (const auto& [path, content] : req->inline_().files()) f.files[path] = content;
      files = std::move(f);
      break;
    }
    case v1::ValidateBundleRequest::kPath: {
      absl::StatusOr<std::string> dir = access.resolve_path(req->path());
      if (!dir.ok()) {
        decider_->metrics().authz_denied.WithLabels({"ValidateBundle", "path"}).Increment();
        return ToGrpcStatus(dir.status());
      }
      files = ReadBundleDir(*dir);
      break;
    }
    default:
      return ToGrpcStatus(absl::InvalidArgumentError("source: required (inline or path)"));
  }
  if (!files.ok()) return ToGrpcStatus(files.status());
  if (access.check_candidate) {
    if (absl::Status s = access.check_candidate(*files); !s.ok()) {
      decider_->metrics().authz_denied.WithLabels({"ValidateBundle", "scope"}).Increment();
      return ToGrpcStatus(s);
    }
  }
  std::shared_ptr<const Bundle> active = decider_->bundles().Current();
  LoadOptions load;
  if (active != nullptr) load.max_limits = &active->limits();
  load.deadline = DeadlineOf(ctx, *config_);
  auto bundle = Bundle::Load(*files, load);
  if (bundle.status().code() == absl::StatusCode::kDeadlineExceeded) {
    return ToGrpcStatus(bundle.status());
  }
  out->set_valid(bundle.ok());
  if (bundle.ok()) {
    out->set_bundle_revision((*bundle)->revision());
    out->set_policy_count(static_cast<int>((*bundle)->policies().size()));
  } else {
    for (auto& line : LoadErrorLines(bundle.status())) out->add_errors(std::move(line));
  }
  return grpc::Status::OK;
}

grpc::Status PolicyServiceImpl::DryRun(grpc::ServerContext* ctx, const v1::DryRunRequest* req,
                                       v1::DryRunResponse* out) {
  absl::StatusOr<authz::Caller> caller =
      Admit(ctx, *authorizer_, authz::Operation::kDryRun, "DryRun", decider_->metrics());
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  if (!dry_run_) return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "dry-run is not enabled");
  if (absl::Status s = gate_->Enter(); !s.ok()) return ToGrpcStatus(s);
  GateSlot slot(gate_);
  if (absl::Status s = TakeCandidateSlot(candidates_); !s.ok()) return ToGrpcStatus(s);
  CandidateSlot candidate_slot(&candidates_);
  // A dry-run replays many requests: allow it the maximum deadline rather than the default.
  absl::Time deadline =
      ctx->deadline() == std::chrono::system_clock::time_point::max()
          ? absl::Now() + config_->max_deadline
          : std::min(absl::FromChrono(ctx->deadline()), absl::Now() + config_->max_deadline);
  absl::StatusOr<v1::DryRunResponse> r = dry_run_(*req, deadline, AccessFor(*caller));
  if (!r.ok()) {
    if (r.status().code() == absl::StatusCode::kPermissionDenied) {
      decider_->metrics().authz_denied.WithLabels({"DryRun", "scope"}).Increment();
    }
    return ToGrpcStatus(r.status());
  }
  *out = *std::move(r);
  return grpc::Status::OK;
}

}  // namespace arbiter
