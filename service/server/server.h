// ArbiterServer wires the parts of arbiterd together: the bundle manager (and its watcher), the
// decision log, metrics, the decider, the gRPC services (plus health and reflection) and the
// HTTP side port. main() parses flags and signals; everything else starts and stops here.
#ifndef ARBITER_SERVICE_SERVER_SERVER_H_
#define ARBITER_SERVICE_SERVER_SERVER_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "grpcpp/grpcpp.h"
#include "service/decision_log/decision_log.h"
#include "service/http/http_server.h"
#include "service/metrics/metrics.h"
#include "service/server/bundle_manager.h"
#include "service/server/config.h"
#include "service/server/decider.h"
#include "service/server/grpc_services.h"

namespace arbiter {

// Lets other modules (the Trino endpoint) add HTTP routes before the side port starts.
using HttpRouteInstaller = std::function<void(HttpServer&, Decider&, const ServerConfig&)>;

// Lets other modules (the Envoy ext_authz door) serve more gRPC services beside arbiter.v1 on
// the same port, with the same decider, limits, concurrency gate, authorization and threads
// (DecisionCalls::Serve). The server owns what it returns and registers it before the port
// starts.
using GrpcServiceInstaller = std::function<std::unique_ptr<grpc::Service>(DecisionCalls&)>;

class ArbiterServer {
 public:
  explicit ArbiterServer(ServerConfig config);
  ~ArbiterServer();

  // Loads the bundle (refusing to start without one), opens the decision log, binds the gRPC
  // and HTTP ports and starts the watcher. Errors name the file, field or address at fault.
  absl::Status Start(const std::vector<HttpRouteInstaller>& http_routes = {},
                     const std::vector<GrpcServiceInstaller>& grpc_services = {});

  // Drains: health NOT_SERVING, new calls UNAVAILABLE, in-flight calls finish (up to the drain
  // timeout), the decision log is flushed. Idempotent.
  void Shutdown();

  void Wait();

  int grpc_port() const { return grpc_port_; }
  int http_port() const { return http_ != nullptr ? http_->port() : 0; }
  int health_port() const { return health_ != nullptr ? health_->port() : 0; }
  Decider& decider() { return *decider_; }

 private:
  // Authenticates and authorizes a side-port request (the same roles as the gRPC port).
  std::optional<HttpResponse> AuthorizeHttp(HttpRequest& request);

  ServerConfig config_;
  std::unique_ptr<BundleManager> bundles_;
  std::unique_ptr<DecisionLog> log_;
  metrics::Registry registry_;
  std::unique_ptr<ServerMetrics> metrics_;
  std::unique_ptr<Decider> decider_;
  std::unique_ptr<CallGate> gate_;
  std::unique_ptr<authz::Authorizer> authorizer_;
  std::unique_ptr<DecisionCalls> decision_calls_;
  std::unique_ptr<DecisionServiceImpl> decision_service_;
  std::unique_ptr<PolicyServiceImpl> policy_service_;
  std::vector<std::unique_ptr<grpc::Service>> extra_services_;
  std::unique_ptr<grpc::Server> grpc_;
  std::unique_ptr<tls::GnutlsCredentials> http_tls_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<HttpServer> health_;
  int grpc_port_ = 0;
  bool shut_down_ = false;
};

}  // namespace arbiter

#endif  // ARBITER_SERVICE_SERVER_SERVER_H_
