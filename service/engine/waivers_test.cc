// Waivers through the engine (issue 15): loading waivers/*.yaml (every problem a load error with
// file:line), matching each scope key, expiry at the boundary, what may be waived (mandatory
// policies only with `waivable = true`, a domain's policies only by waivers naming it), and that
// a waiver only ever turns its own policy's denies into warnings.
#include "service/engine/waivers.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "service/engine/bundle.h"
#include "service/engine/testing.h"

namespace arbiter {
namespace {

using enginetest::AddDomainProducts;
using enginetest::BundleYaml;
using enginetest::Describe;
using enginetest::DomainAccess;
using enginetest::FindReason;
using enginetest::IsOk;
using enginetest::Policy;
using enginetest::StatusIs;

absl::Time At(const char* rfc3339) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &err)) << err;
  return t;
}

// Load time of every bundle here: waivers' `expires` is judged against it.
const absl::Time kLoadTime = At("2027-01-01T00:00:00Z");

EvalOptions OptsAt(absl::Time now) {
  EvalOptions o;
  o.now = now;
  o.decision_id = "d-1";
  return o;
}
const absl::Time kNow = At("2027-01-15T08:00:00Z");

absl::StatusOr<std::shared_ptr<const Bundle>> LoadAt(BundleFiles files, absl::Time now) {
  if (files.files.count("bundle.yaml") == 0) files.files["bundle.yaml"] = BundleYaml();
  AddDomainProducts(files);
  LoadOptions options;
  options.now = now;
  return Bundle::Load(files, options);
}

std::shared_ptr<const Bundle> MustLoad(BundleFiles files) {
  auto b = LoadAt(std::move(files), kLoadTime);
  EXPECT_TRUE(IsOk(b));
  return b.ok() ? *b : nullptr;
}

std::string LoadError(BundleFiles files) {
  auto b = LoadAt(std::move(files), kLoadTime);
  EXPECT_TRUE(StatusIs(b, absl::StatusCode::kInvalidArgument));
  return b.ok() ? "" : std::string(b.status().message());
}

Decision Eval(const Bundle& b, const Request& r, absl::Time now = kNow) {
  absl::StatusOr<Decision> d = b.Evaluate(r, OptsAt(now));
  EXPECT_TRUE(IsOk(d));
  return d.ok() ? *std::move(d) : Decision{};
}

constexpr char kAllKinds[] = "'access', 'product', 'deployment'";

// global.gate denies everything; global.grant allows access. With gate waived, access is
// allowed by grant; without, gate's deny wins.
BundleFiles GateBundle(const std::string& waiver,
                       absl::string_view gate_fields = "mode = 'default',") {
  return enginetest::Files({
      {"global/gate.lua",
       Policy("global.gate", "return deny('gate closed')", gate_fields, kAllKinds)},
      {"global/grant.lua", Policy("global.grant", "return allow('granted')", "mode = 'default',")},
      {"waivers/w.yaml", waiver},
  });
}

std::string Waiver(absl::string_view scope, absl::string_view expires = "2027-03-01",
                   absl::string_view policy = "global.gate") {
  return absl::StrCat("id: W-12\npolicy: ", policy, "\nscope: ", scope,
                      "\nreason: legacy product without SLOs\napproved_by: governance-council\n"
                      "expires: ",
                      expires, "\nticket: GOV-311\n");
}

AccessRequest AccessBy(absl::string_view principal, absl::string_view domain) {
  AccessRequest r = DomainAccess(domain);
  r.principal.id = std::string(principal);
  return r;
}

Value ProductDoc(absl::string_view name, absl::string_view domain) {
  Value meta = Value::EmptyMap();
  meta.Add("name", std::string(name));
  meta.Add("domain", std::string(domain));
  Value doc = Value::EmptyMap();
  doc.Add("metadata", std::move(meta));
  return doc;
}

DeploymentRequest Deploy(absl::string_view env, absl::string_view product = "sales-data") {
  DeploymentRequest d;
  d.product = ProductDoc(product, "sales");
  d.environment = std::string(env);
  d.requester.id = "ci";
  return d;
}

ProductRequest Register(absl::string_view product = "sales-data") {
  ProductRequest p;
  p.product = ProductDoc(product, "sales");
  p.requester.id = "ci";
  return p;
}

// True when the decision reports gate's deny as a warning naming W-12.
bool Waived(const Decision& d) {
  const Reason* r = FindReason(d, "global.gate");
  return r != nullptr && r->waiver == "W-12" && r->severity == Severity::kWarning;
}

TEST(WaiverTest, WaivedDenyIsAWarningThatSaysSo) {
  auto b = MustLoad(GateBundle(Waiver("{domain: sales}")));
  ASSERT_NE(b, nullptr);
  Decision d = Eval(*b, DomainAccess("sales"));
  EXPECT_EQ(d.effect, Effect::kAllow) << Describe(d);
  const Reason* r = FindReason(d, "global.gate");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->severity, Severity::kWarning);
  EXPECT_EQ(r->effect, Effect::kDeny);
  EXPECT_EQ(r->waiver, "W-12");
  EXPECT_EQ(r->message,
            "gate closed [waived by W-12, approved by governance-council, until 2027-03-01: "
            "legacy product without SLOs]");
  ASSERT_EQ(b->waivers().size(), 1u);
  EXPECT_EQ(b->waivers()[0].ticket, "GOV-311");
  EXPECT_EQ(b->waivers()[0].line, 1);
}

TEST(WaiverTest, ScopeDomain) {
  auto b = MustLoad(GateBundle(Waiver("{domain: sales}")));
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(Waived(Eval(*b, DomainAccess("sales"))));
  Decision other = Eval(*b, DomainAccess("marketing"));
  EXPECT_FALSE(Waived(other)) << Describe(other);
  EXPECT_EQ(other.effect, Effect::kDeny);
}

TEST(WaiverTest, ScopeProduct) {
  auto b = MustLoad(GateBundle(Waiver("{product: sales-data}")));
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(Waived(Eval(*b, DomainAccess("sales"))));
  EXPECT_FALSE(Waived(Eval(*b, DomainAccess("finance"))));
  // Product and deployment requests name the product in metadata.name.
  EXPECT_TRUE(Waived(Eval(*b, Register("sales-data"))));
  EXPECT_FALSE(Waived(Eval(*b, Register("sales-other"))));
  EXPECT_TRUE(Waived(Eval(*b, Deploy("production", "sales-data"))));
}

TEST(WaiverTest, ScopePrincipal) {
  auto b = MustLoad(GateBundle(Waiver("{principal: ana}")));
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(Waived(Eval(*b, AccessBy("ana", "sales"))));
  EXPECT_FALSE(Waived(Eval(*b, AccessBy("bob", "sales"))));
  // Product and deployment requests: the requester.
  EXPECT_FALSE(Waived(Eval(*b, Register())));
}

TEST(WaiverTest, ScopePrincipalOfASharedBatchPrincipal) {
  // A Trino batch's checks share one principal (EvalOptions::principal); theirs is left empty.
  auto b = MustLoad(GateBundle(Waiver("{principal: ana}")));
  ASSERT_NE(b, nullptr);
  AccessRequest r = DomainAccess("sales");
  SharedPrincipal ana(r.principal);
  r.principal = Principal();
  EvalOptions o = OptsAt(kNow);
  o.principal = &ana;
  absl::StatusOr<Decision> d = b->Evaluate(r, o);
  ASSERT_TRUE(IsOk(d));
  EXPECT_TRUE(Waived(*d)) << Describe(*d);
}

TEST(WaiverTest, ScopeEnvironment) {
  auto b = MustLoad(GateBundle(Waiver("{environment: staging}")));
  ASSERT_NE(b, nullptr);
  Decision staging = Eval(*b, Deploy("staging"));
  EXPECT_TRUE(Waived(staging));
  EXPECT_EQ(staging.effect, Effect::kAllow) << Describe(staging);  // the deployment default
  Decision prod = Eval(*b, Deploy("production"));
  EXPECT_FALSE(Waived(prod));
  EXPECT_EQ(prod.effect, Effect::kDeny);
  // Access requests have no environment: an environment-scoped waiver never matches them.
  EXPECT_FALSE(Waived(Eval(*b, DomainAccess("sales"))));
}

TEST(WaiverTest, ScopeKind) {
  auto b = MustLoad(GateBundle(Waiver("{kind: product}")));
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(Waived(Eval(*b, Register())));
  EXPECT_FALSE(Waived(Eval(*b, DomainAccess("sales"))));
  EXPECT_FALSE(Waived(Eval(*b, Deploy("production"))));
}

TEST(WaiverTest, EveryScopeKeyMustMatch) {
  auto b = MustLoad(GateBundle(Waiver("{domain: sales, principal: ana, kind: access}")));
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(Waived(Eval(*b, AccessBy("ana", "sales"))));
  EXPECT_FALSE(Waived(Eval(*b, AccessBy("ana", "marketing"))));
  EXPECT_FALSE(Waived(Eval(*b, AccessBy("bob", "sales"))));
}

TEST(WaiverTest, ExpiryAtTheBoundary) {
  auto b = MustLoad(GateBundle(Waiver("{domain: sales}", "2027-01-15T08:00:00Z")));
  ASSERT_NE(b, nullptr);
  absl::Time expires = At("2027-01-15T08:00:00Z");
  EXPECT_TRUE(Waived(Eval(*b, DomainAccess("sales"), expires - absl::Seconds(1))));
  Decision at = Eval(*b, DomainAccess("sales"), expires);
  EXPECT_FALSE(Waived(at)) << Describe(at);
  EXPECT_EQ(at.effect, Effect::kDeny);
  EXPECT_FALSE(Waived(Eval(*b, DomainAccess("sales"), expires + absl::Hours(24))));
}

TEST(WaiverTest, DateOnlyExpiresAtMidnightUtcAndOffsetsCount) {
  auto b = MustLoad(GateBundle(Waiver("{domain: sales}", "2027-03-01")));
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(Waived(Eval(*b, DomainAccess("sales"), At("2027-02-28T23:59:59Z"))));
  EXPECT_FALSE(Waived(Eval(*b, DomainAccess("sales"), At("2027-03-01T00:00:00Z"))));

  auto z = MustLoad(GateBundle(Waiver("{domain: sales}", "2027-03-01T10:00:00+02:00")));
  ASSERT_NE(z, nullptr);
  EXPECT_TRUE(Waived(Eval(*z, DomainAccess("sales"), At("2027-03-01T07:59:59Z"))));
  EXPECT_FALSE(Waived(Eval(*z, DomainAccess("sales"), At("2027-03-01T08:00:00Z"))));
}

TEST(WaiverTest, NeverTouchesAnotherPolicy) {
  BundleFiles files = GateBundle(Waiver("{domain: sales}"));
  files.files["global/other.lua"] = Policy("global.other", "return deny('other says no')");
  auto b = MustLoad(files);
  ASSERT_NE(b, nullptr);
  Decision d = Eval(*b, DomainAccess("sales"));
  EXPECT_EQ(d.effect, Effect::kDeny) << Describe(d);
  EXPECT_TRUE(Waived(d));
  const Reason* other = FindReason(d, "global.other");
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->severity, Severity::kError);
  EXPECT_EQ(other->waiver, "");
}

TEST(WaiverTest, NeverAllowsByItself) {
  // Without global.grant nothing allows: the waived deny leaves access to its closed default.
  BundleFiles files = enginetest::Files({
      {"global/gate.lua",
       Policy("global.gate", "return deny('gate closed')", "mode = 'default',", kAllKinds)},
      {"waivers/w.yaml", Waiver("{domain: sales}")},
  });
  auto b = MustLoad(files);
  ASSERT_NE(b, nullptr);
  Decision d = Eval(*b, DomainAccess("sales"));
  EXPECT_EQ(d.effect, Effect::kDeny) << Describe(d);
  EXPECT_TRUE(d.defaulted);
  EXPECT_TRUE(Waived(d));
}

TEST(WaiverTest, WarnAndAllowFindingsAreUntouched) {
  BundleFiles files = enginetest::Files({
      {"global/gate.lua",
       Policy("global.gate", "return {warn('heads up'), allow('fine')}", "mode = 'default',")},
      {"waivers/w.yaml", Waiver("{domain: sales}")},
  });
  auto b = MustLoad(files);
  ASSERT_NE(b, nullptr);
  Decision d = Eval(*b, DomainAccess("sales"));
  EXPECT_EQ(d.effect, Effect::kAllow);
  for (const Reason& r : d.reasons) EXPECT_EQ(r.waiver, "") << Describe(d);
}

TEST(WaiverTest, AFailingPolicyStillFailsClosed) {
  // A fault is the engine's deny, not the policy's finding: no waiver covers it.
  BundleFiles files = GateBundle(Waiver("{domain: sales}"));
  files.files["global/gate.lua"] =
      Policy("global.gate", "error('boom')", "mode = 'default',", kAllKinds);
  auto b = MustLoad(files);
  ASSERT_NE(b, nullptr);
  Decision d = Eval(*b, DomainAccess("sales"));
  EXPECT_EQ(d.effect, Effect::kDeny) << Describe(d);
  EXPECT_FALSE(Waived(d));
}

TEST(WaiverTest, MandatoryPolicyNeedsWaivableTrue) {
  // The gate policy is mandatory (the default mode of a global policy).
  std::string msg = LoadError(GateBundle(Waiver("{domain: sales}"), ""));
  EXPECT_TRUE(absl::StrContains(
      msg, "waivers/w.yaml:1: waiver W-12: policy global.gate is mandatory and not waivable"))
      << msg;

  auto b = MustLoad(GateBundle(Waiver("{domain: sales}"), "waivable = true,"));
  ASSERT_NE(b, nullptr);
  Decision d = Eval(*b, DomainAccess("sales"));
  EXPECT_EQ(d.effect, Effect::kAllow) << Describe(d);
  EXPECT_TRUE(Waived(d));
}

TEST(WaiverTest, PolicyMayRefuseWaivers) {
  std::string msg = LoadError(GateBundle(Waiver("{domain: sales}"),
                                         "mode = 'default', "
                                         "waivable = false,"));
  EXPECT_TRUE(absl::StrContains(msg, "policy global.gate declares waivable = false")) << msg;
  std::string typed = LoadError(GateBundle(Waiver("{domain: sales}"), "waivable = 'yes',"));
  EXPECT_TRUE(absl::StrContains(typed, "global/gate.lua:4: waivable: expected true or false"))
      << typed;
}

TEST(WaiverTest, DomainPoliciesOnlyByWaiversNamingTheDomain) {
  auto files = [](absl::string_view scope) {
    return enginetest::Files({
        {"global/grant.lua",
         Policy("global.grant", "return allow('granted')", "mode = 'default',")},
        {"domains/sales/gate.lua", Policy("sales.gate", "return deny('sales says no')")},
        {"waivers/w.yaml", Waiver(scope, "2027-03-01", "sales.gate")},
    });
  };
  for (absl::string_view scope : {"{principal: ana}", "{domain: marketing, principal: ana}"}) {
    std::string msg = LoadError(files(scope));
    EXPECT_TRUE(absl::StrContains(
        msg,
        "waivers/w.yaml:1: waiver W-12: policy sales.gate belongs to domain sales: its "
        "waivers must name it in scope"))
        << msg;
  }
  auto b = MustLoad(files("{domain: sales, principal: ana}"));
  ASSERT_NE(b, nullptr);
  Decision d = Eval(*b, AccessBy("ana", "sales"));
  EXPECT_EQ(d.effect, Effect::kAllow) << Describe(d);
  const Reason* r = FindReason(d, "sales.gate");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->waiver, "W-12");
  EXPECT_EQ(Eval(*b, AccessBy("bob", "sales")).effect, Effect::kDeny);
}

TEST(WaiverTest, LoadErrorsNameFileAndLine) {
  BundleFiles files = enginetest::Files({
      {"global/gate.lua",
       Policy("global.gate", "return deny('no')", "mode = 'default',", kAllKinds)},
      {"waivers/list.yaml",
       "- id: W-1\n"                          // 1
       "  policy: global.gate\n"              // 2
       "  scope: {domain: sales, team: x}\n"  // 3
       "  reason: r\n"                        // 4
       "  approved_by: council\n"             // 5
       "  expires: 2027-02-30\n"              // 6
       "- id: W-2\n"                          // 7
       "  policy: global.nope\n"              // 8
       "  scope: {kind: access}\n"            // 9
       "  reason: r\n"                        // 10
       "  expires: 2027-02-01\n"              // 11
       "  colour: red\n"                      // 12
       "- id: W-3\n"                          // 13
       "  policy: global.gate\n"              // 14
       "  scope: {kind: batch}\n"             // 15
       "  reason: r\n"                        // 16
       "  approved_by: council\n"             // 17
       "  expires: 2028-01-01\n"},            // 18
      {"waivers/ok.yaml",
       "id: W-1\npolicy: global.nope\nscope: {domain: sales}\nreason: r\napproved_by: c\n"
       "expires: 2027-02-01\n"},
      {"waivers/noscope.yaml",
       "id: W-4\npolicy: global.gate\nreason: r\napproved_by: c\nexpires: '2027-02-01'\n"},
      {"waivers/notes.txt", "x"},
  });
  std::string msg = LoadError(files);
  for (const char* want : {
           "waivers/list.yaml:3: scope: unknown key \"team\"",
           "waivers/list.yaml:6: expires: \"2027-02-30\" is not an RFC 3339 date",
           "waivers/list.yaml:7: approved_by: required",
           "waivers/list.yaml:12: unknown key \"colour\" (allowed: id, policy, scope, reason, "
           "approved_by, expires, ticket)",
           "waivers/list.yaml:15: scope.kind: \"batch\" is not one of access, product, deployment",
           "waivers/list.yaml:18: expires: 2028-01-01 is more than 180 days ahead "
           "(bundle.yaml waivers.max_days)",
           "waivers/ok.yaml:1: waiver W-1: policy global.nope: no such policy in the bundle",
           "waivers/noscope.yaml:1: scope: required",
           "waivers/notes.txt:1: waivers/ holds waiver files",
       }) {
    EXPECT_TRUE(absl::StrContains(msg, want)) << want << "\n" << msg;
  }
}

TEST(WaiverTest, DuplicateIdsAndMaxDaysFromBundleYaml) {
  BundleFiles files = GateBundle(Waiver("{domain: sales}", "2027-03-01"));
  files.files["waivers/again.yaml"] = Waiver("{domain: finance}", "2027-01-20");
  files.files["bundle.yaml"] = BundleYaml("waivers: {max_days: 30}\n");
  std::string msg = LoadError(files);
  EXPECT_TRUE(absl::StrContains(msg,
                                "waivers/w.yaml:6: expires: 2027-03-01 is more than 30 days "
                                "ahead (bundle.yaml waivers.max_days)"))
      << msg;
  // W-12 is in both files; only the one that parsed is checked against the other's id.
  files.files["waivers/w.yaml"] = Waiver("{domain: sales}", "2027-01-25");
  msg = LoadError(files);
  EXPECT_TRUE(
      absl::StrContains(msg, "waiver W-12: duplicate waiver id (also in waivers/again.yaml:1)"))
      << msg;
  files.files["bundle.yaml"] = BundleYaml("waivers: {max_days: 0}\n");
  msg = LoadError(files);
  EXPECT_TRUE(absl::StrContains(msg, "bundle.yaml:2: waivers.max_days: expected a number of days"))
      << msg;
}

TEST(WaiverTest, ExpiredWaiversStillLoad) {
  // A bundle must keep loading after its waivers lapse (a server reloads it as it is); they
  // simply no longer apply.
  auto b = LoadAt(GateBundle(Waiver("{domain: sales}", "2027-01-02")), At("2027-06-01T00:00:00Z"));
  ASSERT_TRUE(IsOk(b));
  EXPECT_FALSE(Waived(Eval(**b, DomainAccess("sales"), At("2027-06-01T00:00:00Z"))));
}

}  // namespace
}  // namespace arbiter
