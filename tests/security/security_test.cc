// Who may call arbiterd, proven against the real server over TLS: a CA and certificates made at
// test time (tests/support/make_test_pki.sh), arbiterd started with `tls:` and `authz:`, and
// clients presenting each identity. Covers the handshake, default-deny authorization by role,
// bundle-root confinement of server paths, domain-scoped candidates and replays, candidate limits,
// certificate rotation, and what the decision log records.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "arbiter/v1/policy_service.grpc.pb.h"
#include "clients/cpp/arbiter_client.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/arbiterd_process.h"

namespace arbiter {
namespace {

using ::arbiter::testing::ArbiterdOptions;
using ::arbiter::testing::ArbiterdProcess;
using Clock = std::chrono::steady_clock;

constexpr char kCustomers[] = "customer_analytics.customer_360.customers";
constexpr char kCampaigns[] = "marketing_analytics.campaign_performance.campaign_metrics";

std::string Shell(const std::string& command, int* exit_code = nullptr) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int status = pclose(p);
  if (exit_code != nullptr) *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

// One PKI for the whole suite.
class Pki {
 public:
  static const std::string& Dir() {
    static const std::string dir = [] {
      std::string d = testing::MakeTempDir("arbiter-pki");
      int rc = 0;
      std::string out = Shell(
          absl::StrCat("bash ", ARBITER_SOURCE_DIR, "/tests/support/make_test_pki.sh ", d, " 2>&1"),
          &rc);
      EXPECT_EQ(rc, 0) << out;
      return d;
    }();
    return dir;
  }
  static std::string File(const std::string& name) { return Dir() + "/" + name; }
};

struct Server {
  std::unique_ptr<ArbiterdProcess> process;
  std::string dir;  // scratch: bundle, roots, log
  std::string log() const { return dir + "/decisions.jsonl"; }
  std::string bundle() const { return dir + "/roots/active"; }
};

// arbiterd with mutual TLS on both ports, the mesh's identity map, a bundle root and a redacting
// decision log; `extra` is appended to the config.
Server StartTlsServer(const std::string& client_auth = "require", const std::string& extra = "",
                      const std::string& cert = "server") {
  Server s;
  s.dir = testing::MakeTempDir("arbiter-tls");
  std::filesystem::create_directories(s.dir + "/roots");
  testing::CopyTree(testing::ShippedBundleDir(), s.bundle());
  std::filesystem::create_directories(s.dir + "/outside");
  std::filesystem::copy_file(Pki::File(cert + ".crt"), s.dir + "/tls.crt");
  std::filesystem::copy_file(Pki::File(cert + ".key"), s.dir + "/tls.key");
  ArbiterdOptions o;
  o.bundle_dir = s.bundle();
  o.config_yaml = absl::StrCat(R"(
bundle:
  watch: false
tls:
  cert_file: )",
                               s.dir, R"(/tls.crt
  key_file: )",
                               s.dir, R"(/tls.key
  client_ca_file: )",
                               Pki::File("ca.crt"), R"(
  client_auth: )",
                               client_auth, R"(
authz:
  identities:
    - {match: "spiffe://mesh.example/ns/governance/*", role: governance}
    - {match: "spiffe://mesh.example/ns/sales/*", role: "domain:sales"}
    - {match: "spiffe://mesh.example/ns/marketing/*", role: "domain:marketing"}
    - {match: "spiffe://mesh.example/ns/trino/*", role: engine}
    - {match: "ci.example.com", role: "domain:sales"}
    - {match: "legacy-client", role: engine}
  anonymous_role: none
  bundle_roots: [")",
                               s.dir, R"(/roots"]
decision_log:
  path: )",
                               s.log(), R"(
  redact:
    - principal.attributes.email
    - {path: "context.*", action: digest}
)",
                               extra);
  auto p = ArbiterdProcess::Start(o);
  EXPECT_TRUE(p.ok()) << p.status();
  if (p.ok()) s.process = *std::move(p);
  return s;
}

client::ClientOptions As(const std::string& who, absl::Duration timeout = absl::Seconds(10)) {
  client::ClientOptions o;
  o.timeout = timeout;
  o.tls_ca = Pki::File("ca.crt");
  o.tls_server_name = "localhost";
  if (!who.empty()) {
    o.tls_cert = Pki::File(who + ".crt");
    o.tls_key = Pki::File(who + ".key");
  }
  return o;
}

v1::AccessRequest Access(const std::string& id, const std::string& table,
                         std::vector<std::string> roles = {"sales-analysts"}) {
  v1::AccessRequest r;
  r.mutable_principal()->set_id(id);
  for (auto& role : roles) r.mutable_principal()->add_roles(role);
  (*r.mutable_principal()->mutable_attributes())["email"] = id + "@example.com";
  (*r.mutable_principal()->mutable_attributes())["region"] = "EU";
  r.set_action("read");
  r.mutable_resource()->set_table(table);
  (*r.mutable_context())["query"] = "select * from customers";
  return r;
}

std::vector<nlohmann::json> LogLines(const std::string& path) {
  std::vector<nlohmann::json> out;
  for (absl::string_view line : absl::StrSplit(testing::ReadFileOrEmpty(path), '\n')) {
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

// CPU seconds (user + system) the process has used, from /proc/<pid>/stat.
double CpuSeconds(pid_t pid) {
  std::string stat = testing::ReadFileOrEmpty(absl::StrCat("/proc/", pid, "/stat"));
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::vector<std::string> f = absl::StrSplit(stat.substr(close + 2), ' ');
  double utime = 0, stime = 0;
  if (f.size() < 13 || !absl::SimpleAtod(f[11], &utime) || !absl::SimpleAtod(f[12], &stime)) {
    return -1;
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// --- The handshake. ---

TEST(TlsTest, NoClientCertificateIsRefusedAtTheHandshake) {
  Server s = StartTlsServer();
  ASSERT_NE(s.process, nullptr);
  client::Client anonymous(s.process->grpc_target(), As("", absl::Seconds(3)));
  auto r = anonymous.GetStatus();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  // A certificate from another CA, carrying the governance identity, is refused just the same.
  client::Client rogue(s.process->grpc_target(), As("rogue", absl::Seconds(3)));
  auto g = rogue.Reload();
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), absl::StatusCode::kUnavailable) << g.status();
  // Plaintext to a TLS port gets nowhere either.
  client::ClientOptions plain;
  plain.timeout = absl::Seconds(3);
  EXPECT_FALSE(client::Client(s.process->grpc_target(), plain).GetStatus().ok());
}

TEST(TlsTest, OnlyTls12AndLaterIsNegotiated) {
  Server s = StartTlsServer("none");
  ASSERT_NE(s.process, nullptr);
  std::string base = absl::StrCat("openssl s_client -connect 127.0.0.1:", s.process->grpc_port(),
                                  " -CAfile ", Pki::File("ca.crt"), " </dev/null 2>&1");
  int rc = 0;
  std::string tls11 = Shell(absl::StrReplaceAll(base, {{"s_client", "s_client -tls1_1"}}), &rc);
  EXPECT_NE(rc, 0) << tls11;
  std::string tls12 = Shell(absl::StrReplaceAll(base, {{"s_client", "s_client -tls1_2"}}), &rc);
  EXPECT_TRUE(absl::StrContains(tls12, "Protocol  : TLSv1.2") ||
              absl::StrContains(tls12, "TLSv1.2"))
      << tls12;
}

// --- Authorization by role. ---

TEST(AuthzTest, UnmappedIdentityIsPermissionDeniedWithTheMissingRoleNamed) {
  Server s = StartTlsServer();
  ASSERT_NE(s.process, nullptr);
  client::Client c(s.process->grpc_target(), As("unmapped"));
  auto d = c.CheckAccess(Access("ana", kCustomers));
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(d.status().message(), "spiffe://other.example/ns/x/sa/test"))
      << d.status();
  EXPECT_TRUE(absl::StrContains(d.status().message(), "has no role")) << d.status();
  EXPECT_EQ(c.GetStatus().status().code(), absl::StatusCode::kPermissionDenied);
  // The refusal is counted by method and reason.
  auto m =
      testing::HttpsRequest(s.process->http_port(), "GET", "/metrics", "", Pki::Dir(), "trino");
  EXPECT_EQ(m.status, 200) << m.body;
  EXPECT_TRUE(absl::StrContains(
      m.body, "arbiter_authz_denied_total{method=\"CheckAccess\",reason=\"no_role\"} 1"))
      << m.body;
}

TEST(AuthzTest, EachIdentityFormGetsItsRole) {
  Server s = StartTlsServer();
  ASSERT_NE(s.process, nullptr);
  // engine (SPIFFE), domain:sales (DNS SAN), engine (CN only): all may decide.
  for (const char* who : {"trino", "dnsonly", "cnonly", "sales", "governance"}) {
    SCOPED_TRACE(who);
    client::Client c(s.process->grpc_target(), As(who));
    auto d = c.CheckAccess(Access("ana", kCustomers));
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->effect(), v1::EFFECT_ALLOW);
  }
  // An engine may not validate or dry-run; a domain may not reload.
  client::Client trino(s.process->grpc_target(), As("trino"));
  v1::ValidateBundleRequest validate;
  validate.set_path(s.bundle());
  EXPECT_EQ(trino.ValidateBundle(validate).status().code(), absl::StatusCode::kPermissionDenied);
  client::Client sales(s.process->grpc_target(), As("sales"));
  auto reload = sales.Reload();
  ASSERT_FALSE(reload.ok());
  EXPECT_EQ(reload.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(reload.status().message(), "needs role governance"))
      << reload.status();
  client::Client dns(s.process->grpc_target(), As("dnsonly"));
  EXPECT_EQ(dns.Reload().status().code(), absl::StatusCode::kPermissionDenied);
  // Governance may do everything.
  client::Client gov(s.process->grpc_target(), As("governance"));
  auto ok = gov.Reload();
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_TRUE(ok->activated());
  auto v = gov.ValidateBundle(validate);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->valid());
  auto status = gov.GetStatus();
  ASSERT_TRUE(status.ok());
  EXPECT_FALSE(status->bundle_path().empty());
  // The server's directory is governance's business only.
  auto engine_status = trino.GetStatus();
  ASSERT_TRUE(engine_status.ok());
  EXPECT_TRUE(engine_status->bundle_path().empty());
}

TEST(AuthzTest, HealthAnswersOverTls) {
  Server s = StartTlsServer();
  ASSERT_NE(s.process, nullptr);
  auto creds = client::ChannelCredentialsFor(As("trino"));
  ASSERT_TRUE(creds.ok());
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  auto channel = grpc::CreateCustomChannel(s.process->grpc_target(), *creds, args);
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  ASSERT_TRUE(stub->Check(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

// --- Server-side paths. ---

TEST(BundleRootsTest, PathsOutsideTheRootsFailTheSameWayWhetherOrNotTheyExist) {
  Server s = StartTlsServer();
  ASSERT_NE(s.process, nullptr);
  std::filesystem::create_directories(s.dir + "/outside");
  testing::CopyTree(testing::ShippedBundleDir(), s.dir + "/outside/bundle");
  std::filesystem::create_directory_symlink(s.dir + "/outside/bundle", s.dir + "/roots/escape");
  client::Client gov(s.process->grpc_target(), As("governance"));
  std::vector<std::string> messages;
  for (const std::string& path :
       {s.dir + "/outside/bundle", s.dir + "/outside/no-such-dir", std::string("/etc"),
        s.dir + "/roots/escape", s.dir + "/roots/../outside/bundle"}) {
    SCOPED_TRACE(path);
    v1::ValidateBundleRequest v;
    v.set_path(path);
    auto r = gov.ValidateBundle(v);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
    v1::DryRunRequest d;
    d.set_candidate_path(path);
    d.add_cases()->mutable_access()->CopyFrom(Access("ana", kCustomers));
    auto dr = gov.DryRun(d);
    ASSERT_FALSE(dr.ok());
    EXPECT_EQ(dr.status().code(), absl::StatusCode::kPermissionDenied);
    // The message names the path given and nothing the server found out about it.
    std::string m(r.status().message());
    EXPECT_EQ(m, absl::StrCat("ValidateBundle: path \"", path,
                              "\" is not inside a directory listed in authz.bundle_roots"));
  }
}

// --- Domain-scoped candidates and replays. ---

std::map<std::string, std::string> InlineFiles(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::string rel = std::filesystem::relative(e.path(), dir).string();
    files[rel] = testing::ReadFileOrEmpty(e.path().string());
  }
  return files;
}

TEST(DomainScopeTest, ADomainDryRunsOnlyItsOwnFilesAndSeesOnlyItsOwnDecisions) {
  Server s = StartTlsServer();
  ASSERT_NE(s.process, nullptr);
  // Decisions about two domains' resources, asked by an engine with a spoofed caller name.
  client::ClientOptions engine = As("trino");
  engine.caller = "governance-admin";
  client::Client trino(s.process->grpc_target(), engine);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(trino.CheckAccess(Access(absl::StrCat("s", i), kCustomers)).ok());
  }
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(
        trino.CheckAccess(Access(absl::StrCat("m", i), kCampaigns, {"marketing-analytics"})).ok());
  }

  std::map<std::string, std::string> files = InlineFiles(s.bundle());
  client::Client sales(s.process->grpc_target(), As("sales"));
  auto dry_run = [&](const std::map<std::string, std::string>& candidate) {
    v1::DryRunRequest r;
    for (const auto& [path, content] : candidate)
      (*r.mutable_candidate()->mutable_files())[path] = content;
    r.set_recent(100);
    return sales.DryRun(r);
  };
  // Its own change: allowed; the replay holds the three sales decisions only.
  std::map<std::string, std::string> own = files;
  own["domains/sales/deny-s0.lua"] =
      "return {id = 'sales.deny-s0', kinds = {'access'}, check = function(req, ctx)\n"
      "  if req.principal.id == 's0' then return deny('no s0') end\nend}\n";
  auto r = dry_run(own);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->candidate_errors().empty()) << r->candidate_errors(0);
  EXPECT_EQ(r->summary().total(), 3);
  EXPECT_EQ(r->summary().allow_to_deny(), 1);
  for (const auto& result : r->results()) {
    EXPECT_EQ(result.domain(), "sales") << result.request_summary();
    EXPECT_FALSE(absl::StrContains(result.request_summary(), "campaign"))
        << result.request_summary();
  }
  // A change to marketing's policies or to a global one is refused, naming the file.
  for (const char* path : {"domains/marketing/region-restriction.lua", "global/pii-masking.lua"}) {
    SCOPED_TRACE(path);
    std::map<std::string, std::string> theirs = files;
    theirs[path] += "\n-- edited by sales\n";
    auto denied = dry_run(theirs);
    ASSERT_FALSE(denied.ok());
    EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_TRUE(absl::StrContains(denied.status().message(), path)) << denied.status();
    v1::ValidateBundleRequest v;
    for (const auto& [p, content] : theirs) (*v.mutable_inline_()->mutable_files())[p] = content;
    EXPECT_EQ(sales.ValidateBundle(v).status().code(), absl::StatusCode::kPermissionDenied);
  }
  // Governance replays everything.
  client::Client gov(s.process->grpc_target(), As("governance"));
  v1::DryRunRequest all;
  for (const auto& [path, content] : files)
    (*all.mutable_candidate()->mutable_files())[path] = content;
  all.set_recent(100);
  auto everything = gov.DryRun(all);
  ASSERT_TRUE(everything.ok()) << everything.status();
  EXPECT_EQ(everything->summary().total(), 5);
}

// --- Candidates get no more than the active bundle allows. ---

TEST(CandidateLimitsTest, AnEndlessTopLevelWithAHugeBudgetEndsWithinTheDeadline) {
  Server s = StartTlsServer();
  ASSERT_NE(s.process, nullptr);
  client::Client gov(s.process->grpc_target(), As("governance", absl::Seconds(2)));
  v1::DryRunRequest r;
  auto& files = *r.mutable_candidate()->mutable_files();
  files["bundle.yaml"] =
      "revision: evil\nlimits: {instruction_budget: 9000000000000000000, policy_timeout_ms: "
      "1000000000, memory_limit_mb: 100000}\n";
  for (int i = 0; i < 20; ++i) {
    files[absl::StrCat("global/spin", i, ".lua")] = "local x = 0\nwhile true do x = x + 1 end\n";
  }
  r.add_cases()->mutable_access()->CopyFrom(Access("ana", kCustomers));
  double cpu_before = CpuSeconds(s.process->pid());
  auto start = Clock::now();
  auto result = gov.DryRun(r);
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_LT(seconds, 2.5);
  if (result.ok()) {
    EXPECT_FALSE(result->candidate_errors().empty());
  } else {
    EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded) << result.status();
  }
  // Nothing keeps running once the call has ended: the server is idle a moment later.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  double cpu_mid = CpuSeconds(s.process->pid());
  std::this_thread::sleep_for(std::chrono::seconds(1));
  double cpu_after = CpuSeconds(s.process->pid());
  EXPECT_LT(cpu_after - cpu_mid, 0.2) << "server CPU kept running after the call";
  EXPECT_LT(cpu_mid - cpu_before, 3.0);
}

TEST(CandidateLimitsTest, ValidateBundleClampsTheCandidatesLimitsToTheActiveOnes) {
  Server s = StartTlsServer();
  ASSERT_NE(s.process, nullptr);
  client::Client gov(s.process->grpc_target(), As("governance", absl::Seconds(5)));
  v1::ValidateBundleRequest v;
  auto& files = *v.mutable_inline_()->mutable_files();
  files["bundle.yaml"] = "revision: heavy\nlimits: {policy_timeout_ms: 100000000}\n";
  files["global/spin.lua"] = "local x = 0\nwhile true do x = x + 1 end\n";
  auto start = Clock::now();
  auto r = gov.ValidateBundle(v);
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->valid());
  // The active bundle's 50 ms per policy (x10 at load) bounds it, not the candidate's 28 hours.
  EXPECT_LT(seconds, 2.0);
}

// --- Certificate rotation. ---

std::string ServerCommonName(const std::string& target) {
  auto creds = client::ChannelCredentialsFor(As("trino"));
  if (!creds.ok()) return "";
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  // A new channel each time, so each asks for a fresh handshake.
  args.SetInt("arbiter.test.nonce", static_cast<int>(Clock::now().time_since_epoch().count()));
  auto stub = v1::PolicyService::NewStub(grpc::CreateCustomChannel(target, *creds, args));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
  v1::GetStatusResponse resp;
  if (!stub->GetStatus(&ctx, v1::GetStatusRequest(), &resp).ok()) return "";
  std::vector<grpc::string_ref> cn = ctx.auth_context()->FindPropertyValues("x509_common_name");
  return cn.empty() ? "" : std::string(cn[0].data(), cn[0].size());
}

TEST(RotationTest, ARotatedServerCertificateIsServedWithoutARestartOrDroppedCalls) {
  Server s = StartTlsServer();
  ASSERT_NE(s.process, nullptr);
  ASSERT_EQ(ServerCommonName(s.process->grpc_target()), "arbiterd");
  // Calls keep flowing on an established connection throughout.
  std::atomic<bool> stop{false};
  std::atomic<int> calls{0}, failures{0};
  std::thread caller([&] {
    client::Client c(s.process->grpc_target(), As("trino"));
    while (!stop.load()) {
      auto d = c.CheckAccess(Access("ana", kCustomers));
      ++calls;
      if (!d.ok()) ++failures;
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  // cert-manager's way: new files renamed into place (key first, then certificate).
  for (const char* ext : {".key", ".crt"}) {
    std::string tmp = s.dir + "/tls" + ext + ".new";
    std::filesystem::copy_file(Pki::File(std::string("server2") + ext), tmp);
    std::filesystem::rename(tmp, s.dir + "/tls" + ext);
  }
  std::string cn;
  for (int i = 0; i < 100 && cn != "arbiterd-rotated"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    cn = ServerCommonName(s.process->grpc_target());
  }
  EXPECT_EQ(cn, "arbiterd-rotated");
  // The HTTP side port serves the new certificate too.
  std::string http_cn;
  for (int i = 0; i < 50 && !absl::StrContains(http_cn, "arbiterd-rotated"); ++i) {
    http_cn =
        Shell(absl::StrCat("openssl s_client -connect 127.0.0.1:", s.process->http_port(),
                           " -cert ", Pki::File("trino.crt"), " -key ", Pki::File("trino.key"),
                           " </dev/null 2>/dev/null | openssl x509 -noout -subject"));
    if (!absl::StrContains(http_cn, "arbiterd-rotated")) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  EXPECT_TRUE(absl::StrContains(http_cn, "arbiterd-rotated")) << http_cn;
  stop = true;
  caller.join();
  EXPECT_GT(calls.load(), 0);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(s.process->Stop(SIGTERM), 0);
}

// --- The decision log. ---

TEST(DecisionLogTest, RecordsTheCertificateIdentityRedactsAndIsPrivate) {
  Server s = StartTlsServer();
  ASSERT_NE(s.process, nullptr);
  client::ClientOptions o = As("trino");
  o.caller = "spiffe://mesh.example/ns/governance/sa/admin";  // a spoofed claim
  client::Client c(s.process->grpc_target(), o);
  ASSERT_TRUE(c.CheckAccess(Access("ana", kCustomers)).ok());
  EXPECT_EQ(s.process->Stop(SIGTERM), 0);
  std::vector<nlohmann::json> lines = LogLines(s.log());
  ASSERT_EQ(lines.size(), 1u);
  const nlohmann::json& caller = lines[0]["caller"];
  EXPECT_EQ(caller["identity"], "spiffe://mesh.example/ns/trino/sa/test");
  EXPECT_EQ(caller["role"], "engine");
  EXPECT_EQ(caller["claimed"], "spiffe://mesh.example/ns/governance/sa/admin");
  const nlohmann::json& principal = lines[0]["request"]["principal"];
  EXPECT_FALSE(principal["attributes"].contains("email")) << principal;
  EXPECT_EQ(principal["attributes"]["region"], "EU");
  std::string query = lines[0]["request"]["context"]["query"];
  EXPECT_TRUE(absl::StartsWith(query, "sha256:")) << query;
  EXPECT_EQ(testing::ReadFileOrEmpty(s.log()).find("ana@example.com"), std::string::npos);
  struct stat st;
  ASSERT_EQ(stat(s.log().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

// --- Plaintext. ---

TEST(PlaintextTest, NonLoopbackPlaintextNeedsAllowInsecure) {
  ArbiterdOptions o;
  o.bundle_dir = testing::ShippedBundleDir();
  o.extra_args = {"--listen", "0.0.0.0:0"};
  o.http = false;
  auto refused = ArbiterdProcess::Start(o);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "--allow-insecure"))
      << refused.status();
  o.extra_args.push_back("--allow-insecure");
  auto allowed = ArbiterdProcess::Start(o);
  ASSERT_TRUE(allowed.ok()) << allowed.status();
  EXPECT_TRUE(absl::StrContains((*allowed)->Stderr(), "WARNING")) << (*allowed)->Stderr();
  client::Client c((*allowed)->grpc_target());
  auto d = c.CheckAccess(Access("ana", kCustomers));
  ASSERT_TRUE(d.ok()) << d.status();
}

TEST(PlaintextTest, AnonymousRoleNoneRefusesPlaintextCallers) {
  ArbiterdOptions o;
  o.bundle_dir = testing::ShippedBundleDir();
  o.config_yaml = "authz:\n  anonymous_role: none\n";
  auto p = ArbiterdProcess::Start(o);
  ASSERT_TRUE(p.ok()) << p.status();
  client::Client c((*p)->grpc_target());
  auto d = c.CheckAccess(Access("ana", kCustomers));
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(d.status().message(), "anonymous")) << d.status();
  auto h = testing::HttpRequest((*p)->http_port(), "POST", "/v1/data/trino/allow", "{}");
  EXPECT_EQ(h.status, 403) << h.body;
}

// --- The HTTP side port. ---

TEST(HttpsTest, TheSidePortAuthenticatesAndAuthorizesLikeTheGrpcPort) {
  Server s = StartTlsServer();
  ASSERT_NE(s.process, nullptr);
  std::string trino_body =
      R"({"input":{"context":{"identity":{"user":"ana","groups":[]}},"action":{"operation":)"
      R"("SelectFromColumns","resource":{"table":{"catalogName":"customer_analytics",)"
      R"("schemaName":"customer_360","tableName":"customers","columns":["customer_id"]}}}}})";
  auto ok = testing::HttpsRequest(s.process->http_port(), "POST", "/v1/data/trino/allow",
                                  trino_body, Pki::Dir(), "trino");
  EXPECT_EQ(ok.status, 200) << ok.body;
  auto denied = testing::HttpsRequest(s.process->http_port(), "POST", "/v1/data/trino/allow",
                                      trino_body, Pki::Dir(), "unmapped");
  EXPECT_EQ(denied.status, 403) << denied.body;
  EXPECT_TRUE(absl::StrContains(denied.body, "has no role")) << denied.body;
  auto health =
      testing::HttpsRequest(s.process->http_port(), "GET", "/healthz", "", Pki::Dir(), "trino");
  EXPECT_EQ(health.status, 200) << health.body;
  // No client certificate: the handshake fails (curl reports no HTTP status at all).
  auto none = testing::HttpsRequest(s.process->http_port(), "GET", "/healthz", "", Pki::Dir(), "");
  EXPECT_EQ(none.status, 0) << none.body;
  // Plaintext HTTP to the TLS port gets no answer either.
  auto plain = testing::HttpRequest(s.process->http_port(), "GET", "/healthz");
  EXPECT_NE(plain.status, 200);
  EXPECT_EQ(s.process->Stop(SIGTERM), 0);
  // The Trino decision is logged with the certificate's identity.
  bool found = false;
  for (const auto& line : LogLines(s.log())) {
    if (line["caller"]["transport"] == "http") {
      found = true;
      EXPECT_EQ(line["caller"]["identity"], "spiffe://mesh.example/ns/trino/sa/test");
      EXPECT_EQ(line["caller"]["role"], "engine");
    }
  }
  EXPECT_TRUE(found);
}

// --- The CLI. ---

TEST(CliTlsTest, CheckAndStatusOverMutualTls) {
  Server s = StartTlsServer();
  ASSERT_NE(s.process, nullptr);
  std::string tls =
      absl::StrCat(" --tls-ca ", Pki::File("ca.crt"), " --tls-cert ", Pki::File("trino.crt"),
                   " --tls-key ", Pki::File("trino.key"), " --tls-server-name localhost");
  int rc = -1;
  std::string out = Shell(absl::StrCat(testing::ArbiterCliBinary(), " check access --server ",
                                       s.process->grpc_target(), tls,
                                       " --principal ana --roles sales-analysts --action read"
                                       " --table ",
                                       kCustomers, " --columns customer_id 2>&1"),
                          &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_TRUE(absl::StartsWith(out, "ALLOW")) << out;
  // The same from the environment.
  out = Shell(absl::StrCat("ARBITER_TLS_CA=", Pki::File("ca.crt"), " ARBITER_TLS_CERT=",
                           Pki::File("trino.crt"), " ARBITER_TLS_KEY=", Pki::File("trino.key"),
                           " ARBITER_TLS_SERVER_NAME=localhost ", testing::ArbiterCliBinary(),
                           " status --server ", s.process->grpc_target(), " 2>&1"),
              &rc);
  EXPECT_EQ(rc, 0) << out;
  // Without a client certificate: could not decide (exit 2), never a deny.
  out = Shell(absl::StrCat(testing::ArbiterCliBinary(), " check access --server ",
                           s.process->grpc_target(), " --tls-ca ", Pki::File("ca.crt"),
                           " --tls-server-name localhost --timeout-ms 3000 --principal ana"
                           " --action read --table ",
                           kCustomers, " 2>&1"),
              &rc);
  EXPECT_EQ(rc, 2) << out;
}

}  // namespace
}  // namespace arbiter
