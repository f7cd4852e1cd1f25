// Envoy's external authorization protocol (envoy.service.auth.v3.Authorization/Check), translated
// to one Arbiter access request and the decision back to a CheckResponse. Pure translation: no
// gRPC and no server state, so the unit tests and the fuzzer call it directly; ext_authz_service.h
// serves it. docs/envoy.md has the full mapping and an Envoy config.
//
// The mapping, in short:
//   - resource: attributes.context_extensions `product`, `table`, `domain`, `columns` (comma-
//     separated), set per route in Envoy's config; without them, the longest matching
//     `path_prefix` of config `envoy.routes`. A request that neither names is refused (403),
//     never decided on a guess.
//   - principal: the verified JWT payload Envoy's jwt_authn filter forwards in a header
//     (`x-jwt-payload`, base64url JSON): claims `sub` -> id, `roles`, `groups`, `domain` (names
//     configurable), other scalar claims -> attributes. Without that header, the calling
//     workload's attributes.source.principal (a SPIFFE ID). A payload that is not base64url JSON
//     is refused, never allowed.
//   - action: the HTTP method through `envoy.method_actions` (GET/HEAD read, POST/PUT/PATCH
//     write, DELETE delete); any other method is "unknown", which policies deny.
//   - context: method, path, host, request_id, and source_principal when Envoy reports one.
//
// Answers: allow -> status OK with upstream headers x-arbiter-decision-id and the obligations
// (x-arbiter-row-filters: a JSON array of SQL predicates; x-arbiter-column-masks: a JSON object
// column -> SQL expression), replacing any such header the client sent; deny -> status
// PERMISSION_DENIED and an HTTP 403 whose JSON body holds the requester-safe messages and the
// decision id (never a reason's detail); a request that cannot be translated -> status
// INVALID_ARGUMENT and an HTTP 403 with the message. "Could not decide" is not shaped here: the
// service fails the call (UNAVAILABLE), which Envoy turns into a refusal.
#ifndef ARBITER_SERVICE_ENVOY_TRANSLATE_H_
#define ARBITER_SERVICE_ENVOY_TRANSLATE_H_

#include "absl/status/statusor.h"
#include "envoy/service/auth/v3/external_auth.pb.h"
#include "service/engine/types.h"
#include "service/server/config.h"

namespace arbiter::ext_authz {

// The upstream headers an allow sets (and removes when they do not apply).
inline constexpr char kDecisionIdHeader[] = "x-arbiter-decision-id";
inline constexpr char kRowFiltersHeader[] = "x-arbiter-row-filters";
inline constexpr char kColumnMasksHeader[] = "x-arbiter-column-masks";

// The access request for `check`. INVALID_ARGUMENT, with a message naming the attribute, when the
// request names no resource (no context_extensions, no matching route), carries a JWT payload
// that is not base64url JSON (or whose id claim is missing), or has no principal at all.
absl::StatusOr<AccessRequest> TranslateCheck(const ::envoy::service::auth::v3::CheckRequest& check,
                                             const EnvoyDoorConfig& config);

// The answer for a decision: allowed or denied as described above.
::envoy::service::auth::v3::CheckResponse ShapeDecision(const Decision& decision);

// The answer for a request that could not be translated or that the engine refused as malformed
// (INVALID_ARGUMENT): denied, with the message in status and body.
::envoy::service::auth::v3::CheckResponse ShapeInvalid(const absl::Status& status);

}  // namespace arbiter::ext_authz

#endif  // ARBITER_SERVICE_ENVOY_TRANSLATE_H_
