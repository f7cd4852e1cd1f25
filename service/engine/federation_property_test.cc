// Federation properties of DESIGN §1, checked on thousands of random bundles and requests:
//
//   (a) a domain's policies never change a decision about another domain's resource;
//   (b) a mandatory deny (severity error) is never turned into an allow by anything a domain
//       writes;
//   (c) adding a deny (non-advisory, severity error) never turns a deny into an allow;
//   (d) decisions are deterministic across repeats, threads and reloads;
//   (e) an advisory policy never changes an effect (or the obligations);
//
// plus a differential check of every decision against a tiny reference implementation of the
// six combining steps, computed here from the findings each generated policy is known to produce
// (as Cedar checks its engine against a reference model); and the same for combine.h alone,
// without Lua: step 1 (SelectPolicies) on the generated policy tables, and the whole rule fed
// what each generated policy is known to return.
//
// Every case is generated from its own seed: ARBITER_PROPERTY_SEED (default below) plus the
// case index; ARBITER_PROPERTY_CASES overrides the number of cases per property. A failing case
// prints its seed and a shrunk reproduction (policies and requests dropped one by one while the
// property still fails): the bundle files and the request.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "service/engine/bundle.h"
#include "service/engine/bundle_load.h"
#include "service/engine/combine.h"
#include "service/engine/lua_sandbox.h"
#include "service/engine/testing.h"
#include "service/engine/types.h"

namespace arbiter {
namespace {

using enginetest::Describe;

constexpr uint64_t kDefaultSeed = 0x5eed'a2b1'7e20'2611ULL;

uint64_t BaseSeed() {
  const char* s = std::getenv("ARBITER_PROPERTY_SEED");
  uint64_t v;
  if (s != nullptr && absl::SimpleAtoi(s, &v)) return v;
  return kDefaultSeed;
}

int NumCases(int default_cases) {
  const char* s = std::getenv("ARBITER_PROPERTY_CASES");
  int v;
  if (s != nullptr && absl::SimpleAtoi(s, &v) && v > 0) return v;
  return default_cases;
}

// --- The world: domains, a fixed catalog, request attributes. ---

const std::vector<std::string> kDomains = {"sales", "marketing", "finance"};
constexpr int kProductsPerDomain = 2;
constexpr int kRoles = 5;
constexpr int kGroups = 3;
const std::vector<std::string> kActions = {"read", "write", "delete"};
const std::vector<std::string> kColumns = {"c0", "c1", "c2", "c3"};
const std::set<std::string> kPiiColumns = {"c1", "c3"};

std::string ProductName(int d, int k) { return absl::StrCat("p", d, k); }
std::string SchemaName(int d, int k) { return absl::StrCat("s", d, k); }

std::map<std::string, std::string> CatalogFiles() {
  std::map<std::string, std::string> files;
  for (int d = 0; d < static_cast<int>(kDomains.size()); ++d) {
    for (int k = 0; k < kProductsPerDomain; ++k) {
      std::string cols;
      for (const std::string& c : kColumns) {
        absl::StrAppend(&cols, "            - {name: ", c, ", type: varchar",
                        kPiiColumns.count(c) ? ", pii: true" : "", "}\n");
      }
      files[absl::StrCat("catalog/products/", ProductName(d, k), ".yaml")] = absl::StrCat(
          "metadata:\n  name: ", ProductName(d, k), "\n  domain: ", kDomains[d],
          "\nspec:\n  outputPorts:\n    - name: sql\n      type: sql\n      catalog: lake\n"
          "      schema: ",
          SchemaName(d, k), "\n      tables:\n        - name: t0\n          columns:\n", cols);
    }
  }
  return files;
}

// --- Generated policies. ---

enum class AtomKind {
  kRole,
  kGroup,
  kAction,
  kRegion,
  kIdSuffix,
  kCtxDomain,
  kProduct,
  kPurpose,
  kPii
};

struct Atom {
  AtomKind kind;
  std::string value;
  bool negate = false;
};

struct Out {
  Finding::Type type = Finding::Type::kDeny;
  std::map<std::string, std::string> masks;
  std::vector<std::string> filters;
  std::string detail;
};

enum class RuleAction { kFindings, kError, kLoop, kTamper };

struct Rule {
  std::vector<Atom> conds;
  RuleAction action = RuleAction::kFindings;
  std::vector<Out> outs;  // kFindings: empty = no opinion
};

struct GenPolicy {
  std::string id;
  std::string domain;    // empty: global
  std::string mode;      // global: mandatory/default/advisory; domain: ""
  std::string severity;  // "", "error", "warning"
  std::string overrides;
  bool access = true;  // kinds = {'access'} or {'product'}
  std::vector<Rule> rules;
  std::string name() const { return id.substr(id.find('.') + 1); }
  std::string path() const {
    return domain.empty() ? absl::StrCat("global/", name(), ".lua")
                          : absl::StrCat("domains/", domain, "/", name(), ".lua");
  }
  bool warning_severity() const { return severity == "warning"; }
  // Whether its behaviour is a pure function of the request (no tampering with its own
  // environment, which may legitimately persist across requests).
  bool pure() const {
    for (const Rule& r : rules) {
      if (r.action == RuleAction::kTamper) return false;
    }
    return true;
  }
};

struct Scenario {
  bool access_default_allow = false;
  std::vector<GenPolicy> policies;
};

std::string Quote(absl::string_view s) { return absl::StrCat("'", s, "'"); }

std::string AtomLua(const Atom& a) {
  std::string e;
  switch (a.kind) {
    case AtomKind::kRole:
      e = absl::StrCat("has_role(req.principal, ", Quote(a.value), ")");
      break;
    case AtomKind::kGroup:
      e = absl::StrCat("in_group(req.principal, ", Quote(a.value), ")");
      break;
    case AtomKind::kAction:
      e = absl::StrCat("req.action == ", Quote(a.value));
      break;
    case AtomKind::kRegion:
      e = absl::StrCat("req.principal.attributes.region == ", Quote(a.value));
      break;
    case AtomKind::kIdSuffix:
      e = absl::StrCat("string.sub(req.principal.id, -1) == ", Quote(a.value));
      break;
    case AtomKind::kCtxDomain:
      e = absl::StrCat("ctx.domain == ", Quote(a.value));
      break;
    case AtomKind::kProduct:
      e = absl::StrCat("req.resource.product == ", Quote(a.value));
      break;
    case AtomKind::kPurpose:
      e = absl::StrCat("req.context.purpose == ", Quote(a.value));
      break;
    case AtomKind::kPii:
      e = "any_pii(req)";
      break;
  }
  return a.negate ? absl::StrCat("not (", e, ")") : e;
}

std::string Message(const GenPolicy& p, size_t rule, size_t k) {
  return absl::StrCat(p.id, "#", rule, ".", k);
}

std::string OutLua(const GenPolicy& p, size_t rule, size_t k, const Out& o) {
  std::vector<std::string> opts;
  if (!o.detail.empty()) opts.push_back(absl::StrCat("detail = ", Quote(o.detail)));
  if (!o.masks.empty()) {
    std::vector<std::string> m;
    for (const auto& [c, e] : o.masks) m.push_back(absl::StrCat(c, " = \"", e, "\""));
    opts.push_back(absl::StrCat("masks = {", absl::StrJoin(m, ", "), "}"));
  }
  if (!o.filters.empty()) {
    std::vector<std::string> f;
    for (const std::string& x : o.filters) f.push_back(absl::StrCat("\"", x, "\""));
    opts.push_back(absl::StrCat("row_filters = {", absl::StrJoin(f, ", "), "}"));
  }
  std::string call = absl::StrCat(FindingTypeName(o.type), "(", Quote(Message(p, rule, k)));
  if (!opts.empty()) absl::StrAppend(&call, ", {", absl::StrJoin(opts, ", "), "}");
  return absl::StrCat(call, ")");
}

std::string PolicyLua(const GenPolicy& p) {
  std::string s =
      absl::StrCat("local function any_pii(req)\n", "  for i = 1, #req.resource.columns do\n",
                   "    if req.resource.columns[i].pii then return true end\n",
                   "  end\n  return false\nend\n\nreturn {\n  id = ", Quote(p.id), ",\n  kinds = {",
                   p.access ? "'access'" : "'product'", "},\n");
  if (!p.mode.empty()) absl::StrAppend(&s, "  mode = ", Quote(p.mode), ",\n");
  if (!p.severity.empty()) absl::StrAppend(&s, "  severity = ", Quote(p.severity), ",\n");
  if (!p.overrides.empty()) absl::StrAppend(&s, "  overrides = ", Quote(p.overrides), ",\n");
  absl::StrAppend(&s, "  check = function(req, ctx)\n");
  for (size_t i = 0; i < p.rules.size(); ++i) {
    const Rule& r = p.rules[i];
    std::vector<std::string> conds;
    for (const Atom& a : r.conds) conds.push_back(AtomLua(a));
    std::string cond = conds.empty() ? "true" : absl::StrJoin(conds, " and ");
    std::string body;
    switch (r.action) {
      case RuleAction::kError:
        body = absl::StrCat("error(", Quote(absl::StrCat("boom ", p.id)), ")");
        break;
      case RuleAction::kLoop:
        body = "while true do end";
        break;
      case RuleAction::kTamper:
        body = "has_role = function() return true end; allow = deny; return nil";
        break;
      case RuleAction::kFindings:
        if (r.outs.empty()) {
          body = "return nil";
        } else if (r.outs.size() == 1) {
          body = absl::StrCat("return ", OutLua(p, i, 0, r.outs[0]));
        } else {
          std::vector<std::string> outs;
          for (size_t k = 0; k < r.outs.size(); ++k) outs.push_back(OutLua(p, i, k, r.outs[k]));
          body = absl::StrCat("return {", absl::StrJoin(outs, ", "), "}");
        }
        break;
    }
    absl::StrAppend(&s, "    if ", cond, " then ", body, " end\n");
  }
  absl::StrAppend(&s, "  end,\n}\n");
  return s;
}

BundleFiles Render(const Scenario& s) {
  BundleFiles f;
  f.files = CatalogFiles();
  // A small instruction budget keeps runaway policies cheap.
  f.files["bundle.yaml"] =
      absl::StrCat("revision: prop-1\nlimits: {instruction_budget: 20000}\n",
                   s.access_default_allow ? "defaults: {access: allow}\n" : "");
  for (const GenPolicy& p : s.policies) f.files[p.path()] = PolicyLua(p);
  return f;
}

// --- Random generation. ---

class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}
  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(Int(0, static_cast<int>(v.size()) - 1))];
  }

  Atom RandomAtom() {
    Atom a;
    a.negate = Chance(0.2);
    switch (Int(0, 8)) {
      case 0:
      case 1:
        a.kind = AtomKind::kRole;
        a.value = absl::StrCat("r", Int(0, kRoles - 1));
        break;
      case 2:
        a.kind = AtomKind::kGroup;
        a.value = absl::StrCat("g", Int(0, kGroups - 1));
        break;
      case 3:
        a.kind = AtomKind::kAction;
        a.value = Pick(kActions);
        break;
      case 4:
        a.kind = AtomKind::kRegion;
        a.value = Chance(0.5) ? "EU" : "US";
        break;
      case 5:
        a.kind = AtomKind::kIdSuffix;
        a.value = absl::StrCat(Int(0, 3));
        break;
      case 6:
        a.kind = AtomKind::kCtxDomain;
        a.value = Pick(kDomains);
        break;
      case 7:
        a.kind = AtomKind::kProduct;
        a.value = ProductName(Int(0, static_cast<int>(kDomains.size()) - 1),
                              Int(0, kProductsPerDomain - 1));
        break;
      default:
        if (Chance(0.5)) {
          a.kind = AtomKind::kPurpose;
          a.value = Chance(0.5) ? "analytics" : "marketing";
        } else {
          a.kind = AtomKind::kPii;
        }
        break;
    }
    return a;
  }

  Out RandomOut(Finding::Type type, const std::string& policy_id) {
    Out o;
    o.type = type;
    if (Chance(0.3)) o.detail = absl::StrCat("detail of ", policy_id);
    if (type == Finding::Type::kAllow || type == Finding::Type::kObligate) {
      int masks = Int(0, 2);
      for (int i = 0; i < masks; ++i) {
        o.masks[Pick(kColumns)] = absl::StrCat("'m-", policy_id, "'");
      }
      if (Chance(0.3)) o.filters.push_back(absl::StrCat("f", Int(0, 3), " = 1"));
    }
    return o;
  }

  Finding::Type RandomType() {
    switch (Int(0, 5)) {
      case 0:
      case 1:
        return Finding::Type::kAllow;
      case 2:
      case 3:
        return Finding::Type::kDeny;
      case 4:
        return Finding::Type::kWarn;
      default:
        return Finding::Type::kObligate;
    }
  }

  Rule RandomRule(const std::string& policy_id, bool allow_faults) {
    Rule r;
    int n = Int(0, 2);
    for (int i = 0; i < n; ++i) r.conds.push_back(RandomAtom());
    int what = Int(0, 99);
    if (allow_faults && what < 6) {
      r.action = RuleAction::kError;
    } else if (what < 14) {
      // no opinion
    } else if (what < 22) {
      r.outs.push_back(RandomOut(RandomType(), policy_id));
      r.outs.push_back(RandomOut(RandomType(), policy_id));
    } else {
      r.outs.push_back(RandomOut(RandomType(), policy_id));
    }
    return r;
  }

  void RandomRules(GenPolicy& p, bool allow_faults) {
    int n = Int(1, 3);
    for (int i = 0; i < n; ++i) p.rules.push_back(RandomRule(p.id, allow_faults));
  }

  std::string Severity() {
    int s = Int(0, 9);
    return s < 4 ? "" : s < 7 ? "error" : "warning";
  }

  GenPolicy RandomGlobal(int index) {
    GenPolicy p;
    p.id = absl::StrCat("global.g", index);
    int m = Int(0, 9);
    p.mode = m < 4 ? "mandatory" : m < 8 ? "default" : "advisory";
    p.severity = Severity();
    p.access = !Chance(0.08);
    RandomRules(p, true);
    return p;
  }

  // A domain policy; overrides one of `defaults` (ids of default global policies) sometimes.
  GenPolicy RandomDomainPolicy(const std::string& domain, const std::string& name,
                               const std::vector<std::string>& defaults, bool allow_faults) {
    GenPolicy p;
    p.domain = domain;
    p.id = absl::StrCat(domain, ".", name);
    p.severity = Severity();
    if (!defaults.empty() && Chance(0.3)) p.overrides = Pick(defaults);
    p.access = !p.overrides.empty() || !Chance(0.08);
    RandomRules(p, allow_faults);
    return p;
  }

  Scenario RandomScenario() {
    Scenario s;
    s.access_default_allow = Chance(0.1);
    int globals = Int(0, 4);
    std::vector<std::string> defaults;
    for (int i = 0; i < globals; ++i) {
      s.policies.push_back(RandomGlobal(i));
      if (s.policies.back().mode == "default") defaults.push_back(s.policies.back().id);
    }
    for (const std::string& d : kDomains) {
      int n = Int(0, 3);
      for (int i = 0; i < n; ++i) {
        s.policies.push_back(RandomDomainPolicy(d, absl::StrCat("d", i), defaults, true));
      }
    }
    return s;
  }

  AccessRequest RandomRequest() {
    AccessRequest r;
    r.principal.id = absl::StrCat("u", Int(0, 19));
    for (int i = 0; i < kRoles; ++i) {
      if (Chance(0.3)) r.principal.roles.push_back(absl::StrCat("r", i));
    }
    for (int i = 0; i < kGroups; ++i) {
      if (Chance(0.3)) r.principal.groups.push_back(absl::StrCat("g", i));
    }
    if (Chance(0.6)) r.principal.attributes["region"] = Chance(0.5) ? "EU" : "US";
    r.action = Pick(kActions);
    if (Chance(0.5)) r.context["purpose"] = Chance(0.5) ? "analytics" : "marketing";
    int d = Int(0, static_cast<int>(kDomains.size()) - 1);
    int k = Int(0, kProductsPerDomain - 1);
    int form = Int(0, 99);
    if (form < 40) {
      r.resource.table = absl::StrCat("lake.", SchemaName(d, k), ".t0");
      for (const std::string& c : kColumns) {
        if (Chance(0.4)) r.resource.columns.push_back(c);
      }
    } else if (form < 65) {
      r.resource.product = ProductName(d, k);
    } else if (form < 90) {
      // An uncatalogued product with a claimed domain: the catalog, not the claim, says who
      // owns a resource, so no domain's policies may run for it.
      r.resource.domain = Chance(0.85) ? kDomains[static_cast<size_t>(d)] : "hr";
      r.resource.product = absl::StrCat("x-", Int(0, 3));
    } else {
      r.resource.table = "hive.raw.events";
      r.resource.columns.push_back("id");
    }
    return r;
  }

  std::vector<AccessRequest> RandomRequests(int n) {
    std::vector<AccessRequest> v;
    for (int i = 0; i < n; ++i) v.push_back(RandomRequest());
    return v;
  }

 private:
  std::mt19937_64 rng_;
};

// --- The reference model (DESIGN §1), independent of the engine. ---

struct Resolved {
  std::string domain;
  std::string product;
  bool pii = false;
};

Resolved Resolve(const AccessRequest& r) {
  Resolved out;
  for (int d = 0; d < static_cast<int>(kDomains.size()); ++d) {
    for (int k = 0; k < kProductsPerDomain; ++k) {
      if (r.resource.table == absl::StrCat("lake.", SchemaName(d, k), ".t0") ||
          (r.resource.table.empty() && r.resource.product == ProductName(d, k))) {
        out.domain = kDomains[static_cast<size_t>(d)];
        out.product = ProductName(d, k);
        if (!r.resource.table.empty()) {
          for (const std::string& c : r.resource.columns) out.pii |= kPiiColumns.count(c) > 0;
        }
        return out;
      }
    }
  }
  // Not in the catalog: no owner, whatever the request claims.
  if (r.resource.table.empty()) out.product = r.resource.product;
  return out;
}

bool Contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

bool AtomHolds(const Atom& a, const AccessRequest& r, const Resolved& res) {
  bool v = false;
  switch (a.kind) {
    case AtomKind::kRole:
      v = Contains(r.principal.roles, a.value);
      break;
    case AtomKind::kGroup:
      v = Contains(r.principal.groups, a.value);
      break;
    case AtomKind::kAction:
      v = r.action == a.value;
      break;
    case AtomKind::kRegion: {
      auto it = r.principal.attributes.find("region");
      v = it != r.principal.attributes.end() && it->second == a.value;
      break;
    }
    case AtomKind::kIdSuffix:
      v = !r.principal.id.empty() && r.principal.id.substr(r.principal.id.size() - 1) == a.value;
      break;
    case AtomKind::kCtxDomain:
      v = res.domain == a.value;
      break;
    case AtomKind::kProduct:
      v = res.product == a.value;
      break;
    case AtomKind::kPurpose: {
      auto it = r.context.find("purpose");
      v = it != r.context.end() && it->second == a.value;
      break;
    }
    case AtomKind::kPii:
      v = res.pii;
      break;
  }
  return a.negate ? !v : v;
}

struct RefFinding {
  const GenPolicy* policy;
  Finding::Type type;
  std::string message;
  std::string detail;  // not compared for faults (it carries the Lua error text)
  const Out* out = nullptr;
  bool fault = false;
};

struct Expected {
  Effect effect = Effect::kDeny;
  bool defaulted = false;
  std::multiset<std::string> reasons;
  std::map<std::string, std::string> masks;
  std::set<std::string> filters;
  std::set<std::string> ran, overridden, faults;
};

std::string ReasonKey(const std::string& id, const std::string& origin, Effect e, Severity s,
                      const std::string& message, bool obligation, const std::string& detail) {
  return absl::StrCat(id, "|", origin, "|", EffectName(e), "|", SeverityName(s), "|", message, "|",
                      obligation ? "obligation" : "", "|", detail);
}

// Step 1, what runs for an access request about a resource of `domain` ("" for none): the
// global policies except the default ones a policy of `domain` overrides (their ids go to
// `overridden`), and `domain`'s own, in scenario order.
std::vector<const GenPolicy*> ReferenceRun(const Scenario& s, const std::string& domain,
                                           std::set<std::string>& overridden) {
  std::set<std::string> overridden_ids;
  for (const GenPolicy& p : s.policies) {
    if (!p.domain.empty() && p.domain == domain && !p.overrides.empty()) {
      overridden_ids.insert(p.overrides);
    }
  }
  std::vector<const GenPolicy*> ran;
  for (const GenPolicy& p : s.policies) {
    if (!p.access) continue;
    if (p.domain.empty()) {
      if (p.mode == "default" && overridden_ids.count(p.id)) {
        overridden.insert(p.id);
        continue;
      }
      ran.push_back(&p);
    } else if (p.domain == domain) {
      ran.push_back(&p);
    }
  }
  return ran;
}

// `order`: the evaluation order the engine reported, used only to break ties between masks of
// the same column (the first policy in evaluation order wins among equals).
Expected Reference(const Scenario& s, const AccessRequest& r, const PolicyIdList& order) {
  Expected e;
  Resolved res = Resolve(r);
  std::vector<const GenPolicy*> ran = ReferenceRun(s, res.domain, e.overridden);
  // Findings of each policy that ran.
  std::vector<RefFinding> findings;
  for (const GenPolicy* p : ran) {
    e.ran.insert(p->id);
    for (size_t i = 0; i < p->rules.size(); ++i) {
      const Rule& rule = p->rules[i];
      bool holds = true;
      for (const Atom& a : rule.conds) holds = holds && AtomHolds(a, r, res);
      if (!holds) continue;
      if (rule.action == RuleAction::kError || rule.action == RuleAction::kLoop) {
        // Fail closed: a deny finding naming the policy, with the policy's severity.
        RefFinding f{p,
                     Finding::Type::kDeny,
                     absl::StrCat("policy ", p->id, " could not decide (",
                                  rule.action == RuleAction::kLoop ? "budget" : "error",
                                  "); failing closed"),
                     "",
                     nullptr,
                     true};
        findings.push_back(f);
        e.faults.insert(p->id);
      } else {
        for (size_t k = 0; k < rule.outs.size(); ++k) {
          const Out& o = rule.outs[k];
          findings.push_back({p, o.type, Message(*p, i, k), o.detail, &o, false});
        }
      }
      break;  // the first rule that holds returns
    }
  }
  auto mandatory = [](const RefFinding& f) { return f.policy->mode == "mandatory"; };
  auto advisory = [](const RefFinding& f) { return f.policy->mode == "advisory"; };
  auto error_deny = [&](const RefFinding& f) {
    return !advisory(f) && f.type == Finding::Type::kDeny && !f.policy->warning_severity();
  };
  auto grant = [&](const RefFinding& f) { return !advisory(f) && f.type == Finding::Type::kAllow; };
  auto obligation = [&](const RefFinding& f) {
    return !advisory(f) && f.type == Finding::Type::kObligate;
  };
  bool step2 = false, step3 = false, step4 = false, step5 = false;
  for (const RefFinding& f : findings) {
    step2 |= error_deny(f) && mandatory(f);
    step3 |= grant(f) && mandatory(f);
    step4 |= error_deny(f);
    step5 |= grant(f);
  }
  if (step2) {
    e.effect = Effect::kDeny;
  } else if (step3) {
    e.effect = Effect::kAllow;
  } else if (step4) {
    e.effect = Effect::kDeny;
  } else if (step5) {
    e.effect = Effect::kAllow;
  } else {
    e.effect = s.access_default_allow ? Effect::kAllow : Effect::kDeny;
    e.defaulted = true;
  }
  // Every finding that took part is a reason; warnings never change the effect.
  for (const RefFinding& f : findings) {
    bool grants = f.type == Finding::Type::kAllow || f.type == Finding::Type::kObligate;
    Severity sev = error_deny(f)               ? Severity::kError
                   : grant(f) || obligation(f) ? Severity::kNone
                                               : Severity::kWarning;
    e.reasons.insert(ReasonKey(f.policy->id,
                               f.policy->domain.empty() ? "global" : "domain:" + f.policy->domain,
                               grants ? Effect::kAllow : Effect::kDeny, sev, f.message,
                               f.type == Finding::Type::kObligate, f.fault ? "*" : f.detail));
  }
  if (e.defaulted && e.effect == Effect::kDeny) {
    std::vector<std::string> ran_in_order;
    for (const std::string& id : order) {
      if (e.ran.count(id)) ran_in_order.push_back(id);
    }
    e.reasons.insert(
        ReasonKey(std::string(kDefaultReasonId), "global", Effect::kDeny, Severity::kError,
                  absl::StrCat("no policy allowed this; policies that ran: ",
                               ran_in_order.empty() ? "none" : absl::StrJoin(ran_in_order, ", ")),
                  false, ""));
  }
  if (res.domain.empty()) {
    e.reasons.insert(
        ReasonKey(std::string(kUncataloguedReasonId), "engine", e.effect, Severity::kInfo,
                  "resource not in the catalog: domain policies not applied", false, "*"));
  }
  // Obligations of the allows that stand: mandatory masks win a conflict, then evaluation order.
  if (e.effect == Effect::kAllow) {
    auto rank = [&](const RefFinding& f) {
      auto it = std::find(order.begin(), order.end(), f.policy->id);
      return std::make_pair(mandatory(f) ? 0 : 1, std::distance(order.begin(), it));
    };
    std::vector<const RefFinding*> obl;
    for (const RefFinding& f : findings) {
      if (grant(f) || obligation(f)) obl.push_back(&f);
    }
    std::stable_sort(obl.begin(), obl.end(),
                     [&](const RefFinding* a, const RefFinding* b) { return rank(*a) < rank(*b); });
    for (const RefFinding* f : obl) {
      for (const auto& [c, x] : f->out->masks) e.masks.emplace(c, x);
      for (const std::string& x : f->out->filters) e.filters.insert(x);
    }
  }
  return e;
}

// What the engine said, in the reference's terms.
Expected Observed(const Decision& d) {
  Expected e;
  e.effect = d.effect;
  e.defaulted = d.defaulted;
  std::set<std::string> fault_ids;
  for (const PolicyFault& f : d.faults) {
    e.faults.insert(f.policy_id);
    fault_ids.insert(f.policy_id);
  }
  for (const Reason& r : d.reasons) {
    bool fault = fault_ids.count(r.policy_id) > 0;
    bool note = r.severity == Severity::kInfo;
    e.reasons.insert(ReasonKey(r.policy_id, r.origin, r.effect, r.severity, r.message, r.obligation,
                               fault || note ? "*" : r.detail));
  }
  for (const ColumnMask& m : d.obligations.column_masks) e.masks.emplace(m.column, m.expression);
  for (const std::string& f : d.obligations.row_filters) e.filters.insert(f);
  e.ran.insert(d.evaluated_policies.begin(), d.evaluated_policies.end());
  e.overridden.insert(d.overridden_policies.begin(), d.overridden_policies.end());
  return e;
}

std::string Show(const Expected& e) {
  std::vector<std::string> masks;
  for (const auto& [c, x] : e.masks) masks.push_back(absl::StrCat(c, "=", x));
  return absl::StrCat(
      "effect=", EffectName(e.effect), e.defaulted ? "(default)" : "", "\n    reasons:\n      ",
      absl::StrJoin(e.reasons, "\n      "), "\n    masks: ", absl::StrJoin(masks, ", "),
      "\n    filters: ", absl::StrJoin(e.filters, ", "), "\n    ran: ", absl::StrJoin(e.ran, ","),
      "\n    overridden: ", absl::StrJoin(e.overridden, ","),
      "\n    faults: ", absl::StrJoin(e.faults, ","));
}

bool SameAsReference(const Expected& a, const Expected& b) {
  return a.effect == b.effect && a.defaulted == b.defaulted && a.reasons == b.reasons &&
         a.masks == b.masks && a.filters == b.filters && a.ran == b.ran &&
         a.overridden == b.overridden && a.faults == b.faults;
}

// --- Running a property on one case, and shrinking a failure. ---

std::string ShowRequest(const AccessRequest& r) {
  std::vector<std::string> attrs, ctx;
  for (const auto& [k, v] : r.principal.attributes) attrs.push_back(absl::StrCat(k, "=", v));
  for (const auto& [k, v] : r.context) ctx.push_back(absl::StrCat(k, "=", v));
  return absl::StrCat(
      "principal{id=", r.principal.id, " roles=[", absl::StrJoin(r.principal.roles, ","),
      "] groups=[", absl::StrJoin(r.principal.groups, ","), "] attributes={",
      absl::StrJoin(attrs, ","), "}} action=", r.action, " resource{domain=", r.resource.domain,
      " product=", r.resource.product, " table=", r.resource.table, " columns=[",
      absl::StrJoin(r.resource.columns, ","), "]} context={", absl::StrJoin(ctx, ","), "}");
}

std::string ShowFiles(const BundleFiles& f) {
  std::string s;
  for (const auto& [path, content] : f.files) {
    if (path.rfind("catalog/", 0) == 0) continue;  // the fixed catalog, shown once below
    absl::StrAppend(&s, "----- ", path, " -----\n", content);
  }
  absl::StrAppend(&s, "----- catalog/products/*.yaml: the fixed catalog of CatalogFiles() (",
                  kDomains.size() * kProductsPerDomain, " products, tables lake.sDK.t0) -----\n");
  return s;
}

// One property case: a base scenario, the policies a variant adds, a chosen domain, requests.
struct PropCase {
  Scenario base;
  std::vector<GenPolicy> extra;
  std::string domain_x;
  std::vector<AccessRequest> requests;
  // Properties that need a second scenario derive it from these fields.
};

struct Outcome {
  bool failed = false;
  bool load_error = false;
  std::string message;
  int exercised = 0;  // comparisons that were not vacuous
};

using Property = std::function<Outcome(const PropCase&)>;

std::shared_ptr<const Bundle> Load(const Scenario& s, Outcome& out, const char* what) {
  absl::StatusOr<std::shared_ptr<const Bundle>> b = Bundle::Load(Render(s));
  if (!b.ok()) {
    out.failed = true;
    out.load_error = true;
    out.message = absl::StrCat("the ", what, " bundle does not load: ", b.status().ToString(), "\n",
                               ShowFiles(Render(s)));
    return nullptr;
  }
  return *b;
}

EvalOptions Opts() { return enginetest::Opts(); }

std::optional<Decision> Eval(const Bundle& b, const AccessRequest& r, Outcome& out,
                             const char* what) {
  absl::StatusOr<Decision> d = b.Evaluate(r, Opts());
  if (!d.ok()) {
    out.failed = true;
    out.message = absl::StrCat("Evaluate on the ", what, " bundle failed: ", d.status().ToString(),
                               "\n  request: ", ShowRequest(r));
    return std::nullopt;
  }
  return *std::move(d);
}

// Drops requests and then policies (and rules) while `property` still fails; load errors that
// the original did not have do not count as failing.
PropCase Shrink(PropCase c, const Property& property) {
  bool orig_load_error = property(c).load_error;
  auto still_fails = [&](const PropCase& t) {
    Outcome o = property(t);
    return o.failed && (o.load_error == orig_load_error);
  };
  for (size_t i = 0; i < c.requests.size() && c.requests.size() > 1; ++i) {
    PropCase t = c;
    t.requests = {c.requests[i]};
    if (still_fails(t)) {
      c = t;
      break;
    }
  }
  bool progress = true;
  while (progress) {
    progress = false;
    for (std::vector<GenPolicy>* list : {&c.base.policies, &c.extra}) {
      for (size_t i = 0; i < list->size() && !progress; ++i) {
        PropCase t = c;
        std::vector<GenPolicy>& tl = list == &c.base.policies ? t.base.policies : t.extra;
        tl.erase(tl.begin() + static_cast<std::ptrdiff_t>(i));
        if (still_fails(t)) {
          c = t;
          progress = true;
        }
      }
      for (size_t i = 0; i < list->size() && !progress; ++i) {
        for (size_t j = 0; j < (*list)[i].rules.size() && !progress; ++j) {
          if ((*list)[i].rules.size() == 1) break;
          PropCase t = c;
          std::vector<GenPolicy>& tl = list == &c.base.policies ? t.base.policies : t.extra;
          tl[i].rules.erase(tl[i].rules.begin() + static_cast<std::ptrdiff_t>(j));
          if (still_fails(t)) {
            c = t;
            progress = true;
          }
        }
      }
      // Conditions: dropping one makes its rule hold more often.
      for (size_t i = 0; i < list->size() && !progress; ++i) {
        for (size_t j = 0; j < (*list)[i].rules.size() && !progress; ++j) {
          for (size_t k = 0; k < (*list)[i].rules[j].conds.size() && !progress; ++k) {
            PropCase t = c;
            std::vector<GenPolicy>& tl = list == &c.base.policies ? t.base.policies : t.extra;
            auto& conds = tl[i].rules[j].conds;
            conds.erase(conds.begin() + static_cast<std::ptrdiff_t>(k));
            if (still_fails(t)) {
              c = t;
              progress = true;
            }
          }
        }
      }
    }
  }
  return c;
}

// Runs `property` on `cases` generated cases; stops at the first failure and reports it shrunk.
void RunProperty(const char* name, int cases, const std::function<PropCase(Gen&)>& generate,
                 const Property& property, int min_exercised) {
  uint64_t base = BaseSeed();
  int exercised = 0;
  for (int i = 0; i < cases; ++i) {
    uint64_t seed = base + static_cast<uint64_t>(i);
    Gen g(seed);
    PropCase c = generate(g);
    Outcome o = property(c);
    exercised += o.exercised;
    if (!o.failed) continue;
    PropCase small = Shrink(c, property);
    Outcome so = property(small);
    std::string files;
    Scenario shown = small.base;
    for (const GenPolicy& p : small.extra) shown.policies.push_back(p);
    ADD_FAILURE() << "property " << name << " fails: ARBITER_PROPERTY_SEED=" << base << ", case "
                  << i << " (case seed " << seed << ")\n"
                  << o.message << "\n\n=== minimal reproduction (shrunk) ===\n"
                  << so.message << "\nextra policies (the variant's additions): " <<
        [&] {
          std::vector<std::string> ids;
          for (const GenPolicy& p : small.extra) ids.push_back(p.id);
          return absl::StrJoin(ids, ", ");
        }() << (small.domain_x.empty() ? "" : "\ndomain X: " + small.domain_x)
                  << "\nrequests:\n  " <<
        [&] {
          std::vector<std::string> rs;
          for (const AccessRequest& r : small.requests) rs.push_back(ShowRequest(r));
          return absl::StrJoin(rs, "\n  ");
        }() << "\nbundle files (base + extra):\n"
                  << ShowFiles(Render(shown));
    return;
  }
  std::printf("[ property ] %s: %d cases, %d non-vacuous comparisons (seed %llu)\n", name, cases,
              exercised, static_cast<unsigned long long>(base));
  EXPECT_GE(exercised, min_exercised) << "the generator rarely exercises " << name;
}

constexpr int kRequestsPerCase = 12;

// --- The properties. ---

// Differential: every decision equals the reference model's.
Outcome DifferentialProperty(const PropCase& c) {
  Outcome out;
  auto b = Load(c.base, out, "generated");
  if (b == nullptr) return out;
  for (const AccessRequest& r : c.requests) {
    std::optional<Decision> d = Eval(*b, r, out, "generated");
    if (!d) return out;
    Expected want = Reference(c.base, r, d->evaluated_policies);
    Expected got = Observed(*d);
    ++out.exercised;
    if (!SameAsReference(want, got)) {
      out.failed = true;
      out.message =
          absl::StrCat("decision differs from the reference model\n  request: ", ShowRequest(r),
                       "\n  engine:    ", Show(got), "\n  reference: ", Show(want));
      return out;
    }
  }
  return out;
}

// (a) Domain X's policies (including hostile ones) never change a decision about another
// domain's resource.
Outcome IsolationProperty(const PropCase& c) {
  Outcome out;
  Scenario with = c.base, without;
  without.access_default_allow = c.base.access_default_allow;
  for (const GenPolicy& p : c.extra) with.policies.push_back(p);
  for (const GenPolicy& p : c.base.policies) {
    if (p.domain != c.domain_x) without.policies.push_back(p);
  }
  auto bw = Load(with, out, "with-X");
  if (bw == nullptr) return out;
  auto bo = Load(without, out, "without-X");
  if (bo == nullptr) return out;
  for (const AccessRequest& r : c.requests) {
    std::optional<Decision> dw = Eval(*bw, r, out, "with-X");
    if (!dw) return out;
    std::optional<Decision> dx = Eval(*bo, r, out, "without-X");
    if (!dx) return out;
    if (dw->domain == c.domain_x) continue;
    ++out.exercised;
    std::string a = absl::StrCat(Describe(*dw), " domain=", dw->domain);
    std::string b = absl::StrCat(Describe(*dx), " domain=", dx->domain);
    if (a != b) {
      out.failed = true;
      out.message = absl::StrCat(
          "domain ", c.domain_x, "'s policies changed a decision about domain '", dw->domain,
          "'\n  request: ", ShowRequest(r), "\n  with X:    ", a, "\n  without X: ", b);
      return out;
    }
  }
  return out;
}

bool HasMandatoryErrorDeny(const Decision& d) {
  for (const Reason& r : d.reasons) {
    if (PolicyModeName(r.mode) == "mandatory" && r.severity == Severity::kError &&
        r.effect == Effect::kDeny) {
      return true;
    }
  }
  return false;
}

// (b) A mandatory deny stays a deny whatever the domains add.
Outcome MandatoryDenyProperty(const PropCase& c) {
  Outcome out;
  Scenario with = c.base;
  for (const GenPolicy& p : c.extra) with.policies.push_back(p);
  auto b0 = Load(c.base, out, "base");
  if (b0 == nullptr) return out;
  auto b1 = Load(with, out, "with-domain-additions");
  if (b1 == nullptr) return out;
  for (const AccessRequest& r : c.requests) {
    std::optional<Decision> d0 = Eval(*b0, r, out, "base");
    if (!d0) return out;
    if (!HasMandatoryErrorDeny(*d0)) continue;
    std::optional<Decision> d1 = Eval(*b1, r, out, "with-domain-additions");
    if (!d1) return out;
    ++out.exercised;
    if (d0->effect != Effect::kDeny || d1->effect != Effect::kDeny) {
      out.failed = true;
      out.message =
          absl::StrCat("a mandatory deny was not a deny\n  request: ", ShowRequest(r),
                       "\n  base: ", Describe(*d0), "\n  with domain additions: ", Describe(*d1));
      return out;
    }
  }
  return out;
}

// (c) Adding a deny never turns a deny into an allow.
Outcome AddedDenyProperty(const PropCase& c) {
  Outcome out;
  Scenario with = c.base;
  for (const GenPolicy& p : c.extra) with.policies.push_back(p);
  auto b0 = Load(c.base, out, "base");
  if (b0 == nullptr) return out;
  auto b1 = Load(with, out, "with-added-deny");
  if (b1 == nullptr) return out;
  for (const AccessRequest& r : c.requests) {
    std::optional<Decision> d0 = Eval(*b0, r, out, "base");
    if (!d0) return out;
    if (d0->effect != Effect::kDeny) continue;
    std::optional<Decision> d1 = Eval(*b1, r, out, "with-added-deny");
    if (!d1) return out;
    ++out.exercised;
    if (d1->effect != Effect::kDeny) {
      out.failed = true;
      out.message =
          absl::StrCat("adding a deny turned a deny into an allow\n  request: ", ShowRequest(r),
                       "\n  base: ", Describe(*d0), "\n  with the added deny: ", Describe(*d1));
      return out;
    }
  }
  return out;
}

// (d) Same decision on repeats, from 4 threads at once, and after a reload of the same files.
Outcome DeterminismProperty(const PropCase& c) {
  Outcome out;
  auto b = Load(c.base, out, "generated");
  if (b == nullptr) return out;
  std::vector<std::string> want;
  for (const AccessRequest& r : c.requests) {
    std::optional<Decision> d = Eval(*b, r, out, "generated");
    if (!d) return out;
    want.push_back(Describe(*d));
  }
  auto mismatch = [&](const char* how, size_t i, const std::string& got) {
    out.failed = true;
    out.message =
        absl::StrCat("decision differs ", how, "\n  request: ", ShowRequest(c.requests[i]),
                     "\n  first: ", want[i], "\n  later: ", got);
  };
  // Repeats.
  for (size_t i = 0; i < c.requests.size(); ++i) {
    std::optional<Decision> d = Eval(*b, c.requests[i], out, "generated");
    if (!d) return out;
    ++out.exercised;
    if (Describe(*d) != want[i]) {
      mismatch("on a repeat", i, Describe(*d));
      return out;
    }
  }
  // Threads: each evaluates every request twice, in its own order.
  std::vector<std::string> thread_got(4);
  std::vector<int> thread_bad(4, -1);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 2; ++round) {
        for (size_t k = 0; k < c.requests.size(); ++k) {
          size_t i = (k + static_cast<size_t>(t) * 3) % c.requests.size();
          absl::StatusOr<Decision> d = b->Evaluate(c.requests[i], Opts());
          std::string got = d.ok() ? Describe(*d) : d.status().ToString();
          if (got != want[i] && thread_bad[t] < 0) {
            thread_bad[t] = static_cast<int>(i);
            thread_got[t] = got;
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) {
    if (thread_bad[t] >= 0) {
      mismatch("across threads", static_cast<size_t>(thread_bad[t]), thread_got[t]);
      return out;
    }
    out.exercised += static_cast<int>(c.requests.size());
  }
  // Reload: the same files, loaded again.
  auto b2 = Load(c.base, out, "reloaded");
  if (b2 == nullptr) return out;
  for (size_t i = 0; i < c.requests.size(); ++i) {
    std::optional<Decision> d = Eval(*b2, c.requests[i], out, "reloaded");
    if (!d) return out;
    ++out.exercised;
    if (Describe(*d) != want[i]) {
      mismatch("after a reload", i, Describe(*d));
      return out;
    }
  }
  return out;
}

// (e) Advisory policies never change an effect or the obligations: the base bundle against the
// same bundle with its advisory policies removed and `extra` (advisory) ones added.
Outcome AdvisoryProperty(const PropCase& c) {
  Outcome out;
  Scenario other;
  other.access_default_allow = c.base.access_default_allow;
  for (const GenPolicy& p : c.base.policies) {
    if (p.mode != "advisory") other.policies.push_back(p);
  }
  for (const GenPolicy& p : c.extra) other.policies.push_back(p);
  auto b0 = Load(c.base, out, "base");
  if (b0 == nullptr) return out;
  auto b1 = Load(other, out, "advisory-changed");
  if (b1 == nullptr) return out;
  for (const AccessRequest& r : c.requests) {
    std::optional<Decision> d0 = Eval(*b0, r, out, "base");
    if (!d0) return out;
    std::optional<Decision> d1 = Eval(*b1, r, out, "advisory-changed");
    if (!d1) return out;
    ++out.exercised;
    Expected e0 = Observed(*d0), e1 = Observed(*d1);
    if (e0.effect != e1.effect || e0.masks != e1.masks || e0.filters != e1.filters) {
      out.failed = true;
      out.message = absl::StrCat(
          "an advisory policy changed the outcome\n  request: ", ShowRequest(r),
          "\n  base: ", Describe(*d0), "\n  advisory policies swapped: ", Describe(*d1));
      return out;
    }
  }
  return out;
}

// --- Generators of each property's cases. ---

PropCase BaseCase(Gen& g) {
  PropCase c;
  c.base = g.RandomScenario();
  c.requests = g.RandomRequests(kRequestsPerCase);
  return c;
}

std::vector<std::string> DefaultGlobals(const Scenario& s) {
  std::vector<std::string> ids;
  for (const GenPolicy& p : s.policies) {
    if (p.domain.empty() && p.mode == "default") ids.push_back(p.id);
  }
  return ids;
}

// An allow-everything policy of `domain`, with masks that try to displace mandatory ones.
GenPolicy AllowEverything(Gen& g, const std::string& domain, const std::string& name,
                          const std::vector<std::string>& defaults) {
  GenPolicy p;
  p.domain = domain;
  p.id = absl::StrCat(domain, ".", name);
  if (!defaults.empty() && g.Chance(0.5)) p.overrides = g.Pick(defaults);
  Rule r;
  Out o;
  o.type = Finding::Type::kAllow;
  o.masks["c1"] = "c1";  // "unmask"
  r.outs.push_back(o);
  p.rules.push_back(r);
  return p;
}

const int kCases = NumCases(700);

TEST(FederationPropertyTest, DecisionsMatchTheReferenceModel) {
  RunProperty("differential", kCases * 2, BaseCase, DifferentialProperty, kCases);
}

// A scenario's policies as the bundle's policy table, in scenario order (not Load's file
// order: the pure checks below do not go through Load).
std::vector<PolicyInfo> PolicyTable(const Scenario& s) {
  std::vector<PolicyInfo> table;
  for (const GenPolicy& p : s.policies) {
    PolicyInfo info;
    info.id = p.id;
    info.domain = p.domain;
    info.mode = *ParsePolicyMode(p.domain.empty() ? p.mode : "domain");
    info.severity = p.warning_severity() ? Severity::kWarning : Severity::kError;
    info.overrides = p.overrides;
    info.kinds = {p.access ? Kind::kAccess : Kind::kProduct};
    table.push_back(std::move(info));
  }
  return table;
}

// What the check of generated policy `p` returns for `r`, as the sandbox would report it: the
// findings of the first rule that holds, or the fault it raises (no Lua runs).
CheckOutcome OutcomeOf(const GenPolicy& p, const AccessRequest& r, const Resolved& res) {
  CheckOutcome outcome;
  for (size_t i = 0; i < p.rules.size(); ++i) {
    const Rule& rule = p.rules[i];
    bool holds = true;
    for (const Atom& a : rule.conds) holds = holds && AtomHolds(a, r, res);
    if (!holds) continue;
    if (rule.action == RuleAction::kError || rule.action == RuleAction::kLoop) {
      outcome.fault =
          rule.action == RuleAction::kLoop ? PolicyFault::Type::kBudget : PolicyFault::Type::kError;
      outcome.error = "raised";
    } else {
      for (size_t k = 0; k < rule.outs.size(); ++k) {
        const Out& o = rule.outs[k];
        Finding& f = outcome.findings.emplace_back();
        f.type = o.type;
        f.message = Message(p, i, k);
        f.detail = o.detail;
        for (const auto& [column, expression] : o.masks) f.masks.push_back({column, expression});
        f.row_filters = o.filters;
      }
    }
    break;  // the first rule that holds returns
  }
  return outcome;
}

// Step 1 alone (combine.h's SelectPolicies, no Lua) against the reference model, on the policy
// tables of random scenarios (overrides of any global policy included), for every domain, no
// domain, and a domain without policies.
TEST(FederationPropertyTest, SelectionAloneMatchesTheReferenceModel) {
  uint64_t base = BaseSeed();
  int cases = NumCases(700) * 4;
  for (int c = 0; c < cases; ++c) {
    Gen g(base + static_cast<uint64_t>(c));
    Scenario s = g.RandomScenario();
    // Load refuses an override of a mandatory or advisory policy; selection must ignore one
    // all the same, so the table here may have them.
    std::vector<std::string> globals;
    for (const GenPolicy& p : s.policies) {
      if (p.domain.empty()) globals.push_back(p.id);
    }
    for (GenPolicy& p : s.policies) {
      if (!p.domain.empty() && !globals.empty() && g.Chance(0.3)) p.overrides = g.Pick(globals);
    }
    std::vector<PolicyInfo> table = PolicyTable(s);
    PolicyIndex index = IndexPolicies(table);
    std::vector<std::string> domains = kDomains;
    domains.push_back("");
    domains.push_back("hr");
    for (const std::string& domain : domains) {
      std::set<std::string> want_overridden;
      std::vector<std::string> want, got;
      size_t want_globals = 0;
      for (const GenPolicy* p : ReferenceRun(s, domain, want_overridden)) {
        want.push_back(p->id);
        want_globals += p->domain.empty();
      }
      std::string action = g.Pick(kActions);
      Selection sel = SelectPolicies(table, index, Kind::kAccess, domain, &action);
      for (size_t i : sel.run) got.push_back(table[i].id);
      std::set<std::string> got_overridden;
      for (size_t i : sel.overridden) got_overridden.insert(table[i].id);
      ASSERT_EQ(got, want) << "case seed " << base + static_cast<uint64_t>(c) << ", domain \""
                           << domain << "\"\n"
                           << ShowFiles(Render(s));
      ASSERT_EQ(sel.globals, want_globals) << "case seed " << base + static_cast<uint64_t>(c);
      ASSERT_EQ(got_overridden, want_overridden)
          << "case seed " << base + static_cast<uint64_t>(c) << ", domain \"" << domain << "\"";
      ASSERT_EQ(got_overridden.size(), sel.overridden.size());
    }
  }
}

// The whole rule alone (combine.h: SelectPolicies, AddOutcome, Combine, ExplainClosedDefault),
// fed what each selected policy is known to return instead of running Lua, against the
// reference model: many more cases than the end-to-end differential check can afford.
TEST(FederationPropertyTest, TheRuleAloneMatchesTheReferenceModel) {
  uint64_t base = BaseSeed();
  int cases = NumCases(700) * 4;
  int compared = 0;
  for (int c = 0; c < cases; ++c) {
    uint64_t seed = base + static_cast<uint64_t>(c);
    Gen g(seed);
    Scenario s = g.RandomScenario();
    std::vector<PolicyInfo> table = PolicyTable(s);
    PolicyIndex index = IndexPolicies(table);
    // The table decisions name policies from, as Load builds it.
    auto ids = std::make_shared<std::vector<std::string>>();
    for (const PolicyInfo& p : table) ids->push_back(p.id);
    for (const AccessRequest& r : g.RandomRequests(kRequestsPerCase)) {
      Resolved res = Resolve(r);
      Selection sel = SelectPolicies(table, index, Kind::kAccess, res.domain, &r.action);
      Decision d;
      d.overridden_policies.Reset(ids);
      for (size_t i : sel.overridden) d.overridden_policies.Add(i);
      d.evaluated_policies.Reset(ids);
      std::vector<PolicyFinding> findings;
      for (size_t i : sel.run) {
        CheckOutcome outcome = OutcomeOf(s.policies[i], r, res);
        d.evaluated_policies.Add(i);
        AddOutcome(
            table[i], outcome, [](const PolicyInfo&) -> const Waiver* { return nullptr; }, findings,
            d.faults);
      }
      Combine(findings, s.access_default_allow ? Effect::kAllow : Effect::kDeny, d);
      ExplainClosedDefault(d);
      Expected want = Reference(s, r, d.evaluated_policies);
      // The note on an uncatalogued resource is Bundle::Evaluate's, not the rule's.
      for (auto it = want.reasons.begin(); it != want.reasons.end();) {
        it = absl::StartsWith(*it, kUncataloguedReasonId) ? want.reasons.erase(it) : std::next(it);
      }
      Expected got = Observed(d);
      ASSERT_TRUE(SameAsReference(got, want))
          << "case seed " << seed << "\n  request: " << ShowRequest(r)
          << "\n  engine:    " << Show(got) << "\n  reference: " << Show(want) << "\n"
          << ShowFiles(Render(s));
      ++compared;
    }
  }
  std::printf("[ property ] the rule alone: %d comparisons (seed %llu)\n", compared,
              static_cast<unsigned long long>(base));
}

TEST(FederationPropertyTest, ADomainNeverChangesAnotherDomainsDecisions) {
  RunProperty(
      "(a) domain isolation", kCases,
      [](Gen& g) {
        PropCase c = BaseCase(g);
        c.domain_x = g.Pick(kDomains);
        // Hostile additions to X: runaway loops, errors, tampering with its environment.
        int n = g.Int(0, 2);
        for (int i = 0; i < n; ++i) {
          GenPolicy p = g.RandomDomainPolicy(c.domain_x, absl::StrCat("hostile", i),
                                             DefaultGlobals(c.base), true);
          Rule r;
          r.action = g.Chance(0.5) ? RuleAction::kLoop : RuleAction::kTamper;
          if (g.Chance(0.5)) r.conds.push_back(g.RandomAtom());
          p.rules.insert(p.rules.begin(), r);
          c.extra.push_back(p);
        }
        return c;
      },
      IsolationProperty, kCases);
}

TEST(FederationPropertyTest, AMandatoryDenyIsNeverTurnedIntoAnAllowByADomain) {
  RunProperty(
      "(b) mandatory deny is final", kCases,
      [](Gen& g) {
        PropCase c = BaseCase(g);
        std::vector<std::string> defaults = DefaultGlobals(c.base);
        for (const std::string& d : kDomains) {
          int n = g.Int(1, 3);
          for (int i = 0; i < n; ++i) {
            std::string name = absl::StrCat("extra", i);
            c.extra.push_back(g.Chance(0.5) ? AllowEverything(g, d, name, defaults)
                                            : g.RandomDomainPolicy(d, name, defaults, true));
          }
        }
        return c;
      },
      MandatoryDenyProperty, kCases / 4);
}

TEST(FederationPropertyTest, AddingADenyNeverTurnsADenyIntoAnAllow) {
  RunProperty(
      "(c) adding a deny", kCases,
      [](Gen& g) {
        PropCase c = BaseCase(g);
        GenPolicy p;
        int where = g.Int(0, 3);
        if (where < 2) {
          p.id = "global.added";
          p.mode = where == 0 ? "mandatory" : "default";
        } else {
          p.domain = g.Pick(kDomains);
          p.id = absl::StrCat(p.domain, ".added");
        }
        p.severity = g.Chance(0.5) ? "error" : "";
        int n = g.Int(1, 3);
        for (int i = 0; i < n; ++i) {
          Rule r;
          int k = g.Int(0, 2);
          for (int j = 0; j < k; ++j) r.conds.push_back(g.RandomAtom());
          int what = g.Int(0, 9);
          if (what < 6) {
            r.outs.push_back(g.RandomOut(Finding::Type::kDeny, p.id));
          } else if (what < 8) {
            r.outs.push_back(g.RandomOut(Finding::Type::kWarn, p.id));
          }  // else no opinion
          p.rules.push_back(r);
        }
        c.extra.push_back(p);
        return c;
      },
      AddedDenyProperty, kCases);
}

TEST(FederationPropertyTest, DecisionsAreDeterministicAcrossRepeatsThreadsAndReloads) {
  RunProperty("(d) determinism", kCases / 2, BaseCase, DeterminismProperty, kCases);
}

TEST(FederationPropertyTest, AdvisoryPoliciesNeverChangeTheEffect) {
  RunProperty(
      "(e) advisory never changes the effect", kCases,
      [](Gen& g) {
        PropCase c = BaseCase(g);
        int n = g.Int(1, 2);
        for (int i = 0; i < n; ++i) {
          GenPolicy p = g.RandomGlobal(10 + i);
          p.mode = "advisory";
          p.access = true;
          if (g.Chance(0.3)) {
            p.rules.insert(
                p.rules.begin(),
                Rule{{}, RuleAction::kFindings, {g.RandomOut(Finding::Type::kAllow, p.id)}});
          }
          c.extra.push_back(p);
        }
        return c;
      },
      AdvisoryProperty, kCases);
}

}  // namespace
}  // namespace arbiter
