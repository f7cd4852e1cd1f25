// `arbiter gate` as a pipeline runs it: the CLI binary in a scratch domain repository (a git
// repository where a test needs history), offline with the shipped bundle or against a real
// arbiterd. Checks exit codes (0 allowed, 1 denied or warned under --fail-on-warn, 2 could not
// decide) and the shape of every output format.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <regex>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/arbiterd_process.h"

namespace arbiter::testing {
namespace {

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs a shell command line in `dir`, capturing stdout and stderr in files of that directory.
RunResult RunIn(const std::string& dir, const std::string& command) {
  std::string out = dir + "/.stdout", err = dir + "/.stderr";
  int status = std::system(
      absl::StrCat("cd '", dir, "' && ", command, " >'", out, "' 2>'", err, "'").c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = ReadFileOrEmpty(out);
  r.err = ReadFileOrEmpty(err);
  std::filesystem::remove(out);
  std::filesystem::remove(err);
  return r;
}

// `arbiter gate <args>` in `dir`, with the CI variables of the machine running the tests
// cleared so that only what a test sets is seen.
RunResult Gate(const std::string& dir, const std::string& args, const std::string& env = "") {
  return RunIn(dir, absl::StrCat("env -u GITHUB_ACTIONS -u GITHUB_SHA -u GITLAB_CI -u "
                                 "CI_COMMIT_SHA ",
                                 env, " '", ArbiterCliBinary(), "' gate ", args));
}

std::string Catalog(const std::string& rel) { return ShippedBundleDir() + "/catalog/" + rel; }
std::string Bundle() { return absl::StrCat("--bundle '", ShippedBundleDir(), "'"); }

// A domain repository in the conventional layout: data-product.yaml + contracts/.
std::string DomainRepo(const std::string& product, const std::string& contract) {
  std::string dir = MakeTempDir("gate");
  WriteFile(dir + "/data-product.yaml", ReadFileOrEmpty(Catalog("products/" + product)));
  if (!contract.empty()) {
    WriteFile(dir + "/contracts/" + contract, ReadFileOrEmpty(Catalog("contracts/" + contract)));
  }
  return dir;
}

// The next version of customer-transactions: 1.3.0, with the contract's `amount` field removed
// (a breaking change in a minor release).
void RemoveAmountInMinorRelease(const std::string& dir) {
  std::string product = ReadFileOrEmpty(dir + "/data-product.yaml");
  WriteFile(dir + "/data-product.yaml",
            absl::StrReplaceAll(product, {{"version: 1.2.0", "version: 1.3.0"}}));
  std::string path = dir + "/contracts/customer-transactions-contract.yaml";
  std::string out;
  for (absl::string_view line : absl::StrSplit(ReadFileOrEmpty(path), '\n')) {
    if (absl::StrContains(line, "\"name\": \"amount\"")) continue;
    absl::StrAppend(&out, absl::StrReplaceAll(line, {{"version: 1.2.0", "version: 1.3.0"}}), "\n");
  }
  WriteFile(path, out);
}

// A scratch git repository holding the released version in its HEAD and the breaking change
// in the working tree.
std::string GitRepoWithBreakingChange() {
  std::string dir = DomainRepo("customer-transactions.yaml", "customer-transactions-contract.yaml");
  RunResult init = RunIn(dir,
                         "git init -q . && git add . && git -c user.email=ci@example.com "
                         "-c user.name=ci commit -q -m 'release 1.2.0'");
  EXPECT_EQ(init.exit_code, 0) << init.err;
  RemoveAmountInMinorRelease(dir);
  return dir;
}

TEST(GateTest, AllowedWhenNothingChanged) {
  // Offline, without a previous version: the bundle's catalog holds the deployed one, which is
  // the same as what is deployed again.
  std::string dir = DomainRepo("customer-transactions.yaml", "customer-transactions-contract.yaml");
  RunResult r = Gate(dir, absl::StrCat(Bundle(), " --env production"));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(absl::StartsWith(r.out, "ALLOWED: deploy customer-transactions 1.2.0 to production"))
      << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "previous    bundle catalog")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "product customer-transactions: 1.2.0 -> 1.2.0 (none)"))
      << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "Schema changes: none")) << r.out;
}

TEST(GateTest, DeniedAgainstPreviousFiles) {
  std::string dir = DomainRepo("customer-transactions.yaml", "customer-transactions-contract.yaml");
  RemoveAmountInMinorRelease(dir);
  RunResult r = Gate(
      dir, absl::StrCat(Bundle(),
                        " --env staging --product data-product.yaml"
                        " --contract contracts/customer-transactions-contract.yaml"
                        " --previous '",
                        Catalog("products/customer-transactions.yaml"), "' --previous-contract '",
                        Catalog("contracts/customer-transactions-contract.yaml"), "'"));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(absl::StartsWith(r.out, "DENIED")) << r.out;
  EXPECT_TRUE(
      absl::StrContains(r.out, "Errors (1):\n  global.breaking-changes [global, mandatory]"))
      << r.out;
  EXPECT_TRUE(absl::StrContains(r.out,
                                "field_removed  contract:customer-transactions-contract  "
                                "schema.CustomerTransaction.amount"))
      << r.out;
}

TEST(GateTest, WarningsAllowUnlessFailOnWarn) {
  // A production deployment without any contract is only warned by global.production-readiness.
  // The same descriptor as its own previous version: no change but the missing contract.
  std::string dir = DomainRepo("financial-statements.yaml", "");
  std::string flags = absl::StrCat(Bundle(), " --env production --product data-product.yaml",
                                   " --previous data-product.yaml");
  RunResult r = Gate(dir, flags);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(absl::StartsWith(r.out, "ALLOWED WITH WARNINGS")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "Warnings (1):\n  global.production-readiness")) << r.out;

  r = Gate(dir, flags + " --fail-on-warn");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(absl::StartsWith(r.out, "FAILED ON WARNINGS")) << r.out;
}

TEST(GateTest, UnreachableServerCouldNotDecide) {
  std::string dir = DomainRepo("customer-transactions.yaml", "customer-transactions-contract.yaml");
  // Port 1 on loopback: nothing listens, the connection is refused at once.
  RunResult r = Gate(dir, "--server 127.0.0.1:1 --env production --timeout-ms 2000");
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "server 127.0.0.1:1")) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(GateTest, MalformedYamlNamesFileAndLine) {
  std::string dir = DomainRepo("customer-transactions.yaml", "customer-transactions-contract.yaml");
  WriteFile(dir + "/contracts/broken.yaml", "metadata:\n  name: broken\n  version: [1.0.0\n");
  RunResult r = Gate(dir, absl::StrCat(Bundle(), " --env dev"));
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_TRUE(std::regex_search(r.err, std::regex(R"(contracts/broken\.yaml:\d+:)"))) << r.err;
}

TEST(GateTest, BadInvocationsCouldNotDecide) {
  std::string dir = DomainRepo("customer-transactions.yaml", "customer-transactions-contract.yaml");
  EXPECT_EQ(Gate(dir, Bundle()).exit_code, 2);     // no --env
  EXPECT_EQ(Gate(dir, "--env dev").exit_code, 2);  // no server/bundle
  EXPECT_EQ(Gate(dir, absl::StrCat(Bundle(), " --env dev --output xml")).exit_code, 2);
  EXPECT_EQ(Gate(dir, absl::StrCat("--bundle /nonexistent --env dev")).exit_code, 2);
  RunResult r = Gate(dir, absl::StrCat(Bundle(), " --env dev --previous-ref HEAD"));
  EXPECT_EQ(r.exit_code, 2) << r.out;  // not a git repository
  EXPECT_TRUE(absl::StrContains(r.err, "--previous-ref HEAD")) << r.err;
  std::string empty = MakeTempDir("gate-empty");
  r = Gate(empty, absl::StrCat(Bundle(), " --env dev"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(r.err, "data-product.yaml")) << r.err;
}

TEST(GateTest, PreviousRefFindsBreakingChange) {
  std::string dir = GitRepoWithBreakingChange();
  RunResult r = Gate(dir, absl::StrCat(Bundle(), " --env production --previous-ref HEAD"));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "previous    git HEAD")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "product customer-transactions: 1.2.0 -> 1.3.0 (minor)"))
      << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "breaking  field_removed")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "at contracts/customer-transactions-contract.yaml:"))
      << r.out;

  // A contract deleted since the ref is a removed contract.
  std::filesystem::remove(dir + "/contracts/customer-transactions-contract.yaml");
  r = Gate(dir, absl::StrCat(Bundle(), " --env staging --previous-ref HEAD"));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "contract_removed")) << r.out;

  r = Gate(dir, absl::StrCat(Bundle(), " --env staging --previous-ref no-such-ref"));
  EXPECT_EQ(r.exit_code, 2) << r.out;
}

TEST(GateTest, JsonOutput) {
  std::string dir = GitRepoWithBreakingChange();
  RunResult r =
      Gate(dir, absl::StrCat(Bundle(), " --env production --previous-ref HEAD --output json"),
           "GITHUB_ACTIONS=true GITHUB_SHA=abc123 GITHUB_ACTOR=octocat "
           "GITHUB_SERVER_URL=https://github.example GITHUB_REPOSITORY=sales/ct "
           "GITHUB_RUN_ID=77");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["outcome"], "denied");
  EXPECT_EQ(j["exit_code"], 1);
  EXPECT_EQ(j["decision"]["effect"], "deny");
  EXPECT_EQ(j["decision"]["reasons"][0]["policy_id"], "global.breaking-changes");
  EXPECT_EQ(j["decision"]["change"]["version"]["bump"], "minor");
  EXPECT_EQ(j["decision"]["change"]["breaking"][0]["rule"], "field_removed");
  EXPECT_EQ(j["request"]["environment"], "production");
  EXPECT_EQ(j["request"]["product"]["path"], "data-product.yaml");
  EXPECT_EQ(j["request"]["previous_source"], "git HEAD");
  EXPECT_EQ(j["request"]["pipeline"]["commit"], "abc123");
  EXPECT_EQ(j["request"]["pipeline"]["actor"], "octocat");
  EXPECT_EQ(j["request"]["pipeline"]["run_url"], "https://github.example/sales/ct/actions/runs/77");

  // GitLab's variables, and flags winning over them.
  r = Gate(
      dir,
      absl::StrCat(Bundle(), " --env dev --previous-ref HEAD --output json --actor release-bot"),
      "GITLAB_CI=true CI_COMMIT_SHA=def456 GITLAB_USER_LOGIN=ada "
      "CI_JOB_URL=https://gitlab.example/jobs/9");
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["request"]["pipeline"]["commit"], "def456");
  EXPECT_EQ(j["request"]["pipeline"]["actor"], "release-bot");
  EXPECT_EQ(j["request"]["pipeline"]["run_url"], "https://gitlab.example/jobs/9");
  EXPECT_EQ(j["request"]["pipeline"]["ci"], "gitlab");
}

TEST(GateTest, JunitOutputParses) {
  std::string dir = GitRepoWithBreakingChange();
  RunResult r =
      Gate(dir, absl::StrCat(Bundle(), " --env production --previous-ref HEAD --output junit"));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  WriteFile(dir + "/report.xml", r.out);
  // Parsed by a real XML parser, checked the way CI report parsers read JUnit.
  WriteFile(dir + "/check.py", R"(
import sys, xml.etree.ElementTree as ET
root = ET.parse("report.xml").getroot()
assert root.tag == "testsuites", root.tag
suite = root.find("testsuite")
cases = suite.findall("testcase")
assert int(suite.get("tests")) == len(cases) == 4, len(cases)
names = [c.get("name") for c in cases]
assert names == ["global.blast-radius", "global.breaking-changes", "global.no-downgrade",
                 "global.production-readiness"], names
failed = [c.get("name") for c in cases if c.find("failure") is not None]
assert failed == ["global.breaking-changes"], failed
assert int(suite.get("failures")) == 1
assert "major version" in cases[1].find("failure").get("message")
assert "field_removed" in suite.find("system-out").text
print("ok")
)");
  RunResult check = RunIn(dir, absl::StrCat(PYTHON3, " check.py"));
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err << r.out;
}

TEST(GateTest, GithubAnnotations) {
  std::string dir = GitRepoWithBreakingChange();
  RunResult r =
      Gate(dir, absl::StrCat(Bundle(), " --env production --previous-ref HEAD --output github"));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  std::regex shape(R"(^::(error|warning|notice) file=[^,:]+(,line=[1-9][0-9]*)?,title=[^:]+::.+$)");
  std::vector<std::string> commands;
  for (absl::string_view line : absl::StrSplit(r.out, '\n')) {
    if (!absl::StartsWith(line, "::")) continue;
    commands.emplace_back(line);
    EXPECT_TRUE(std::regex_match(commands.back(), shape)) << line;
  }
  ASSERT_GE(commands.size(), 3u) << r.out;
  // The deny points at the descriptor's metadata.version line (line 8 of the seed descriptor).
  EXPECT_EQ(commands[0],
            "::error file=data-product.yaml,line=8,title=global.breaking-changes::This version "
            "makes breaking changes; release it as a new major version.");
  EXPECT_TRUE(
      absl::StartsWith(commands[1],
                       "::warning file=contracts/customer-transactions-contract.yaml,line=6,"
                       "title=global.breaking-changes::Contract customer-transactions-contract"))
      << commands[1];
  // The removed field: the contract, at the record that lost it.
  EXPECT_TRUE(absl::StartsWith(commands[2],
                               "::notice file=contracts/customer-transactions-contract.yaml,line="))
      << commands[2];
  EXPECT_TRUE(absl::StrContains(commands[2], "title=breaking change%3A field_removed::"))
      << commands[2];
}

TEST(GateTest, DatacontractComChangesCarryTheLineOfTheirKey) {
  // A datacontract.com contract whose maxLength tightens (36 -> 20): breaking by
  // datacontract-cli's rules, reported at the line of the new document's maxLength key.
  std::string dir = DomainRepo("financial-statements.yaml", "");
  const std::string v1 =
      "dataContractSpecification: 1.1.0\n"  // 1
      "id: ledger-lines\n"
      "info:\n"
      "  title: Ledger lines\n"
      "  version: 1.0.0\n"  // 5
      "models:\n"
      "  ledger_line:\n"
      "    type: table\n"
      "    fields:\n"
      "      account_id:\n"  // 10
      "        type: string\n"
      "        maxLength: 36\n";  // 12
  WriteFile(dir + "/previous-contract.yaml", v1);
  WriteFile(dir + "/contracts/ledger-lines.yaml",
            absl::StrReplaceAll(v1, {{"maxLength: 36", "maxLength: 20"}}));
  std::string flags = absl::StrCat(
      Bundle(), " --env staging --product data-product.yaml --previous data-product.yaml",
      " --contract contracts/ledger-lines.yaml --previous-contract previous-contract.yaml");
  RunResult r = Gate(dir, flags + " --output json");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  const nlohmann::json& breaking = j["decision"]["change"]["breaking"];
  ASSERT_EQ(breaking.size(), 1u) << r.out;
  EXPECT_EQ(breaking[0]["rule"], "field_max_length_updated");
  EXPECT_EQ(breaking[0]["path"], "models.ledger_line.account_id.maxLength");
  EXPECT_EQ(breaking[0]["line"], 12);

  r = Gate(dir, flags + " --output github");
  EXPECT_TRUE(absl::StrContains(
      r.out,
      "::notice file=contracts/ledger-lines.yaml,line=12,title=breaking change%3A "
      "field_max_length_updated::contract:ledger-lines models.ledger_line.account_id.maxLength "
      "(36 -> 20)"))
      << r.out;
}

// The gate names and versions its inputs by the one rule the schema diff and the catalog use
// (service/descriptor): a datacontract.com contract's version is its info.version and an ODCS
// one's the top-level version, in the request the gate reports as in the versions the diff
// computed. (The gate used to read only metadata.version and version, so it reported a
// datacontract.com contract without a version the diff had.)
TEST(GateTest, InputsAreNamedAndVersionedAsTheDiffDoes) {
  std::string dir = DomainRepo("financial-statements.yaml", "");
  WriteFile(dir + "/contracts/ledger-lines.yaml",
            "dataContractSpecification: 1.1.0\nid: ledger-lines\ninfo:\n  title: Ledger lines\n"
            "  version: 1.1.0\n");
  WriteFile(dir + "/contracts/orders.yaml",
            "apiVersion: v3.0.2\nkind: DataContract\nid: 0b3e7a52\nname: orders\nversion: 2.0.0\n");
  RunResult r = Gate(dir, absl::StrCat(Bundle(),
                                       " --env staging --product data-product.yaml"
                                       " --contract contracts/ledger-lines.yaml"
                                       " --contract contracts/orders.yaml --output json"));
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out << r.err;
  const nlohmann::json& contracts = j["request"]["contracts"];
  ASSERT_EQ(contracts.size(), 2u) << r.out;
  EXPECT_EQ(contracts[0]["name"], "ledger-lines");
  EXPECT_EQ(contracts[0]["version"], "1.1.0");
  EXPECT_EQ(contracts[1]["name"], "orders");
  EXPECT_EQ(contracts[1]["version"], "2.0.0");
  const nlohmann::json& versions = j["decision"]["change"]["contract_versions"];
  for (const nlohmann::json& c : contracts) {
    std::string name = c["name"];
    ASSERT_TRUE(versions.contains(name)) << r.out;
    EXPECT_EQ(versions[name]["to"], c["version"]) << r.out;
  }
}

// A product named by a top-level `name` (no metadata.name): the gate and the diff named it so,
// but the bundle's catalog rejected it ("product has no metadata.name"), so an offline gate could
// not load the bundle. Now the catalog names it by the same rule and the gate finds its
// deployed version there.
TEST(GateTest, FindsTheDeployedVersionOfAProductNamedByTopLevelName) {
  std::string bundle = MakeTempDir("gate-bundle");
  std::filesystem::copy(ShippedBundleDir(), bundle, std::filesystem::copy_options::recursive);
  std::string product = absl::StrReplaceAll(
      ReadFileOrEmpty(Catalog("products/customer-transactions.yaml")),
      {{"metadata:\n  name: customer-transactions\n", "name: customer-transactions\nmetadata:\n"}});
  ASSERT_TRUE(absl::StrContains(product, "\nname: customer-transactions\nmetadata:\n  domain:"))
      << product;
  WriteFile(bundle + "/catalog/products/customer-transactions.yaml", product);
  std::string dir = DomainRepo("customer-transactions.yaml", "customer-transactions-contract.yaml");
  WriteFile(dir + "/data-product.yaml", product);
  RunResult r = Gate(dir, absl::StrCat("--bundle '", bundle, "' --env staging"));
  EXPECT_NE(r.exit_code, 2) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "previous    bundle catalog")) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "product customer-transactions: 1.2.0 -> 1.2.0 (none)"))
      << r.out;
}

// One decision log line (service/decision_json's shape, the fields the impact reads) of an
// access decision `days_ago` days before now.
std::string DecisionLine(double days_ago, const std::string& id, const std::string& domain,
                         const std::string& columns_json, const std::string& effect = "allow") {
  absl::Time t = absl::Now() - absl::Seconds(days_ago * 86400);
  return absl::StrCat(
      R"({"decision_id":"d","time":")",
      absl::FormatTime(absl::RFC3339_full, t, absl::UTCTimeZone()),
      R"(","kind":"access","request":{"principal":{"id":")", id, R"(","domain":")", domain,
      R"("},"action":"read","resource":{"table":"sales_analytics.customer_transactions.)",
      R"(transactions")", columns_json.empty() ? "" : absl::StrCat(R"(,"columns":)", columns_json),
      R"(}},"effect":")", effect, R"(","reasons":[]})", "\n");
}

// The decision log of the scratch repository's readers: the live file and one rotation.
void WriteDecisionLog(const std::string& dir) {
  WriteFile(dir + "/decisions.log.1",
            DecisionLine(45, "old-report", "finance", R"(["amount"])") +
                DecisionLine(10, "fin-batch", "finance", "") +  // SELECT *: every column
                DecisionLine(9, "intruder", "marketing", R"(["amount"])", "deny"));
  WriteFile(dir + "/decisions.log",
            DecisionLine(2, "mkt-analyst", "marketing", R"(["amount","channel"])") +
                DecisionLine(1, "mkt-analyst", "marketing", R"(["AMOUNT"])") +
                DecisionLine(1, "ops-bot", "sales", R"(["transaction_id"])") +
                DecisionLine(0.5, "sam", "sales", R"(["amount"])"));
}

TEST(GateTest, BlastRadiusFromDecisionLogs) {
  std::string dir = GitRepoWithBreakingChange();
  WriteDecisionLog(dir);
  std::string base = absl::StrCat(Bundle(), " --env production --previous-ref HEAD");
  // The rotation decisions.log.1 is found from the live file's name.
  RunResult r = Gate(dir, base + " --decisions decisions.log");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(
      r.out,
      "Blast radius (1 breaking change on served columns):\n  source      decision log "
      "decisions.log, decisions.log.1, last 30 days: 4 of 7 decisions read a changed "
      "column\n  field_removed  contract:customer-transactions-contract  "
      "schema.CustomerTransaction.amount\n    columns     "
      "sales_analytics.customer_transactions.transactions.amount\n    consumers   "
      "marketing (marketing-analytics: Campaign attribution analysis), finance "
      "(financial-reporting: Revenue recognition)\n    readers     4 reads: marketing 2 "
      "reads, last "))
      << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "; finance 1 read, last ")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "; sales 1 read, last ")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, " (the producing domain); ")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "    principals  mkt-analyst (marketing) 2, last")) << r.out;
  EXPECT_FALSE(absl::StrContains(r.out, "intruder")) << "a denied read is no reader";
  EXPECT_FALSE(absl::StrContains(r.out, "old-report")) << "outside the window";
  EXPECT_FALSE(absl::StrContains(r.out, "ops-bot")) << "read another column";

  // A wider window; files named as a glob gives them (each read once).
  r = Gate(dir, base + " --decisions decisions.log* --since 60d --output json");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  const nlohmann::json& impact = j["decision"]["change"]["impact"];
  EXPECT_EQ(impact["window_seconds"], 60 * 86400);
  EXPECT_EQ(impact["scanned"]["files"], 2);
  ASSERT_EQ(impact["entries"].size(), 1u) << impact;
  EXPECT_EQ(impact["entries"][0]["decisions"], 5);
  EXPECT_EQ(impact["entries"][0]["principals"].size(), 4u);  // old-report is back

  // Markdown for the pull request.
  r = Gate(dir, base + " --decisions decisions.log --output markdown");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(absl::StartsWith(r.out, "### Arbiter deployment gate: DENIED")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "#### Blast radius\n")) << r.out;
  EXPECT_TRUE(absl::StrContains(
      r.out,
      "| `field_removed` `schema.CustomerTransaction.amount` | "
      "sales_analytics.customer_transactions.transactions.amount | marketing "
      "(marketing-analytics: Campaign attribution analysis), finance (financial-reporting: "
      "Revenue recognition) | marketing 2 reads, last "))
      << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "| mkt-analyst | marketing | 2 | ")) << r.out;

  // GitHub: a warning on the changed field, at the line of the schema change's notice.
  r = Gate(dir, base + " --decisions decisions.log --output github");
  std::string notice_line, radius;
  for (absl::string_view line : absl::StrSplit(r.out, '\n')) {
    if (absl::StrContains(line, "title=breaking change%3A field_removed")) {
      notice_line = std::string(line.substr(0, line.find(",title")));
    }
    if (absl::StrContains(line, "title=blast radius%3A field_removed")) radius = std::string(line);
  }
  ASSERT_FALSE(notice_line.empty()) << r.out;
  EXPECT_TRUE(
      absl::StartsWith(radius, absl::StrReplaceAll(notice_line, {{"::notice", "::warning"}})))
      << radius;
  EXPECT_TRUE(absl::StrContains(radius, "::read by marketing 2 (last ")) << radius;
  EXPECT_TRUE(absl::StrContains(radius, "in the last 30 days; declared consumers: marketing"))
      << radius;

  // Without a log: the declared consumers only, and it says so.
  r = Gate(dir, base);
  EXPECT_TRUE(absl::StrContains(r.out, "no decision log read (arbiter gate --decisions FILE...)"))
      << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "    readers     unknown (no decision log read)\n"))
      << r.out;
}

TEST(GateTest, BlastRadiusBadFlagsCouldNotDecide) {
  std::string dir = GitRepoWithBreakingChange();
  std::string base = absl::StrCat(Bundle(), " --env production --previous-ref HEAD");
  RunResult r = Gate(dir, base + " --decisions missing.log");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(r.err, "--decisions missing.log: no such file")) << r.err;
  WriteDecisionLog(dir);
  r = Gate(dir, base + " --decisions decisions.log --since 3w");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(r.err, "--since: expected a positive number")) << r.err;
  r = Gate(dir, "--server 127.0.0.1:1 --env production --decisions decisions.log");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(r.err, "arbiterd reads its own decision log")) << r.err;
}

TEST(GateTest, AgainstRealArbiterd) {
  ArbiterdOptions options;
  options.bundle_dir = ShippedBundleDir();
  options.http = false;
  auto server = ArbiterdProcess::Start(options);
  ASSERT_TRUE(server.ok()) << server.status().message();
  std::string target = (*server)->grpc_target();
  std::string dir = GitRepoWithBreakingChange();

  RunResult r = Gate(
      dir, absl::StrCat("--server ", target, " --env production --previous-ref HEAD --commit abc"));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "global.breaking-changes")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "field_removed")) << r.out;
  EXPECT_FALSE(absl::StrContains(r.out, "decision    gate ")) << "a server-made decision id";

  // With a server and no previous version, this is a first deployment: nothing to break.
  r = Gate(dir, absl::StrCat("--server ", target, " --env production --output json"));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["decision"]["change"]["firstDeployment"].is_null()
                ? j["decision"]["change"]["first_deployment"]
                : j["decision"]["change"]["firstDeployment"],
            true);
  EXPECT_EQ(j["request"]["previous_source"], "none");
}

}  // namespace
}  // namespace arbiter::testing
