// Waivers end to end (issue 15), through the `arbiter` binary as a council and a policy author
// run it, and through arbiterd's /metrics: the shipped bundle's W-12 (global.slos waived for
// supply chain's legacy-stock until 2027-03-01) at fixed times, and scratch bundles for what the
// shipped one cannot show.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/arbiterd_process.h"

namespace arbiter {
namespace {

using CliResult = testing::CommandResult;  // out: stdout and stderr

CliResult RunCli(const std::vector<std::string>& args, bool with_stderr = true) {
  return testing::RunArbiterCli(args, with_stderr);
}

void Write(const std::string& dir, const std::string& path, const std::string& content) {
  std::string full = absl::StrCat(dir, "/", path);
  std::string mkdir = absl::StrCat("mkdir -p '", full.substr(0, full.rfind('/')), "'");
  ASSERT_EQ(std::system(mkdir.c_str()), 0);
  testing::WriteFile(full, content);
}

// A copy of the shipped bundle plus `files`; `drop` is removed.
std::string BundleWith(const std::vector<std::pair<std::string, std::string>>& files,
                       const std::string& drop = "") {
  std::string dir = testing::MakeTempDir("arbiter-waivers");
  testing::CopyTree(testing::ShippedBundleDir(), dir);
  for (const auto& [path, content] : files) Write(dir, path, content);
  if (!drop.empty()) {
    std::string rm = absl::StrCat("rm -rf '", dir, "/", drop, "'");
    EXPECT_EQ(std::system(rm.c_str()), 0);
  }
  return dir;
}

// supply chain's inventory-levels descriptor renamed legacy-stock, with a freshness SLO that
// global.slos refuses ("nightly" is not a duration): what W-12 waives.
std::string LegacyStockYaml() {
  std::string yaml = testing::ReadFileOrEmpty(testing::ShippedBundleDir() +
                                              "/catalog/products/inventory-levels.yaml");
  EXPECT_TRUE(absl::StrContains(yaml, "  name: inventory-levels\n"));
  EXPECT_TRUE(absl::StrContains(yaml, "      target: 15m\n"));
  return absl::StrReplaceAll(yaml, {{"  name: inventory-levels\n", "  name: legacy-stock\n"},
                                    {"      target: 15m\n", "      target: nightly\n"}});
}

std::string LegacyStockFile() {
  std::string dir = testing::MakeTempDir("arbiter-legacy");
  testing::WriteFile(dir + "/legacy-stock.yaml", LegacyStockYaml());
  return dir + "/legacy-stock.yaml";
}

// One dry-run case in the decision log's shape: registering legacy-stock, recorded at `time`.
std::string RequestsFile(const std::string& time) {
  nlohmann::json line;
  line["kind"] = "product";
  line["time"] = time;
  line["request"]["product"]["yaml"] = LegacyStockYaml();
  line["request"]["operation"] = "register";
  std::string dir = testing::MakeTempDir("arbiter-requests");
  testing::WriteFile(dir + "/requests.jsonl", line.dump() + "\n");
  return dir + "/requests.jsonl";
}

TEST(WaiversCliTest, EvalNamesTheWaiverUntilItsExpiry) {
  std::string product = LegacyStockFile();
  std::string bundle = testing::ShippedBundleDir();
  CliResult before = RunCli({"eval", "--bundle", bundle, "--kind", "product", "--product", product,
                             "--now", "2027-02-28T23:59:59Z", "--output", "json"},
                            false);
  EXPECT_EQ(before.exit_code, 0) << before.out;
  nlohmann::json d = nlohmann::json::parse(before.out);
  EXPECT_EQ(d["effect"], "allow") << before.out;
  bool named = false;
  for (const auto& r : d["reasons"]) {
    if (r.value("waiver", "") != "W-12") continue;
    named = true;
    EXPECT_EQ(r["policy_id"], "global.slos");
    EXPECT_EQ(r["severity"], "warning");
    EXPECT_TRUE(absl::StrContains(r["message"].get<std::string>(),
                                  "[waived by W-12, approved by governance-council, until "
                                  "2027-03-01: nightly batch feed"))
        << before.out;
  }
  EXPECT_TRUE(named) << before.out;

  CliResult at = RunCli({"eval", "--bundle", bundle, "--kind", "product", "--product", product,
                         "--now", "2027-03-01T00:00:00Z"});
  EXPECT_EQ(at.exit_code, 1) << at.out;
  EXPECT_FALSE(absl::StrContains(at.out, "waived by")) << at.out;
}

TEST(WaiversCliTest, ListsForTheWeeklyReview) {
  std::string bundle = testing::ShippedBundleDir();
  CliResult text = RunCli({"waivers", bundle, "--now", "2027-02-20T00:00:00Z"});
  EXPECT_EQ(text.exit_code, 0) << text.out;
  for (const char* want : {"W-12  global.slos  expiring, until 2027-03-01 (in 9 days)",
                           "scope:       domain=supplychain product=legacy-stock kind=product",
                           "approved by: governance-council (GOV-311)",
                           "file:        waivers/W-12-legacy-stock.yaml:4"}) {
    EXPECT_TRUE(absl::StrContains(text.out, want)) << want << "\n" << text.out;
  }

  CliResult json =
      RunCli({"waivers", bundle, "--now", "2027-03-02T00:00:00Z", "--output", "json"}, false);
  ASSERT_EQ(json.exit_code, 0) << json.out;
  nlohmann::json j = nlohmann::json::parse(json.out);
  ASSERT_EQ(j["waivers"].size(), 1u) << json.out;
  EXPECT_EQ(j["waivers"][0]["id"], "W-12");
  EXPECT_EQ(j["waivers"][0]["status"], "expired");
  EXPECT_EQ(j["waivers"][0]["days_left"], -1);
  EXPECT_EQ(j["waivers"][0]["expires_at"], "2027-03-01T00:00:00Z");
  EXPECT_EQ(j["waivers"][0]["scope"]["product"], "legacy-stock");

  // --expiring: only what ends within the span (expired ones included).
  CliResult far = RunCli(
      {"waivers", bundle, "--now", "2026-12-01T00:00:00Z", "--expiring", "30d", "--output", "json"},
      false);
  ASSERT_EQ(far.exit_code, 0) << far.out;
  EXPECT_EQ(nlohmann::json::parse(far.out)["waivers"].size(), 0u) << far.out;
  CliResult near = RunCli({"waivers", bundle, "--now", "2027-02-01T00:00:00Z", "--expiring", "30d",
                           "--output", "markdown"});
  EXPECT_EQ(near.exit_code, 0) << near.out;
  EXPECT_TRUE(absl::StrContains(
      near.out,
      "| `W-12` | `global.slos` | domain=supplychain, product=legacy-stock, kind=product "
      "| 2027-03-01 | in force (in 28 days) | governance-council | GOV-311 |"))
      << near.out;

  CliResult bad = RunCli({"waivers", bundle, "--expiring", "soon"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(bad.out, "--expiring: expected a span such as 30d")) << bad.out;
}

TEST(WaiversCliTest, ValidateWarnsAboutWaiversEndingWithinTwoWeeks) {
  std::string bundle = testing::ShippedBundleDir();
  CliResult quiet = RunCli({"validate", bundle, "--strict", "--now", "2026-12-01T00:00:00Z"});
  EXPECT_EQ(quiet.exit_code, 0) << quiet.out;
  EXPECT_TRUE(absl::StrContains(quiet.out, "waivers: 1 (1 in force, 0 expiring within 14 days)"))
      << quiet.out;

  CliResult soon = RunCli({"validate", bundle, "--now", "2027-02-20T00:00:00Z"});
  EXPECT_EQ(soon.exit_code, 0) << soon.out;  // a warning
  EXPECT_TRUE(absl::StrContains(soon.out,
                                "waivers/W-12-legacy-stock.yaml:4: warning: waiver W-12 "
                                "(global.slos) expires 2027-03-01, in 9 days: renew it or let "
                                "global.slos apply again"))
      << soon.out;
  EXPECT_EQ(RunCli({"validate", bundle, "--strict", "--now", "2027-02-20T00:00:00Z"}).exit_code, 1);

  CliResult lapsed = RunCli({"validate", bundle, "--now", "2027-03-01T00:00:00Z"});
  EXPECT_TRUE(absl::StrContains(lapsed.out,
                                "warning: waiver W-12 (global.slos) expired "
                                "2027-03-01 and no longer applies"))
      << lapsed.out;
}

TEST(WaiversCliTest, ValidateRefusesUnknownAndNonWaivablePolicies) {
  std::string waiver =
      "id: W-13\npolicy: POLICY\nscope: {domain: sales}\nreason: r\napproved_by: council\n"
      "expires: 2027-01-15\n";
  std::string unknown = BundleWith(
      {{"waivers/w13.yaml", absl::StrReplaceAll(waiver, {{"POLICY", "global.no-such"}})}});
  CliResult r = RunCli({"validate", unknown, "--now", "2026-12-01T00:00:00Z"});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_TRUE(absl::StrContains(
      r.out,
      "waivers/w13.yaml:1: waiver W-13: policy global.no-such: no such policy in the bundle"))
      << r.out;

  // global.pii-masking is mandatory and does not declare waivable = true.
  std::string mandatory = BundleWith(
      {{"waivers/w13.yaml", absl::StrReplaceAll(waiver, {{"POLICY", "global.pii-masking"}})}});
  r = RunCli({"validate", mandatory, "--now", "2026-12-01T00:00:00Z"});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out,
                                "waivers/w13.yaml:1: waiver W-13: policy global.pii-masking is "
                                "mandatory and not waivable"))
      << r.out;

  // A domain's policy, waived without naming the domain.
  std::string domain =
      BundleWith({{"waivers/w13.yaml",
                   absl::StrReplaceAll(waiver, {{"POLICY", "marketing.region-restriction"}})}});
  r = RunCli({"validate", domain, "--now", "2026-12-01T00:00:00Z"});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out,
                                "policy marketing.region-restriction belongs to domain "
                                "marketing: its waivers must name it in scope"))
      << r.out;
}

TEST(WaiversCliTest, DryRunAtShowsTheWaiverLapse) {
  std::string shipped = testing::ShippedBundleDir();
  std::string requests = RequestsFile("2027-02-01T00:00:00Z");
  // The same bundle, the candidate evaluated after W-12's expiry: the registration flips.
  CliResult lapse = RunCli({"dry-run", "--bundle", shipped, "--candidate", shipped, "--requests",
                            requests, "--at", "2027-03-01T00:00:00Z", "--output", "json"},
                           false);
  EXPECT_EQ(lapse.exit_code, 1) << lapse.out;
  nlohmann::json j = nlohmann::json::parse(lapse.out);
  EXPECT_EQ(j["summary"]["allowToDeny"], 1) << lapse.out;
  ASSERT_EQ(j["summary"]["byWaiver"].size(), 1u) << lapse.out;
  EXPECT_EQ(j["summary"]["byWaiver"][0]["key"], "W-12 expired");
  EXPECT_EQ(j["results"][0]["waiverChanges"][0], "W-12 expired");

  // Before the expiry nothing changes.
  CliResult still = RunCli({"dry-run", "--bundle", shipped, "--candidate", shipped, "--requests",
                            requests, "--at", "2027-02-28T23:59:59Z"});
  EXPECT_EQ(still.exit_code, 0) << still.out;

  // A candidate without the waiver file: removed; a candidate that adds it: added.
  std::string without = BundleWith({}, "waivers");
  CliResult removed =
      RunCli({"dry-run", "--bundle", shipped, "--candidate", without, "--requests", requests});
  EXPECT_EQ(removed.exit_code, 1) << removed.out;
  EXPECT_TRUE(absl::StrContains(removed.out, "flips by waiver:\n  W-12 removed  allow->deny 1"))
      << removed.out;
  EXPECT_TRUE(absl::StrContains(removed.out, "      waiver W-12 removed")) << removed.out;
  CliResult added = RunCli({"dry-run", "--bundle", without, "--candidate", shipped, "--requests",
                            requests, "--output", "markdown"});
  EXPECT_EQ(added.exit_code, 1) << added.out;
  EXPECT_TRUE(absl::StrContains(added.out, "| `W-12 added` | 0 | 1 |")) << added.out;

  CliResult bad =
      RunCli({"dry-run", "--candidate", shipped, "--requests", requests, "--at", "tomorrow"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(bad.out, "--at: expected RFC 3339")) << bad.out;
}

// The value of the sample `name` (with its labels) in a /metrics body; -1 when absent.
double Sample(const std::string& body, const std::string& name) {
  size_t at = body.find(absl::StrCat("\n", name, " "));
  if (at == std::string::npos) return -1;
  return std::strtod(body.c_str() + at + name.size() + 2, nullptr);
}

std::string Day(absl::Time t) { return absl::FormatTime("%Y-%m-%d", t, absl::UTCTimeZone()); }

TEST(WaiverMetricsTest, ServerExportsWaiversInForce) {
  // Dates relative to the clock: the server judges what is in force now.
  absl::Time now = absl::Now();
  absl::Time soon =
      absl::FromUnixSeconds(absl::ToUnixSeconds(now) / 86400 * 86400) + absl::Hours(24 * 10);
  auto waiver = [](const std::string& id, const std::string& expires) {
    return absl::StrCat("id: ", id,
                        "\npolicy: global.slos\nscope: {product: legacy-stock}\nreason: r\n"
                        "approved_by: council\nexpires: ",
                        expires, "\n");
  };
  std::string bundle = BundleWith({{"waivers/soon.yaml", waiver("W-20", Day(soon))},
                                   {"waivers/gone.yaml", waiver("W-21", "2020-01-01")}});
  testing::ArbiterdOptions options;
  options.bundle_dir = bundle;
  auto server = testing::ArbiterdProcess::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  testing::HttpResult m = testing::HttpRequest((*server)->http_port(), "GET", "/metrics");
  ASSERT_EQ(m.status, 200) << m.body;
  EXPECT_TRUE(absl::StrContains(m.body, "# TYPE arbiter_waiver_expiry_timestamp_seconds gauge"));
  EXPECT_EQ(
      Sample(m.body,
             "arbiter_waiver_expiry_timestamp_seconds{waiver=\"W-20\",policy=\"global.slos\"}"),
      static_cast<double>(absl::ToUnixSeconds(soon)))
      << m.body;
  bool w12_in_force = now < absl::FromUnixSeconds(1803859200);  // 2027-03-01
  if (w12_in_force) {
    EXPECT_EQ(
        Sample(m.body,
               "arbiter_waiver_expiry_timestamp_seconds{waiver=\"W-12\",policy=\"global.slos\"}"),
        1803859200.0)
        << m.body;
  }
  EXPECT_FALSE(absl::StrContains(m.body, "W-21")) << m.body;  // expired: not in force
  EXPECT_EQ(Sample(m.body, "arbiter_waivers_active"), w12_in_force ? 2 : 1) << m.body;
}

}  // namespace
}  // namespace arbiter
