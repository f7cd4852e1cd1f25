#include "service/trino/routes.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "service/authz/authz.h"
#include "service/decision_json/decision_json.h"
#include "service/explain/explain.h"
#include "service/trino/translate.h"

namespace arbiter::trino {
namespace {

constexpr char kJson[] = "application/json";

// State shared by the handlers; lives as long as the routes (the HttpServer's handlers).
class TrinoEndpoint {
 public:
  TrinoEndpoint(Decider& decider, const ServerConfig& config)
      : decider_(decider),
        identities_(config.trino_group_roles),
        deadline_(config.default_deadline),
        max_body_bytes_(static_cast<size_t>(config.trino_max_body_bytes)) {
    caps_.max_checks = static_cast<size_t>(config.trino_max_checks_per_request);
    caps_.max_groups = static_cast<size_t>(config.trino_max_groups_per_identity);
  }

  HttpResponse Serve(Endpoint endpoint, const HttpRequest& request) {
    // The deadline covers the whole request, translation and every check of a batch.
    const absl::Time deadline = absl::Now() + deadline_;
    HttpResponse response;
    response.content_type = kJson;
    if (request.body.size() > max_body_bytes_) {
      response.status = 413;
      response.body =
          ErrorBody("request_too_large",
                    absl::StrCat("trino.max_body_bytes: the body is ", request.body.size(),
                                 " bytes, over the limit of ", max_body_bytes_));
      return response;
    }
    std::shared_ptr<const Bundle> bundle = decider_.bundles().Current();
    std::shared_ptr<const ProductLocator> products =
        bundle != nullptr ? ProductsFor(bundle) : nullptr;
    if (products == nullptr) {
      response.status = 500;
      response.body = ErrorBody("internal_error", "no policy bundle is loaded");
      return response;
    }
    // The checks are made by the threads that decide them (Plan::MakeCheck): each check is
    // then that core's own memory, and its strings' room is reused from the check before.
    absl::StatusOr<Plan> plan =
        Translate(endpoint, request.body, identities_, *products, DefaultTrinoParseLimits(), caps_);
    if (!plan.ok()) {
      Answer rejected = RejectedAnswer(plan.status());
      response.status = rejected.status;
      response.body = std::move(rejected.body);
      return response;
    }
    CallerInfo caller;
    caller.transport = "http";
    caller.peer = request.remote_address;
    caller.identity = request.caller_identity;
    caller.role = request.caller_role;
    caller.claimed = request.caller_claimed;
    // `?explain=true`: the checks' traces in the answer's "explain" member (Trino never asks;
    // a governance engineer replaying a request with curl does). Other roles get a 403.
    if (QueryAsksExplain(request.query)) {
      if (absl::Status s = authz::Authorizer::AuthorizeRoleName(caller.identity, caller.role,
                                                                authz::Operation::kExplain);
          !s.ok()) {
        response.status = 403;
        response.body = ErrorBody("permission_denied", s.message());
        return response;
      }
      caller.explain = true;
    }
    // The checks, made for the explanation too.
    std::vector<AccessRequest> explained;
    if (caller.explain) explained = plan->MakeChecks();
    // One principal for every check (its groups may number hundreds): converted for the
    // policies once, never copied into the checks. The checks are decided in one batch: past
    // the deadline it stops starting checks and ends at the first one that expired, so the
    // decisions made in time are in hand (and logged).
    const SharedPrincipal principal(std::move(plan->principal));
    const size_t total = plan->check_count();
    // Of each decision, what the answer reads, taken where it was made (the rest is freed there,
    // in that core's cache); the whole decisions only for the explanation.
    std::vector<CheckVerdict> verdicts(total);
    std::vector<absl::StatusOr<Decision>> decisions;
    if (caller.explain) decisions.resize(total);
    const Plan& checks = *plan;
    const std::vector<absl::Status> statuses = decider_.DecideBatchInto(
        *bundle, total, [&checks](size_t i, AccessRequest& check) { checks.MakeCheck(i, check); },
        [&](size_t i, Decision& d) {
          verdicts[i] = TakeVerdict(d);
          if (caller.explain) {
            d.obligations = verdicts[i].obligations;
            decisions[i] = std::move(d);
          }
        },
        deadline, caller, &principal);
    if (!statuses.empty() && statuses.back().code() == absl::StatusCode::kDeadlineExceeded) {
      response.status = 504;
      response.body =
          ErrorBody("deadline_exceeded",
                    absl::StrCat("the deadline of ", absl::FormatDuration(deadline_),
                                 " passed after ", statuses.size() - 1, " of ", total,
                                 " checks (server.default_deadline_ms); send smaller batches"));
      return response;
    }
    if (caller.explain) {
      for (size_t i = 0; i < statuses.size(); ++i) {
        if (!statuses[i].ok()) decisions[i] = statuses[i];
      }
    }
    Answer answer = Shape(*plan, statuses, verdicts);
    response.status = answer.status;
    response.body = std::move(answer.body);
    if (caller.explain && response.status == 200 && !response.body.empty() &&
        response.body.back() == '}') {
      // One more member beside "result": the text `arbiter eval --trino FILE --explain` prints.
      response.body.pop_back();
      absl::StrAppend(&response.body, response.body.size() > 1 ? "," : "", "\"explain\":",
                      json::Quote(FormatChecksExplain(
                          absl::StrCat("endpoint: ", EndpointName(endpoint), ", operation ",
                                       plan->operation, ", user ", plan->user),
                          explained, decisions)),
                      "}");
    }
    return response;
  }

  HttpResponse Health() {
    HttpResponse response;
    response.content_type = kJson;
    bool ready = decider_.bundles().Current() != nullptr;
    response.status = ready ? 200 : 500;
    response.body = ready ? "{}" : ErrorBody("internal_error", "no policy bundle is loaded");
    return response;
  }

 private:
  // The product index of `bundle` (the active one), rebuilt when a reload publishes a new
  // snapshot.
  std::shared_ptr<const ProductLocator> ProductsFor(std::shared_ptr<const Bundle> bundle) {
    {
      absl::MutexLock lock(&mu_);
      if (bundle == bundle_) return products_;
    }
    auto products =
        std::make_shared<const ProductLocator>(ProductLocator::Build(bundle->catalog()));
    absl::MutexLock lock(&mu_);
    bundle_ = std::move(bundle);
    products_ = products;
    return products;
  }

  Decider& decider_;
  const IdentityMapper identities_;
  const absl::Duration deadline_;
  const size_t max_body_bytes_;
  TrinoLimits caps_;
  absl::Mutex mu_;
  std::shared_ptr<const Bundle> bundle_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const ProductLocator> products_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

void InstallTrinoRoutes(HttpServer& http, Decider& decider, const ServerConfig& config) {
  auto endpoint = std::make_shared<TrinoEndpoint>(decider, config);
  std::string prefix = config.trino_path_prefix;
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  const std::pair<const char*, Endpoint> routes[] = {
      {"/allow", Endpoint::kAllow},
      {"/batch", Endpoint::kBatch},
      {"/rowFilters", Endpoint::kRowFilters},
      {"/columnMask", Endpoint::kColumnMask},
      {"/batchColumnMask", Endpoint::kBatchColumnMask},
      {"/batchColumnMasks", Endpoint::kBatchColumnMask},
  };
  // A single check (or a small batch) runs on the I/O thread that read it while the worker
  // pool is idle: Trino sends one check per call for most statements, and the hand-off to a
  // worker and back cost ~45 us of server CPU per check on a 2-core machine (about a third).
  // Not with a decision log that blocks when full (overflow: block): a stalled log would then
  // hold I/O threads, and with them the health checks of their connections, not only workers.
  const bool log_may_block = !config.decision_log.path.empty() &&
                             config.decision_log.overflow == DecisionLogOptions::Overflow::kBlock;
  const HttpRouteKind kind =
      log_may_block ? HttpRouteKind::kWorker : HttpRouteKind::kWorkerOrInline;
  for (const auto& [path, which] : routes) {
    http.Handle(
        "POST", absl::StrCat(prefix, path),
        [endpoint, which = which](const HttpRequest& r) { return endpoint->Serve(which, r); },
        kind);
  }
  http.Handle("GET", "/health", [endpoint](const HttpRequest&) { return endpoint->Health(); });
}

}  // namespace arbiter::trino
