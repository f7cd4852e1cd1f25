// DESIGN §1's combining rule, whole: which policies run for a request (step 1), how a policy
// that could not decide counts (fail closed), and the layered deny-overrides, mandatory layer
// first, that turn the findings into a decision (steps 2-6).
//
// Pure functions over the bundle's policy table and the results of the checks that ran: no Lua
// runs here, so that combine_test and federation_property_test check the rule table-driven.
// Bundle::Evaluate strings them together:
//
//   Selection s = SelectPolicies(policies, index, kind, domain, action);   // step 1
//   ... run the check of each policy in s.run ...
//   for each result: AddOutcome(policy, outcome, waiver_for, findings, decision.faults);
//   Combine(findings, DefaultEffect(defaults, kind), decision);              // steps 2-6
//   ExplainClosedDefault(decision);
#ifndef ARBITER_SERVICE_ENGINE_COMBINE_H_
#define ARBITER_SERVICE_ENGINE_COMBINE_H_

#include <array>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "service/engine/bundle.h"
#include "service/engine/lua_sandbox.h"
#include "service/engine/types.h"

namespace arbiter {

// --- Step 1: what runs. ---

// The bundle's policies by kind and domain, built once at load (IndexPolicies, bundle_load.h)
// so that selecting the policies of a request walks only what applies.
struct PolicyIndex {
  // The access policies of one scope (the global ones, or one domain's) that apply to an
  // action, in file order: those that declare no `actions` and those that declare it. An action
  // no policy of the scope declares selects `undeclared`.
  struct ByAction {
    absl::flat_hash_map<std::string, std::vector<size_t>> declared;
    std::vector<size_t> undeclared;
    const std::vector<size_t>& For(const std::string& action) const {
      auto it = declared.find(action);
      return it != declared.end() ? it->second : undeclared;
    }
  };
  // Indexes into the policy table, in file order; the arrays are indexed by Kind.
  std::array<std::vector<size_t>, 3> global_by_kind;
  absl::flat_hash_map<std::string, std::array<std::vector<size_t>, 3>> domain_by_kind;
  // The access policies of global_by_kind and domain_by_kind by action.
  ByAction global_access;
  absl::flat_hash_map<std::string, ByAction> domain_access;
  // domain -> the ids of the global policies its policies override.
  absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>> overrides;

  // An access request's whole step 1 for one domain and action, made once at load from the
  // lists above (the same walk a request would make), so that a request looks up its domain
  // and its action once each instead of walking the lists and the overrides per decision.
  struct AccessPlan {
    std::vector<size_t> run;
    size_t globals = 0;
    std::vector<size_t> overridden;  // as Selection::overridden
  };
  struct AccessPlans {
    absl::flat_hash_map<std::string, AccessPlan> declared;  // by action
    AccessPlan undeclared;  // an action no policy of the domain or global scope declares
    const AccessPlan& For(const std::string& action) const {
      auto it = declared.find(action);
      return it != declared.end() ? it->second : undeclared;
    }
  };
  // By domain, for every domain with policies or overrides; `no_domain_access` for any other
  // domain (and ""): the global policies alone. Empty unless built (IndexPolicies builds them).
  absl::flat_hash_map<std::string, AccessPlans> domain_plans;
  AccessPlans no_domain_access;
  bool plans_built = false;
};

// Makes index.domain_plans and index.no_domain_access from the rest of `index` (IndexPolicies
// calls it last).
void PlanAccessSelections(const std::vector<PolicyInfo>& policies, PolicyIndex& index);

// The policies one request runs, as indexes into the policy table.
struct Selection {
  // The global policies, then the domain's own, each group in file order.
  std::vector<size_t> run;
  // run[0, globals) are global policies (they run in the global Lua state), the rest the
  // domain's (in the domain's state).
  size_t globals = 0;
  // The global policies that applied but that the domain replaced.
  std::vector<size_t> overridden;
};

// Step 1 for a request of `kind` about a resource that belongs to `domain` ("" for none): the
// applicable global policies, except `default` ones that a policy of `domain` overrides, then
// `domain`'s own policies; no other domain's, ever. For access requests `action` is the
// request's action, and policies that declare other `actions` do not apply; null otherwise.
Selection SelectPolicies(const std::vector<PolicyInfo>& policies, const PolicyIndex& index,
                         Kind kind, const std::string& domain, const std::string* action);
// The same into `out`, whose storage is reused (Bundle::Evaluate keeps one per worker set).
void SelectPolicies(const std::vector<PolicyInfo>& policies, const PolicyIndex& index, Kind kind,
                    const std::string& domain, const std::string* action, Selection& out);

// --- What the checks that ran said, faults included. ---

// One finding of one policy that ran.
struct PolicyFinding {
  const PolicyInfo* policy;  // not owned
  Finding finding;
  // A waiver in force for this deny finding (waivers.h): reported as a warning naming it.
  const Waiver* waiver = nullptr;
};

// Appends to `findings` what one policy's check gave: its findings (moved out of `outcome`),
// each deny with the waiver `waiver_for(policy)` finds for it (asked for deny findings only).
// A policy that could not decide (outcome.fault) gives one deny finding that says so instead
// (fail closed; not waivable), and its fault goes to `faults`; an advisory policy's fault, like
// all its findings, then counts as a warning (Combine).
void AddOutcome(const PolicyInfo& policy, CheckOutcome& outcome,
                absl::FunctionRef<const Waiver*(const PolicyInfo&)> waiver_for,
                std::vector<PolicyFinding>& findings, std::vector<PolicyFault>& faults);

// --- Steps 2-6: the layers. ---

// Combines findings into the decision's effect, reasons, obligations and `defaulted`:
//   2. a deny of severity error from a mandatory policy: DENY, final;
//   3. else an allow from a mandatory policy: ALLOW, final;
//   4. else any deny of severity error: DENY;
//   5. else any allow: ALLOW;
//   6. else `default_effect`.
// warn() findings, denies of severity-warning policies and every finding of an advisory policy
// are reported with severity WARNING and never change the effect; so are waived denies, whose
// reason names the waiver. obligate() findings add masks and row filters to an ALLOW and never
// grant. When the effect is ALLOW, the masks and filters of every allow and obligate finding
// are merged; for a column masked twice the mandatory policy's mask wins, then the first in
// evaluation order.
// The findings are taken by value: the engine moves its own in, so their texts, masks and row
// filters move into the decision instead of being copied.
void Combine(std::vector<PolicyFinding> findings, Effect default_effect, Decision& out);
// The same, moving out of the elements of `findings` (left moved-from) rather than taking the
// vector: Bundle::Evaluate keeps its vector per worker set.
void CombineFrom(std::vector<PolicyFinding>& findings, Effect default_effect, Decision& out);

// Step 6's default: the bundle's (bundle.yaml `defaults:`) for `kind`.
Effect DefaultEffect(const KindDefaults& defaults, Kind kind);

// A closed default is the most puzzling deny: when `decision` was denied by default, adds the
// reason kDefaultReasonId saying that no policy allowed it and which policies ran.
void ExplainClosedDefault(Decision& decision);

}  // namespace arbiter

#endif  // ARBITER_SERVICE_ENGINE_COMBINE_H_
