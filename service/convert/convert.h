// Conversion between the arbiter.v1 protos and the engine's own types: the one place where the
// wire format meets the engine (the engine itself knows nothing of protobuf or gRPC). Used by
// the gRPC service, the CLI (which reads requests in the proto3 JSON mapping) and the policy
// test runner, so every entry point decodes requests the same way.
//
// Errors are INVALID_ARGUMENT with a message that starts with the field path
// ("product: customer-360.yaml:3:5: ...", "contracts[1]: required").
#ifndef ARBITER_SERVICE_CONVERT_CONVERT_H_
#define ARBITER_SERVICE_CONVERT_CONVERT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "arbiter/v1/decision_service.pb.h"
#include "arbiter/v1/policy_service.pb.h"
#include "arbiter/v1/types.pb.h"
#include "google/protobuf/struct.pb.h"
#include "service/engine/types.h"
#include "service/value/parse.h"
#include "service/value/value.h"

namespace arbiter {

// google.protobuf.Struct/Value <-> Value. Integral doubles within +-2^53 become integers, so a
// document sent as a Struct reaches policies with the same types as the same YAML.
Value ProtoValueToValue(const google::protobuf::Value& v);
Value StructToValue(const google::protobuf::Struct& s);
void ValueToProtoValue(const Value& v, google::protobuf::Value* out);
// Maps become the struct's fields; anything else yields an empty struct.
void ValueToStruct(const Value& v, google::protobuf::Struct* out);

// A Document's tree: its YAML parsed (with `limits`), or its struct converted. `field` names the
// document in error messages. INVALID_ARGUMENT when empty or unparseable. A YAML document's
// nodes carry their positions (a struct's have none).
absl::StatusOr<Value> DocumentToValue(const v1::Document& doc, absl::string_view field,
                                      const ParseLimits& limits = {});

// Severity on the wire: kNone is SEVERITY_UNSPECIFIED (a grant), and back.
v1::Severity SeverityToProto(Severity severity);
Severity SeverityFromProto(v1::Severity severity);

Principal FromProto(const v1::Principal& p);
AccessRequest FromProto(const v1::AccessRequest& r);
// The same into `out`, every field written: a request built in place (a Request's own
// AccessRequest, as the server's wire decoder fills it) costs no move of it.
void FromProto(const v1::AccessRequest& r, AccessRequest& out);
absl::StatusOr<ProductRequest> FromProto(const v1::ProductRequest& r,
                                         const ParseLimits& limits = {});
absl::StatusOr<DeploymentRequest> FromProto(const v1::DeploymentRequest& r,
                                            const ParseLimits& limits = {});

void ToProto(const Principal& p, v1::Principal* out);
// The wire form of an engine access request (what the decision log records for requests that
// reached the server in another shape: Trino, Envoy, AuthZEN).
void ToProto(const AccessRequest& r, v1::AccessRequest* out);
void ToProto(const Decision& d, v1::Decision* out);
// And back, for clients that print a server's decision in the one JSON shape
// (service/decision_json): everything the wire carries (faults are not on the wire).
Decision FromProto(const v1::Decision& d);

// One request of any kind as a proto (the DryRunCase oneof), and back.
absl::StatusOr<Request> FromProto(const v1::DryRunCase& c, const ParseLimits& limits = {});

// Parses `json` (the proto3 JSON mapping of the request message for `kind`) into an engine
// request. Unknown fields are errors, so a typo cannot silently drop a field.
absl::StatusOr<Request> RequestFromJson(Kind kind, absl::string_view json,
                                        const ParseLimits& limits = {});
// The same, into the proto (DryRunCase) without converting to the engine type.
absl::StatusOr<v1::DryRunCase> CaseFromJson(Kind kind, absl::string_view json);

// The proto3 JSON mapping of `message`, on one line (or indented when `pretty`).
std::string ToJson(const google::protobuf::Message& message, bool pretty = false);

}  // namespace arbiter

#endif  // ARBITER_SERVICE_CONVERT_CONVERT_H_
