// Step "tree" of building `req` (request_build.h): the map policies read, in the shape the
// README documents. It owns the shape only: the request was validated and its owner resolved by
// the steps before. The catalog's trees (product, table, column entries) and a batch's principal
// are attached as shared subtrees (Value::Shared), never copied: this runs once per decision.
// Also the principal's tree that SharedPrincipal builds once for a batch.
//
// Every entry is written through MapRefill/ListRefill and the Set* helpers, so that the same code
// builds a tree anew (RequestTree) or rebuilds an earlier request's in place (FillRequestTree):
// an evaluation then costs no allocation for what has the shape of the request before.
#include <cstddef>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <tuple>

#include "absl/strings/ascii.h"
#include "service/engine/request_build.h"

namespace arbiter {

// --- Rebuilding in place (request_build.h) ---

void MapRefill::Reset(Value& v, size_t capacity) {
  if (m_ == nullptr) {
    v = Value::Map();
    m_ = v.owned_map();
  }
  m_->reserve(capacity);
}

void MapRefill::DropRest() { m_->erase(m_->begin() + static_cast<ptrdiff_t>(i_), m_->end()); }

Value& MapRefill::NextNew(absl::string_view key) {
  // The shape changed here (or the map ends): the rest is built anew.
  m_->erase(m_->begin() + static_cast<ptrdiff_t>(i_), m_->end());
  ++i_;
  return m_->emplace_back(std::piecewise_construct, std::forward_as_tuple(key), std::tuple<>())
      .second;
}

void ListRefill::Reset(Value& v, size_t capacity) {
  if (l_ == nullptr) {
    v = Value::List();
    l_ = v.owned_list();
  }
  l_->reserve(capacity);
}

Value& ListRefill::NextNew() {
  ++i_;
  return l_->emplace_back();
}

void ListRefill::DropRest() { l_->erase(l_->begin() + static_cast<ptrdiff_t>(i_), l_->end()); }

void SetStringSlow(Value& v, absl::string_view s) {
  if (std::string* owned = v.owned_string()) {
    owned->assign(s.data(), s.size());
  } else {
    v = Value(std::string(s));
  }
}

void SetShared(Value& v, const std::shared_ptr<const Value>& target) {
  // Holding `target` already: nothing else can live at its address, so it is the same tree.
  if (v.shared_target() != target.get()) v = Value::Shared(target);
}

namespace {

// A copy of `from` (a caller's free-form document: properties, context values).
void SetCopy(Value& v, const Value& from) { v = from; }

void SetStrings(Value& v, const std::vector<std::string>& strings) {
  ListRefill list(v, strings.size());
  for (const std::string& s : strings) SetString(list.Next(), s);
}

// Fills `v` with the principal's tree.
void FillPrincipal(const Principal& p, Value& v) {
  MapRefill m(v, 8);
  SetString(m.Next("id"), p.id);
  SetStrings(m.Next("roles"), p.roles);
  SetStrings(m.Next("groups"), p.groups);
  SetString(m.Next("domain"), p.domain);
  {
    MapRefill attrs(m.Next("attributes"), p.attributes.size());
    for (const auto& [k, a] : p.attributes) SetString(attrs.Next(k), a);
  }
  if (!p.type.empty()) SetString(m.Next("type"), p.type);
  if (!p.properties.is_null()) SetCopy(m.Next("properties"), p.properties);
}

Value PrincipalValue(const Principal& p) {
  Value v;
  FillPrincipal(p, v);
  return v;
}

void SetStringMap(Value& v, const std::map<std::string, std::string>& strings) {
  MapRefill m(v, strings.size());
  for (const auto& [k, s] : strings) SetString(m.Next(k), s);
}

// req.context: the string entries (shared and own, merged), then the JSON-valued ones (which win
// on a clash).
void FillContext(const AccessRequest& a, Value& v) {
  const Value& values = a.context_values;
  const bool has_values = values.is_map();
  MapRefill m(v, (a.shared_context != nullptr ? a.shared_context->size() : 0) + a.context.size() +
                     (has_values ? values.size() : 0));
  ForEachContextEntry(a, [&](const std::string& k, const std::string& s) {
    if (!has_values || values.Find(k) == nullptr) SetString(m.Next(k), s);
  });
  if (has_values) {
    for (const auto& [k, e] : values.as_map()) SetCopy(m.Next(k), e);
  }
}

// A column entry's "name" (Value::Find's answer), looked for first where a catalog's entries
// have it, in the first place (~15 instructions instead of Find's ~70).
const Value* NameOf(const Value& entry) {
  if (entry.is_map()) {
    const Value::Map& m = entry.as_map();
    if (!m.empty() && m[0].first.size() == 4 && std::memcmp(m[0].first.data(), "name", 4) == 0) {
      return &m[0].second;
    }
  }
  return entry.Find("name");
}

// req.resource.columns: each requested column as the catalog's entry for it when the table is
// known and lists it, else {name}; the names of a known table's unlisted columns go to
// `unknown_columns`.
void FillColumns(const std::vector<std::string>& names, const Catalog::TableEntry* entry,
                 Value& columns, Value& unknown_columns) {
  const std::shared_ptr<const Value>* table =
      entry != nullptr && entry->table != nullptr ? &entry->table : nullptr;
  // The table's own list of column entries, which the index's pointers point into.
  const Value* listed = table != nullptr ? (*table)->Find("columns") : nullptr;
  const Value* listed_begin = nullptr;
  const Value* listed_end = nullptr;
  if (listed != nullptr && listed->is_list()) {
    listed_begin = listed->as_list().data();
    listed_end = listed_begin + listed->as_list().size();
  }
  ListRefill column_list(columns, names.size());
  ListRefill unknown(unknown_columns, 0);
  for (const std::string& name : names) {
    Value& column = column_list.Next();
    // The entry this place held for the request before (the same table and columns: the
    // common case of a worker set's successive requests), when it is this table's and has
    // exactly this name: the lookup below would find it again. Every entry FillColumns shares
    // is the index's answer for its own lower-cased name, so for a request name equal to the
    // entry's it is the answer for that name too; being in the table's list (by address:
    // alive, it can be in no other tree) makes it this table's. Saves the lower-casing and
    // the hash lookup (~250 instructions a column).
    if (const Value* held = column.shared_target();
        held != nullptr && !std::less<const Value*>()(held, listed_begin) &&
        std::less<const Value*>()(held, listed_end)) {
      const Value* held_name = NameOf(*held);
      if (held_name != nullptr && held_name->is_string() && held_name->as_string() == name) {
        continue;
      }
    }
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
      // Shares the table's ownership: the entry lives as long as the table tree. Held already
      // (the same column as the request before), it costs nothing.
      if (column.shared_target() != found) {
        column = Value::Shared(std::shared_ptr<const Value>(*table, found));
      }
    } else {
      MapRefill c(column, 1);
      SetString(c.Next("name"), name);
      if (table != nullptr) SetString(unknown.Next(), name);
    }
  }
}

void FillAccess(const AccessRequest& a, const SharedPrincipal* principal,
                const ResolvedRequest& resolved, MapRefill& req) {
  const ResourceRef& r = a.resource;
  const Catalog::TableEntry* entry = resolved.table;
  const bool has_table = entry != nullptr && entry->table != nullptr;
  SetString(req.Next("domain"), resolved.domain);
  if (principal != nullptr) {
    SetShared(req.Next("principal"), principal->value());
  } else {
    FillPrincipal(a.principal, req.Next("principal"));
  }
  SetString(req.Next("action"), a.action);
  FillContext(a, req.Next("context"));
  if (!a.action_properties.is_null()) SetCopy(req.Next("action_properties"), a.action_properties);
  {
    MapRefill resource(req.Next("resource"), 9);
    SetString(resource.Next("domain"), resolved.domain);
    SetString(resource.Next("product"), resolved.product_name);
    SetString(resource.Next("table"), r.table);
    SetString(resource.Next("type"), !r.type.empty()    ? absl::string_view(r.type)
                                     : !r.table.empty() ? "table"
                                                        : "product");
    SetString(resource.Next("id"), !r.id.empty() ? r.id : !r.table.empty() ? r.table : r.product);
    if (!r.properties.is_null()) SetCopy(resource.Next("properties"), r.properties);
    // Computed natively because nearly every access policy needs it and a Lua loop over the
    // catalog per request is the most expensive thing a policy can do. `resource` has room for
    // every entry, so `columns` stays where it is while `unknown_columns` is added.
    Value& columns = resource.Next("columns");
    FillColumns(r.columns, entry, columns, resource.Next("unknown_columns"));
  }
  if (resolved.product != nullptr) SetShared(req.Next("product"), resolved.product->tree);
  if (has_table) SetShared(req.Next("table"), entry->table);
}

void FillProduct(const ProductRequest& p, const ResolvedRequest& resolved, MapRefill& req) {
  SetString(req.Next("domain"), resolved.domain);
  SetCopy(req.Next("product"), p.product);
  SetString(req.Next("operation"), p.operation.empty() ? "register" : p.operation);
  FillPrincipal(p.requester, req.Next("requester"));
}

void FillDeployment(const DeploymentRequest& d, const ResolvedRequest& resolved, MapRefill& req) {
  SetString(req.Next("domain"), resolved.domain);
  SetCopy(req.Next("product"), d.product);
  if (d.previous.has_value()) SetCopy(req.Next("previous"), *d.previous);
  req.Next("contracts") = Value(Value::List(d.contracts.begin(), d.contracts.end()));
  req.Next("previous_contracts") =
      Value(Value::List(d.previous_contracts.begin(), d.previous_contracts.end()));
  SetString(req.Next("environment"), d.environment);
  SetStringMap(req.Next("pipeline"), d.pipeline);
  FillPrincipal(d.requester, req.Next("requester"));
}

}  // namespace

SharedPrincipal::SharedPrincipal(Principal principal)
    : principal_(std::move(principal)),
      value_(std::make_shared<const Value>(PrincipalValue(principal_))) {}

void FillRequestTree(const Request& request, const SharedPrincipal* principal,
                     const ResolvedRequest& resolved, Value& tree) {
  // Room for every entry of any kind (a deployment's 9 and its `change`, added by Evaluate).
  MapRefill req(tree, 10);
  SetString(req.Next("kind"), KindName(KindOf(request)));
  if (const auto* a = std::get_if<AccessRequest>(&request)) {
    FillAccess(*a, principal, resolved, req);
  } else if (const auto* p = std::get_if<ProductRequest>(&request)) {
    FillProduct(*p, resolved, req);
  } else {
    FillDeployment(std::get<DeploymentRequest>(request), resolved, req);
  }
}

Value RequestTree(const Request& request, const SharedPrincipal* principal,
                  const ResolvedRequest& resolved) {
  Value req;
  FillRequestTree(request, principal, resolved, req);
  return req;
}

}  // namespace arbiter
