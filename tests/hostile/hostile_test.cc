// Hostile clients against the real arbiterd (issue 11, "one request cannot take it down"). Each
// attack runs while a second client calls the side port from 127.0.0.2 (so that the per-client
// limits on the attacker, at 127.0.0.1, do not hide it), and each asserts:
//   - the attack's answer is a clear error or a normal decision, within its deadline;
//   - the server's peak RSS (VmHWM) grows by at most 256 MiB over its idle size;
//   - its CPU stops when the call ends (idle within 1 s: at most the decision log still drains);
//   - the second client's calls all succeed, with p99 under 50 ms.
// The figures are printed ("[ hostile ] ...") for the record. Waits poll a condition with a
// deadline; the bystander's pacing is what is measured, not a synchronization.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "clients/cpp/arbiter_client.h"
#include "gtest/gtest.h"
#include "tests/support/arbiterd_process.h"

namespace arbiter {
namespace {

using ::arbiter::testing::ArbiterdOptions;
using ::arbiter::testing::ArbiterdProcess;
using ::arbiter::testing::HttpResult;
using Clock = std::chrono::steady_clock;

#if defined(__SANITIZE_ADDRESS__)
// AddressSanitizer's shadow memory and its quarantine of freed blocks (256 MiB by default) count
// in the server's RSS too: the bound proven by the plain build is checked with that much more.
constexpr int64_t kMaxRssGrowthKb = (256 + 512) * 1024;
#else
constexpr int64_t kMaxRssGrowthKb = 256 * 1024;
#endif

// A field of /proc/<pid>/status in kB ("VmRSS", "VmHWM"), or -1.
int64_t StatusKb(pid_t pid, const std::string& field) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, field + ":")) {
      std::vector<std::string> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
      int64_t kb = -1;
      if (parts.size() >= 2 && absl::SimpleAtoi(parts[1], &kb)) return kb;
    }
  }
  return -1;
}

// The process's user+system CPU time in ms (from /proc/<pid>/stat).
double CpuMs(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = all.rfind(')');
  if (close == std::string::npos) return -1;
  std::vector<std::string> f = absl::StrSplit(all.substr(close + 2), ' ');
  // After "pid (comm) ": state is field 3; utime and stime are fields 14 and 15.
  int64_t utime = 0, stime = 0;
  if (f.size() < 13 || !absl::SimpleAtoi(f[11], &utime) || !absl::SimpleAtoi(f[12], &stime)) {
    return -1;
  }
  return 1000.0 * static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
}

std::string Input(const std::string& user, const std::string& groups, const std::string& operation,
                  const std::string& action_rest = "") {
  return absl::StrCat(R"({"input":{"context":{"identity":{"user":")", user, R"(","groups":[)",
                      groups, R"(]}},"action":{"operation":")", operation, "\"",
                      action_rest.empty() ? "" : ",", action_rest, "}}}");
}

// The second client: one Trino allow decision (through the decision workers) and one /healthz
// every few milliseconds from 127.0.0.2, each latency recorded.
class Bystander {
 public:
  explicit Bystander(int port) : port_(port) {
    thread_ = std::thread([this] {
      const std::string body = Input("bystander", R"("analysts")", "ExecuteQuery");
      while (!stop_) {
        for (int kind = 0; kind < 2 && !stop_; ++kind) {
          const auto start = Clock::now();
          HttpResult r = kind == 0 ? testing::HttpRequest(port_, "POST", "/v1/data/trino/allow",
                                                          body, "application/json", "127.0.0.2")
                                   : testing::HttpRequest(port_, "GET", "/healthz", "",
                                                          "application/json", "127.0.0.2");
          const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
          std::lock_guard<std::mutex> lock(mu_);
          latencies_.push_back(ms);
          if (r.status != 200) failures_.push_back(absl::StrCat(r.status, " ", r.body));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));  // pacing, not sync
      }
    });
  }
  ~Bystander() { Stop(); }
  // Waits until `n` calls were answered (or `limit` passed): the attack starts on a bystander
  // that is already calling.
  bool WaitForCalls(size_t n, std::chrono::milliseconds limit) {
    const auto until = Clock::now() + limit;
    while (calls() < n) {
      if (Clock::now() > until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
  }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  double p99() {
    std::lock_guard<std::mutex> lock(mu_);
    return Percentile(latencies_, 0.99);
  }
  size_t calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return latencies_.size();
  }
  std::vector<std::string> failures() {
    std::lock_guard<std::mutex> lock(mu_);
    return failures_;
  }

 private:
  int port_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<double> latencies_;
  std::vector<std::string> failures_;
};

std::string LuaPolicy(const std::string& id, const std::string& body) {
  return absl::StrCat("return {\n  id = '", id, "',\n  kinds = {'access'},\n",
                      "  check = function(req, ctx)\n", body, "\n  end,\n}\n");
}

class HostileTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = testing::MakeTempDir("arbiter-hostile");
    const std::string& dir = dir_;
    const std::string b = dir + "/bundle";
    testing::WriteFile(b + "/bundle.yaml",
                       "revision: hostile-1\nlimits: {instruction_budget: 100000000, "
                       "policy_timeout_ms: 50}\n");
    testing::WriteFile(b + "/global/grant.lua",
                       "return {\n  id = 'global.grant',\n  kinds = {'access', 'product'},\n"
                       "  mode = 'default',\n  check = function(req, ctx) return "
                       "allow('granted') end,\n}\n");
    // Product p belongs to domain burn (ownership is the catalog's word).
    testing::WriteFile(b + "/catalog/products/p.yaml", "metadata: {name: p, domain: burn}\n");
    // The issue's pattern case: 3.65 s of CPU in one C call before issue 11.
    testing::WriteFile(b + "/domains/burn/pattern.lua",
                       LuaPolicy("burn.pattern",
                                 "if req.principal.id == 'attacker' then\n"
                                 "  local s = ('a'):rep(1500)\n"
                                 "  if s:find('a*a*c') then return allow('matched') end\n"
                                 "  while true do s:find('a*b') end\n"
                                 "end"));
    ArbiterdOptions o;
    o.bundle_dir = b;
    log_path_ = dir + "/decisions.log";
    o.config_yaml =
        absl::StrCat("bundle:\n  watch: false\ndecision_log:\n  path: ", log_path_, "\n");
    auto p = ArbiterdProcess::Start(o);
    ASSERT_TRUE(p.ok()) << p.status();
    server_ = p->release();
    // Warm up, then take the idle size.
    for (int i = 0; i < 20; ++i) {
      testing::HttpRequest(server_->http_port(), "GET", "/healthz");
    }
    idle_rss_kb_ = StatusKb(server_->pid(), "VmRSS");
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    // The attacks leave ~300 MB of decision log here: a run must not keep it (150 runs had
    // filled this machine's disk).
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Runs `attack` with a bystander; checks and prints the figures. The bystander is calling
  // before the attack starts, must be answered during it or right after it (within 10 s), and
  // its p99 stays under 50 ms. A starved bystander is slow for the whole attack
  // (hundreds of ms to seconds); one stall of a shared 2-core machine can push a single call
  // of a short attack over, so a run whose only miss is that bound is run once more, and the
  // second run decides. Every other check holds on every run.
  void Measure(const std::string& name, const std::function<void()>& attack) {
    for (int run = 1; run <= 2; ++run) {
      if (MeasureOnce(name, attack, /*last=*/run == 2)) break;
      std::printf("[ hostile ] %s: the bystander's bound missed in run 1; once more\n",
                  name.c_str());
    }
  }

  // One run; returns false when the bystander's bound missed and `last` is false (the other
  // checks are expected either way).
  bool MeasureOnce(const std::string& name, const std::function<void()>& attack, bool last) {
    EXPECT_NE(server_, nullptr);
    if (server_ == nullptr) return true;
    const pid_t pid = server_->pid();
    const int64_t rss_before = StatusKb(pid, "VmRSS");
    Bystander bystander(server_->http_port());
    EXPECT_TRUE(bystander.WaitForCalls(2, std::chrono::seconds(10))) << name;
    const size_t calls_before = bystander.calls();
    const auto start = Clock::now();
    attack();
    const double attack_ms =
        std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    // A call answered after the attack began: for an attack shorter than the bystander's pacing,
    // the one right after it.
    bystander.WaitForCalls(calls_before + 1, std::chrono::seconds(10));
    bystander.Stop();
    const int64_t rss_after = StatusKb(pid, "VmRSS");
    const int64_t peak = StatusKb(pid, "VmHWM");
    // CPU stops: with nobody calling, the server is idle (under 10 ms of CPU in a 100 ms slice)
    // within a second of the call's end. What it may still owe then is bounded: the decision
    // log's writer draining at most decision_log.queue_bytes of lines the call produced, which
    // takes longer on a loaded machine.
    double cpu_after = 0, idle_after_ms = -1;
    double last_cpu = CpuMs(pid);
    for (int slice = 1; slice <= 20; ++slice) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const double now = CpuMs(pid);
      cpu_after += now - last_cpu;
      const bool idle = now - last_cpu < 10.0;
      last_cpu = now;
      if (idle) {
        idle_after_ms = 100.0 * (slice - 1);
        break;
      }
    }
    const size_t during = bystander.calls() - calls_before;
    std::printf(
        "[ hostile ] %s: attack %.0f ms; RSS idle %ld kB, before %ld kB, after %ld kB, peak %ld "
        "kB; idle %.0f ms after (CPU %.0f ms until then); bystander %zu calls (%zu since the "
        "attack began), p99 %.1f ms, %zu failed\n",
        name.c_str(), attack_ms, static_cast<long>(idle_rss_kb_), static_cast<long>(rss_before),
        static_cast<long>(rss_after), static_cast<long>(peak), idle_after_ms, cpu_after,
        bystander.calls(), during, bystander.p99(), bystander.failures().size());
    std::fflush(stdout);
    EXPECT_LE(peak - idle_rss_kb_, kMaxRssGrowthKb) << name;
    EXPECT_GE(idle_after_ms, 0.0) << name << ": still busy 2 s after the call";
    EXPECT_LE(idle_after_ms, 1000.0) << name;
    EXPECT_TRUE(bystander.failures().empty())
        << name << ": " << absl::StrJoin(bystander.failures(), "; ");
    EXPECT_EQ(kill(pid, 0), 0) << "arbiterd died";
    const bool timely = during > 0 && bystander.p99() < 50.0;
    if (!timely && !last) return false;
    EXPECT_GT(during, 0u) << name;
    EXPECT_LT(bystander.p99(), 50.0) << name;
    return true;
  }

  static client::Client Client() {
    client::ClientOptions o;
    o.timeout = absl::Seconds(10);
    return client::Client(server_->grpc_target(), o);
  }

  static ArbiterdProcess* server_;
  static int64_t idle_rss_kb_;
  static std::string log_path_;
  static std::string dir_;
};
ArbiterdProcess* HostileTest::server_ = nullptr;
int64_t HostileTest::idle_rss_kb_ = 0;
std::string HostileTest::log_path_;
std::string HostileTest::dir_;

// 42 decisions of 3 MiB each: the line-bounded queue and replay ring grew the server by 144 MB
// before issue 11, and ~160 of them rotated away all 5 x 100 MiB of history.
TEST_F(HostileTest, DecisionLogOfHugeRequests) {
  Measure("decision log: 42 requests of 3 MiB", [] {
    v1::AccessRequest r;
    r.mutable_principal()->set_id("ana");
    r.set_action("read");
    r.mutable_resource()->set_product("p");
    (*r.mutable_context())["blob"] = std::string(3 << 20, 'z');
    client::Client c = Client();
    for (int i = 0; i < 42; ++i) {
      auto d = c.CheckAccess(r);
      ASSERT_TRUE(d.ok()) << d.status();
    }
  });
  // Every line is there, each cut to a marker of at most 1 MiB.
  std::ifstream in(log_path_);
  std::string line;
  int markers = 0;
  size_t longest = 0;
  while (std::getline(in, line)) {
    markers += absl::StartsWith(line, "{\"arbiter_truncated_line\"") ? 1 : 0;
    longest = std::max(longest, line.size());
  }
  EXPECT_GE(markers, 42);
  EXPECT_LE(longest, size_t{1} << 20);
  std::printf("[ hostile ] decision log: %d truncated lines, longest %zu bytes\n", markers,
              longest);
}

// 1 MiB scalar aliased 1,500 times: 3.1 GB before issue 11.
TEST_F(HostileTest, YamlAliasesOfABigScalar) {
  Measure("YAML 1 MiB scalar x 1,500 aliases", [] {
    std::string yaml = absl::StrCat(
        "apiVersion: datamesh/v1\nkind: DataProduct\nmetadata:\n  name: bomb\n  domain: sales\n"
        "  description: &big ",
        std::string(1 << 20, 'x'), "\nspec:\n  copies: [");
    for (int i = 0; i < 1500; ++i) absl::StrAppend(&yaml, i ? ", " : "", "*big");
    absl::StrAppend(&yaml, "]\n");
    v1::ProductRequest p;
    p.mutable_product()->set_yaml(yaml);
    const auto start = Clock::now();
    auto d = Client().CheckProduct(p);
    EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument) << d.status();
    EXPECT_TRUE(absl::StrContains(d.status().message(), "expands to more than")) << d.status();
  });
}

// One of my own for the YAML parser: "billion laughs", aliases of aliases nine levels deep
// (10^9 nodes once expanded) in a 1 KB document.
TEST_F(HostileTest, YamlNestedAliases) {
  Measure("YAML billion laughs (10^9 nodes in 1 KB)", [] {
    std::string yaml =
        "apiVersion: datamesh/v1\nkind: DataProduct\nmetadata:\n  name: laughs\n  domain: sales\n"
        "spec:\n  l0: &l0 lol\n";
    for (int level = 1; level <= 9; ++level) {
      absl::StrAppend(&yaml, "  l", level, ": &l", level, " [");
      for (int i = 0; i < 10; ++i) absl::StrAppend(&yaml, i ? ", " : "", "*l", level - 1);
      absl::StrAppend(&yaml, "]\n");
    }
    v1::ProductRequest p;
    p.mutable_product()->set_yaml(yaml);
    const auto start = Clock::now();
    auto d = Client().CheckProduct(p);
    EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument) << d.status();
    std::printf("[ hostile ] billion laughs: %s\n", std::string(d.status().message()).c_str());
  });
}

// One of my own for the HTTP parser: a request whose header block is 2 MB (100,000 headers),
// sent as fast as the socket takes it. The server must refuse it (431/413 or closing the
// connection) without buffering it all.
TEST_F(HostileTest, HttpHeaderFlood) {
  Measure("HTTP request with 100,000 headers (2 MB)", [] {
    std::string request = "POST /v1/data/trino/allow HTTP/1.1\r\nHost: x\r\n";
    for (int i = 0; i < 100000; ++i) absl::StrAppend(&request, "X-Flood-", i, ": yes\r\n");
    request += "Content-Length: 2\r\n\r\n{}";
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(server_->http_port()));
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    timeval tv{3, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    const auto start = Clock::now();
    size_t sent = 0;
    while (sent < request.size()) {
      ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;  // refused part way: the server closed on us
      sent += static_cast<size_t>(n);
    }
    std::string answer;
    char buf[4096];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0) answer.append(buf, static_cast<size_t>(n));
    close(fd);
    const auto took = Clock::now() - start;
    std::printf("[ hostile ] header flood: sent %zu of %zu bytes, answer \"%s\"\n", sent,
                request.size(), answer.substr(0, answer.find('\r')).c_str());
    EXPECT_LT(took, std::chrono::seconds(3));
    // Refused: a 4xx status line, or the connection closed without a 2xx.
    EXPECT_FALSE(absl::StartsWith(answer, "HTTP/1.1 2")) << answer.substr(0, 200);
    if (!answer.empty()) {
      EXPECT_TRUE(absl::StartsWith(answer, "HTTP/1.1 4")) << answer;
    }
  });
}

// One of my own for the JSON parser: a Trino body nested past the depth limit.
TEST_F(HostileTest, TrinoJsonNestedDeep) {
  Measure("Trino JSON nested 100,000 levels", [] {
    std::string body =
        R"({"input":{"x":)" + std::string(100000, '[') + std::string(100000, ']') + "}}";
    HttpResult r = testing::HttpRequest(server_->http_port(), "POST", "/v1/data/trino/allow", body);
    EXPECT_EQ(r.status, 400) << r.body.substr(0, 300);
  });
}

// 2,000 groups x 20,000 columns in a 206 KB body: 3.6 GB and 13.5 s before issue 11.
TEST_F(HostileTest, TrinoBatchOfManyGroupsAndColumns) {
  Measure("Trino batch 2,000 groups x 20,000 columns", [] {
    std::vector<std::string> groups, columns;
    for (int i = 0; i < 2000; ++i) groups.push_back(absl::StrCat("\"g", i, "\""));
    for (int i = 0; i < 20000; ++i) columns.push_back(absl::StrCat("\"c", i, "\""));
    const std::string table =
        absl::StrCat(R"({"table":{"catalogName":"c","schemaName":"s","tableName":"t","columns":[)",
                     absl::StrJoin(columns, ","), "]}}");
    std::string body = Input("attacker", absl::StrJoin(groups, ","), "FilterColumns",
                             absl::StrCat(R"("filterResources":[)", table, "]"));
    const auto start = Clock::now();
    HttpResult r = testing::HttpRequest(server_->http_port(), "POST", "/v1/data/trino/batch", body);
    EXPECT_LT(Clock::now() - start, std::chrono::seconds(1));
    EXPECT_EQ(r.status, 413) << r.body;
    EXPECT_TRUE(absl::StrContains(r.body, "trino.max_groups_per_identity")) << r.body;
    // Within the group cap, the columns alone are over the check cap.
    body = Input("attacker", R"("analysts")", "FilterColumns",
                 absl::StrCat(R"("filterResources":[)", table, "]"));
    r = testing::HttpRequest(server_->http_port(), "POST", "/v1/data/trino/batch", body);
    EXPECT_EQ(r.status, 413) << r.body;
    EXPECT_TRUE(absl::StrContains(r.body, "trino.max_checks_per_request")) << r.body;
  });
}

// A batch at the caps, with a thousand groups: decided within the deadline (or a 504 when the
// machine cannot), never past it.
TEST_F(HostileTest, TrinoBatchAtTheCaps) {
  Measure("Trino batch 1,024 groups x 10,000 columns (at the caps)", [] {
    std::vector<std::string> groups, columns;
    for (int i = 0; i < 1024; ++i) groups.push_back(absl::StrCat("\"group-number-", i, "\""));
    for (int i = 0; i < 10000; ++i) columns.push_back(absl::StrCat("\"c", i, "\""));
    const std::string table =
        absl::StrCat(R"({"table":{"catalogName":"c","schemaName":"s","tableName":"t","columns":[)",
                     absl::StrJoin(columns, ","), "]}}");
    const std::string body = Input("attacker", absl::StrJoin(groups, ","), "FilterColumns",
                                   absl::StrCat(R"("filterResources":[)", table, "]"));
    const auto start = Clock::now();
    HttpResult r = testing::HttpRequest(server_->http_port(), "POST", "/v1/data/trino/batch", body);
    const auto took = Clock::now() - start;
    EXPECT_LT(took, std::chrono::milliseconds(1500)) << "default deadline 1 s";
    EXPECT_TRUE(r.status == 200 || r.status == 504) << r.status << " " << r.body.substr(0, 300);
    std::printf("[ hostile ] at the caps: %d in %.0f ms\n", r.status,
                std::chrono::duration<double, std::milli>(took).count());
  });
}

// The issue's pattern policy: a deny naming the policy within its 50 ms budget (+ slack for the
// call's own overhead), and the server's CPU stops.
TEST_F(HostileTest, LuaPatternInsideTheBudget) {
  Measure("Lua pattern a*a*c over 1,500 bytes (policy)", [] {
    v1::AccessRequest r;
    r.mutable_principal()->set_id("attacker");
    r.set_action("read");
    r.mutable_resource()->set_product("p");  // burn's product in the catalog
    for (int i = 0; i < 5; ++i) {
      const auto start = Clock::now();
      auto d = Client().CheckAccess(r);
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      ASSERT_TRUE(d.ok()) << d.status();
      EXPECT_EQ(d->effect(), v1::EFFECT_DENY);
      bool named = false;
      for (const auto& reason : d->reasons()) named |= reason.policy_id() == "burn.pattern";
      EXPECT_TRUE(named) << d->ShortDebugString();
      std::printf("[ hostile ] pattern policy call %d: %.1f ms\n", i, ms);
    }
  });
}

// 1,030 half-open connections from one client: /healthz timed out for 35 s before issue 11.
TEST_F(HostileTest, AThousandHalfOpenConnections) {
  Measure("1,030 half-open connections", [] {
    std::vector<int> fds;
    for (int i = 0; i < 1030; ++i) {
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<uint16_t>(server_->http_port()));
      inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
      if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        (void)!send(fd, "GET /healthz HTTP/1.1\r\nHo", 25, MSG_NOSIGNAL);
        fds.push_back(fd);
      } else {
        close(fd);
      }
    }
    // Hold them for a while with the bystander calling.
    const auto until = Clock::now() + std::chrono::seconds(2);
    while (Clock::now() < until) {
      HttpResult h = testing::HttpRequest(server_->http_port(), "GET", "/healthz", "",
                                          "application/json", "127.0.0.3");
      EXPECT_EQ(h.status, 200);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    for (int fd : fds) close(fd);
  });
}

// Slow decisions filling the workers (two slow Trino requests stalled /healthz and /metrics
// before issue 11): health, metrics and another client's decisions go on.
TEST_F(HostileTest, SlowDecisionsFromOneClient) {
  std::vector<std::string> columns;
  for (int i = 0; i < 5000; ++i) columns.push_back(absl::StrCat("\"c", i, "\""));
  const std::string body =
      Input("attacker", R"("analysts")", "FilterColumns",
            absl::StrCat(R"("filterResources":[{"table":{"catalogName":"c","schemaName":"s",)",
                         R"("tableName":"t","columns":[)", absl::StrJoin(columns, ","), "]}}]"));
  Measure("6 concurrent 5,000-check Trino batches from one client", [&] {
    std::vector<std::thread> attackers;
    std::atomic<int> answered{0};
    for (int t = 0; t < 6; ++t) {
      attackers.emplace_back([&] {
        for (int i = 0; i < 2; ++i) {
          HttpResult res =
              testing::HttpRequest(server_->http_port(), "POST", "/v1/data/trino/batch", body);
          if (res.status == 200 || res.status == 504 || res.status == 429 || res.status == 503) {
            ++answered;
          }
        }
      });
    }
    // Health and metrics from a third address while the batches run: answered by the I/O
    // threads, never behind a decision. One call of the 20 may be slow (a stall of a shared
    // machine); a health check that waited for the batches would be slow in most of them.
    int slow = 0;
    for (int i = 0; i < 10; ++i) {
      for (const char* path : {"/healthz", "/metrics"}) {
        const auto start = Clock::now();
        HttpResult h = testing::HttpRequest(server_->http_port(), "GET", path, "",
                                            "application/json", "127.0.0.3");
        const auto took = Clock::now() - start;
        EXPECT_EQ(h.status, 200) << path;
        EXPECT_LT(took, std::chrono::seconds(1)) << path;
        if (took >= std::chrono::milliseconds(200)) ++slow;
      }
    }
    EXPECT_LE(slow, 1) << "health and metrics calls over 200 ms of 20";
    for (std::thread& t : attackers) t.join();
    EXPECT_EQ(answered.load(), 12);
    // What the gate did is in the metrics.
    HttpResult m = testing::HttpRequest(server_->http_port(), "GET", "/metrics", "",
                                        "application/json", "127.0.0.3");
    for (const char* name :
         {"arbiter_http_rejected_busy_total", "arbiter_http_rejected_client_total",
          "arbiter_http_closed_deadline_total"}) {
      EXPECT_TRUE(absl::StrContains(m.body, name)) << name;
    }
  });
}

}  // namespace
}  // namespace arbiter
