#include "service/http/http_server.h"

#include <arpa/inet.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace arbiter {

// Connections' absolute deadlines, and the worker pool with its gate. One mutex guards both
// tables: every operation is a few pointer moves, far cheaper than the syscalls around it.
class HttpServer::Guard {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Phase { kIdle, kHeaders, kBody, kHandling, kSending, kClosing };
  struct Conn {
    int fd = -1;
    std::string ip;
    Phase phase = Phase::kIdle;
    Clock::time_point since;
    // HTTPS: the verified client certificate, read at the connection's first request.
    bool peer_read = false;
    tls::PeerCertificate peer;
  };
  enum class Admit { kQueued, kBusy, kClient };

  explicit Guard(const HttpServerOptions& o)
      : idle_(o.connection_timeout_seconds > 0
                  ? std::chrono::milliseconds(int64_t{o.connection_timeout_seconds} * 1000)
                  : std::chrono::milliseconds::max()),
        header_(o.header_timeout_ms),
        body_(o.body_timeout_ms),
        max_queued_(o.max_queued),
        max_queued_per_client_(o.max_queued_per_client),
        max_running_per_client_(o.max_running_per_client > 0 ? o.max_running_per_client
                                                             : std::max(1, o.worker_threads / 2)),
        inline_max_body_(o.inline_max_body_bytes),
        inline_slow_(o.inline_slow_ms),
        inline_pause_(o.inline_pause_ms) {
    const auto shortest = std::min(header_, body_);
    tick_ = std::clamp(shortest / 4, std::chrono::milliseconds(5), std::chrono::milliseconds(250));
    workers_count_ = o.worker_threads;
    for (int i = 0; i < o.worker_threads; ++i)
      workers_.emplace_back([this] {
        pthread_setname_np(pthread_self(), "arb-http-work");
        Work();
      });
    watchdog_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "arb-http-watch");
      Watch();
    });
  }

  ~Guard() {
    StopWorkers();
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_watch_ = true;
    }
    cv_watch_.notify_all();
    if (watchdog_.joinable()) watchdog_.join();
    for (Conn* c : conns_) delete c;
  }

  Conn* Open(int fd, std::string ip) {
    auto* c = new (std::nothrow) Conn();
    if (c == nullptr) return nullptr;
    c->fd = fd;
    c->ip = std::move(ip);
    c->since = Clock::now();
    std::lock_guard<std::mutex> lock(mu_);
    conns_.insert(c);
    return c;
  }

  // Called by libmicrohttpd before it closes the socket, so that the watchdog never shuts down
  // a descriptor number that has been reused.
  void Close(Conn* c) {
    if (c == nullptr) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      conns_.erase(c);
    }
    delete c;
  }

  void SetPhase(Conn* c, Phase phase) {
    if (c == nullptr) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (c->phase == Phase::kClosing) return;
    c->phase = phase;
    c->since = Clock::now();
  }

  // Admits `job` for a worker or refuses it at once. `suspend` runs (under the gate's lock)
  // before the job can start, so that the job's completion always follows the suspension.
  // job(true) runs the request; job(false) cancels it at shutdown.
  Admit Submit(const std::string& client, const std::function<void()>& suspend,
               std::function<void(bool)> job) {
    std::lock_guard<std::mutex> lock(mu_);
    // Jobs about to get an idle worker do not count as waiting: a burst onto an idle pool is
    // admitted whole.
    const int idle = workers_count_ - running_total_;
    if (stopping_ || static_cast<int>(queue_.size()) >= max_queued_ + std::max(0, idle)) {
      ++rejected_busy_;
      return Admit::kBusy;
    }
    int& waiting = waiting_[client];
    auto r = running_.find(client);
    const int client_free = std::min(
        std::max(0, idle), max_running_per_client_ - (r == running_.end() ? 0 : r->second));
    if (waiting >= max_queued_per_client_ + std::max(0, client_free)) {
      ++rejected_client_;
      return Admit::kClient;
    }
    suspend();
    ++waiting;
    queue_.push_back(Job{client, std::move(job)});
    // One waiter is enough: a worker that cannot take the job (its client is at its share)
    // leaves it for the worker that ends one of that client's jobs (see Work). Waking every
    // idle worker per request cost ~3 futile context switches per request at 4 workers.
    cv_work_.notify_one();
    return Admit::kQueued;
  }

  // A place in the gate for a kWorkerOrInline request of `body_bytes` to run on the calling I/O
  // thread, or false (queue it as usual): only when a worker could start it at once anyway
  // (nothing queued, a worker free, the client under its share), the body is small and no
  // recent inline run was slow. Counted as running until EndInline.
  bool TryInline(const std::string& client, size_t body_bytes) {
    if (body_bytes > inline_max_body_) return false;
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || !queue_.empty() || running_total_ >= workers_count_) return false;
    if (inline_paused_ && Clock::now() < inline_resume_) return false;
    inline_paused_ = false;
    auto r = running_.find(client);
    if (r != running_.end() && r->second >= max_running_per_client_) return false;
    ++running_[client];
    ++running_total_;
    return true;
  }

  void EndInline(const std::string& client, Clock::duration took) {
    std::lock_guard<std::mutex> lock(mu_);
    if (--running_[client] == 0) running_.erase(client);
    --running_total_;
    if (took > inline_slow_) {
      inline_paused_ = true;
      inline_resume_ = Clock::now() + inline_pause_;
    }
    // A queued job (one that came while this ran) may take the place this run held.
    if (!queue_.empty()) cv_work_.notify_one();
  }

  void StopWorkers() {
    std::deque<Job> cancelled;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      stopping_ = true;
      cancelled.swap(queue_);
    }
    cv_work_.notify_all();
    for (std::thread& t : workers_) t.join();
    for (Job& job : cancelled) job.run(false);
  }

  HttpServer::Stats stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return HttpServer::Stats{rejected_busy_, rejected_client_, closed_deadline_,
                             static_cast<int>(queue_.size()), running_total_};
  }

 private:
  struct Job {
    std::string client;
    std::function<void(bool)> run;
  };

  void Work() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      // The oldest job whose client is under its share of the workers.
      auto it = queue_.end();
      if (!stopping_) {
        it = std::find_if(queue_.begin(), queue_.end(), [&](const Job& j) {
          auto r = running_.find(j.client);
          return r == running_.end() || r->second < max_running_per_client_;
        });
      }
      if (it == queue_.end()) {
        if (stopping_) return;
        cv_work_.wait(lock);
        continue;
      }
      Job job = std::move(*it);
      queue_.erase(it);
      if (--waiting_[job.client] == 0) waiting_.erase(job.client);
      ++running_[job.client];
      ++running_total_;
      lock.unlock();
      job.run(true);
      lock.lock();
      if (--running_[job.client] == 0) running_.erase(job.client);
      --running_total_;
      // This worker looks at the queue again at once and takes the job this completion made
      // runnable (one of this client's, now under its share). Others are woken only for queued
      // jobs beyond that one, since each completion frees one slot of one client.
      if (queue_.size() > 1) cv_work_.notify_one();
    }
  }

  std::chrono::milliseconds Limit(Phase p) const {
    switch (p) {
      case Phase::kIdle:
        return idle_;
      case Phase::kHeaders:
        return header_;
      case Phase::kBody:
      case Phase::kSending:
        return body_;
      default:
        return std::chrono::milliseconds::max();
    }
  }

  void Watch() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_watch_) {
      cv_watch_.wait_for(lock, tick_);
      const Clock::time_point now = Clock::now();
      for (Conn* c : conns_) {
        const std::chrono::milliseconds limit = Limit(c->phase);
        if (limit == std::chrono::milliseconds::max() || now - c->since < limit) continue;
        // shutdown, not close: libmicrohttpd still owns the descriptor; it sees end of stream
        // and cleans the connection up on its own thread.
        ::shutdown(c->fd, SHUT_RDWR);
        c->phase = Phase::kClosing;
        ++closed_deadline_;
      }
    }
  }

  const std::chrono::milliseconds idle_, header_, body_;
  const int max_queued_, max_queued_per_client_, max_running_per_client_;
  const size_t inline_max_body_;
  const std::chrono::milliseconds inline_slow_, inline_pause_;
  std::chrono::milliseconds tick_{100};

  mutable std::mutex mu_;
  std::condition_variable cv_work_, cv_watch_;
  std::unordered_set<Conn*> conns_;
  std::deque<Job> queue_;
  std::unordered_map<std::string, int> waiting_, running_;
  int workers_count_ = 0, running_total_ = 0;
  bool stopping_ = false, stop_watch_ = false;
  bool inline_paused_ = false;  // a slow inline run: no inline runs before inline_resume_
  Clock::time_point inline_resume_;
  uint64_t rejected_busy_ = 0, rejected_client_ = 0, closed_deadline_ = 0;
  std::vector<std::thread> workers_;
  std::thread watchdog_;
};

struct HttpServer::RequestState {
  HttpRequest request;
  bool started = false;  // the first access-handler call has happened
  const Route* route = nullptr;
  int error_status = 0;  // 404 or 405 when no route
  std::string allow;     // for 405
  Guard::Conn* conn = nullptr;
  bool dispatched = false;      // handed to a worker; the connection is suspended
  bool response_ready = false;  // the worker's answer is in `response`
  HttpResponse response;
};

namespace {

std::string AddressText(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (sa == nullptr) return "";
  if (sa->sa_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof(buf));
  } else if (sa->sa_family == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof(buf));
  }
  return buf;
}

}  // namespace

// The C callbacks libmicrohttpd calls; a struct so that they may touch HttpServer's privates.
// None lets a C++ exception escape into C frames.
struct HttpServerCallbacks {
  // TLS: the server certificate for each handshake, from the credentials' current generation
  // (so a rotated certificate is served from the next handshake on).
  static int RetrieveCertificate(gnutls_session_t session, const gnutls_datum_t*, int,
                                 const gnutls_pk_algorithm_t*, int, gnutls_pcert_st** pcert,
                                 unsigned int* pcert_length, gnutls_privkey_t* key) {
    auto* server = static_cast<HttpServer*>(gnutls_session_get_ptr(session));
    if (server == nullptr || server->tls_ == nullptr) return -1;
    try {
      std::shared_ptr<const tls::GnutlsCredentials::Generation> g = server->tls_->Current();
      // Generations stay alive as long as the credentials (see tls_files.h).
      *pcert = const_cast<gnutls_pcert_st*>(g->chain.data());
      *pcert_length = static_cast<unsigned>(g->chain.size());
      *key = g->key;
      return 0;
    } catch (...) {
      return -1;
    }
  }

  // TLS: the client's chain is verified against tls.client_ca_file during the handshake; a
  // failure ends the handshake.
  static int VerifyClient(gnutls_session_t session) {
    auto* server = static_cast<HttpServer*>(gnutls_session_get_ptr(session));
    if (server == nullptr || server->tls_ == nullptr) return -1;
    unsigned n = 0;
    const gnutls_datum_t* chain = gnutls_certificate_get_peers(session, &n);
    if (n == 0 || chain == nullptr) {
      return server->tls_->files().client_auth == tls::TlsFiles::ClientAuth::kRequire ? -1 : 0;
    }
    try {
      return server->tls_->VerifyClient(chain, n).ok() ? 0 : -1;
    } catch (...) {
      return -1;
    }
  }

  // TLS: what this connection's handshake will ask of the client.
  static void PrepareTls(HttpServer* server, MHD_Connection* connection) {
    const MHD_ConnectionInfo* info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (info == nullptr || info->tls_session == nullptr) return;
    auto session = static_cast<gnutls_session_t>(info->tls_session);
    gnutls_session_set_ptr(session, server);
    switch (server->tls_->files().client_auth) {
      case tls::TlsFiles::ClientAuth::kRequire:
        gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE);
        break;
      case tls::TlsFiles::ClientAuth::kRequest:
        gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUEST);
        break;
      case tls::TlsFiles::ClientAuth::kNone:
        gnutls_certificate_server_set_request(session, GNUTLS_CERT_IGNORE);
        return;
    }
    gnutls_session_set_verify_function(session, &VerifyClient);
  }

  // The verified client certificate of a TLS connection (read once per connection).
  static tls::PeerCertificate PeerOf(HttpServer::Guard::Conn* conn, MHD_Connection* connection) {
    if (conn != nullptr && conn->peer_read) return conn->peer;
    tls::PeerCertificate peer;
    const MHD_ConnectionInfo* info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (info != nullptr && info->tls_session != nullptr) {
      unsigned n = 0;
      const gnutls_datum_t* chain =
          gnutls_certificate_get_peers(static_cast<gnutls_session_t>(info->tls_session), &n);
      if (chain != nullptr && n > 0) peer = tls::DescribeCertificate(chain[0]);
    }
    if (conn != nullptr) {
      conn->peer = peer;
      conn->peer_read = true;
    }
    return peer;
  }

  static HttpServer::Guard::Conn* ConnOf(MHD_Connection* connection) {
    const MHD_ConnectionInfo* info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info != nullptr ? static_cast<HttpServer::Guard::Conn*>(info->socket_context) : nullptr;
  }

  static void Notify(void* cls, MHD_Connection* connection, void** socket_context,
                     MHD_ConnectionNotificationCode code) {
    auto* server = static_cast<HttpServer*>(cls);
    if (server->guard_ == nullptr) return;
    try {
      if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const MHD_ConnectionInfo* fd =
            MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
        const MHD_ConnectionInfo* addr =
            MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        *socket_context =
            server->guard_->Open(fd != nullptr ? fd->connect_fd : -1,
                                 AddressText(addr != nullptr ? addr->client_addr : nullptr));
        if (server->tls_ != nullptr) PrepareTls(server, connection);
      } else {
        server->guard_->Close(static_cast<HttpServer::Guard::Conn*>(*socket_context));
        *socket_context = nullptr;
      }
    } catch (...) {
      *socket_context = nullptr;
    }
  }

  // Called once per request with the raw URI (query included, not yet decoded); what it returns
  // becomes the request's context pointer, freed in Completed.
  static void* UriLog(void* cls, const char* uri, MHD_Connection* connection) {
    auto* server = static_cast<HttpServer*>(cls);
    auto* state = new (std::nothrow) HttpServer::RequestState();
    if (state == nullptr) return nullptr;
    try {
      if (uri != nullptr) {
        const char* q = std::strchr(uri, '?');
        if (q != nullptr) state->request.query = q + 1;
      }
      state->conn = ConnOf(connection);
      if (state->conn != nullptr) {
        state->request.remote_address = state->conn->ip;  // written once, at accept
        server->guard_->SetPhase(state->conn, HttpServer::Guard::Phase::kHeaders);
      }
    } catch (...) {
      delete state;
      return nullptr;
    }
    return state;
  }

  static void Completed(void* cls, MHD_Connection* /*connection*/, void** context,
                        MHD_RequestTerminationCode /*code*/) {
    auto* server = static_cast<HttpServer*>(cls);
    auto* state = static_cast<HttpServer::RequestState*>(*context);
    if (state != nullptr && state->conn != nullptr && server->guard_ != nullptr) {
      server->guard_->SetPhase(state->conn, HttpServer::Guard::Phase::kIdle);
    }
    delete state;
    *context = nullptr;
  }

  static MHD_Result CollectHeader(void* cls, MHD_ValueKind /*kind*/, const char* key,
                                  const char* value) {
    auto* headers = static_cast<std::vector<std::pair<std::string, std::string>>*>(cls);
    headers->emplace_back(key != nullptr ? key : "", value != nullptr ? value : "");
    return MHD_YES;
  }

  static MHD_Result Send(MHD_Connection* connection, const HttpResponse& response) {
    MHD_Response* r = MHD_create_response_from_buffer(
        response.body.size(), const_cast<char*>(response.body.data()), MHD_RESPMEM_MUST_COPY);
    if (r == nullptr) return MHD_NO;
    if (!response.content_type.empty()) {
      MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, response.content_type.c_str());
    }
    for (const auto& [name, value] : response.headers) {
      MHD_add_response_header(r, name.c_str(), value.c_str());
    }
    const unsigned status =
        response.status >= 200 && response.status <= 599 ? response.status : 500;
    const MHD_Result result = MHD_queue_response(connection, status, r);
    MHD_destroy_response(r);
    return result;
  }

  static MHD_Result Respond(HttpServer* server, HttpServer::RequestState* state,
                            MHD_Connection* connection, const HttpResponse& response) {
    if (server->guard_ != nullptr) {
      server->guard_->SetPhase(state->conn, HttpServer::Guard::Phase::kSending);
    }
    return Send(connection, response);
  }

  static MHD_Result RespondText(HttpServer* server, HttpServer::RequestState* state,
                                MHD_Connection* connection, int status, std::string body,
                                std::vector<std::pair<std::string, std::string>> headers = {}) {
    HttpResponse response;
    response.status = status;
    response.body = std::move(body);
    response.headers = std::move(headers);
    return Respond(server, state, connection, response);
  }

  static HttpResponse Run(const HttpHandler& handler, const HttpRequest& request) {
    try {
      return handler(request);
    } catch (...) {
      // Exception text may name internals; the client gets a generic answer.
      HttpResponse r;
      r.status = 500;
      r.body = "internal server error\n";
      return r;
    }
  }

  static MHD_Result Access(void* cls, MHD_Connection* connection, const char* url,
                           const char* method, const char* /*version*/, const char* upload_data,
                           size_t* upload_data_size, void** context) {
    auto* server = static_cast<HttpServer*>(cls);
    auto* state = static_cast<HttpServer::RequestState*>(*context);
    if (state == nullptr) return MHD_NO;  // out of memory in UriLog: drop the connection
    using Phase = HttpServer::Guard::Phase;
    HttpServer::Guard& guard = *server->guard_;
    try {
      if (!state->started) {
        state->started = true;
        guard.SetPhase(state->conn, Phase::kBody);
        HttpRequest& req = state->request;
        req.method = method;
        req.path = url;
        MHD_get_connection_values(connection, MHD_HEADER_KIND, &CollectHeader, &req.headers);
        // Refuse an oversized declared body before reading any of it; answering now makes
        // libmicrohttpd skip the body and close the connection afterwards.
        const std::string length = req.Header("Content-Length");
        uint64_t declared = 0;
        if (!length.empty() && absl::SimpleAtoi(length, &declared) &&
            declared > server->max_body_bytes_) {
          return RespondText(server, state, connection, 413, "request body too large\n");
        }
        state->route = server->Resolve(req.method, req.path, state->error_status, state->allow);
        if (server->tls_ != nullptr) req.peer = PeerOf(state->conn, connection);
        // Refused before the body is read: an unauthorized client cannot make us buffer it.
        if (state->route != nullptr && server->authorizer_) {
          if (std::optional<HttpResponse> refused = server->authorizer_(req)) {
            return Respond(server, state, connection, *refused);
          }
        }
        return MHD_YES;
      }
      if (state->response_ready) {  // resumed: a worker has answered
        return Respond(server, state, connection, state->response);
      }
      if (*upload_data_size > 0) {
        // 404/405 bodies are read and discarded (bounded as above) so that the connection
        // stays usable for the client's next request.
        if (state->route != nullptr) {
          if (state->request.body.size() + *upload_data_size > server->max_body_bytes_) {
            return MHD_NO;  // chunked body over the limit: close the connection
          }
          state->request.body.append(upload_data, *upload_data_size);
        }
        *upload_data_size = 0;
        return MHD_YES;
      }
      if (state->dispatched) return MHD_YES;  // spurious call while suspended
      if (state->route == nullptr) {
        if (state->error_status == 405) {
          return RespondText(server, state, connection, 405, "method not allowed\n",
                             {{"Allow", state->allow}});
        }
        return RespondText(server, state, connection, 404, "not found\n");
      }
      guard.SetPhase(state->conn, Phase::kHandling);
      if (state->route->kind == HttpRouteKind::kInline) {
        return Respond(server, state, connection, Run(state->route->handler, state->request));
      }
      if (state->route->kind == HttpRouteKind::kWorkerOrInline &&
          guard.TryInline(state->request.remote_address, state->request.body.size())) {
        const auto start = HttpServer::Guard::Clock::now();
        HttpResponse response = Run(state->route->handler, state->request);
        guard.EndInline(state->request.remote_address, HttpServer::Guard::Clock::now() - start);
        return Respond(server, state, connection, response);
      }
      // The connection is suspended until a worker answers; libmicrohttpd then calls Access
      // again, which sends state->response.
      const HttpServer::Route* route = state->route;
      auto job = [state, route, connection](bool run) {
        if (run) {
          state->response = Run(route->handler, state->request);
        } else {
          state->response = HttpResponse{
              503, "text/plain; charset=utf-8", "server shutting down\n", {{"Retry-After", "1"}}};
        }
        state->response_ready = true;
        MHD_resume_connection(connection);
      };
      const auto admit = guard.Submit(
          state->request.remote_address,
          [&] {
            state->dispatched = true;
            MHD_suspend_connection(connection);
          },
          std::move(job));
      switch (admit) {
        case HttpServer::Guard::Admit::kQueued:
          return MHD_YES;
        case HttpServer::Guard::Admit::kBusy:
          return RespondText(server, state, connection, 503,
                             "server busy: every worker is taken and the queue is full "
                             "(http.max_queued)\n",
                             {{"Retry-After", "1"}});
        case HttpServer::Guard::Admit::kClient:
          return RespondText(server, state, connection, 429,
                             "too many requests from this client waiting "
                             "(http.max_queued_per_client)\n",
                             {{"Retry-After", "1"}});
      }
      return MHD_NO;
    } catch (...) {
      return MHD_NO;  // std::bad_alloc and the like: drop the connection
    }
  }
};

std::string HttpRequest::Header(absl::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, name)) return value;
  }
  return "";
}

namespace {

// TLS 1.2 and 1.3 only, GnuTLS' NORMAL ciphers otherwise.
constexpr char kTlsPriorities[] = "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";

[[noreturn]] void Fatal(const std::string& message) {
  std::fprintf(stderr, "arbiter http: %s\n", message.c_str());
  std::abort();
}

// Parses `host` into `addr`; false when it is not an address literal.
bool ParseHost(absl::string_view host, sockaddr_storage& addr, socklen_t& len, int port) {
  std::memset(&addr, 0, sizeof(addr));
  std::string h(host);
  if (h == "localhost") h = "127.0.0.1";
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  if (::inet_pton(AF_INET, h.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (::inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

}  // namespace

absl::Status HttpServerOptions::Validate() const {
  std::vector<std::string> problems;
  sockaddr_storage addr;
  socklen_t len;
  if (!ParseHost(host, addr, len, 0)) {
    problems.push_back(
        absl::StrCat("host \"", host, "\" is not an IPv4 or IPv6 address (or localhost)"));
  }
  if (port < 0 || port > 65535) problems.push_back(absl::StrCat("port ", port, " out of range"));
  if (threads < 1 || threads > 1024) {
    problems.push_back(absl::StrCat("threads must be in [1, 1024], got ", threads));
  }
  if (max_body_bytes == 0) problems.push_back("max_body_bytes must be positive");
  if (connection_limit == 0) problems.push_back("connection_limit must be positive");
  if (header_timeout_ms < 1) problems.push_back("header_timeout_ms must be positive");
  if (body_timeout_ms < 1) problems.push_back("body_timeout_ms must be positive");
  if (worker_threads < 1 || worker_threads > 1024) {
    problems.push_back(absl::StrCat("worker_threads must be in [1, 1024], got ", worker_threads));
  }
  if (max_queued < 1) problems.push_back("max_queued must be positive");
  if (max_queued_per_client < 1) problems.push_back("max_queued_per_client must be positive");
  if (max_running_per_client < 0) problems.push_back("max_running_per_client must be >= 0");
  if (inline_slow_ms < 0) problems.push_back("inline_slow_ms must be >= 0");
  if (inline_pause_ms < 0) problems.push_back("inline_pause_ms must be >= 0");
  if (problems.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("http server options: ", absl::StrJoin(problems, "; ")));
}

HttpServer::HttpServer() = default;

HttpServer::~HttpServer() { Stop(); }

void HttpServer::AddRoute(bool prefix, std::string method, std::string path, HttpHandler handler,
                          HttpRouteKind kind) {
  if (daemon_ != nullptr) Fatal(absl::StrCat("route ", method, " ", path, " added after Start"));
  if (!handler) Fatal(absl::StrCat("route ", method, " ", path, " has no handler"));
  auto& methods = (prefix ? prefixes_ : exact_)[path];
  if (!methods.emplace(method, Route{std::move(handler), kind}).second) {
    Fatal(absl::StrCat("route ", method, " ", path, " registered twice"));
  }
}

void HttpServer::Handle(std::string method, std::string path, HttpHandler handler,
                        HttpRouteKind kind) {
  AddRoute(false, std::move(method), std::move(path), std::move(handler), kind);
}

void HttpServer::HandlePrefix(std::string method, std::string prefix, HttpHandler handler,
                              HttpRouteKind kind) {
  AddRoute(true, std::move(method), std::move(prefix), std::move(handler), kind);
}

const HttpServer::Route* HttpServer::Resolve(const std::string& method, const std::string& path,
                                             int& status, std::string& allow) const {
  const std::map<std::string, Route>* methods = nullptr;
  if (auto it = exact_.find(path); it != exact_.end()) {
    methods = &it->second;
  } else {
    size_t best = 0;
    for (const auto& [prefix, candidates] : prefixes_) {
      if (absl::StartsWith(path, prefix) && (methods == nullptr || prefix.size() > best)) {
        methods = &candidates;
        best = prefix.size();
      }
    }
  }
  if (methods == nullptr) {
    status = 404;
    return nullptr;
  }
  if (auto it = methods->find(method); it != methods->end()) return &it->second;
  if (method == "HEAD") {
    if (auto it = methods->find("GET"); it != methods->end()) return &it->second;
  }
  std::vector<std::string> names;
  for (const auto& [name, handler] : *methods) names.push_back(name);
  if (methods->count("GET") > 0 && methods->count("HEAD") == 0) names.push_back("HEAD");
  std::sort(names.begin(), names.end());
  status = 405;
  allow = absl::StrJoin(names, ", ");
  return nullptr;
}

void HttpServer::SetAuthorizer(HttpAuthorizer authorizer) {
  if (daemon_ != nullptr) Fatal("authorizer set after Start");
  authorizer_ = std::move(authorizer);
}

absl::Status HttpServer::Start(const HttpServerOptions& options) {
  if (daemon_ != nullptr) return absl::FailedPreconditionError("http server already started");
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  sockaddr_storage addr;
  socklen_t addr_len = 0;
  ParseHost(options.host, addr, addr_len, options.port);
  max_body_bytes_ = options.max_body_bytes;
  tls_ = options.tls;
  guard_ = std::make_unique<Guard>(options);

  // epoll on Linux; suspension parks a connection while a worker runs its handler.
  unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME;
  if (addr.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
  MHD_OptionItem pool_options[4] = {{MHD_OPTION_END, 0, nullptr},
                                    {MHD_OPTION_END, 0, nullptr},
                                    {MHD_OPTION_END, 0, nullptr},
                                    {MHD_OPTION_END, 0, nullptr}};
  int n_options = 0;
  if (options.threads > 1) {
    // A pool of one is not a pool to libmicrohttpd; it then serves from the polling thread.
    pool_options[n_options++] = {MHD_OPTION_THREAD_POOL_SIZE,
                                 static_cast<intptr_t>(options.threads), nullptr};
  }
  if (tls_ != nullptr) {
    flags |= MHD_USE_TLS;
    // The certificate comes from a callback, per handshake, so that rotations need no restart.
    pool_options[n_options++] = {
        MHD_OPTION_HTTPS_CERT_CALLBACK, 0,
        reinterpret_cast<void*>(&HttpServerCallbacks::RetrieveCertificate)};
    pool_options[n_options++] = {MHD_OPTION_HTTPS_PRIORITIES, 0, const_cast<char*>(kTlsPriorities)};
  }
  errno = 0;
  daemon_ = MHD_start_daemon(flags, 0, nullptr, nullptr, &HttpServerCallbacks::Access, this,   //
                             MHD_OPTION_SOCK_ADDR, reinterpret_cast<sockaddr*>(&addr),         //
                             MHD_OPTION_URI_LOG_CALLBACK, &HttpServerCallbacks::UriLog, this,  //
                             MHD_OPTION_NOTIFY_COMPLETED, &HttpServerCallbacks::Completed, this,
                             MHD_OPTION_NOTIFY_CONNECTION, &HttpServerCallbacks::Notify, this,
                             MHD_OPTION_CONNECTION_LIMIT, options.connection_limit,  //
                             MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                             options.per_client_connection_limit,  //
                             MHD_OPTION_CONNECTION_TIMEOUT, options.connection_timeout_seconds,
                             MHD_OPTION_ARRAY, pool_options,  //
                             MHD_OPTION_END);
  if (daemon_ == nullptr) {
    const int err = errno;
    guard_.reset();
    return absl::UnavailableError(
        absl::StrCat("http server: cannot listen on ", options.host, ":", options.port,
                     err != 0 ? absl::StrCat(": ", std::strerror(err)) : std::string()));
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
  port_ = info != nullptr ? info->port : options.port;
  return absl::OkStatus();
}

void HttpServer::Stop() {
  if (daemon_ == nullptr) return;
  // Workers finish what they run and answer what waits, resuming every suspended connection,
  // before the daemon goes: libmicrohttpd must not be stopped with connections suspended.
  guard_->StopWorkers();
  MHD_stop_daemon(daemon_);
  daemon_ = nullptr;
  guard_.reset();
  port_ = 0;
}

HttpServer::Stats HttpServer::stats() const {
  return guard_ != nullptr ? guard_->stats() : Stats{};
}

}  // namespace arbiter
