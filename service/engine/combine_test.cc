// DESIGN §1's combining rules, proved twice: table-driven over the pure functions of combine.h
// (Combine: every layer and outcome against every other, obligations, warnings; SelectPolicies:
// overrides, kinds, actions, never another domain's; AddOutcome: faults), and end to end through
// Bundle::Evaluate with tiny Lua policies (the same matrix, overrides, defaults from bundle.yaml).
#include "service/engine/combine.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "service/engine/bundle.h"
#include "service/engine/bundle_load.h"
#include "service/engine/testing.h"

namespace arbiter {
namespace {

using enginetest::BundleYaml;
using enginetest::Describe;
using enginetest::DomainAccess;
using enginetest::Files;
using enginetest::FindReason;
using enginetest::MustEvaluate;
using enginetest::MustLoad;
using enginetest::Policy;

// --- The layers and outcomes of the matrix. ---

enum class Layer {
  kMandatory,
  kMandatorySevWarning,
  kDefault,
  kDefaultSevWarning,
  kAdvisory,
  kDomain,
  kDomainSevWarning,
};
constexpr Layer kLayers[] = {Layer::kMandatory,       Layer::kMandatorySevWarning,
                             Layer::kDefault,         Layer::kDefaultSevWarning,
                             Layer::kAdvisory,        Layer::kDomain,
                             Layer::kDomainSevWarning};

enum class Outcome { kNothing, kAllow, kDeny, kWarn, kObligate };
constexpr Outcome kOutcomes[] = {Outcome::kNothing, Outcome::kAllow, Outcome::kDeny, Outcome::kWarn,
                                 Outcome::kObligate};

const char* LayerName(Layer l) {
  switch (l) {
    case Layer::kMandatory:
      return "mandatory";
    case Layer::kMandatorySevWarning:
      return "mandatory(severity=warning)";
    case Layer::kDefault:
      return "default";
    case Layer::kDefaultSevWarning:
      return "default(severity=warning)";
    case Layer::kAdvisory:
      return "advisory";
    case Layer::kDomain:
      return "domain";
    case Layer::kDomainSevWarning:
      return "domain(severity=warning)";
  }
  return "?";
}

const char* OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kNothing:
      return "nothing";
    case Outcome::kAllow:
      return "allow";
    case Outcome::kDeny:
      return "deny";
    case Outcome::kWarn:
      return "warn";
    case Outcome::kObligate:
      return "obligate";
  }
  return "?";
}

bool IsDomain(Layer l) { return l == Layer::kDomain || l == Layer::kDomainSevWarning; }
bool SevWarning(Layer l) {
  return l == Layer::kMandatorySevWarning || l == Layer::kDefaultSevWarning ||
         l == Layer::kDomainSevWarning;
}
bool IsMandatory(Layer l) { return l == Layer::kMandatory || l == Layer::kMandatorySevWarning; }

PolicyInfo MakeInfo(Layer l, const std::string& suffix) {
  PolicyInfo p;
  p.kinds = {Kind::kAccess, Kind::kProduct};
  p.severity = SevWarning(l) ? Severity::kWarning : Severity::kError;
  if (IsDomain(l)) {
    p.domain = "sales";
    p.id = "sales." + suffix;
    p.mode = PolicyMode::kDomain;
  } else {
    p.id = "global." + suffix;
    p.mode = IsMandatory(l)          ? PolicyMode::kMandatory
             : l == Layer::kAdvisory ? PolicyMode::kAdvisory
                                     : PolicyMode::kDefault;
  }
  return p;
}

// What DESIGN §1 says one finding of layer `l` counts as.
enum class Role { kNone, kErrorDeny, kAllow, kObligate, kWarning };
Role SpecRole(Layer l, Outcome o) {
  if (o == Outcome::kNothing) return Role::kNone;
  if (l == Layer::kAdvisory) return Role::kWarning;  // advisory findings never decide
  switch (o) {
    case Outcome::kAllow:
      return Role::kAllow;
    case Outcome::kObligate:
      return Role::kObligate;
    case Outcome::kWarn:
      return Role::kWarning;
    case Outcome::kDeny:
      return SevWarning(l) ? Role::kWarning : Role::kErrorDeny;
    default:
      return Role::kNone;
  }
}

struct Entry {
  Layer layer;
  Outcome outcome;
};

// DESIGN §1 steps 2-6, written from the text.
Effect SpecEffect(const std::vector<Entry>& entries, Effect default_effect, bool* defaulted) {
  bool mandatory_deny = false, mandatory_allow = false, deny = false, allow = false;
  for (const Entry& e : entries) {
    Role r = SpecRole(e.layer, e.outcome);
    if (r == Role::kErrorDeny) {
      deny = true;
      if (IsMandatory(e.layer)) mandatory_deny = true;
    }
    if (r == Role::kAllow) {
      allow = true;
      if (IsMandatory(e.layer)) mandatory_allow = true;
    }
  }
  *defaulted = false;
  if (mandatory_deny) return Effect::kDeny;
  if (mandatory_allow) return Effect::kAllow;
  if (deny) return Effect::kDeny;
  if (allow) return Effect::kAllow;
  *defaulted = true;
  return default_effect;
}

Finding MakeFinding(Outcome o, const std::string& tag) {
  Finding f;
  switch (o) {
    case Outcome::kAllow:
      f.type = Finding::Type::kAllow;
      break;
    case Outcome::kDeny:
      f.type = Finding::Type::kDeny;
      break;
    case Outcome::kWarn:
      f.type = Finding::Type::kWarn;
      break;
    case Outcome::kObligate:
      f.type = Finding::Type::kObligate;
      break;
    case Outcome::kNothing:
      break;
  }
  f.message = absl::StrCat(OutcomeName(o), " from ", tag);
  f.detail = absl::StrCat("detail of ", tag);
  if (o == Outcome::kAllow || o == Outcome::kObligate) {
    f.masks.push_back({"col_" + tag, "'" + tag + "'"});
    f.row_filters.push_back("filter_" + tag);
  }
  return f;
}

std::string CaseName(const std::vector<Entry>& entries, Effect default_effect) {
  std::string s = absl::StrCat("default=", EffectName(default_effect));
  for (const Entry& e : entries) {
    absl::StrAppend(&s, " | ", LayerName(e.layer), ":", OutcomeName(e.outcome));
  }
  return s;
}

// Checks one Combine() case against the spec: effect, `defaulted`, a reason per finding with the
// right severity and effect, obligations only on ALLOW and only from allow/obligate findings of
// non-advisory policies.
void CheckCombineCase(const std::vector<Entry>& entries, Effect default_effect) {
  SCOPED_TRACE(CaseName(entries, default_effect));
  std::vector<PolicyInfo> infos;
  infos.reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    infos.push_back(MakeInfo(entries[i].layer, absl::StrCat("p", i)));
  }
  std::vector<PolicyFinding> findings;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].outcome == Outcome::kNothing) continue;
    findings.push_back({&infos[i], MakeFinding(entries[i].outcome, absl::StrCat("p", i))});
  }
  Decision d;
  Combine(findings, default_effect, d);
  bool defaulted;
  Effect want = SpecEffect(entries, default_effect, &defaulted);
  EXPECT_EQ(d.effect, want) << Describe(d);
  EXPECT_EQ(d.defaulted, defaulted) << Describe(d);
  ASSERT_EQ(d.reasons.size(), findings.size()) << Describe(d);
  size_t masks = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].outcome == Outcome::kNothing) continue;
    const Reason* r = FindReason(d, infos[i].id);
    ASSERT_NE(r, nullptr) << infos[i].id << ": " << Describe(d);
    Role role = SpecRole(entries[i].layer, entries[i].outcome);
    Severity sev = role == Role::kErrorDeny ? Severity::kError
                   : role == Role::kWarning ? Severity::kWarning
                                            : Severity::kNone;
    EXPECT_EQ(r->severity, sev) << infos[i].id;
    bool grants = entries[i].outcome == Outcome::kAllow || entries[i].outcome == Outcome::kObligate;
    EXPECT_EQ(r->effect, grants ? Effect::kAllow : Effect::kDeny) << infos[i].id;
    EXPECT_EQ(r->origin, IsDomain(entries[i].layer) ? "domain:sales" : "global");
    EXPECT_EQ(r->mode, infos[i].mode);
    EXPECT_EQ(r->message, absl::StrCat(OutcomeName(entries[i].outcome), " from p", i));
    EXPECT_EQ(r->detail, absl::StrCat("detail of p", i));
    if (want == Effect::kAllow && (role == Role::kAllow || role == Role::kObligate)) ++masks;
  }
  EXPECT_EQ(d.obligations.column_masks.size(), masks) << Describe(d);
  EXPECT_EQ(d.obligations.row_filters.size(), masks) << Describe(d);
  // Reasons are ordered: error denies, then grants and obligations, then warnings.
  auto rank = [](const Reason& r) {
    return r.severity == Severity::kError ? 0 : r.severity == Severity::kNone ? 1 : 2;
  };
  for (size_t i = 1; i < d.reasons.size(); ++i) {
    EXPECT_LE(rank(d.reasons[i - 1]), rank(d.reasons[i])) << Describe(d);
  }
}

TEST(CombineTest, EveryLayerAgainstEveryOther) {
  int cases = 0;
  for (Effect def : {Effect::kDeny, Effect::kAllow}) {
    for (Layer la : kLayers) {
      for (Outcome oa : kOutcomes) {
        CheckCombineCase({{la, oa}}, def);
        ++cases;
        for (Layer lb : kLayers) {
          for (Outcome ob : kOutcomes) {
            CheckCombineCase({{la, oa}, {lb, ob}}, def);
            ++cases;
          }
        }
      }
    }
  }
  EXPECT_EQ(cases, 2 * (35 + 35 * 35));
}

// Three findings at once, for the interactions two cannot show (e.g. a mandatory allow beating
// a domain deny while a default deny is present).
TEST(CombineTest, ThreeWayMatrix) {
  const Outcome decisive[] = {Outcome::kNothing, Outcome::kAllow, Outcome::kDeny};
  const Layer layers[] = {Layer::kMandatory, Layer::kDefault, Layer::kDomain, Layer::kAdvisory};
  for (Outcome a : decisive) {
    for (Outcome b : decisive) {
      for (Outcome c : decisive) {
        for (Layer advisory_or_domain : layers) {
          CheckCombineCase({{Layer::kMandatory, a}, {Layer::kDefault, b}, {advisory_or_domain, c}},
                           Effect::kDeny);
        }
      }
    }
  }
}

// The spec's rules spelled out, independent of the oracle above.
TEST(CombineTest, SpelledOutRules) {
  struct Case {
    std::vector<Entry> entries;
    Effect default_effect;
    Effect want;
    bool defaulted;
  };
  const Case cases[] = {
      // 2. a mandatory deny is final, whatever else says allow.
      {{{Layer::kMandatory, Outcome::kDeny},
        {Layer::kMandatory, Outcome::kAllow},
        {Layer::kDomain, Outcome::kAllow}},
       Effect::kAllow,
       Effect::kDeny,
       false},
      // 3. a mandatory allow is a guaranteed grant: domain and default denies cannot remove it.
      {{{Layer::kMandatory, Outcome::kAllow},
        {Layer::kDomain, Outcome::kDeny},
        {Layer::kDefault, Outcome::kDeny}},
       Effect::kDeny,
       Effect::kAllow,
       false},
      // 4. a domain deny beats a default allow, and a default deny beats a domain allow.
      {{{Layer::kDefault, Outcome::kAllow}, {Layer::kDomain, Outcome::kDeny}},
       Effect::kAllow,
       Effect::kDeny,
       false},
      {{{Layer::kDefault, Outcome::kDeny}, {Layer::kDomain, Outcome::kAllow}},
       Effect::kAllow,
       Effect::kDeny,
       false},
      // 5. any allow.
      {{{Layer::kDomain, Outcome::kAllow}}, Effect::kDeny, Effect::kAllow, false},
      // 6. nothing: the kind's default.
      {{}, Effect::kDeny, Effect::kDeny, true},
      {{}, Effect::kAllow, Effect::kAllow, true},
      // Severity-warning denies never deny, even from a mandatory policy.
      {{{Layer::kMandatorySevWarning, Outcome::kDeny}, {Layer::kDomain, Outcome::kAllow}},
       Effect::kDeny,
       Effect::kAllow,
       false},
      {{{Layer::kDomainSevWarning, Outcome::kDeny}}, Effect::kAllow, Effect::kAllow, true},
      // warn() never denies.
      {{{Layer::kMandatory, Outcome::kWarn}}, Effect::kAllow, Effect::kAllow, true},
      // Advisory findings never change the effect, either way.
      {{{Layer::kAdvisory, Outcome::kDeny}}, Effect::kAllow, Effect::kAllow, true},
      {{{Layer::kAdvisory, Outcome::kAllow}}, Effect::kDeny, Effect::kDeny, true},
      {{{Layer::kAdvisory, Outcome::kDeny}, {Layer::kDomain, Outcome::kAllow}},
       Effect::kDeny,
       Effect::kAllow,
       false},
      // obligate() never grants.
      {{{Layer::kMandatory, Outcome::kObligate}}, Effect::kDeny, Effect::kDeny, true},
      {{{Layer::kMandatory, Outcome::kObligate}, {Layer::kDomain, Outcome::kAllow}},
       Effect::kDeny,
       Effect::kAllow,
       false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(CaseName(c.entries, c.default_effect));
    std::vector<PolicyInfo> infos;
    for (size_t i = 0; i < c.entries.size(); ++i) {
      infos.push_back(MakeInfo(c.entries[i].layer, absl::StrCat("p", i)));
    }
    std::vector<PolicyFinding> findings;
    for (size_t i = 0; i < c.entries.size(); ++i) {
      findings.push_back({&infos[i], MakeFinding(c.entries[i].outcome, absl::StrCat("p", i))});
    }
    Decision d;
    Combine(findings, c.default_effect, d);
    EXPECT_EQ(d.effect, c.want) << Describe(d);
    EXPECT_EQ(d.defaulted, c.defaulted) << Describe(d);
  }
}

// --- Obligations. ---

struct ObligationFixture {
  PolicyInfo mandatory = MakeInfo(Layer::kMandatory, "m");
  PolicyInfo def = MakeInfo(Layer::kDefault, "d");
  PolicyInfo def2 = MakeInfo(Layer::kDefault, "d2");
  PolicyInfo domain = MakeInfo(Layer::kDomain, "s");
  PolicyInfo advisory = MakeInfo(Layer::kAdvisory, "a");
};

Finding Grant(Finding::Type type, std::vector<ColumnMask> masks,
              std::vector<std::string> filters = {}) {
  Finding f;
  f.type = type;
  f.message = "m";
  f.masks = std::move(masks);
  f.row_filters = std::move(filters);
  return f;
}

TEST(CombineTest, MandatoryMaskWinsAConflictWhateverTheOrder) {
  ObligationFixture fx;
  // The domain's allow comes first in evaluation order; the mandatory obligation still wins.
  std::vector<PolicyFinding> findings = {
      {&fx.domain, Grant(Finding::Type::kAllow, {{"email", "email"}, {"phone", "NULL"}})},
      {&fx.mandatory, Grant(Finding::Type::kObligate, {{"email", "'***'"}})},
  };
  Decision d;
  Combine(findings, Effect::kDeny, d);
  ASSERT_EQ(d.effect, Effect::kAllow);
  ASSERT_EQ(d.obligations.column_masks.size(), 2u) << Describe(d);
  // Sorted by column.
  EXPECT_EQ(d.obligations.column_masks[0].column, "email");
  EXPECT_EQ(d.obligations.column_masks[0].expression, "'***'");
  EXPECT_EQ(d.obligations.column_masks[1].column, "phone");
  EXPECT_EQ(d.obligations.column_masks[1].expression, "NULL");
}

TEST(CombineTest, AmongNonMandatoryMasksTheFirstInEvaluationOrderWins) {
  ObligationFixture fx;
  std::vector<PolicyFinding> findings = {
      {&fx.def, Grant(Finding::Type::kAllow, {{"email", "first"}})},
      {&fx.def2, Grant(Finding::Type::kObligate, {{"email", "second"}})},
      {&fx.domain, Grant(Finding::Type::kAllow, {{"email", "third"}})},
  };
  Decision d;
  Combine(findings, Effect::kDeny, d);
  ASSERT_EQ(d.obligations.column_masks.size(), 1u);
  EXPECT_EQ(d.obligations.column_masks[0].expression, "first");
}

TEST(CombineTest, RowFiltersAreMergedAndDeduplicated) {
  ObligationFixture fx;
  std::vector<PolicyFinding> findings = {
      {&fx.domain, Grant(Finding::Type::kAllow, {}, {"region = 'EU'", "tenant = 7"})},
      {&fx.mandatory, Grant(Finding::Type::kObligate, {}, {"deleted = false", "region = 'EU'"})},
      {&fx.def, Grant(Finding::Type::kAllow, {}, {"year >= 2020"})},
  };
  Decision d;
  Combine(findings, Effect::kDeny, d);
  ASSERT_EQ(d.effect, Effect::kAllow);
  // Mandatory filters first, then the others in evaluation order; each once.
  EXPECT_EQ(d.obligations.row_filters, (std::vector<std::string>{"deleted = false", "region = 'EU'",
                                                                 "tenant = 7", "year >= 2020"}));
}

// The obligations against the rule written out the plain way (a set of the columns and filters
// seen, in order: mandatory policies' grants first, then the others, each in evaluation order),
// for few candidates and for many (CombineFrom drops duplicates one way for up to 16 and another
// beyond), with many conflicts.
TEST(CombineTest, ObligationsFollowTheRuleForFewAndManyCandidates) {
  ObligationFixture fx;
  const PolicyInfo* policies[] = {&fx.domain, &fx.advisory, &fx.def, &fx.mandatory, &fx.def2};
  uint32_t seed = 12345;
  auto next = [&seed](uint32_t n) {
    seed = seed * 1103515245u + 12345u;
    return (seed >> 16) % n;
  };
  for (int candidates : {0, 1, 2, 5, 16, 17, 40, 300}) {
    SCOPED_TRACE(absl::StrCat(candidates, " candidates"));
    std::vector<PolicyFinding> findings;
    for (int c = 0; c < candidates;) {
      const PolicyInfo* p = policies[next(5)];
      Finding f = Grant(next(2) == 0 ? Finding::Type::kAllow : Finding::Type::kObligate, {});
      for (uint32_t k = next(4) + 1; k > 0 && c < candidates; --k, ++c) {
        f.masks.push_back({absl::StrCat("col", next(candidates / 2 + 1)), absl::StrCat("e", c)});
        f.row_filters.push_back(absl::StrCat("f", next(candidates / 2 + 1)));
      }
      findings.push_back({p, std::move(f)});
    }
    findings.push_back({&fx.domain, Grant(Finding::Type::kAllow, {})});  // the allow stands
    std::vector<ColumnMask> masks;
    std::vector<std::string> filters;
    absl::flat_hash_set<std::string> columns, seen;
    for (bool mandatory : {true, false}) {
      for (const PolicyFinding& pf : findings) {
        if (pf.policy->mode == PolicyMode::kAdvisory ||
            (pf.policy->mode == PolicyMode::kMandatory) != mandatory) {
          continue;
        }
        for (const ColumnMask& m : pf.finding.masks) {
          if (columns.insert(m.column).second) masks.push_back(m);
        }
        for (const std::string& f : pf.finding.row_filters) {
          if (seen.insert(f).second) filters.push_back(f);
        }
      }
    }
    std::sort(masks.begin(), masks.end(),
              [](const ColumnMask& a, const ColumnMask& b) { return a.column < b.column; });
    Decision d;
    Combine(findings, Effect::kDeny, d);
    ASSERT_EQ(d.effect, Effect::kAllow) << Describe(d);
    std::vector<std::string> want, got;
    for (const ColumnMask& m : masks) want.push_back(absl::StrCat(m.column, "=", m.expression));
    for (const ColumnMask& m : d.obligations.column_masks) {
      got.push_back(absl::StrCat(m.column, "=", m.expression));
    }
    EXPECT_EQ(absl::StrJoin(got, " "), absl::StrJoin(want, " "));
    EXPECT_EQ(absl::StrJoin(d.obligations.row_filters, " "), absl::StrJoin(filters, " "));
  }
}

TEST(CombineTest, NoObligationsOnADeny) {
  ObligationFixture fx;
  Finding deny;
  deny.type = Finding::Type::kDeny;
  std::vector<PolicyFinding> findings = {
      {&fx.mandatory, Grant(Finding::Type::kObligate, {{"email", "'***'"}}, {"f"})},
      {&fx.domain, Grant(Finding::Type::kAllow, {{"phone", "NULL"}})},
      {&fx.def, deny},
  };
  Decision d;
  Combine(findings, Effect::kAllow, d);
  EXPECT_EQ(d.effect, Effect::kDeny);
  EXPECT_TRUE(d.obligations.empty()) << Describe(d);
}

TEST(CombineTest, AdvisoryObligationsAreNotEnforced) {
  ObligationFixture fx;
  std::vector<PolicyFinding> findings = {
      {&fx.advisory, Grant(Finding::Type::kObligate, {{"email", "'***'"}}, {"f"})},
      {&fx.advisory, Grant(Finding::Type::kAllow, {{"phone", "NULL"}})},
      {&fx.domain, Grant(Finding::Type::kAllow, {})},
  };
  Decision d;
  Combine(findings, Effect::kDeny, d);
  EXPECT_EQ(d.effect, Effect::kAllow);
  EXPECT_TRUE(d.obligations.empty()) << Describe(d);
  int warnings = 0;
  for (const Reason& r : d.reasons) warnings += r.severity == Severity::kWarning;
  EXPECT_EQ(warnings, 2);
}

// --- Step 1 alone: SelectPolicies over a policy table, no Lua. ---

PolicyInfo TableEntry(const std::string& id, const std::string& mode,
                      std::vector<Kind> kinds = {Kind::kAccess}, const std::string& overrides = "",
                      std::vector<std::string> actions = {}) {
  PolicyInfo p;
  p.id = id;
  p.mode = *ParsePolicyMode(mode);
  p.kinds = std::move(kinds);
  p.overrides = overrides;
  p.actions = std::move(actions);
  if (mode == "domain") p.domain = id.substr(0, id.find('.'));
  return p;
}

std::vector<std::string> Ids(const std::vector<PolicyInfo>& table, const Selection& s) {
  std::vector<std::string> ids;
  for (size_t i : s.run) ids.push_back(table[i].id);
  return ids;
}

std::vector<std::string> OverriddenIds(const std::vector<PolicyInfo>& table, const Selection& s) {
  std::vector<std::string> ids;
  for (size_t i : s.overridden) ids.push_back(table[i].id);
  return ids;
}

TEST(SelectPoliciesTest, GlobalPoliciesThenTheDomainsOwnAndNoOtherDomains) {
  std::vector<PolicyInfo> table = {
      TableEntry("marketing.own", "domain"), TableEntry("global.a", "mandatory"),
      TableEntry("sales.own", "domain"),     TableEntry("global.b", "default"),
      TableEntry("global.c", "advisory"),    TableEntry("sales.second", "domain"),
  };
  PolicyIndex index = IndexPolicies(table);
  std::string action = "read";
  Selection sales = SelectPolicies(table, index, Kind::kAccess, "sales", &action);
  EXPECT_EQ(Ids(table, sales), (std::vector<std::string>{"global.a", "global.b", "global.c",
                                                         "sales.own", "sales.second"}));
  EXPECT_EQ(sales.globals, 3u);
  EXPECT_TRUE(sales.overridden.empty());
  // A resource no domain owns: the global policies only.
  Selection none = SelectPolicies(table, index, Kind::kAccess, "", &action);
  EXPECT_EQ(Ids(table, none), (std::vector<std::string>{"global.a", "global.b", "global.c"}));
  EXPECT_EQ(none.globals, 3u);
  Selection unknown = SelectPolicies(table, index, Kind::kAccess, "hr", &action);
  EXPECT_EQ(Ids(table, unknown), Ids(table, none));
}

TEST(SelectPoliciesTest, AnOverrideReplacesADefaultPolicyForItsOwnDomainOnly) {
  std::vector<PolicyInfo> table = {
      TableEntry("global.grants", "default"),
      TableEntry("global.guard", "mandatory"),
      TableEntry("sales.grants", "domain", {Kind::kAccess}, "global.grants"),
      // Load refuses an override of a mandatory policy; selection never honours one either.
      TableEntry("finance.guard", "domain", {Kind::kAccess}, "global.guard"),
  };
  PolicyIndex index = IndexPolicies(table);
  Selection sales = SelectPolicies(table, index, Kind::kAccess, "sales", nullptr);
  EXPECT_EQ(Ids(table, sales), (std::vector<std::string>{"global.guard", "sales.grants"}));
  EXPECT_EQ(sales.globals, 1u);
  EXPECT_EQ(OverriddenIds(table, sales), std::vector<std::string>{"global.grants"});
  Selection marketing = SelectPolicies(table, index, Kind::kAccess, "marketing", nullptr);
  EXPECT_EQ(Ids(table, marketing), (std::vector<std::string>{"global.grants", "global.guard"}));
  EXPECT_TRUE(marketing.overridden.empty());
  Selection finance = SelectPolicies(table, index, Kind::kAccess, "finance", nullptr);
  EXPECT_EQ(Ids(table, finance),
            (std::vector<std::string>{"global.grants", "global.guard", "finance.guard"}));
  EXPECT_TRUE(finance.overridden.empty());
}

TEST(SelectPoliciesTest, KindsAndActionsNarrowWhatRuns) {
  std::vector<PolicyInfo> table = {
      TableEntry("global.reads", "mandatory", {Kind::kAccess}, "", {"read", "select"}),
      TableEntry("global.naming", "mandatory", {Kind::kProduct, Kind::kDeployment}),
      TableEntry("global.any", "default", {Kind::kAccess, Kind::kProduct}),
      TableEntry("sales.writes", "domain", {Kind::kAccess}, "", {"write"}),
      // An override counts only where the overridden policy would have run.
      TableEntry("sales.product", "domain", {Kind::kProduct}, "global.any"),
  };
  PolicyIndex index = IndexPolicies(table);
  std::string read = "read", write = "write";
  Selection r = SelectPolicies(table, index, Kind::kAccess, "sales", &read);
  EXPECT_EQ(Ids(table, r), (std::vector<std::string>{"global.reads"}));
  EXPECT_EQ(OverriddenIds(table, r), std::vector<std::string>{"global.any"});
  Selection w = SelectPolicies(table, index, Kind::kAccess, "sales", &write);
  EXPECT_EQ(Ids(table, w), (std::vector<std::string>{"sales.writes"}));
  EXPECT_EQ(w.globals, 0u);
  Selection product = SelectPolicies(table, index, Kind::kProduct, "sales", nullptr);
  EXPECT_EQ(Ids(table, product), (std::vector<std::string>{"global.naming", "sales.product"}));
  EXPECT_EQ(OverriddenIds(table, product), std::vector<std::string>{"global.any"});
  Selection deployment = SelectPolicies(table, index, Kind::kDeployment, "marketing", nullptr);
  EXPECT_EQ(Ids(table, deployment), (std::vector<std::string>{"global.naming"}));
}

// Access requests take their policies from the index by action (PolicyIndex::ByAction): for
// every action, declared or not, by global or domain policies, once or twice, the selection is
// the kind's policies whose `actions` are empty or name it, in file order.
TEST(SelectPoliciesTest, TheActionIndexSelectsWhatTheActionsSay) {
  std::vector<PolicyInfo> table = {
      TableEntry("global.reads", "mandatory", {Kind::kAccess}, "", {"read", "select", "read"}),
      TableEntry("sales.any", "domain", {Kind::kAccess}),
      TableEntry("global.any", "default", {Kind::kAccess, Kind::kProduct}),
      TableEntry("sales.writes", "domain", {Kind::kAccess}, "", {"write", "read"}),
      TableEntry("global.products", "mandatory", {Kind::kProduct}, "", {"read"}),
      TableEntry("global.writes", "advisory", {Kind::kAccess}, "", {"write"}),
      TableEntry("marketing.reads", "domain", {Kind::kAccess}, "", {"read"}),
  };
  PolicyIndex index = IndexPolicies(table);
  for (const std::string domain : {"sales", "marketing", "", "hr"}) {
    for (const std::string action : {"read", "select", "write", "delete", ""}) {
      std::vector<std::string> expected;
      size_t globals = 0;
      for (bool global : {true, false}) {
        for (const PolicyInfo& p : table) {
          if (p.domain != (global ? "" : domain) || (!global && domain.empty())) continue;
          if (std::find(p.kinds.begin(), p.kinds.end(), Kind::kAccess) == p.kinds.end()) continue;
          if (!p.actions.empty() &&
              std::find(p.actions.begin(), p.actions.end(), action) == p.actions.end()) {
            continue;
          }
          expected.push_back(p.id);
          if (global) ++globals;
        }
      }
      Selection s = SelectPolicies(table, index, Kind::kAccess, domain, &action);
      EXPECT_EQ(Ids(table, s), expected) << domain << " " << action;
      EXPECT_EQ(s.globals, globals) << domain << " " << action;
    }
  }
}

// An access request's selection comes from the plans made at load (PolicyIndex::domain_plans):
// for every domain (with policies, with overrides, without either, none) and action (declared
// by global policies, by a domain's, by both, by none), it is the selection the lists and the
// overrides give when walked per request, overridden ids included.
TEST(SelectPoliciesTest, ThePlansMadeAtLoadSelectWhatTheListsSay) {
  std::vector<PolicyInfo> table = {
      TableEntry("global.grants", "default", {Kind::kAccess}, "", {"read", "write"}),
      TableEntry("global.guard", "mandatory", {Kind::kAccess}),
      TableEntry("global.audit", "default", {Kind::kAccess}, "", {"audit"}),
      TableEntry("global.products", "default", {Kind::kProduct}),
      TableEntry("sales.grants", "domain", {Kind::kAccess}, "global.grants", {"read"}),
      TableEntry("sales.any", "domain", {Kind::kAccess}),
      TableEntry("finance.audit", "domain", {Kind::kAccess}, "global.audit", {"export"}),
      TableEntry("finance.guard", "domain", {Kind::kAccess}, "global.guard"),
      TableEntry("marketing.products", "domain", {Kind::kProduct}),
  };
  PolicyIndex index = IndexPolicies(table);
  ASSERT_TRUE(index.plans_built);
  PolicyIndex walked = index;
  walked.plans_built = false;  // SelectPolicies walks the lists, as before the plans
  for (const std::string domain : {"sales", "finance", "marketing", "", "hr"}) {
    for (const std::string action : {"read", "write", "audit", "export", "delete", ""}) {
      Selection planned = SelectPolicies(table, index, Kind::kAccess, domain, &action);
      Selection expected = SelectPolicies(table, walked, Kind::kAccess, domain, &action);
      EXPECT_EQ(Ids(table, planned), Ids(table, expected)) << domain << " " << action;
      EXPECT_EQ(planned.globals, expected.globals) << domain << " " << action;
      EXPECT_EQ(planned.overridden, expected.overridden) << domain << " " << action;
    }
  }
  // What the walk gives, written out for one case each way.
  const std::string read = "read", audit = "audit";
  Selection sales = SelectPolicies(table, index, Kind::kAccess, "sales", &read);
  EXPECT_EQ(Ids(table, sales),
            (std::vector<std::string>{"global.guard", "sales.grants", "sales.any"}));
  EXPECT_EQ(sales.globals, 1u);
  EXPECT_EQ(OverriddenIds(table, sales), std::vector<std::string>{"global.grants"});
  Selection finance = SelectPolicies(table, index, Kind::kAccess, "finance", &audit);
  EXPECT_EQ(Ids(table, finance), (std::vector<std::string>{"global.guard", "finance.guard"}));
  EXPECT_EQ(OverriddenIds(table, finance), std::vector<std::string>{"global.audit"});
  // The selection's storage is reused (Bundle::Evaluate): nothing of the one before stays.
  Selection reused = sales;
  SelectPolicies(table, index, Kind::kAccess, "hr", &audit, reused);
  EXPECT_EQ(Ids(table, reused), (std::vector<std::string>{"global.guard", "global.audit"}));
  EXPECT_EQ(reused.globals, 2u);
  EXPECT_TRUE(reused.overridden.empty());
}

// --- Faults alone: AddOutcome. ---

TEST(AddOutcomeTest, AFaultIsOneDenyFindingThatSaysSoAndIsRecorded) {
  PolicyInfo p = MakeInfo(Layer::kDomain, "broken");
  CheckOutcome outcome;
  outcome.fault = PolicyFault::Type::kBudget;
  outcome.error = "instruction budget exceeded";
  outcome.findings.push_back(MakeFinding(Outcome::kAllow, "ignored"));
  int asked = 0;
  auto waiver_for = [&](const PolicyInfo&) -> const Waiver* {
    ++asked;
    return nullptr;
  };
  std::vector<PolicyFinding> findings;
  std::vector<PolicyFault> faults;
  AddOutcome(p, outcome, waiver_for, findings, faults);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].policy, &p);
  EXPECT_EQ(findings[0].finding.type, Finding::Type::kDeny);
  EXPECT_EQ(findings[0].finding.message,
            "policy sales.broken could not decide (budget); failing closed");
  EXPECT_EQ(findings[0].finding.detail, "instruction budget exceeded");
  EXPECT_EQ(findings[0].waiver, nullptr);
  EXPECT_EQ(asked, 0);  // a fault is never waived
  ASSERT_EQ(faults.size(), 1u);
  EXPECT_EQ(faults[0].policy_id, "sales.broken");
  EXPECT_EQ(faults[0].type, PolicyFault::Type::kBudget);

  Decision d;
  Combine(findings, Effect::kAllow, d);
  EXPECT_EQ(d.effect, Effect::kDeny) << Describe(d);
}

TEST(AddOutcomeTest, AnAdvisoryPolicysFaultOnlyWarns) {
  PolicyInfo p = MakeInfo(Layer::kAdvisory, "broken");
  CheckOutcome outcome;
  outcome.fault = PolicyFault::Type::kError;
  outcome.error = "attempt to index a nil value";
  std::vector<PolicyFinding> findings;
  std::vector<PolicyFault> faults;
  AddOutcome(
      p, outcome, [](const PolicyInfo&) -> const Waiver* { return nullptr; }, findings, faults);
  ASSERT_EQ(faults.size(), 1u);
  Decision d;
  Combine(findings, Effect::kAllow, d);
  EXPECT_EQ(d.effect, Effect::kAllow) << Describe(d);
  ASSERT_EQ(d.reasons.size(), 1u);
  EXPECT_EQ(d.reasons[0].severity, Severity::kWarning);
  EXPECT_EQ(d.reasons[0].message, "policy global.broken could not decide (error); failing closed");
}

TEST(AddOutcomeTest, OnlyDenyFindingsAskForAWaiver) {
  PolicyInfo p = MakeInfo(Layer::kDefault, "p");
  Waiver waiver;
  waiver.id = "w-1";
  CheckOutcome outcome;
  for (Outcome o : {Outcome::kAllow, Outcome::kDeny, Outcome::kWarn, Outcome::kObligate}) {
    outcome.findings.push_back(MakeFinding(o, "p"));
  }
  int asked = 0;
  std::vector<PolicyFinding> findings;
  std::vector<PolicyFault> faults;
  AddOutcome(
      p, outcome,
      [&](const PolicyInfo& policy) -> const Waiver* {
        ++asked;
        EXPECT_EQ(&policy, &p);
        return &waiver;
      },
      findings, faults);
  EXPECT_EQ(asked, 1);
  ASSERT_EQ(findings.size(), 4u);
  for (const PolicyFinding& f : findings) {
    EXPECT_EQ(f.waiver, f.finding.type == Finding::Type::kDeny ? &waiver : nullptr);
  }
  EXPECT_TRUE(faults.empty());
}

// --- Step 6 alone. ---

TEST(DefaultTest, TheKindsDefaultAndTheClosedDefaultsReason) {
  KindDefaults defaults;
  defaults.product = Effect::kDeny;
  EXPECT_EQ(DefaultEffect(defaults, Kind::kAccess), Effect::kDeny);
  EXPECT_EQ(DefaultEffect(defaults, Kind::kProduct), Effect::kDeny);
  EXPECT_EQ(DefaultEffect(defaults, Kind::kDeployment), Effect::kAllow);

  Decision closed;
  Combine({}, Effect::kDeny, closed);
  closed.evaluated_policies = {"global.a", "sales.b"};
  ExplainClosedDefault(closed);
  ASSERT_EQ(closed.reasons.size(), 1u);
  EXPECT_EQ(closed.reasons[0].policy_id, kDefaultReasonId);
  EXPECT_EQ(closed.reasons[0].severity, Severity::kError);
  EXPECT_EQ(closed.reasons[0].message,
            "no policy allowed this; policies that ran: global.a, sales.b");

  Decision open;
  Combine({}, Effect::kAllow, open);
  ExplainClosedDefault(open);
  EXPECT_TRUE(open.reasons.empty());
  Decision decided;
  PolicyInfo p = MakeInfo(Layer::kMandatory, "p");
  Combine({{&p, MakeFinding(Outcome::kDeny, "p")}}, Effect::kDeny, decided);
  ExplainClosedDefault(decided);
  EXPECT_EQ(decided.reasons.size(), 1u);
}

// --- End to end through Bundle::Evaluate. ---

std::string LuaFinding(Outcome o, const std::string& tag) {
  switch (o) {
    case Outcome::kNothing:
      return "return nil";
    case Outcome::kAllow:
      return absl::StrCat("return allow('allow from ", tag, "', {masks = {col_", tag, " = \"'", tag,
                          "'\"}, row_filters = {'filter_", tag, "'}})");
    case Outcome::kDeny:
      return absl::StrCat("return deny('deny from ", tag, "')");
    case Outcome::kWarn:
      return absl::StrCat("return warn('warn from ", tag, "', {detail = 'detail of ", tag, "'})");
    case Outcome::kObligate:
      return absl::StrCat("return obligate('obligate from ", tag, "', {masks = {col_", tag,
                          " = \"'", tag, "'\"}, row_filters = {'filter_", tag, "'}})");
  }
  return "";
}

// The bundle file and source of a policy of layer `l` named `name`.
std::pair<std::string, std::string> LuaPolicy(Layer l, const std::string& name, Outcome o) {
  std::string fields;
  if (SevWarning(l)) fields += "  severity = 'warning',\n";
  if (!IsDomain(l)) {
    fields += absl::StrCat("  mode = '",
                           IsMandatory(l)          ? "mandatory"
                           : l == Layer::kAdvisory ? "advisory"
                                                   : "default",
                           "',\n");
  }
  std::string id = IsDomain(l) ? "sales." + name : "global." + name;
  std::string file = IsDomain(l) ? "domains/sales/" + name + ".lua" : "global/" + name + ".lua";
  return {file, Policy(id, LuaFinding(o, name), fields, "'access', 'product', 'deployment'")};
}

ProductRequest SalesProduct() {
  ProductRequest r;
  r.product = Value::EmptyMap();
  Value md = Value::EmptyMap();
  md.Set("name", "some-product");
  md.Set("domain", "sales");
  r.product.Set("metadata", std::move(md));
  r.requester.id = "ci";
  return r;
}

DeploymentRequest SalesDeployment() {
  DeploymentRequest r;
  r.product = SalesProduct().product;
  r.environment = "production";
  return r;
}

TEST(CombineEndToEndTest, EveryLayerAgainstEveryOther) {
  for (Layer la : kLayers) {
    for (Outcome oa : kOutcomes) {
      for (Layer lb : kLayers) {
        for (Outcome ob : kOutcomes) {
          std::vector<Entry> entries = {{la, oa}, {lb, ob}};
          BundleFiles files;
          files.files["bundle.yaml"] = BundleYaml();
          files.files.insert(LuaPolicy(la, "a", oa));
          files.files.insert(LuaPolicy(lb, "b", ob));
          auto bundle = MustLoad(files);
          ASSERT_NE(bundle, nullptr);
          const Request requests[] = {DomainAccess("sales"), SalesProduct(), SalesDeployment()};
          for (const Request& req : requests) {
            Effect def = KindOf(req) == Kind::kAccess ? Effect::kDeny : Effect::kAllow;
            SCOPED_TRACE(absl::StrCat(KindName(KindOf(req)), " ", CaseName(entries, def)));
            Decision d = MustEvaluate(*bundle, req);
            bool defaulted;
            EXPECT_EQ(d.effect, SpecEffect(entries, def, &defaulted)) << Describe(d);
            EXPECT_EQ(d.defaulted, defaulted) << Describe(d);
            EXPECT_TRUE(d.faults.empty()) << Describe(d);
            EXPECT_EQ(d.evaluated_policies.size(), 2u) << Describe(d);
            // Plus the closed default's own reason when nothing decided an access request.
            size_t want_reasons = (oa != Outcome::kNothing) + (ob != Outcome::kNothing) +
                                  (defaulted && d.effect == Effect::kDeny);
            EXPECT_EQ(d.reasons.size(), want_reasons) << Describe(d);
            const std::pair<const Entry*, const char*> named[] = {{&entries[0], "a"},
                                                                  {&entries[1], "b"}};
            size_t grants = 0;
            for (const auto& [e, name] : named) {
              if (e->outcome == Outcome::kNothing) continue;
              std::string id = absl::StrCat(IsDomain(e->layer) ? "sales." : "global.", name);
              const Reason* r = FindReason(d, id);
              ASSERT_NE(r, nullptr) << id << " " << Describe(d);
              EXPECT_EQ(r->origin, IsDomain(e->layer) ? "domain:sales" : "global");
              EXPECT_EQ(r->message, absl::StrCat(OutcomeName(e->outcome), " from ", name));
              Role role = SpecRole(e->layer, e->outcome);
              EXPECT_EQ(r->severity, role == Role::kErrorDeny ? Severity::kError
                                     : role == Role::kWarning ? Severity::kWarning
                                                              : Severity::kNone);
              if (d.effect == Effect::kAllow && (role == Role::kAllow || role == Role::kObligate)) {
                ++grants;
              }
            }
            EXPECT_EQ(d.obligations.column_masks.size(), grants) << Describe(d);
            EXPECT_EQ(d.obligations.row_filters.size(), grants) << Describe(d);
          }
        }
      }
    }
  }
}

TEST(CombineEndToEndTest, ObligateAddsMasksToAnAllowAndNeverGrants) {
  BundleFiles files;
  files.files["global/mask.lua"] =
      Policy("global.mask",
             "return obligate('PII masked', {masks = {email = \"'***'\"}, row_filters = "
             "{\"region = 'EU'\"}})");
  files.files["domains/sales/grant.lua"] =
      Policy("sales.grant",
             "if req.action == 'read' then return allow('sales analysts read', {masks = {email = "
             "'NULL', phone = 'NULL'}, row_filters = {\"region = 'EU'\", 'tenant = 1'}}) end");
  auto bundle = MustLoad(files);
  ASSERT_NE(bundle, nullptr);

  Decision d = MustEvaluate(*bundle, DomainAccess("sales", "read"));
  EXPECT_EQ(d.effect, Effect::kAllow) << Describe(d);
  ASSERT_EQ(d.obligations.column_masks.size(), 2u) << Describe(d);
  EXPECT_EQ(d.obligations.column_masks[0].column, "email");
  EXPECT_EQ(d.obligations.column_masks[0].expression, "'***'");  // mandatory wins
  EXPECT_EQ(d.obligations.column_masks[1].column, "phone");
  EXPECT_EQ(d.obligations.row_filters, (std::vector<std::string>{"region = 'EU'", "tenant = 1"}));

  // Without the domain's grant, the obligation alone grants nothing.
  d = MustEvaluate(*bundle, DomainAccess("sales", "write"));
  EXPECT_EQ(d.effect, Effect::kDeny) << Describe(d);
  EXPECT_TRUE(d.defaulted);
  EXPECT_TRUE(d.obligations.empty()) << Describe(d);
  const Reason* r = FindReason(d, "global.mask");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->effect, Effect::kAllow);
  EXPECT_EQ(r->severity, Severity::kNone);
}

TEST(CombineEndToEndTest, WarningsAndAdvisoryFindingsAreReturnedButNeverDecide) {
  BundleFiles files;
  files.files["global/grant.lua"] =
      Policy("global.grant", "return allow('granted')", "  mode = 'default',\n");
  files.files["global/advice.lua"] =
      Policy("global.advice", "return deny('would deny', {detail = 'advisory detail'})",
             "  mode = 'advisory',\n");
  files.files["global/soft.lua"] =
      Policy("global.soft", "return deny('soft deny')", "  severity = 'warning',\n");
  files.files["domains/sales/note.lua"] =
      Policy("sales.note", "return {warn('note 1', {detail = 'why'}), warn('note 2')}");
  auto bundle = MustLoad(files);
  ASSERT_NE(bundle, nullptr);
  Decision d = MustEvaluate(*bundle, DomainAccess("sales"));
  EXPECT_EQ(d.effect, Effect::kAllow) << Describe(d);
  ASSERT_EQ(d.reasons.size(), 5u) << Describe(d);
  EXPECT_EQ(d.reasons[0].policy_id, "global.grant");  // grants before warnings
  for (size_t i = 1; i < d.reasons.size(); ++i) {
    EXPECT_EQ(d.reasons[i].severity, Severity::kWarning) << Describe(d);
  }
  const Reason* advice = FindReason(d, "global.advice");
  ASSERT_NE(advice, nullptr);
  EXPECT_EQ(advice->detail, "advisory detail");
  EXPECT_EQ(PolicyModeName(advice->mode), "advisory");
  const Reason* note = FindReason(d, "sales.note");
  ASSERT_NE(note, nullptr);
  EXPECT_EQ(note->origin, "domain:sales");
  EXPECT_EQ(note->message, "note 1");
  EXPECT_EQ(note->detail, "why");
}

TEST(CombineEndToEndTest, DomainOverrideRemovesADefaultPolicyOnlyForItsOwnResources) {
  BundleFiles files;
  files.files["global/grants.lua"] =
      Policy("global.grants", "return deny('not in the access list')", "  mode = 'default',\n");
  files.files["global/guard.lua"] =
      Policy("global.guard", "if req.action == 'drop' then return deny('never') end");
  files.files["domains/sales/grants.lua"] = Policy(
      "sales.grants", "return allow('sales grants its own')", "  overrides = 'global.grants',\n");
  files.files["domains/marketing/extra.lua"] = Policy("marketing.extra", "return nil");
  auto bundle = MustLoad(files);
  ASSERT_NE(bundle, nullptr);

  Decision sales = MustEvaluate(*bundle, DomainAccess("sales"));
  EXPECT_EQ(sales.effect, Effect::kAllow) << Describe(sales);
  EXPECT_EQ(sales.overridden_policies, std::vector<std::string>{"global.grants"});
  EXPECT_EQ(sales.evaluated_policies, (std::vector<std::string>{"global.guard", "sales.grants"}));
  EXPECT_EQ(sales.domain, "sales");

  Decision marketing = MustEvaluate(*bundle, DomainAccess("marketing"));
  EXPECT_EQ(marketing.effect, Effect::kDeny) << Describe(marketing);
  EXPECT_TRUE(marketing.overridden_policies.empty());
  EXPECT_EQ(marketing.evaluated_policies,
            (std::vector<std::string>{"global.grants", "global.guard", "marketing.extra"}));
  ASSERT_NE(FindReason(marketing, "global.grants"), nullptr);

  // A resource of no known domain gets the global policy too.
  AccessRequest nobody = DomainAccess("");
  Decision none = MustEvaluate(*bundle, nobody);
  EXPECT_EQ(none.effect, Effect::kDeny);
  EXPECT_EQ(none.evaluated_policies, (std::vector<std::string>{"global.grants", "global.guard"}));

  // The override cannot weaken the mandatory guard in sales.
  Decision drop = MustEvaluate(*bundle, DomainAccess("sales", "drop"));
  EXPECT_EQ(drop.effect, Effect::kDeny) << Describe(drop);
  ASSERT_NE(FindReason(drop, "global.guard"), nullptr);
}

// A decision names policies from its bundle's table of ids, which it shares: the ids stay valid
// after the bundle is gone (a reload while the decision is still being written out), in every
// copy of the decision.
TEST(CombineEndToEndTest, ADecisionsPolicyIdsOutliveItsBundle) {
  BundleFiles files;
  files.files["global/grants.lua"] =
      Policy("global.grants-of-the-data-product", "return nil", "  mode = 'default',\n");
  files.files["global/guard.lua"] = Policy("global.guard-of-every-access", "return nil");
  files.files["domains/sales/grants.lua"] =
      Policy("sales.grants-of-the-sales-domain", "return allow('sales grants its own')",
             "  overrides = 'global.grants-of-the-data-product',\n");
  auto bundle = MustLoad(files);
  ASSERT_NE(bundle, nullptr);
  Decision d = MustEvaluate(*bundle, DomainAccess("sales"));
  Decision copy = d;
  bundle.reset();  // the last reference to the bundle
  auto replacement = MustLoad(Files({{"global/other.lua", Policy("global.other", "return nil")}}));
  ASSERT_NE(replacement, nullptr);
  MustEvaluate(*replacement, DomainAccess("sales"));
  for (const Decision* x : {&d, &copy}) {
    EXPECT_EQ(x->evaluated_policies,
              (std::vector<std::string>{"global.guard-of-every-access",
                                        "sales.grants-of-the-sales-domain"}));
    EXPECT_EQ(x->overridden_policies,
              std::vector<std::string>{"global.grants-of-the-data-product"});
  }
}

// Each worker set counts its references to the bundle's id table in a block of its own (so
// that cores deciding at once do not share one count), but the table is the bundle's one:
// decisions made on different sets name the same entries of the same table (SameEntries, which
// the decision log's kept list JSON relies on), and a set's decisions outlive it and the bundle.
TEST(CombineEndToEndTest, DecisionsOfEveryWorkerSetNameTheBundlesOneIdTable) {
  BundleFiles files;
  files.files["global/guard.lua"] = Policy("global.guard-of-every-access", "return nil");
  files.files["domains/sales/grants.lua"] =
      Policy("sales.grants-of-the-sales-domain", "return allow('sales grants its own')");
  auto bundle = MustLoad(files);
  ASSERT_NE(bundle, nullptr);
  std::vector<Decision> decisions;
  {
    // Two sessions at once hold two sets (the first decides twice, on its one set); the
    // evaluation after them takes one of those sets back from the pool.
    Bundle::Session first(*bundle);
    Bundle::Session second(*bundle);
    for (Bundle::Session* s : {&first, &second, &first}) {
      absl::StatusOr<Decision> d = s->Evaluate(DomainAccess("sales"), enginetest::Opts());
      ASSERT_TRUE(d.ok()) << d.status();
      decisions.push_back(*std::move(d));
    }
  }
  decisions.push_back(MustEvaluate(*bundle, DomainAccess("sales")));
  bundle.reset();
  for (const Decision& d : decisions) {
    EXPECT_EQ(d.evaluated_policies, (std::vector<std::string>{"global.guard-of-every-access",
                                                              "sales.grants-of-the-sales-domain"}));
    EXPECT_TRUE(d.evaluated_policies.SameEntries(decisions[0].evaluated_policies));
  }
}

TEST(CombineEndToEndTest, DefaultsComeFromBundleYaml) {
  const Request requests[] = {DomainAccess("sales"), SalesProduct(), SalesDeployment()};
  {
    // The built-in defaults: access closed, validations open.
    auto bundle = MustLoad(Files({{"bundle.yaml", BundleYaml()}}));
    ASSERT_NE(bundle, nullptr);
    const Effect want[] = {Effect::kDeny, Effect::kAllow, Effect::kAllow};
    for (int i = 0; i < 3; ++i) {
      Decision d = MustEvaluate(*bundle, requests[i]);
      EXPECT_EQ(d.effect, want[i]) << KindName(KindOf(requests[i]));
      EXPECT_TRUE(d.defaulted);
      if (want[i] == Effect::kDeny) {
        // A closed default says so, and what ran (nothing here).
        ASSERT_EQ(d.reasons.size(), 1u) << Describe(d);
        EXPECT_EQ(d.reasons[0].policy_id, kDefaultReasonId);
        EXPECT_EQ(d.reasons[0].message, "no policy allowed this; policies that ran: none");
      } else {
        EXPECT_TRUE(d.reasons.empty());
      }
    }
  }
  {
    auto bundle = MustLoad(
        Files({{"bundle.yaml",
                BundleYaml("defaults: {access: allow, product: deny, deployment: deny}\n")}}));
    ASSERT_NE(bundle, nullptr);
    EXPECT_EQ(bundle->defaults().access, Effect::kAllow);
    const Effect want[] = {Effect::kAllow, Effect::kDeny, Effect::kDeny};
    for (int i = 0; i < 3; ++i) {
      Decision d = MustEvaluate(*bundle, requests[i]);
      EXPECT_EQ(d.effect, want[i]) << KindName(KindOf(requests[i]));
      EXPECT_TRUE(d.defaulted);
    }
  }
  {
    // Only the kinds a policy declares: an access-only allow leaves product to its default.
    auto bundle = MustLoad(Files({{"bundle.yaml", BundleYaml("defaults:\n  product: deny\n")},
                                  {"global/a.lua", Policy("global.a", "return allow('ok')")}}));
    ASSERT_NE(bundle, nullptr);
    Decision access = MustEvaluate(*bundle, requests[0]);
    EXPECT_EQ(access.effect, Effect::kAllow);
    Decision product = MustEvaluate(*bundle, requests[1]);
    EXPECT_EQ(product.effect, Effect::kDeny);
    EXPECT_TRUE(product.defaulted);
    EXPECT_TRUE(product.evaluated_policies.empty());
  }
  {
    auto bundle = MustLoad(Files({{"global/a.lua", Policy("global.a", "return nil")},
                                  {"global/b.lua", Policy("global.b", "return warn('w')")}}));
    ASSERT_NE(bundle, nullptr);
    Decision d = MustEvaluate(*bundle, requests[0]);
    EXPECT_EQ(d.effect, Effect::kDeny);
    const Reason* r = FindReason(d, kDefaultReasonId);
    ASSERT_NE(r, nullptr) << Describe(d);
    EXPECT_EQ(r->message, "no policy allowed this; policies that ran: global.a, global.b");
  }
}

TEST(CombineEndToEndTest, DecisionNamesItsIdRevisionAndPolicies) {
  auto bundle = MustLoad(Files({{"bundle.yaml", "revision: \"2026.1\"\n"},
                                {"global/a.lua", Policy("global.a", "return nil")}}));
  ASSERT_NE(bundle, nullptr);
  EvalOptions o = enginetest::Opts();
  o.decision_id = "abc-123";
  Decision d = MustEvaluate(*bundle, DomainAccess("sales"), o);
  EXPECT_EQ(d.decision_id, "abc-123");
  EXPECT_EQ(d.bundle_revision, "2026.1");
  EXPECT_EQ(d.evaluated_policies, std::vector<std::string>{"global.a"});
}

}  // namespace
}  // namespace arbiter
