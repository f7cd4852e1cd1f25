#include "service/impact/impact.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "service/decision_json/decision_json.h"
#include "service/diff/schema_diff.h"
#include "service/redact/redact.h"
#include "service/value/parse.h"

namespace arbiter::impact {
namespace {

constexpr char kTable[] = "sales_analytics.customer_transactions.transactions";

Value ReadYaml(const std::string& rel) {
  std::ifstream f(std::string(ARBITER_SOURCE_DIR) + "/" + rel);
  std::stringstream s;
  s << f.rdbuf();
  absl::StatusOr<Value> v = ParseYaml(s.str(), rel);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : Value();
}

// The new version removes the contract's `amount` field and the product's `currency` column.
struct Deployment {
  Value product, previous, contract, previous_contract, change;
  Deployment() {
    previous = ReadYaml("policies/catalog/products/customer-transactions.yaml");
    previous_contract = ReadYaml("policies/catalog/contracts/customer-transactions-contract.yaml");
    product = RemoveColumn(previous, "currency");
    contract = previous_contract;
    std::string spec = previous_contract.FindPath({"schema", "specification"})->as_string();
    size_t at = spec.find("{\"name\": \"amount\"");
    size_t end = spec.find('\n', at);
    spec.erase(at, end - at + 1);
    Value schema = *previous_contract.Find("schema");
    schema.Set("specification", spec);
    contract.Set("schema", schema);
    change = ComputeChange(product, &previous, {contract}, {previous_contract});
  }
  static Value RemoveColumn(const Value& product, const std::string& column) {
    // Rebuild spec.outputPorts[0].tables[0].columns without `column`.
    Value p = product;
    Value spec = *p.Find("spec");
    Value ports = *spec.Find("outputPorts");
    Value port = ports.as_list()[0];
    Value table = port.Find("tables")->as_list()[0];
    Value cols = Value::EmptyList();
    for (const Value& c : table.Find("columns")->as_list()) {
      if (c.GetString("name") != column) cols.Append(c);
    }
    table.Set("columns", cols);
    Value tables = Value::EmptyList();
    tables.Append(table);
    port.Set("tables", tables);
    ports.mutable_list()[0] = port;
    spec.Set("outputPorts", ports);
    p.Set("spec", spec);
    return p;
  }
  Impact Make(const Options& o) const {
    return Impact(product, &previous, {contract}, {previous_contract}, change, o);
  }
};

const absl::Time kNow = absl::FromUnixSeconds(1795996800);  // 2026-11-30T00:00:00Z

struct Read {
  int days_ago;
  std::string id, domain;
  std::string table;
  std::vector<std::string> columns;
  std::string action;
  Effect effect;
  std::string product;
};

Read R(int days_ago, std::string id, std::string domain, std::string table,
       std::vector<std::string> columns, std::string action = "read",
       Effect effect = Effect::kAllow, std::string product = "") {
  return Read{days_ago,         std::move(id),      std::move(domain),
              std::move(table), std::move(columns), std::move(action),
              effect,           std::move(product)};
}

std::string Line(const Read& r, const redact::Redactor* redactor = nullptr) {
  AccessRequest a;
  a.principal.id = r.id;
  a.principal.domain = r.domain;
  a.action = r.action;
  a.resource.table = r.table;
  a.resource.columns = r.columns;
  a.resource.product = r.product;
  Decision d;
  d.decision_id = "d-" + r.id;
  d.effect = r.effect;
  // Every line carries an allow finding, so that a denied line passes the cheap filter and is
  // refused by what the decision says.
  Reason reason;
  reason.policy_id = "global.access-grants";
  reason.effect = Effect::kAllow;
  d.reasons.push_back(reason);
  absl::Time t = kNow - absl::Hours(24 * r.days_ago) + absl::Minutes(1);
  json::Caller who{"ipv4:127.0.0.1:1", "trino", "query-engine", "", "grpc"};
  if (redactor == nullptr) {
    return json::DecisionLogLine(d, Request(a), t, absl::Microseconds(40), who);
  }
  std::string request_json;
  json::AppendRequest(request_json, Request(a));
  return json::DecisionLogLine(d, Kind::kAccess, redactor->ApplyToJson(request_json), t,
                               absl::Microseconds(40), who);
}

// The recorded log: known readers of `amount` and `currency`, and lines that must not count.
std::vector<std::string> RecordedLog(const redact::Redactor* redactor = nullptr) {
  std::vector<Read> reads = {
      R(40, "old-reader", "marketing", kTable, {"amount"}),  // outside a 30-day window
      R(10, "fin-batch", "finance", kTable, {}),             // SELECT *: every column
      R(6, "mkt-analyst", "marketing", kTable, {"amount", "channel"}),
      R(5, "ops-bot", "operations", kTable, {"transaction_id"}),  // neither column
      R(4, "intruder", "marketing", kTable, {"amount"}, "read", Effect::kDeny),
      R(3, "loader", "sales", kTable, {"amount"}, "write"),  // not a read
      R(3, "mkt-analyst", "marketing", "marketing_analytics.campaign_performance.campaign_metrics",
        {"spend"}),
      R(2, "scm-planner", "supplychain", "", {}, "read", Effect::kAllow, "customer-transactions"),
      R(1, "MKT-ANALYST-2", "marketing", "SALES_ANALYTICS.Customer_Transactions.TRANSACTIONS",
        {"AMOUNT"}),
      R(1, "mkt-analyst", "marketing", kTable, {"currency"}),
  };
  std::vector<std::string> lines;
  for (const Read& r : reads) lines.push_back(Line(r, redactor));
  return lines;
}

const Value& EntryFor(const Value& impact, const std::string& rule) {
  for (const Value& e : impact.Find("entries")->as_list()) {
    if (e.GetString("rule") == rule) return e;
  }
  ADD_FAILURE() << "no entry for " << rule << " in " << impact.ToJson();
  static const Value kNull;
  return kNull;
}

// "id:decisions" of a list of readers, in order.
std::string Readers(const Value& list, const char* key) {
  std::vector<std::string> out;
  for (const Value& r : list.as_list()) {
    const Value* n = r.Find("decisions");
    out.push_back(n == nullptr ? r.GetString(key)
                               : absl::StrCat(r.GetString(key), ":", n->as_int()));
  }
  return absl::StrJoin(out, ",");
}

Options At(absl::Duration window = absl::Hours(24 * 30)) {
  Options o;
  o.now = kNow;
  o.window = window;
  return o;
}

TEST(ImpactTest, BreakingEntriesNameTheServedColumnsAndTheirConsumers) {
  Deployment dep;
  Impact impact = dep.Make(At());
  ASSERT_FALSE(impact.empty());
  Value v = impact.ToValue();
  const Value& amount = EntryFor(v, "field_removed");
  EXPECT_EQ(amount.GetString("document"), "contract:customer-transactions-contract");
  EXPECT_EQ(amount.Find("columns")->ToJson(), absl::StrCat("[\"", kTable, ".amount\"]"));
  EXPECT_EQ(Readers(*amount.Find("consumers"), "domain"), "marketing,finance");
  const Value& currency = EntryFor(v, "column_removed");
  EXPECT_EQ(currency.Find("columns")->ToJson(), absl::StrCat("[\"", kTable, ".currency\"]"));
  // A product entry: the consumers of every contract of the product.
  EXPECT_EQ(currency.Find("consumers")->size(), 2u);
  EXPECT_EQ(v.GetString("source"), "none");
}

TEST(ImpactTest, ReadersFromARecordedLogIncludingSelectStar) {
  Deployment dep;
  Impact impact = dep.Make(At());
  impact.ScanLines(RecordedLog());
  Value v = impact.ToValue();
  const Value& amount = EntryFor(v, "field_removed");
  // fin-batch named no columns (SELECT *) and scm-planner only the product: both read every
  // column. The upper-case table and column names count (names compare case-insensitively).
  // Not: the old line, ops-bot (other column), the denied read, the write, the other table.
  EXPECT_EQ(Readers(*amount.Find("principals"), "id"),
            "MKT-ANALYST-2:1,scm-planner:1,mkt-analyst:1,fin-batch:1");
  EXPECT_EQ(amount.Find("decisions")->as_int(), 4);
  EXPECT_EQ(Readers(*amount.Find("domains"), "domain"), "marketing:2,supplychain:1,finance:1");
  for (const Value& d : amount.Find("domains")->as_list()) {
    EXPECT_EQ(d.Find("consumer")->as_bool(),
              d.GetString("domain") == "marketing" || d.GetString("domain") == "finance");
    if (d.GetString("domain") == "marketing") {
      // The newest of its two reads: MKT-ANALYST-2, a day ago.
      EXPECT_EQ(d.Find("last_seen")->as_int(),
                absl::ToUnixSeconds(kNow - absl::Hours(23) - absl::Minutes(59)));
    }
  }
  const Value& currency = EntryFor(v, "column_removed");
  EXPECT_EQ(Readers(*currency.Find("principals"), "id"), "mkt-analyst:1,scm-planner:1,fin-batch:1");
  // Over all entries: a decision counts once even when it read both columns.
  EXPECT_EQ(Readers(*v.Find("principals"), "id"),
            "mkt-analyst:2,MKT-ANALYST-2:1,scm-planner:1,fin-batch:1");
  EXPECT_EQ(v.FindPath({"scanned", "matched"})->as_int(), 5);
  EXPECT_EQ(v.FindPath({"scanned", "lines"})->as_int(), 10);
  EXPECT_TRUE(v.Find("complete")->as_bool());
}

TEST(ImpactTest, WindowFiltering) {
  Deployment dep;
  Impact week = dep.Make(At(absl::Hours(24 * 7)));
  week.ScanLines(RecordedLog());
  Value v = week.ToValue();
  // fin-batch's SELECT * was 10 days ago.
  EXPECT_EQ(Readers(*EntryFor(v, "field_removed").Find("principals"), "id"),
            "MKT-ANALYST-2:1,scm-planner:1,mkt-analyst:1");
  EXPECT_EQ(v.Find("since")->as_int(), absl::ToUnixSeconds(kNow) - 7 * 86400);
  EXPECT_EQ(v.Find("window_seconds")->as_int(), 7 * 86400);
  // A decision after `now` (a dry run at an earlier time) does not count either.
  Options earlier = At();
  earlier.now = kNow - absl::Hours(24 * 5);
  Impact before = dep.Make(earlier);
  before.ScanLines(RecordedLog());
  EXPECT_EQ(Readers(*EntryFor(before.ToValue(), "field_removed").Find("principals"), "id"),
            "mkt-analyst:1,fin-batch:1");
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/impact_test.XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string Write(const std::string& name, const std::vector<std::string>& lines) {
    std::string p = path_ + "/" + name;
    std::ofstream f(p, std::ios::binary);
    for (const std::string& l : lines) f << l << "\n";
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(ImpactTest, RotatedFilesAreReadNewestFirstAndStopPastTheWindow) {
  Deployment dep;
  TempDir dir;
  std::vector<std::string> log = RecordedLog();
  // decisions.log.2 holds the oldest lines, decisions.log the newest (as DecisionLog rotates).
  std::string live = dir.Write("decisions.log", {log.begin() + 7, log.end()});
  dir.Write("decisions.log.1", {log.begin() + 1, log.begin() + 7});
  dir.Write("decisions.log.2", {log.begin(), log.begin() + 1});
  dir.Write("decisions.log.3", {"this file is past the window and must not be read"});
  std::vector<std::string> files = RotatedFiles(live, 5);
  ASSERT_EQ(files.size(), 4u);
  EXPECT_EQ(files[1], live + ".1");

  Impact all = dep.Make(At());
  all.ScanFiles(files, /*rotation_order=*/true);
  Value v = all.ToValue();
  EXPECT_EQ(Readers(*EntryFor(v, "field_removed").Find("principals"), "id"),
            "MKT-ANALYST-2:1,scm-planner:1,mkt-analyst:1,fin-batch:1");
  // .2's only line is older than the window: .3 is not opened.
  EXPECT_EQ(v.FindPath({"scanned", "files"})->as_int(), 3);
  EXPECT_EQ(v.FindPath({"scanned", "skipped"})->as_int(), 0);

  // Files named on a command line in any order are all read (no early stop).
  Impact any = dep.Make(At());
  any.ScanFiles({files[3], files[2], files[0], files[1], dir.path() + "/missing.log"}, false);
  Value w = any.ToValue();
  EXPECT_EQ(w.FindPath({"scanned", "files"})->as_int(), 4);
  EXPECT_EQ(EntryFor(w, "field_removed").Find("decisions")->as_int(), 4);
  // The missing file is named, and the result is marked incomplete; the garbage line skipped.
  ASSERT_NE(w.Find("errors"), nullptr);
  EXPECT_NE(w.Find("errors")->ToJson().find("missing.log"), std::string::npos);
  EXPECT_FALSE(w.Find("complete")->as_bool());
  EXPECT_EQ(w.FindPath({"scanned", "skipped"})->as_int(), 0) << "the garbage line has no kind";
}

TEST(ImpactTest, PrincipalsAppearAsTheLogRedactedThem) {
  Deployment dep;
  redact::Redactor redactor({{"principal.id", redact::Rule::Action::kDigest},
                             {"principal.attributes", redact::Rule::Action::kDrop}});
  Impact impact = dep.Make(At());
  impact.ScanLines(RecordedLog(&redactor));
  Value v = impact.ToValue();
  std::string ids = Readers(*EntryFor(v, "field_removed").Find("principals"), "id");
  EXPECT_EQ(ids.find("mkt-analyst"), std::string::npos) << ids;
  EXPECT_NE(ids.find(redact::Digest("mkt-analyst") + ":1"), std::string::npos) << ids;
  EXPECT_EQ(Readers(*EntryFor(v, "field_removed").Find("domains"), "domain"),
            "marketing:2,supplychain:1,finance:1");
  // A dropped id is shown as the log has it: empty.
  redact::Redactor drop({{"principal.id", redact::Rule::Action::kDrop}});
  Impact dropped = dep.Make(At());
  dropped.ScanLines(RecordedLog(&drop));
  EXPECT_EQ(Readers(*EntryFor(dropped.ToValue(), "field_removed").Find("principals"), "id"),
            ":2,:1,:1")
      << "grouped by domain: marketing, then supplychain (newer), then finance";
}

TEST(ImpactTest, HostileLogsAreBoundedAndSaySo) {
  Deployment dep;
  std::vector<std::string> log = RecordedLog();
  // Garbage, an over-long line and a truncated line are skipped and counted.
  std::vector<std::string> hostile = {absl::StrCat("{\"kind\":\"access\",\"allow\",\"", kTable),
                                      std::string(100, 'x'), log[1].substr(0, log[1].size() / 2)};
  Options o = At();
  o.limits.max_line_bytes = 99;
  Impact skip = dep.Make(o);
  skip.ScanLines(hostile);
  Value v = skip.ToValue();
  EXPECT_EQ(v.FindPath({"scanned", "skipped"})->as_int(), 3) << v.ToJson();
  EXPECT_TRUE(v.Find("complete")->as_bool());

  // A byte cap: the scan stops, and says which limit stopped it.
  Options small = At();
  small.limits.max_bytes = log[0].size() + log[1].size() + 2;
  Impact capped = dep.Make(small);
  capped.ScanLines(log);
  Value c = capped.ToValue();
  EXPECT_FALSE(c.Find("complete")->as_bool());
  EXPECT_EQ(c.GetString("limit"), "max_bytes");
  EXPECT_EQ(c.FindPath({"scanned", "lines"})->as_int(), 2);

  // Of a file bigger than the byte budget, the newest part is read.
  TempDir dir;
  std::string file = dir.Write("decisions.log", log);
  Options tail = At();
  tail.limits.max_bytes = log.back().size() + log[log.size() - 2].size() + 2 + 10;
  Impact t = dep.Make(tail);
  t.ScanFiles({file}, true);
  Value tv = t.ToValue();
  EXPECT_EQ(tv.GetString("limit"), "max_bytes");
  EXPECT_EQ(Readers(*EntryFor(tv, "column_removed").Find("principals"), "id"), "mkt-analyst:1");
  EXPECT_EQ(Readers(*EntryFor(tv, "field_removed").Find("principals"), "id"), "MKT-ANALYST-2:1");

  // A line cap on a file keeps the newest lines: files are read backwards.
  Options newest = At();
  newest.limits.max_lines = 2;
  Impact nl = dep.Make(newest);
  nl.ScanFiles({file}, true);
  Value nv = nl.ToValue();
  EXPECT_EQ(nv.GetString("limit"), "max_lines");
  EXPECT_EQ(Readers(*EntryFor(nv, "field_removed").Find("principals"), "id"), "MKT-ANALYST-2:1");
  EXPECT_EQ(Readers(*EntryFor(nv, "column_removed").Find("principals"), "id"), "mkt-analyst:1");

  // The line cap and the principal cap.
  Options lines = At();
  lines.limits.max_lines = 3;
  Impact l = dep.Make(lines);
  l.ScanLines(log);
  EXPECT_EQ(l.ToValue().GetString("limit"), "max_lines");
  Options few = At();
  few.limits.max_principals = 1;
  Impact p = dep.Make(few);
  p.ScanLines(log);
  Value pv = p.ToValue();
  EXPECT_EQ(EntryFor(pv, "field_removed").Find("principals")->size(), 1u);
  EXPECT_EQ(EntryFor(pv, "field_removed").Find("other_principals")->as_int(), 3);
  EXPECT_EQ(EntryFor(pv, "field_removed").Find("decisions")->as_int(), 4);

  // A deadline already passed stops the scan at once.
  Options late = At();
  late.deadline = absl::Now() - absl::Seconds(1);
  Impact d = dep.Make(late);
  d.ScanLines(log);
  EXPECT_EQ(d.ToValue().GetString("limit"), "deadline");
}

TEST(ImpactTest, NoColumnNoImpact) {
  Deployment dep;
  // Only a version bump: nothing breaking.
  Value change =
      ComputeChange(dep.previous, &dep.previous, {dep.previous_contract}, {dep.previous_contract});
  Impact none(dep.previous, &dep.previous, {dep.previous_contract}, {dep.previous_contract}, change,
              At());
  EXPECT_TRUE(none.empty());
  // A removed table names every column of it.
  Value spec = *dep.previous.Find("spec");
  Value ports = *spec.Find("outputPorts");
  Value port = ports.as_list()[0];
  port.Set("tables", Value::EmptyList());
  ports.mutable_list()[0] = port;
  spec.Set("outputPorts", ports);
  Value product = dep.previous;
  product.Set("spec", spec);
  Value removed = ComputeChange(product, &dep.previous, {}, {});
  Impact table(product, &dep.previous, {}, {}, removed, At());
  table.ScanLines(RecordedLog());
  Value v = table.ToValue();
  const Value& e = EntryFor(v, "table_removed");
  EXPECT_EQ(e.Find("columns")->ToJson(), absl::StrCat("[\"", kTable, ".*\"]"));
  // Every allowed read of the table in the window, whatever columns it named.
  EXPECT_EQ(e.Find("decisions")->as_int(), 6);
}

TEST(ImpactTest, TheProducingDomainIsMarked) {
  Deployment dep;
  Impact impact = dep.Make(At());
  impact.ScanLines({Line(R(1, "sam", "sales", kTable, {"amount"})),
                    Line(R(1, "max", "marketing", kTable, {"amount"}))});
  Value v = impact.ToValue();
  for (const Value& d : EntryFor(v, "field_removed").Find("domains")->as_list()) {
    const Value* producer = d.Find("producer");
    EXPECT_EQ(producer != nullptr && producer->as_bool(), d.GetString("domain") == "sales")
        << d.ToJson();
  }
}

TEST(ImpactTest, AContextKeyNamedEffectDoesNotConfuseTheDecisionsEffect) {
  // Only the head of a line up to the top-level "effect" is parsed; a request whose context has
  // an "effect" key of its own must still be judged by the decision's effect.
  Deployment dep;
  auto line = [](const std::string& id, Effect effect, const std::string& context_effect) {
    AccessRequest a;
    a.principal.id = id;
    a.principal.domain = "marketing";
    a.action = "read";
    a.resource.table = kTable;
    a.resource.columns = {"amount"};
    a.context["a"] = "x";  // so that the request holds `,"effect":"` itself
    a.context["effect"] = context_effect;
    Decision d;
    d.effect = effect;
    return json::DecisionLogLine(d, Request(a), kNow - absl::Hours(1), absl::Microseconds(1),
                                 json::Caller{});
  };
  Impact impact = dep.Make(At());
  impact.ScanLines(
      {line("allowed", Effect::kAllow, "deny"), line("denied", Effect::kDeny, "allow")});
  EXPECT_EQ(Readers(*EntryFor(impact.ToValue(), "field_removed").Find("principals"), "id"),
            "allowed:1");
}

TEST(ImpactTest, ParseWindow) {
  EXPECT_EQ(*ParseWindow("30d", "--since"), absl::Hours(720));
  EXPECT_EQ(*ParseWindow("12h", "--since"), absl::Hours(12));
  EXPECT_EQ(*ParseWindow("90m", "--since"), absl::Minutes(90));
  EXPECT_EQ(*ParseWindow("45s", "--since"), absl::Seconds(45));
  for (const char* bad : {"", "d", "0d", "-1d", "30", "30w", "1.5d", "999999d"}) {
    absl::StatusOr<absl::Duration> w = ParseWindow(bad, "--since");
    ASSERT_FALSE(w.ok()) << bad;
    EXPECT_NE(w.status().message().find("--since"), absl::string_view::npos);
  }
}

}  // namespace
}  // namespace arbiter::impact
