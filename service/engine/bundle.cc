#include "service/engine/bundle.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "re2/re2.h"
#include "service/diff/schema_diff.h"
#include "service/engine/combine.h"
#include "service/engine/lua_sandbox.h"
#include "service/engine/policy_lint.h"
#include "service/value/parse.h"

namespace arbiter {
namespace {

constexpr size_t kMaxRequestColumns = 10000;

// One Lua state for the global policies and one per domain that has policies; a domain's state
// is only ever reached by that domain's requests, so what a domain policy keeps between calls
// can never leak into another domain's decisions.
struct WorkerSet {
  std::unique_ptr<LuaSandbox> global;
  absl::flat_hash_map<std::string, std::unique_ptr<LuaSandbox>> domains;
  std::vector<int> handles;  // per policy index
  void EndEvaluation() {
    global->EndEvaluation();
    for (auto& [d, s] : domains) s->EndEvaluation();
  }
  bool healthy() const {
    if (!global->healthy()) return false;
    for (const auto& [d, s] : domains) {
      if (!s->healthy()) return false;
    }
    return true;
  }
};

// Line of the first `key =` in a policy's source, for messages about table keys.
int LineOfKey(absl::string_view source, absl::string_view key) {
  RE2 re(absl::StrCat("\\b(", RE2::QuoteMeta(re2::StringPiece(key.data(), key.size())),
                      ")\\s*=(?:[^=]|$)"));
  re2::StringPiece m;
  if (!RE2::PartialMatch(re2::StringPiece(source.data(), source.size()), re, &m)) return 1;
  return 1 + static_cast<int>(std::count(source.data(), m.data(), '\n'));
}

bool ValidPolicyName(absl::string_view s) {
  static const RE2* re = new RE2("[a-z0-9][a-z0-9._-]{0,127}");
  return RE2::FullMatch(re2::StringPiece(s.data(), s.size()), *re);
}

// An id as it may appear in an error message: printable ASCII only, bounded.
std::string CleanId(absl::string_view id) {
  std::string out;
  for (char c : id.substr(0, 128)) out.push_back(c >= 0x20 && c < 0x7F ? c : '?');
  return out;
}

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

bool ValidName(absl::string_view s) {
  static const RE2* re = new RE2("[a-z][a-z0-9_-]*");
  return RE2::FullMatch(re2::StringPiece(s.data(), s.size()), *re);
}

}  // namespace

struct Bundle::Impl {
  std::string revision;
  EngineLimits limits;
  KindDefaults defaults;
  // `diff_rules:` in bundle.yaml: the class of every schema diff rule for this bundle.
  DiffRuleClasses diff_classes = DefaultDiffRuleClasses();
  std::vector<PolicyInfo> policies;
  std::vector<std::string> sources;  // per policy
  Catalog catalog;
  // Every list and map inside the catalog's trees: their views outlive an evaluation (see
  // LuaSandbox::Create). Declared before the pool, so it outlives every state.
  absl::flat_hash_set<const Value*> catalog_containers;
  std::map<std::string, std::string> tests;
  // bundle.yaml's `waivers:` and the waivers/*.yaml files (waivers.h).
  WaiverSettings waiver_settings;
  WaiverIndex waivers;
  // The global policies and each domain's, per kind (indexed by Kind), in file order, so that an
  // evaluation walks only what applies.
  std::vector<size_t> global_by_kind[3];
  absl::flat_hash_map<std::string, std::array<std::vector<size_t>, 3>> domain_by_kind;
  // domain -> global ids its policies override
  absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>> overrides;

  mutable absl::Mutex pool_mu;
  mutable std::vector<std::unique_ptr<WorkerSet>> pool ABSL_GUARDED_BY(pool_mu);

  absl::StatusOr<std::unique_ptr<WorkerSet>> NewWorkerSet(std::vector<std::string>* errors) const;
  std::unique_ptr<WorkerSet> Acquire(absl::Status& status) const;
  void Release(std::unique_ptr<WorkerSet> w) const;
  absl::StatusOr<Value> BuildRequest(const Request& request, const SharedPrincipal* principal,
                                     std::string& domain, Decision& decision) const;
};

absl::StatusOr<std::unique_ptr<WorkerSet>> Bundle::Impl::NewWorkerSet(
    std::vector<std::string>* errors) const {
  auto w = std::make_unique<WorkerSet>();
  auto g = LuaSandbox::Create(limits, &catalog_containers);
  if (!g.ok()) return g.status();
  w->global = *std::move(g);
  w->handles.assign(policies.size(), -1);
  for (size_t i = 0; i < policies.size(); ++i) {
    const PolicyInfo& p = policies[i];
    LuaSandbox* sandbox;
    if (p.domain.empty()) {
      sandbox = w->global.get();
    } else {
      auto& slot = w->domains[p.domain];
      if (slot == nullptr) {
        auto s = LuaSandbox::Create(limits, &catalog_containers);
        if (!s.ok()) return s.status();
        slot = *std::move(s);
      }
      sandbox = slot.get();
    }
    PolicySpec spec;
    absl::StatusOr<int> handle = sandbox->LoadPolicy(p.file, sources[i], spec);
    if (!handle.ok()) {
      if (errors == nullptr) return handle.status();
      errors->push_back(std::string(handle.status().message()));
      continue;
    }
    w->handles[i] = *handle;
  }
  return w;
}

std::unique_ptr<WorkerSet> Bundle::Impl::Acquire(absl::Status& status) const {
  {
    absl::MutexLock lock(&pool_mu);
    if (!pool.empty()) {
      std::unique_ptr<WorkerSet> w = std::move(pool.back());
      pool.pop_back();
      return w;
    }
  }
  auto w = NewWorkerSet(nullptr);
  if (!w.ok()) {
    status = absl::InternalError(absl::StrCat("cannot prepare policies: ", w.status().message()));
    return nullptr;
  }
  return *std::move(w);
}

void Bundle::Impl::Release(std::unique_ptr<WorkerSet> w) const {
  if (!w->healthy()) return;  // dropped; the next Acquire builds a fresh one
  absl::MutexLock lock(&pool_mu);
  pool.push_back(std::move(w));
}

namespace {

Value PrincipalValue(const Principal& p) {
  Value v = Value::MapWithCapacity(8);
  v.Add("id", p.id);
  Value::List roles(p.roles.begin(), p.roles.end());
  v.Add("roles", Value(std::move(roles)));
  Value::List groups(p.groups.begin(), p.groups.end());
  v.Add("groups", Value(std::move(groups)));
  v.Add("domain", p.domain);
  Value attrs = Value::MapWithCapacity(8);
  for (const auto& [k, a] : p.attributes) attrs.Add(k, a);
  v.Add("attributes", std::move(attrs));
  if (!p.type.empty()) v.Add("type", p.type);
  if (!p.properties.is_null()) v.Add("properties", p.properties);
  return v;
}

}  // namespace

SharedPrincipal::SharedPrincipal(Principal principal)
    : principal_(std::move(principal)),
      value_(std::make_shared<const Value>(PrincipalValue(principal_))) {}

namespace {

Value StringMapValue(const std::map<std::string, std::string>& m) {
  Value v = Value::MapWithCapacity(8);
  for (const auto& [k, s] : m) v.Add(k, s);
  return v;
}

// req.context: the string entries, then the JSON-valued ones (which win on a clash).
Value ContextValue(const std::map<std::string, std::string>& strings, const Value& values) {
  if (!values.is_map()) return StringMapValue(strings);
  Value v = Value::MapWithCapacity(strings.size() + values.size());
  for (const auto& [k, s] : strings) {
    if (values.Find(k) == nullptr) v.Add(k, s);
  }
  for (const auto& [k, e] : values.as_map()) v.Add(k, e);
  return v;
}

// Resource types the catalog resolves; any other type has no owner.
bool IsCatalogType(const std::string& type) {
  return type.empty() || type == "table" || type == "product";
}

std::string DomainOf(const Value& product) {
  const Value* d = product.FindPath({"metadata", "domain"});
  return d != nullptr && d->is_string() ? d->as_string() : "";
}

// What a request offers to waiver scopes; views into `request` and the built `req`.
WaiverSubject WaiverSubjectOf(const Request& request, const Value& req, const std::string& domain) {
  WaiverSubject s;
  s.domain = domain;
  s.kind = KindName(KindOf(request));
  const Value* product = nullptr;
  if (std::holds_alternative<AccessRequest>(request)) {
    // From the built request: a batch's principal may be shared (EvalOptions::principal).
    if (const Value* id = req.FindPath({"principal", "id"}); id != nullptr && id->is_string()) {
      s.principal = id->as_string();
    }
    product = req.FindPath({"resource", "product"});
  } else if (const auto* p = std::get_if<ProductRequest>(&request)) {
    s.principal = p->requester.id;
    product = p->product.FindPath({"metadata", "name"});
  } else {
    const auto& d = std::get<DeploymentRequest>(request);
    s.principal = d.requester.id;
    s.environment = d.environment;
    product = d.product.FindPath({"metadata", "name"});
  }
  if (product != nullptr && product->is_string()) s.product = product->as_string();
  return s;
}

absl::Status RequireMap(const Value& v, absl::string_view field) {
  if (v.is_map()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(field, ": expected a document (a map), got ",
                                                 v.is_null() ? "nothing" : "a ",
                                                 v.is_null()   ? ""
                                                 : v.is_list() ? "list"
                                                               : "scalar"));
}

}  // namespace

namespace {

// Lowers every limit of `l` to at most the ceiling's.
void ClampLimits(const EngineLimits& ceiling, EngineLimits& l) {
  l.instruction_budget = std::min(l.instruction_budget, ceiling.instruction_budget);
  l.policy_timeout = std::min(l.policy_timeout, ceiling.policy_timeout);
  l.memory_limit_bytes = std::min(l.memory_limit_bytes, ceiling.memory_limit_bytes);
  l.max_policy_bytes = std::min(l.max_policy_bytes, ceiling.max_policy_bytes);
  l.max_bundle_policy_bytes = std::min(l.max_bundle_policy_bytes, ceiling.max_bundle_policy_bytes);
  l.max_message_bytes = std::min(l.max_message_bytes, ceiling.max_message_bytes);
  l.max_pattern_subject_bytes =
      std::min(l.max_pattern_subject_bytes, ceiling.max_pattern_subject_bytes);
  l.max_string_bytes = std::min(l.max_string_bytes, ceiling.max_string_bytes);
}

}  // namespace

absl::StatusOr<Value> Bundle::Impl::BuildRequest(const Request& request,
                                                 const SharedPrincipal* principal,
                                                 std::string& domain, Decision& decision) const {
  Value req = Value::MapWithCapacity(8);
  req.Add("kind", std::string(KindName(KindOf(request))));
  if (const auto* a = std::get_if<AccessRequest>(&request)) {
    const Principal& who = principal != nullptr ? principal->principal() : a->principal;
    if (who.id.empty()) return absl::InvalidArgumentError("principal.id: required");
    if (a->action.empty()) return absl::InvalidArgumentError("action: required");
    const ResourceRef& r = a->resource;
    const bool catalog_type = IsCatalogType(r.type);
    if (catalog_type && r.table.empty() && r.product.empty()) {
      return absl::InvalidArgumentError(
          "resource: name a table (catalog.schema.table) or a product");
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
    // Resolved once at load (Catalog::FindTable): one lookup, no copies of the trees.
    std::shared_ptr<const Value> product;
    const Catalog::TableEntry* entry = nullptr;
    absl::string_view product_name = r.product;
    // The catalog says who owns a resource; a request never does. An uncatalogued resource has
    // no owner, so only global policies judge it (Evaluate notes why).
    domain.clear();
    if (!r.table.empty()) {
      size_t first = r.table.find('.');
      size_t second = first == std::string::npos ? first : r.table.find('.', first + 1);
      if (first == 0 || second == std::string::npos || second == first + 1 ||
          second + 1 == r.table.size() || r.table.find('.', second + 1) != std::string::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("resource.table: expected catalog.schema.table, got \"", r.table, "\""));
      }
      if ((entry = catalog.FindTable(r.table)) != nullptr) {
        const Catalog::ProductEntry& m = *entry->product;
        if (!r.domain.empty() && r.domain != m.domain) {
          return absl::InvalidArgumentError(absl::StrCat("resource.domain: table ", r.table,
                                                         " belongs to domain ", m.domain, ", not ",
                                                         r.domain));
        }
        if (!r.product.empty() && r.product != m.name) {
          return absl::InvalidArgumentError(absl::StrCat("resource.product: table ", r.table,
                                                         " belongs to product ", m.name, ", not ",
                                                         r.product));
        }
        domain = m.domain;
        product_name = m.name;
        product = m.tree;
      }
    } else if (const Catalog::ProductEntry* m = catalog.FindProductEntry(r.product)) {
      if (!r.domain.empty() && r.domain != m->domain) {
        return absl::InvalidArgumentError(absl::StrCat("resource.domain: product ", r.product,
                                                       " belongs to domain ", m->domain, ", not ",
                                                       r.domain));
      }
      domain = m->domain;
      product = m->tree;
    }
    const std::shared_ptr<const Value>* table =
        entry != nullptr && entry->table != nullptr ? &entry->table : nullptr;
    req.Add("domain", domain);
    req.Add("principal", principal != nullptr ? Value::Shared(principal->value())
                                              : PrincipalValue(a->principal));
    req.Add("action", a->action);
    req.Add("context", ContextValue(a->context, a->context_values));
    if (!a->action_properties.is_null()) req.Add("action_properties", a->action_properties);
    Value resource = Value::MapWithCapacity(8);
    resource.Add("domain", domain);
    resource.Add("product", std::string(product_name));
    resource.Add("table", r.table);
    resource.Add("type", !r.type.empty() ? r.type : !r.table.empty() ? "table" : "product");
    resource.Add("id", !r.id.empty() ? r.id : !r.table.empty() ? r.table : r.product);
    if (!r.properties.is_null()) resource.Add("properties", r.properties);
    Value::List column_list;
    column_list.reserve(r.columns.size());
    Value unknown_columns = Value::EmptyList();
    for (const std::string& name : r.columns) {
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
        column_list.push_back(Value::Shared(std::shared_ptr<const Value>(*table, found)));
      } else {
        Value c = Value::MapWithCapacity(1);
        c.Add("name", name);
        column_list.push_back(std::move(c));
        if (table != nullptr) unknown_columns.Append(name);
      }
    }
    Value columns(std::move(column_list));
    resource.Add("columns", std::move(columns));
    // Computed natively because nearly every access policy needs it and a Lua loop over the
    // catalog per request is the most expensive thing a policy can do.
    resource.Add("unknown_columns", std::move(unknown_columns));
    req.Add("resource", std::move(resource));
    if (product != nullptr) req.Add("product", Value::Shared(std::move(product)));
    if (table != nullptr) req.Add("table", Value::Shared(*table));
    return req;
  }
  if (const auto* p = std::get_if<ProductRequest>(&request)) {
    if (auto s = RequireMap(p->product, "product"); !s.ok()) return s;
    domain = DomainOf(p->product);
    req.Add("domain", domain);
    req.Add("product", p->product);
    req.Add("operation", p->operation.empty() ? "register" : p->operation);
    req.Add("requester", PrincipalValue(p->requester));
    return req;
  }
  const auto& d = std::get<DeploymentRequest>(request);
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
  domain = DomainOf(d.product);
  req.Add("domain", domain);
  req.Add("product", d.product);
  if (d.previous.has_value()) req.Add("previous", *d.previous);
  req.Add("contracts", Value(Value::List(d.contracts.begin(), d.contracts.end())));
  req.Add("previous_contracts",
          Value(Value::List(d.previous_contracts.begin(), d.previous_contracts.end())));
  req.Add("environment", d.environment);
  req.Add("pipeline", StringMapValue(d.pipeline));
  req.Add("requester", PrincipalValue(d.requester));
  // Documents sent as YAML text carry positions, which give each change its `line`.
  decision.change = ComputeChange(d.product, d.previous ? &*d.previous : nullptr, d.contracts,
                                  d.previous_contracts, diff_classes, /*with_lines=*/true);
  req.Add("change", decision.change);
  return req;
}

Bundle::Bundle(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Bundle::~Bundle() = default;

const std::string& Bundle::revision() const { return impl_->revision; }
const std::vector<PolicyInfo>& Bundle::policies() const { return impl_->policies; }
const Catalog& Bundle::catalog() const { return impl_->catalog; }
const EngineLimits& Bundle::limits() const { return impl_->limits; }
const KindDefaults& Bundle::defaults() const { return impl_->defaults; }

std::map<std::string, std::set<int>> Bundle::CoverableLines() const {
  std::map<std::string, std::set<int>> out;
  for (size_t i = 0; i < impl_->policies.size(); ++i) {
    out[impl_->policies[i].file] = ExecutableLines(impl_->sources[i]);
  }
  return out;
}

std::vector<LintFinding> Bundle::Lint() const {
  absl::flat_hash_set<std::string> defined;
  {
    absl::Status status;
    std::unique_ptr<WorkerSet> w = impl_->Acquire(status);
    if (w != nullptr) {
      for (std::string& n : w->global->GlobalNames()) defined.insert(std::move(n));
      impl_->Release(std::move(w));
    }
  }
  std::vector<LintFinding> out;
  for (size_t i = 0; i < impl_->policies.size(); ++i) {
    std::vector<LintFinding> f = LintPolicy(impl_->policies[i].file, impl_->sources[i], defined);
    // Unknown finding options are load errors already; a loaded bundle has none.
    out.insert(out.end(), f.begin(), f.end());
  }
  return out;
}
const std::map<std::string, std::string>& Bundle::test_files() const { return impl_->tests; }
const std::vector<Waiver>& Bundle::waivers() const { return impl_->waivers.all(); }

absl::StatusOr<Decision> Bundle::Evaluate(const Request& request,
                                          const EvalOptions& options) const {
  const Impl& impl = *impl_;
  if (absl::Now() > options.deadline) {
    return absl::DeadlineExceededError("deadline passed before evaluation");
  }
  Decision decision;
  decision.decision_id = options.decision_id;
  decision.bundle_revision = impl.revision;
  std::string domain;
  absl::StatusOr<Value> req = impl.BuildRequest(request, options.principal, domain, decision);
  if (!req.ok()) return req.status();
  if (const auto* d = std::get_if<DeploymentRequest>(&request);
      d != nullptr && options.deployment_impact && decision.change.is_map()) {
    Value impact = options.deployment_impact(*d, decision.change);
    if (!impact.is_null()) {
      decision.change.Set("impact", std::move(impact));
      req->Set("change", decision.change);
    }
  }
  decision.domain = domain;
  Kind kind = KindOf(request);

  Value ctx = Value::MapWithCapacity(4);
  ctx.Add("now", static_cast<int64_t>(absl::ToUnixSeconds(options.now)));
  ctx.Add("revision", impl.revision);
  ctx.Add("domain", domain);
  ctx.Add("kind", std::string(KindName(kind)));

  // Access policies may declare the actions they are about; the others do not run.
  const std::string* action = nullptr;
  if (const auto* a = std::get_if<AccessRequest>(&request)) action = &a->action;
  auto applies = [action](const PolicyInfo& p) {
    return action == nullptr || p.actions.empty() ||
           std::find(p.actions.begin(), p.actions.end(), *action) != p.actions.end();
  };
  const absl::flat_hash_set<std::string>* overridden = nullptr;
  if (auto it = impl.overrides.find(domain); it != impl.overrides.end()) overridden = &it->second;
  // Which policies run, in order: the global ones (minus those this domain overrides), then the
  // domain's own. Each group runs in its own Lua state.
  std::vector<size_t> to_run;
  std::vector<int> global_handles, domain_handles;
  absl::Status status;
  std::unique_ptr<WorkerSet> w = impl.Acquire(status);
  if (w == nullptr) return status;
  for (size_t i : impl.global_by_kind[static_cast<int>(kind)]) {
    const PolicyInfo& p = impl.policies[i];
    if (!applies(p)) continue;
    if (overridden != nullptr && p.mode == PolicyMode::kDefault && overridden->contains(p.id)) {
      decision.overridden_policies.push_back(p.id);
      continue;
    }
    to_run.push_back(i);
    global_handles.push_back(w->handles[i]);
  }
  if (auto it = impl.domain_by_kind.find(domain); it != impl.domain_by_kind.end()) {
    for (size_t i : it->second[static_cast<int>(kind)]) {
      if (!applies(impl.policies[i])) continue;
      to_run.push_back(i);
      domain_handles.push_back(w->handles[i]);
    }
  }

  CheckDebug debug;
  debug.trace = options.trace;
  debug.coverage = options.coverage;
  std::vector<CheckOutcome> outcomes;
  outcomes.reserve(to_run.size());
  if (!global_handles.empty()) {
    w->global->RunChecks(global_handles, *req, ctx, impl.limits.policy_timeout, options.deadline,
                         outcomes, debug);
  }
  if (!domain_handles.empty() && outcomes.size() == global_handles.size() &&
      (outcomes.empty() || !outcomes.back().request_deadline_exceeded)) {
    w->domains.at(domain)->RunChecks(domain_handles, *req, ctx, impl.limits.policy_timeout,
                                     options.deadline, outcomes, debug);
  }
  std::shared_ptr<EvaluationTrace> trace;
  if (options.trace) trace = std::make_shared<EvaluationTrace>();
  std::vector<PolicyFinding> findings;
  for (size_t k = 0; k < outcomes.size(); ++k) {
    const PolicyInfo& p = impl.policies[to_run[k]];
    CheckOutcome& outcome = outcomes[k];
    if (outcome.request_deadline_exceeded) {
      w->EndEvaluation();
      impl.Release(std::move(w));
      return absl::DeadlineExceededError(absl::StrCat("deadline exceeded while evaluating ", p.id));
    }
    if (trace != nullptr) {
      PolicyTrace& pt = trace->policies.emplace_back();
      pt.policy_id = p.id;
      pt.origin = p.origin();
      pt.mode = p.mode;
      pt.instructions = outcome.instructions;
      pt.time = outcome.time;
      pt.prints = std::move(outcome.prints);
      if (outcome.fault) pt.fault = outcome.error;
      for (const Finding& f : outcome.findings) {
        static constexpr const char* kTypes[] = {"allow", "deny", "warn", "obligate"};
        pt.findings.push_back(
            absl::StrCat(kTypes[static_cast<int>(f.type)], ": ", f.message,
                         f.detail.empty() ? "" : absl::StrCat(" (", f.detail, ")")));
      }
    }
    decision.evaluated_policies.push_back(p.id);
    if (outcome.fault) {
      decision.faults.push_back({p.id, *outcome.fault});
      Finding f;
      f.type = Finding::Type::kDeny;
      f.message = absl::StrCat("policy ", p.id, " could not decide (",
                               PolicyFaultTypeName(*outcome.fault), "); failing closed");
      f.detail = outcome.error;
      findings.push_back({&p, std::move(f)});
      continue;
    }
    for (Finding& f : outcome.findings) {
      const Waiver* waiver = nullptr;
      if (f.type == Finding::Type::kDeny && !impl.waivers.empty()) {
        waiver = impl.waivers.Find(p.id, WaiverSubjectOf(request, *req, domain), options.now);
      }
      findings.push_back({&p, std::move(f), waiver});
    }
  }
  w->EndEvaluation();
  impl.Release(std::move(w));

  Effect default_effect = kind == Kind::kAccess    ? impl.defaults.access
                          : kind == Kind::kProduct ? impl.defaults.product
                                                   : impl.defaults.deployment;
  Combine(findings, default_effect, decision);
  decision.trace = std::move(trace);
  if (decision.defaulted && decision.effect == Effect::kDeny) {
    // A closed default is the most puzzling deny: say that nothing granted, and what ran.
    Reason r;
    r.policy_id = std::string(kDefaultReasonId);
    r.origin = "global";
    r.mode = PolicyMode::kDefault;
    r.effect = Effect::kDeny;
    r.severity = Severity::kError;
    r.message = absl::StrCat("no policy allowed this; policies that ran: ",
                             decision.evaluated_policies.empty()
                                 ? "none"
                                 : absl::StrJoin(decision.evaluated_policies, ", "));
    decision.reasons.push_back(std::move(r));
  }
  if (const auto* a = std::get_if<AccessRequest>(&request); a != nullptr && domain.empty()) {
    Reason note;
    note.policy_id = std::string(kUncataloguedReasonId);
    note.origin = "engine";
    note.effect = decision.effect;
    note.severity = Severity::kInfo;
    note.message = "resource not in the catalog: domain policies not applied";
    note.detail = absl::StrCat(a->resource.table.empty() ? "product " : "table ",
                               a->resource.table.empty() ? a->resource.product : a->resource.table,
                               " has no owner in the catalog",
                               a->resource.domain.empty()
                                   ? ""
                                   : absl::StrCat("; the request's domain \"", a->resource.domain,
                                                  "\" is not trusted for ownership"));
    decision.reasons.push_back(std::move(note));
  }
  return decision;
}

// --- Loading. ---

absl::StatusOr<BundleFiles> ReadBundleDir(const std::string& dir, const BundleReadLimits& limits) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat(dir, ": not a directory"));
  }
  BundleFiles out;
  out.root = dir;
  size_t total = 0;
  fs::recursive_directory_iterator it(dir, fs::directory_options::follow_directory_symlink, ec);
  if (ec) return absl::NotFoundError(absl::StrCat(dir, ": ", ec.message()));
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return absl::InternalError(absl::StrCat(dir, ": ", ec.message()));
    std::string rel = fs::relative(it->path(), dir, ec).generic_string();
    // Hidden entries: editors' swap files, and Kubernetes' ConfigMap "..data" links.
    bool hidden = false;
    for (absl::string_view part : absl::StrSplit(rel, '/')) {
      if (absl::StartsWith(part, ".")) hidden = true;
    }
    if (hidden) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file(ec)) continue;
    if (out.files.size() >= limits.max_files) {
      return absl::InvalidArgumentError(
          absl::StrCat(dir, ": more than ", limits.max_files, " files"));
    }
    auto size = it->file_size(ec);
    if (size > limits.max_file_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          rel, ":1: file is ", size, " bytes, over the limit of ", limits.max_file_bytes));
    }
    total += size;
    if (total > limits.max_total_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(dir, ": bundle over ", limits.max_total_bytes, " bytes"));
    }
    std::ifstream in(it->path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    out.files[rel] = ss.str();
  }
  return out;
}

namespace {

// Reads bundle.yaml into the impl; problems go to `errors`.
void ReadBundleConfig(const BundleFiles& files, Bundle::Impl& impl,
                      std::vector<std::string>& errors);

}  // namespace

absl::StatusOr<std::shared_ptr<const Bundle>> Bundle::Load(const BundleFiles& files,
                                                           const LoadOptions& options) {
  auto impl = std::make_unique<Impl>();
  std::vector<std::string> errors;
  ReadBundleConfig(files, *impl, errors);
  if (options.max_limits != nullptr) ClampLimits(*options.max_limits, impl->limits);

  std::vector<Catalog::Document> products, contracts;
  std::vector<Waiver> waivers;
  size_t policy_bytes = 0;
  for (const auto& [path, content] : files.files) {
    std::vector<std::string> parts = absl::StrSplit(path, '/');
    if (path == "bundle.yaml") continue;
    if (parts[0] == "global" || parts[0] == "domains") {
      if (!absl::EndsWith(path, ".lua")) {
        if (!absl::EndsWith(path, ".md")) {
          errors.push_back(
              absl::StrCat(path, ":1: only .lua policy files belong under ", parts[0], "/"));
        }
        continue;
      }
      PolicyInfo info;
      info.file = path;
      if (parts[0] == "global") {
        if (parts.size() != 2) {
          errors.push_back(absl::StrCat(path, ":1: global policies live directly in global/"));
          continue;
        }
      } else {
        if (parts.size() != 3) {
          errors.push_back(
              absl::StrCat(path, ":1: domain policies live in domains/<domain>/<name>.lua"));
          continue;
        }
        if (!ValidName(parts[1])) {
          errors.push_back(absl::StrCat(path, ":1: invalid domain name \"", parts[1],
                                        "\" (lower-case letters, digits, - and _)"));
          continue;
        }
        info.domain = parts[1];
      }
      if (content.size() > impl->limits.max_policy_bytes) {
        errors.push_back(absl::StrCat(path, ":1: policy is ", content.size(),
                                      " bytes, over the limit of ", impl->limits.max_policy_bytes));
        continue;
      }
      policy_bytes += content.size();
      impl->policies.push_back(std::move(info));
      impl->sources.push_back(content);
    } else if (parts[0] == "catalog" && parts.size() == 3 &&
               (parts[1] == "products" || parts[1] == "contracts") &&
               (absl::EndsWith(path, ".yaml") || absl::EndsWith(path, ".yml"))) {
      absl::StatusOr<Value> doc = ParseYaml(content, path);
      if (!doc.ok()) {
        errors.push_back(std::string(doc.status().message()));
        continue;
      }
      if (!doc->is_map()) {
        errors.push_back(absl::StrCat(path, ":1: expected a document (a map)"));
        continue;
      }
      auto& dest = parts[1] == "products" ? products : contracts;
      dest.push_back({path, std::make_shared<const Value>(*std::move(doc))});
    } else if (parts[0] == "waivers") {
      if (parts.size() == 2 && (absl::EndsWith(path, ".yaml") || absl::EndsWith(path, ".yml"))) {
        ParseWaiverFile(path, content, impl->waiver_settings, options.now, waivers, errors);
      } else if (!absl::EndsWith(path, ".md")) {
        errors.push_back(
            absl::StrCat(path, ":1: waivers/ holds waiver files (waivers/<name>.yaml)"));
      }
    } else if (parts[0] == "tests" && parts.size() == 2 &&
               (absl::EndsWith(path, ".yaml") || absl::EndsWith(path, ".yml"))) {
      impl->tests[path] = content;
    } else if (absl::EndsWith(path, ".lua")) {
      // A policy that would never run must not pass unnoticed.
      errors.push_back(absl::StrCat(
          path, ":1: policy files live in global/ or domains/<domain>/; this one would never run"));
    }
  }
  if (policy_bytes > impl->limits.max_bundle_policy_bytes) {
    errors.push_back(absl::StrCat("bundle.yaml:1: policies total ", policy_bytes,
                                  " bytes, over the limit of ",
                                  impl->limits.max_bundle_policy_bytes));
  }
  impl->catalog = Catalog::Build(std::move(products), std::move(contracts), errors);
  for (const auto* docs : {&impl->catalog.products(), &impl->catalog.contracts()}) {
    for (const Catalog::Document& d : *docs) AddContainers(*d.tree, impl->catalog_containers);
  }

  // Compile every policy in a fresh worker set (which then serves as the first worker) and read
  // its declared fields.
  std::unique_ptr<WorkerSet> first;
  if (errors.empty() || !impl->policies.empty()) {
    auto w = std::make_unique<WorkerSet>();
    auto g = LuaSandbox::Create(impl->limits, &impl->catalog_containers);
    if (!g.ok()) {
      errors.push_back(absl::StrCat("bundle.yaml:1: ", g.status().message()));
    } else {
      w->global = *std::move(g);
      w->handles.assign(impl->policies.size(), -1);
      absl::flat_hash_map<std::string, size_t> ids;
      std::vector<bool> ok(impl->policies.size(), false);
      for (size_t i = 0; i < impl->policies.size(); ++i) {
        PolicyInfo& p = impl->policies[i];
        const std::string& src = impl->sources[i];
        LuaSandbox* sandbox = w->global.get();
        if (!p.domain.empty()) {
          auto& slot = w->domains[p.domain];
          if (slot == nullptr) {
            auto s = LuaSandbox::Create(impl->limits, &impl->catalog_containers);
            if (!s.ok()) {
              errors.push_back(absl::StrCat(p.file, ":1: ", s.status().message()));
              continue;
            }
            slot = *std::move(s);
          }
          sandbox = slot.get();
        }
        if (absl::Now() > options.deadline) {
          return absl::DeadlineExceededError(
              absl::StrCat("deadline exceeded while loading the bundle (at ", p.file, ")"));
        }
        PolicySpec spec;
        absl::StatusOr<int> handle = sandbox->LoadPolicy(p.file, src, spec, options.deadline);
        if (!handle.ok()) {
          errors.push_back(std::string(handle.status().message()));
          continue;
        }
        w->handles[i] = *handle;
        size_t before = errors.size();
        // A literal options table with a typo (`row_filter`) is refused here rather than at the
        // first request that reaches the call.
        for (const LintFinding& f : LintFindingOptions(p.file, src)) {
          errors.push_back(absl::StrCat(f.file, ":", f.line, ": ", f.message));
        }
        auto err = [&](absl::string_view key, absl::string_view msg) {
          errors.push_back(
              absl::StrCat(p.file, ":", key.empty() ? 1 : LineOfKey(src, key), ": ", msg));
        };
        // Capped: each reported key costs a scan of the source for its line, and a policy
        // returning 20,000 unknown keys must not make loading quadratic (issue 11).
        constexpr size_t kMaxKeyErrors = 20;
        for (size_t k = 0; k < spec.unknown_keys.size() && k < kMaxKeyErrors; ++k) {
          const std::string& key = spec.unknown_keys[k];
          err(key, absl::StrCat("unknown key \"", key,
                                "\" (allowed: id, description, kinds, actions, mode, severity, "
                                "overrides, waivable, check)"));
        }
        if (spec.unknown_keys.size() > kMaxKeyErrors) {
          err("",
              absl::StrCat("and ", spec.unknown_keys.size() - kMaxKeyErrors, " more unknown keys"));
        }
        for (size_t k = 0; k < spec.type_errors.size() && k < kMaxKeyErrors; ++k) {
          const std::string& e = spec.type_errors[k];
          err(std::string(e.substr(0, e.find_first_of(":["))), e);
        }
        if (spec.type_errors.size() > kMaxKeyErrors) {
          err("", absl::StrCat("and ", spec.type_errors.size() - kMaxKeyErrors,
                               " more errors in the policy table"));
        }
        std::string prefix = p.domain.empty() ? "global." : absl::StrCat(p.domain, ".");
        if (spec.id.empty()) {
          err("", "missing id");
        } else if (!absl::StartsWith(spec.id, prefix) || spec.id.size() == prefix.size()) {
          err("id", absl::StrCat("id \"", CleanId(spec.id), "\" must start with \"", prefix, "\""));
        } else if (!ValidPolicyName(absl::string_view(spec.id).substr(prefix.size()))) {
          // Ids reach logs, metrics labels and responses: no control bytes, no free text.
          err("id", absl::StrCat("id \"", CleanId(spec.id), "\" must be ", prefix,
                                 "<name> with a name of lower-case letters, digits, '.', '-' and "
                                 "'_'"));
        } else if (auto [it, inserted] = ids.emplace(spec.id, i); !inserted) {
          err("id", absl::StrCat("duplicate policy id ", spec.id, " (also in ",
                                 impl->policies[it->second].file, ")"));
        }
        p.id = spec.id;
        p.description = spec.description;
        if (!spec.has_check) err("", "missing check function");
        if (spec.kinds.empty())
          err("kinds", "kinds must list at least one of access, product, deployment");
        for (const std::string& k : spec.kinds) {
          absl::StatusOr<Kind> kind = ParseKind(k);
          if (!kind.ok()) {
            err("kinds", absl::StrCat("kinds: ", kind.status().message()));
          } else if (std::find(p.kinds.begin(), p.kinds.end(), *kind) == p.kinds.end()) {
            p.kinds.push_back(*kind);
          }
        }
        if (spec.actions.has_value()) {
          if (spec.actions->empty()) {
            err("actions", "actions must list at least one action (or be left out: every action)");
          } else if (std::find(p.kinds.begin(), p.kinds.end(), Kind::kAccess) == p.kinds.end()) {
            err("actions", "actions applies to access policies only (kinds has no access)");
          }
          for (const std::string& a : *spec.actions) {
            if (a.empty()) err("actions", "actions: an action cannot be empty");
            if (std::find(p.actions.begin(), p.actions.end(), a) == p.actions.end()) {
              p.actions.push_back(a);
            }
          }
        }
        if (p.domain.empty()) {
          std::optional<PolicyMode> mode =
              spec.mode ? ParsePolicyMode(*spec.mode) : PolicyMode::kMandatory;
          if (mode == PolicyMode::kMandatory || mode == PolicyMode::kDefault ||
              mode == PolicyMode::kAdvisory) {
            p.mode = *mode;
          } else {
            err("mode", absl::StrCat("mode \"", *spec.mode, "\" is not one of ",
                                     PolicyModeName(PolicyMode::kMandatory), ", ",
                                     PolicyModeName(PolicyMode::kDefault), ", ",
                                     PolicyModeName(PolicyMode::kAdvisory)));
          }
          if (spec.overrides) err("overrides", "only domain policies may override");
        } else {
          p.mode = PolicyMode::kDomain;
          if (spec.mode) {
            err("mode", absl::StrCat("mode applies to global policies only; domain policy ",
                                     spec.id, " cannot set it"));
          }
          if (spec.overrides) p.overrides = *spec.overrides;
        }
        p.waivable = spec.waivable.value_or(p.mode != PolicyMode::kMandatory);
        std::optional<Severity> severity =
            spec.severity ? ParseSeverity(*spec.severity) : Severity::kError;
        if (severity == Severity::kError || severity == Severity::kWarning) {
          p.severity = *severity;
        } else {
          err("severity", absl::StrCat("severity \"", *spec.severity, "\" is not ",
                                       SeverityName(Severity::kError), " or ",
                                       SeverityName(Severity::kWarning)));
        }
        ok[i] = errors.size() == before;
      }
      // Overrides are checked once every id is known.
      for (size_t i = 0; i < impl->policies.size(); ++i) {
        const PolicyInfo& p = impl->policies[i];
        if (p.overrides.empty()) continue;
        auto it = ids.find(p.overrides);
        std::string msg;
        if (it == ids.end() || !impl->policies[it->second].domain.empty()) {
          msg = absl::StrCat("domain ", p.domain, " cannot override ", p.overrides,
                             ": no such global policy");
        } else if (const PolicyInfo& target = impl->policies[it->second];
                   target.mode != PolicyMode::kDefault) {
          msg = absl::StrCat("domain ", p.domain, " cannot override ", PolicyModeName(target.mode),
                             " policy ", target.id);
        }
        if (!msg.empty()) {
          errors.push_back(
              absl::StrCat(p.file, ":", LineOfKey(impl->sources[i], "overrides"), ": ", msg));
        } else {
          impl->overrides[p.domain].insert(p.overrides);
        }
      }
      for (size_t i = 0; i < impl->policies.size(); ++i) {
        const PolicyInfo& p = impl->policies[i];
        for (Kind k : p.kinds) {
          if (p.domain.empty()) {
            impl->global_by_kind[static_cast<int>(k)].push_back(i);
          } else {
            impl->domain_by_kind[p.domain][static_cast<int>(k)].push_back(i);
          }
        }
      }
      first = std::move(w);
    }
  }
  CheckWaivers(waivers, impl->policies, errors);
  impl->waivers = WaiverIndex(std::move(waivers));
  if (!errors.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bundle", files.root.empty() ? "" : " ", files.root, " has ", errors.size(),
        errors.size() == 1 ? " error" : " errors", ":\n", absl::StrJoin(errors, "\n")));
  }
  impl->pool.push_back(std::move(first));
  return std::shared_ptr<const Bundle>(new Bundle(std::move(impl)));
}

namespace {

void ReadBundleConfig(const BundleFiles& files, Bundle::Impl& impl,
                      std::vector<std::string>& errors) {
  auto it = files.files.find("bundle.yaml");
  if (it == files.files.end()) {
    errors.push_back("bundle.yaml:1: missing (a bundle needs bundle.yaml at its root)");
    return;
  }
  absl::StatusOr<Value> cfg = ParseYaml(it->second, "bundle.yaml");
  if (!cfg.ok()) {
    errors.push_back(std::string(cfg.status().message()));
    return;
  }
  if (!cfg->is_map()) {
    errors.push_back("bundle.yaml:1: expected a map with revision, defaults and limits");
    return;
  }
  // A message about the entry `at` (its key's line); line 1 for what is missing.
  auto err = [&](const Value* at, absl::string_view msg) {
    int line = at != nullptr && at->line() > 0 ? at->line() : 1;
    errors.push_back(absl::StrCat("bundle.yaml:", line, ": ", msg));
  };
  for (const auto& [key, v] : cfg->as_map()) {
    if (key == "revision") {
      if (v.is_string()) {
        impl.revision = v.as_string();
      } else if (v.is_number()) {
        impl.revision = v.ToJson();
      } else {
        err(&v, "revision must be a string");
      }
    } else if (key == "defaults") {
      if (!v.is_map()) {
        err(&v, "defaults must map kinds to allow or deny");
        continue;
      }
      for (const auto& [kind, eff] : v.as_map()) {
        Effect* target = kind == "access"       ? &impl.defaults.access
                         : kind == "product"    ? &impl.defaults.product
                         : kind == "deployment" ? &impl.defaults.deployment
                                                : nullptr;
        if (target == nullptr) {
          err(&eff, absl::StrCat("defaults: unknown kind \"", kind, "\""));
        } else if (eff.is_string() && (eff.as_string() == "allow" || eff.as_string() == "deny")) {
          *target = eff.as_string() == "allow" ? Effect::kAllow : Effect::kDeny;
        } else {
          err(&eff, absl::StrCat("defaults.", kind, ": expected allow or deny"));
        }
      }
    } else if (key == "limits") {
      if (!v.is_map()) {
        err(&v, "limits must be a map");
        continue;
      }
      for (const auto& [name, lv] : v.as_map()) {
        if (!lv.is_int() || lv.as_int() <= 0) {
          err(&lv, absl::StrCat("limits.", name, ": expected a positive integer"));
          continue;
        }
        int64_t n = lv.as_int();
        EngineLimits& l = impl.limits;
        if (name == "instruction_budget") {
          l.instruction_budget = n;
        } else if (name == "policy_timeout_ms") {
          l.policy_timeout = absl::Milliseconds(n);
        } else if (name == "memory_limit_mb") {
          l.memory_limit_bytes = static_cast<size_t>(n) << 20;
        } else if (name == "max_policy_kb") {
          l.max_policy_bytes = static_cast<size_t>(n) << 10;
        } else if (name == "max_message_bytes") {
          l.max_message_bytes = static_cast<size_t>(n);
        } else if (name == "max_pattern_subject_bytes") {
          l.max_pattern_subject_bytes = static_cast<size_t>(n);
        } else if (name == "max_string_bytes") {
          l.max_string_bytes = static_cast<size_t>(n);
        } else {
          err(&lv, absl::StrCat("limits: unknown key \"", name, "\""));
        }
      }
      if (impl.limits.memory_limit_bytes < (1 << 20)) {
        err(v.Find("memory_limit_mb"), "limits.memory_limit_mb must be at least 1");
      }
    } else if (key == "diff_rules") {
      // A council that is stricter or looser than datacontract-cli reclassifies rules by name.
      if (!v.is_map()) {
        err(&v, "diff_rules must map rule names to breaking, warning or info");
        continue;
      }
      for (const auto& [rule, cls] : v.as_map()) {
        std::optional<DiffRule> r = FindDiffRule(rule);
        std::optional<ChangeClass> c =
            cls.is_string() ? ParseChangeClass(cls.as_string()) : std::nullopt;
        if (!r.has_value()) {
          err(&cls, absl::StrCat("diff_rules: unknown rule \"", CleanId(rule),
                                 "\" (the rules are in docs/diff-rules.md)"));
        } else if (!c.has_value()) {
          err(&cls, absl::StrCat("diff_rules.", rule, ": expected breaking, warning or info"));
        } else {
          impl.diff_classes[static_cast<size_t>(*r)] = *c;
        }
      }
    } else if (key == "waivers") {
      if (auto e = ParseWaiverSettings(v, impl.waiver_settings)) err(&v, *e);
    } else {
      err(&v, absl::StrCat("unknown key \"", key,
                           "\" (allowed: revision, defaults, limits, diff_rules, waivers)"));
    }
  }
  if (impl.revision.empty()) err(nullptr, "revision: required");
}

}  // namespace

}  // namespace arbiter
