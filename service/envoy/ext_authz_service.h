// envoy.service.auth.v3.Authorization served on arbiterd's gRPC port, beside arbiter.v1: each
// Check is translated (translate.h) into one access request and decided by the Decider exactly as
// CheckAccess is: the same concurrency gate, deadline, metrics and decision log (which records
// the translated arbiter.v1.AccessRequest, never Envoy's headers).
//
// gRPC statuses: OK with the CheckResponse for every allow, deny and untranslatable request;
// UNAVAILABLE when the request could not be decided (no bundle, deadline, engine fault), and the
// gate's RESOURCE_EXHAUSTED / UNAVAILABLE when it refuses the call: Envoy's ext_authz filter
// treats any failed call as an error and, with failure_mode_allow false, refuses the request.
#ifndef ARBITER_SERVICE_ENVOY_EXT_AUTHZ_SERVICE_H_
#define ARBITER_SERVICE_ENVOY_EXT_AUTHZ_SERVICE_H_

#include <memory>

#include "envoy/service/auth/v3/external_auth.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "service/server/config.h"
#include "service/server/decider.h"
#include "service/server/grpc_services.h"

namespace arbiter::ext_authz {

class AuthorizationServiceImpl final : public ::envoy::service::auth::v3::Authorization::Service {
 public:
  // All pointers must outlive the service.
  AuthorizationServiceImpl(Decider* decider, const ServerConfig* config, CallGate* gate,
                           const authz::Authorizer* authorizer)
      : decider_(decider), config_(config), gate_(gate), authorizer_(authorizer) {}

  grpc::Status Check(grpc::ServerContext* ctx, const ::envoy::service::auth::v3::CheckRequest* req,
                     ::envoy::service::auth::v3::CheckResponse* out) override;

 private:
  Decider* decider_;
  const ServerConfig* config_;
  CallGate* gate_;
  const authz::Authorizer* authorizer_;
};

// Matches ArbiterServer's GrpcServiceInstaller: arbiterd's main passes it to Start.
std::unique_ptr<grpc::Service> MakeAuthorizationService(Decider& decider,
                                                        const ServerConfig& config, CallGate& gate,
                                                        const authz::Authorizer& authorizer);

}  // namespace arbiter::ext_authz

#endif  // ARBITER_SERVICE_ENVOY_EXT_AUTHZ_SERVICE_H_
