#include "service/server/server.h"

#include <cstdio>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "service/dryrun/dry_run.h"
#include "service/engine/lua_sandbox.h"
#include "service/metrics/metrics.h"
#include "service/redact/redact.h"

namespace arbiter {
namespace {

// "host:port" -> host and port; IPv6 literals in brackets.
bool SplitHostPort(const std::string& addr, std::string& host, int& port) {
  auto colon = addr.rfind(':');
  if (colon == std::string::npos) return false;
  host = addr.substr(0, colon);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return absl::SimpleAtoi(addr.substr(colon + 1), &port) && port >= 0 && port < 65536;
}

const char* const kServices[] = {"", "arbiter.v1.DecisionService", "arbiter.v1.PolicyService"};

// How often the certificate, key and CA files are re-read: a rotation (cert-manager, SPIRE)
// is served within this many seconds, without a restart; connections already open keep theirs.
constexpr unsigned kCertificateRefreshSeconds = 1;

absl::Status CheckReadable(const char* field, const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": cannot read ", path));
  }
  // PEM files may carry attribute lines (openssl pkcs12 exports) before the first block.
  char head[8192] = {};
  size_t n = std::fread(head, 1, sizeof(head) - 1, f);
  std::fclose(f);
  if (!absl::StrContains(absl::string_view(head, n), "-----BEGIN")) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", path, " is not a PEM file"));
  }
  return absl::OkStatus();
}

// Every call on a TLS port, whatever its service (health, reflection and any service added
// later included), is refused before its handler when the caller's identity maps to no role;
// the handlers of arbiter.v1 then authorize the operation for the role.
class RoleRequired final : public grpc::AuthMetadataProcessor {
 public:
  RoleRequired(const authz::Authorizer* authorizer, ServerMetrics* metrics)
      : authorizer_(authorizer), metrics_(metrics) {}
  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata& metadata, grpc::AuthContext* context, OutputMetadata*,
                       OutputMetadata*) override {
    std::string identity = CertificateIdentity(context);
    authz::Caller caller = authorizer_->Identify(identity, !identity.empty());
    if (caller.role.has_value()) return grpc::Status::OK;
    std::string method = "*";
    if (auto it = metadata.find(":path"); it != metadata.end()) {
      method = std::string(it->second.data(), it->second.size());
      method = method.substr(method.rfind('/') + 1);
    }
    metrics_->authz_denied.WithLabels({method.substr(0, 64), "no_role"}).Increment();
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        absl::StrCat("caller \"", caller.identity,
                                     "\" has no role (no authz.identities rule matches it); ",
                                     method, " needs any role"));
  }

 private:
  const authz::Authorizer* authorizer_;
  ServerMetrics* metrics_;
};

// TLS 1.2 or later (gRPC's floor) with the files watched for rotation.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> GrpcCredentials(const TlsConfig& tls) {
  if (!tls.enabled()) return grpc::InsecureServerCredentials();
  for (auto [field, path] :
       {std::pair<const char*, const std::string*>{"tls.cert_file", &tls.cert_file},
        {"tls.key_file", &tls.key_file}}) {
    if (absl::Status s = CheckReadable(field, *path); !s.ok()) return s;
  }
  bool verify = tls.client_auth != TlsConfig::ClientAuth::kNone;
  if (verify) {
    if (absl::Status s = CheckReadable("tls.client_ca_file", tls.client_ca_file); !s.ok()) return s;
  }
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      tls.key_file, tls.cert_file, verify ? tls.client_ca_file : "", kCertificateRefreshSeconds);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (verify) options.watch_root_certs();
  options.set_cert_request_type(tls.client_auth == TlsConfig::ClientAuth::kRequire
                                    ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                : tls.client_auth == TlsConfig::ClientAuth::kRequest
                                    ? GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY
                                    : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  return grpc::experimental::TlsServerCredentials(options);
}

// The content digest of a bundle (arbiter_bundle_info's `digest`): SHA-256 over every file's
// path and content, in path order, so that two servers (or two reloads) with the same revision
// but different files tell apart.
std::string BundleDigest(const BundleFiles* files) {
  if (files == nullptr) return "";
  std::string all;
  for (const auto& [path, content] : files->files) {
    absl::StrAppend(&all, path.size(), ":", path, content.size(), ":", content);
  }
  return redact::Digest(all);
}

}  // namespace

ArbiterServer::ArbiterServer(ServerConfig config) : config_(std::move(config)) {}

ArbiterServer::~ArbiterServer() { Shutdown(); }

absl::Status ArbiterServer::Start(const std::vector<HttpRouteInstaller>& http_routes,
                                  const std::vector<GrpcServiceInstaller>& grpc_services) {
  if (absl::Status s = config_.Validate(); !s.ok()) return s;
  absl::StatusOr<authz::Authorizer> authorizer = authz::Authorizer::Create(config_.authz);
  if (!authorizer.ok()) return authorizer.status();
  authorizer_ = std::make_unique<authz::Authorizer>(*std::move(authorizer));
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      GrpcCredentials(config_.tls);
  if (!credentials.ok()) return credentials.status();
  bundles_ = std::make_unique<BundleManager>(config_.bundle_dir);
  metrics_ = std::make_unique<ServerMetrics>(registry_);
  ServerMetrics* m = metrics_.get();
  metrics::RegisterProcessMetrics(registry_);
  BundleManager* bundles = bundles_.get();
  bundles_->SetObserver([m, bundles, last = std::make_shared<std::vector<std::string>>()](
                            bool ok, const std::string& what) {
    m->reloads.WithLabels({ok ? "success" : "failure"}).Increment();
    m->last_reload_ok.WithLabels({}).Set(ok ? 1 : 0);
    const double now = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
    (ok ? m->last_reload_success_time : m->last_reload_failure_time).WithLabels({}).Set(now);
    if (ok) {
      // The active bundle's revision and content digest; the previous pair drops to 0.
      std::vector<std::string> labels = {what, BundleDigest(bundles->CurrentFiles().get())};
      if (!last->empty() && *last != labels) m->bundle_info.WithLabels(*last).Set(0);
      m->bundle_info.WithLabels(labels).Set(1);
      *last = labels;
      if (std::shared_ptr<const Bundle> b = bundles->Current()) {
        for (const PolicyInfo& p : b->policies()) {
          if (!p.domain.empty()) m->InitDomain(p.domain);
        }
      }
    } else {
      std::fprintf(stderr, "arbiterd: bundle rejected, keeping the active one:\n%s\n",
                   what.c_str());
    }
  });
  if (absl::Status s = bundles_->LoadInitial(); !s.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot start without a valid bundle: ", s.message()));
  }
  {
    // Waivers in force in the active bundle, judged at scrape time: one that lapses or is
    // removed by a reload leaves the gauges without a stale sample (docs/waivers.md).
    BundleManager* bundles = bundles_.get();
    registry_.AddLabelledGaugeCallback(
        "arbiter_waiver_expiry_timestamp_seconds",
        "When each waiver in force in the active bundle expires (Unix seconds).",
        {"waiver", "policy"}, [bundles] {
          std::vector<metrics::LabelledValue> out;
          std::shared_ptr<const Bundle> b = bundles->Current();
          if (b == nullptr) return out;
          absl::Time now = absl::Now();
          for (const Waiver& w : b->waivers()) {
            if (!w.ActiveAt(now)) continue;
            out.push_back({{w.id, w.policy}, static_cast<double>(absl::ToUnixSeconds(w.expires))});
          }
          return out;
        });
    registry_.AddGaugeCallback("arbiter_waivers_active", "Waivers in force in the active bundle.",
                               [bundles] {
                                 std::shared_ptr<const Bundle> b = bundles->Current();
                                 if (b == nullptr) return 0.0;
                                 absl::Time now = absl::Now();
                                 double n = 0;
                                 for (const Waiver& w : b->waivers()) n += w.ActiveAt(now) ? 1 : 0;
                                 return n;
                               });
  }
  // Checks whose hookless first run could not be certified within the instruction budget and
  // ran again under the count (lua_sandbox.cc, FastRunStands; docs/limits.md). A rising rate
  // means checks near their budget, or a machine too loaded to run them in one go; each costs
  // a second run.
  registry_.AddCounterCallback(
      "arbiter_policy_counted_reruns_total",
      "Policy checks run a second time under the instruction count because their first, "
      "hookless run could not be certified within the instruction budget.",
      [] { return static_cast<double>(LuaSandbox::counted_reruns()); });
  if (!config_.decision_log.path.empty()) {
    auto log = DecisionLog::Create(config_.decision_log);
    if (!log.ok()) return log.status();
    log_ = *std::move(log);
    DecisionLog* l = log_.get();
    registry_.AddGaugeCallback("arbiter_decision_log_queue_depth",
                               "Decision log lines waiting to be written.",
                               [l] { return static_cast<double>(l->stats().queue_depth); });
    registry_.AddCounterCallback("arbiter_decision_log_dropped_total",
                                 "Decision log lines lost (overflow, write errors, shutdown).",
                                 [l] { return static_cast<double>(l->stats().dropped()); });
    registry_.AddCounterCallback("arbiter_decision_log_write_errors_total",
                                 "Failed decision log writes.",
                                 [l] { return static_cast<double>(l->stats().write_errors); });
    registry_.AddCounterCallback("arbiter_decision_log_truncated_total",
                                 "Decision log lines over max_line_bytes, cut to a marker.",
                                 [l] { return static_cast<double>(l->stats().truncated); });
  }
  decider_ = std::make_unique<Decider>(bundles_.get(), log_.get(), metrics_.get(),
                                       redact::Redactor(config_.log_redact));
  decider_->SetImpactSource(config_.decision_log.path, config_.decision_log.max_files, {});
  gate_ = std::make_unique<CallGate>(config_.max_concurrent_calls);
  decision_calls_ =
      std::make_unique<DecisionCalls>(decider_.get(), &config_, gate_.get(), authorizer_.get());
  decision_service_ = std::make_unique<DecisionServiceImpl>(decision_calls_.get());
  policy_service_ = std::make_unique<PolicyServiceImpl>(
      decider_.get(), &config_, gate_.get(), authorizer_.get(),
      MakeDryRunHandler([b = bundles_.get()] { return b->Current(); }, log_.get()));

  if (config_.tls.enabled()) {
    (*credentials)
        ->SetAuthMetadataProcessor(
            std::make_shared<RoleRequired>(authorizer_.get(), metrics_.get()));
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config_.listen, *credentials, &grpc_port_);
  builder.SetMaxReceiveMessageSize(static_cast<int>(config_.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(config_.max_message_bytes) * 4);
  int threads = config_.WorkerThreads();
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::NUM_CQS, threads);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, threads);
  builder.RegisterService(decision_service_.get());
  builder.RegisterService(policy_service_.get());
  for (const auto& install : grpc_services) {
    extra_services_.push_back(install(*decision_calls_));
    builder.RegisterService(extra_services_.back().get());
  }
  grpc_ = builder.BuildAndStart();
  if (grpc_ == nullptr || grpc_port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", config_.listen));
  }
  for (const char* service : kServices) {
    grpc_->GetHealthCheckService()->SetServingStatus(service, true);
  }

  // Health answers on the I/O thread (never queued behind decisions).
  auto health = [this](HttpServer& http) {
    http.Handle(
        "GET", "/healthz",
        [](const HttpRequest&) {
          HttpResponse r;
          r.body = "ok\n";
          return r;
        },
        HttpRouteKind::kInline);
    http.Handle(
        "GET", "/readyz",
        [this](const HttpRequest&) {
          HttpResponse r;
          bool ready = bundles_->Current() != nullptr && !gate_->draining();
          r.status = ready ? 200 : 503;
          r.body = ready ? absl::StrCat("ready: bundle ", bundles_->status().revision, "\n")
                         : "not ready\n";
          return r;
        },
        HttpRouteKind::kInline);
  };
  if (!config_.health_listen.empty()) {
    // Health only, plaintext: what kubelet probes (which cannot present client certificates)
    // need, and nothing else.
    HttpServerOptions options;
    if (!SplitHostPort(config_.health_listen, options.host, options.port)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "http.health_listen: expected HOST:PORT, got \"", config_.health_listen, "\""));
    }
    options.threads = 1;
    options.max_body_bytes = 1024;
    options.connection_limit = 64;
    options.connection_timeout_seconds = 5;
    health_ = std::make_unique<HttpServer>();
    health(*health_);
    if (absl::Status s = health_->Start(options); !s.ok()) return s;
  }
  if (!config_.http_listen.empty()) {
    HttpServerOptions options;
    if (!SplitHostPort(config_.http_listen, options.host, options.port)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--http-listen: expected HOST:PORT, got \"", config_.http_listen, "\""));
    }
    options.threads = config_.http_threads;
    options.worker_threads = config_.http_worker_threads;
    options.max_queued = config_.http_max_queued;
    options.max_queued_per_client = config_.http_max_queued_per_client;
    options.max_running_per_client = config_.http_max_running_per_client;
    options.per_client_connection_limit =
        static_cast<unsigned>(config_.http_per_client_connection_limit);
    options.header_timeout_ms = config_.http_header_timeout_ms;
    options.body_timeout_ms = config_.http_body_timeout_ms;
    options.max_body_bytes = config_.max_message_bytes;
    http_ = std::make_unique<HttpServer>();
    {
      // What the side port's abuse limits did (issue 11; service/http/http_server.h).
      HttpServer* h = http_.get();
      registry_.AddCounterCallback("arbiter_http_rejected_busy_total",
                                   "Side-port requests answered 503 because the queue was full.",
                                   [h] { return static_cast<double>(h->stats().rejected_busy); });
      registry_.AddCounterCallback(
          "arbiter_http_rejected_client_total",
          "Side-port requests answered 429 because their client had too many waiting.",
          [h] { return static_cast<double>(h->stats().rejected_client); });
      registry_.AddCounterCallback(
          "arbiter_http_closed_deadline_total",
          "Side-port connections closed by a header, body or idle deadline.",
          [h] { return static_cast<double>(h->stats().closed_deadline); });
    }
    http_->Handle(
        "GET", "/metrics",
        [this](const HttpRequest&) {
          HttpResponse r;
          r.content_type = "text/plain; version=0.0.4; charset=utf-8";
          r.body = registry_.Render();
          return r;
        },
        HttpRouteKind::kInline);
    health(*http_);
    if (config_.tls.enabled()) {
      auto creds = tls::GnutlsCredentials::Load(config_.tls);
      if (!creds.ok()) return creds.status();
      http_tls_ = *std::move(creds);
      options.tls = http_tls_.get();
    }
    http_->SetAuthorizer([this](HttpRequest& r) { return AuthorizeHttp(r); });
    for (const auto& install : http_routes) install(*http_, *decider_, config_);
    if (absl::Status s = http_->Start(options); !s.ok()) return s;
  }
  if (config_.watch_bundle) bundles_->StartWatching(config_.poll_interval);
  return absl::OkStatus();
}

std::optional<HttpResponse> ArbiterServer::AuthorizeHttp(HttpRequest& r) {
  std::string identity = r.peer.present ? authz::ChooseCertificateIdentity(
                                              r.peer.uri_sans, r.peer.dns_sans, r.peer.common_name)
                                        : "";
  authz::Caller caller = authorizer_->Identify(identity, !identity.empty());
  authz::Operation op = r.path == "/healthz" || r.path == "/readyz" || r.path == "/metrics"
                            ? authz::Operation::kHealth
                            : authz::Operation::kDecide;
  if (absl::Status s = authorizer_->Authorize(caller, op); !s.ok()) {
    metrics_->authz_denied.WithLabels({r.path, caller.role.has_value() ? "role" : "no_role"})
        .Increment();
    HttpResponse denied;
    denied.status = 403;
    denied.content_type = "application/json";
    denied.body = absl::StrCat(
        "{\"code\":\"permission_denied\",\"message\":", Value(s.message()).ToJson(), "}");
    return denied;
  }
  r.caller_identity = caller.identity;
  r.caller_role = caller.role.has_value() ? caller.role->Name() : "";
  r.caller_claimed = authz::SanitizeClaim(r.Header("x-arbiter-caller"));
  return std::nullopt;
}

void ArbiterServer::Shutdown() {
  if (shut_down_ || grpc_ == nullptr) return;
  shut_down_ = true;
  for (const char* service : kServices) {
    grpc_->GetHealthCheckService()->SetServingStatus(service, false);
  }
  gate_->StartDraining();
  bundles_->StopWatching();
  grpc_->Shutdown(absl::ToChronoTime(absl::Now() + config_.drain_timeout));
  if (http_ != nullptr) http_->Stop();
  if (health_ != nullptr) health_->Stop();
  if (log_ != nullptr) log_->Shutdown();
}

void ArbiterServer::Wait() {
  if (grpc_ != nullptr) grpc_->Wait();
}

}  // namespace arbiter
