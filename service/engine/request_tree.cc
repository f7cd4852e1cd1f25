// Step "tree" of building `req` (request_build.h): the map policies read, in the shape the
// README documents. It owns the shape only: the request was validated and its owner resolved by
// the steps before. The catalog's trees (product, table, column entries) and a batch's principal
// are attached as shared subtrees (Value::Shared), never copied: this runs once per decision.
// Also the principal's tree that SharedPrincipal builds once for a batch.
#include "absl/strings/ascii.h"
#include "service/engine/request_build.h"

namespace arbiter {
namespace {

// Subtrees are added empty and filled where they stand (AddMap, AddList): a finished subtree
// added by value would cost a move and the destruction of what it was moved from. The
// reference a helper returns is only used before the next entry is added to the same parent
// (which may move the parent's entries).
Value& AddMap(Value& parent, std::string key, size_t capacity) {
  Value& m = parent.Add(std::move(key), Value::Map());
  m.mutable_map().reserve(capacity);
  return m;
}

Value& AddList(Value& parent, std::string key, size_t capacity) {
  Value& l = parent.Add(std::move(key), Value::List());
  l.mutable_list().reserve(capacity);
  return l;
}

// Fills `v` (an empty map) with the principal's tree.
void FillPrincipal(const Principal& p, Value& v) {
  v.Add("id", p.id);
  Value& roles = AddList(v, "roles", p.roles.size());
  for (const std::string& r : p.roles) roles.mutable_list().emplace_back(r);
  Value& groups = AddList(v, "groups", p.groups.size());
  for (const std::string& g : p.groups) groups.mutable_list().emplace_back(g);
  v.Add("domain", p.domain);
  Value& attrs = AddMap(v, "attributes", p.attributes.size());
  for (const auto& [k, a] : p.attributes) attrs.Add(k, a);
  if (!p.type.empty()) v.Add("type", p.type);
  if (!p.properties.is_null()) v.Add("properties", p.properties);
}

Value PrincipalValue(const Principal& p) {
  Value v = Value::MapWithCapacity(8);
  FillPrincipal(p, v);
  return v;
}

Value StringMapValue(const std::map<std::string, std::string>& m) {
  Value v = Value::MapWithCapacity(8);
  for (const auto& [k, s] : m) v.Add(k, s);
  return v;
}

// req.context: the string entries, then the JSON-valued ones (which win on a clash).
void AddContext(const std::map<std::string, std::string>& strings, const Value& values,
                Value& req) {
  if (!values.is_map()) {
    Value& v = AddMap(req, "context", strings.size());
    for (const auto& [k, s] : strings) v.Add(k, s);
    return;
  }
  Value& v = AddMap(req, "context", strings.size() + values.size());
  for (const auto& [k, s] : strings) {
    if (values.Find(k) == nullptr) v.Add(k, s);
  }
  for (const auto& [k, e] : values.as_map()) v.Add(k, e);
}

// req.resource.columns: each requested column as the catalog's entry for it when the table is
// known and lists it, else {name}; the names of a known table's unlisted columns go to
// `unknown_columns`.
void FillColumns(const std::vector<std::string>& names, const Catalog::TableEntry* entry,
                 Value::List& column_list, Value& unknown_columns) {
  const std::shared_ptr<const Value>* table =
      entry != nullptr && entry->table != nullptr ? &entry->table : nullptr;
  for (const std::string& name : names) {
    const Value* found = nullptr;
    if (table != nullptr) {
      // Names compare case-insensitively (as in Trino); the index holds lower-cased names.
      char buf[128];
      std::string long_name;
      absl::string_view key;
      if (name.size() <= sizeof buf) {
        for (size_t k = 0; k < name.size(); ++k) {
          buf[k] = absl::ascii_tolower(static_cast<unsigned char>(name[k]));
        }
        key = absl::string_view(buf, name.size());
      } else {
        key = long_name = absl::AsciiStrToLower(name);
      }
      auto it = entry->columns.find(key);
      if (it != entry->columns.end()) found = it->second;
    }
    if (found != nullptr) {
      // Shares the table's ownership: the entry lives as long as the table tree.
      column_list.push_back(Value::Shared(std::shared_ptr<const Value>(*table, found)));
    } else {
      Value c = Value::MapWithCapacity(1);
      c.Add("name", name);
      column_list.push_back(std::move(c));
      if (table != nullptr) unknown_columns.Append(name);
    }
  }
}

void AddAccess(const AccessRequest& a, const SharedPrincipal* principal,
               const ResolvedRequest& resolved, Value& req) {
  const ResourceRef& r = a.resource;
  const Catalog::TableEntry* entry = resolved.table;
  const bool has_table = entry != nullptr && entry->table != nullptr;
  req.Add("domain", resolved.domain);
  if (principal != nullptr) {
    req.Add("principal", Value::Shared(principal->value()));
  } else {
    FillPrincipal(a.principal, AddMap(req, "principal", 8));
  }
  req.Add("action", a.action);
  AddContext(a.context, a.context_values, req);
  if (!a.action_properties.is_null()) req.Add("action_properties", a.action_properties);
  Value& resource = AddMap(req, "resource", 9);
  resource.Add("domain", resolved.domain);
  resource.Add("product", resolved.product_name);
  resource.Add("table", r.table);
  resource.Add("type", !r.type.empty() ? r.type : !r.table.empty() ? "table" : "product");
  resource.Add("id", !r.id.empty() ? r.id : !r.table.empty() ? r.table : r.product);
  if (!r.properties.is_null()) resource.Add("properties", r.properties);
  Value& columns = AddList(resource, "columns", r.columns.size());
  // Computed natively because nearly every access policy needs it and a Lua loop over the
  // catalog per request is the most expensive thing a policy can do. `resource` has room for
  // every entry, so `columns` stays where it is while this one is added.
  Value& unknown_columns = AddList(resource, "unknown_columns", 0);
  FillColumns(r.columns, entry, columns.mutable_list(), unknown_columns);
  if (resolved.product != nullptr) req.Add("product", Value::Shared(resolved.product->tree));
  if (has_table) req.Add("table", Value::Shared(entry->table));
}

void AddProduct(const ProductRequest& p, const ResolvedRequest& resolved, Value& req) {
  req.Add("domain", resolved.domain);
  req.Add("product", p.product);
  req.Add("operation", p.operation.empty() ? "register" : p.operation);
  req.Add("requester", PrincipalValue(p.requester));
}

void AddDeployment(const DeploymentRequest& d, const ResolvedRequest& resolved, Value& req) {
  req.Add("domain", resolved.domain);
  req.Add("product", d.product);
  if (d.previous.has_value()) req.Add("previous", *d.previous);
  req.Add("contracts", Value(Value::List(d.contracts.begin(), d.contracts.end())));
  req.Add("previous_contracts",
          Value(Value::List(d.previous_contracts.begin(), d.previous_contracts.end())));
  req.Add("environment", d.environment);
  req.Add("pipeline", StringMapValue(d.pipeline));
  req.Add("requester", PrincipalValue(d.requester));
}

}  // namespace

SharedPrincipal::SharedPrincipal(Principal principal)
    : principal_(std::move(principal)),
      value_(std::make_shared<const Value>(PrincipalValue(principal_))) {}

Value RequestTree(const Request& request, const SharedPrincipal* principal,
                  const ResolvedRequest& resolved) {
  // Room for every entry of any kind (a deployment's 9 and its `change`, added by Evaluate).
  Value req = Value::MapWithCapacity(10);
  req.Add("kind", std::string(KindName(KindOf(request))));
  if (const auto* a = std::get_if<AccessRequest>(&request)) {
    AddAccess(*a, principal, resolved, req);
  } else if (const auto* p = std::get_if<ProductRequest>(&request)) {
    AddProduct(*p, resolved, req);
  } else {
    AddDeployment(std::get<DeploymentRequest>(request), resolved, req);
  }
  return req;
}

}  // namespace arbiter
