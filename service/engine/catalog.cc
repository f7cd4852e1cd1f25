#include "service/engine/catalog.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace arbiter {

Catalog Catalog::Build(std::vector<Document> products, std::vector<Document> contracts,
                       std::vector<std::string>& errors) {
  Catalog c;
  c.products_ = std::move(products);
  c.contracts_ = std::move(contracts);
  for (size_t i = 0; i < c.products_.size(); ++i) {
    const Document& doc = c.products_[i];
    const Value& p = *doc.tree;
    const Value* name_value = p.FindPath({"metadata", "name"});
    std::string name =
        name_value != nullptr && name_value->is_string() ? name_value->as_string() : "";
    const Value* domain = p.FindPath({"metadata", "domain"});
    if (name.empty()) {
      errors.push_back(absl::StrCat(doc.file, ":1: product has no metadata.name"));
      continue;
    }
    if (domain == nullptr || !domain->is_string() || domain->as_string().empty()) {
      errors.push_back(absl::StrCat(doc.file, ":1: product ", name, " has no metadata.domain"));
      continue;
    }
    if (!c.product_by_name_.emplace(name, i).second) {
      errors.push_back(absl::StrCat(doc.file, ":1: duplicate product name ", name, " (also in ",
                                    c.products_[c.product_by_name_[name]].file, ")"));
      continue;
    }
    const Value* ports = p.FindPath({"spec", "outputPorts"});
    if (ports == nullptr || !ports->is_list()) continue;
    for (const Value& port : ports->as_list()) {
      if (port.GetString("type") != "sql") continue;
      std::string catalog = absl::AsciiStrToLower(port.GetString("catalog"));
      std::string schema = absl::AsciiStrToLower(port.GetString("schema"));
      if (catalog.empty() || schema.empty()) continue;
      std::string key = absl::StrCat(catalog, ".", schema);
      auto [it, inserted] = c.product_by_schema_.emplace(key, i);
      if (!inserted && it->second != i) {
        errors.push_back(absl::StrCat(doc.file, ":1: product ", name, " serves ", key,
                                      " which product ", c.products_[it->second].file,
                                      " already serves"));
        continue;
      }
      const Value* tables = port.Find("tables");
      if (tables == nullptr || !tables->is_list()) continue;
      for (const Value& t : tables->as_list()) {
        std::string tname = absl::AsciiStrToLower(t.GetString("name"));
        if (tname.empty()) continue;
        // Aliasing constructor: the table entry lives as long as the product tree.
        c.tables_[absl::StrCat(key, ".", tname)] = {i, std::shared_ptr<const Value>(doc.tree, &t)};
      }
    }
  }
  for (size_t i = 0; i < c.contracts_.size(); ++i) {
    const Document& doc = c.contracts_[i];
    const Value* name = doc.tree->FindPath({"metadata", "name"});
    if (name == nullptr || !name->is_string() || name->as_string().empty()) {
      errors.push_back(absl::StrCat(doc.file, ":1: contract has no metadata.name"));
      continue;
    }
    if (!c.contract_by_name_.emplace(name->as_string(), i).second) {
      errors.push_back(absl::StrCat(doc.file, ":1: duplicate contract name ", name->as_string()));
    }
  }
  return c;
}

std::shared_ptr<const Value> Catalog::FindProduct(absl::string_view name) const {
  auto it = product_by_name_.find(name);
  return it == product_by_name_.end() ? nullptr : products_[it->second].tree;
}

std::shared_ptr<const Value> Catalog::FindContract(absl::string_view name) const {
  auto it = contract_by_name_.find(name);
  return it == contract_by_name_.end() ? nullptr : contracts_[it->second].tree;
}

std::optional<Catalog::TableMatch> Catalog::ResolveTable(absl::string_view qualified) const {
  std::vector<std::string> parts = absl::StrSplit(absl::AsciiStrToLower(qualified), '.');
  if (parts.size() != 3) return std::nullopt;
  for (const auto& part : parts) {
    if (part.empty()) return std::nullopt;
  }
  size_t product_index;
  std::shared_ptr<const Value> table;
  if (auto it = tables_.find(absl::StrCat(parts[0], ".", parts[1], ".", parts[2]));
      it != tables_.end()) {
    product_index = it->second.first;
    table = it->second.second;
  } else if (auto s = product_by_schema_.find(absl::StrCat(parts[0], ".", parts[1]));
             s != product_by_schema_.end()) {
    product_index = s->second;
  } else {
    return std::nullopt;
  }
  const Document& doc = products_[product_index];
  TableMatch m;
  m.product = doc.tree;
  m.product_name = doc.tree->FindPath({"metadata", "name"})->as_string();
  m.domain = doc.tree->FindPath({"metadata", "domain"})->as_string();
  m.table = std::move(table);
  return m;
}

}  // namespace arbiter
