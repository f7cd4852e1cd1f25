#include "service/engine/bundle_load.h"

namespace arbiter {
namespace {

void AddContainers(const Value& v, absl::flat_hash_set<const Value*>& out) {
  const Value& t = v.Get();
  if (t.is_list()) {
    out.insert(&t);
    for (const Value& e : t.as_list()) AddContainers(e, out);
  } else if (t.is_map()) {
    out.insert(&t);
    for (const auto& [k, e] : t.as_map()) AddContainers(e, out);
  }
}

}  // namespace

void BuildBundleCatalog(std::vector<Catalog::Document> products,
                        std::vector<Catalog::Document> contracts, Catalog& catalog,
                        absl::flat_hash_set<const Value*>& containers,
                        std::vector<std::string>& errors) {
  catalog = Catalog::Build(std::move(products), std::move(contracts), errors);
  // The trees are shared and immutable: pointers into them survive the Catalog's moves.
  for (const auto* docs : {&catalog.products(), &catalog.contracts()}) {
    for (const Catalog::Document& d : *docs) AddContainers(*d.tree, containers);
  }
}

}  // namespace arbiter
