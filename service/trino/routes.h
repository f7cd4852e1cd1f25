// The Trino endpoint of arbiterd's HTTP side port: OPA's data API shape (`POST /v1/data/<path>`
// with `{"input": ...}`, answered `{"result": ...}`) for the five documents Trino's OPA access
// control asks for, plus OPA's `GET /health`. Paths, under `trino.path_prefix` (default
// "/v1/data/trino"):
//   /allow            opa.policy.uri
//   /batch            opa.policy.batched-uri
//   /rowFilters       opa.policy.row-filters-uri
//   /columnMask       opa.policy.column-masking-uri
//   /batchColumnMask  opa.policy.batch-column-masking-uri (also /batchColumnMasks, the
//                     spelling of Trino's documentation example)
//
// Every request is translated (translate.h) into access checks that are decided together on one
// bundle snapshot by Decider::DecideBatch, the path gRPC CheckBatch takes, so each check is
// counted in metrics and written to the decision log like any other decision.
//
// Statuses, as Trino needs them: a decision (allow or deny) is a 200; a body that is not JSON or
// lacks `input`, `input.action.operation` or the identity is a 400 with
// {"code": "invalid_parameter", "message": ...}; a request that could not be decided (no bundle,
// deadline, engine fault) is a 500, so that Trino fails the query rather than guessing.
//
// Per-request caps (issue 11; docs/limits.md): a body over trino.max_body_bytes, an identity
// with more than trino.max_groups_per_identity groups, or a request expanding to more than
// trino.max_checks_per_request checks (batch items x columns) is a 413 with
// {"code": "request_too_large", "message": "<the config key>: ..."}. The request's deadline
// (server.default_deadline_ms) holds for the whole batch: past it, the remaining checks are not
// decided and the answer is a 504 {"code": "deadline_exceeded"}.
#ifndef ARBITER_SERVICE_TRINO_ROUTES_H_
#define ARBITER_SERVICE_TRINO_ROUTES_H_

#include "service/http/http_server.h"
#include "service/server/config.h"
#include "service/server/decider.h"

namespace arbiter::trino {

// Registers the routes on `http` (before it starts). Uses config.trino_path_prefix,
// config.trino_group_roles and config.default_deadline. `decider` must outlive `http`'s Stop().
// Matches ArbiterServer's HttpRouteInstaller.
void InstallTrinoRoutes(HttpServer& http, Decider& decider, const ServerConfig& config);

}  // namespace arbiter::trino

#endif  // ARBITER_SERVICE_TRINO_ROUTES_H_
