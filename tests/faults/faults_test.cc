// Faults under load, against the real arbiterd (tests/support): reloads every 100 ms while four
// clients call, bundles that loop or allocate without bound at load time, a domain policy that
// burns its whole budget on a tenth of its requests, a full disk and a stalled writer under the
// decision log, SIGKILL during heavy logging, overload beyond max_concurrent_calls, a bad bundle
// at start-up, abusive requests (thousands of columns and roles, YAML nested 10,000 levels,
// invalid UTF-8) and hundreds of idle connections. Every test is bounded: waits poll a condition
// with a deadline, and the only fixed pauses are the reload cadence and a stall-observation
// window, which are what is being tested.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "clients/cpp/arbiter_client.h"
#include "envoy/service/auth/v3/external_auth.grpc.pb.h"
#include "grpcpp/generic/generic_stub.h"
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

std::unique_ptr<ArbiterdProcess> StartOrDie(const ArbiterdOptions& options) {
  auto p = ArbiterdProcess::Start(options);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : nullptr;
}

std::string Read(const std::string& path) { return testing::ReadFileOrEmpty(path); }

v1::AccessRequest Access(const std::string& id, std::vector<std::string> roles,
                         const std::string& action, const std::string& table,
                         std::vector<std::string> columns = {}) {
  v1::AccessRequest r;
  r.mutable_principal()->set_id(id);
  for (auto& role : roles) r.mutable_principal()->add_roles(role);
  r.set_action(action);
  r.mutable_resource()->set_table(table);
  for (auto& c : columns) r.mutable_resource()->add_columns(c);
  return r;
}

// An access request for the product `<domain>-data`, which WriteBundle catalogues for every
// domain folder (ownership is the catalog's word, so domain policies run only for catalogued
// resources).
v1::AccessRequest DomainAccess(const std::string& id, const std::string& domain) {
  v1::AccessRequest r;
  r.mutable_principal()->set_id(id);
  r.set_action("read");
  r.mutable_resource()->set_product(domain + "-data");
  return r;
}

v1::AccessRequest AnaReads() {
  return Access("ana", {"sales-analysts"}, "read", kCustomers, {"customer_id", "email"});
}

// Waits until `count` has not moved for 500 ms (at most 15 s) and returns its value then: how
// the log-blocking tests observe that every caller is blocked in the decision path.
int WaitUntilStill(const std::atomic<int>& count) {
  int last = -1;
  auto still_since = Clock::now();
  auto give_up = Clock::now() + std::chrono::seconds(15);
  while (Clock::now() < give_up) {
    int now = count.load();
    if (now != last) {
      last = now;
      still_since = Clock::now();
    } else if (Clock::now() - still_since > std::chrono::milliseconds(500)) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return last;
}

// Polls `cond` every 10 ms until it holds or `timeout` passes.
bool WaitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

// The value of the first sample of `name` whose labels contain `labels` ("" for any), or -1.
// The sum of the series of `name` whose labels contain `labels` (series are created at 0, so
// several may match), or -1 when none does.
double Metric(int http_port, const std::string& name, const std::string& labels = "") {
  auto m = testing::HttpRequest(http_port, "GET", "/metrics");
  double sum = 0;
  bool found = false;
  for (absl::string_view line : absl::StrSplit(m.body, '\n')) {
    if (!absl::StartsWith(line, name)) continue;
    absl::string_view rest = line.substr(name.size());
    if (rest.empty() || (rest[0] != ' ' && rest[0] != '{')) continue;
    if (!labels.empty() && !absl::StrContains(rest, labels)) continue;
    double v;
    if (absl::SimpleAtod(rest.substr(rest.rfind(' ') + 1), &v)) {
      sum += v;
      found = true;
    }
  }
  return found ? sum : -1;
}

// Resident set size of `pid` in KiB (VmRSS in /proc/<pid>/status), or -1.
long RssKib(pid_t pid) {
  std::string status = Read(absl::StrCat("/proc/", pid, "/status"));
  for (absl::string_view line : absl::StrSplit(status, '\n')) {
    if (absl::StartsWith(line, "VmRSS:")) {
      long v = -1;
      std::string digits;
      for (char c : line) {
        if (c >= '0' && c <= '9') digits += c;
      }
      (void)absl::SimpleAtoi(digits, &v);
      return v;
    }
  }
  return -1;
}

client::ClientOptions WithTimeout(absl::Duration timeout) {
  client::ClientOptions o;
  o.timeout = timeout;
  return o;
}

// Strict UTF-8, as protobuf checks proto3 strings: no overlong forms, surrogates or code points
// beyond U+10FFFF.
bool ValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    uint32_t cp;
    size_t len;
    if (c < 0x80) {
      cp = c;
      len = 1;
    } else if ((c >> 5) == 0x6) {
      cp = c & 0x1F;
      len = 2;
    } else if ((c >> 4) == 0xE) {
      cp = c & 0x0F;
      len = 3;
    } else if ((c >> 3) == 0x1E) {
      cp = c & 0x07;
      len = 4;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

bool Alive(pid_t pid) { return pid > 0 && kill(pid, 0) == 0; }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1));
  return v[i];
}

// A scratch copy of the shipped bundle, whose revision can be rewritten.
class ScratchBundle {
 public:
  ScratchBundle() {
    dir_ = testing::MakeTempDir("arbiter-faults");
    bundle_ = dir_ + "/bundle";
    testing::CopyTree(testing::ShippedBundleDir(), bundle_);
  }
  ~ScratchBundle() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void SetRevision(const std::string& revision) {
    std::string cfg = Read(bundle_ + "/bundle.yaml");
    auto start = cfg.find("revision:");
    auto end = cfg.find('\n', start);
    cfg.replace(start, end - start, absl::StrCat("revision: \"", revision, "\""));
    testing::WriteFile(bundle_ + "/bundle.yaml", cfg);
  }
  const std::string& dir() const { return dir_; }
  const std::string& bundle() const { return bundle_; }

 private:
  std::string dir_, bundle_;
};

// A small bundle of our own, written to a scratch directory. Each domains/<d>/ folder gets a
// catalogued product `<d>-data` owned by <d>, so that DomainAccess reaches its policies.
std::string WriteBundle(const std::string& dir,
                        const std::vector<std::pair<std::string, std::string>>& files) {
  std::string b = dir + "/bundle";
  std::set<std::string> domains;
  for (const auto& [path, content] : files) {
    testing::WriteFile(b + "/" + path, content);
    std::vector<std::string> parts = absl::StrSplit(path, '/');
    if (parts.size() == 3 && parts[0] == "domains") domains.insert(parts[1]);
  }
  for (const std::string& d : domains) {
    testing::WriteFile(absl::StrCat(b, "/catalog/products/", d, "-data.yaml"),
                       absl::StrCat("metadata: {name: ", d, "-data, domain: ", d, "}\n"));
  }
  return b;
}

std::string LuaPolicy(const std::string& id, const std::string& body,
                      const std::string& fields = "") {
  return absl::StrCat("return {\n  id = '", id, "',\n  kinds = {'access'},\n", fields,
                      "  check = function(req, ctx)\n", body, "\n  end,\n}\n");
}

bool HasReason(const v1::Decision& d, const std::string& id) {
  for (const auto& r : d.reasons()) {
    if (r.policy_id() == id) return true;
  }
  return false;
}

// --- Reloads under load. ---

TEST(ReloadUnderLoadTest, ReloadEvery100msWhileFourClientsCall) {
  ScratchBundle sb;
  ArbiterdOptions o;
  o.bundle_dir = sb.bundle();
  o.config_yaml = "bundle:\n  watch: true\n  poll_interval_ms: 20\n";
  auto server = StartOrDie(o);
  ASSERT_NE(server, nullptr);
  // The reloads race with four busy clients and the watcher: under ASan on a loaded 2-core
  // machine one took over the client's default 5 s once (CI, load average 10). What this test
  // proves is that every reload succeeds and no call fails or sees a revision never written,
  // not how fast a reload is.
  client::Client c(server->grpc_target(), WithTimeout(absl::Seconds(60)));
  auto status = c.GetStatus();
  ASSERT_TRUE(status.ok()) << status.status();

  std::mutex mu;
  std::set<std::string> written = {status->bundle_revision()};
  std::set<std::string> seen;
  std::vector<std::string> failures;
  std::atomic<bool> stop{false};
  std::atomic<int> calls{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      client::Client cc(server->grpc_target());
      std::set<std::string> mine;
      std::vector<std::string> bad;
      while (!stop.load()) {
        auto d = cc.CheckAccess(AnaReads());
        ++calls;
        if (!d.ok()) {
          bad.push_back(d.status().ToString());
        } else {
          mine.insert(d->bundle_revision());
          if (d->effect() != v1::EFFECT_ALLOW) bad.push_back("not an allow: " + d->DebugString());
        }
      }
      std::lock_guard<std::mutex> l(mu);
      seen.insert(mine.begin(), mine.end());
      failures.insert(failures.end(), bad.begin(), bad.end());
    });
  }
  // 20 rewrites, one every 100 ms (about 2 s): the watcher polls every 20 ms, and every other
  // rewrite is also reloaded through the RPC, so that both paths race with the calls and with
  // each other.
  std::vector<std::string> reload_errors;
  for (int i = 0; i < 20; ++i) {
    std::string rev = absl::StrCat("fault-r", i);
    {
      std::lock_guard<std::mutex> l(mu);
      written.insert(rev);  // recorded before any server can see it
    }
    sb.SetRevision(rev);
    if (i % 2 == 1) {
      auto r = c.Reload();
      if (!r.ok()) {
        reload_errors.push_back(r.status().ToString());
      } else if (r->errors_size() > 0) {
        reload_errors.push_back(r->errors(0));
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  stop = true;
  for (auto& t : clients) t.join();

  EXPECT_TRUE(reload_errors.empty()) << reload_errors.front();
  EXPECT_GT(calls.load(), 100);
  EXPECT_TRUE(failures.empty()) << failures.size() << " failed calls; first: " << failures[0];
  for (const std::string& rev : seen) {
    EXPECT_TRUE(written.count(rev))
        << "a response named revision \"" << rev << "\", which was never written";
  }
  // The reloads did take effect while the clients were calling.
  EXPECT_GE(seen.size(), 5u);
  EXPECT_TRUE(WaitFor(
      [&] {
        auto s = c.GetStatus();
        return s.ok() && s->bundle_revision() == "fault-r19";
      },
      std::chrono::seconds(5)));
}

// --- Bundles that bomb at load time. ---

TEST(LoadTimeBombTest, LoopingOrAllocatingTopLevelIsRejectedWhileServingContinues) {
  ScratchBundle sb;
  ArbiterdOptions o;
  o.bundle_dir = sb.bundle();
  o.config_yaml = "bundle:\n  watch: false\n";
  auto server = StartOrDie(o);
  ASSERT_NE(server, nullptr);
  client::Client c(server->grpc_target());
  auto status = c.GetStatus();
  ASSERT_TRUE(status.ok());
  const std::string revision = status->bundle_revision();

  std::atomic<bool> stop{false};
  std::atomic<int> calls{0}, bad{0};
  std::thread caller([&] {
    client::Client cc(server->grpc_target());
    while (!stop.load()) {
      auto d = cc.CheckAccess(AnaReads());
      ++calls;
      if (!d.ok() || d->bundle_revision() != revision || d->effect() != v1::EFFECT_ALLOW) ++bad;
    }
  });

  const std::pair<const char*, const char*> bombs[] = {
      {"loop", "while true do end\n"},
      {"pcall-loop", "while true do pcall(function() while true do end end) end\n"},
      {"alloc", "local t = {}\nwhile true do t[#t + 1] = ('x'):rep(1000) .. #t end\n"},
      {"concat", "local s = 'x'\nwhile true do s = s .. s end\n"},
  };
  for (const auto& [name, top] : bombs) {
    SCOPED_TRACE(name);
    std::string file = absl::StrCat("domains/sales/bomb-", name, ".lua");
    testing::WriteFile(sb.bundle() + "/" + file,
                       absl::StrCat(top, LuaPolicy("sales.bomb", "return nil")));
    sb.SetRevision(absl::StrCat("bomb-", name));
    auto start = Clock::now();
    auto reload = c.Reload();
    auto took = Clock::now() - start;
    ASSERT_TRUE(reload.ok()) << reload.status();
    EXPECT_LT(took, std::chrono::seconds(5));
    EXPECT_FALSE(reload->activated());
    EXPECT_EQ(reload->bundle_revision(), revision);
    ASSERT_GE(reload->errors_size(), 1);
    bool named = false;
    for (const auto& e : reload->errors()) named |= absl::StrContains(e, file);
    EXPECT_TRUE(named) << reload->errors(0);
    std::filesystem::remove(sb.bundle() + "/" + file);
  }
  int before = calls.load();
  EXPECT_TRUE(WaitFor([&] { return calls.load() > before + 10; }, std::chrono::seconds(5)));
  stop = true;
  caller.join();
  EXPECT_EQ(bad.load(), 0) << "of " << calls.load() << " calls during the rejected reloads";
  EXPECT_EQ(Metric(server->http_port(), "arbiter_bundle_last_reload_success"), 0);
  EXPECT_TRUE(Alive(server->pid()));
}

// A broken policy file whose syntax error quotes bytes that are not UTF-8: the load error travels
// in proto3 strings (ReloadResponse.errors, GetStatus.last_load_error), which must stay UTF-8.
TEST(LoadTimeBombTest, LoadErrorsQuotingInvalidUtf8StayDeliverable) {
  ScratchBundle sb;
  ArbiterdOptions o;
  o.bundle_dir = sb.bundle();
  o.config_yaml = "bundle:\n  watch: false\n";
  auto server = StartOrDie(o);
  ASSERT_NE(server, nullptr);
  client::Client c(server->grpc_target());
  for (const char* bytes : {"\xff\xfe", "\xed\xa0\x80", "\xc0\x80"}) {
    SCOPED_TRACE(::testing::PrintToString(std::string(bytes)));
    testing::WriteFile(sb.bundle() + "/domains/sales/bad.lua",
                       absl::StrCat("return { id = 'sales.", bytes, "\n"));
    auto reload = c.Reload();
    ASSERT_TRUE(reload.ok()) << reload.status();
    EXPECT_FALSE(reload->activated());
    ASSERT_GE(reload->errors_size(), 1);
    EXPECT_TRUE(absl::StrContains(reload->errors(0), "domains/sales/bad.lua:1:"))
        << reload->errors(0);
    auto status = c.GetStatus();
    ASSERT_TRUE(status.ok()) << status.status();
    EXPECT_TRUE(absl::StrContains(status->last_load_error(), "bad.lua"));
  }
}

TEST(LoadTimeBombTest, StartingWithABombingBundleIsRefused) {
  ScratchBundle sb;
  testing::WriteFile(sb.bundle() + "/domains/sales/spin.lua",
                     "while true do end\n" + LuaPolicy("sales.spin", "return nil"));
  ArbiterdOptions o;
  o.bundle_dir = sb.bundle();
  auto start = Clock::now();
  auto server = ArbiterdProcess::Start(o);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(15));
  ASSERT_FALSE(server.ok());
  std::string msg(server.status().message());
  EXPECT_TRUE(absl::StrContains(msg, "arbiterd exited with status ")) << msg;
  EXPECT_FALSE(absl::StrContains(msg, "exited with status 0:")) << msg;
  EXPECT_TRUE(absl::StrContains(msg, "domains/sales/spin.lua")) << msg;
}

// --- A check too slow for its hookless first run to stand. ---

// A check of 900,000 VM instructions is within the default budget of 1,000,000, but no machine
// runs it within budget / R_max (0.125 ms): its first, hookless run cannot be certified, so it
// runs again under the instruction count (lua_sandbox.cc, FastRunStands). The decision is the
// counted run's, and /metrics counts the rerun; a cheap check is certified and counts nothing.
TEST(CountedRerunTest, ASlowCheckIsDecidedByItsCountedRunAndCounted) {
  std::string dir = testing::MakeTempDir("arbiter-rerun");
  std::string bundle = WriteBundle(
      dir, {
               {"bundle.yaml", "revision: rerun-1\n"},
               {"global/grant.lua",
                LuaPolicy("global.grant", "return allow('granted')", "  mode = 'default',\n")},
               {"domains/slow/loop.lua",
                LuaPolicy("slow.loop", "for i = 1, 900000 do end\nreturn allow('counted')")},
               {"domains/quick/ok.lua", LuaPolicy("quick.ok", "return allow('quick')")},
           });
  ArbiterdOptions o;
  o.bundle_dir = bundle;
  o.config_yaml = "bundle:\n  watch: false\n";
  auto server = StartOrDie(o);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(Metric(server->http_port(), "arbiter_policy_counted_reruns_total"), 0);
  client::Client c(server->grpc_target(), WithTimeout(absl::Seconds(20)));
  constexpr int kQuick = 100;
  for (int i = 0; i < kQuick; ++i) {
    auto d = c.CheckAccess(DomainAccess(absl::StrCat("q", i), "quick"));
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->effect(), v1::EFFECT_ALLOW);
  }
  // Checks of a few microseconds against a bound of 125 us: only a stall of this shared machine
  // (two cores, ctest -j2, a sanitizer build running 2-3x slower) pushes one past it. A broken
  // certification would rerun every one of them.
  EXPECT_LE(Metric(server->http_port(), "arbiter_policy_counted_reruns_total"), kQuick / 10);
  const double before = Metric(server->http_port(), "arbiter_policy_counted_reruns_total");
  for (int i = 0; i < 3; ++i) {
    auto d = c.CheckAccess(DomainAccess(absl::StrCat("s", i), "slow"));
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->effect(), v1::EFFECT_ALLOW) << d->DebugString();
    EXPECT_TRUE(HasReason(*d, "slow.loop")) << d->DebugString();
  }
  EXPECT_GE(Metric(server->http_port(), "arbiter_policy_counted_reruns_total") - before, 3);
}

// --- One domain burning its budget. ---

TEST(BudgetBurnerTest, OtherDomainsKeepTheirLatency) {
  std::string dir = testing::MakeTempDir("arbiter-burner");
  std::string bundle = WriteBundle(
      dir,
      {
          {"bundle.yaml",
           "revision: burner-1\nlimits: {instruction_budget: 1000000, policy_timeout_ms: "
           "50}\n"},
          {"global/grant.lua",
           LuaPolicy("global.grant", "return allow('granted')", "  mode = 'default',\n")},
          {"domains/burn/spin.lua", LuaPolicy("burn.spin",
                                              "if string.sub(req.principal.id, -1) == '0' then\n"
                                              "  local x = 0\n  while true do x = x + 1 end\nend")},
          {"domains/calm/ok.lua", LuaPolicy("calm.ok", "return allow('calm')")},
      });
  ArbiterdOptions o;
  o.bundle_dir = bundle;
  o.config_yaml = "server:\n  worker_threads: 8\nbundle:\n  watch: false\n";
  auto server = StartOrDie(o);
  ASSERT_NE(server, nullptr);

  // One closed-loop burn-domain caller and two calm-domain callers measuring latency; the same
  // load shape in both phases, only whether a tenth of the burn requests burn differs. (One
  // burner: on a 2-core machine two burns at once would hold both cores, and the calm calls would
  // then measure the kernel scheduler's time slices, not Arbiter.)
  struct Phase {
    std::vector<double> calm_ms, burn_ms;
    int burned = 0, burn_calls = 0, calm_failures = 0;
    std::vector<std::string> burn_problems;
  };
  auto run = [&](bool burning) {
    Phase p;
    std::mutex mu;
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 1; ++t) {
      threads.emplace_back([&, t] {
        client::Client cc(server->grpc_target());
        int i = t;
        int burned = 0, calls = 0;
        std::vector<std::string> problems;
        std::vector<double> burn_ms;
        while (!stop.load()) {
          // ids u1..u99; when burning, one in ten ends in '0'.
          int n = burning ? i % 100 : (i % 9) + 1;
          ++i;
          std::string id = absl::StrCat("u", n == 0 ? 100 : n);
          auto start = Clock::now();
          auto d = cc.CheckAccess(DomainAccess(id, "burn"));
          ++calls;
          bool burns = absl::EndsWith(id, "0");
          if (burns) {
            burn_ms.push_back(
                std::chrono::duration<double, std::milli>(Clock::now() - start).count());
          }
          if (!d.ok()) {
            problems.push_back(absl::StrCat(id, ": ", d.status().ToString()));
            continue;
          }
          if (!burns) {
            if (d->effect() != v1::EFFECT_ALLOW) problems.push_back(id + ": not allowed");
            continue;
          }
          ++burned;
          bool named = false;
          for (const auto& r : d->reasons()) {
            named |= r.policy_id() == "burn.spin" && r.severity() == v1::SEVERITY_ERROR &&
                     r.effect() == v1::EFFECT_DENY && absl::StrContains(r.message(), "budget");
          }
          if (d->effect() != v1::EFFECT_DENY || !named) {
            problems.push_back(id +
                               ": burner decision is not a budget deny: " + d->ShortDebugString());
          }
        }
        std::lock_guard<std::mutex> l(mu);
        p.burned += burned;
        p.burn_ms.insert(p.burn_ms.end(), burn_ms.begin(), burn_ms.end());
        p.burn_calls += calls;
        p.burn_problems.insert(p.burn_problems.end(), problems.begin(), problems.end());
      });
    }
    std::vector<std::thread> calm;
    for (int t = 0; t < 2; ++t) {
      calm.emplace_back([&] {
        client::Client cc(server->grpc_target());
        std::vector<double> ms;
        int failures = 0;
        for (int i = 0; i < 400; ++i) {
          auto start = Clock::now();
          auto d = cc.CheckAccess(DomainAccess(absl::StrCat("c", i), "calm"));
          ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
          if (!d.ok() || d->effect() != v1::EFFECT_ALLOW) ++failures;
        }
        std::lock_guard<std::mutex> l(mu);
        p.calm_ms.insert(p.calm_ms.end(), ms.begin(), ms.end());
        p.calm_failures += failures;
      });
    }
    for (auto& t : calm) t.join();
    stop = true;
    for (auto& t : threads) t.join();
    return p;
  };
  auto merge = [](Phase& into, const Phase& from) {
    into.calm_ms.insert(into.calm_ms.end(), from.calm_ms.begin(), from.calm_ms.end());
    into.burn_ms.insert(into.burn_ms.end(), from.burn_ms.begin(), from.burn_ms.end());
    into.burned += from.burned;
    into.burn_calls += from.burn_calls;
    into.calm_failures += from.calm_failures;
    into.burn_problems.insert(into.burn_problems.end(), from.burn_problems.begin(),
                              from.burn_problems.end());
  };
  run(false);  // warm-up: Lua state pools, connections
  // Interleaved rounds, so that both phases see the same background load. A measurement whose
  // only miss is the latency bound below is taken once more, and the second decides: one stall
  // of a shared machine in a burning round can push a p99 over, while a calm call queued behind
  // a burn is slow in every measurement.
  Phase quiet, burning;
  double p99_quiet = 0, p99_burning = 0;
  int calm_failures = 0;  // over every measurement: correctness holds in each
  std::vector<std::string> burn_problems;
  for (int measurement = 1; measurement <= 2; ++measurement) {
    if (measurement > 1) {
      calm_failures += quiet.calm_failures + burning.calm_failures;
      burn_problems.insert(burn_problems.end(), burning.burn_problems.begin(),
                           burning.burn_problems.end());
      burn_problems.insert(burn_problems.end(), quiet.burn_problems.begin(),
                           quiet.burn_problems.end());
    }
    quiet = Phase();
    burning = Phase();
    for (int round = 0; round < 3; ++round) {
      merge(quiet, run(false));
      merge(burning, run(true));
    }
    p99_quiet = Percentile(quiet.calm_ms, 0.99);
    p99_burning = Percentile(burning.calm_ms, 0.99);
    if (p99_burning < 3 * p99_quiet + 5.0) break;
    std::printf("[ burner ] calm p99 %.2f ms burning against %.2f ms quiet: once more\n",
                p99_burning, p99_quiet);
  }
  std::printf(
      "[ burner ] calm p50 %.2f/%.2f ms, p99 %.2f/%.2f ms (quiet/burning); %d of %d "
      "burn-domain calls burned, for a median of %.1f ms each\n",
      Percentile(quiet.calm_ms, 0.5), Percentile(burning.calm_ms, 0.5), p99_quiet, p99_burning,
      burning.burned, burning.burn_calls, Percentile(burning.burn_ms, 0.5));
  EXPECT_EQ(calm_failures + quiet.calm_failures + burning.calm_failures, 0);
  EXPECT_TRUE(burn_problems.empty()) << burn_problems[0];
  EXPECT_TRUE(burning.burn_problems.empty()) << burning.burn_problems[0];
  EXPECT_TRUE(quiet.burn_problems.empty()) << quiet.burn_problems[0];
  EXPECT_GT(burning.burned, 5);
  // The bound: the burner holds no lock or Lua state the calm domain needs, so a calm call only
  // competes for CPU: the burner client keeps at most one of the two cores busy in both phases
  // (a closed loop), and a burning policy runs for at most its 50 ms budget in slices the
  // scheduler preempts every few ms. Three times the quiet p99 plus 5 ms (about one scheduler
  // slice on a busy 2-core machine) allows for that and for noise, while a calm call queued
  // behind a burn (shared state, a global lock, a full worker pool) would pay up to the burn's
  // whole budget at its p99.
  EXPECT_LT(p99_burning, 3 * p99_quiet + 5.0)
      << "calm-domain p99 rose from " << p99_quiet << " ms to " << p99_burning << " ms";
  EXPECT_GT(Metric(server->http_port(), "arbiter_policy_faults_total", "burn.spin"), 0);
}

// --- The decision log's disk. ---

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

TEST(DecisionLogFaultTest, FullDiskIsCountedWhileDecisionsKeepFlowing) {
  std::string dir = testing::MakeTempDir("arbiter-full");
  // The device itself: the log is never opened through a symlink (O_NOFOLLOW).
  std::string log = "/dev/full";
  ArbiterdOptions o;
  o.bundle_dir = testing::ShippedBundleDir();
  o.config_yaml = absl::StrCat("bundle:\n  watch: false\ndecision_log:\n  path: ", log, "\n");
  auto server = StartOrDie(o);
  ASSERT_NE(server, nullptr);
  {
    // (Scoped: an idle client channel left open delays the server's SIGTERM exit by ~5 s.)
    client::Client c(server->grpc_target());
    for (int i = 0; i < 300; ++i) {
      auto d = c.CheckAccess(AnaReads());
      ASSERT_TRUE(d.ok()) << d.status();
      ASSERT_EQ(d->effect(), v1::EFFECT_ALLOW);
    }
  }
  // The writer is asynchronous: wait (bounded) for it to have tried.
  EXPECT_TRUE(WaitFor(
      [&] { return Metric(server->http_port(), "arbiter_decision_log_dropped_total") >= 300; },
      std::chrono::seconds(10)))
      << Metric(server->http_port(), "arbiter_decision_log_dropped_total");
  EXPECT_GT(Metric(server->http_port(), "arbiter_decision_log_write_errors_total"), 0);
  EXPECT_GE(Metric(server->http_port(), "arbiter_decisions_total", "kind=\"access\""), 300);
  EXPECT_EQ(server->Stop(SIGTERM), 0) << server->Stderr();
  std::filesystem::remove_all(dir);
}

// A tiny tmpfs that fills up mid-write (only where this process may mount; skipped otherwise):
// the file must hold whole lines only, and the loss must be counted.
TEST(DecisionLogFaultTest, TinyTmpfsFillsUpWithWholeLinesOnly) {
  std::string dir = testing::MakeTempDir("arbiter-tmpfs");
  std::string mnt = dir + "/mnt";
  std::filesystem::create_directories(mnt);
  if (mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=64k") != 0) {
    std::filesystem::remove_all(dir);
    GTEST_SKIP() << "cannot mount a tmpfs here: " << std::strerror(errno);
  }
  struct Unmount {
    std::string mnt, dir;
    ~Unmount() {
      umount2(mnt.c_str(), MNT_DETACH);
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } unmount{mnt, dir};
  std::string log = mnt + "/decisions.jsonl";
  ArbiterdOptions o;
  o.bundle_dir = testing::ShippedBundleDir();
  o.config_yaml = absl::StrCat("bundle:\n  watch: false\ndecision_log:\n  path: ", log, "\n");
  auto server = StartOrDie(o);
  ASSERT_NE(server, nullptr);
  int ok = 0;
  {
    client::Client c(server->grpc_target());
    for (int i = 0; i < 400; ++i) {  // ~1.5 KiB a line: several times the 64 KiB
      auto d = c.CheckAccess(AnaReads());
      ASSERT_TRUE(d.ok()) << d.status();
      ++ok;
    }
  }
  EXPECT_TRUE(WaitFor(
      [&] {
        return Metric(server->http_port(), "arbiter_decision_log_queue_depth") == 0 &&
               Metric(server->http_port(), "arbiter_decision_log_dropped_total") > 0;
      },
      std::chrono::seconds(10)));
  double dropped = Metric(server->http_port(), "arbiter_decision_log_dropped_total");
  EXPECT_GT(Metric(server->http_port(), "arbiter_decision_log_write_errors_total"), 0);
  server->Stop(SIGTERM);
  std::string text = Read(log);
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n') << "a partial line was left at the end of the full file";
  std::vector<std::string> lines = Lines(text);
  for (const std::string& line : lines) {
    EXPECT_FALSE(nlohmann::json::parse(line, nullptr, false).is_discarded()) << line;
  }
  // Every decision is either in the file or counted as lost.
  EXPECT_EQ(static_cast<double>(lines.size()) + dropped, ok)
      << lines.size() << " lines written, " << dropped << " counted as dropped";
}

TEST(DecisionLogFaultTest, BlockOverflowWithAStalledWriterBlocksRatherThanDrops) {
  std::string dir = testing::MakeTempDir("arbiter-fifo");
  std::string fifo = dir + "/stalled.fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  int reader = open(fifo.c_str(), O_RDONLY | O_NONBLOCK);  // lets the writer open; reads later
  ASSERT_GE(reader, 0);
  ArbiterdOptions o;
  o.bundle_dir = testing::ShippedBundleDir();
  o.config_yaml = absl::StrCat(
      "server:\n  max_deadline_ms: 60000\nbundle:\n  watch: false\n"
      "decision_log:\n  path: ",
      fifo, "\n  queue_capacity: 8\n  overflow: block\n");
  auto server = StartOrDie(o);
  ASSERT_NE(server, nullptr);

  std::atomic<bool> stop{false};
  std::atomic<int> ok_calls{0}, failed{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      client::Client cc(server->grpc_target(), WithTimeout(absl::Seconds(30)));
      while (!stop.load()) {
        auto d = cc.CheckAccess(AnaReads());
        if (d.ok()) {
          ++ok_calls;
        } else {
          ++failed;
        }
      }
    });
  }
  // The pipe (64 KiB) and the queue fill; then every caller blocks in the decision path. Observe
  // that: the count stops moving for 500 ms (bounded: at most 15 s of waiting).
  const int last = WaitUntilStill(ok_calls);
  int blocked_at = ok_calls.load();
  EXPECT_GT(blocked_at, 10);
  EXPECT_EQ(blocked_at, last) << "calls kept completing: the log did not block";
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(Metric(server->http_port(), "arbiter_decision_log_dropped_total"), 0);

  // Unblock: read the FIFO until the server closes it.
  std::string received;
  std::thread drain([&] {
    fcntl(reader, F_SETFL, fcntl(reader, F_GETFL) & ~O_NONBLOCK);
    char buf[65536];
    ssize_t n;
    while ((n = read(reader, buf, sizeof buf)) > 0) received.append(buf, static_cast<size_t>(n));
  });
  EXPECT_TRUE(WaitFor([&] { return ok_calls.load() > blocked_at + 100; }, std::chrono::seconds(10)))
      << "calls did not resume after the FIFO was read";
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(Metric(server->http_port(), "arbiter_decision_log_dropped_total"), 0);
  EXPECT_EQ(server->Stop(SIGTERM), 0);  // flushes, then closes the FIFO: the drain sees EOF
  drain.join();
  close(reader);
  std::vector<std::string> lines = Lines(received);
  EXPECT_EQ(static_cast<int>(lines.size()), ok_calls.load());
  for (const std::string& line : lines) {
    ASSERT_FALSE(nlohmann::json::parse(line, nullptr, false).is_discarded()) << line;
  }
  std::filesystem::remove_all(dir);
}

// The same stall over HTTP: Trino requests blocked on the log hold workers, never the I/O
// threads, so health checks on new connections are still answered (small Trino requests run
// on the I/O thread only when the log cannot block: service/trino/routes.cc).
TEST(DecisionLogFaultTest, BlockOverflowHoldsHttpWorkersNotTheIoThreads) {
  std::string dir = testing::MakeTempDir("arbiter-fifo-http");
  std::string fifo = dir + "/stalled.fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  int reader = open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(reader, 0);
  ArbiterdOptions o;
  o.bundle_dir = testing::ShippedBundleDir();
  o.config_yaml = absl::StrCat(
      "server:\n  max_deadline_ms: 60000\nbundle:\n  watch: false\n"
      "http:\n  threads: 2\n  worker_threads: 4\n  max_running_per_client: 4\n"
      "decision_log:\n  path: ",
      fifo, "\n  queue_capacity: 8\n  overflow: block\n");
  auto server = StartOrDie(o);
  ASSERT_NE(server, nullptr);
  const std::string trino =
      R"({"input":{"context":{"identity":{"user":"ana","groups":[]}},"action":{"operation":)"
      R"("SelectFromColumns","resource":{"table":{"catalogName":"lake","schemaName":"s",)"
      R"("tableName":"t","columns":["x"]}}}}})";
  std::atomic<bool> stop{false};
  std::atomic<int> ok_calls{0}, failed{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      while (!stop.load()) {
        auto r = testing::HttpRequest(server->http_port(), "POST", "/v1/data/trino/allow", trino);
        if (r.status == 200) {
          ++ok_calls;
        } else {
          ++failed;
        }
      }
    });
  }
  // The pipe and the queue fill; then every Trino caller blocks in the decision path: the count
  // stops moving for 500 ms (bounded: at most 15 s of waiting).
  const int last = WaitUntilStill(ok_calls);
  EXPECT_GT(ok_calls.load(), 10);
  EXPECT_EQ(ok_calls.load(), last) << "calls kept completing: the log did not block";
  // Four decisions are blocked; health checks on new connections (spread over both I/O
  // threads) are answered at once.
  for (int i = 0; i < 6; ++i) {
    const auto start = Clock::now();
    auto h = testing::HttpRequest(server->http_port(), "GET", "/healthz");
    EXPECT_EQ(h.status, 200) << h.body;
    EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
  }
  std::thread drain([&] {
    fcntl(reader, F_SETFL, fcntl(reader, F_GETFL) & ~O_NONBLOCK);
    char buf[65536];
    while (read(reader, buf, sizeof buf) > 0) {
    }
  });
  const int blocked_at = ok_calls.load();
  EXPECT_TRUE(WaitFor([&] { return ok_calls.load() > blocked_at + 20; }, std::chrono::seconds(10)))
      << "calls did not resume after the FIFO was read";
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(server->Stop(SIGTERM), 0);
  drain.join();
  close(reader);
  std::filesystem::remove_all(dir);
}

TEST(DecisionLogFaultTest, Kill9DuringHeavyLoggingLeavesOnlyWholeLinesButTheLast) {
  std::string dir = testing::MakeTempDir("arbiter-kill9");
  std::string log = dir + "/decisions.jsonl";
  ArbiterdOptions o;
  o.bundle_dir = testing::ShippedBundleDir();
  o.config_yaml = absl::StrCat("bundle:\n  watch: false\ndecision_log:\n  path: ", log, "\n");
  auto server = StartOrDie(o);
  ASSERT_NE(server, nullptr);
  std::atomic<bool> stop{false};
  std::atomic<int> ok_calls{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      client::Client cc(server->grpc_target(), WithTimeout(absl::Seconds(2)));
      while (!stop.load()) {
        if (cc.CheckAccess(AnaReads()).ok()) ++ok_calls;
      }
    });
  }
  EXPECT_TRUE(WaitFor([&] { return ok_calls.load() >= 1000; }, std::chrono::seconds(20)));
  EXPECT_EQ(server->Stop(SIGKILL), 128 + SIGKILL);
  stop = true;
  for (auto& t : clients) t.join();
  std::string text = Read(log);
  std::vector<std::string> parts = absl::StrSplit(text, '\n');
  // After the final '\n' comes "" or a partial line; everything before must parse.
  ASSERT_GE(parts.size(), 2u);
  parts.pop_back();
  EXPECT_GT(parts.size(), 100u);
  for (size_t i = 0; i < parts.size(); ++i) {
    auto j = nlohmann::json::parse(parts[i], nullptr, false);
    ASSERT_FALSE(j.is_discarded())
        << "line " << i + 1 << " of " << parts.size() << ": " << parts[i];
    EXPECT_TRUE(j.contains("decision_id"));
  }
  std::filesystem::remove_all(dir);
}

// --- Overload. ---

TEST(OverloadTest, BeyondCapacityIsResourceExhaustedAndMemoryStaysBounded) {
  std::string dir = testing::MakeTempDir("arbiter-overload");
  std::string bundle = WriteBundle(
      dir, {
               {"bundle.yaml",
                "revision: slow-1\nlimits: {instruction_budget: 100000000, policy_timeout_ms: "
                "5000}\n"},
               {"global/slow.lua", LuaPolicy("global.slow",
                                             "local x = 0\nfor i = 1, 2000000 do x = x + i end\n"
                                             "return allow('slowly')",
                                             "  mode = 'default',\n")},
           });
  ArbiterdOptions o;
  o.bundle_dir = bundle;
  o.config_yaml =
      "server:\n  max_concurrent_calls: 4\n  max_deadline_ms: 30000\nbundle:\n  watch: false\n";
  auto server = StartOrDie(o);
  ASSERT_NE(server, nullptr);
  client::Client c(server->grpc_target(), WithTimeout(absl::Seconds(20)));
  ASSERT_TRUE(c.CheckAccess(DomainAccess("warm", "sales")).ok());

  auto wave = [&](int& ok, int& exhausted, std::vector<std::string>& other) {
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::mutex mu;
    std::vector<std::thread> threads;
    for (int t = 0; t < 64; ++t) {
      threads.emplace_back([&, t] {
        ++ready;
        while (!go.load()) std::this_thread::yield();
        auto d = c.CheckAccess(DomainAccess(absl::StrCat("caller", t), "sales"));
        std::lock_guard<std::mutex> l(mu);
        if (d.ok()) {
          if (d->effect() == v1::EFFECT_ALLOW && HasReason(*d, "global.slow")) {
            ++ok;
          } else {
            other.push_back("unexpected decision: " + d->ShortDebugString());
          }
        } else if (d.status().code() == absl::StatusCode::kResourceExhausted) {
          ++exhausted;
        } else {
          other.push_back(d.status().ToString());
        }
      });
    }
    while (ready.load() < 64) std::this_thread::yield();
    go = true;
    for (auto& th : threads) th.join();
  };
  int ok = 0, exhausted = 0;
  std::vector<std::string> other;
  wave(ok, exhausted, other);  // the first wave grows the server's thread pool
  long rss_before = RssKib(server->pid());
  for (int i = 0; i < 5; ++i) wave(ok, exhausted, other);
  long rss_after = RssKib(server->pid());
  std::printf("[ overload ] %d decided, %d RESOURCE_EXHAUSTED; VmRSS %ld -> %ld KiB\n", ok,
              exhausted, rss_before, rss_after);
  EXPECT_TRUE(other.empty()) << other.size()
                             << " calls neither decided nor rejected; first: " << other[0];
  EXPECT_GT(exhausted, 0);
  EXPECT_GE(ok, 6);  // at least one per wave got through
  EXPECT_EQ(ok + exhausted + static_cast<int>(other.size()), 6 * 64);
  EXPECT_GT(Metric(server->http_port(), "arbiter_rejected_calls_total"), 0);
  ASSERT_TRUE(Alive(server->pid()));
  // Bounded: five more waves of 64 callers cost no more than 64 MiB on top of what the first
  // wave needed (threads, Lua states); unbounded queueing or leaking per call would exceed it.
  ASSERT_GT(rss_before, 0);
  EXPECT_LT(rss_after, rss_before + 64 * 1024);
  auto d = c.CheckAccess(DomainAccess("after", "sales"));
  ASSERT_TRUE(d.ok()) << d.status();
  std::filesystem::remove_all(dir);
}

// While calls are fast the server decides each on the gRPC thread that received it (no hand-off;
// service/server/inline_decisions.h); once one is slow, gRPC keeps a thread free, so that a call
// beyond the gate is refused at once instead of waiting for a slow decision to end, whichever
// door it comes through.
TEST(OverloadTest, WhileSlowCallsRunACallBeyondTheGateIsRefusedAtOnce) {
  std::string dir = testing::MakeTempDir("arbiter-slow-refusal");
  std::string bundle = WriteBundle(
      dir, {
               {"bundle.yaml",
                "revision: slow-2\nlimits: {instruction_budget: 2000000000, policy_timeout_ms: "
                "20000}\n"},
               {"global/slow.lua", LuaPolicy("global.slow",
                                             "local x = 0\nfor i = 1, 60000000 do x = x + i end\n"
                                             "return allow('slowly')",
                                             "  mode = 'default',\n")},
           });
  ArbiterdOptions o;
  o.bundle_dir = bundle;
  o.config_yaml =
      "server:\n  max_concurrent_calls: 2\n  worker_threads: 2\n  max_deadline_ms: 60000\n"
      "bundle:\n  watch: false\n";
  auto server = StartOrDie(o);
  ASSERT_NE(server, nullptr);
  client::Client c(server->grpc_target(), WithTimeout(absl::Seconds(50)));
  // Envoy's channel is connected before the gate fills: connecting takes a good part of a slow
  // call under the sanitizers, and the Check must arrive while the slow calls still run.
  std::shared_ptr<grpc::Channel> envoy_channel =
      grpc::CreateChannel(server->grpc_target(), grpc::InsecureChannelCredentials());
  ASSERT_TRUE(
      envoy_channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30)));
  auto envoy = ::envoy::service::auth::v3::Authorization::NewStub(envoy_channel);
  // The first slow call: decided inline (calls were fast so far), it makes the server keep a
  // gRPC thread free from its end on. It also connects `c`, so that the second one, timed,
  // measures the policy and not the connection's setup too (which, under ASan on a loaded
  // machine, made the first call's time a poor measure of how long the slow calls run).
  ASSERT_TRUE(c.CheckAccess(DomainAccess("first", "sales")).ok());
  const absl::Time t0 = absl::Now();
  ASSERT_TRUE(c.CheckAccess(DomainAccess("second", "sales")).ok());
  const absl::Duration slow = absl::Now() - t0;
  ASSERT_GT(slow, absl::Milliseconds(50)) << "the policy is not slow enough to measure with";

  // Two slow calls fill the gate (max_concurrent_calls: 2)...
  std::vector<std::thread> slow_calls;
  std::atomic<int> slow_ok{0};
  for (int i = 0; i < 2; ++i) {
    slow_calls.emplace_back([&, i] {
      auto d = c.CheckAccess(DomainAccess(absl::StrCat("slow", i), "sales"));
      if (d.ok() && d->effect() == v1::EFFECT_ALLOW) ++slow_ok;
    });
  }
  // ...then, well before either can end, one more call: refused by the free gRPC thread, not
  // decided after a slow call ends (which a server holding both of its gRPC threads would do).
  absl::SleepFor(slow / 5);
  const absl::Time t1 = absl::Now();
  auto refused = c.CheckAccess(DomainAccess("beyond", "sales"));
  const absl::Duration waited = absl::Now() - t1;
  // Envoy's Check goes through the same gate and threads: refused at once as well.
  ::envoy::service::auth::v3::CheckRequest check;
  check.mutable_attributes()->mutable_source()->set_principal("spiffe://mesh/ns/sales/sa/api");
  (*check.mutable_attributes()->mutable_context_extensions())["product"] = "customer-360";
  ::envoy::service::auth::v3::CheckResponse check_response;
  grpc::ClientContext check_ctx;
  check_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(50));
  const absl::Time t2 = absl::Now();
  const grpc::Status check_status = envoy->Check(&check_ctx, check, &check_response);
  const absl::Duration check_waited = absl::Now() - t2;
  for (auto& t : slow_calls) t.join();
  std::printf(
      "[ slow refusal ] a slow call %s; beyond the gate, CheckAccess answered in %s, Envoy's "
      "Check in %s\n",
      absl::FormatDuration(slow).c_str(), absl::FormatDuration(waited).c_str(),
      absl::FormatDuration(check_waited).c_str());
  EXPECT_EQ(slow_ok.load(), 2);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  EXPECT_LT(waited, slow / 2);
  EXPECT_EQ(check_status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << check_status.error_message();
  EXPECT_LT(waited + check_waited, slow / 2);
  std::filesystem::remove_all(dir);
}

// --- Abusive clients. ---

class AbusiveClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ArbiterdOptions o;
    o.bundle_dir = testing::ShippedBundleDir();
    o.config_yaml = "bundle:\n  watch: false\n";
    server_ = StartOrDie(o).release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void TearDown() override {
    // Whatever the abuse, the server is still up and serving.
    ASSERT_NE(server_, nullptr);
    EXPECT_TRUE(Alive(server_->pid()));
    auto d = Client().CheckAccess(AnaReads());
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->effect(), v1::EFFECT_ALLOW);
  }
  static client::Client Client() {
    return client::Client(server_->grpc_target(), WithTimeout(absl::Seconds(10)));
  }
  static ArbiterdProcess* server_;
};
ArbiterdProcess* AbusiveClientTest::server_ = nullptr;

TEST_F(AbusiveClientTest, FiveThousandColumnsAndRoles) {
  ASSERT_NE(server_, nullptr);
  v1::AccessRequest r = Access("ana", {"sales-analysts"}, "read", kCustomers);
  for (int i = 0; i < 5000; ++i) {
    r.mutable_resource()->add_columns(absl::StrCat("col_", i));
    r.mutable_principal()->add_roles(absl::StrCat("role_", i));
  }
  auto start = Clock::now();
  auto d = Client().CheckAccess(r);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
  if (d.ok()) {
    EXPECT_NE(d->effect(), v1::EFFECT_UNSPECIFIED);
  } else {
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument) << d.status();
    EXPECT_TRUE(absl::StrContains(d.status().message(), "resource.columns") ||
                absl::StrContains(d.status().message(), "principal.roles"))
        << d.status();
  }
}

TEST_F(AbusiveClientTest, YamlNestedTenThousandLevels) {
  ASSERT_NE(server_, nullptr);
  const std::string head =
      "apiVersion: datamesh/v1\nkind: DataProduct\nmetadata:\n  name: deep\n"
      "  domain: sales\nspec:\n  x: ";
  std::string flow_seq = head + std::string(10000, '[') + std::string(10000, ']') + "\n";
  std::string flow_map = head;
  for (int i = 0; i < 10000; ++i) flow_map += "{a: ";
  flow_map += "1" + std::string(10000, '}') + "\n";
  std::string block_seq = head + "\n   ";
  for (int i = 0; i < 10000; ++i) block_seq += "- ";
  block_seq += "x\n";
  for (const auto& [name, yaml] : std::vector<std::pair<std::string, std::string>>{
           {"flow sequences", flow_seq}, {"flow maps", flow_map}, {"block sequences", block_seq}}) {
    SCOPED_TRACE(name);
    v1::ProductRequest p;
    p.mutable_product()->set_yaml(yaml);
    auto start = Clock::now();
    auto d = Client().CheckProduct(p);
    EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
    ASSERT_FALSE(d.ok()) << d->ShortDebugString().substr(0, 500);
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument) << d.status();
    EXPECT_TRUE(absl::StrContains(d.status().message(), "nesting")) << d.status();
    EXPECT_TRUE(absl::StrContains(d.status().message(), "product")) << d.status();
    ASSERT_TRUE(Alive(server_->pid()));
  }
}

TEST_F(AbusiveClientTest, InvalidUtf8InYamlText) {
  ASSERT_NE(server_, nullptr);
  v1::ProductRequest p;
  p.mutable_product()->set_yaml(
      "apiVersion: datamesh/v1\nkind: DataProduct\nmetadata:\n  name: \xff\xfe\xc3\x28\n"
      "  domain: sales\nspec: {}\n");
  auto d = Client().CheckProduct(p);
  ASSERT_FALSE(d.ok()) << d->ShortDebugString();
  // proto3 strings must be UTF-8: the request cannot even be parsed. The caller must get a
  // clear client-side error status, not a crash or a hang.
  EXPECT_TRUE(d.status().code() == absl::StatusCode::kInvalidArgument ||
              d.status().code() == absl::StatusCode::kInternal)
      << d.status();
  std::printf("[ utf8 ] YAML with invalid UTF-8 over gRPC: %s\n", d.status().ToString().c_str());
}

TEST_F(AbusiveClientTest, InvalidUtf8InTrinoJson) {
  ASSERT_NE(server_, nullptr);
  std::string body =
      "{\"input\":{\"context\":{\"identity\":{\"user\":\"an\xff\xfe\",\"groups\":[]}},"
      "\"action\":{\"operation\":\"SelectFromColumns\",\"resource\":{\"table\":{"
      "\"catalogName\":\"customer_analytics\",\"schemaName\":\"customer_360\","
      "\"tableName\":\"customers\",\"columns\":[\"email\"]}}}}}";
  auto r = testing::HttpRequest(server_->http_port(), "POST", "/v1/data/trino/allow", body);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, "UTF-8") || absl::StrContains(r.body, "utf-8") ||
              absl::StrContains(r.body, "UTF8"))
      << r.body;
  std::printf("[ utf8 ] Trino JSON with invalid UTF-8: %d %s\n", r.status, r.body.c_str());
}

// Untrusted policy output: a domain policy's messages and error texts carrying bytes that are not
// valid UTF-8 (a surrogate, an overlong encoding, a code point beyond U+10FFFF, a stray byte)
// must still give a deliverable decision: proto3 strings must be UTF-8, and so must the JSON of
// the decision log.
TEST(UntrustedPolicyOutputTest, InvalidUtf8InMessagesStaysDeliverable) {
  std::string dir = testing::MakeTempDir("arbiter-utf8");
  std::string bundle = WriteBundle(
      dir,
      {
          {"bundle.yaml", "revision: utf8-1\n"},
          {"global/grant.lua",
           LuaPolicy("global.grant", "return allow('granted')", "  mode = 'default',\n")},
          {"domains/sales/odd.lua",
           LuaPolicy("sales.odd",
                     "return deny('surrogate \\237\\160\\128 overlong \\192\\128 beyond "
                     "\\244\\144\\128\\128 stray \\255 end', {detail = 'd \\237\\191\\191'})")},
          {"domains/marketing/err.lua",
           LuaPolicy("marketing.err", "error('raw \\255 and \\237\\160\\128 in an error')")},
          {"catalog/products/p.yaml",
           "metadata: {name: p, domain: sales}\nspec:\n  outputPorts:\n"
           "    - {name: sql, type: sql, catalog: lake, schema: s, tables: [{name: t}]}\n"},
      });
  std::string log = dir + "/decisions.jsonl";
  ArbiterdOptions o;
  o.bundle_dir = bundle;
  o.config_yaml = absl::StrCat("bundle:\n  watch: false\ndecision_log:\n  path: ", log, "\n");
  auto server = StartOrDie(o);
  ASSERT_NE(server, nullptr);
  {
    client::Client c(server->grpc_target());
    for (const char* domain : {"sales", "marketing"}) {
      SCOPED_TRACE(domain);
      auto d = c.CheckAccess(DomainAccess("ana", domain));
      ASSERT_TRUE(d.ok()) << d.status();
      EXPECT_EQ(d->effect(), v1::EFFECT_DENY);
      for (const auto& r : d->reasons()) {
        EXPECT_TRUE(ValidUtf8(r.message())) << r.policy_id() << ": " << r.message();
        EXPECT_TRUE(ValidUtf8(r.detail())) << r.policy_id() << ": " << r.detail();
      }
    }
  }
  std::string trino =
      R"({"input":{"context":{"identity":{"user":"ana","groups":[]}},"action":{"operation":)"
      R"("SelectFromColumns","resource":{"table":{"catalogName":"lake","schemaName":"s",)"
      R"("tableName":"t","columns":["x"]}}}}})";
  auto h = testing::HttpRequest(server->http_port(), "POST", "/v1/data/trino/allow", trino);
  EXPECT_EQ(h.status, 200) << h.body;
  EXPECT_FALSE(nlohmann::json::parse(h.body, nullptr, false).is_discarded()) << h.body;
  EXPECT_EQ(server->Stop(SIGTERM), 0);
  std::vector<std::string> lines = Lines(Read(log));
  EXPECT_EQ(lines.size(), 3u);
  for (const std::string& line : lines) {
    EXPECT_TRUE(ValidUtf8(line)) << line;
    EXPECT_FALSE(nlohmann::json::parse(line, nullptr, false).is_discarded()) << line;
  }
  std::filesystem::remove_all(dir);
}

TEST_F(AbusiveClientTest, InvalidUtf8InTrinoJsonGetsAUtf8ErrorBody) {
  ASSERT_NE(server_, nullptr);
  std::string body = "{\"input\":{\"context\":{\"identity\":{\"user\":\"an\xff\xfe\"}}}}";
  auto r = testing::HttpRequest(server_->http_port(), "POST", "/v1/data/trino/allow", body);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_TRUE(ValidUtf8(r.body)) << r.body;
  EXPECT_FALSE(nlohmann::json::parse(r.body, nullptr, false).is_discarded()) << r.body;
}

int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Bytes that are not a protobuf message at all reach the decision handlers (DecisionService's,
// Envoy's Check) as the caller's error (INVALID_ARGUMENT naming the message), not gRPC's
// UNIMPLEMENTED or INTERNAL.
TEST_F(AbusiveClientTest, UndecodableRequestIsInvalidArgument) {
  ASSERT_NE(server_, nullptr);
  auto channel = grpc::CreateChannel(server_->grpc_target(), grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  // Field 1, length-delimited, with a length far past the end of the message.
  const std::string garbage(
      "\x0a\xff\xff\xff\x0f"
      "abc",
      8);
  // Each decision method, and the message type its error must name.
  const std::pair<const char*, const char*> methods[] = {
      {"/arbiter.v1.DecisionService/CheckAccess", "arbiter.v1.AccessRequest"},
      {"/arbiter.v1.DecisionService/CheckProduct", "arbiter.v1.ProductRequest"},
      {"/arbiter.v1.DecisionService/CheckDeployment", "arbiter.v1.DeploymentRequest"},
      {"/arbiter.v1.DecisionService/CheckBatch", "arbiter.v1.CheckBatchRequest"},
      {"/envoy.service.auth.v3.Authorization/Check", "envoy.service.auth.v3.CheckRequest"},
  };
  for (const auto& [method, message] : methods) {
    SCOPED_TRACE(method);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Slice slice(garbage);
    grpc::ByteBuffer request(&slice, 1), response;
    auto call = stub.PrepareUnaryCall(&ctx, method, request, &cq);
    call->StartCall();
    grpc::Status status;
    call->Finish(&response, &status, reinterpret_cast<void*>(1));
    void* tag = nullptr;
    bool ok = false;
    ASSERT_TRUE(cq.Next(&tag, &ok));
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
    EXPECT_TRUE(absl::StrContains(status.error_message(), message)) << status.error_message();
  }
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }
}

TEST_F(AbusiveClientTest, TwoHundredIdleConnectionsDoNotStopANormalClient) {
  ASSERT_NE(server_, nullptr);
  std::vector<int> fds;
  for (int i = 0; i < 200; ++i) {
    for (int port : {server_->grpc_port(), server_->http_port()}) {
      int fd = Connect(port);
      ASSERT_GE(fd, 0) << "connection " << i << " to port " << port << " refused";
      fds.push_back(fd);
    }
  }
  // Some of them start a request and stall half-way (slowloris).
  for (size_t i = 0; i < fds.size(); i += 10) {
    const char* partial = i % 20 == 0 ? "PRI * HTTP/2.0\r\n" : "GET /metrics HTTP/1.1\r\nHo";
    (void)!send(fds[i], partial, std::strlen(partial), MSG_NOSIGNAL);
  }
  auto start = Clock::now();
  client::Client fresh(server_->grpc_target(), WithTimeout(absl::Seconds(5)));
  auto d = fresh.CheckAccess(AnaReads());
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->effect(), v1::EFFECT_ALLOW);
  // The normal HTTP client is another address: the side port limits connections per client
  // address (http.per_client_connection_limit, 64), so the idle ones' own address is refused.
  auto h = testing::HttpRequest(server_->http_port(), "GET", "/healthz", "", "application/json",
                                "127.0.0.2");
  EXPECT_EQ(h.status, 200);
  auto m = testing::HttpRequest(server_->http_port(), "GET", "/metrics", "", "application/json",
                                "127.0.0.2");
  EXPECT_EQ(m.status, 200);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
  for (int fd : fds) close(fd);
}

}  // namespace
}  // namespace arbiter
