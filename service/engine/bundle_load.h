// The steps of Bundle::Load, each in its own file and testable alone (bundle_load_test.cc).
// Internal to the engine. In order:
//
//   1. config   ParseBundleConfig (bundle_load_config.cc): bundle.yaml -> BundleConfig, first
//               because the next step needs its limits and waiver settings.
//   2. read     SortBundleFiles (bundle_load_read.cc, beside ReadBundleDir): each file of the
//               bundle to its place: policy sources, catalog documents and waivers (parsed),
//               tests.
//   3. catalog  BuildBundleCatalog (bundle_load_catalog.cc): the catalog, and the containers
//               whose Lua views outlive an evaluation.
//   4. compile  CompilePolicy (bundle_load_compile.cc): a policy compiled, and its top level run
//               once, in the worker set that then serves the first evaluations -> PolicySpec.
//   5. validate ValidatePolicy, then ValidateOverrides once every id is known
//               (bundle_load_validate.cc): the spec against the bundle's rules -> PolicyInfo;
//               CheckWaivers (waivers.h): waivers against the policies.
//   6. index    IndexPolicies (bundle_load_index.cc): per kind and domain, for selection
//               (combine.h).
//
// Every step reports the problems it finds as "file:line: message" lines appended to `errors`
// and carries on, so that Load reports every problem of a bundle at once; a step that cannot do
// without an earlier step's result skips what it cannot do.
#ifndef ARBITER_SERVICE_ENGINE_BUNDLE_LOAD_H_
#define ARBITER_SERVICE_ENGINE_BUNDLE_LOAD_H_

#include <map>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "service/diff/schema_diff.h"
#include "service/engine/bundle.h"
#include "service/engine/catalog.h"
#include "service/engine/combine.h"
#include "service/engine/lua_sandbox.h"
#include "service/engine/waivers.h"
#include "service/engine/worker_pool.h"
#include "service/value/value.h"

namespace arbiter {

// What bundle.yaml says.
struct BundleConfig {
  std::string revision;
  EngineLimits limits;
  KindDefaults defaults;
  // `diff_rules:`: the class of every schema diff rule for this bundle.
  DiffRuleClasses diff_classes = DefaultDiffRuleClasses();
  // `waivers:`.
  WaiverSettings waiver_settings;
};

// Step "config": reads bundle.yaml (missing: an error) into `config`, then lowers its limits to
// `max_limits` when that is not null (LoadOptions::max_limits).
void ParseBundleConfig(const BundleFiles& files, const EngineLimits* max_limits,
                       BundleConfig& config, std::vector<std::string>& errors);

// The files of a bundle, sorted by what they are.
struct BundleContents {
  // Per policy file, in path order: `file` and `domain` set; the rest comes from its table.
  std::vector<PolicyInfo> policies;
  std::vector<std::string> sources;  // per policy
  // catalog/products/*.yaml and catalog/contracts/*.yaml, parsed.
  std::vector<Catalog::Document> products;
  std::vector<Catalog::Document> contracts;
  // waivers/*.yaml, parsed; not yet checked against the policies.
  std::vector<Waiver> waivers;
  // tests/*.yaml, path -> content.
  std::map<std::string, std::string> tests;
};

// Step "read": sorts `files` into `out`. Errors: a file where nothing of its kind belongs (a
// .lua file outside global/ and domains/<domain>/, say), an invalid domain folder name, a policy
// or all policies together over config.limits, catalog and waiver files that do not parse.
// Waivers' `expires` is judged against `now`.
void SortBundleFiles(const BundleFiles& files, const BundleConfig& config, absl::Time now,
                     BundleContents& out, std::vector<std::string>& errors);

// Step "catalog": indexes the documents (Catalog::Build) into `catalog`, and adds every list and
// map inside their trees to `containers` (LuaSandbox::Create's `stable`).
void BuildBundleCatalog(std::vector<Catalog::Document> products,
                        std::vector<Catalog::Document> contracts, Catalog& catalog,
                        absl::flat_hash_set<const Value*>& containers,
                        std::vector<std::string>& errors);

// Step "compile", for policy `i` (`policy` and its `source`): loads it into its state of `set`
// (WorkerSet::LoadPolicy, as every later worker set does), which runs its top level under the
// limits, sets set.handles[i] and reads its table into `spec`. false when it did not compile (the
// error is in `errors`); DEADLINE_EXCEEDED when `deadline` (the whole load's) passed before it.
absl::StatusOr<bool> CompilePolicy(WorkerSet& set, size_t i, const PolicyInfo& policy,
                                   const std::string& source, absl::Time deadline, PolicySpec& spec,
                                   std::vector<std::string>& errors);

// Step "validate", for a compiled policy `policies[i]` with `source` and `spec`: refuses unknown
// finding options in its source (policy_lint.h), unknown or mistyped keys, a missing or
// malformed id (`global.<name>`, `<domain>.<name>`) or one already in `ids`, a missing check,
// bad kinds, actions, mode or severity, and `mode` on a domain policy or `overrides` on a global
// one; fills policies[i]'s id, description, kinds, actions, mode, severity, overrides and
// waivable from the spec, and adds its id to `ids` (id -> index). Messages name the line of the
// key at fault.
void ValidatePolicy(const PolicySpec& spec, const std::string& source, size_t i,
                    std::vector<PolicyInfo>& policies,
                    absl::flat_hash_map<std::string, size_t>& ids,
                    std::vector<std::string>& errors);

// Step "validate", once every policy is: each domain policy's `overrides` names a global policy
// of mode default (`ids` as ValidatePolicy filled it).
void ValidateOverrides(const std::vector<PolicyInfo>& policies,
                       const std::vector<std::string>& sources,
                       const absl::flat_hash_map<std::string, size_t>& ids,
                       std::vector<std::string>& errors);

// Step "index": the policy table of a bundle that validated, indexed for SelectPolicies.
PolicyIndex IndexPolicies(const std::vector<PolicyInfo>& policies);

// An id or a name from a bundle as it may appear in an error message: printable ASCII only,
// bounded.
std::string CleanId(absl::string_view id);

}  // namespace arbiter

#endif  // ARBITER_SERVICE_ENGINE_BUNDLE_LOAD_H_
