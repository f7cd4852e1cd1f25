// The blast radius through a real arbiterd: CheckDeployment's decision carries change.impact,
// computed from the server's own decision log (the live file it writes and a rotation it finds
// beside it), with principals redacted as the log redacts them, and the shipped bundle's
// global.blast-radius warning.
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/cpp/arbiter_client.h"
#include "gtest/gtest.h"
#include "service/redact/redact.h"
#include "tests/support/arbiterd_process.h"

namespace arbiter::testing {
namespace {

constexpr char kTable[] = "sales_analytics.customer_transactions.transactions";

using google::protobuf::Struct;
using PValue = google::protobuf::Value;

const PValue& At(const Struct& s, const std::string& key) {
  static const PValue kNull;
  auto it = s.fields().find(key);
  return it == s.fields().end() ? kNull : it->second;
}

v1::AccessRequest Read(const std::string& id, const std::string& domain,
                       std::vector<std::string> roles, std::vector<std::string> columns) {
  v1::AccessRequest a;
  a.mutable_principal()->set_id(id);
  a.mutable_principal()->set_domain(domain);
  for (const std::string& r : roles) a.mutable_principal()->add_roles(r);
  (*a.mutable_principal()->mutable_attributes())["region"] = "EU";
  a.set_action("read");
  a.mutable_resource()->set_table(kTable);
  for (const std::string& c : columns) a.mutable_resource()->add_columns(c);
  return a;
}

// customer-transactions 2.0.0 whose contract (2.0.0) no longer has `amount`: breaking, but in a
// major release, so only the blast radius speaks.
v1::DeploymentRequest RemoveAmountInMajorRelease() {
  std::string product =
      ReadFileOrEmpty(ShippedBundleDir() + "/catalog/products/customer-transactions.yaml");
  std::string contract = ReadFileOrEmpty(ShippedBundleDir() +
                                         "/catalog/contracts/customer-transactions-contract.yaml");
  v1::DeploymentRequest r;
  r.mutable_previous()->set_yaml(product);
  r.add_previous_contracts()->set_yaml(contract);
  std::string next = product;
  next.replace(next.find("version: 1.2.0"), 14, "version: 2.0.0");
  r.mutable_product()->set_yaml(next);
  std::string changed = contract;
  changed.replace(changed.find("version: 1.2.0"), 14, "version: 2.0.0");
  size_t at = changed.find("{\"name\": \"amount\"");
  changed.erase(at, changed.find('\n', at) - at + 1);
  r.add_contracts()->set_yaml(changed);
  r.set_environment("production");
  return r;
}

TEST(BlastRadiusServerTest, CheckDeploymentNamesTheReadersFromTheServersOwnLog) {
  std::string dir = MakeTempDir("blast-radius");
  std::string log = dir + "/decisions.jsonl";
  // A rotation written before this server started: finance's batch ran a SELECT * (no columns)
  // three days ago; its id is digested, as a server with this config wrote it.
  absl::Time three_days_ago = absl::Now() - absl::Hours(72);
  WriteFile(log + ".1",
            absl::StrCat(R"({"decision_id":"old","time":")",
                         absl::FormatTime(absl::RFC3339_full, three_days_ago, absl::UTCTimeZone()),
                         R"(","kind":"access","request":{"principal":{"id":")",
                         redact::Digest("fin-batch"),
                         R"(","domain":"finance"},"action":"read","resource":{"table":")", kTable,
                         R"("}},"effect":"allow","reasons":[]})", "\n"));
  ArbiterdOptions o;
  o.bundle_dir = ShippedBundleDir();
  o.http = false;
  o.config_yaml = absl::StrCat("decision_log:\n  path: ", log,
                               "\n  redact:\n    - {path: principal.id, action: digest}\n");
  auto server = ArbiterdProcess::Start(o);
  ASSERT_TRUE(server.ok()) << server.status().message();
  client::Client c((*server)->grpc_target());

  // Marketing's analyst reads amount (allowed by the product's accessControl); a principal
  // without a role is refused the same read and is no reader.
  auto allowed = c.CheckAccess(Read("max", "marketing", {"marketing-analytics"}, {"amount"}));
  ASSERT_TRUE(allowed.ok()) << allowed.status();
  ASSERT_EQ(allowed->effect(), v1::EFFECT_ALLOW);
  auto denied = c.CheckAccess(Read("eve", "marketing", {}, {"amount"}));
  ASSERT_TRUE(denied.ok()) << denied.status();
  ASSERT_EQ(denied->effect(), v1::EFFECT_DENY);
  // Another column: not a reader of amount.
  auto other = c.CheckAccess(Read("ops", "marketing", {"marketing-analytics"}, {"channel"}));
  ASSERT_TRUE(other.ok()) << other.status();

  auto d = c.CheckDeployment(RemoveAmountInMajorRelease());
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->effect(), v1::EFFECT_ALLOW);
  bool warned = false;
  for (const v1::Reason& r : d->reasons()) {
    if (r.policy_id() == "global.blast-radius") {
      warned = true;
      EXPECT_EQ(r.severity(), v1::SEVERITY_WARNING);
      EXPECT_EQ(r.message(),
                "Breaking change to columns that finance, marketing read in the last 7 days; get "
                "the consumer domain's waiver before deploying.");
    }
  }
  EXPECT_TRUE(warned);

  const Struct& impact = At(d->change(), "impact").struct_value();
  EXPECT_EQ(At(impact, "source").string_value(), absl::StrCat("decision log ", log));
  EXPECT_TRUE(At(impact, "complete").bool_value());
  EXPECT_EQ(At(At(impact, "scanned").struct_value(), "files").number_value(), 2);
  const auto& entries = At(impact, "entries").list_value();
  ASSERT_EQ(entries.values_size(), 1);
  const Struct& e = entries.values(0).struct_value();
  EXPECT_EQ(At(e, "rule").string_value(), "field_removed");
  EXPECT_EQ(At(e, "columns").list_value().values(0).string_value(),
            absl::StrCat(kTable, ".amount"));
  EXPECT_EQ(At(e, "decisions").number_value(), 2);
  // Principals as the log holds them: digests, never the ids that were asked about.
  std::vector<std::string> ids;
  for (const PValue& p : At(e, "principals").list_value().values()) {
    ids.push_back(At(p.struct_value(), "id").string_value());
  }
  EXPECT_EQ(ids, (std::vector<std::string>{redact::Digest("max"), redact::Digest("fin-batch")}));
  // Both declared consumers, each with its reads.
  std::vector<std::string> domains;
  for (const PValue& p : At(e, "domains").list_value().values()) {
    const Struct& s = p.struct_value();
    domains.push_back(absl::StrCat(At(s, "domain").string_value(), ":",
                                   At(s, "decisions").number_value(), ":",
                                   At(s, "consumer").bool_value()));
  }
  EXPECT_EQ(domains, (std::vector<std::string>{"marketing:1:1", "finance:1:1"}));
}

// The peak resident size of a process, from /proc (kB); 0 when unknown.
int64_t PeakRssKb(pid_t pid) {
  std::ifstream f(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      int64_t kb = 0;
      std::string digits;
      for (char ch : line) {
        if (ch >= '0' && ch <= '9') digits.push_back(ch);
      }
      return absl::SimpleAtoi(digits, &kb) ? kb : 0;
    }
  }
  return 0;
}

TEST(BlastRadiusServerTest, AHugeRotatedLogIsCutShortNotLoaded) {
  // A 1 GiB rotation with no newline at all (a sparse file: no disk used) beside a log whose
  // live file holds one real read. The scan reads the live file, then stops in the huge one at
  // its byte or time bound, says so, and never holds more than a line's budget of it.
  std::string dir = MakeTempDir("blast-radius-huge");
  std::string log = dir + "/decisions.jsonl";
  { std::ofstream touch(log + ".1"); }
  ASSERT_EQ(truncate((log + ".1").c_str(), 1ll << 30), 0);
  ArbiterdOptions o;
  o.bundle_dir = ShippedBundleDir();
  o.http = false;
  o.config_yaml = absl::StrCat("decision_log:\n  path: ", log, "\n");
  auto server = ArbiterdProcess::Start(o);
  ASSERT_TRUE(server.ok()) << server.status().message();
  client::ClientOptions options;
  options.timeout = absl::Seconds(30);
  client::Client c((*server)->grpc_target(), options);
  auto allowed = c.CheckAccess(Read("max", "marketing", {"marketing-analytics"}, {"amount"}));
  ASSERT_TRUE(allowed.ok()) << allowed.status();
  ASSERT_EQ(allowed->effect(), v1::EFFECT_ALLOW);

  auto d = c.CheckDeployment(RemoveAmountInMajorRelease());
  ASSERT_TRUE(d.ok()) << d.status();
  const Struct& impact = At(d->change(), "impact").struct_value();
  EXPECT_FALSE(At(impact, "complete").bool_value());
  std::string limit = At(impact, "limit").string_value();
  EXPECT_TRUE(limit == "max_bytes" || limit == "max_time") << limit;
  EXPECT_GE(At(At(impact, "scanned").struct_value(), "skipped").number_value(), 1);
  // The newest decisions were read first: max's read counts.
  const Struct& e = At(impact, "entries").list_value().values(0).struct_value();
  EXPECT_EQ(At(e, "decisions").number_value(), 1);
  int64_t peak = PeakRssKb((*server)->pid());
  EXPECT_GT(peak, 0);
  EXPECT_LT(peak, 512 * 1024) << "the server's peak RSS (kB) grew with the 1 GiB file";
}

}  // namespace
}  // namespace arbiter::testing
