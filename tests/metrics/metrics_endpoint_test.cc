// /metrics of a real arbiterd, as Prometheus and the shipped Grafana dashboard read it.
#include <map>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "re2/re2.h"
#include "tests/support/arbiterd_process.h"

namespace arbiter {
namespace {

using ::arbiter::testing::ArbiterdOptions;
using ::arbiter::testing::ArbiterdProcess;

class MetricsEndpointTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ArbiterdOptions o;
    o.bundle_dir = testing::ShippedBundleDir();
    std::string dir = testing::MakeTempDir("arbiter-metrics");
    // The decision log's metrics exist only with a log.
    o.config_yaml = absl::StrCat("decision_log:\n  path: ", dir, "/decisions.jsonl\n",
                                 "trino:\n  group_roles:\n    analysts: \"sales-analysts\"\n");
    auto p = ArbiterdProcess::Start(o);
    ASSERT_TRUE(p.ok()) << p.status();
    server_ = p->release();
  }
  static void TearDownTestSuite() { delete server_; }

  static std::string Scrape() {
    auto r = testing::HttpRequest(server_->http_port(), "GET", "/metrics");
    EXPECT_EQ(r.status, 200);
    return r.body;
  }
  // name -> TYPE, from the exposition's # TYPE lines.
  static std::map<std::string, std::string> Families(const std::string& text) {
    std::map<std::string, std::string> out;
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      if (!absl::ConsumePrefix(&line, "# TYPE ")) continue;
      std::vector<std::string> parts = absl::StrSplit(line, ' ');
      if (parts.size() == 2) out[parts[0]] = parts[1];
    }
    return out;
  }
  static double Sample(const std::string& text, const std::string& series) {
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      if (absl::StartsWith(line, series + " ")) {
        double v;
        if (absl::SimpleAtod(line.substr(series.size() + 1), &v)) return v;
      }
    }
    return -1;
  }

  static ArbiterdProcess* server_;
};
ArbiterdProcess* MetricsEndpointTest::server_ = nullptr;

TEST_F(MetricsEndpointTest, CountersEndInTotalAndSeriesStartAtZero) {
  std::string text = Scrape();
  for (const auto& [name, type] : Families(text)) {
    if (type == "counter") {
      EXPECT_TRUE(absl::EndsWith(name, "_total")) << name;
    }
    if (absl::EndsWith(name, "_total")) {
      EXPECT_EQ(type, "counter") << name;
    }
  }
  // Before any decision, the series that can appear are there at 0.
  EXPECT_EQ(
      Sample(
          text,
          R"(arbiter_decisions_total{kind="access",effect="deny",domain="sales",transport="http"})"),
      0)
      << text;
  EXPECT_EQ(
      Sample(text, R"(arbiter_decision_errors_total{kind="access",code="deadline_exceeded"})"), 0);
  EXPECT_EQ(Sample(text, R"(arbiter_bundle_reloads_total{outcome="failure"})"), 0);
  EXPECT_EQ(Sample(text, R"(arbiter_rejected_calls_total{reason="overload"})"), 0);
}

TEST_F(MetricsEndpointTest, BuildBundleReloadAndProcessInfo) {
  std::string text = Scrape();
  EXPECT_EQ(Sample(text, R"(arbiter_build_info{version="0.1.0"})"), 1) << text;
  std::string revision, digest;
  EXPECT_TRUE(RE2::PartialMatch(
      text, R"re(\narbiter_bundle_info\{revision="([^"]+)",digest="(sha256:[0-9a-f]{64})"\} 1\n)re",
      &revision, &digest))
      << text;
  EXPECT_EQ(revision, "2026.11.21-1");
  EXPECT_GT(Sample(text, "arbiter_bundle_last_reload_success_timestamp_seconds"), 1.7e9);
  EXPECT_EQ(Sample(text, "arbiter_bundle_last_reload_failure_timestamp_seconds"), 0);
  EXPECT_GT(Sample(text, "process_resident_memory_bytes"), 1 << 20);
  EXPECT_GT(Sample(text, "process_open_fds"), 3);
  EXPECT_GT(Sample(text, "process_start_time_seconds"), 1.7e9);
  EXPECT_GE(Sample(text, "process_cpu_seconds_total"), 0);
}

TEST_F(MetricsEndpointTest, DecisionsCarryDomainAndTransport) {
  auto r = testing::HttpRequest(
      server_->http_port(), "POST", "/v1/data/trino/allow",
      R"({"input":{"context":{"identity":{"user":"ana","groups":["analysts"]}},"action":{)"
      R"("operation":"SelectFromColumns","resource":{"table":{"catalogName":"customer_analytics",)"
      R"("schemaName":"customer_360","tableName":"customers","columns":["email"]}}}}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_GE(
      Sample(
          Scrape(),
          R"(arbiter_decisions_total{kind="access",effect="allow",domain="sales",transport="http"})"),
      1);
}

// Every metric docs/grafana-dashboard.json queries is one the server exports, so that no panel
// is silently empty after a rename.
TEST_F(MetricsEndpointTest, EveryDashboardMetricExists) {
  std::string json = testing::ReadFileOrEmpty(ARBITER_DASHBOARD);
  ASSERT_FALSE(json.empty()) << ARBITER_DASHBOARD;
  nlohmann::json dashboard = nlohmann::json::parse(json);
  std::map<std::string, std::string> families = Families(Scrape());
  std::set<std::string> used;
  int exprs = 0;
  for (const auto& panel : dashboard.at("panels")) {
    if (!panel.contains("targets")) continue;
    for (const auto& target : panel.at("targets")) {
      std::string expr = target.at("expr").get<std::string>();
      ++exprs;
      re2::StringPiece input(expr);
      std::string name;
      while (RE2::FindAndConsume(&input, R"(\b((?:arbiter|process)_[a-z_]+))", &name)) {
        used.insert(name);
      }
    }
  }
  EXPECT_GE(exprs, 20);
  EXPECT_GE(used.size(), 20u);
  for (std::string name : used) {
    // A histogram's series are <name>_bucket, _sum and _count of the family <name>.
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (absl::EndsWith(name, suffix) &&
          families.count(name.substr(0, name.size() - strlen(suffix)))) {
        name = name.substr(0, name.size() - strlen(suffix));
      }
    }
    EXPECT_TRUE(families.count(name)) << name << " is in the dashboard but not in /metrics";
  }
}

}  // namespace
}  // namespace arbiter
