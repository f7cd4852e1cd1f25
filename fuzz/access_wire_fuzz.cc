// libFuzzer target for the gRPC path's wire decoder of access checks (service/convert/
// access_wire.h): the input is a request's bytes as CheckAccess receives them, and the same bytes
// as a CheckBatch request. The decoder may decline anything; whatever it decodes must be exactly
// what protobuf's parser followed by FromProto gives (for a batch, with the shared principal put
// back into each check), and never a message protobuf refuses.
#include <cstddef>
#include <cstdint>
#include <string>

#include "arbiter/v1/decision_service.pb.h"
#include "fuzz/fuzz_checks.h"
#include "fuzz/fuzz_wire.h"
#include "google/protobuf/util/message_differencer.h"
#include "service/convert/access_wire.h"
#include "service/convert/convert.h"

namespace {

// Compared through the wire form (maps compared as maps).
bool Same(const arbiter::AccessRequest& a, const arbiter::AccessRequest& b) {
  arbiter::v1::AccessRequest pa, pb;
  arbiter::ToProto(a, &pa);
  arbiter::ToProto(b, &pb);
  return google::protobuf::util::MessageDifferencer::Equals(pa, pb);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  arbiter::fuzz::QuietProtobuf();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);

  arbiter::AccessRequest fast;
  bool explain = false;
  if (arbiter::AccessRequestFromWire(bytes, fast, explain)) {
    arbiter::v1::AccessRequest message;
    if (!message.ParseFromArray(data, static_cast<int>(size))) {
      arbiter::fuzz::Fail("decoded an AccessRequest that protobuf refuses");
    }
    if (!Same(fast, arbiter::FromProto(message)) || explain != message.explain()) {
      arbiter::fuzz::Fail("decoded an AccessRequest otherwise than protobuf + FromProto");
    }
  }

  arbiter::WireBatch batch;
  if (arbiter::CheckBatchFromWire(bytes, batch)) {
    arbiter::v1::CheckBatchRequest message;
    if (!message.ParseFromArray(data, static_cast<int>(size))) {
      arbiter::fuzz::Fail("decoded a CheckBatchRequest that protobuf refuses");
    }
    if (batch.requests.size() != static_cast<size_t>(message.requests_size()) ||
        batch.explain.size() != batch.requests.size() || batch.explain_all != message.explain()) {
      arbiter::fuzz::Fail("decoded a CheckBatchRequest of other items or explain flags");
    }
    for (int i = 0; i < message.requests_size(); ++i) {
      arbiter::AccessRequest r = batch.requests[i];
      if (batch.shared_principal.has_value()) {
        arbiter::v1::Principal own;
        arbiter::ToProto(r.principal, &own);
        if (own.ByteSizeLong() != 0)
          arbiter::fuzz::Fail("a check of a shared principal kept its own");
        r.principal = *batch.shared_principal;
      }
      if (!Same(r, arbiter::FromProto(message.requests(i))) ||
          batch.explain[i] != message.requests(i).explain()) {
        arbiter::fuzz::Fail("decoded a batch's check otherwise than protobuf + FromProto");
      }
    }
  }
  return 0;
}
