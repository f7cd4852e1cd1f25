// Bundle::Load's steps (bundle_load.h), each on its own with small real bundles: what each step
// makes of good input, and that its errors name file:line. bundle_test.cc checks the same
// errors through Bundle::Load as a whole.
#include "service/engine/bundle_load.h"

#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "service/engine/testing.h"

namespace arbiter {
namespace {

using enginetest::Files;
using enginetest::IsOk;
using enginetest::Policy;
using enginetest::StatusIs;

// "errors" as one string, for messages and substring checks.
std::string Joined(const std::vector<std::string>& errors) { return absl::StrJoin(errors, "\n"); }

// --- config ---

TEST(ParseBundleConfigTest, ReadsEverySection) {
  BundleConfig config;
  std::vector<std::string> errors;
  ParseBundleConfig(Files({{"bundle.yaml",
                            "revision: 2026.2\n"
                            "defaults:\n  access: allow\n  product: deny\n"
                            "limits:\n  instruction_budget: 5000\n  memory_limit_mb: 8\n"
                            "diff_rules:\n  field_removed: warning\n"
                            "waivers:\n  max_days: 30\n"}}),
                    nullptr, config, errors);
  EXPECT_TRUE(errors.empty()) << Joined(errors);
  EXPECT_EQ(config.revision, "2026.2");
  EXPECT_EQ(config.defaults.access, Effect::kAllow);
  EXPECT_EQ(config.defaults.product, Effect::kDeny);
  EXPECT_EQ(config.defaults.deployment, Effect::kAllow);
  EXPECT_EQ(config.limits.instruction_budget, 5000);
  EXPECT_EQ(config.limits.memory_limit_bytes, size_t{8} << 20);
  EXPECT_EQ(config.diff_classes[static_cast<size_t>(DiffRule::kFieldRemoved)],
            ChangeClass::kWarning);
  EXPECT_EQ(config.waiver_settings.max_days, 30);
}

TEST(ParseBundleConfigTest, ErrorsNameTheLineOfTheEntry) {
  BundleConfig config;
  std::vector<std::string> errors;
  ParseBundleConfig(Files({{"bundle.yaml",
                            "revision: r1\n"
                            "defaults:\n"
                            "  access: maybe\n"
                            "limits:\n"
                            "  instruction_budget: -1\n"
                            "# a comment with colour: red\n"
                            "colour: red\n"}}),
                    nullptr, config, errors);
  EXPECT_EQ(errors, (std::vector<std::string>{
                        "bundle.yaml:3: defaults.access: expected allow or deny",
                        "bundle.yaml:5: limits.instruction_budget: expected a positive integer",
                        "bundle.yaml:7: unknown key \"colour\" (allowed: revision, defaults, "
                        "limits, diff_rules, waivers)"}));
}

TEST(ParseBundleConfigTest, MissingOrUnparsableBundleYaml) {
  BundleConfig config;
  std::vector<std::string> errors;
  ParseBundleConfig(Files({{"global/a.lua", "return {}"}}), nullptr, config, errors);
  EXPECT_EQ(errors, std::vector<std::string>{
                        "bundle.yaml:1: missing (a bundle needs bundle.yaml at its root)"});
  errors.clear();
  ParseBundleConfig(Files({{"bundle.yaml", "defaults:\n  access: allow\n"}}), nullptr, config,
                    errors);
  EXPECT_EQ(errors, std::vector<std::string>{"bundle.yaml:1: revision: required"});
  errors.clear();
  ParseBundleConfig(Files({{"bundle.yaml", "revision: r1\nlimits: [\n"}}), nullptr, config, errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_TRUE(absl::StartsWith(errors[0], "bundle.yaml:")) << errors[0];
}

TEST(ParseBundleConfigTest, MaxLimitsCapWhatTheBundleAsksFor) {
  EngineLimits ceiling;
  ceiling.instruction_budget = 1000;
  ceiling.memory_limit_bytes = 4 << 20;
  BundleConfig config;
  std::vector<std::string> errors;
  ParseBundleConfig(
      Files({{"bundle.yaml",
              "revision: r1\nlimits:\n  instruction_budget: 999999\n  memory_limit_mb: 2\n"}}),
      &ceiling, config, errors);
  EXPECT_TRUE(errors.empty()) << Joined(errors);
  EXPECT_EQ(config.limits.instruction_budget, 1000);
  EXPECT_EQ(config.limits.memory_limit_bytes, size_t{2} << 20);  // under the ceiling: kept
}

// --- read ---

TEST(SortBundleFilesTest, EachFileToItsPlace) {
  BundleFiles files = Files({
      {"bundle.yaml", "revision: r1\n"},
      {"README.md", "# docs\n"},
      {"global/README.md", "# global policies\n"},
      {"global/a.lua", "-- a"},
      {"domains/sales/b.lua", "-- b"},
      {"catalog/products/p.yaml", "metadata: {name: p, domain: sales}\n"},
      {"catalog/contracts/c.yml", "id: c\n"},
      {"tests/t.yaml", "cases: []\n"},
      {"waivers/w.yaml",
       "id: W-1\npolicy: global.a\nscope: {domain: sales}\nreason: migration\n"
       "approved_by: council\nexpires: 2027-01-01\n"},
  });
  BundleConfig config;
  BundleContents out;
  std::vector<std::string> errors;
  SortBundleFiles(files, config, absl::FromUnixSeconds(1'790'000'000), out, errors);
  EXPECT_TRUE(errors.empty()) << Joined(errors);
  // Path order: domains/ before global/.
  ASSERT_EQ(out.policies.size(), 2u);
  EXPECT_EQ(out.policies[0].file, "domains/sales/b.lua");
  EXPECT_EQ(out.policies[0].domain, "sales");
  EXPECT_EQ(out.policies[1].file, "global/a.lua");
  EXPECT_EQ(out.policies[1].domain, "");
  EXPECT_EQ(out.sources, (std::vector<std::string>{"-- b", "-- a"}));
  ASSERT_EQ(out.products.size(), 1u);
  EXPECT_EQ(out.products[0].file, "catalog/products/p.yaml");
  ASSERT_NE(out.products[0].tree->FindPath({"metadata", "domain"}), nullptr);
  ASSERT_EQ(out.contracts.size(), 1u);
  ASSERT_EQ(out.waivers.size(), 1u);
  EXPECT_EQ(out.waivers[0].id, "W-1");
  EXPECT_EQ(out.tests.count("tests/t.yaml"), 1u);
}

TEST(SortBundleFilesTest, MisplacedAndOversizedFilesAreErrors) {
  BundleConfig config;
  config.limits.max_policy_bytes = 64;
  config.limits.max_bundle_policy_bytes = 100;
  BundleContents out;
  std::vector<std::string> errors;
  SortBundleFiles(Files({
                      {"catalog/products/list.yaml", "- a\n- b\n"},
                      {"domains/Sales/x.lua", "-- x"},
                      {"domains/sales/deep/x.lua", "-- x"},
                      {"domains/sales/big.lua", std::string(65, '-')},
                      {"domains/sales/ok.lua", std::string(60, '-')},
                      {"global/notes.txt", "notes"},
                      {"global/ok.lua", std::string(60, '-')},
                      {"lib/helpers.lua", "-- never runs"},
                      {"waivers/nested/w.yaml", "waivers: []\n"},
                  }),
                  config, absl::Now(), out, errors);
  EXPECT_EQ(
      errors,
      (std::vector<std::string>{
          "catalog/products/list.yaml:1: expected a document (a map)",
          "domains/Sales/x.lua:1: invalid domain name \"Sales\" (lower-case letters, digits, - "
          "and _)",
          "domains/sales/big.lua:1: policy is 65 bytes, over the limit of 64",
          "domains/sales/deep/x.lua:1: domain policies live in domains/<domain>/<name>.lua",
          "global/notes.txt:1: only .lua policy files belong under global/",
          "lib/helpers.lua:1: policy files live in global/ or domains/<domain>/; this one would "
          "never run",
          "waivers/nested/w.yaml:1: waivers/ holds waiver files (waivers/<name>.yaml)",
          "bundle.yaml:1: policies total 120 bytes, over the limit of 100",
      }));
  EXPECT_EQ(out.policies.size(), 2u);
}

// --- catalog ---

TEST(BuildBundleCatalogTest, IndexesTheDocumentsAndCollectsTheirContainers) {
  BundleContents contents;
  std::vector<std::string> errors;
  SortBundleFiles(Files({{"catalog/products/p.yaml",
                          "metadata: {name: orders, domain: sales}\n"
                          "spec:\n"
                          "  outputPorts:\n"
                          "    - {name: sql, type: sql, catalog: lake, schema: sales_orders,\n"
                          "       tables: [{name: orders, columns: [{name: id}]}]}\n"}}),
                  BundleConfig{}, absl::Now(), contents, errors);
  ASSERT_TRUE(errors.empty()) << Joined(errors);
  Catalog catalog;
  absl::flat_hash_set<const Value*> containers;
  BuildBundleCatalog(std::move(contents.products), std::move(contents.contracts), catalog,
                     containers, errors);
  EXPECT_TRUE(errors.empty()) << Joined(errors);
  const Catalog::ProductEntry* product = catalog.FindProductEntry("orders");
  ASSERT_NE(product, nullptr);
  EXPECT_EQ(product->domain, "sales");
  const Catalog::TableEntry* table = catalog.FindTable("lake.sales_orders.orders");
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(table->product, product);
  // Every list and map: the tree, metadata, spec, the ports list, the port, its tables, the
  // table, its columns and the column.
  EXPECT_TRUE(containers.contains(&product->tree->Get()));
  EXPECT_EQ(containers.size(), 9u);
  EXPECT_TRUE(containers.contains(table->table.get()));
}

TEST(BuildBundleCatalogTest, CatalogErrorsNameTheFile) {
  std::vector<Catalog::Document> products;
  for (const char* file : {"catalog/products/a.yaml", "catalog/products/b.yaml"}) {
    absl::StatusOr<Value> v = ParseYaml("metadata: {name: orders, domain: sales}\n", file);
    ASSERT_TRUE(IsOk(v));
    products.push_back({file, std::make_shared<const Value>(*std::move(v))});
  }
  Catalog catalog;
  absl::flat_hash_set<const Value*> containers;
  std::vector<std::string> errors;
  BuildBundleCatalog(std::move(products), {}, catalog, containers, errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_TRUE(absl::StartsWith(errors[0], "catalog/products/b.yaml:1: ")) << errors[0];
  EXPECT_TRUE(absl::StrContains(errors[0], "orders")) << errors[0];
}

// --- compile ---

// A set keeps a reference to its limits (WorkerSet::Create): they must outlive it, so the
// tests that need no particular limits share these.
const EngineLimits kDefaultLimits{};

// A worker set for `policies`, as Load makes the first one.
std::unique_ptr<WorkerSet> NewSet(const EngineLimits& limits, size_t policies) {
  absl::StatusOr<std::unique_ptr<WorkerSet>> w = WorkerSet::Create(limits, nullptr, policies);
  EXPECT_TRUE(IsOk(w));
  return w.ok() ? *std::move(w) : nullptr;
}

PolicyInfo At(const std::string& file) {
  PolicyInfo p;
  p.file = file;
  if (absl::StartsWith(file, "domains/")) p.domain = file.substr(8, file.find('/', 8) - 8);
  return p;
}

TEST(CompilePolicyTest, LoadsThePolicyIntoItsStateAndReadsItsTable) {
  EngineLimits limits;
  std::unique_ptr<WorkerSet> set = NewSet(limits, 2);
  ASSERT_NE(set, nullptr);
  std::vector<std::string> errors;
  PolicySpec global_spec, domain_spec;
  absl::StatusOr<bool> g = CompilePolicy(*set, 0, At("global/a.lua"),
                                         Policy("global.a", "return nil", "  mode = 'default',\n"),
                                         absl::InfiniteFuture(), global_spec, errors);
  absl::StatusOr<bool> d =
      CompilePolicy(*set, 1, At("domains/sales/b.lua"), Policy("sales.b", "return nil"),
                    absl::InfiniteFuture(), domain_spec, errors);
  ASSERT_TRUE(IsOk(g));
  ASSERT_TRUE(IsOk(d));
  EXPECT_TRUE(*g);
  EXPECT_TRUE(*d);
  EXPECT_TRUE(errors.empty()) << Joined(errors);
  EXPECT_GE(set->handles[0], 0);
  EXPECT_GE(set->handles[1], 0);
  EXPECT_EQ(global_spec.id, "global.a");
  EXPECT_EQ(global_spec.mode, "default");
  EXPECT_TRUE(global_spec.has_check);
  EXPECT_EQ(domain_spec.id, "sales.b");
  // The domain's policy went to a state of its own.
  EXPECT_EQ(set->domains.size(), 1u);
  EXPECT_EQ(set->domains.count("sales"), 1u);
}

TEST(CompilePolicyTest, ACompileErrorNamesFileAndLine) {
  std::unique_ptr<WorkerSet> set = NewSet(kDefaultLimits, 1);
  ASSERT_NE(set, nullptr);
  std::vector<std::string> errors;
  PolicySpec spec;
  absl::StatusOr<bool> r = CompilePolicy(*set, 0, At("global/bad.lua"),
                                         "return {\n  id = 'global.bad',\n  kinds = {'access'\n",
                                         absl::InfiniteFuture(), spec, errors);
  ASSERT_TRUE(IsOk(r));
  EXPECT_FALSE(*r);
  EXPECT_EQ(set->handles[0], -1);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_TRUE(absl::StartsWith(errors[0], "global/bad.lua:4:")) << errors[0];
  errors.clear();
  r = CompilePolicy(*set, 0, At("global/err.lua"), "\nerror('boom')\n", absl::InfiniteFuture(),
                    spec, errors);
  ASSERT_TRUE(IsOk(r));
  EXPECT_FALSE(*r);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_TRUE(absl::StartsWith(errors[0], "global/err.lua:2:")) << errors[0];
  EXPECT_TRUE(absl::StrContains(errors[0], "boom")) << errors[0];
}

TEST(CompilePolicyTest, APassedDeadlineStopsTheLoad) {
  std::unique_ptr<WorkerSet> set = NewSet(kDefaultLimits, 1);
  ASSERT_NE(set, nullptr);
  std::vector<std::string> errors;
  PolicySpec spec;
  absl::StatusOr<bool> r =
      CompilePolicy(*set, 0, At("global/a.lua"), Policy("global.a", "return nil"),
                    absl::Now() - absl::Seconds(1), spec, errors);
  EXPECT_TRUE(StatusIs(r, absl::StatusCode::kDeadlineExceeded, "(at global/a.lua)"));
  EXPECT_TRUE(errors.empty());
}

// --- validate ---

// Compiles `files` (path -> source, in order) into one set and validates each policy; returns
// the policies and the errors.
std::vector<PolicyInfo> CompileAndValidate(
    const std::vector<std::pair<std::string, std::string>>& files,
    std::vector<std::string>& errors) {
  std::vector<PolicyInfo> policies;
  std::vector<std::string> sources;
  for (const auto& [file, source] : files) {
    policies.push_back(At(file));
    sources.push_back(source);
  }
  std::unique_ptr<WorkerSet> set = NewSet(kDefaultLimits, policies.size());
  if (set == nullptr) return policies;
  absl::flat_hash_map<std::string, size_t> ids;
  for (size_t i = 0; i < policies.size(); ++i) {
    PolicySpec spec;
    absl::StatusOr<bool> compiled =
        CompilePolicy(*set, i, policies[i], sources[i], absl::InfiniteFuture(), spec, errors);
    EXPECT_TRUE(IsOk(compiled));
    if (compiled.ok() && *compiled) ValidatePolicy(spec, sources[i], i, policies, ids, errors);
  }
  ValidateOverrides(policies, sources, ids, errors);
  return policies;
}

TEST(ValidatePolicyTest, FillsThePolicyFromItsTable) {
  std::vector<std::string> errors;
  std::vector<PolicyInfo> policies = CompileAndValidate(
      {{"domains/sales/own.lua", Policy("sales.own", "return nil", "  overrides = 'global.b',\n",
                                        "'access', 'product', 'access'")},
       {"global/a.lua",
        Policy("global.a", "return nil", "  severity = 'warning',\n  actions = {'read'},\n")},
       {"global/b.lua", Policy("global.b", "return nil", "  mode = 'default',\n")}},
      errors);
  EXPECT_TRUE(errors.empty()) << Joined(errors);
  ASSERT_EQ(policies.size(), 3u);
  EXPECT_EQ(policies[0].id, "sales.own");
  EXPECT_EQ(policies[0].mode, PolicyMode::kDomain);
  EXPECT_EQ(policies[0].overrides, "global.b");
  EXPECT_EQ(policies[0].kinds, (std::vector<Kind>{Kind::kAccess, Kind::kProduct}));
  EXPECT_TRUE(policies[0].waivable);
  EXPECT_EQ(policies[1].mode, PolicyMode::kMandatory);  // the default mode
  EXPECT_EQ(policies[1].severity, Severity::kWarning);
  EXPECT_EQ(policies[1].actions, std::vector<std::string>{"read"});
  EXPECT_FALSE(policies[1].waivable);  // mandatory: only when it says so
  EXPECT_EQ(policies[2].mode, PolicyMode::kDefault);
}

TEST(ValidatePolicyTest, ErrorsNameTheLineOfTheKey) {
  std::vector<std::string> errors;
  CompileAndValidate(
      {{"domains/sales/x.lua", Policy("sales.x", "return nil", "  mode = 'default',\n")},
       {"global/a.lua", Policy("global.a", "return nil", "  severity = 'fatal',\n")},
       {"global/b.lua", Policy("global.a", "return nil")},
       {"global/c.lua", Policy("global.c", "return deny('x', {colour = 'red'})")}},
      errors);
  ASSERT_EQ(errors.size(), 4u) << Joined(errors);
  EXPECT_TRUE(absl::StartsWith(errors[0],
                               "domains/sales/x.lua:4: mode applies to global "
                               "policies only"))
      << errors[0];
  EXPECT_EQ(errors[1], "global/a.lua:4: severity \"fatal\" is not error or warning");
  EXPECT_EQ(errors[2], "global/b.lua:2: duplicate policy id global.a (also in global/a.lua)");
  EXPECT_TRUE(absl::StartsWith(errors[3], "global/c.lua:5: ")) << errors[3];
  EXPECT_TRUE(absl::StrContains(errors[3], "colour")) << errors[3];
}

TEST(ValidateOverridesTest, OnlyAGlobalDefaultPolicyCanBeOverridden) {
  std::vector<std::string> errors;
  CompileAndValidate(
      {{"domains/sales/a.lua", Policy("sales.a", "return nil", "  overrides = 'global.m',\n")},
       {"domains/sales/b.lua", Policy("sales.b", "return nil", "  overrides = 'global.none',\n")},
       {"domains/sales/c.lua", Policy("sales.c", "return nil", "  overrides = 'sales.a',\n")},
       {"domains/sales/d.lua", Policy("sales.d", "return nil", "  overrides = 'global.d',\n")},
       {"global/d.lua", Policy("global.d", "return nil", "  mode = 'default',\n")},
       {"global/m.lua", Policy("global.m", "return nil")}},
      errors);
  EXPECT_EQ(errors,
            (std::vector<std::string>{
                "domains/sales/a.lua:4: domain sales cannot override mandatory policy global.m",
                "domains/sales/b.lua:4: domain sales cannot override global.none: no such "
                "global policy",
                "domains/sales/c.lua:4: domain sales cannot override sales.a: no such global "
                "policy"}));
}

// --- index ---

TEST(IndexPoliciesTest, ByKindAndDomainWithTheOverrides) {
  std::vector<std::string> errors;
  std::vector<PolicyInfo> policies = CompileAndValidate(
      {{"domains/sales/a.lua",
        Policy("sales.a", "return nil", "  overrides = 'global.d',\n", "'access', 'deployment'")},
       {"global/d.lua", Policy("global.d", "return nil", "  mode = 'default',\n")},
       {"global/p.lua", Policy("global.p", "return nil", "", "'product'")}},
      errors);
  ASSERT_TRUE(errors.empty()) << Joined(errors);
  PolicyIndex index = IndexPolicies(policies);
  EXPECT_EQ(index.global_by_kind[static_cast<int>(Kind::kAccess)], std::vector<size_t>{1});
  EXPECT_EQ(index.global_by_kind[static_cast<int>(Kind::kProduct)], std::vector<size_t>{2});
  EXPECT_TRUE(index.global_by_kind[static_cast<int>(Kind::kDeployment)].empty());
  ASSERT_EQ(index.domain_by_kind.size(), 1u);
  const auto& sales = index.domain_by_kind.at("sales");
  EXPECT_EQ(sales[static_cast<int>(Kind::kAccess)], std::vector<size_t>{0});
  EXPECT_TRUE(sales[static_cast<int>(Kind::kProduct)].empty());
  EXPECT_EQ(sales[static_cast<int>(Kind::kDeployment)], std::vector<size_t>{0});
  ASSERT_EQ(index.overrides.size(), 1u);
  EXPECT_TRUE(index.overrides.at("sales").contains("global.d"));
}

// --- the pool ---

TEST(WorkerPoolTest, ALeaseReturnsItsSetAndANewSetHasEveryPolicy) {
  EngineLimits limits;
  std::vector<PolicyInfo> policies = {At("domains/sales/b.lua"), At("global/a.lua")};
  std::vector<std::string> sources = {Policy("sales.b", "return nil"),
                                      Policy("global.a", "return nil")};
  WorkerPool pool(limits, policies, sources, nullptr);
  WorkerSet* first;
  {
    absl::StatusOr<WorkerPool::Lease> lease = pool.Acquire();  // built: the pool is empty
    ASSERT_TRUE(IsOk(lease));
    first = &**lease;
    EXPECT_GE((*lease)->handles[0], 0);
    EXPECT_GE((*lease)->handles[1], 0);
    EXPECT_EQ((*lease)->domains.count("sales"), 1u);
    // A second lease while the first is out gets a set of its own.
    absl::StatusOr<WorkerPool::Lease> second = pool.Acquire();
    ASSERT_TRUE(IsOk(second));
    EXPECT_NE(&**second, first);
  }
  // Both went back; the last returned comes out first.
  absl::StatusOr<WorkerPool::Lease> again = pool.Acquire();
  ASSERT_TRUE(IsOk(again));
  EXPECT_EQ(&**again, first);
}

}  // namespace
}  // namespace arbiter
