#include "service/trino/translate.h"

#include <algorithm>
#include <array>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "service/decision_json/decision_json.h"
#include "service/descriptor/descriptor.h"

namespace arbiter::trino {
namespace {

struct OperationAction {
  absl::string_view operation;
  absl::string_view action;
};

// Trino's operation names (plugin/trino-opa OpaAccessControl) and what each asks of the data.
constexpr OperationAction kOperations[] = {
    // Reading data; the masks and row filters of a read decide what is seen.
    {"SelectFromColumns", "read"},
    {"CreateViewWithSelectFromColumns", "read"},
    {"GetRowFilters", "read"},
    {"GetColumnMask", "read"},
    // Seeing that something exists.
    {"AccessCatalog", "discover"},
    {"FilterCatalogs", "discover"},
    {"ShowSchemas", "discover"},
    {"FilterSchemas", "discover"},
    {"ShowCreateSchema", "discover"},
    {"ShowTables", "discover"},
    {"FilterTables", "discover"},
    {"ShowColumns", "discover"},
    {"FilterColumns", "discover"},
    {"ShowCreateTable", "discover"},
    {"ShowFunctions", "discover"},
    // Changing data.
    {"InsertIntoTable", "write"},
    {"DeleteFromTable", "write"},
    {"UpdateTableColumns", "write"},
    {"TruncateTable", "write"},
    {"RefreshMaterializedView", "write"},
    // Changing the shape, properties or ownership of a product's objects.
    {"CreateSchema", "admin"},
    {"DropSchema", "admin"},
    {"RenameSchema", "admin"},
    {"SetSchemaAuthorization", "admin"},
    {"CreateTable", "admin"},
    {"DropTable", "admin"},
    {"RenameTable", "admin"},
    {"SetTableProperties", "admin"},
    {"SetTableComment", "admin"},
    {"SetViewComment", "admin"},
    {"SetColumnComment", "admin"},
    {"SetMaterializedViewComment", "admin"},
    {"AddColumn", "admin"},
    {"AlterColumn", "admin"},
    {"DropColumn", "admin"},
    {"RenameColumn", "admin"},
    {"SetTableAuthorization", "admin"},
    {"SetViewAuthorization", "admin"},
    {"CreateView", "admin"},
    {"DropView", "admin"},
    {"RenameView", "admin"},
    {"CreateMaterializedView", "admin"},
    {"DropMaterializedView", "admin"},
    {"RenameMaterializedView", "admin"},
    {"SetMaterializedViewProperties", "admin"},
    {"ExecuteTableProcedure", "admin"},
    // Running queries and functions; what a query reads is checked table by table.
    {"ExecuteQuery", "execute"},
    {"ExecuteFunction", "execute"},
    {"CreateViewWithExecuteFunction", "execute"},
    {"FilterFunctions", "execute"},
    {"ShowCreateFunction", "execute"},
    // The platform's business: other users' queries, system information, session properties,
    // catalogs, procedures, functions and grants.
    {"ImpersonateUser", "system"},
    {"ViewQueryOwnedBy", "system"},
    {"FilterViewQueryOwnedBy", "system"},
    {"KillQueryOwnedBy", "system"},
    {"ReadSystemInformation", "system"},
    {"WriteSystemInformation", "system"},
    {"SetSystemSessionProperty", "system"},
    {"SetCatalogSessionProperty", "system"},
    {"CreateCatalog", "system"},
    {"DropCatalog", "system"},
    {"ExecuteProcedure", "system"},
    {"CreateFunction", "system"},
    {"DropFunction", "system"},
    {"GrantSchemaPrivilege", "system"},
    {"DenySchemaPrivilege", "system"},
    {"RevokeSchemaPrivilege", "system"},
    {"GrantTablePrivilege", "system"},
    {"DenyTablePrivilege", "system"},
    {"RevokeTablePrivilege", "system"},
    {"CreateRole", "system"},
    {"DropRole", "system"},
    {"GrantRoles", "system"},
    {"RevokeRoles", "system"},
};

constexpr absl::string_view kUnknownAction = "unknown";

const absl::flat_hash_map<absl::string_view, absl::string_view>& OperationTable() {
  static const auto* table = [] {
    auto* t = new absl::flat_hash_map<absl::string_view, absl::string_view>();
    for (const OperationAction& o : kOperations) t->emplace(o.operation, o.action);
    return t;
  }();
  return *table;
}

// A name that can be one part of "catalog.schema.table".
bool Addressable(absl::string_view name) { return !name.empty() && !absl::StrContains(name, '.'); }

std::string Lower(absl::string_view s) { return absl::AsciiStrToLower(s); }

// Schemas of Trino's `system` catalog that only describe objects (and that Trino filters object
// by object): reading them is like running a query.
bool IsSystemMetadataSchema(absl::string_view schema) {
  return absl::EqualsIgnoreCase(schema, "jdbc") || absl::EqualsIgnoreCase(schema, "metadata") ||
         absl::EqualsIgnoreCase(schema, "information_schema");
}

bool IsLookAction(absl::string_view action) { return action == "read" || action == "discover"; }

// One Trino resource, flattened. The names are views of the parsed body, which outlives every
// Resource (Translate's document): a batch of thousands of items copies each name only into the
// checks that need it.
struct Resource {
  enum class Kind {
    kNone,
    kCatalog,
    kSchema,
    kTable,
    kColumn,
    kFunction,
    kUser,
    kSystemSessionProperty,
    kCatalogSessionProperty,
    kOther,
  };
  Kind kind = Kind::kNone;
  absl::string_view catalog, schema, table, column, column_type, function, property, user;
  std::vector<absl::string_view> columns;
};

// The name of a field of the request in error messages: "input.action.resource", or item
// `index` of a list ("input.action.filterResources[3]"). Spelled out only for an error, not once
// per item of a batch.
struct FieldName {
  absl::string_view base;
  size_t index = SIZE_MAX;
  std::string Str(absl::string_view member = "") const {
    return index == SIZE_MAX ? absl::StrCat(base, member)
                             : absl::StrCat(base, "[", index, "]", member);
  }
};

absl::string_view KindName(Resource::Kind kind) {
  switch (kind) {
    case Resource::Kind::kNone:
      return "query";
    case Resource::Kind::kCatalog:
      return "catalog";
    case Resource::Kind::kSchema:
      return "schema";
    case Resource::Kind::kTable:
      return "table";
    case Resource::Kind::kColumn:
      return "column";
    case Resource::Kind::kFunction:
      return "function";
    case Resource::Kind::kUser:
      return "user";
    case Resource::Kind::kSystemSessionProperty:
      return "systemSessionProperty";
    case Resource::Kind::kCatalogSessionProperty:
      return "catalogSessionProperty";
    case Resource::Kind::kOther:
      return "other";
  }
  return "other";
}

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

// The string at `key` of map `m`; INVALID_ARGUMENT naming `field.key` when absent or not a
// non-empty string.
absl::StatusOr<std::string> RequiredString(const Value& m, absl::string_view key,
                                           absl::string_view field) {
  const Value* v = m.Find(key);
  if (v == nullptr || v->is_null()) return Invalid(absl::StrCat(field, ".", key), "required");
  if (!v->is_string()) return Invalid(absl::StrCat(field, ".", key), "expected a string");
  if (v->as_string().empty()) return Invalid(absl::StrCat(field, ".", key), "must not be empty");
  return v->as_string();
}

// The first entry of each of `keys` in map `m` (what m.Find(key) answers; null when absent),
// found in one pass over the map: a batch's resources are small maps looked up many times.
template <size_t N>
std::array<const Value*, N> FindAll(const Value& m, const absl::string_view (&keys)[N]) {
  std::array<const Value*, N> found{};
  if (!m.is_map()) return found;
  for (const auto& [k, v] : m.as_map()) {
    for (size_t i = 0; i < N; ++i) {
      if (found[i] == nullptr && k == keys[i]) {
        found[i] = &v;
        break;
      }
    }
  }
  return found;
}

// The same for a resource's name `v` (at `key`, as found by FindAll), as a view of it; the error
// names `field` + `member` + key.
absl::StatusOr<absl::string_view> RequiredName(const Value* v, absl::string_view key,
                                               const FieldName& field, absl::string_view member) {
  auto name = [&] { return absl::StrCat(field.Str(member), ".", key); };
  if (v == nullptr || v->is_null()) return Invalid(name(), "required");
  if (!v->is_string()) return Invalid(name(), "expected a string");
  if (v->as_string().empty()) return Invalid(name(), "must not be empty");
  return absl::string_view(v->as_string());
}

// The string at `key` of map `m` as a view of it, or `fallback` when absent or not a string.
absl::string_view StringAt(const Value& m, absl::string_view key, absl::string_view fallback = "") {
  const Value* v = m.Find(key);
  return v != nullptr && v->is_string() ? absl::string_view(v->as_string()) : fallback;
}

absl::StatusOr<std::vector<std::string>> StringList(const Value* v, absl::string_view field) {
  std::vector<std::string> out;
  if (v == nullptr || v->is_null()) return out;
  if (!v->is_list()) return Invalid(field, "expected a list of strings");
  out.reserve(v->size());
  for (size_t i = 0; i < v->as_list().size(); ++i) {
    const Value& e = v->as_list()[i];
    if (!e.is_string()) return Invalid(absl::StrCat(field, "[", i, "]"), "expected a string");
    out.push_back(e.as_string());
  }
  return out;
}

// A list of strings as views of `v`; the error names `field` + `member`.
absl::StatusOr<std::vector<absl::string_view>> NameList(const Value* v, const FieldName& field,
                                                        absl::string_view member) {
  std::vector<absl::string_view> out;
  if (v == nullptr || v->is_null()) return out;
  if (!v->is_list()) return Invalid(field.Str(member), "expected a list of strings");
  out.reserve(v->size());
  for (size_t i = 0; i < v->as_list().size(); ++i) {
    const Value& e = v->as_list()[i];
    if (!e.is_string()) {
      return Invalid(absl::StrCat(field.Str(member), "[", i, "]"), "expected a string");
    }
    out.push_back(e.as_string());
  }
  return out;
}

const Value* MapAt(const Value& v, absl::string_view key) {
  const Value* f = v.Find(key);
  return f != nullptr && f->is_map() ? f : nullptr;
}

// Parses one `resource` object (a view of it: `v` must outlive the result). The first of
// column, table, schema, catalog, function, user, session property present decides the kind; a
// function next to a table (ExecuteTableProcedure) is kept as a detail.
absl::StatusOr<Resource> ParseResource(const Value& v, const FieldName& field) {
  Resource r;
  if (v.is_null()) return r;
  if (!v.is_map()) return Invalid(field.Str(), "expected an object");
  // The members that decide the kind, found in one pass; each counts only when an object (as
  // MapAt).
  static constexpr absl::string_view kKinds[] = {"function",
                                                 "column",
                                                 "table",
                                                 "schema",
                                                 "catalog",
                                                 "user",
                                                 "systemSessionProperty",
                                                 "catalogSessionProperty"};
  std::array<const Value*, 8> kinds = FindAll(v, kKinds);
  for (const Value*& k : kinds) {
    if (k != nullptr && !k->is_map()) k = nullptr;
  }
  if (const Value* f = kinds[0]) {
    r.function = StringAt(*f, "functionName", StringAt(*f, "name"));
  }
  // Each name is required; the first missing one is the error.
  auto names = [&](const Value& m, absl::string_view member,
                   std::initializer_list<std::pair<absl::string_view, absl::string_view*>> want)
      -> absl::Status {
    for (const auto& [key, out] : want) {
      absl::StatusOr<absl::string_view> n = RequiredName(m.Find(key), key, field, member);
      if (!n.ok()) return n.status();
      *out = *n;
    }
    return absl::OkStatus();
  };
  if (const Value* c = kinds[1]) {
    if (absl::Status s = names(*c, ".column",
                               {{"catalogName", &r.catalog},
                                {"schemaName", &r.schema},
                                {"tableName", &r.table},
                                {"columnName", &r.column}});
        !s.ok()) {
      return s;
    }
    r.column_type = StringAt(*c, "columnType");
    r.columns = {r.column};
    r.kind = Resource::Kind::kColumn;
    return r;
  }
  if (const Value* t = kinds[2]) {
    // A batch's tables: their four members found in one pass.
    static constexpr absl::string_view kTable[] = {"catalogName", "schemaName", "tableName",
                                                   "columns"};
    const std::array<const Value*, 4> members = FindAll(*t, kTable);
    absl::string_view* const out[] = {&r.catalog, &r.schema, &r.table};
    for (size_t i = 0; i < 3; ++i) {
      const Value* n = members[i];
      if (n == nullptr || !n->is_string() || n->as_string().empty()) {
        return RequiredName(n, kTable[i], field, ".table").status();  // the error
      }
      *out[i] = n->as_string();
    }
    auto columns = NameList(members[3], field, ".table.columns");
    if (!columns.ok()) return columns.status();
    r.columns = *std::move(columns);
    r.kind = Resource::Kind::kTable;
    return r;
  }
  if (const Value* s = kinds[3]) {
    if (absl::Status st =
            names(*s, ".schema", {{"catalogName", &r.catalog}, {"schemaName", &r.schema}});
        !st.ok()) {
      return st;
    }
    r.kind = Resource::Kind::kSchema;
    return r;
  }
  if (const Value* c = kinds[4]) {
    if (absl::Status s = names(*c, ".catalog", {{"name", &r.catalog}}); !s.ok()) return s;
    r.kind = Resource::Kind::kCatalog;
    return r;
  }
  if (const Value* f = kinds[0]) {
    r.catalog = StringAt(*f, "catalogName");
    r.schema = StringAt(*f, "schemaName");
    r.kind = Resource::Kind::kFunction;
    return r;
  }
  if (const Value* u = kinds[5]) {
    r.user = StringAt(*u, "user", StringAt(*u, "name"));
    r.kind = Resource::Kind::kUser;
    return r;
  }
  if (const Value* p = kinds[6]) {
    r.property = StringAt(*p, "name");
    r.kind = Resource::Kind::kSystemSessionProperty;
    return r;
  }
  if (const Value* p = kinds[7]) {
    r.catalog = StringAt(*p, "catalogName");
    r.property = StringAt(*p, "propertyName");
    r.kind = Resource::Kind::kCatalogSessionProperty;
    return r;
  }
  r.kind = v.size() == 0 ? Resource::Kind::kNone : Resource::Kind::kOther;
  return r;
}

// "catalog.schema.table" for a target resource (RenameTable, RenameSchema), or "".
std::string TargetName(const Value* target) {
  if (target == nullptr) return "";
  if (const Value* t = MapAt(*target, "table")) {
    return absl::StrCat(t->GetString("catalogName"), ".", t->GetString("schemaName"), ".",
                        t->GetString("tableName"));
  }
  if (const Value* s = MapAt(*target, "schema")) {
    return absl::StrCat(s->GetString("catalogName"), ".", s->GetString("schemaName"));
  }
  return "";
}

// Records the checks of one answer item (CheckSpec; Plan::MakeCheck makes them).
class ItemBuilder {
 public:
  ItemBuilder(std::shared_ptr<const ContextMap> base_context, const ProductLocator& products,
              Plan& plan)
      : base_context_(std::move(base_context)), products_(products), plan_(plan) {}

  // Appends the checks for `r` under `action` and records the item.
  void Add(const Resource& r, absl::string_view action) {
    size_t begin = plan_.specs.size();
    AddChecks(r, action);
    plan_.items.emplace_back(begin, plan_.specs.size());
  }

  // One item per column of `table` (FilterColumns: the answer's indices refer to the columns),
  // each a column resource of the table.
  void AddColumnsOf(const Resource& table, absl::string_view action) {
    // One Resource for all of them, its one-column list reused: not a list allocated per
    // column of a table with thousands.
    Resource column = table;
    column.kind = Resource::Kind::kColumn;
    column.columns.resize(1);
    for (absl::string_view c : table.columns) {
      column.column = c;
      column.columns[0] = c;
      Add(column, action);
    }
  }

 private:
  // The context entries a check on `r` shares with the other checks of the batch on the same
  // kind of resource in the same schema (and, for columns, table): the base context,
  // trino_resource, catalog, schema (and table), as an index into Plan::shared_contexts. Made
  // once per such group and shared by its checks, which hold only their own entries: a batch's
  // thousand tables share a few schemas, a FilterColumns batch's columns their table, and a
  // copy of the six to eight entries per check cost more allocation and copying than the
  // decision's reading of them.
  uint32_t PrefixFor(const Resource& r) {
    const bool by_table = r.kind == Resource::Kind::kColumn;
    const absl::string_view table = by_table ? r.table : absl::string_view();
    auto same = [&](const ContextPrefix& p) {
      return p.kind == r.kind && p.catalog == r.catalog && p.schema == r.schema && p.table == table;
    };
    if (last_prefix_ < prefixes_.size() && same(prefixes_[last_prefix_])) {
      return prefixes_[last_prefix_].context;
    }
    for (size_t i = 0; i < prefixes_.size(); ++i) {
      if (same(prefixes_[i])) {
        last_prefix_ = i;
        return prefixes_[i].context;
      }
    }
    // A batch of many schemas (or tables) replaces its groups in turn: the cache stays small
    // and a batch's consecutive items of one group still share.
    if (prefixes_.size() < kMaxPrefixes) {
      last_prefix_ = prefixes_.size();
      prefixes_.emplace_back();
    } else {
      last_prefix_ = next_evicted_;
      next_evicted_ = (next_evicted_ + 1) % kMaxPrefixes;
    }
    ContextPrefix& p = prefixes_[last_prefix_];
    p.kind = r.kind;
    p.catalog = r.catalog;
    p.schema = r.schema;
    p.table = table;
    auto ctx = std::make_shared<ContextMap>(*base_context_);
    // The base context's keys are never a resource's: emplace, not assignment.
    ctx->emplace("trino_resource", KindName(r.kind));
    if (!r.catalog.empty()) ctx->emplace("catalog", r.catalog);
    if (!r.schema.empty()) ctx->emplace("schema", r.schema);
    if (!table.empty()) ctx->emplace("table", table);
    p.context = static_cast<uint32_t>(plan_.shared_contexts.size());
    plan_.shared_contexts.push_back(std::move(ctx));
    return p.context;
  }

  CheckSpec& NewCheck(const Resource& r, absl::string_view action) {
    CheckSpec& a = plan_.specs.emplace_back();
    a.action = action;
    // req.context: the group's shared entries and the names of `r` that are its own, in the
    // order of CheckSpec::kOwnContextKeys.
    a.shared_context = PrefixFor(r);
    a.own_context = {r.column,
                     r.column_type,
                     r.function,
                     r.property,
                     r.kind != Resource::Kind::kColumn ? r.table : absl::string_view(),
                     r.user};
    return a;
  }

  std::string Pseudo(const Resource& r) const {
    return absl::StrCat("$trino.", KindName(r.kind), ".",
                        Addressable(plan_.operation) ? plan_.operation : "operation");
  }

  void TableCheck(const Resource& r, absl::string_view action) {
    CheckSpec& a = NewCheck(r, action);
    if (Addressable(r.catalog) && Addressable(r.schema) && Addressable(r.table)) {
      a.joined = true;
      a.catalog = r.catalog;
      a.schema = r.schema;
      a.table = r.table;
    } else {
      // Quoted names with dots cannot be addressed as catalog.schema.table: no product serves
      // them, and the policies refuse them like any other unknown table.
      a.table_name = Pseudo(r);
    }
    a.columns_begin = static_cast<uint32_t>(plan_.column_names.size());
    plan_.column_names.insert(plan_.column_names.end(), r.columns.begin(), r.columns.end());
    a.columns_end = static_cast<uint32_t>(plan_.column_names.size());
  }

  // One check per product in the catalog (or schema); one check on a table no product serves
  // when there is none, so that the refusal is decided and logged like any other.
  void ProductChecks(const Resource& r, bool whole_catalog, absl::string_view action) {
    const std::vector<std::string>& names =
        whole_catalog ? products_.InCatalog(r.catalog) : products_.InSchema(r.catalog, r.schema);
    if (names.empty()) {
      CheckSpec& a = NewCheck(r, action);
      absl::string_view schema = whole_catalog ? "*" : r.schema;
      a.table_name = Addressable(r.catalog) && Addressable(schema)
                         ? absl::StrCat(r.catalog, ".", schema, ".*")
                         : Pseudo(r);
      return;
    }
    for (const std::string& product : names) {
      CheckSpec& a = NewCheck(r, action);
      a.product = product;
    }
  }

  void AddChecks(const Resource& r, absl::string_view action) {
    bool system_catalog = absl::EqualsIgnoreCase(r.catalog, "system");
    bool info_schema = absl::EqualsIgnoreCase(r.schema, "information_schema");
    // Trino's own catalog: metadata views are like a query, the rest is the platform's.
    absl::string_view system_action =
        action == kUnknownAction ? kUnknownAction
        : IsLookAction(action) &&
                (r.kind == Resource::Kind::kCatalog || r.kind == Resource::Kind::kSchema ||
                 IsSystemMetadataSchema(r.schema))
            ? "execute"
            : "system";
    switch (r.kind) {
      case Resource::Kind::kTable:
      case Resource::Kind::kColumn:
        if (system_catalog) {
          TableCheck(r, system_action);
        } else if (info_schema && IsLookAction(action)) {
          ProductChecks(r, /*whole_catalog=*/true, "discover");
        } else {
          TableCheck(r, action);
        }
        return;
      case Resource::Kind::kSchema:
        if (system_catalog) {
          // A schema of the system catalog is addressed as all of its tables.
          CheckSpec& a = NewCheck(r, system_action);
          a.table_name =
              Addressable(r.schema) ? absl::StrCat("system.", r.schema, ".*") : Pseudo(r);
        } else {
          ProductChecks(r, /*whole_catalog=*/info_schema, action);
        }
        return;
      case Resource::Kind::kCatalog:
        if (system_catalog) {
          CheckSpec& a = NewCheck(r, system_action);
          a.table_name = "system.*.*";
        } else {
          ProductChecks(r, /*whole_catalog=*/true, action);
        }
        return;
      default: {
        CheckSpec& a = NewCheck(r, action);
        a.table_name = Pseudo(r);
        return;
      }
    }
  }

  struct ContextPrefix {
    Resource::Kind kind = Resource::Kind::kNone;
    absl::string_view catalog, schema, table;  // views of the request, like a Resource's
    uint32_t context = 0;                      // in Plan::shared_contexts
  };
  static constexpr size_t kMaxPrefixes = 8;

  const std::shared_ptr<const ContextMap> base_context_;
  const ProductLocator& products_;
  Plan& plan_;
  std::vector<ContextPrefix> prefixes_;
  size_t last_prefix_ = 0;   // the entry PrefixFor found or made last
  size_t next_evicted_ = 0;  // once the cache is full, the entry a new group replaces
};

using json::Quote;

}  // namespace

absl::string_view ActionForOperation(absl::string_view operation) {
  const auto& table = OperationTable();
  auto it = table.find(operation);
  return it == table.end() ? kUnknownAction : it->second;
}

IdentityMapper::IdentityMapper(const std::map<std::string, std::string>& group_roles) {
  for (const auto& [group, value] : group_roles) {
    Grant& g = groups_[group];
    for (absl::string_view part : absl::StrSplit(value, ',')) {
      part = absl::StripAsciiWhitespace(part);
      if (part.empty()) continue;
      if (absl::ConsumePrefix(&part, "domain:")) {
        g.domain = std::string(absl::StripAsciiWhitespace(part));
      } else if (size_t eq = part.find('='); eq != absl::string_view::npos) {
        g.attributes.emplace_back(std::string(absl::StripAsciiWhitespace(part.substr(0, eq))),
                                  std::string(absl::StripAsciiWhitespace(part.substr(eq + 1))));
      } else {
        g.roles.emplace_back(part);
      }
    }
  }
}

Principal IdentityMapper::Map(std::string user, std::vector<std::string> groups) const {
  Principal p;
  p.id = std::move(user);
  absl::flat_hash_set<std::string> seen_roles;
  for (const std::string& group : groups) {
    auto it = groups_.find(group);
    if (it == groups_.end()) continue;
    const Grant& g = it->second;
    for (const std::string& role : g.roles) {
      if (seen_roles.insert(role).second) p.roles.push_back(role);
    }
    if (p.domain.empty()) p.domain = g.domain;
    for (const auto& [k, v] : g.attributes) p.attributes.emplace(k, v);
  }
  p.groups = std::move(groups);
  return p;
}

ProductLocator ProductLocator::Build(const Catalog& catalog) {
  ProductLocator out;
  auto add = [](std::vector<std::string>& names, const std::string& name) {
    for (const std::string& n : names) {
      if (n == name) return;
    }
    names.push_back(name);
  };
  for (const Catalog::Document& doc : catalog.products()) {
    if (doc.tree == nullptr) continue;
    std::string name = DescriptorName(*doc.tree);
    const Value* ports = doc.tree->FindPath({"spec", "outputPorts"});
    if (name.empty() || ports == nullptr || !ports->is_list()) continue;
    for (const Value& port : ports->as_list()) {
      if (!absl::EqualsIgnoreCase(port.GetString("type"), "sql")) continue;
      std::string c = Lower(port.GetString("catalog"));
      std::string s = Lower(port.GetString("schema"));
      if (c.empty()) continue;
      add(out.by_catalog_[c], name);
      if (!s.empty()) add(out.by_schema_[absl::StrCat(c, ".", s)], name);
    }
  }
  return out;
}

const std::vector<std::string>& ProductLocator::InCatalog(absl::string_view catalog) const {
  static const std::vector<std::string> kNone;
  auto it = by_catalog_.find(Lower(catalog));
  return it == by_catalog_.end() ? kNone : it->second;
}

const std::vector<std::string>& ProductLocator::InSchema(absl::string_view catalog,
                                                         absl::string_view schema) const {
  static const std::vector<std::string> kNone;
  auto it = by_schema_.find(Lower(absl::StrCat(catalog, ".", schema)));
  return it == by_schema_.end() ? kNone : it->second;
}

ParseLimits DefaultTrinoParseLimits() {
  ParseLimits limits;
  limits.max_bytes = 16 << 20;
  limits.max_depth = 32;
  limits.max_nodes = 1'000'000;
  return limits;
}

namespace {

absl::Status TooManyChecks(const TrinoLimits& caps) {
  return absl::ResourceExhaustedError(absl::StrCat(
      "trino.max_checks_per_request: the request expands to more than ", caps.max_checks,
      " access checks (items x columns); send smaller batches or raise the limit"));
}

}  // namespace

absl::StatusOr<Plan> Translate(Endpoint endpoint, absl::string_view body,
                               const IdentityMapper& identities, const ProductLocator& products,
                               const ParseLimits& limits, const TrinoLimits& caps) {
  absl::StatusOr<Value> parsed = ParseJson(body, "request body", limits);
  if (!parsed.ok()) return parsed.status();
  if (!parsed->is_map()) return Invalid("request body", "expected a JSON object");
  Plan plan;
  // Held by the plan before any view of it is taken: the checks' names are views of it.
  plan.document = std::make_shared<const Value>(*std::move(parsed));
  const Value* input = MapAt(*plan.document, "input");
  if (input == nullptr) return Invalid("input", "required (an object)");
  const Value* action = MapAt(*input, "action");
  if (action == nullptr) return Invalid("input.action", "required (an object)");
  plan.endpoint = endpoint;
  {
    auto op = RequiredString(*action, "operation", "input.action");
    if (!op.ok()) return op.status();
    plan.operation = *std::move(op);
  }
  const Value* context = MapAt(*input, "context");
  const Value* identity = context != nullptr ? MapAt(*context, "identity") : nullptr;
  if (identity == nullptr) return Invalid("input.context.identity", "required (an object)");
  auto user = RequiredString(*identity, "user", "input.context.identity");
  if (!user.ok()) return user.status();
  plan.user = *user;
  if (const Value* g = identity->Find("groups");
      g != nullptr && g->is_list() && g->as_list().size() > caps.max_groups) {
    return absl::ResourceExhaustedError(
        absl::StrCat("trino.max_groups_per_identity: input.context.identity.groups has ",
                     g->as_list().size(), " groups, over the limit of ", caps.max_groups));
  }
  auto groups = StringList(identity->Find("groups"), "input.context.identity.groups");
  if (!groups.ok()) return groups.status();
  plan.principal = identities.Map(*std::move(user), *std::move(groups));

  auto shared_base = std::make_shared<ContextMap>();
  ContextMap& base_context = *shared_base;
  base_context["operation"] = plan.operation;
  base_context["source"] = "trino";
  if (const Value* v = context->FindPath({"softwareStack", "trinoVersion"});
      v != nullptr && v->is_string()) {
    base_context["trino_version"] = v->as_string();
  }
  if (const Value* v = context->Find("queryId"); v != nullptr && v->is_string()) {
    base_context["query_id"] = v->as_string();
  }
  if (std::string target = TargetName(MapAt(*action, "targetResource")); !target.empty()) {
    base_context["target"] = target;
  }
  if (const Value* grantee = MapAt(*action, "grantee")) {
    base_context["grantee"] = grantee->GetString("name");
  }

  absl::string_view act = ActionForOperation(plan.operation);
  static const Value kNull;
  ItemBuilder items(std::move(shared_base), products, plan);
  const Value* resource_value = action->Find("resource");
  const Value* filter = action->Find("filterResources");

  switch (endpoint) {
    case Endpoint::kAllow:
    case Endpoint::kRowFilters: {
      auto r = ParseResource(resource_value != nullptr ? *resource_value : kNull,
                             FieldName{"input.action.resource"});
      if (!r.ok()) return r.status();
      if (endpoint == Endpoint::kRowFilters && r->kind != Resource::Kind::kTable) {
        return Invalid("input.action.resource.table", "required for row filters");
      }
      items.Add(*r, act);
      if (plan.specs.size() > caps.max_checks) return TooManyChecks(caps);
      return plan;
    }
    case Endpoint::kColumnMask: {
      auto r = ParseResource(resource_value != nullptr ? *resource_value : kNull,
                             FieldName{"input.action.resource"});
      if (!r.ok()) return r.status();
      if (r->kind != Resource::Kind::kColumn) {
        return Invalid("input.action.resource.column", "required for a column mask");
      }
      plan.mask_columns.emplace_back(r->column);
      items.Add(*r, act);
      if (plan.specs.size() > caps.max_checks) return TooManyChecks(caps);
      return plan;
    }
    case Endpoint::kBatch:
    case Endpoint::kBatchColumnMask: {
      if (filter == nullptr || filter->is_null()) {
        return Invalid("input.action.filterResources", "required (a list)");
      }
      if (!filter->is_list()) return Invalid("input.action.filterResources", "expected a list");
      const Value::List& list = filter->as_list();
      if (list.size() > caps.max_checks) return TooManyChecks(caps);
      plan.specs.reserve(list.size());
      plan.items.reserve(list.size());
      bool per_column = endpoint == Endpoint::kBatch && plan.operation == "FilterColumns";
      for (size_t i = 0; i < list.size(); ++i) {
        const FieldName field{"input.action.filterResources", i};
        auto r = ParseResource(list[i], field);
        if (!r.ok()) return r.status();
        if (endpoint == Endpoint::kBatchColumnMask) {
          if (r->kind != Resource::Kind::kColumn) {
            return Invalid(field.Str(".column"), "required for a column mask");
          }
          plan.mask_columns.emplace_back(r->column);
          items.Add(*r, act);
        } else if (per_column) {
          if (r->kind != Resource::Kind::kTable) {
            return Invalid(field.Str(".table"), "required for FilterColumns");
          }
          if (plan.specs.size() + r->columns.size() > caps.max_checks) {
            return TooManyChecks(caps);
          }
          // Room for a check and an item per column (at least: information_schema's columns
          // have a check per product), grown geometrically over several tables: the reserve
          // above counted the tables, and a CheckSpec is large to move.
          auto make_room = [](auto& v, size_t more) {
            if (v.size() + more > v.capacity()) v.reserve(std::max(v.size() + more, 2 * v.size()));
          };
          make_room(plan.specs, r->columns.size());
          make_room(plan.items, r->columns.size());
          items.AddColumnsOf(*r, act);
        } else {
          items.Add(*r, act);
        }
        if (plan.specs.size() > caps.max_checks) return TooManyChecks(caps);
      }
      return plan;
    }
  }
  return plan;
}

std::vector<AccessRequest> Plan::MakeChecks() const {
  std::vector<AccessRequest> checks(check_count());
  for (size_t i = 0; i < checks.size(); ++i) MakeCheck(i, checks[i]);
  return checks;
}

void Plan::MakeCheck(size_t index, AccessRequest& check) const {
  const CheckSpec& s = specs[index];
  check.action.assign(s.action.data(), s.action.size());
  std::string& table = check.resource.table;
  if (s.joined) {
    table.clear();
    absl::StrAppend(&table, s.catalog, ".", s.schema, ".", s.table);
  } else {
    table = s.table_name;
  }
  check.resource.product.assign(s.product.data(), s.product.size());
  std::vector<std::string>& columns = check.resource.columns;
  columns.resize(s.columns_end - s.columns_begin);
  for (size_t c = 0; c < columns.size(); ++c) {
    const absl::string_view name = column_names[s.columns_begin + c];
    columns[c].assign(name.data(), name.size());
  }
  // The own entries in place when the check holds the same keys (a batch's checks of one kind
  // in a row do), else anew.
  constexpr auto& kKeys = CheckSpec::kOwnContextKeys;
  size_t own = 0;
  bool same_keys = true;
  auto entry = check.context.begin();
  for (size_t k = 0; k < kKeys.size(); ++k) {
    if (s.own_context[k].empty()) continue;
    ++own;
    same_keys = same_keys && entry != check.context.end() && entry->first == kKeys[k];
    if (same_keys) ++entry;
  }
  if (same_keys && own == check.context.size()) {
    entry = check.context.begin();
    for (size_t k = 0; k < kKeys.size(); ++k) {
      if (s.own_context[k].empty()) continue;
      entry->second.assign(s.own_context[k].data(), s.own_context[k].size());
      ++entry;
    }
  } else {
    check.context.clear();
    for (size_t k = 0; k < kKeys.size(); ++k) {
      if (!s.own_context[k].empty()) check.context.emplace(kKeys[k], s.own_context[k]);
    }
  }
  // A copy of the reference only when it changes: the checks that one thread makes in a row
  // mostly share it, and each copy updates a count that every core deciding the batch shares.
  const std::shared_ptr<const ContextMap>& shared = shared_contexts[s.shared_context];
  if (check.shared_context != shared) check.shared_context = shared;
}

namespace {

// The decision that decides item [begin, end): its first allow, else its first decision.
const CheckVerdict& Deciding(const std::vector<CheckVerdict>& verdicts,
                             std::pair<size_t, size_t> item) {
  for (size_t i = item.first; i < item.second; ++i) {
    if (verdicts[i].effect == Effect::kAllow) return verdicts[i];
  }
  return verdicts[item.first];
}

const ColumnMask* MaskFor(const CheckVerdict& d, absl::string_view column) {
  for (const ColumnMask& m : d.obligations.column_masks) {
    if (absl::EqualsIgnoreCase(m.column, column)) return &m;
  }
  return nullptr;
}

// A denied read masks the column whole; NULL has every type in Trino.
constexpr absl::string_view kDeniedMask = "NULL";
constexpr absl::string_view kDeniedRowFilter = "false";

}  // namespace

std::string ErrorBody(absl::string_view code, absl::string_view message) {
  return absl::StrCat("{\"code\":", Quote(code), ",\"message\":", Quote(message), "}");
}

Answer RejectedAnswer(const absl::Status& status) {
  const bool too_large = status.code() == absl::StatusCode::kResourceExhausted;
  Answer a;
  a.status = too_large ? 413 : 400;
  a.body = ErrorBody(too_large ? "request_too_large" : "invalid_parameter", status.message());
  return a;
}

absl::string_view EndpointName(Endpoint endpoint) {
  switch (endpoint) {
    case Endpoint::kAllow:
      return "allow";
    case Endpoint::kBatch:
      return "batch";
    case Endpoint::kRowFilters:
      return "rowFilters";
    case Endpoint::kColumnMask:
      return "columnMask";
    case Endpoint::kBatchColumnMask:
      return "batchColumnMask";
  }
  return "allow";
}

absl::StatusOr<Endpoint> ParseEndpoint(absl::string_view name) {
  for (Endpoint e : {Endpoint::kAllow, Endpoint::kBatch, Endpoint::kRowFilters,
                     Endpoint::kColumnMask, Endpoint::kBatchColumnMask}) {
    if (name == EndpointName(e)) return e;
  }
  if (name == "batchColumnMasks") return Endpoint::kBatchColumnMask;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown Trino endpoint \"", name,
                   "\" (expected allow, batch, rowFilters, columnMask or batchColumnMask)"));
}

Endpoint InferEndpoint(absl::string_view body) {
  absl::StatusOr<Value> doc = ParseJson(body, "request body", DefaultTrinoParseLimits());
  if (!doc.ok()) return Endpoint::kAllow;
  const Value* action = doc->FindPath({"input", "action"});
  if (action == nullptr || !action->is_map()) return Endpoint::kAllow;
  const std::string operation = action->GetString("operation");
  if (action->Find("filterResources") != nullptr) {
    return operation == "GetColumnMask" ? Endpoint::kBatchColumnMask : Endpoint::kBatch;
  }
  if (operation == "GetRowFilters") return Endpoint::kRowFilters;
  if (operation == "GetColumnMask") return Endpoint::kColumnMask;
  return Endpoint::kAllow;
}

CheckVerdict TakeVerdict(Decision& d) {
  CheckVerdict v;
  v.effect = d.effect;
  v.obligations = std::move(d.obligations);
  return v;
}

Answer Shape(const Plan& plan, const std::vector<absl::StatusOr<Decision>>& decisions) {
  std::vector<absl::Status> statuses;
  std::vector<CheckVerdict> verdicts(decisions.size());
  statuses.reserve(decisions.size());
  for (size_t i = 0; i < decisions.size(); ++i) {
    statuses.push_back(decisions[i].status());
    if (decisions[i].ok()) {
      verdicts[i].effect = decisions[i]->effect;
      verdicts[i].obligations = decisions[i]->obligations;
    }
  }
  return Shape(plan, statuses, verdicts);
}

Answer Shape(const Plan& plan, const std::vector<absl::Status>& statuses,
             const std::vector<CheckVerdict>& verdicts) {
  Answer a;
  if (statuses.size() != plan.check_count() || verdicts.size() < plan.check_count()) {
    a.status = 500;
    a.body = ErrorBody("internal_error", "decision count does not match the request");
    return a;
  }
  for (size_t i = 0; i < statuses.size(); ++i) {
    if (!statuses[i].ok()) {
      a.status = 500;
      a.body = ErrorBody("internal_error", absl::StrCat("could not decide ", plan.operation, ": ",
                                                        statuses[i].ToString()));
      return a;
    }
  }
  for (const auto& item : plan.items) {
    if (item.first >= item.second || item.second > statuses.size()) {
      a.status = 500;
      a.body = ErrorBody("internal_error", "empty check range");
      return a;
    }
  }
  std::string& out = a.body;
  switch (plan.endpoint) {
    case Endpoint::kAllow: {
      bool allowed =
          !plan.items.empty() && Deciding(verdicts, plan.items[0]).effect == Effect::kAllow;
      out = allowed ? "{\"result\":true}" : "{\"result\":false}";
      return a;
    }
    case Endpoint::kBatch: {
      out.reserve(16 + plan.items.size() * 5);
      out = "{\"result\":[";
      bool first = true;
      for (size_t i = 0; i < plan.items.size(); ++i) {
        if (Deciding(verdicts, plan.items[i]).effect != Effect::kAllow) continue;
        absl::StrAppend(&out, first ? "" : ",", i);
        first = false;
      }
      out += "]}";
      return a;
    }
    case Endpoint::kRowFilters: {
      const CheckVerdict& d = Deciding(verdicts, plan.items[0]);
      out = "{\"result\":[";
      if (d.effect != Effect::kAllow) {
        absl::StrAppend(&out, "{\"expression\":", Quote(kDeniedRowFilter), "}");
      } else {
        for (size_t i = 0; i < d.obligations.row_filters.size(); ++i) {
          absl::StrAppend(&out, i == 0 ? "" : ",",
                          "{\"expression\":", Quote(d.obligations.row_filters[i]), "}");
        }
      }
      out += "]}";
      return a;
    }
    case Endpoint::kColumnMask: {
      const CheckVerdict& d = Deciding(verdicts, plan.items[0]);
      if (d.effect != Effect::kAllow) {
        out = absl::StrCat("{\"result\":{\"expression\":", Quote(kDeniedMask), "}}");
      } else if (const ColumnMask* m = MaskFor(d, plan.mask_columns[0])) {
        out = absl::StrCat("{\"result\":{\"expression\":", Quote(m->expression), "}}");
      } else {
        out = "{}";
      }
      return a;
    }
    case Endpoint::kBatchColumnMask: {
      out = "{\"result\":[";
      bool first = true;
      for (size_t i = 0; i < plan.items.size(); ++i) {
        const CheckVerdict& d = Deciding(verdicts, plan.items[i]);
        absl::string_view expression;
        if (d.effect != Effect::kAllow) {
          expression = kDeniedMask;
        } else if (const ColumnMask* m = MaskFor(d, plan.mask_columns[i])) {
          expression = m->expression;
        } else {
          continue;
        }
        absl::StrAppend(&out, first ? "" : ",", "{\"index\":", i,
                        ",\"viewExpression\":{\"expression\":", Quote(expression), "}}");
        first = false;
      }
      out += "]}";
      return a;
    }
  }
  return a;
}

}  // namespace arbiter::trino
