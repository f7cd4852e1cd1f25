#include "service/engine/catalog.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "service/descriptor/descriptor.h"
#include "service/diff/semver.h"

namespace arbiter {
namespace {

// Keys whose value the policies and the schema diff read as a boolean, wherever they appear.
constexpr absl::string_view kBooleanKeys[] = {"pii", "required", "unique", "primaryKey",
                                              "gdprCompliant"};

class ShapeChecker {
 public:
  ShapeChecker(const Catalog::Document& doc, std::vector<std::string>& errors)
      : doc_(doc), errors_(errors) {}

  // A message about the node `at` (its line is the parser's; a map entry's is its key's).
  void Error(const Value& at, absl::string_view msg) {
    int line = at.line() > 0 ? at.line() : 1;
    errors_.push_back(absl::StrCat(doc_.file, ":", line, ": ", msg));
  }

  // `what` at `v`: a string when present.
  void String(const Value& v, absl::string_view what) {
    if (!v.is_string()) Error(v, absl::StrCat(what, ": expected a string, got ", v.ToJson()));
  }

  // The version the schema diff compares (DescriptorVersion's): a semantic version string.
  void Version(const Value& root) {
    DescriptorField f = FindDescriptorField(root, DescriptorFact::kVersion);
    if (f.value == nullptr) return;
    const Value& v = *f.value;
    if (v.is_number()) {
      // YAML reads 1.10 as the number 1.1: a version must be a string.
      Error(v, absl::StrCat(f.key,
                            ": a number, not a semantic version string; "
                            "write MAJOR.MINOR.PATCH (1.10 would read as 1.1)"));
    } else if (!v.is_string() || !ParseSemVer(v.as_string())) {
      Error(v, absl::StrCat(f.key, ": ", v.ToJson(),
                            " is not a semantic version (MAJOR.MINOR.PATCH)"));
    }
  }

  // Booleans anywhere in the tree; `depth` bounds the walk (the parser bounds it too).
  void Booleans(const Value& v, int depth = 0) {
    if (depth > 64) return;
    if (v.is_map()) {
      for (const auto& [k, child] : v.as_map()) {
        if (std::find(std::begin(kBooleanKeys), std::end(kBooleanKeys), k) !=
                std::end(kBooleanKeys) &&
            !child.is_bool() && !child.is_map() && !child.is_null() &&
            !(k == "required" && child.is_list())) {  // JSON Schema's required: [names]
          Error(child,
                absl::StrCat(k, ": expected true or false, got ", child.ToJson(),
                             child.is_string() ? " (a string: quoted, or a word YAML 1.2 does "
                                                 "not read as a boolean)"
                                               : ""));
        }
        Booleans(child, depth + 1);
      }
    } else if (v.is_list()) {
      for (const Value& e : v.as_list()) Booleans(e, depth + 1);
    }
  }

  // A list of maps each with a string `key` (when `key` is given).
  void ListOfMaps(const Value& v, absl::string_view what, absl::string_view key,
                  const std::function<void(const Value&)>& each) {
    if (!v.is_list()) {
      Error(v, absl::StrCat(what, ": expected a list, got ", v.ToJson().substr(0, 80)));
      return;
    }
    for (size_t i = 0; i < v.size(); ++i) {
      const Value& e = v.as_list()[i];
      if (!e.is_map()) {
        Error(e, absl::StrCat(what, "[", i, "]: expected a map"));
        continue;
      }
      if (!key.empty()) {
        const Value* k = e.Find(key);
        if (k == nullptr) {
          Error(e, absl::StrCat(what, "[", i, "]: ", key, " is required"));
        } else {
          String(*k, absl::StrCat(what, "[", i, "].", key));
        }
      }
      if (each) each(e);
    }
  }

  void Product() {
    const Value& p = *doc_.tree;
    Common(p);
    const Value* spec = p.Find("spec");
    if (spec == nullptr || !spec->is_map()) return;
    const Value* ports = spec->Find("outputPorts");
    if (ports == nullptr) return;
    ListOfMaps(*ports, "spec.outputPorts", "type", [&](const Value& port) {
      if (port.GetString("type") != "sql") return;
      for (const char* k : {"catalog", "schema"}) {
        const Value* v = port.Find(k);
        if (v == nullptr) {
          Error(port, absl::StrCat("a sql output port needs `", k, "`"));
        } else {
          String(*v, k);
        }
      }
      const Value* tables = port.Find("tables");
      if (tables == nullptr) return;
      ListOfMaps(*tables, "tables", "name", [&](const Value& t) {
        const Value* cols = t.Find("columns");
        if (cols == nullptr) return;
        ListOfMaps(*cols, "columns", "name", nullptr);
      });
    });
  }

  void Common(const Value& d) {
    // The name and domain where the one rule (service/descriptor) reads them.
    for (DescriptorFact fact : {DescriptorFact::kName, DescriptorFact::kDomain}) {
      DescriptorField f = FindDescriptorField(d, fact);
      if (f.value != nullptr) String(*f.value, f.key);
    }
    if (const Value* owner = d.FindPath({"metadata", "owner"})) String(*owner, "metadata.owner");
    Version(d);
    Booleans(d);
  }

 private:
  const Catalog::Document& doc_;
  std::vector<std::string>& errors_;
};

}  // namespace

Catalog Catalog::Build(std::vector<Document> products, std::vector<Document> contracts,
                       std::vector<std::string>& errors) {
  Catalog c;
  c.products_ = std::move(products);
  c.contracts_ = std::move(contracts);
  c.entries_.resize(c.products_.size());
  for (size_t i = 0; i < c.products_.size(); ++i) {
    const Document& doc = c.products_[i];
    ShapeChecker(doc, errors).Product();
    const Value& p = *doc.tree;
    std::string name = DescriptorName(p);
    std::string domain = DescriptorDomain(p);
    if (name.empty()) {
      errors.push_back(
          absl::StrCat(doc.file, ":1: product has no ", DescriptorKeys(DescriptorFact::kName)));
      continue;
    }
    if (domain.empty()) {
      errors.push_back(absl::StrCat(doc.file, ":1: product ", name, " has no ",
                                    DescriptorKeys(DescriptorFact::kDomain)));
      continue;
    }
    if (!c.product_by_name_.emplace(name, i).second) {
      errors.push_back(absl::StrCat(doc.file, ":1: duplicate product name ", name, " (also in ",
                                    c.products_[c.product_by_name_[name]].file, ")"));
      continue;
    }
    c.entries_[i] = std::make_unique<ProductEntry>(ProductEntry{name, domain, doc.tree, i});
    const ProductEntry* entry = c.entries_[i].get();
    const Value* ports = p.FindPath({"spec", "outputPorts"});
    if (ports == nullptr || !ports->is_list()) continue;
    for (const Value& port : ports->as_list()) {
      if (port.GetString("type") != "sql") continue;
      std::string catalog = absl::AsciiStrToLower(port.GetString("catalog"));
      std::string schema = absl::AsciiStrToLower(port.GetString("schema"));
      if (catalog.empty() || schema.empty()) continue;
      std::string key = absl::StrCat(catalog, ".", schema);
      auto [it, inserted] = c.schemas_.emplace(key, nullptr);
      if (inserted) {
        it->second = std::make_unique<TableEntry>();
        it->second->product = entry;
      } else if (it->second->product != entry) {
        errors.push_back(
            absl::StrCat(doc.file, ":1: product ", name, " serves ", key, " which product ",
                         c.products_[it->second->product->index].file, " already serves"));
        continue;
      }
      const Value* tables = port.Find("tables");
      if (tables == nullptr || !tables->is_list()) continue;
      for (const Value& t : tables->as_list()) {
        std::string tname = absl::AsciiStrToLower(t.GetString("name"));
        if (tname.empty()) continue;
        auto te = std::make_unique<TableEntry>();
        te->product = entry;
        // Aliasing constructor: the table entry lives as long as the product tree.
        te->table = std::shared_ptr<const Value>(doc.tree, &t);
        if (const Value* cols = t.Find("columns"); cols != nullptr && cols->is_list()) {
          for (const Value& col : cols->as_list()) {
            te->columns.emplace(absl::AsciiStrToLower(col.GetString("name")), &col);
          }
        }
        c.tables_[absl::StrCat(key, ".", tname)] = std::move(te);
      }
    }
  }
  for (size_t i = 0; i < c.contracts_.size(); ++i) {
    const Document& doc = c.contracts_[i];
    ShapeChecker(doc, errors).Common(*doc.tree);
    std::string name = DescriptorName(*doc.tree);
    if (name.empty()) {
      errors.push_back(
          absl::StrCat(doc.file, ":1: contract has no ", DescriptorKeys(DescriptorFact::kName)));
      continue;
    }
    if (!c.contract_by_name_.emplace(name, i).second) {
      errors.push_back(absl::StrCat(doc.file, ":1: duplicate contract name ", name));
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

const Catalog::ProductEntry* Catalog::FindProductEntry(absl::string_view name) const {
  auto it = product_by_name_.find(name);
  return it == product_by_name_.end() ? nullptr : entries_[it->second].get();
}

namespace {

// The eight bytes of `w` with each ASCII upper-case letter lower-cased, every other byte (the
// bytes >= 0x80 included) unchanged: absl::ascii_tolower on each. Per byte, bit 7 of the
// 7-bit value plus 0x80 - 'A' says ">= 'A'", plus 0x80 - '[' says "> 'Z'" (no sum carries
// into the next byte); a letter's bit 7 (of ">= 'A'" and not "> 'Z'", of an ASCII byte)
// shifted to bit 5 is the 0x20 that lower-cases it.
inline uint64_t AsciiToLower8(uint64_t w) {
  constexpr uint64_t kOnes = 0x0101010101010101;
  const uint64_t heptets = w & (0x7F * kOnes);
  const uint64_t at_least_a = heptets + (0x80 - 'A') * kOnes;
  const uint64_t above_z = heptets + (0x80 - '[') * kOnes;
  const uint64_t upper = (at_least_a ^ above_z) & ~w & (0x80 * kOnes);
  return w | (upper >> 2);
}

}  // namespace

const Catalog::TableEntry* Catalog::FindTable(absl::string_view qualified) const {
  // Lower-cased on the stack: this runs for every access request. Eight bytes at a time (a
  // qualified name is tens of bytes), then the tail; the dots are looked for after.
  char stack[256];
  std::string heap;
  char* buf = stack;
  const size_t n = qualified.size();
  if (n > sizeof stack) {
    heap.resize(n);
    buf = heap.data();
  }
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, qualified.data() + i, 8);
    w = AsciiToLower8(w);
    std::memcpy(buf + i, &w, 8);
  }
  for (; i < n; ++i) buf[i] = absl::ascii_tolower(static_cast<unsigned char>(qualified[i]));
  // catalog.schema.table: exactly two dots, and no part empty.
  const char* end = buf + n;
  const char* first = static_cast<const char*>(std::memchr(buf, '.', n));
  if (first == nullptr || first == buf) return nullptr;
  const char* second =
      static_cast<const char*>(std::memchr(first + 1, '.', static_cast<size_t>(end - first - 1)));
  if (second == nullptr || second == first + 1 || second + 1 == end) return nullptr;
  if (std::memchr(second + 1, '.', static_cast<size_t>(end - second - 1)) != nullptr) {
    return nullptr;
  }
  absl::string_view lower(buf, n);
  if (auto it = tables_.find(lower); it != tables_.end()) return it->second.get();
  if (auto it = schemas_.find(lower.substr(0, static_cast<size_t>(second - buf)));
      it != schemas_.end()) {
    return it->second.get();
  }
  return nullptr;
}

std::optional<Catalog::TableMatch> Catalog::ResolveTable(absl::string_view qualified) const {
  const TableEntry* e = FindTable(qualified);
  if (e == nullptr) return std::nullopt;
  TableMatch m;
  m.product = e->product->tree;
  m.product_name = e->product->name;
  m.domain = e->product->domain;
  m.table = e->table;
  return m;
}

}  // namespace arbiter
