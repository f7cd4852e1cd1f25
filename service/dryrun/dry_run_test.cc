#include "service/dryrun/dry_run.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "service/convert/convert.h"
#include "service/dryrun/report.h"
#include "service/engine/testing.h"

namespace arbiter {
namespace {

using enginetest::BundleYaml;
using enginetest::Files;
using enginetest::IsOk;
using enginetest::MustLoad;
using enginetest::Policy;
using enginetest::StatusIs;

// The active bundle: sales grants reads to analysts; access is closed otherwise. `orders` is
// sales' product and `leads` marketing's (ownership comes from the catalog).
BundleFiles ActiveFiles() {
  return Files({{"bundle.yaml", BundleYaml()},
                {"catalog/products/orders.yaml", "metadata: {name: orders, domain: sales}\n"},
                {"catalog/products/leads.yaml", "metadata: {name: leads, domain: marketing}\n"},
                {"domains/sales/grant.lua",
                 Policy("sales.grant",
                        "if has_role(req.principal, 'analyst') then return allow('analysts "
                        "read') end")}});
}

// The candidate: the same grant, plus a sales rule that refuses principals outside the EU and
// one that lets auditors in.
BundleFiles CandidateFiles() {
  BundleFiles f = ActiveFiles();
  f.files["bundle.yaml"] = "revision: r2\n";
  f.files["domains/sales/region.lua"] = Policy(
      "sales.region", "if req.principal.attributes.region ~= 'EU' then return deny('EU only') end");
  f.files["domains/sales/audit.lua"] =
      Policy("sales.audit", "if has_role(req.principal, 'auditor') then return allow('audit') end");
  return f;
}

// One access case as a decision-log line would carry it.
DryRunInput Access(const std::string& id, const std::string& role, const std::string& region,
                   const std::string& domain = "sales") {
  std::string json = absl::StrCat(R"({"principal":{"id":")", id, R"(","roles":[")", role,
                                  R"("],"attributes":{"region":")", region,
                                  R"("}},"action":"read","resource":{"product":")",
                                  domain == "sales" ? "orders" : "leads", R"("}})");
  absl::StatusOr<v1::DryRunCase> c = CaseFromJson(Kind::kAccess, json);
  EXPECT_TRUE(IsOk(c));
  return {c.ok() ? *c : v1::DryRunCase(), ""};
}

v1::DryRunResponse MustCompare(const std::vector<DryRunInput>& inputs, DryRunOptions options = {}) {
  auto active = MustLoad(ActiveFiles());
  auto candidate = MustLoad(CandidateFiles());
  absl::StatusOr<v1::DryRunResponse> r = CompareBundles(*active, *candidate, inputs, options);
  EXPECT_TRUE(IsOk(r));
  return r.ok() ? *r : v1::DryRunResponse();
}

TEST(ParseCaseLineTest, ReadsADecisionLogLine) {
  absl::StatusOr<v1::DryRunCase> c = ParseCaseLine(
      R"({"decision_id":"abc-1","time":"2026-11-21T10:00:00.5Z","kind":"access",)"
      R"("request":{"principal":{"id":"ana"},"action":"read","resource":{"table":"a.b.c"}},)"
      R"("effect":"allow","reasons":[],"latency_us":12})");
  ASSERT_TRUE(IsOk(c));
  EXPECT_EQ(c->access().principal().id(), "ana");
  EXPECT_EQ(c->access().resource().table(), "a.b.c");
  EXPECT_EQ(c->source_decision_id(), "abc-1");
  EXPECT_EQ(c->recorded_at().seconds(),
            absl::ToUnixSeconds(
                absl::FromCivil(absl::CivilSecond(2026, 11, 21, 10, 0, 0), absl::UTCTimeZone())));
  EXPECT_EQ(c->recorded_at().nanos(), 500000000);
}

TEST(ParseCaseLineTest, NamesTheBadField) {
  EXPECT_TRUE(StatusIs(ParseCaseLine(R"({"request":{}})"), absl::StatusCode::kInvalidArgument,
                       "kind: required"));
  EXPECT_TRUE(StatusIs(ParseCaseLine(R"({"kind":"acces","request":{}})"),
                       absl::StatusCode::kInvalidArgument, "kind: "));
  EXPECT_TRUE(StatusIs(ParseCaseLine(R"({"kind":"access"})"), absl::StatusCode::kInvalidArgument,
                       "request: required"));
  EXPECT_TRUE(StatusIs(ParseCaseLine(R"({"kind":"access","request":{"principle":{}}})"),
                       absl::StatusCode::kInvalidArgument, "request: "));
  EXPECT_TRUE(StatusIs(ParseCaseLine(R"({"kind":"access","request":{},"time":"yesterday"})"),
                       absl::StatusCode::kInvalidArgument, "time: "));
  EXPECT_TRUE(StatusIs(ParseCaseLine(R"({"kind":"access")"), absl::StatusCode::kInvalidArgument));
}

TEST(ParseCaseLinesTest, StrictStopsAtTheFirstBadLineLenientKeepsIt) {
  std::string content =
      "# hand-written cases\n"
      R"({"kind":"access","request":{"principal":{"id":"a"}}})"
      "\n\n"
      R"({"kind":"access","req)"
      "\n";
  EXPECT_TRUE(StatusIs(ParseCaseLines(content, "cases.jsonl", false),
                       absl::StatusCode::kInvalidArgument, "cases.jsonl:4: "));
  absl::StatusOr<std::vector<DryRunInput>> lenient = ParseCaseLines(content, "log.jsonl", true);
  ASSERT_TRUE(IsOk(lenient));
  ASSERT_EQ(lenient->size(), 2u);
  EXPECT_TRUE((*lenient)[0].error.empty());
  EXPECT_TRUE(absl::StartsWith((*lenient)[1].error, "log.jsonl:4: ")) << (*lenient)[1].error;
}

TEST(LoadCandidateTest, ReportsASyntaxErrorWithFileAndLine) {
  BundleFiles f = ActiveFiles();
  f.files["global/broken.lua"] = "return {\n  id = 'global.broken',\n  kinds = {'access'\n}\n";
  CandidateLoad c = LoadCandidate(f);
  EXPECT_EQ(c.bundle, nullptr);
  ASSERT_FALSE(c.errors.empty());
  bool found = false;
  for (const std::string& e : c.errors) {
    if (absl::StartsWith(e, "global/broken.lua:") && absl::StrContains(e, "syntax error")) {
      found = true;
    }
  }
  EXPECT_TRUE(found) << absl::StrJoin(c.errors, "\n");
}

TEST(CompareBundlesTest, CountsFlipsByKindDomainAndPolicy) {
  v1::DryRunResponse r = MustCompare({
      Access("ana", "analyst", "EU"),   // allow, stays allow
      Access("bob", "analyst", "US"),   // allow -> deny (sales.region)
      Access("cy", "analyst", "APAC"),  // allow -> deny (sales.region)
      Access("dee", "auditor", "EU"),   // deny (default) -> allow (sales.audit)
      Access("eve", "marketer", "EU"),  // deny (default), stays deny
  });
  const v1::DryRunSummary& s = r.summary();
  EXPECT_EQ(r.active_revision(), "r1");
  EXPECT_EQ(r.candidate_revision(), "r2");
  EXPECT_EQ(s.total(), 5);
  EXPECT_EQ(s.changed(), 3);
  EXPECT_EQ(s.allow_to_deny(), 2);
  EXPECT_EQ(s.deny_to_allow(), 1);
  EXPECT_EQ(s.failed(), 0);
  ASSERT_EQ(s.by_kind_size(), 1);
  EXPECT_EQ(s.by_kind(0).key(), "access");
  EXPECT_EQ(s.by_kind(0).allow_to_deny(), 2);
  EXPECT_EQ(s.by_kind(0).deny_to_allow(), 1);
  ASSERT_EQ(s.by_domain_size(), 1);
  EXPECT_EQ(s.by_domain(0).key(), "sales");
  ASSERT_EQ(s.by_policy_size(), 2);
  EXPECT_EQ(s.by_policy(0).key(), "sales.region");
  EXPECT_EQ(s.by_policy(0).allow_to_deny(), 2);
  EXPECT_EQ(s.by_policy(1).key(), "sales.audit");
  EXPECT_EQ(s.by_policy(1).deny_to_allow(), 1);
  ASSERT_EQ(s.reasons_added_size(), 2);
  EXPECT_EQ(s.reasons_added(0), "sales.region: EU only");  // most frequent first
  EXPECT_EQ(s.reasons_added(1), "sales.audit (allow): audit");
  EXPECT_EQ(s.reasons_removed_size(), 0);
  EXPECT_EQ(std::vector<int>(s.allow_to_deny_examples().begin(), s.allow_to_deny_examples().end()),
            (std::vector<int>{1, 2}));
  EXPECT_EQ(std::vector<int>(s.deny_to_allow_examples().begin(), s.deny_to_allow_examples().end()),
            (std::vector<int>{3}));

  ASSERT_EQ(r.results_size(), 5);
  EXPECT_EQ(r.results(0).change(), "unchanged");
  EXPECT_EQ(r.results(1).change(), "allow_to_deny");
  EXPECT_EQ(r.results(1).active().effect(), v1::EFFECT_ALLOW);
  EXPECT_EQ(r.results(1).candidate().effect(), v1::EFFECT_DENY);
  EXPECT_EQ(r.results(1).domain(), "sales");
  EXPECT_EQ(r.results(1).kind(), "access");
  EXPECT_EQ(r.results(1).request_summary(), "bob (roles analyst; region=US) read product orders");
  EXPECT_EQ(std::vector<std::string>(r.results(1).changed_policies().begin(),
                                     r.results(1).changed_policies().end()),
            (std::vector<std::string>{"sales.region"}));
  EXPECT_EQ(r.results(3).change(), "deny_to_allow");
  EXPECT_EQ(r.results(4).change(), "unchanged");
}

TEST(CompareBundlesTest, SameEffectWithNewFindingsIsReasonsChanged) {
  BundleFiles candidate = ActiveFiles();
  candidate.files["domains/sales/note.lua"] =
      Policy("sales.note", "return warn('reads are audited')");
  auto active = MustLoad(ActiveFiles());
  auto cand = MustLoad(candidate);
  auto r = CompareBundles(*active, *cand, {Access("ana", "analyst", "EU")}, {});
  ASSERT_TRUE(IsOk(r));
  EXPECT_EQ(r->results(0).change(), "reasons_changed");
  EXPECT_EQ(r->summary().changed(), 1);
  EXPECT_EQ(r->summary().allow_to_deny() + r->summary().deny_to_allow(), 0);
  EXPECT_EQ(r->summary().reasons_added(0), "sales.note (warning): reads are audited");
  EXPECT_EQ(r->summary().by_policy_size(), 0);  // breakdowns count flips only
  EXPECT_EQ(DryRunExitCode(*r), 0);
}

TEST(CompareBundlesTest, RequestsThatCannotBeEvaluatedAreFailedNotDropped) {
  DryRunInput no_principal = Access("", "analyst", "EU");
  DryRunInput unreadable{v1::DryRunCase(), "log.jsonl:7: request: bad"};
  v1::DryRunResponse r = MustCompare({Access("bob", "analyst", "US"), no_principal, unreadable});
  EXPECT_EQ(r.summary().total(), 3);
  EXPECT_EQ(r.summary().failed(), 2);
  EXPECT_EQ(r.summary().allow_to_deny(), 1);
  EXPECT_EQ(r.results(1).change(), "failed");
  EXPECT_EQ(r.results(1).error(), "both bundles: principal.id: required");
  EXPECT_EQ(r.results(2).error(), "log.jsonl:7: request: bad");
  EXPECT_EQ(r.summary().failed_examples_size(), 2);
  // Both bundles fail on these: no regression of the candidate's own.
  EXPECT_EQ(CandidateOnlyFailures(r), 0);
}

TEST(CompareBundlesTest, ReplaysAtTheRecordedTime) {
  // The candidate closes reads recorded before 2030; the active bundle does not look at time.
  BundleFiles candidate = ActiveFiles();
  candidate.files["domains/sales/window.lua"] =
      Policy("sales.window", "if ctx.now < 1893456000 then return deny('closed') end");
  auto active = MustLoad(ActiveFiles());
  auto cand = MustLoad(candidate);
  DryRunInput recorded = Access("ana", "analyst", "EU");
  recorded.request.mutable_recorded_at()->set_seconds(1'800'000'000);  // 2027
  DryRunOptions options;
  options.now = absl::FromUnixSeconds(1'900'000'000);  // 2030: unrecorded cases run now
  auto r = CompareBundles(*active, *cand, {recorded, Access("ana", "analyst", "EU")}, options);
  ASSERT_TRUE(IsOk(r));
  EXPECT_EQ(r->results(0).change(), "allow_to_deny");
  EXPECT_EQ(r->results(1).change(), "unchanged");
}

TEST(CompareBundlesTest, KeepsAtMostMaxExamples) {
  std::vector<DryRunInput> inputs;
  for (int i = 0; i < 7; ++i) inputs.push_back(Access(absl::StrCat("u", i), "analyst", "US"));
  DryRunOptions options;
  options.max_examples = 3;
  v1::DryRunResponse r = MustCompare(inputs, options);
  EXPECT_EQ(r.summary().allow_to_deny(), 7);
  EXPECT_EQ(r.summary().allow_to_deny_examples_size(), 3);
  EXPECT_EQ(r.results_size(), 7);
  options.max_examples = kMaxDryRunExamples + 1;
  auto active = MustLoad(ActiveFiles());
  EXPECT_TRUE(StatusIs(CompareBundles(*active, *active, inputs, options),
                       absl::StatusCode::kInvalidArgument, "max_examples"));
}

TEST(CompareBundlesTest, PassedDeadlineFailsTheWholeRun) {
  DryRunOptions options;
  options.deadline = absl::Now() - absl::Seconds(1);
  auto active = MustLoad(ActiveFiles());
  EXPECT_TRUE(StatusIs(CompareBundles(*active, *active, {Access("a", "analyst", "EU")}, options),
                       absl::StatusCode::kDeadlineExceeded));
}

v1::DryRunRequest InlineRequest(const BundleFiles& files) {
  v1::DryRunRequest req;
  for (const auto& [path, content] : files.files)
    (*req.mutable_candidate()->mutable_files())[path] = content;
  return req;
}

TEST(RunDryRunTest, ReplaysTheRecentDecisionLog) {
  DecisionLogOptions options;  // no path: nothing written, Recent() still fed
  auto log = DecisionLog::Create(options);
  ASSERT_TRUE(IsOk(log));
  absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  const char* lines[] = {
      R"({"decision_id":"d1","time":"2027-01-15T08:00:00Z","kind":"access","request":{"principal":{"id":"a","roles":["analyst"],"attributes":{"region":"US"}},"action":"read","resource":{"domain":"sales","product":"orders"}}})",
      R"({"decision_id":"d2","time":"2027-01-15T08:00:01Z","kind":"access","request":{"principal":{"id":"b","roles":["analyst"],"attributes":{"region":"EU"}},"action":"read","resource":{"domain":"sales","product":"orders"}}})",
      R"({"decision_id":"d3","time":"2027-01-15T08:00:02Z","kind":"access","request":{"principal":{"id":"c","roles":["analyst"],"attributes":{"region":"US"}},"action":"read","resource":{"domain":"sales","product":"orders"}}})",
  };
  for (int i = 0; i < 3; ++i) (*log)->Append(t0 + absl::Seconds(i), lines[i]);
  auto active = MustLoad(ActiveFiles());

  v1::DryRunRequest req = InlineRequest(CandidateFiles());
  req.set_recent(2);
  auto r = RunDryRun(req, *active, log->get(), absl::InfiniteFuture());
  ASSERT_TRUE(IsOk(r));
  EXPECT_EQ(r->summary().total(), 2);
  EXPECT_EQ(r->summary().allow_to_deny(), 1);
  EXPECT_EQ(r->results(0).source_decision_id(), "d2");
  EXPECT_EQ(r->results(1).source_decision_id(), "d3");

  req.set_recent(0);
  req.mutable_since()->set_seconds(1'800'000'000);
  r = RunDryRun(req, *active, log->get(), absl::InfiniteFuture());
  ASSERT_TRUE(IsOk(r));
  EXPECT_EQ(r->summary().total(), 3);
  EXPECT_EQ(r->summary().allow_to_deny(), 2);
  EXPECT_EQ((*log)->stats().appended, 3u);  // nothing of the dry-run's own is logged
}

TEST(RunDryRunTest, ReplayWithoutADecisionLogIsAFailedPrecondition) {
  auto active = MustLoad(ActiveFiles());
  v1::DryRunRequest req = InlineRequest(CandidateFiles());
  req.set_recent(10);
  EXPECT_TRUE(StatusIs(RunDryRun(req, *active, nullptr, absl::InfiniteFuture()),
                       absl::StatusCode::kFailedPrecondition, "decision logging off"));
  req.set_recent(0);
  EXPECT_TRUE(StatusIs(RunDryRun(req, *active, nullptr, absl::InfiniteFuture()),
                       absl::StatusCode::kInvalidArgument, "cases: required"));
  req.set_recent(-1);
  EXPECT_TRUE(StatusIs(RunDryRun(req, *active, nullptr, absl::InfiniteFuture()),
                       absl::StatusCode::kInvalidArgument, "recent"));
  v1::DryRunRequest no_candidate;
  *no_candidate.add_cases() = Access("a", "analyst", "EU").request;
  EXPECT_TRUE(StatusIs(RunDryRun(no_candidate, *active, nullptr, absl::InfiniteFuture()),
                       absl::StatusCode::kInvalidArgument, "candidate_source"));
}

TEST(RunDryRunTest, ABrokenCandidateReturnsItsErrorsAndEvaluatesNothing) {
  auto active = MustLoad(ActiveFiles());
  BundleFiles broken = CandidateFiles();
  broken.files["domains/sales/region.lua"] = "return { id = 'sales.region', check = function(\n";
  v1::DryRunRequest req = InlineRequest(broken);
  *req.add_cases() = Access("a", "analyst", "EU").request;
  auto r = RunDryRun(req, *active, nullptr, absl::InfiniteFuture());
  ASSERT_TRUE(IsOk(r));
  ASSERT_GT(r->candidate_errors_size(), 0);
  EXPECT_TRUE(absl::StartsWith(r->candidate_errors(0), "domains/sales/region.lua:"))
      << r->candidate_errors(0);
  EXPECT_EQ(r->results_size(), 0);
  EXPECT_EQ(r->summary().total(), 0);
  EXPECT_EQ(DryRunExitCode(*r), 2);

  v1::DryRunRequest by_path;
  by_path.set_candidate_path("/nonexistent/bundle");
  *by_path.add_cases() = Access("a", "analyst", "EU").request;
  r = RunDryRun(by_path, *active, nullptr, absl::InfiniteFuture());
  ASSERT_TRUE(IsOk(r));
  ASSERT_EQ(r->candidate_errors_size(), 1);
  EXPECT_TRUE(absl::StrContains(r->candidate_errors(0), "/nonexistent/bundle"));
}

TEST(MakeDryRunHandlerTest, NoActiveBundleIsAFailedPrecondition) {
  auto handler = MakeDryRunHandler([] { return std::shared_ptr<const Bundle>(); }, nullptr);
  EXPECT_TRUE(StatusIs(handler(v1::DryRunRequest(), absl::InfiniteFuture(), {}),
                       absl::StatusCode::kFailedPrecondition, "no policy bundle"));
}

TEST(ReportTest, RendersCountsBreakdownsAndExamples) {
  v1::DryRunResponse r =
      MustCompare({Access("ana", "analyst", "EU"), Access("bob", "analyst", "US"),
                   Access("dee", "auditor", "EU")});
  std::string text = FormatDryRunText(r, {"policies/", "candidate/", ""});
  EXPECT_TRUE(absl::StrContains(text, "allow->deny      1")) << text;
  EXPECT_TRUE(absl::StrContains(text, "sales.region")) << text;
  EXPECT_TRUE(absl::StrContains(text, "#1 access [sales]: bob (roles analyst; region=US)")) << text;
  EXPECT_TRUE(absl::StrContains(text, "+ sales.region: EU only")) << text;

  std::string md = FormatDryRunMarkdown(r, {"policies/", "candidate/", ""});
  EXPECT_TRUE(absl::StrContains(md, "| allow → deny | 1 |")) << md;
  EXPECT_TRUE(absl::StrContains(md, "### Flips by policy")) << md;
  EXPECT_TRUE(absl::StrContains(md, "| `sales.region` | 1 | 0 |")) << md;
  EXPECT_TRUE(absl::StrContains(md, "➕ `sales.region`: EU only")) << md;

  std::string json = FormatDryRunJson(r);
  EXPECT_TRUE(absl::StrContains(json, "\"allowToDeny\": 1")) << json;
  EXPECT_TRUE(absl::StrContains(json, "\"failed\": 0")) << json;  // zero counts are printed
  EXPECT_EQ(DryRunExitCode(r), 1);
}

TEST(ReportTest, MarkdownCellsCannotBreakTheTable) {
  v1::DryRunResponse r = MustCompare({Access("x|y", "analyst", "US")});
  std::string md = FormatDryRunMarkdown(r, {});
  EXPECT_TRUE(absl::StrContains(md, "x\\|y")) << md;
}

TEST(SummarizeRequestTest, ProductAndDeployment) {
  v1::DryRunCase product;
  product.mutable_product()->mutable_product()->set_yaml(
      "metadata: {name: orders, version: 1.2.0}\n");
  product.mutable_product()->mutable_requester()->set_id("sam");
  EXPECT_EQ(SummarizeRequest(product), "register orders 1.2.0 by sam");
  v1::DryRunCase deploy;
  deploy.mutable_deployment()->mutable_product()->set_yaml(
      "metadata: {name: orders, version: 2.0.0}\n");
  deploy.mutable_deployment()->mutable_previous()->set_yaml(
      "metadata: {name: orders, version: 1.2.0}\n");
  deploy.mutable_deployment()->set_environment("production");
  EXPECT_EQ(SummarizeRequest(deploy), "deploy orders 2.0.0 (from 1.2.0) to production");
}

// Waivers (docs/waivers.md): a sales rule denies outside the EU; W-1 waives it for ana until
// 2027-03-01. Bundles are loaded as of 2027-01-01 (waivers end at most 180 days after load).
TEST(CompareBundlesTest, WaiverChangesAndCandidateAt) {
  absl::Time load_time = absl::FromCivil(absl::CivilDay(2027, 1, 1), absl::UTCTimeZone());
  auto load = [&](BundleFiles f) {
    LoadOptions o;
    o.now = load_time;
    absl::StatusOr<std::shared_ptr<const Bundle>> b = Bundle::Load(f, o);
    EXPECT_TRUE(IsOk(b));
    return b.ok() ? *b : nullptr;
  };
  BundleFiles without = CandidateFiles();
  BundleFiles with = without;
  with.files["waivers/w1.yaml"] =
      "id: W-1\npolicy: sales.region\nscope: {domain: sales, principal: ana}\nreason: pilot\n"
      "approved_by: council\nexpires: 2027-03-01\n";
  auto active = load(with);
  auto removed = load(without);
  ASSERT_NE(active, nullptr);
  ASSERT_NE(removed, nullptr);
  DryRunOptions options;
  options.now = load_time;
  std::vector<DryRunInput> inputs = {Access("ana", "analyst", "NA"),
                                     Access("bob", "analyst", "NA")};

  // The same bundle at a time after the expiry: ana's read flips, bob's was never waived.
  options.candidate_at = absl::FromCivil(absl::CivilDay(2027, 3, 1), absl::UTCTimeZone());
  absl::StatusOr<v1::DryRunResponse> lapse = CompareBundles(*active, *active, inputs, options);
  ASSERT_TRUE(IsOk(lapse));
  EXPECT_EQ(lapse->summary().allow_to_deny(), 1);
  ASSERT_EQ(lapse->results(0).waiver_changes_size(), 1);
  EXPECT_EQ(lapse->results(0).waiver_changes(0), "W-1 expired");
  EXPECT_EQ(lapse->results(1).waiver_changes_size(), 0);
  ASSERT_EQ(lapse->summary().by_waiver_size(), 1);
  EXPECT_EQ(lapse->summary().by_waiver(0).key(), "W-1 expired");
  EXPECT_EQ(lapse->summary().by_waiver(0).allow_to_deny(), 1);
  // One second before, nothing changes.
  options.candidate_at = *options.candidate_at - absl::Seconds(1);
  lapse = CompareBundles(*active, *active, inputs, options);
  ASSERT_TRUE(IsOk(lapse));
  EXPECT_EQ(lapse->summary().changed(), 0);

  options.candidate_at.reset();
  absl::StatusOr<v1::DryRunResponse> gone = CompareBundles(*active, *removed, inputs, options);
  ASSERT_TRUE(IsOk(gone));
  EXPECT_EQ(gone->results(0).waiver_changes(0), "W-1 removed");
  absl::StatusOr<v1::DryRunResponse> added = CompareBundles(*removed, *active, inputs, options);
  ASSERT_TRUE(IsOk(added));
  EXPECT_EQ(added->results(0).change(), "deny_to_allow");
  EXPECT_EQ(added->results(0).waiver_changes(0), "W-1 added");
  std::string text = FormatDryRunText(*added, {"active", "candidate", ""});
  EXPECT_TRUE(
      absl::StrContains(text, "flips by waiver:\n  W-1 added  allow->deny 0  deny->allow 1"))
      << text;
}

}  // namespace
}  // namespace arbiter

namespace arbiter {
namespace {

TEST(ChangeOutcomeTest, OneTableNamesEveryOutcome) {
  for (const ChangeOutcomeInfo& o : kChangeOutcomes) {
    EXPECT_EQ(ChangeOutcomeName(o.outcome), o.name);
    EXPECT_EQ(ParseChangeOutcome(o.name), o.outcome) << o.name;
    EXPECT_FALSE(o.description.empty()) << o.name;
  }
  EXPECT_EQ(ChangeOutcomeName(ChangeOutcome::kAllowToDeny), "allow_to_deny");
  EXPECT_EQ(ParseChangeOutcome("allow-to-deny"), std::nullopt);
}

}  // namespace
}  // namespace arbiter
