// Load client for arbiterd's Trino endpoint: HTTP/1.1 keep-alive over loopback, the request
// shapes of Trino's OPA access control. Two measurements:
//
//   trino_load --port P --mode filter-tables [--tables 1000] [--requests 200]
//       one connection, one FilterTables batch of N tables at a time (a mix of catalogued tables,
//       unlisted tables in a product's schema and tables of a catalog no product serves);
//       prints p50/p99/max latency per batch.
//   trino_load --port P --mode filter-columns [--columns 1000] [--requests 200]
//       the same with FilterColumns batches: one catalogued table with N columns (the answer
//       has one item per column).
//   trino_load --port P --mode select [--connections 4] [--seconds 5]
//       single SelectFromColumns checks on `connections` keep-alive connections; prints checks/s.
//
// Every answer must be a 200; anything else stops the run with a non-zero exit.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bench/trino_bodies.h"

namespace {

using arbiter::bench::FilterColumnsBody;
using arbiter::bench::FilterTablesBody;
using arbiter::bench::SelectBody;

// A blocking keep-alive HTTP/1.1 connection to 127.0.0.1:port.
class Connection {
 public:
  explicit Connection(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      std::perror("connect");
      std::exit(1);
    }
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~Connection() { close(fd_); }

  // POSTs `body` to `path`; returns the status and fills `response` with the body.
  int Post(const std::string& path, const std::string& body, std::string& response) {
    std::string req = "POST " + path +
                      " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      "Content-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + body;
    for (size_t off = 0; off < req.size();) {
      ssize_t n = write(fd_, req.data() + off, req.size() - off);
      if (n <= 0) return -1;
      off += static_cast<size_t>(n);
    }
    size_t header_end;
    while ((header_end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return -1;
    }
    int status = std::atoi(buf_.c_str() + 9);
    size_t length = 0;
    for (const char* key : {"Content-Length: ", "content-length: "}) {
      size_t at = buf_.find(key);
      if (at != std::string::npos && at < header_end)
        length = std::strtoul(buf_.c_str() + at + 16, nullptr, 10);
    }
    size_t total = header_end + 4 + length;
    while (buf_.size() < total) {
      if (!Fill()) return -1;
    }
    response.assign(buf_, header_end + 4, length);
    buf_.erase(0, total);
    return status;
  }

 private:
  bool Fill() {
    char chunk[65536];
    ssize_t n = read(fd_, chunk, sizeof(chunk));
    if (n <= 0) return false;
    buf_.append(chunk, static_cast<size_t>(n));
    return true;
  }
  int fd_;
  std::string buf_;
};

const char* Arg(int argc, char** argv, const char* name, const char* fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  int port = std::atoi(Arg(argc, argv, "--port", "0"));
  std::string mode = Arg(argc, argv, "--mode", "select");
  std::string prefix = Arg(argc, argv, "--prefix", "/v1/data/trino");
  if (port == 0) {
    std::fprintf(stderr,
                 "usage: trino_load --port P --mode filter-tables|filter-columns|select [...]\n");
    return 2;
  }
  using Clock = std::chrono::steady_clock;
  if (mode == "filter-tables" || mode == "filter-columns") {
    const bool columns = mode == "filter-columns";
    int tables = std::atoi(columns ? Arg(argc, argv, "--columns", "1000")
                                   : Arg(argc, argv, "--tables", "1000"));
    int requests = std::atoi(Arg(argc, argv, "--requests", "200"));
    std::string body = columns ? FilterColumnsBody(tables) : FilterTablesBody(tables);
    Connection c(port);
    std::string response;
    std::vector<double> ms;
    for (int i = 0; i < requests + 10; ++i) {
      auto start = Clock::now();
      int status = c.Post(prefix + "/batch", body, response);
      double elapsed = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      if (status != 200) {
        std::fprintf(stderr, "status %d: %s\n", status, response.c_str());
        return 1;
      }
      if (i >= 10) ms.push_back(elapsed);  // the first requests warm the server's Lua states
    }
    if (ms.empty()) return 0;  // --requests 0: warm-up only
    std::sort(ms.begin(), ms.end());
    size_t allowed = std::count(response.begin(), response.end(), ',') + 1;
    std::printf(
        "%s x%d %s (%zu allowed), %d requests, body %zu bytes: "
        "p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
        columns ? "FilterColumns" : "FilterTables", tables, columns ? "columns" : "tables", allowed,
        requests, body.size(), ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 99 / 100)],
        ms.back());
    return 0;
  }
  int connections = std::atoi(Arg(argc, argv, "--connections", "4"));
  double seconds = std::atof(Arg(argc, argv, "--seconds", "5"));
  std::string body = SelectBody();
  std::atomic<long> done{0};
  std::atomic<bool> failed{false};
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(seconds));
  std::vector<std::thread> threads;
  for (int t = 0; t < connections; ++t) {
    threads.emplace_back([&] {
      Connection c(port);
      std::string response;
      long n = 0;
      while (Clock::now() < deadline && !failed.load()) {
        if (c.Post(prefix + "/allow", body, response) != 200 || response != R"({"result":true})") {
          std::fprintf(stderr, "unexpected answer: %s\n", response.c_str());
          failed = true;
          break;
        }
        ++n;
      }
      done += n;
    });
  }
  for (auto& t : threads) t.join();
  if (failed) return 1;
  std::printf(
      "SelectFromColumns single checks: %d keep-alive connections, %.1f s: %ld checks, "
      "%.0f checks/s\n",
      connections, seconds, done.load(), done.load() / seconds);
  return 0;
}
