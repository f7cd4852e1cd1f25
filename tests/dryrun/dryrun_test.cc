// Integration tests of the dry-run: the real arbiterd (decision logging to a file) makes recorded
// decisions; the `arbiter dry-run` CLI then compares candidate bundles against them, offline from
// the log file and over gRPC from the server's recent log, with exact counts.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "clients/cpp/arbiter_client.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "service/convert/convert.h"
#include "tests/support/arbiterd_process.h"

namespace arbiter {
namespace {

constexpr char kMetrics[] = "marketing_analytics.campaign_performance.campaign_metrics";

// The recorded traffic: access reads of marketing's campaign metrics from several regions, and
// decisions the candidates below must leave alone. Comments give the active decision.
std::vector<std::string> RecordedAccess() {
  auto read = [](const std::string& principal, const std::string& resource) {
    return absl::StrCat(R"({"principal":)", principal, R"(,"action":"read","resource":)", resource,
                        "}");
  };
  std::string metrics = absl::StrCat(R"({"table":")", kMetrics, R"("})");
  return {
      // 0 allow: EU is one of marketing's regions.
      read(R"({"id":"ana","roles":["sales-analysts"],"attributes":{"region":"EU"}})", metrics),
      // 1 allow: so is NA.
      read(R"({"id":"nate","roles":["sales-analysts"],"attributes":{"region":"NA"}})", metrics),
      // 2 allow, with columns.
      read(R"({"id":"nina","roles":["marketing-analytics"],"attributes":{"region":"NA"}})",
           absl::StrCat(R"({"table":")", kMetrics, R"(","columns":["campaign_id","channel"]})")),
      // 3 allow: the auditors' mandatory grant.
      read(R"({"id":"aud","roles":["auditor"],"attributes":{"region":"NA"}})", metrics),
      // 4 deny: APAC is outside marketing's regions.
      read(R"({"id":"ana","roles":["sales-analysts"],"attributes":{"region":"APAC"}})", metrics),
      // 5 allow: another domain's product.
      read(R"({"id":"dana","roles":["data-scientists"],"domain":"analytics"})",
           R"({"table":"supplychain.inventory_levels.stock_levels"})"),
      // 6 allow: the region rule concerns reads only.
      R"({"principal":{"id":"mia","roles":["marketing-data-team"],"attributes":{"region":"NA"}},"action":"write","resource":{"table":"marketing_analytics.campaign_performance.campaign_metrics"}})",
      // 7 allow: the caller names the owning domain as well as the table.
      read(R"({"id":"omar","roles":["sales-analysts"],"attributes":{"region":"NA"}})",
           absl::StrCat(R"({"domain":"marketing","table":")", kMetrics, R"("})")),
  };
}

using CliResult = testing::CommandResult;  // out: stdout

// Runs the arbiter CLI with `args` (no shell quoting needed: temp paths have no spaces).
CliResult RunCli(const std::vector<std::string>& args, bool with_stderr = false) {
  return testing::RunArbiterCli(args, with_stderr);
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

// A copy of the shipped bundle with `edit` applied to one file (which must change).
std::string CandidateWith(const std::string& file, const std::string& from, const std::string& to,
                          const std::string& revision) {
  std::string dir = testing::MakeTempDir("arbiter-candidate");
  testing::CopyTree(testing::ShippedBundleDir(), dir);
  std::string path = absl::StrCat(dir, "/", file);
  std::string content = testing::ReadFileOrEmpty(path);
  EXPECT_TRUE(absl::StrContains(content, from)) << path;
  testing::WriteFile(path, absl::StrReplaceAll(content, {{from, to}}));
  std::string yaml = testing::ReadFileOrEmpty(dir + "/bundle.yaml");
  std::string old_revision = "revision: \"2026.11.21-1\"";
  EXPECT_TRUE(absl::StrContains(yaml, old_revision));
  testing::WriteFile(
      dir + "/bundle.yaml",
      absl::StrReplaceAll(yaml, {{old_revision, absl::StrCat("revision: ", revision)}}));
  return dir;
}

// Marketing tightened: reads only from the EU (NA dropped from marketing.region-restriction).
std::string TightenedCandidate() {
  return CandidateWith("domains/marketing/region-restriction.lua",
                       R"(local BUSINESS_REGIONS = {"EU", "NA"})",
                       R"(local BUSINESS_REGIONS = {"EU"})", "candidate-eu-only");
}

// One server with decision logging to a file, the recorded decisions made against it, shared by
// the suite (starting servers is the slow part).
class DryRunTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    log_path_ = new std::string(testing::MakeTempDir("arbiter-dryrun-log") + "/decisions.jsonl");
    testing::ArbiterdOptions o;
    o.bundle_dir = testing::ShippedBundleDir();
    o.http = false;
    // Candidates are written under the temporary directory, which is therefore a bundle root.
    o.config_yaml = absl::StrCat("decision_log:\n  path: ", *log_path_,
                                 "\nauthz:\n  anonymous_role: governance\n  bundle_roots: [",
                                 std::filesystem::temp_directory_path().string(), "]\n");
    auto server = testing::ArbiterdProcess::Start(o);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
    client::Client c(server_->grpc_target());
    for (const std::string& json : RecordedAccess()) {
      absl::StatusOr<v1::DryRunCase> request = CaseFromJson(Kind::kAccess, json);
      ASSERT_TRUE(request.ok()) << request.status();
      ASSERT_TRUE(c.Check(*request).ok()) << json;
    }
    v1::DryRunCase product;
    product.mutable_product()->mutable_product()->set_yaml(testing::ReadFileOrEmpty(
        testing::ShippedBundleDir() + "/catalog/products/campaign-performance.yaml"));
    product.mutable_product()->set_operation("update");
    ASSERT_TRUE(c.Check(product).ok());
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  // The server's decision log file, complete: only a stopped server has surely written every
  // line, so the tests that need the file stop the shared server last (see StopServer).
  static std::string StopServerAndReadLog() {
    if (server_ != nullptr) {
      EXPECT_EQ(server_->Stop(SIGTERM), 0);
    }
    return testing::ReadFileOrEmpty(*log_path_);
  }

  static std::string* log_path_;
  static testing::ArbiterdProcess* server_;
};

std::string* DryRunTest::log_path_ = nullptr;
testing::ArbiterdProcess* DryRunTest::server_ = nullptr;
constexpr int kRecorded = 9;  // RecordedAccess() and one product update

void ExpectTightenedCounts(const std::string& json_text) {
  nlohmann::json j = nlohmann::json::parse(json_text, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << json_text;
  const nlohmann::json& s = j["summary"];
  EXPECT_EQ(s["total"], kRecorded);
  EXPECT_EQ(s["allowToDeny"], 3);  // nate, nina and omar: NA readers of marketing data
  EXPECT_EQ(s["denyToAllow"], 0);
  EXPECT_EQ(s["changed"], 4);  // and aud: still allowed (mandatory grant), with a new finding
  EXPECT_EQ(s["failed"], 0);
  EXPECT_EQ(j["activeRevision"], "2026.11.21-1");
  EXPECT_EQ(j["candidateRevision"], "candidate-eu-only");
  ASSERT_EQ(s["byKind"].size(), 1u);
  EXPECT_EQ(s["byKind"][0]["key"], "access");
  EXPECT_EQ(s["byKind"][0]["allowToDeny"], 3);
  ASSERT_EQ(s["byDomain"].size(), 1u);
  EXPECT_EQ(s["byDomain"][0]["key"], "marketing");
  ASSERT_EQ(s["byPolicy"].size(), 1u);
  EXPECT_EQ(s["byPolicy"][0]["key"], "marketing.region-restriction");
  EXPECT_EQ(s["byPolicy"][0]["allowToDeny"], 3);
  EXPECT_EQ(s["allowToDenyExamples"], nlohmann::json::array({1, 2, 7}));
  ASSERT_EQ(j["results"].size(), static_cast<size_t>(kRecorded));
  std::vector<std::string> changes;
  for (const auto& r : j["results"]) changes.push_back(r["change"]);
  EXPECT_EQ(changes, (std::vector<std::string>{"unchanged", "allow_to_deny", "allow_to_deny",
                                               "reasons_changed", "unchanged", "unchanged",
                                               "unchanged", "allow_to_deny", "unchanged"}));
  for (const auto& r : j["results"]) EXPECT_FALSE(r["sourceDecisionId"].get<std::string>().empty());
}

// Over gRPC: the server's own recent log, its active bundle, the candidate sent inline. The
// dry-run changes nothing on the server: same revision, no reload, no decision-log line.
TEST_F(DryRunTest, RecentDecisionsOverGrpcWithExactFlipCounts) {
  ASSERT_NE(server_, nullptr);
  client::Client c(server_->grpc_target());
  auto before = c.GetStatus();
  ASSERT_TRUE(before.ok()) << before.status();

  std::string candidate = TightenedCandidate();
  CliResult r = RunCli({"dry-run", "--candidate", candidate, "--server", server_->grpc_target(),
                        "--recent", std::to_string(kRecorded), "--output", "json"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  ExpectTightenedCounts(r.out);

  // --recent takes the newest N: the last 2 are omar's flip and the product update.
  r = RunCli({"dry-run", "--candidate", candidate, "--server", server_->grpc_target(), "--recent",
              "2", "--output", "json"});
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_EQ(j["summary"]["total"], 2);
  EXPECT_EQ(j["summary"]["allowToDeny"], 1);

  // An unchanged candidate: nothing changes, exit 0.
  r = RunCli({"dry-run", "--candidate", testing::ShippedBundleDir(), "--server",
              server_->grpc_target(), "--recent", "100"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "no decision changes")) << r.out;

  auto after = c.GetStatus();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->bundle_revision(), before->bundle_revision());
  EXPECT_EQ(after->reloads_succeeded(), before->reloads_succeeded());
  EXPECT_EQ(after->reloads_failed(), before->reloads_failed());

  // The RPC itself, with a case inline: its answer carries both decisions, and is not logged.
  v1::DryRunRequest request;
  request.set_candidate_path(candidate);  // a server-side path this time
  absl::StatusOr<v1::DryRunCase> nate = CaseFromJson(Kind::kAccess, RecordedAccess()[1]);
  ASSERT_TRUE(nate.ok());
  *request.add_cases() = *nate;
  auto response = c.DryRun(request);
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->results_size(), 1);
  EXPECT_EQ(response->results(0).active().effect(), v1::EFFECT_ALLOW);
  EXPECT_EQ(response->results(0).candidate().effect(), v1::EFFECT_DENY);
  EXPECT_EQ(response->candidate_revision(), "candidate-eu-only");
}

// A candidate with a Lua syntax error: its load errors (file:line, said to be a syntax error),
// nothing evaluated, exit 2 — offline and from the server alike.
TEST_F(DryRunTest, SyntaxErrorInTheCandidateIsReportedAsSuch) {
  ASSERT_NE(server_, nullptr);
  std::string broken =
      CandidateWith("global/pii-handling.lua", "return {", "return {{", "candidate-broken");
  std::string cases = testing::MakeTempDir("arbiter-cases") + "/cases.jsonl";
  testing::WriteFile(cases,
                     absl::StrCat(R"({"kind":"access","request":)", RecordedAccess()[0], "}\n"));
  for (const std::vector<std::string>& where :
       {std::vector<std::string>{"--requests", cases, "--bundle", testing::ShippedBundleDir()},
        std::vector<std::string>{"--server", server_->grpc_target(), "--recent", "5"}}) {
    std::vector<std::string> args = {"dry-run", "--candidate", broken};
    args.insert(args.end(), where.begin(), where.end());
    CliResult r = RunCli(args);
    EXPECT_EQ(r.exit_code, 2) << r.out;
    EXPECT_TRUE(absl::StrContains(r.out, "does not load")) << r.out;
    EXPECT_TRUE(absl::StrContains(r.out, "global/pii-handling.lua:")) << r.out;
    EXPECT_TRUE(absl::StrContains(r.out, "syntax error")) << r.out;

    args.insert(args.end(), {"--output", "json"});
    r = RunCli(args);
    EXPECT_EQ(r.exit_code, 2);
    nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << r.out;
    ASSERT_GE(j["candidateErrors"].size(), 1u);
    EXPECT_TRUE(
        absl::StartsWith(j["candidateErrors"][0].get<std::string>(), "global/pii-handling.lua:"));
    EXPECT_EQ(j["results"].size(), 0u);
    EXPECT_EQ(j["summary"]["total"], 0);
  }
}

// A candidate whose catalog gives marketing's campaign metrics to another domain: the request
// that named the owning domain cannot be evaluated by it. It is counted in failed and shown
// (with the active decision), not dropped; the rest are compared.
TEST_F(DryRunTest, RequestsTheCandidateCannotEvaluateAreCountedInFailed) {
  ASSERT_NE(server_, nullptr);
  std::string moved = CandidateWith("catalog/products/campaign-performance.yaml",
                                    "domain: marketing", "domain: growth", "candidate-moved");
  CliResult r = RunCli({"dry-run", "--candidate", moved, "--server", server_->grpc_target(),
                        "--recent", std::to_string(kRecorded), "--output", "json"});
  EXPECT_EQ(r.exit_code, 1) << r.out;  // the candidate cannot decide what the active one decides
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j["summary"]["total"], kRecorded);
  EXPECT_EQ(j["summary"]["failed"], 1);
  ASSERT_EQ(j["results"].size(), static_cast<size_t>(kRecorded));
  const nlohmann::json& omar = j["results"][7];
  EXPECT_EQ(omar["change"], "failed");
  EXPECT_TRUE(absl::StrContains(omar["error"].get<std::string>(),
                                "candidate: resource.domain: table " + std::string(kMetrics) +
                                    " belongs to domain growth, not marketing"))
      << omar["error"];
  EXPECT_EQ(omar["active"]["effect"], "EFFECT_ALLOW");
  EXPECT_EQ(j["summary"]["failedExamples"], nlohmann::json::array({7}));
  // Marketing's region rule no longer runs on what is now growth's data: APAC is let in.
  EXPECT_EQ(j["summary"]["denyToAllow"], 1);
  EXPECT_EQ(j["results"][4]["change"], "deny_to_allow");

  r = RunCli({"dry-run", "--candidate", moved, "--server", server_->grpc_target(), "--recent",
              std::to_string(kRecorded)});
  EXPECT_TRUE(absl::StrContains(r.out, "failed (1)")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "#7 access")) << r.out;
}

// A server without decision logging cannot replay: FAILED_PRECONDITION, said clearly, exit 2.
TEST_F(DryRunTest, ReplayNeedsTheDecisionLog) {
  testing::ArbiterdOptions o;
  o.bundle_dir = testing::ShippedBundleDir();
  o.http = false;
  auto quiet = testing::ArbiterdProcess::Start(o);
  ASSERT_TRUE(quiet.ok()) << quiet.status();
  CliResult r = RunCli({"dry-run", "--candidate", TightenedCandidate(), "--server",
                        (*quiet)->grpc_target(), "--recent", "10"},
                       /*with_stderr=*/true);
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "decision logging off")) << r.out;
}

// Offline: the recorded log file replayed against --bundle gives the same counts as the server;
// the file holds exactly the recorded decisions (no dry-run added a line). Runs last: it stops
// the shared server to have the whole file.
TEST_F(DryRunTest, ZzRecordedLogReplayedOfflineWithExactFlipCounts) {
  ASSERT_NE(server_, nullptr);
  std::string log = StopServerAndReadLog();
  std::vector<std::string> lines = Lines(log);
  EXPECT_EQ(lines.size(), static_cast<size_t>(kRecorded)) << log;

  std::string candidate = TightenedCandidate();
  CliResult r = RunCli({"dry-run", "--candidate", candidate, "--replay", *log_path_, "--bundle",
                        testing::ShippedBundleDir(), "--output", "json"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  ExpectTightenedCounts(r.out);

  // The same file as --requests (one format for recorded and hand-written cases); a torn last
  // line is a failed request with --replay, an error with --requests.
  std::string torn = testing::MakeTempDir("arbiter-torn") + "/decisions.jsonl";
  testing::WriteFile(torn, absl::StrCat(log, lines.back().substr(0, 40)));
  r = RunCli({"dry-run", "--candidate", candidate, "--replay", torn, "--bundle",
              testing::ShippedBundleDir(), "--output", "json"});
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_EQ(j["summary"]["total"], kRecorded + 1);
  EXPECT_EQ(j["summary"]["failed"], 1);
  EXPECT_EQ(j["summary"]["allowToDeny"], 3);
  r = RunCli({"dry-run", "--candidate", candidate, "--requests", torn, "--bundle",
              testing::ShippedBundleDir()},
             /*with_stderr=*/true);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(r.out, absl::StrCat(torn, ":", kRecorded + 1, ":"))) << r.out;

  r = RunCli({"dry-run", "--candidate", candidate, "--replay", *log_path_, "--bundle",
              testing::ShippedBundleDir(), "--output", "markdown"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.out, "| allow → deny | 3 |")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "| `marketing.region-restriction` | 3 | 0 |")) << r.out;

  // Unreadable inputs are "could not run".
  r = RunCli({"dry-run", "--candidate", candidate, "--replay", "/nonexistent.jsonl"}, true);
  EXPECT_EQ(r.exit_code, 2);
  r = RunCli({"dry-run", "--candidate", "/nonexistent-dir", "--replay", *log_path_}, true);
  EXPECT_EQ(r.exit_code, 2);
  r = RunCli({"dry-run", "--candidate", candidate, "--server", "127.0.0.1:1", "--recent", "5",
              "--timeout-ms", "2000"},
             true);
  EXPECT_EQ(r.exit_code, 2) << r.out;
}

}  // namespace
}  // namespace arbiter
