// libFuzzer target for the HTTP side port's request handling: the fuzzer's bytes are written,
// as they are, to a real HttpServer (service/http, libmicrohttpd underneath) listening on
// loopback, exactly as a hostile client would send them: request lines, headers, chunked and
// sized bodies, pipelined requests, truncated ones. Routes mirror the side port's kinds: an
// inline health route, worker routes behind the concurrency gate (one running the Trino
// translation on the body), a prefix route, and an authorizer that refuses before the body.
//
// Invariants, beyond "no crash, no sanitizer report":
//   - a request that gets no answer has its connection closed by the server within the header/
//     body deadlines (a partial request can never pin a connection open): a hang is a finding;
//   - whatever it answers starts with an HTTP/1.x status line with a status of 100..599;
//   - a handler sees a method, a path starting with '/', and a body no larger than the limit;
//   - the Trino translation of any body is a plan or INVALID_ARGUMENT;
//   - every 256 inputs, /healthz from a fresh connection still answers 200 (nothing is wedged).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "service/http/http_server.h"
#include "service/trino/translate.h"
#include "service/value/parse.h"

namespace {

constexpr size_t kMaxBody = 16 << 10;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "invariant violated: %s\n", what.c_str());
  std::abort();
}

void CheckRequest(const arbiter::HttpRequest& req) {
  if (req.method.empty()) Fail("empty method reached a handler");
  if (req.path.empty() || req.path[0] != '/') Fail("path without a leading slash: " + req.path);
  if (req.body.size() > kMaxBody) Fail("body over the limit reached a handler");
}

arbiter::HttpResponse Trino(const arbiter::HttpRequest& req) {
  CheckRequest(req);
  static const auto* identities = new arbiter::trino::IdentityMapper({{"analysts", "sales"}});
  static const auto* products = new arbiter::trino::ProductLocator();
  arbiter::ParseLimits limits;
  limits.max_bytes = kMaxBody;
  limits.max_depth = 16;
  limits.max_nodes = 5000;
  auto plan = arbiter::trino::Translate(arbiter::trino::Endpoint::kBatch, req.body, *identities,
                                        *products, limits);
  if (!plan.ok() && plan.status().code() != absl::StatusCode::kInvalidArgument) {
    Fail("translation status " + plan.status().ToString());
  }
  return {plan.ok() ? 200 : 400, "application/json", plan.ok() ? "{\"result\":[]}" : "{}", {}};
}

arbiter::HttpServer& Server() {
  static arbiter::HttpServer* server = [] {
    auto* s = new arbiter::HttpServer();
    s->Handle(
        "GET", "/healthz", [](const arbiter::HttpRequest&) { return arbiter::HttpResponse{}; },
        arbiter::HttpRouteKind::kInline);
    s->Handle("POST", "/v1/data/trino/batch", Trino);
    s->Handle("POST", "/access/v1/evaluation", [](const arbiter::HttpRequest& req) {
      CheckRequest(req);
      return arbiter::HttpResponse{200, "application/json", std::to_string(req.body.size()), {}};
    });
    s->HandlePrefix("GET", "/v1/", [](const arbiter::HttpRequest& req) {
      CheckRequest(req);
      return arbiter::HttpResponse{200, "text/plain", req.Header("x-echo"), {{"X-Q", "1"}}};
    });
    s->SetAuthorizer([](arbiter::HttpRequest& req) -> std::optional<arbiter::HttpResponse> {
      if (!req.Header("x-refuse").empty()) {
        return arbiter::HttpResponse{403, "application/json", "{\"code\":\"forbidden\"}", {}};
      }
      req.caller_identity = "anonymous";
      return std::nullopt;
    });
    arbiter::HttpServerOptions options;
    options.host = "127.0.0.1";
    options.max_body_bytes = kMaxBody;
    options.threads = 2;
    options.worker_threads = 2;
    options.max_queued = 8;
    options.connection_timeout_seconds = 1;
    options.header_timeout_ms = 50;
    options.body_timeout_ms = 50;
    options.per_client_connection_limit = 0;
    absl::Status started = s->Start(options);
    if (!started.ok()) Fail("server did not start: " + started.ToString());
    return s;
  }();
  return *server;
}

// Sends `bytes` on a fresh connection, half-closes it and reads until the server closes.
std::string Exchange(absl::string_view bytes) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) Fail("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(Server().port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    Fail(std::string("connect: ") + std::strerror(errno));
  }
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may close early (413, refused): that is an answer too
    sent += static_cast<size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  std::string answer;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  char buf[4096];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) {
      ::close(fd);
      Fail("no answer, and the connection still open after 3 s");
    }
    // Once something was answered, 5 ms of silence ends the exchange: libmicrohttpd keeps a
    // kept-alive connection whose FIN arrived with the request until its idle timeout (the
    // per-client connection limit bounds that), and waiting it out would make every run last
    // seconds. Without an answer, the server must close by itself (the deadlines above).
    pollfd p{fd, POLLIN, 0};
    int ready = ::poll(&p, 1, answer.empty() ? static_cast<int>(left) : 5);
    if (ready == 0 && !answer.empty()) break;
    if (ready <= 0) continue;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;  // EOF or reset
    if (answer.size() < (1 << 20)) answer.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return answer;
}

void CheckAnswer(const std::string& answer) {
  if (answer.empty()) return;  // closed without answering (garbage, limits): allowed
  if (!absl::StartsWith(answer, "HTTP/1.1 ") && !absl::StartsWith(answer, "HTTP/1.0 ")) {
    Fail("answer without a status line: " + answer.substr(0, 64));
  }
  if (answer.size() < 12) Fail("truncated status line");
  int status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (answer[i] < '0' || answer[i] > '9') Fail("status is not a number: " + answer.substr(0, 64));
    status = status * 10 + (answer[i] - '0');
  }
  if (status < 100 || status > 599) Fail("status out of range: " + std::to_string(status));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static uint64_t runs = 0;
  CheckAnswer(Exchange(absl::string_view(reinterpret_cast<const char*>(data), size)));
  if (++runs % 256 == 0) {
    std::string health = Exchange("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    if (!absl::StartsWith(health, "HTTP/1.1 200")) Fail("/healthz stopped answering: " + health);
  }
  return 0;
}
