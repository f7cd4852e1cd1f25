// envoy.service.auth.v3.Authorization served on arbiterd's gRPC port, beside arbiter.v1: each
// Check is translated (translate.h) into one access request and decided by the Decider exactly as
// CheckAccess is: on gRPC's callback API through the same DecisionCalls (authorization,
// concurrency gate, threads), with the same deadline, metrics and decision log (which records
// the translated arbiter.v1.AccessRequest, never Envoy's headers).
//
// gRPC statuses: OK with the CheckResponse for every allow, deny and untranslatable request;
// INVALID_ARGUMENT for a message that is not a CheckRequest; UNAVAILABLE when the request could
// not be decided (no bundle, deadline, engine fault), and the gate's RESOURCE_EXHAUSTED /
// UNAVAILABLE when it refuses the call: Envoy's ext_authz filter treats any failed call as an
// error and, with failure_mode_allow false, refuses the request.
#ifndef ARBITER_SERVICE_ENVOY_EXT_AUTHZ_SERVICE_H_
#define ARBITER_SERVICE_ENVOY_EXT_AUTHZ_SERVICE_H_

#include <memory>

#include "envoy/service/auth/v3/external_auth.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "service/server/grpc_services.h"

namespace arbiter::ext_authz {

class AuthorizationServiceImpl final
    : public ::envoy::service::auth::v3::Authorization::WithRawCallbackMethod_Check<
          ::envoy::service::auth::v3::Authorization::Service> {
 public:
  // `calls` must outlive the service.
  explicit AuthorizationServiceImpl(DecisionCalls* calls) : calls_(calls) {}

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* req,
                                  grpc::ByteBuffer* out) override;

 private:
  DecisionCalls* calls_;
};

// Matches ArbiterServer's GrpcServiceInstaller: arbiterd's main passes it to Start.
std::unique_ptr<grpc::Service> MakeAuthorizationService(DecisionCalls& calls);

}  // namespace arbiter::ext_authz

#endif  // ARBITER_SERVICE_ENVOY_EXT_AUTHZ_SERVICE_H_
