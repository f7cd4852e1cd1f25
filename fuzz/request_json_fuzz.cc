// libFuzzer target for requests in the proto3 JSON mapping (what `arbiter eval --request`, the
// policy test runner and dry-run cases read): the first byte picks the kind (byte % 3: 0 access,
// 1 product, 2 deployment, so the ASCII digits '0' '1' '2' work in hand-written seeds), the rest
// goes through RequestFromJson and is evaluated on the small fixed bundle of fuzz_bundle.h.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "fuzz/fuzz_bundle.h"
#include "fuzz/fuzz_checks.h"
#include "fuzz/fuzz_wire.h"
#include "service/convert/convert.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  arbiter::fuzz::QuietProtobuf();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static constexpr arbiter::Kind kKinds[] = {arbiter::Kind::kAccess, arbiter::Kind::kProduct,
                                             arbiter::Kind::kDeployment};
  arbiter::Kind kind = kKinds[data[0] % 3];
  absl::string_view json(reinterpret_cast<const char*>(data) + 1, size - 1);
  absl::StatusOr<arbiter::Request> request =
      arbiter::RequestFromJson(kind, json, arbiter::fuzz::SmallParseLimits());
  if (!request.ok()) {
    arbiter::fuzz::CheckRejection(request.status());
    return 0;
  }
  if (arbiter::KindOf(*request) != kind) arbiter::fuzz::Fail("RequestFromJson changed the kind");
  std::shared_ptr<const arbiter::Bundle> bundle = arbiter::fuzz::LoadFuzzBundle();
  absl::StatusOr<arbiter::Decision> decision =
      bundle->Evaluate(*request, arbiter::fuzz::FuzzEvalOptions());
  arbiter::fuzz::CheckDecision(*bundle, *request, decision);
  arbiter::fuzz::CheckDecisionWire(*request, decision);
  return 0;
}
