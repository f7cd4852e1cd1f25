// A small embedded HTTP/1.1 server for the side port: /metrics, health endpoints, and the
// OPA-compatible JSON API that query engines (Trino) already speak.
//
// Built on libmicrohttpd with its internal thread pool and epoll; HTTP/1.1 persistent connections
// (keep-alive) work as clients expect, since the OPA/Trino clients reuse connections. Routing is
// deliberately tiny: exact paths and path prefixes, per method, registered before Start.
//
//   HttpServer server;
//   server.Handle("GET", "/metrics", [&](const HttpRequest&) {
//     return HttpResponse{200, "text/plain; version=0.0.4", registry.Render()};
//   });
//   absl::Status started = server.Start(options);  // port 0 picks a free port: server.port()
//
// Errors the server answers itself: unknown path 404; known path but another method 405 with an
// Allow header; a declared Content-Length over max_body_bytes 413 at once, before the body is
// read (the connection is then closed); a handler that throws 500. A chunked body that grows past
// max_body_bytes has its connection closed, since HTTP/1.1 offers no way to answer early there.
//
// Abusive clients (issue 11). The I/O threads read, parse and write; handlers of worker routes
// (the default) run on a separate worker pool, so cheap inline routes (health, metrics) are
// answered even while every worker is busy with slow decisions (kWorkerOrInline routes run a
// request on the I/O thread only while the pool is idle and their runs are fast). In front of the
// pool is a gate: when max_queued requests already wait, a new one is answered 503 at once; when
// one client (by IP address) already has max_queued_per_client waiting, 429 at once; and at most
// max_running_per_client of one client's requests run at the same time, so that one client can
// never hold every worker. Each client address may hold per_client_connection_limit
// connections. A connection must deliver its request line within connection_timeout_seconds of
// opening (or of its previous response), its headers within header_timeout_ms after that, its
// body within body_timeout_ms after that, and must read its response within body_timeout_ms:
// these are absolute deadlines that a trickle of bytes does not reset. Past one, the connection
// is closed.
//
// This module knows nothing of policies or gRPC.
#ifndef ARBITER_SERVICE_HTTP_HTTP_SERVER_H_
#define ARBITER_SERVICE_HTTP_HTTP_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "service/tls/tls_files.h"

struct MHD_Daemon;

namespace arbiter {

// One request, as handed to a handler. The handler gets a const reference valid for the call.
struct HttpRequest {
  std::string method;  // as sent: "GET", "POST", ...
  std::string path;    // percent-decoded, without the query: "/v1/data/trino/allow"
  std::string query;   // raw, still percent-encoded, without '?': "a=1&b=x%20y"; "" if none
  std::string body;    // the whole body (at most max_body_bytes)
  std::vector<std::pair<std::string, std::string>> headers;  // in the order received
  std::string
      remote_address;  // the client's IP address as text ("127.0.0.1", "::1"); "" if unknown
  // The client certificate the TLS handshake verified (HTTPS only; `present` false otherwise).
  tls::PeerCertificate peer;
  // Who the caller is, as the server's authorizer (HttpServer::SetAuthorizer) established it.
  std::string caller_identity;
  std::string caller_role;
  std::string caller_claimed;

  // The value of the first header named `name` (case-insensitive), or "" when absent.
  std::string Header(absl::string_view name) const;
};

// What a handler returns. Content-Length, Date and Connection are added by the server.
struct HttpResponse {
  int status = 200;  // 200..599; anything else becomes a 500
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers (Retry-After, ...)
};

// Handlers run on the server's pool threads, several at once: they must be thread-safe.
// An exception escaping a handler is caught at the boundary and answered with a 500.
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// Where a route's handler runs.
enum class HttpRouteKind {
  // On the worker pool, behind the concurrency gate: anything that may take time (decisions).
  kWorker,
  // On the I/O thread that read the request, never gated: only for handlers that answer in
  // microseconds and never block (health, readiness, metrics).
  kInline,
  // A kWorker route whose requests, when the pool could start them at once, run on the I/O
  // thread that read them instead: the hand-off to a worker and back (two thread wake-ups, about
  // a third of a small decision's server CPU) is skipped. Such a run takes a place in the gate
  // like a worker's (it counts in running, against worker_threads and the client's
  // max_running_per_client), so admission is unchanged: with the pool busy, queued, or the
  // client at its share, the request is queued or refused as for kWorker. Only bodies up to
  // inline_max_body_bytes run so (a single check, not a large batch); a run slower than
  // inline_slow_ms stops inline runs of every route for inline_pause_ms, so that slow policies
  // hold workers, not the I/O threads that other connections (and health checks) share.
  kWorkerOrInline,
};

// Runs before every routed request, once its headers (not its body) have arrived: returns a
// response to refuse the request with (its body is then never read), or nothing to let it
// through; it may fill the request's caller_* fields for the handler.
using HttpAuthorizer = std::function<std::optional<HttpResponse>(HttpRequest&)>;

// Configuration of an HttpServer.
struct HttpServerOptions {
  // An IPv4 or IPv6 address literal to bind ("0.0.0.0" or "::" for every interface; an IPv6
  // literal may be bracketed), or "localhost" (127.0.0.1). Names are not resolved.
  std::string host = "127.0.0.1";
  int port = 0;     // 0 = an ephemeral port; read it back with HttpServer::port()
  int threads = 2;  // I/O threads serving connections (and inline routes)
  size_t max_body_bytes = 4 << 20;
  unsigned connection_limit = 1024;          // concurrent connections; more are refused
  unsigned connection_timeout_seconds = 30;  // idle connections are closed after this; 0 = never
  // HTTPS only (TLS 1.2 or later) with these credentials, re-read as they rotate; client
  // certificates are asked for and verified as its files' client_auth says. Null: plaintext.
  // Must outlive the server.
  tls::GnutlsCredentials* tls = nullptr;

  // Abuse limits (see the file comment).
  unsigned per_client_connection_limit = 64;  // connections from one IP address; 0 = no limit
  int header_timeout_ms = 10000;              // request line -> end of headers
  int body_timeout_ms = 30000;                // end of headers -> end of body; response write
  int worker_threads = 4;                     // threads running kWorker handlers
  int max_queued = 64;                        // waiting kWorker requests before 503s
  int max_queued_per_client = 32;             // waiting requests of one client before 429s
  int max_running_per_client = 0;             // 0 = worker_threads / 2 (at least 1)
  // kWorkerOrInline routes (see there).
  size_t inline_max_body_bytes = 16 << 10;
  int inline_slow_ms = 5;
  int inline_pause_ms = 1000;

  // INVALID_ARGUMENT naming every bad field at once.
  absl::Status Validate() const;
};

// The server. Register handlers, Start, and Stop (or destroy) when done.
//
// Thread-safety: Handle/HandlePrefix/Start/Stop are for one controlling thread; handlers are
// called from pool threads. Everything a handler uses must outlive Stop (or the destructor).
class HttpServer {
 public:
  HttpServer();
  ~HttpServer();  // calls Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Routes `method` requests for exactly `path` to `handler`. A GET route also answers HEAD
  // (without the body) unless HEAD has a route of its own. Must be called before Start;
  // registering after Start, or the same method and path twice, is a programming error that
  // aborts.
  void Handle(std::string method, std::string path, HttpHandler handler,
              HttpRouteKind kind = HttpRouteKind::kWorker);

  // Routes `method` requests whose path starts with `prefix` (and has no exact route). When
  // several prefixes match, the longest wins; its methods decide between the handler and a 405.
  // Same rules as Handle otherwise.
  void HandlePrefix(std::string method, std::string prefix, HttpHandler handler,
                    HttpRouteKind kind = HttpRouteKind::kWorker);

  // Sets the authorizer every routed request passes first (authentication, authorization).
  // Before Start only.
  void SetAuthorizer(HttpAuthorizer authorizer);

  // Validates `options`, binds and starts serving. Errors: INVALID_ARGUMENT for bad options,
  // FAILED_PRECONDITION when already started, UNAVAILABLE when the address cannot be bound
  // (the message names host and port).
  absl::Status Start(const HttpServerOptions& options);

  // The bound port (useful with port 0), or 0 when not running.
  int port() const { return port_; }

  // Stops accepting, waits for requests in progress, and closes connections. Idempotent.
  void Stop();

  // Counters of what the abuse limits did since Start (for metrics and tests).
  struct Stats {
    uint64_t rejected_busy = 0;    // 503: the worker queue was full
    uint64_t rejected_client = 0;  // 429: one client had too many requests waiting
    uint64_t closed_deadline = 0;  // connections closed by a header/body/idle deadline
    int queued = 0;                // kWorker requests waiting now
    int running = 0;               // kWorker requests running now
  };
  Stats stats() const;

 private:
  struct RequestState;  // per-request state owned by libmicrohttpd's connection
  struct Route {
    HttpHandler handler;
    HttpRouteKind kind = HttpRouteKind::kWorker;
  };
  class Guard;  // connections' deadlines, the worker pool and its gate
  void AddRoute(bool prefix, std::string method, std::string path, HttpHandler handler,
                HttpRouteKind kind);
  // Finds the route for a request, or sets `status` (404/405) and `allow`.
  const Route* Resolve(const std::string& method, const std::string& path, int& status,
                       std::string& allow) const;

  friend struct HttpServerCallbacks;

  // path -> method -> route
  std::map<std::string, std::map<std::string, Route>> exact_;
  std::map<std::string, std::map<std::string, Route>> prefixes_;
  size_t max_body_bytes_ = 0;
  HttpAuthorizer authorizer_;
  tls::GnutlsCredentials* tls_ = nullptr;
  MHD_Daemon* daemon_ = nullptr;
  std::unique_ptr<Guard> guard_;
  int port_ = 0;
};

}  // namespace arbiter

#endif  // ARBITER_SERVICE_HTTP_HTTP_SERVER_H_
