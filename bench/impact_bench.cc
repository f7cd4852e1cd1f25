// Cost of the blast radius's decision log scan (service/impact): lines per second through
// Impact::ScanLines for a deployment removing customer-transactions' `amount` field, over 10,000
// access decision lines as the server logs them (service/decision_json), of which every line
// (BM_ImpactScan/100) or one in ten (BM_ImpactScan/10) reads the changed table; the others read
// another product's table and are dropped by the cheap filter without being parsed. The scan's
// 2 s budget (impact::Limits) divided by these per-line costs is how many decisions a gate sees.
//
// Run: impact_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "service/decision_json/decision_json.h"
#include "service/diff/schema_diff.h"
#include "service/impact/impact.h"
#include "service/value/parse.h"

namespace arbiter {
namespace {

Value ReadYaml(const std::string& relative) {
  std::ifstream in(absl::StrCat(ARBITER_POLICIES_DIR, "/", relative), std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  absl::StatusOr<Value> v = ParseYaml(s.str(), relative);
  if (!v.ok()) std::abort();
  return *v;
}

void BM_ImpactScan(benchmark::State& state) {
  const int percent = static_cast<int>(state.range(0));
  Value product = ReadYaml("catalog/products/customer-transactions.yaml");
  Value contract = ReadYaml("catalog/contracts/customer-transactions-contract.yaml");
  Value changed = contract;
  std::string spec = contract.FindPath({"schema", "specification"})->as_string();
  size_t at = spec.find("{\"name\": \"amount\"");
  spec.erase(at, spec.find('\n', at) - at + 1);
  Value schema = *contract.Find("schema");
  schema.Set("specification", spec);
  changed.Set("schema", schema);
  Value change = ComputeChange(product, &product, {changed}, {contract});

  absl::Time now = absl::FromUnixSeconds(1795996800);
  std::vector<std::string> lines;
  size_t bytes = 0;
  for (int i = 0; i < 10000; ++i) {
    AccessRequest a;
    a.principal.id = absl::StrCat("user", i % 500);
    a.principal.domain = i % 2 ? "marketing" : "finance";
    a.principal.roles = {"marketing-analytics"};
    a.action = "read";
    a.resource.table = i % 100 < percent
                           ? "sales_analytics.customer_transactions.transactions"
                           : "marketing_analytics.campaign_performance.campaign_metrics";
    a.resource.columns = {"amount", "channel", "currency"};
    Decision d;
    d.decision_id = absl::StrCat("bench-", i);
    d.effect = Effect::kAllow;
    Reason r;
    r.policy_id = "global.access-grants";
    r.origin = "global";
    r.effect = Effect::kAllow;
    r.message = "Granted by the data product's access control.";
    r.detail = "role marketing-analytics has read on customer-transactions";
    d.reasons.push_back(r);
    d.evaluated_policies = {"global.access-grants", "global.audit-read", "global.pii-masking"};
    lines.push_back(json::DecisionLogLine(
        d, Request(a), now - absl::Seconds(10000 - i), absl::Microseconds(40),
        json::Caller{"ipv4:10.0.0.1:5000", "trino", "query-engine", "", "grpc"}));
    bytes += lines.back().size() + 1;
  }
  impact::Options options;
  options.now = now;
  options.limits.max_time = absl::Hours(1);  // measure the work, not the budget
  for (auto _ : state) {
    impact::Impact scan(product, &product, {changed}, {contract}, change, options);
    scan.ScanLines(lines);
    benchmark::DoNotOptimize(scan.ToValue());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(lines.size()));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes));
}
BENCHMARK(BM_ImpactScan)->Arg(100)->Arg(10)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace arbiter
