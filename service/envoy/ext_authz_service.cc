#include "service/envoy/ext_authz_service.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "service/envoy/translate.h"

namespace arbiter::ext_authz {

using ::envoy::service::auth::v3::CheckRequest;
using ::envoy::service::auth::v3::CheckResponse;

namespace {

// `response` serialized into the call's answer.
grpc::Status Answer(const CheckResponse& response, grpc::ByteBuffer* out) {
  bool own = false;
  return grpc::SerializationTraits<CheckResponse>::Serialize(response, out, &own);
}

}  // namespace

grpc::ServerUnaryReactor* AuthorizationServiceImpl::Check(grpc::CallbackServerContext* ctx,
                                                          const grpc::ByteBuffer* req,
                                                          grpc::ByteBuffer* out) {
  // The calling gateway must be authorized like any decision caller (role engine, typically);
  // a refusal is an error, never a deny, so that Envoy fails closed and says why.
  return calls_->Serve(ctx, "Check", [this, ctx, req, out](CallerInfo& caller, int64_t&) {
    Decider& decider = calls_->decider();
    RequestArena arena(req->Length());
    CheckRequest& check = *arena.Create<CheckRequest>();
    if (grpc::Status s = ParseRaw(*req, &check); !s.ok()) return s;
    absl::StatusOr<AccessRequest> request = TranslateCheck(check, calls_->config().envoy);
    if (!request.ok()) {
      decider.metrics().errors.WithLabels({"access", "invalid_argument"}).Increment();
      return Answer(ShapeInvalid(request.status()), out);
    }
    // The decision log records the translated request, replayable by the dry-run.
    absl::StatusOr<Decision> d =
        decider.Decide(*request, DeadlineOf(ctx, calls_->config()), caller);
    if (d.ok()) return Answer(ShapeDecision(*d), out);
    if (d.status().code() == absl::StatusCode::kInvalidArgument) {
      return Answer(ShapeInvalid(d.status()), out);
    }
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        absl::StrCat("could not decide: ", d.status().message()));
  });
}

std::unique_ptr<grpc::Service> MakeAuthorizationService(DecisionCalls& calls) {
  return std::make_unique<AuthorizationServiceImpl>(&calls);
}

}  // namespace arbiter::ext_authz
