#include "service/envoy/ext_authz_service.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "service/envoy/translate.h"

namespace arbiter::ext_authz {

grpc::Status AuthorizationServiceImpl::Check(grpc::ServerContext* ctx,
                                             const ::envoy::service::auth::v3::CheckRequest* req,
                                             ::envoy::service::auth::v3::CheckResponse* out) {
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
  absl::StatusOr<Decision> d = decider_->Decide(*request, DeadlineOf(ctx, *config_), CallerOf(ctx));
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
                                                        const ServerConfig& config,
                                                        CallGate& gate) {
  return std::make_unique<AuthorizationServiceImpl>(&decider, &config, &gate);
}

}  // namespace arbiter::ext_authz
