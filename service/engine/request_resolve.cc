// Step "resolve" of building `req` (request_build.h): who owns what a request is about. The
// owner decides which domain's policies run and whose overrides apply, so for an access request
// it comes from the catalog alone; the request may name a domain or product only to have it
// confirmed. One hash lookup (the catalog indexes tables and products at load), no copies of
// the trees.
#include "absl/strings/str_cat.h"
#include "service/descriptor/descriptor.h"
#include "service/engine/request_build.h"

namespace arbiter {
namespace {

absl::StatusOr<ResolvedRequest> ResolveAccess(const ResourceRef& r, const Catalog& catalog) {
  ResolvedRequest out;
  out.product_name = r.product;
  if (!r.table.empty()) {
    const Catalog::TableEntry* entry = catalog.FindTable(r.table);
    if (entry == nullptr) return out;  // uncatalogued: no owner
    const Catalog::ProductEntry& m = *entry->product;
    if (!r.domain.empty() && r.domain != m.domain) {
      return absl::InvalidArgumentError(absl::StrCat(
          "resource.domain: table ", r.table, " belongs to domain ", m.domain, ", not ", r.domain));
    }
    if (!r.product.empty() && r.product != m.name) {
      return absl::InvalidArgumentError(absl::StrCat("resource.product: table ", r.table,
                                                     " belongs to product ", m.name, ", not ",
                                                     r.product));
    }
    out.domain = m.domain;
    out.product_name = m.name;
    out.product = &m;
    out.table = entry;
  } else if (const Catalog::ProductEntry* m = catalog.FindProductEntry(r.product)) {
    if (!r.domain.empty() && r.domain != m->domain) {
      return absl::InvalidArgumentError(absl::StrCat("resource.domain: product ", r.product,
                                                     " belongs to domain ", m->domain, ", not ",
                                                     r.domain));
    }
    out.domain = m->domain;
    out.product = m;
  }
  return out;
}

}  // namespace

absl::StatusOr<ResolvedRequest> ResolveRequest(const Request& request, const Catalog& catalog) {
  if (const auto* a = std::get_if<AccessRequest>(&request)) {
    return ResolveAccess(a->resource, catalog);
  }
  ResolvedRequest out;
  if (const auto* p = std::get_if<ProductRequest>(&request)) {
    out.domain = DescriptorDomain(p->product);
  } else {
    out.domain = DescriptorDomain(std::get<DeploymentRequest>(request).product);
  }
  return out;
}

}  // namespace arbiter
