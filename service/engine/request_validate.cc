// Step "validate" of building `req` (request_build.h): everything a request must say, checked
// before anything is looked up, so that a malformed request never reaches the catalog or a
// policy and its error names the field the caller must fix.
#include "absl/strings/str_cat.h"
#include "service/engine/request_build.h"

namespace arbiter {
namespace {

// Resource types the catalog resolves; any other type has no owner.
bool IsCatalogType(const std::string& type) {
  return type.empty() || type == "table" || type == "product";
}

absl::Status RequireMap(const Value& v, absl::string_view field) {
  if (v.is_map()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(field, ": expected a document (a map), got ",
                                                 v.is_null() ? "nothing" : "a ",
                                                 v.is_null()   ? ""
                                                 : v.is_list() ? "list"
                                                               : "scalar"));
}

absl::Status ValidateAccess(const AccessRequest& a, const SharedPrincipal* principal) {
  const Principal& who = principal != nullptr ? principal->principal() : a.principal;
  if (who.id.empty()) return absl::InvalidArgumentError("principal.id: required");
  if (a.action.empty()) return absl::InvalidArgumentError("action: required");
  const ResourceRef& r = a.resource;
  const bool catalog_type = IsCatalogType(r.type);
  if (catalog_type && r.table.empty() && r.product.empty()) {
    return absl::InvalidArgumentError("resource: name a table (catalog.schema.table) or a product");
  }
  if (!catalog_type && r.id.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("resource.id: required for a resource of type \"", r.type, "\""));
  }
  if (!catalog_type && (!r.table.empty() || !r.product.empty() || !r.domain.empty())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "resource: a resource of type \"", r.type,
        "\" has no catalog owner; table, product and domain apply to tables and products"));
  }
  if (r.columns.size() > kMaxRequestColumns) {
    return absl::InvalidArgumentError(absl::StrCat("resource.columns: ", r.columns.size(),
                                                   " columns, over the limit of ",
                                                   kMaxRequestColumns));
  }
  if (!r.table.empty()) {
    // Exactly three non-empty parts.
    size_t first = r.table.find('.');
    size_t second = first == std::string::npos ? first : r.table.find('.', first + 1);
    if (first == 0 || second == std::string::npos || second == first + 1 ||
        second + 1 == r.table.size() || r.table.find('.', second + 1) != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("resource.table: expected catalog.schema.table, got \"", r.table, "\""));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateDeployment(const DeploymentRequest& d) {
  if (auto s = RequireMap(d.product, "product"); !s.ok()) return s;
  if (d.previous.has_value()) {
    if (auto s = RequireMap(*d.previous, "previous"); !s.ok()) return s;
  }
  for (size_t i = 0; i < d.contracts.size(); ++i) {
    if (auto s = RequireMap(d.contracts[i], absl::StrCat("contracts[", i, "]")); !s.ok()) return s;
  }
  for (size_t i = 0; i < d.previous_contracts.size(); ++i) {
    if (auto s = RequireMap(d.previous_contracts[i], absl::StrCat("previous_contracts[", i, "]"));
        !s.ok()) {
      return s;
    }
  }
  if (d.environment.empty()) return absl::InvalidArgumentError("environment: required");
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateRequest(const Request& request, const SharedPrincipal* principal) {
  if (const auto* a = std::get_if<AccessRequest>(&request)) return ValidateAccess(*a, principal);
  if (const auto* p = std::get_if<ProductRequest>(&request))
    return RequireMap(p->product, "product");
  return ValidateDeployment(std::get<DeploymentRequest>(request));
}

}  // namespace arbiter
