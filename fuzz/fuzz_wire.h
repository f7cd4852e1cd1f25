// Checks for the request fuzzers at the gRPC edge: a decision must convert to arbiter.v1.Decision
// and survive serialization (proto3 strings must be UTF-8, or the client cannot parse it).
#ifndef ARBITER_FUZZ_FUZZ_WIRE_H_
#define ARBITER_FUZZ_FUZZ_WIRE_H_

#include <string>

#include "arbiter/v1/types.pb.h"
#include "fuzz/fuzz_checks.h"
#include "google/protobuf/stubs/logging.h"
#include "service/convert/convert.h"

namespace arbiter::fuzz {

// libprotobuf logs every invalid UTF-8 string it parses; the fuzzers produce millions.
inline void QuietProtobuf() { google::protobuf::SetLogHandler(nullptr); }

inline void CheckDecisionWire(const Request& request, const absl::StatusOr<Decision>& result) {
  if (!result.ok()) return;
  v1::Decision proto;
  ToProto(*result, &proto);
  std::string bytes;
  if (!proto.SerializeToString(&bytes)) Fail("Decision does not serialize");
  v1::Decision back;
  if (!back.ParseFromString(bytes)) {
    Fail("serialized Decision does not parse (a string that is not UTF-8?)");
  }
  if (back.bundle_revision() != result->bundle_revision ||
      back.reasons_size() != static_cast<int>(result->reasons.size())) {
    Fail("Decision changed in the proto round trip");
  }
}

}  // namespace arbiter::fuzz

#endif  // ARBITER_FUZZ_FUZZ_WIRE_H_
