// The gRPC path's decoder of access checks: the wire bytes of an arbiter.v1.AccessRequest (or a
// CheckBatchRequest of them) straight into the engine's AccessRequest, without building the
// protobuf message first. Protobuf's parser allocates a map (and its entries) per map field and
// a string per string, and FromProto then copied each into the engine's types: ~9k of the ~185k
// instructions of a CheckAccess with the shipped bundle, per item again in a batch.
//
// It decodes the requests callers send (every field but the google.protobuf.Struct ones) and
// declines the rest: the caller then parses with protobuf and FromProto, whose answer (the
// request, or the error for bytes that are not the message) stands. So the result is always
// the one protobuf + FromProto would give; the decoder only makes the common case cheap.
#ifndef ARBITER_SERVICE_CONVERT_ACCESS_WIRE_H_
#define ARBITER_SERVICE_CONVERT_ACCESS_WIRE_H_

#include <optional>
#include <vector>

#include "absl/strings/string_view.h"
#include "service/engine/types.h"

namespace arbiter {

// Decodes `bytes`, a serialized arbiter.v1.AccessRequest, into `out` (default-constructed) and
// `explain` (its field 15), as protobuf's parser followed by FromProto would. Returns false,
// leaving `out` in an unspecified state, for anything it does not decode: a Struct field
// (principal.properties, resource.properties, action_properties, context_values), a field it
// does not know (a newer client's) or of another wire type than the schema's, a string that is
// not valid UTF-8, a non-canonical tag, or bytes that are not a message.
bool AccessRequestFromWire(absl::string_view bytes, AccessRequest& out, bool& explain);

// A CheckBatchRequest decoded.
struct WireBatch {
  std::vector<AccessRequest> requests;
  std::vector<bool> explain;  // each request's own `explain`
  bool explain_all = false;   // the batch's `explain`
  // Set when every request has the same principal, sent as one field of the same bytes (what
  // a client that copies one principal into each check sends): decoded once, and the requests'
  // own principals are left empty, for EvalOptions::principal (SharedPrincipal).
  std::optional<Principal> shared_principal;
};

// Decodes `bytes`, a serialized arbiter.v1.CheckBatchRequest, into `out` (empty). Returns false
// as AccessRequestFromWire does, for the message or any of its requests.
bool CheckBatchFromWire(absl::string_view bytes, WireBatch& out);

}  // namespace arbiter

#endif  // ARBITER_SERVICE_CONVERT_ACCESS_WIRE_H_
