// The bundle's catalog: data product descriptors and data contracts known to the mesh, and the
// index that resolves a query engine's "catalog.schema.table" to the product that serves it.
//
// A product serves tables through its sql output ports:
//   spec.outputPorts[] {type: sql, catalog, schema, tables: [{name, columns: [{name, type,
//   pii, tags}]}]}
// A schema that a product's port names resolves to that product even for tables the port does
// not list (the table entry is then unknown). Names compare case-insensitively, as in Trino.
//
// Immutable after Build(); safe to share across threads.
#ifndef ARBITER_SERVICE_ENGINE_CATALOG_H_
#define ARBITER_SERVICE_ENGINE_CATALOG_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "service/value/parse.h"
#include "service/value/value.h"

namespace arbiter {

class Catalog {
 public:
  struct Document {
    std::string file;  // path inside the bundle
    // Parsed with positions (Value::pos) for messages; nodes without one say line 1.
    std::shared_ptr<const Value> tree;
  };

  struct TableMatch {
    std::string domain;
    std::string product_name;
    std::shared_ptr<const Value> product;
    // The table entry of the port ({name, columns, ...}); null when the schema is known but the
    // port does not list this table.
    std::shared_ptr<const Value> table;
  };

  // What a qualified table name resolves to, precomputed at Build so that a request pays for
  // one hash lookup and no copies. Pointers stay valid as long as the Catalog.
  struct ProductEntry {
    std::string name;
    std::string domain;
    std::shared_ptr<const Value> tree;
    size_t index;  // in products()
  };
  struct TableEntry {
    const ProductEntry* product;
    // The port's table entry; null when the schema is known but the port does not list the
    // table.
    std::shared_ptr<const Value> table;
    // Lower-cased column name -> the table's first column entry of that name.
    absl::flat_hash_map<std::string, const Value*> columns;
  };

  // Indexes products and contracts by DescriptorName (service/descriptor: the name the schema
  // diff and `arbiter gate` use too). Problems ("file:line: message") are appended to
  // `errors`: a product without a name or a domain, duplicate names, two products claiming the
  // same catalog.schema; and a document whose shape differs from what the shipped policies and
  // the schema diff read: the marks `pii`, `required`, `unique`, `primaryKey` and
  // `gdprCompliant` are booleans (`pii: yes` is a string, and would silently mean "not PII"),
  // the version the diff compares (DescriptorVersion's key) is a semantic version, names,
  // domains and owners are strings, output ports, tables and columns are maps with a string
  // `name`/`type`, sql ports name their catalog and schema.
  static Catalog Build(std::vector<Document> products, std::vector<Document> contracts,
                       std::vector<std::string>& errors);

  Catalog() = default;

  // The descriptor of the product with this DescriptorName, or null.
  std::shared_ptr<const Value> FindProduct(absl::string_view name) const;
  // The contract of this DescriptorName (service/descriptor), or null.
  std::shared_ptr<const Value> FindContract(absl::string_view name) const;
  // Resolves "catalog.schema.table"; nullopt when no product serves that schema or the name does
  // not have three parts.
  std::optional<TableMatch> ResolveTable(absl::string_view qualified) const;
  // The same without copies: null when ResolveTable would give nullopt.
  const TableEntry* FindTable(absl::string_view qualified) const;
  // The entry of the product with this DescriptorName, or null.
  const ProductEntry* FindProductEntry(absl::string_view name) const;

  const std::vector<Document>& products() const { return products_; }
  const std::vector<Document>& contracts() const { return contracts_; }

 private:
  std::vector<Document> products_;
  std::vector<Document> contracts_;
  absl::flat_hash_map<std::string, size_t> product_by_name_;
  absl::flat_hash_map<std::string, size_t> contract_by_name_;
  // Per product index (entries of rejected products stay empty); unique_ptrs so that the
  // pointers handed out survive moves of the Catalog.
  std::vector<std::unique_ptr<ProductEntry>> entries_;
  // "catalog.schema" -> the schema's entry (no table); "catalog.schema.table" -> the table's.
  absl::flat_hash_map<std::string, std::unique_ptr<TableEntry>> schemas_;
  absl::flat_hash_map<std::string, std::unique_ptr<TableEntry>> tables_;
};

}  // namespace arbiter

#endif  // ARBITER_SERVICE_ENGINE_CATALOG_H_
