#include "service/engine/bundle.h"

#include <algorithm>
#include <optional>

#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "service/descriptor/descriptor.h"
#include "service/diff/schema_diff.h"
#include "service/engine/bundle_load.h"
#include "service/engine/combine.h"
#include "service/engine/lua_sandbox.h"
#include "service/engine/policy_lint.h"
#include "service/engine/request_build.h"
#include "service/engine/worker_pool.h"

namespace arbiter {

struct Bundle::Impl {
  std::string revision;
  EngineLimits limits;
  KindDefaults defaults;
  // `diff_rules:` in bundle.yaml: the class of every schema diff rule for this bundle.
  DiffRuleClasses diff_classes = DefaultDiffRuleClasses();
  std::vector<PolicyInfo> policies;
  // Each policy's id, in the order of `policies`: the table decisions name policies from
  // (PolicyIdList), shared with them so that it outlives this bundle while they do (through
  // each worker set's own reference: EvaluationScratch::policy_ids).
  std::shared_ptr<const std::vector<std::string>> policy_ids;
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
};

namespace {

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

}  // namespace

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
    pt.findings.push_back(absl::StrCat(FindingTypeName(f.type), ": ", f.message,
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

// The evaluation's `ctx`, rebuilt in place like the request tree.
void FillCtx(absl::Time now, const std::string& revision, const std::string& domain, Kind kind,
             Value& ctx) {
  MapRefill m(ctx, 4);
  m.Next("now") = static_cast<int64_t>(absl::ToUnixSeconds(now));
  SetString(m.Next("revision"), revision);
  SetString(m.Next("domain"), domain);
  SetString(m.Next("kind"), KindName(kind));
}

// A request tree this big is not kept for the next evaluation (EvaluationScratch): its storage
// would stay with the worker set.
bool TooBigToKeep(const Request& request) {
  const auto* a = std::get_if<AccessRequest>(&request);
  return a == nullptr ||
         a->resource.columns.size() + a->principal.roles.size() + a->principal.groups.size() > 1024;
}

}  // namespace

namespace {
absl::StatusOr<Decision> EvaluateOn(const Bundle::Impl& impl, const Request& request,
                                    const EvalOptions& options, WorkerPool::Lease* held);
}  // namespace

absl::StatusOr<Decision> Bundle::Evaluate(const Request& request,
                                          const EvalOptions& options) const {
  return EvaluateOn(*impl_, request, options, nullptr);
}

struct Bundle::Session::Held {
  WorkerPool::Lease lease;
};

Bundle::Session::Session(const Bundle& bundle) : bundle_(bundle) {}
Bundle::Session::~Session() = default;

absl::StatusOr<Decision> Bundle::Session::Evaluate(const Request& request,
                                                   const EvalOptions& options) {
  if (held_ == nullptr || !held_->lease.holds_set()) {
    absl::StatusOr<WorkerPool::Lease> w = bundle_.impl_->pool.Acquire();
    if (!w.ok()) return w.status();
    held_ = std::make_unique<Held>(Held{*std::move(w)});
  }
  return EvaluateOn(*bundle_.impl_, request, options, &held_->lease);
}

namespace {

// Bundle::Evaluate's work, on the worker set of `held` (a session's, kept after) or, when null,
// on one leased for this evaluation alone.
absl::StatusOr<Decision> EvaluateOn(const Bundle::Impl& impl, const Request& request,
                                    const EvalOptions& options, WorkerPool::Lease* held) {
  if (absl::Now() > options.deadline) {
    return absl::DeadlineExceededError("deadline passed before evaluation");
  }
  Decision decision;
  decision.decision_id = options.decision_id;
  decision.bundle_revision = impl.revision;
  // The request as policies read it, in the steps of request_build.h: validate, resolve who owns
  // it (the domain whose policies run), the tree, and for a deployment what it changes.
  if (absl::Status s = ValidateRequest(request, options.principal); !s.ok()) return s;
  absl::StatusOr<ResolvedRequest> resolved = ResolveRequest(request, impl.catalog);
  if (!resolved.ok()) return resolved.status();
  const auto* deployment = std::get_if<DeploymentRequest>(&request);
  if (deployment != nullptr) {
    // Before the lease: the impact callback may take its time.
    decision.change = RequestChange(*deployment, impl.diff_classes, options.deployment_impact);
  }

  // The worker set that runs the checks, held to the end: its scratch holds `req` (rebuilt in
  // place from the tree of the set's previous evaluation), which waivers read too.
  std::optional<WorkerPool::Lease> own;
  if (held == nullptr) {
    absl::StatusOr<WorkerPool::Lease> w = impl.pool.Acquire();
    if (!w.ok()) return w.status();
    own.emplace(*std::move(w));
  }
  WorkerSet& set = held != nullptr ? **held : **own;
  // A held set's evaluation ends as an own lease's does, when this returns (its views of the
  // request die); an unhealthy set is dropped, and the session's next evaluation takes a
  // fresh one.
  absl::Cleanup end_held = [held] {
    if (held != nullptr) held->EndEvaluation();
  };
  EvaluationScratch& scratch = set.scratch;
  if (scratch.policy_ids.get() != impl.policy_ids.get()) {
    // An alias of the bundle's reference: its block holds that reference, the table stays the
    // one object every list of this bundle names (PolicyIdList::SameEntries compares tables).
    auto holder =
        std::make_shared<const std::shared_ptr<const std::vector<std::string>>>(impl.policy_ids);
    scratch.policy_ids = std::shared_ptr<const std::vector<std::string>>(holder, holder->get());
  }
  Value& req = scratch.req;
  FillRequestTree(request, options.principal, *resolved, req);
  decision.domain = std::move(resolved->domain);
  const std::string& domain = decision.domain;
  if (deployment != nullptr) req.Add("change", decision.change);
  Kind kind = KindOf(request);
  Value& ctx = scratch.ctx;
  FillCtx(options.now, impl.revision, domain, kind, ctx);

  // What runs (combine.h).
  const std::string* action = nullptr;
  if (const auto* a = std::get_if<AccessRequest>(&request)) action = &a->action;
  Selection& selection = scratch.selection;
  SelectPolicies(impl.policies, impl.index, kind, domain, action, selection);
  if (!selection.overridden.empty()) {
    decision.overridden_policies.Reset(scratch.policy_ids);
    for (size_t i : selection.overridden) decision.overridden_policies.Add(i);
  }

  // Each selected policy's check: the global ones in the global state, then the domain's in the
  // domain's own.
  std::vector<CheckOutcome>& outcomes = scratch.outcomes;
  outcomes.clear();
  outcomes.reserve(selection.run.size());
  {
    std::vector<int>& global_handles = scratch.global_handles;
    std::vector<int>& domain_handles = scratch.domain_handles;
    global_handles.clear();
    domain_handles.clear();
    for (size_t k = 0; k < selection.run.size(); ++k) {
      (k < selection.globals ? global_handles : domain_handles)
          .push_back(set.handles[selection.run[k]]);
    }
    CheckDebug debug;
    debug.trace = options.trace;
    debug.coverage = options.coverage;
    if (!global_handles.empty()) {
      set.Use(set.global.get());
      set.global->RunChecks(global_handles, req, ctx, impl.limits.policy_timeout, options.deadline,
                            outcomes, debug);
    }
    if (!domain_handles.empty() && outcomes.size() == global_handles.size() &&
        (outcomes.empty() || !outcomes.back().request_deadline_exceeded)) {
      // The state the domain's policies were loaded in (all of them in the same one).
      LuaSandbox* state = set.states[selection.run[selection.globals]];
      set.Use(state);
      state->RunChecks(domain_handles, req, ctx, impl.limits.policy_timeout, options.deadline,
                       outcomes, debug);
    }
  }

  // What each check said, a policy that could not decide failing closed (combine.h).
  std::shared_ptr<EvaluationTrace> trace;
  if (options.trace) trace = std::make_shared<EvaluationTrace>();
  auto waiver_for = [&](const PolicyInfo& p) -> const Waiver* {
    if (impl.waivers.empty()) return nullptr;
    return impl.waivers.Find(p.id, WaiverSubjectOf(request, req, domain), options.now);
  };
  std::vector<PolicyFinding>& findings = scratch.findings;
  findings.clear();
  decision.evaluated_policies.Reset(scratch.policy_ids);
  decision.evaluated_policies.reserve(outcomes.size());
  for (size_t k = 0; k < outcomes.size(); ++k) {
    const PolicyInfo& p = impl.policies[selection.run[k]];
    CheckOutcome& outcome = outcomes[k];
    if (outcome.request_deadline_exceeded) {
      return absl::DeadlineExceededError(absl::StrCat("deadline exceeded while evaluating ", p.id));
    }
    if (trace != nullptr) AddPolicyTrace(p, outcome, *trace);
    decision.evaluated_policies.Add(selection.run[k]);
    AddOutcome(p, outcome, waiver_for, findings, decision.faults);
  }
  if (TooBigToKeep(request)) req = Value();

  // The layers (combine.h).
  CombineFrom(findings, DefaultEffect(impl.defaults, kind), decision);
  decision.trace = std::move(trace);
  ExplainClosedDefault(decision);
  if (const auto* a = std::get_if<AccessRequest>(&request); a != nullptr && domain.empty()) {
    decision.reasons.push_back(UncataloguedNote(*a, decision.effect));
  }
  return decision;
}  // An own lease ends: the policies' views of the request die, the set goes back to the pool.

}  // namespace

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
  std::vector<std::string> ids;
  ids.reserve(impl->policies.size());
  for (const PolicyInfo& p : impl->policies) ids.push_back(p.id);
  impl->policy_ids = std::make_shared<const std::vector<std::string>>(std::move(ids));
  impl->pool.Add(std::move(first));
  return std::shared_ptr<const Bundle>(new Bundle(std::move(impl)));
}

}  // namespace arbiter
