// libFuzzer target for the AuthZEN door's JSON mapping (service/authzen): any body, read as an
// Access Evaluation and as an Access Evaluations request, must come back as access requests or an
// INVALID_ARGUMENT status with a message, never a crash or a hang. Every translated request names
// a principal, an action and a typed resource (a "table" or "product" carrying its catalog name);
// it survives the decision log's wire form (arbiter.v1.AccessRequest) unchanged; it evaluates on
// the fixed fuzz bundle to a decision or INVALID_ARGUMENT (fuzz_checks.h's invariants); and the
// AuthZEN answer shaped from that decision is a JSON object with a boolean "decision".
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "fuzz/fuzz_bundle.h"
#include "fuzz/fuzz_checks.h"
#include "fuzz/fuzz_wire.h"
#include "service/authzen/translate.h"
#include "service/convert/convert.h"
#include "service/value/parse.h"

namespace {

using arbiter::AccessRequest;
using arbiter::fuzz::Fail;

void CheckAnswer(const std::string& json) {
  absl::StatusOr<arbiter::Value> v = arbiter::ParseJson(json, "answer");
  if (!v.ok() || !v->is_map()) Fail("answer is not a JSON object: " + json);
  const arbiter::Value* d = v->Find("decision");
  if (d == nullptr || !d->is_bool()) Fail("answer has no boolean decision: " + json);
}

void CheckRequest(const AccessRequest& r) {
  if (r.principal.id.empty() || r.principal.type.empty()) Fail("subject without type or id");
  if (r.action.empty()) Fail("action without a name");
  if (r.resource.type.empty() || r.resource.id.empty()) Fail("resource without type or id");
  if (r.resource.type == "table" && r.resource.table != r.resource.id) Fail("table not named");
  if (r.resource.type == "product" && r.resource.product != r.resource.id) {
    Fail("product not named");
  }
  if (r.resource.type != "table" && r.resource.type != "product" &&
      (!r.resource.table.empty() || !r.resource.product.empty())) {
    Fail("a non-catalog resource names a catalog entry");
  }
  if (!r.context_values.is_null() && !r.context_values.is_map()) Fail("context not an object");

  // The decision log's wire form gives back the same request.
  arbiter::v1::AccessRequest wire;
  arbiter::ToProto(r, &wire);
  AccessRequest back = arbiter::FromProto(wire);
  if (back.principal.id != r.principal.id || back.principal.type != r.principal.type ||
      back.resource.type != r.resource.type || back.resource.id != r.resource.id ||
      back.action != r.action || back.principal.roles != r.principal.roles) {
    Fail("wire round trip changed the request");
  }

  std::shared_ptr<const arbiter::Bundle> bundle = arbiter::fuzz::LoadFuzzBundle();
  absl::StatusOr<arbiter::Decision> d = bundle->Evaluate(r, arbiter::fuzz::FuzzEvalOptions());
  arbiter::fuzz::CheckDecision(*bundle, r, d);
  arbiter::fuzz::CheckDecisionWire(r, d);
  CheckAnswer(d.ok() ? arbiter::authzen::DecisionJson(*d)
                     : arbiter::authzen::EvaluationErrorJson(d.status()));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  arbiter::fuzz::QuietProtobuf();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view body(reinterpret_cast<const char*>(data), size);
  arbiter::ParseLimits limits = arbiter::fuzz::SmallParseLimits();
  absl::StatusOr<AccessRequest> one = arbiter::authzen::ParseEvaluation(body, limits);
  if (one.ok()) {
    CheckRequest(*one);
  } else {
    arbiter::fuzz::CheckRejection(one.status());
  }
  absl::StatusOr<arbiter::authzen::Evaluations> many =
      arbiter::authzen::ParseEvaluations(body, 16, limits);
  if (!many.ok()) {
    arbiter::fuzz::CheckRejection(many.status());
    return 0;
  }
  if (many->items.empty() || many->items.size() > 16) Fail("evaluations count out of bounds");
  if (many->single && !one.ok()) Fail("a single evaluation parsed only as a batch");
  for (const AccessRequest& r : many->items) CheckRequest(r);
  return 0;
}
