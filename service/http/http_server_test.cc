#include "service/http/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace arbiter {
namespace {

// A minimal HTTP/1.1 client over a raw socket, so that the tests see exactly what goes over the
// wire (persistent connections included).
class RawClient {
 public:
  struct Response {
    int status = 0;
    std::map<std::string, std::string> headers;  // lower-cased names
    std::string body;
  };

  // `source`: the local IPv4 address to connect from (any of 127/8 reaches loopback), so that a
  // test can be two clients at once.
  explicit RawClient(int port, int family = AF_INET, const char* source = nullptr) {
    fd_ = ::socket(family, SOCK_STREAM, 0);
    if (source != nullptr) {
      sockaddr_in local{};
      local.sin_family = AF_INET;
      ::inet_pton(AF_INET, source, &local.sin_addr);
      EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof(local)), 0)
          << std::strerror(errno);
    }
    // A guard against a hung test, not a timing assertion: a broken server fails instead of
    // blocking ctest forever.
    timeval tv{30, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int rc;
    if (family == AF_INET6) {
      sockaddr_in6 addr{};
      addr.sin6_family = AF_INET6;
      addr.sin6_port = htons(port);
      addr.sin6_addr = in6addr_loopback;
      rc = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    } else {
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(port);
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      rc = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    }
    EXPECT_EQ(rc, 0) << "connect: " << std::strerror(errno);
  }
  ~RawClient() { ::close(fd_); }

  void Send(const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      ASSERT_GT(n, 0) << std::strerror(errno);
      done += static_cast<size_t>(n);
    }
  }

  // Reads one response (status line, headers, Content-Length body). status stays 0 when the
  // server closed the connection first.
  Response Read(bool expect_body = true) {
    Response r;
    size_t header_end;
    while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return r;
    }
    const std::vector<std::string> lines = absl::StrSplit(buffer_.substr(0, header_end), "\r\n");
    buffer_.erase(0, header_end + 4);
    const std::vector<std::string> status_line = absl::StrSplit(lines[0], ' ');
    EXPECT_EQ(status_line[0], "HTTP/1.1");
    EXPECT_TRUE(absl::SimpleAtoi(status_line[1], &r.status)) << lines[0];
    for (size_t i = 1; i < lines.size(); ++i) {
      const size_t colon = lines[i].find(':');
      r.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
          std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
    }
    if (!expect_body) return r;
    size_t length = 0;
    EXPECT_TRUE(absl::SimpleAtoi(r.headers["content-length"], &length));
    while (buffer_.size() < length) {
      if (!Fill()) break;
    }
    r.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return r;
  }

  // Sends without asserting; false once the server has closed the connection.
  bool TrySend(const std::string& data) {
    return ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
  }

  // True when the server closed the connection (reads end of stream or a reset).
  bool ServerClosed() {
    while (Fill()) {
    }
    return closed_;
  }

  // Sends a request and reads the response.
  Response Request(const std::string& method, const std::string& target,
                   const std::string& body = "", const std::string& extra_headers = "") {
    std::string request =
        absl::StrCat(method, " ", target, " HTTP/1.1\r\nHost: test\r\n", extra_headers);
    if (!body.empty() || method == "POST") {
      absl::StrAppend(&request, "Content-Length: ", body.size(), "\r\n");
    }
    absl::StrAppend(&request, "\r\n", body);
    Send(request);
    return Read();
  }

 private:
  bool Fill() {
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) {
      closed_ = n == 0 || errno == ECONNRESET;
      return false;
    }
    buffer_.append(buf, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string buffer_;
  bool closed_ = false;
};

HttpResponse Echo(const HttpRequest& req) {
  HttpResponse r;
  r.content_type = "application/json";
  r.body = absl::StrCat(req.method, "|", req.path, "|", req.query, "|", req.body, "|",
                        req.Header("x-caller"));
  r.headers.push_back({"X-Echo", "yes"});
  return r;
}

class HttpServerTest : public testing::Test {
 protected:
  void SetUp() override {
    server_.Handle("GET", "/echo", Echo);
    server_.Handle("POST", "/echo", Echo);
    server_.Handle("GET", "/health", [](const HttpRequest&) {
      return HttpResponse{200, "text/plain; charset=utf-8", "ok\n", {}};
    });
    server_.HandlePrefix("POST", "/v1/data/", Echo);
    server_.HandlePrefix("GET", "/v1/data/special/", Echo);
    server_.Handle("GET", "/throw", [](const HttpRequest&) -> HttpResponse {
      throw std::runtime_error("secret internals");
    });
    HttpServerOptions options;
    options.max_body_bytes = 64;
    options.threads = 2;
    ASSERT_TRUE(server_.Start(options).ok());
    ASSERT_GT(server_.port(), 0);
  }

  HttpServer server_;
};

TEST_F(HttpServerTest, GetPassesPathQueryAndHeaders) {
  RawClient client(server_.port());
  RawClient::Response r = client.Request("GET", "/echo?a=1&b=x%20y", "", "X-Caller: trino\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "application/json");
  EXPECT_EQ(r.headers["x-echo"], "yes");
  EXPECT_EQ(r.body, "GET|/echo|a=1&b=x%20y||trino");
}

TEST_F(HttpServerTest, PostPassesBody) {
  RawClient client(server_.port());
  const RawClient::Response r = client.Request("POST", "/echo", R"({"input":{}})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"(POST|/echo||{"input":{}}|)");
}

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  RawClient client(server_.port());
  const RawClient::Response first = client.Request("POST", "/v1/data/trino/allow", "one");
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.body, "POST|/v1/data/trino/allow||one|");
  const RawClient::Response second = client.Request("GET", "/health");
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(second.body, "ok\n");
  // Error answers keep the connection too.
  EXPECT_EQ(client.Request("GET", "/nope").status, 404);
  EXPECT_EQ(client.Request("POST", "/health", "ignored body").status, 405);
  EXPECT_EQ(client.Request("GET", "/health").status, 200);
}

TEST_F(HttpServerTest, UnknownPathIs404) {
  RawClient client(server_.port());
  EXPECT_EQ(client.Request("GET", "/metrics").status, 404);
  EXPECT_EQ(client.Request("GET", "/v1/dat").status, 404);
}

TEST_F(HttpServerTest, WrongMethodIs405WithAllow) {
  RawClient client(server_.port());
  RawClient::Response r = client.Request("DELETE", "/echo");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.headers["allow"], "GET, HEAD, POST");
  r = client.Request("GET", "/v1/data/trino/allow");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.headers["allow"], "POST");
  // The longest matching prefix decides.
  r = client.Request("GET", "/v1/data/special/x");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(client.Request("POST", "/v1/data/special/x", "b").status, 405);
}

TEST_F(HttpServerTest, HeadUsesGetWithoutBody) {
  RawClient client(server_.port());
  client.Send("HEAD /health HTTP/1.1\r\nHost: test\r\n\r\n");
  const RawClient::Response head = client.Read(/*expect_body=*/false);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.headers.at("content-length"), "3");
  // Had the HEAD answer carried a body, it would be misread as the start of this response.
  const RawClient::Response get = client.Request("GET", "/health");
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, "ok\n");
}

TEST_F(HttpServerTest, DeclaredBodyOverLimitIs413WithoutReadingIt) {
  RawClient client(server_.port());
  // Only the headers are sent: if the server waited for the body this would hang (and fail on
  // the receive guard) instead of answering.
  client.Send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 65\r\n\r\n");
  const RawClient::Response r = client.Read();
  EXPECT_EQ(r.status, 413);
  EXPECT_TRUE(client.ServerClosed());
}

TEST_F(HttpServerTest, BodyAtLimitIsAccepted) {
  RawClient client(server_.port());
  const std::string body(64, 'x');
  const RawClient::Response r = client.Request("POST", "/echo", body);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, absl::StrCat("POST|/echo||", body, "|"));
}

TEST_F(HttpServerTest, ChunkedBodyOverLimitClosesConnection) {
  RawClient client(server_.port());
  client.Send(
      absl::StrCat("POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n",
                   "50\r\n", std::string(80, 'x'), "\r\n0\r\n\r\n"));
  const RawClient::Response r = client.Read();
  EXPECT_EQ(r.status, 0) << "no answer is possible before the chunked body ends";
  EXPECT_TRUE(client.ServerClosed());
}

TEST_F(HttpServerTest, ThrowingHandlerIs500) {
  RawClient client(server_.port());
  const RawClient::Response r = client.Request("GET", "/throw");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body.find("secret"), std::string::npos);
  EXPECT_EQ(client.Request("GET", "/health").status, 200);
}

TEST_F(HttpServerTest, ConcurrentClients) {
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      RawClient client(server_.port());
      for (int i = 0; i < 20; ++i) {
        const std::string body = absl::StrCat(t, "-", i);
        const RawClient::Response r = client.Request("POST", "/echo", body);
        if (r.status == 200 && r.body == absl::StrCat("POST|/echo||", body, "|")) ++ok;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), 80);
}

TEST(HttpServerLifecycleTest, StopIsIdempotentAndStartTwiceFails) {
  HttpServer server;
  server.Handle("GET", "/", [](const HttpRequest&) { return HttpResponse{}; });
  ASSERT_TRUE(server.Start(HttpServerOptions()).ok());
  EXPECT_EQ(server.Start(HttpServerOptions()).code(), absl::StatusCode::kFailedPrecondition);
  server.Stop();
  EXPECT_EQ(server.port(), 0);
  server.Stop();
}

TEST(HttpServerLifecycleTest, PortInUseIsUnavailable) {
  HttpServer first;
  ASSERT_TRUE(first.Start(HttpServerOptions()).ok());
  HttpServerOptions options;
  options.port = first.port();
  HttpServer second;
  const absl::Status s = second.Start(options);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find(absl::StrCat(":", first.port())), std::string::npos) << s;
}

TEST(HttpServerLifecycleTest, ServesIpv6Loopback) {
  HttpServer server;
  server.Handle("GET", "/health", [](const HttpRequest&) {
    return HttpResponse{200, "text/plain", "v6", {}};
  });
  HttpServerOptions options;
  options.host = "[::1]";
  if (!server.Start(options).ok()) GTEST_SKIP() << "no IPv6 loopback here";
  RawClient client(server.port(), AF_INET6);
  const RawClient::Response r = client.Request("GET", "/health");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "v6");
}

// A worker route that blocks requests from 127.0.0.1 until released and answers others at once,
// plus an inline health route: the shape of a slow decision next to health checks.
class HttpAbuseTest : public testing::Test {
 protected:
  void StartWith(HttpServerOptions options) {
    server_.Handle("GET", "/slow", [this](const HttpRequest& req) {
      if (req.remote_address == "127.0.0.1") {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return released_; });
      }
      return HttpResponse{200, "text/plain", req.remote_address, {}};
    });
    server_.Handle(
        "GET", "/healthz",
        [](const HttpRequest&) {
          return HttpResponse{200, "text/plain", "ok\n", {}};
        },
        HttpRouteKind::kInline);
    server_.Handle(
        "GET", "/quick",
        [](const HttpRequest&) {
          return HttpResponse{200, "text/plain", "quick", {}};
        },
        HttpRouteKind::kWorkerOrInline);
    ASSERT_TRUE(server_.Start(options).ok());
  }
  void Release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
  }
  // Waits (without sleeping a fixed time) until the gate shows `running` and `queued`.
  void AwaitGate(int running, int queued) {
    // A bound against a hung test only; the loop normally ends within milliseconds.
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    HttpServer::Stats s;
    while (std::chrono::steady_clock::now() < end) {
      s = server_.stats();
      if (s.running == running && s.queued == queued) return;
      std::this_thread::yield();
    }
    FAIL() << "gate never reached running=" << running << " queued=" << queued
           << " (running=" << s.running << " queued=" << s.queued << ")";
  }
  void TearDown() override {
    Release();
    for (std::thread& t : threads_) t.join();
    server_.Stop();
  }
  // Sends GET /slow from a background client; its status lands in statuses_.
  void SlowRequest(const char* source) {
    threads_.emplace_back([this, source] {
      RawClient client(server_.port(), AF_INET, source);
      const int status = client.Request("GET", "/slow").status;
      std::lock_guard<std::mutex> lock(mu_);
      statuses_.push_back(status);
    });
  }

  HttpServer server_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
  std::vector<int> statuses_;
  std::vector<std::thread> threads_;
};

TEST_F(HttpAbuseTest, HealthIsAnsweredAndOverflowRefusedAtOnceWhileEveryWorkerIsBusy) {
  HttpServerOptions options;
  options.worker_threads = 2;
  options.max_running_per_client = 2;
  options.max_queued = 1;
  StartWith(options);
  SlowRequest(nullptr);
  SlowRequest(nullptr);
  AwaitGate(2, 0);
  SlowRequest(nullptr);
  AwaitGate(2, 1);
  RawClient client(server_.port());
  EXPECT_EQ(client.Request("GET", "/healthz").status, 200);
  RawClient::Response busy = client.Request("GET", "/slow");
  EXPECT_EQ(busy.status, 503);
  EXPECT_NE(busy.body.find("http.max_queued"), std::string::npos) << busy.body;
  EXPECT_EQ(busy.headers["retry-after"], "1");
  EXPECT_EQ(server_.stats().rejected_busy, 1u);
  Release();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  EXPECT_EQ(statuses_, (std::vector<int>{200, 200, 200}));
}

TEST_F(HttpAbuseTest, OneClientCannotHoldEveryWorker) {
  HttpServerOptions options;
  options.worker_threads = 2;  // so one client may run 1 at a time
  options.max_queued_per_client = 1;
  StartWith(options);
  SlowRequest(nullptr);
  AwaitGate(1, 0);
  SlowRequest(nullptr);  // waits: its client already runs its share
  AwaitGate(1, 1);
  RawClient attacker(server_.port());
  const RawClient::Response refused = attacker.Request("GET", "/slow");
  EXPECT_EQ(refused.status, 429);
  EXPECT_NE(refused.body.find("http.max_queued_per_client"), std::string::npos) << refused.body;
  // Another client still gets the free worker, ahead of the queued request.
  RawClient bystander(server_.port(), AF_INET, "127.0.0.2");
  const RawClient::Response r = bystander.Request("GET", "/slow");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "127.0.0.2");
}

// kWorkerOrInline: the gate refuses and queues such requests like any worker request once the
// pool is busy; they never jump the queue by running on the I/O thread.
TEST_F(HttpAbuseTest, WorkerOrInlineRequestsAreRefusedWhenThePoolIsFull) {
  HttpServerOptions options;
  options.worker_threads = 2;
  options.max_running_per_client = 2;
  options.max_queued = 1;
  StartWith(options);
  SlowRequest(nullptr);
  SlowRequest(nullptr);
  AwaitGate(2, 0);
  RawClient other(server_.port(), AF_INET, "127.0.0.2");
  SlowRequest(nullptr);
  AwaitGate(2, 1);
  const RawClient::Response busy = other.Request("GET", "/quick");
  EXPECT_EQ(busy.status, 503);
  EXPECT_EQ(server_.stats().rejected_busy, 1u);
  Release();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  EXPECT_EQ(other.Request("GET", "/quick").body, "quick");  // idle again: answered
}

TEST_F(HttpAbuseTest, WorkerOrInlineRequestsWaitForTheClientsShare) {
  HttpServerOptions options;
  options.worker_threads = 2;
  options.max_running_per_client = 1;
  StartWith(options);
  SlowRequest(nullptr);
  AwaitGate(1, 0);
  // 127.0.0.1 runs its one allowed request: its quick one waits in the queue for it, although
  // a worker and the I/O thread are free.
  std::atomic<int> quick_status{0};
  std::thread quick([&] {
    RawClient client(server_.port());
    quick_status = client.Request("GET", "/quick").status;
  });
  AwaitGate(1, 1);
  EXPECT_EQ(quick_status.load(), 0);
  Release();
  quick.join();
  EXPECT_EQ(quick_status.load(), 200);
}

// Where each request of a kWorkerOrInline route ran: the I/O thread (one here) or a worker.
class WorkerOrInlineTest : public testing::Test {
 protected:
  void Start(HttpServerOptions options) {
    options.threads = 1;
    options.worker_threads = 2;
    server_.Handle(
        "GET", "/io", [this](const HttpRequest&) { return Here(); }, HttpRouteKind::kInline);
    server_.Handle(
        "POST", "/check",
        [this](const HttpRequest& req) {
          // A slow policy, for the pause after a slow inline run.
          if (req.body == "slow") std::this_thread::sleep_for(std::chrono::milliseconds(30));
          return Here();
        },
        HttpRouteKind::kWorkerOrInline);
    ASSERT_TRUE(server_.Start(options).ok());
    RawClient client(server_.port());
    io_thread_ = client.Request("GET", "/io").body;
  }
  // The answering thread's id as the body.
  static HttpResponse Here() {
    return HttpResponse{200,
                        "text/plain",
                        absl::StrCat(std::hash<std::thread::id>()(std::this_thread::get_id())),
                        {}};
  }
  std::string RunsOn(const std::string& body) {
    RawClient client(server_.port());
    RawClient::Response r = client.Request("POST", "/check", body);
    EXPECT_EQ(r.status, 200);
    return r.body;
  }
  HttpServer server_;
  std::string io_thread_;
};

// A run counts as slow past inline_slow_ms of wall time: a loaded machine may preempt even a
// trivial handler for a few ms, so tests that expect no pause set it far above that.
constexpr int kNeverSlowMs = 600000;

TEST_F(WorkerOrInlineTest, RunsOnTheIoThreadWhileThePoolIsIdle) {
  HttpServerOptions options;
  options.inline_slow_ms = kNeverSlowMs;
  Start(options);
  EXPECT_EQ(RunsOn("{}"), io_thread_);
  EXPECT_EQ(RunsOn("{}"), io_thread_);
  EXPECT_EQ(server_.stats().running, 0);
}

TEST_F(WorkerOrInlineTest, LargeBodiesGoToTheWorkers) {
  HttpServerOptions options;
  options.inline_max_body_bytes = 16;
  options.inline_slow_ms = kNeverSlowMs;
  Start(options);
  EXPECT_EQ(RunsOn(std::string(16, 'x')), io_thread_);
  EXPECT_NE(RunsOn(std::string(17, 'x')), io_thread_);
}

TEST_F(WorkerOrInlineTest, ASlowInlineRunSendsLaterRequestsToTheWorkers) {
  HttpServerOptions options;
  options.inline_slow_ms = 10;
  options.inline_pause_ms = 600000;  // longer than the test: the pause cannot end within it
  Start(options);
  EXPECT_EQ(RunsOn("slow"), io_thread_);  // found slow only once it ran
  EXPECT_NE(RunsOn("{}"), io_thread_);
  EXPECT_NE(RunsOn("{}"), io_thread_);
}

TEST_F(WorkerOrInlineTest, ThePauseEnds) {
  HttpServerOptions options;
  options.inline_slow_ms = 10;
  options.inline_pause_ms = 0;
  Start(options);
  EXPECT_EQ(RunsOn("slow"), io_thread_);
  EXPECT_EQ(RunsOn("{}"), io_thread_);
}

TEST(HttpDeadlineTest, PerClientConnectionLimitLeavesOtherClientsServed) {
  HttpServer server;
  server.Handle(
      "GET", "/healthz",
      [](const HttpRequest&) {
        return HttpResponse{200, "text/plain", "ok\n", {}};
      },
      HttpRouteKind::kInline);
  HttpServerOptions options;
  options.per_client_connection_limit = 2;
  ASSERT_TRUE(server.Start(options).ok());
  RawClient a(server.port()), b(server.port());
  EXPECT_EQ(a.Request("GET", "/healthz").status, 200);
  EXPECT_EQ(b.Request("GET", "/healthz").status, 200);
  RawClient c(server.port());  // the third from 127.0.0.1: accepted by the kernel, then closed
  c.TrySend("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_TRUE(c.ServerClosed());
  RawClient other(server.port(), AF_INET, "127.0.0.2");
  EXPECT_EQ(other.Request("GET", "/healthz").status, 200);
}

// Sends one byte every 20 ms until the server closes the connection or 10 s pass; true when
// the server closed it. The deadlines in these tests are far shorter than 10 s: a trickle that
// reset them would keep the connection open to the end.
bool TrickleUntilClosed(RawClient& client, const std::string& head, char byte) {
  if (!client.TrySend(head)) return true;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < end) {
    if (!client.TrySend(std::string(1, byte))) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

TEST(HttpDeadlineTest, TrickledHeadersDoNotResetTheHeaderDeadline) {
  HttpServer server;
  server.Handle("GET", "/x", [](const HttpRequest&) { return HttpResponse{}; });
  HttpServerOptions options;
  options.header_timeout_ms = 300;
  ASSERT_TRUE(server.Start(options).ok());
  RawClient client(server.port());
  EXPECT_TRUE(TrickleUntilClosed(client, "GET /x HTTP/1.1\r\nX-Slow: ", 'a'));
  EXPECT_EQ(server.stats().closed_deadline, 1u);
  RawClient fresh(server.port());
  EXPECT_EQ(fresh.Request("GET", "/x").status, 200);
}

TEST(HttpDeadlineTest, TrickledBodyDoesNotResetTheBodyDeadline) {
  HttpServer server;
  server.Handle("POST", "/x", [](const HttpRequest&) { return HttpResponse{}; });
  HttpServerOptions options;
  options.body_timeout_ms = 300;
  ASSERT_TRUE(server.Start(options).ok());
  RawClient client(server.port());
  EXPECT_TRUE(TrickleUntilClosed(
      client, "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n", 'b'));
  EXPECT_EQ(server.stats().closed_deadline, 1u);
}

TEST(HttpServerOptionsTest, ValidateNamesEveryProblem) {
  HttpServerOptions options;
  options.host = "example.com";
  options.port = 70000;
  options.threads = 0;
  const absl::Status s = options.Validate();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  for (const char* field : {"host", "port", "threads"}) {
    EXPECT_NE(s.message().find(field), std::string::npos) << field << ": " << s;
  }
  EXPECT_TRUE(HttpServerOptions().Validate().ok());
  options = HttpServerOptions();
  options.host = "::";
  EXPECT_TRUE(options.Validate().ok());
}

}  // namespace
}  // namespace arbiter
