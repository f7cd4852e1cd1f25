#include "service/server/server.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "service/dryrun/dry_run.h"

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

}  // namespace

ArbiterServer::ArbiterServer(ServerConfig config) : config_(std::move(config)) {}

ArbiterServer::~ArbiterServer() { Shutdown(); }

absl::Status ArbiterServer::Start(const std::vector<HttpRouteInstaller>& http_routes,
                                  const std::vector<GrpcServiceInstaller>& grpc_services) {
  if (absl::Status s = config_.Validate(); !s.ok()) return s;
  bundles_ = std::make_unique<BundleManager>(config_.bundle_dir);
  metrics_ = std::make_unique<ServerMetrics>(registry_);
  ServerMetrics* m = metrics_.get();
  bundles_->SetObserver(
      [m, last = std::make_shared<std::string>()](bool ok, const std::string& what) {
        m->reloads.WithLabels({ok ? "success" : "failure"}).Increment();
        m->last_reload_ok.WithLabels({}).Set(ok ? 1 : 0);
        if (ok) {
          if (!last->empty() && *last != what) m->bundle_info.WithLabels({*last}).Set(0);
          m->bundle_info.WithLabels({what}).Set(1);
          *last = what;
        } else {
          std::fprintf(stderr, "arbiterd: bundle rejected, keeping the active one:\n%s\n",
                       what.c_str());
        }
      });
  if (absl::Status s = bundles_->LoadInitial(); !s.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot start without a valid bundle: ", s.message()));
  }
  if (!config_.decision_log.path.empty()) {
    auto log = DecisionLog::Create(config_.decision_log);
    if (!log.ok()) return log.status();
    log_ = *std::move(log);
    DecisionLog* l = log_.get();
    registry_.AddGaugeCallback("arbiter_decision_log_queue_depth",
                               "Decision log lines waiting to be written.",
                               [l] { return static_cast<double>(l->stats().queue_depth); });
    registry_.AddGaugeCallback("arbiter_decision_log_dropped",
                               "Decision log lines lost (overflow, write errors, shutdown).",
                               [l] { return static_cast<double>(l->stats().dropped()); });
    registry_.AddGaugeCallback("arbiter_decision_log_write_errors", "Failed decision log writes.",
                               [l] { return static_cast<double>(l->stats().write_errors); });
    registry_.AddGaugeCallback("arbiter_decision_log_truncated",
                               "Decision log lines over max_line_bytes, cut to a marker.",
                               [l] { return static_cast<double>(l->stats().truncated); });
  }
  decider_ = std::make_unique<Decider>(bundles_.get(), log_.get(), metrics_.get());
  gate_ = std::make_unique<CallGate>(config_.max_concurrent_calls);
  decision_service_ = std::make_unique<DecisionServiceImpl>(decider_.get(), &config_, gate_.get());
  policy_service_ = std::make_unique<PolicyServiceImpl>(
      decider_.get(), &config_, gate_.get(),
      MakeDryRunHandler([b = bundles_.get()] { return b->Current(); }, log_.get()));

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config_.listen, grpc::InsecureServerCredentials(), &grpc_port_);
  builder.SetMaxReceiveMessageSize(static_cast<int>(config_.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(config_.max_message_bytes) * 4);
  int threads = config_.worker_threads > 0
                    ? config_.worker_threads
                    : static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::NUM_CQS, threads);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, threads);
  builder.RegisterService(decision_service_.get());
  builder.RegisterService(policy_service_.get());
  for (const auto& install : grpc_services) {
    extra_services_.push_back(install(*decider_, config_, *gate_));
    builder.RegisterService(extra_services_.back().get());
  }
  grpc_ = builder.BuildAndStart();
  if (grpc_ == nullptr || grpc_port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", config_.listen));
  }
  for (const char* service : kServices) {
    grpc_->GetHealthCheckService()->SetServingStatus(service, true);
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
      registry_.AddGaugeCallback("arbiter_http_rejected_busy",
                                 "Side-port requests answered 503 because the queue was full.",
                                 [h] { return static_cast<double>(h->stats().rejected_busy); });
      registry_.AddGaugeCallback(
          "arbiter_http_rejected_client",
          "Side-port requests answered 429 because their client had too many waiting.",
          [h] { return static_cast<double>(h->stats().rejected_client); });
      registry_.AddGaugeCallback("arbiter_http_closed_deadline",
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
    http_->Handle(
        "GET", "/healthz",
        [](const HttpRequest&) {
          HttpResponse r;
          r.body = "ok\n";
          return r;
        },
        HttpRouteKind::kInline);
    http_->Handle(
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
    for (const auto& install : http_routes) install(*http_, *decider_, config_);
    if (absl::Status s = http_->Start(options); !s.ok()) return s;
  }
  if (config_.watch_bundle) bundles_->StartWatching(config_.poll_interval);
  return absl::OkStatus();
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
  if (log_ != nullptr) log_->Shutdown();
}

void ArbiterServer::Wait() {
  if (grpc_ != nullptr) grpc_->Wait();
}

}  // namespace arbiter
