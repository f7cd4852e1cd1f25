#include "service/trino/routes.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
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
        deadline_(config.default_deadline) {}

  HttpResponse Serve(Endpoint endpoint, const HttpRequest& request) {
    HttpResponse response;
    response.content_type = kJson;
    std::shared_ptr<const ProductLocator> products = ProductsForCurrentBundle();
    if (products == nullptr) {
      response.status = 500;
      response.body = ErrorBody("internal_error", "no policy bundle is loaded");
      return response;
    }
    absl::StatusOr<Plan> plan = Translate(endpoint, request.body, identities_, *products);
    if (!plan.ok()) {
      response.status = 400;
      response.body = ErrorBody("invalid_parameter", plan.status().message());
      return response;
    }
    CallerInfo caller;
    caller.transport = "http";
    caller.identity = request.Header("User-Agent");
    std::string revision;
    std::vector<absl::StatusOr<Decision>> decisions =
        decider_.DecideBatch(plan->checks, absl::Now() + deadline_, caller, &revision);
    Answer answer = Shape(*plan, decisions);
    response.status = answer.status;
    response.body = std::move(answer.body);
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
  // The product index of the active bundle, rebuilt when a reload publishes a new snapshot.
  std::shared_ptr<const ProductLocator> ProductsForCurrentBundle() {
    std::shared_ptr<const Bundle> bundle = decider_.bundles().Current();
    if (bundle == nullptr) return nullptr;
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
  for (const auto& [path, which] : routes) {
    http.Handle(
        "POST", absl::StrCat(prefix, path),
        [endpoint, which = which](const HttpRequest& r) { return endpoint->Serve(which, r); });
  }
  http.Handle("GET", "/health", [endpoint](const HttpRequest&) { return endpoint->Health(); });
}

}  // namespace arbiter::trino
