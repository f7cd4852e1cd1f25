// The OpenID AuthZEN Authorization API 1.0 on arbiterd's HTTP side port:
//   POST /access/v1/evaluation            one evaluation -> {"decision": bool, "context": {...}}
//   POST /access/v1/evaluations           several, with top-level defaults and
//                                         options.evaluations_semantic -> {"evaluations": [...]}
//   GET  /.well-known/authzen-configuration  the PDP metadata, with absolute URLs
//
// Each evaluation is translated (translate.h) into an access request and decided by the Decider,
// the path every other door takes, so it is counted in metrics and written to the decision log
// (which records the translated arbiter.v1.AccessRequest). `execute_all` batches are decided on
// one bundle snapshot (Decider::DecideBatch); the short-circuiting semantics decide in order and
// stop at the first deny (deny_on_first_deny) or permit (permit_on_first_permit).
//
// Statuses, as the specification says: a decision, allow or deny, is a 200; malformed input is a
// 400 whose body is the error message (text/plain) naming the member at fault; a request that
// could not be decided (no bundle, deadline, engine fault) is a 500, so that the PEP fails
// closed. In a batch, an evaluation the engine refuses as malformed (a table id that is not
// catalog.schema.table, say) is {"decision": false, "context": {"error": {"status": 400, ...}}}.
// An X-Request-ID header is echoed on the response and recorded in req.context.request_id.
#ifndef ARBITER_SERVICE_AUTHZEN_ROUTES_H_
#define ARBITER_SERVICE_AUTHZEN_ROUTES_H_

#include "service/http/http_server.h"
#include "service/server/config.h"
#include "service/server/decider.h"

namespace arbiter::authzen {

// Registers the routes on `http` (before it starts). Uses config.authzen_base_url,
// config.max_batch_size and config.default_deadline. `decider` must outlive `http`'s Stop().
// Matches ArbiterServer's HttpRouteInstaller.
void InstallAuthzenRoutes(HttpServer& http, Decider& decider, const ServerConfig& config);

}  // namespace arbiter::authzen

#endif  // ARBITER_SERVICE_AUTHZEN_ROUTES_H_
