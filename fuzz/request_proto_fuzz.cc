// libFuzzer target for the gRPC edge: the input is a serialized arbiter.v1.DryRunCase (what
// CheckAccess/CheckProduct/CheckDeployment and DryRun receive, one of the three requests), which
// is converted with FromProto and evaluated on the small fixed bundle of fuzz_bundle.h. Any
// bytes must end as "does not parse", an INVALID_ARGUMENT naming the field, or a decision —
// never a crash, a hang, a leak or a decision that breaks the combining invariants.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "arbiter/v1/policy_service.pb.h"
#include "fuzz/fuzz_bundle.h"
#include "fuzz/fuzz_checks.h"
#include "fuzz/fuzz_wire.h"
#include "service/convert/convert.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  arbiter::fuzz::QuietProtobuf();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  arbiter::v1::DryRunCase c;
  if (!c.ParseFromArray(data, static_cast<int>(size))) return 0;
  absl::StatusOr<arbiter::Request> request =
      arbiter::FromProto(c, arbiter::fuzz::SmallParseLimits());
  if (!request.ok()) {
    arbiter::fuzz::CheckRejection(request.status());
    return 0;
  }
  std::shared_ptr<const arbiter::Bundle> bundle = arbiter::fuzz::LoadFuzzBundle();
  absl::StatusOr<arbiter::Decision> decision =
      bundle->Evaluate(*request, arbiter::fuzz::FuzzEvalOptions());
  arbiter::fuzz::CheckDecision(*bundle, *request, decision);
  arbiter::fuzz::CheckDecisionWire(*request, decision);
  return 0;
}
