// A decision's arbiter.v1.Decision wire bytes, written straight from the engine's Decision.
//
// The same bytes as ToProto (service/convert) followed by protobuf serialization, without
// building the message: on the gRPC path the v1::Decision, its strings and reasons were
// allocated, copied, serialized and freed for every call (~13k instructions of a ~128k
// instruction CheckAccess with a one-policy bundle). Deployment decisions that carry `change`
// (a google.protobuf.Struct) go through ToProto, as before.
#ifndef ARBITER_SERVICE_SERVER_DECISION_WIRE_H_
#define ARBITER_SERVICE_SERVER_DECISION_WIRE_H_

#include <string>

#include "absl/strings/string_view.h"
#include "grpcpp/support/slice.h"
#include "service/engine/types.h"

namespace arbiter {

// Appends the serialized arbiter.v1.Decision for `d` to `out`, with `explain` as field 15 when
// not empty. Field order and encoding are protobuf's (byte for byte what
// v1::Decision::SerializeToString writes for ToProto(d)).
void AppendDecisionWire(const Decision& d, absl::string_view explain, std::string& out);

// The same bytes in a gRPC slice of their own, written in place (no string to copy from): a
// unary call's whole response message.
grpc::Slice DecisionWireSlice(const Decision& d, absl::string_view explain);

// Appends `d` as field `field` (below 16) of a message: tag, length and AppendDecisionWire's
// bytes, written in place (a batch response's repeated Decision).
void AppendDecisionField(int field, const Decision& d, absl::string_view explain, std::string& out);

// Appends field `field` (below 16) of type message whose wire bytes are `message` (tag, length,
// bytes): how a repeated Decision of a response is written around AppendDecisionWire's bytes.
void AppendMessageField(int field, absl::string_view message, std::string& out);

}  // namespace arbiter

#endif  // ARBITER_SERVICE_SERVER_DECISION_WIRE_H_
