#include "service/envoy/ext_authz_service.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "service/envoy/translate.h"

namespace arbiter::ext_authz {

grpc::Status AuthorizationServiceImpl::Check(grpc::ServerContext* ctx,
                                             const ::envoy::service::auth::v3::CheckRequest* req,
                                             ::envoy::service::auth::v3::CheckResponse* out) {
  // The calling gateway must be authorized like any decision caller (role engine, typically);
  // a refusal is an error, never a deny, so that Envoy fails closed and says why.
  absl::StatusOr<authz::Caller> caller =
      Admit(ctx, *authorizer_, authz::Operation::kDecide, "Check", decider_->metrics());
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  if (absl::Status s = gate_->Enter(); !s.ok()) {
    decider_->metrics()
        .rejected_calls
        .WithLabels({s.code() == absl::StatusCode::kUnavailable ? "draining" : "overload"})
        .Increment();
    return ToGrpcStatus(s);
  }
  GateSlot slot(gate_);
  absl::StatusOr<AccessRequest> request = TranslateCheck(*req, config_->envoy);
  if (!request.ok()) {
    decider_->metrics().errors.WithLabels({"access", "invalid_argument"}).Increment();
    *out = ShapeInvalid(request.status());
    return grpc::Status::OK;
  }
  // The decision log records the translated request, replayable by the dry-run.
  absl::StatusOr<Decision> d = decider_->Decide(*request, DeadlineOf(ctx, *config_),
                                                ToCallerInfo(*caller, ctx->peer(), "grpc"));
  if (d.ok()) {
    *out = ShapeDecision(*d);
    return grpc::Status::OK;
  }
  if (d.status().code() == absl::StatusCode::kInvalidArgument) {
    *out = ShapeInvalid(d.status());
    return grpc::Status::OK;
  }
  return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      absl::StrCat("could not decide: ", d.status().message()));
}

std::unique_ptr<grpc::Service> MakeAuthorizationService(Decider& decider,
                                                        const ServerConfig& config, CallGate& gate,
                                                        const authz::Authorizer& authorizer) {
  return std::make_unique<AuthorizationServiceImpl>(&decider, &config, &gate, &authorizer);
}

}  // namespace arbiter::ext_authz
