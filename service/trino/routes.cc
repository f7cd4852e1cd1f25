#include "service/trino/routes.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "arbiter/v1/types.pb.h"
#include "service/convert/convert.h"
#include "service/trino/translate.h"

namespace arbiter::trino {
namespace {

constexpr char kJson[] = "application/json";

void ToProto(const AccessRequest& r, v1::AccessRequest* out) {
  ::arbiter::ToProto(r.principal, out->mutable_principal());
  out->set_action(r.action);
  v1::ResourceRef* res = out->mutable_resource();
  res->set_domain(r.resource.domain);
  res->set_product(r.resource.product);
  res->set_table(r.resource.table);
  for (const std::string& c : r.resource.columns) res->add_columns(c);
  for (const auto& [k, v] : r.context) (*out->mutable_context())[k] = v;
}

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
    std::vector<v1::AccessRequest> protos(plan->checks.size());
    std::vector<const v1::AccessRequest*> proto_ptrs(plan->checks.size());
    for (size_t i = 0; i < plan->checks.size(); ++i) {
      ToProto(plan->checks[i], &protos[i]);
      proto_ptrs[i] = &protos[i];
    }
    CallerInfo caller;
    caller.transport = "http";
    caller.identity = request.Header("User-Agent");
    std::string revision;
    std::vector<absl::StatusOr<Decision>> decisions =
        decider_.DecideBatch(plan->checks, proto_ptrs, absl::Now() + deadline_, caller, &revision);
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
