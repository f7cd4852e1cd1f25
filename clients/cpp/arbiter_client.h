// A thin, typed C++ client for arbiterd. It keeps the three outcomes a caller must tell apart:
// ALLOW, DENY (a policy outcome, with reasons and obligations) and ERROR (Arbiter could not
// decide: unreachable, deadline, bad request). Callers choose to fail closed on ERROR; the
// client never turns an error into a deny or an allow.
//
//   arbiter::client::Client c("127.0.0.1:50051", {.timeout = absl::Milliseconds(200)});
//   absl::StatusOr<arbiter::v1::Decision> d = c.CheckAccess(request);
//   if (!d.ok()) ...                          // ERROR: d.status() says why
//   else if (arbiter::client::Allowed(*d)) ... // ALLOW, enforce d->obligations()
//
// Thread-safe: one Client may be shared by many threads (gRPC channels are).
#ifndef ARBITER_CLIENTS_CPP_ARBITER_CLIENT_H_
#define ARBITER_CLIENTS_CPP_ARBITER_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "arbiter/v1/decision_service.grpc.pb.h"
#include "arbiter/v1/policy_service.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace arbiter::client {

struct ClientOptions {
  // Deadline of each call; Arbiter also caps it server-side.
  absl::Duration timeout = absl::Seconds(5);
  // Sent as x-arbiter-caller: recorded in the decision log as a *claimed* name beside the
  // identity the server authenticated (it never sets the identity).
  std::string caller;
  // TLS (PEM file paths). With any of them set the channel uses TLS: the server is verified
  // against `tls_ca` (the system roots when empty); `tls_cert` and `tls_key` are the client's
  // certificate for mutual TLS, the identity arbiterd authorizes.
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  // The name the server certificate must carry, when it differs from the target's host.
  std::string tls_server_name;
  // Largest response accepted (batches and dry-runs can be large).
  int max_receive_message_bytes = 64 << 20;
};

// true for EFFECT_ALLOW only.
inline bool Allowed(const v1::Decision& d) { return d.effect() == v1::EFFECT_ALLOW; }

class Client {
 public:
  // Connects lazily to `target` ("host:port" or any gRPC target URI), over TLS when the options
  // name TLS files. A file that cannot be read makes every call fail with its error.
  explicit Client(const std::string& target, ClientOptions options = {});
  // Uses an existing channel (for TLS or custom load balancing).
  Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options);

  absl::StatusOr<v1::Decision> CheckAccess(const v1::AccessRequest& request) const;
  absl::StatusOr<v1::Decision> CheckProduct(const v1::ProductRequest& request) const;
  absl::StatusOr<v1::Decision> CheckDeployment(const v1::DeploymentRequest& request) const;
  absl::StatusOr<v1::CheckBatchResponse> CheckBatch(const v1::CheckBatchRequest& request) const;

  absl::StatusOr<v1::GetStatusResponse> GetStatus() const;
  absl::StatusOr<v1::ListPoliciesResponse> ListPolicies(const std::string& domain = "") const;
  absl::StatusOr<v1::ReloadResponse> Reload() const;
  absl::StatusOr<v1::ValidateBundleResponse> ValidateBundle(
      const v1::ValidateBundleRequest& request) const;
  absl::StatusOr<v1::DryRunResponse> DryRun(const v1::DryRunRequest& request) const;

  // Any request in its DryRunCase form, dispatched to the matching Check* call.
  absl::StatusOr<v1::Decision> Check(const v1::DryRunCase& request) const;

 private:
  void Prepare(grpc::ClientContext& ctx) const;

  ClientOptions options_;
  absl::Status init_error_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::DecisionService::Stub> decisions_;
  std::unique_ptr<v1::PolicyService::Stub> policies_;
};

// The channel credentials `options` ask for: insecure without TLS files, else TLS (and mTLS with
// a client certificate). INVALID_ARGUMENT naming an unreadable file or a cert without its key.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentialsFor(
    const ClientOptions& options);

// grpc::Status -> absl::Status (same codes), prefixed with the method name.
absl::Status FromGrpcStatus(const grpc::Status& status, const char* method);

}  // namespace arbiter::client

#endif  // ARBITER_CLIENTS_CPP_ARBITER_CLIENT_H_
