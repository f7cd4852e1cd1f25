#include "service/engine/bundle.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "service/descriptor/descriptor.h"
#include "service/diff/schema_diff.h"
#include "service/engine/bundle_load.h"
#include "service/engine/combine.h"
#include "service/engine/lua_sandbox.h"
#include "service/engine/policy_lint.h"
#include "service/engine/worker_pool.h"

namespace arbiter {
namespace {

constexpr size_t kMaxRequestColumns = 10000;

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
  // The waivers/*.yaml files (waivers.h).
  WaiverIndex waivers;
  // The policies per kind and domain, for SelectPolicies.
  PolicyIndex index;
  WorkerPool pool{limits, policies, sources, &catalog_containers};

  absl::StatusOr<Value> BuildRequest(const Request& request, const SharedPrincipal* principal,
                                     std::string& domain, Decision& decision) const;
};

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

std::string DomainOf(const Value& product) { return DescriptorDomain(product); }

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
    product = FindDescriptorField(p->product, DescriptorFact::kName).value;
  } else {
    const auto& d = std::get<DeploymentRequest>(request);
    s.principal = d.requester.id;
    s.environment = d.environment;
    product = FindDescriptorField(d.product, DescriptorFact::kName).value;
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
  if (absl::StatusOr<WorkerPool::Lease> w = impl_->pool.Acquire(); w.ok()) {
    for (std::string& n : (*w)->global->GlobalNames()) defined.insert(std::move(n));
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

namespace {

// What policy `p` did, for `arbiter eval --explain`.
void AddPolicyTrace(const PolicyInfo& p, CheckOutcome& outcome, EvaluationTrace& trace) {
  PolicyTrace& pt = trace.policies.emplace_back();
  pt.policy_id = p.id;
  pt.origin = p.origin();
  pt.mode = p.mode;
  pt.instructions = outcome.instructions;
  pt.time = outcome.time;
  pt.prints = std::move(outcome.prints);
  if (outcome.fault) pt.fault = outcome.error;
  for (const Finding& f : outcome.findings) {
    static constexpr const char* kTypes[] = {"allow", "deny", "warn", "obligate"};
    pt.findings.push_back(absl::StrCat(kTypes[static_cast<int>(f.type)], ": ", f.message,
                                       f.detail.empty() ? "" : absl::StrCat(" (", f.detail, ")")));
  }
}

// The note on an access decision about a resource that belongs to no domain: only global
// policies judged it, whatever the request said its domain was.
Reason UncataloguedNote(const AccessRequest& a, Effect effect) {
  Reason note;
  note.policy_id = std::string(kUncataloguedReasonId);
  note.origin = "engine";
  note.effect = effect;
  note.severity = Severity::kInfo;
  note.message = "resource not in the catalog: domain policies not applied";
  note.detail = absl::StrCat(a.resource.table.empty() ? "product " : "table ",
                             a.resource.table.empty() ? a.resource.product : a.resource.table,
                             " has no owner in the catalog",
                             a.resource.domain.empty()
                                 ? ""
                                 : absl::StrCat("; the request's domain \"", a.resource.domain,
                                                "\" is not trusted for ownership"));
  return note;
}

}  // namespace

absl::StatusOr<Decision> Bundle::Evaluate(const Request& request,
                                          const EvalOptions& options) const {
  const Impl& impl = *impl_;
  if (absl::Now() > options.deadline) {
    return absl::DeadlineExceededError("deadline passed before evaluation");
  }
  Decision decision;
  decision.decision_id = options.decision_id;
  decision.bundle_revision = impl.revision;
  // The request as policies read it, and the domain its resource belongs to.
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

  // What runs (combine.h).
  const std::string* action = nullptr;
  if (const auto* a = std::get_if<AccessRequest>(&request)) action = &a->action;
  Selection selection = SelectPolicies(impl.policies, impl.index, kind, domain, action);
  decision.overridden_policies = std::move(selection.overridden);

  // Each selected policy's check: the global ones in the global state, then the domain's in the
  // domain's own.
  std::vector<CheckOutcome> outcomes;
  outcomes.reserve(selection.run.size());
  {
    absl::StatusOr<WorkerPool::Lease> w = impl.pool.Acquire();
    if (!w.ok()) return w.status();
    std::vector<int> global_handles, domain_handles;
    global_handles.reserve(selection.globals);
    domain_handles.reserve(selection.run.size() - selection.globals);
    for (size_t k = 0; k < selection.run.size(); ++k) {
      (k < selection.globals ? global_handles : domain_handles)
          .push_back((*w)->handles[selection.run[k]]);
    }
    CheckDebug debug;
    debug.trace = options.trace;
    debug.coverage = options.coverage;
    if (!global_handles.empty()) {
      (*w)->global->RunChecks(global_handles, *req, ctx, impl.limits.policy_timeout,
                              options.deadline, outcomes, debug);
    }
    if (!domain_handles.empty() && outcomes.size() == global_handles.size() &&
        (outcomes.empty() || !outcomes.back().request_deadline_exceeded)) {
      (*w)->domains.at(domain)->RunChecks(domain_handles, *req, ctx, impl.limits.policy_timeout,
                                          options.deadline, outcomes, debug);
    }
  }  // The lease ends: the policies' views of the request die, the states go back to the pool.

  // What each check said, a policy that could not decide failing closed (combine.h).
  std::shared_ptr<EvaluationTrace> trace;
  if (options.trace) trace = std::make_shared<EvaluationTrace>();
  auto waiver_for = [&](const PolicyInfo& p) -> const Waiver* {
    if (impl.waivers.empty()) return nullptr;
    return impl.waivers.Find(p.id, WaiverSubjectOf(request, *req, domain), options.now);
  };
  std::vector<PolicyFinding> findings;
  for (size_t k = 0; k < outcomes.size(); ++k) {
    const PolicyInfo& p = impl.policies[selection.run[k]];
    CheckOutcome& outcome = outcomes[k];
    if (outcome.request_deadline_exceeded) {
      return absl::DeadlineExceededError(absl::StrCat("deadline exceeded while evaluating ", p.id));
    }
    if (trace != nullptr) AddPolicyTrace(p, outcome, *trace);
    decision.evaluated_policies.push_back(p.id);
    AddOutcome(p, outcome, waiver_for, findings, decision.faults);
  }

  // The layers (combine.h).
  Combine(findings, DefaultEffect(impl.defaults, kind), decision);
  decision.trace = std::move(trace);
  ExplainClosedDefault(decision);
  if (const auto* a = std::get_if<AccessRequest>(&request); a != nullptr && domain.empty()) {
    decision.reasons.push_back(UncataloguedNote(*a, decision.effect));
  }
  return decision;
}

// --- Loading: the steps of bundle_load.h, in order. ---

absl::StatusOr<std::shared_ptr<const Bundle>> Bundle::Load(const BundleFiles& files,
                                                           const LoadOptions& options) {
  std::vector<std::string> errors;  // every step's problems, "file:line: message"
  // 1. config
  BundleConfig config;
  ParseBundleConfig(files, options.max_limits, config, errors);
  // 2. read
  BundleContents contents;
  SortBundleFiles(files, config, options.now, contents, errors);

  auto impl = std::make_unique<Impl>();
  impl->revision = std::move(config.revision);
  impl->limits = config.limits;
  impl->defaults = config.defaults;
  impl->diff_classes = config.diff_classes;
  impl->policies = std::move(contents.policies);
  impl->sources = std::move(contents.sources);
  impl->tests = std::move(contents.tests);
  // 3. catalog
  BuildBundleCatalog(std::move(contents.products), std::move(contents.contracts), impl->catalog,
                     impl->catalog_containers, errors);

  // 4.-5. compile and validate every policy, in a first worker set that then serves evaluations;
  // one policy at a time, so that each policy's problems are listed together.
  std::unique_ptr<WorkerSet> first;
  if (errors.empty() || !impl->policies.empty()) {
    auto w = WorkerSet::Create(impl->limits, &impl->catalog_containers, impl->policies.size());
    if (!w.ok()) {
      errors.push_back(absl::StrCat("bundle.yaml:1: ", w.status().message()));
    } else {
      absl::flat_hash_map<std::string, size_t> ids;
      for (size_t i = 0; i < impl->policies.size(); ++i) {
        PolicySpec spec;
        absl::StatusOr<bool> compiled = CompilePolicy(**w, i, impl->policies[i], impl->sources[i],
                                                      options.deadline, spec, errors);
        if (!compiled.ok()) return compiled.status();
        if (*compiled) ValidatePolicy(spec, impl->sources[i], i, impl->policies, ids, errors);
      }
      ValidateOverrides(impl->policies, impl->sources, ids, errors);
      impl->index = IndexPolicies(impl->policies);  // 6. index
      first = *std::move(w);
    }
  }
  CheckWaivers(contents.waivers, impl->policies, errors);
  impl->waivers = WaiverIndex(std::move(contents.waivers));
  if (!errors.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bundle", files.root.empty() ? "" : " ", files.root, " has ", errors.size(),
        errors.size() == 1 ? " error" : " errors", ":\n", absl::StrJoin(errors, "\n")));
  }
  impl->pool.Add(std::move(first));
  return std::shared_ptr<const Bundle>(new Bundle(std::move(impl)));
}

}  // namespace arbiter
