#include "service/http/http_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace arbiter {

struct HttpServer::RequestState {
  HttpRequest request;
  bool started = false;    // the first access-handler call has happened
  bool too_large = false;  // a chunked body outgrew the limit
  const HttpHandler* handler = nullptr;
  int error_status = 0;  // 404 or 405 when no handler
  std::string allow;     // for 405
};

// The C callbacks libmicrohttpd calls; a struct so that they may touch HttpServer's privates.
// None lets a C++ exception escape into C frames.
struct HttpServerCallbacks {
  // Called once per request with the raw URI (query included, not yet decoded); what it returns
  // becomes the request's context pointer, freed in Completed.
  static void* UriLog(void* /*cls*/, const char* uri, MHD_Connection* /*connection*/) {
    auto* state = new (std::nothrow) HttpServer::RequestState();
    if (state != nullptr && uri != nullptr) {
      const char* q = std::strchr(uri, '?');
      if (q != nullptr) state->request.query = q + 1;
    }
    return state;
  }

  static void Completed(void* /*cls*/, MHD_Connection* /*connection*/, void** context,
                        MHD_RequestTerminationCode /*code*/) {
    delete static_cast<HttpServer::RequestState*>(*context);
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

  static MHD_Result SendText(MHD_Connection* connection, int status, std::string body,
                             std::vector<std::pair<std::string, std::string>> headers = {}) {
    HttpResponse response;
    response.status = status;
    response.body = std::move(body);
    response.headers = std::move(headers);
    return Send(connection, response);
  }

  static MHD_Result Access(void* cls, MHD_Connection* connection, const char* url,
                           const char* method, const char* /*version*/, const char* upload_data,
                           size_t* upload_data_size, void** context) {
    auto* server = static_cast<HttpServer*>(cls);
    auto* state = static_cast<HttpServer::RequestState*>(*context);
    if (state == nullptr) return MHD_NO;  // out of memory in UriLog: drop the connection
    try {
      if (!state->started) {
        state->started = true;
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
          return SendText(connection, 413, "request body too large\n");
        }
        state->handler = server->Resolve(req.method, req.path, state->error_status, state->allow);
        return MHD_YES;
      }
      if (*upload_data_size > 0) {
        // 404/405 bodies are read and discarded (bounded as above) so that the connection
        // stays usable for the client's next request.
        if (state->handler != nullptr) {
          if (state->request.body.size() + *upload_data_size > server->max_body_bytes_) {
            return MHD_NO;  // chunked body over the limit: close the connection
          }
          state->request.body.append(upload_data, *upload_data_size);
        }
        *upload_data_size = 0;
        return MHD_YES;
      }
      if (state->handler == nullptr) {
        if (state->error_status == 405) {
          return SendText(connection, 405, "method not allowed\n", {{"Allow", state->allow}});
        }
        return SendText(connection, 404, "not found\n");
      }
      HttpResponse response;
      try {
        response = (*state->handler)(state->request);
      } catch (...) {
        // Exception text may name internals; the client gets a generic answer.
        return SendText(connection, 500, "internal server error\n");
      }
      return Send(connection, response);
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
  if (problems.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("http server options: ", absl::StrJoin(problems, "; ")));
}

HttpServer::HttpServer() = default;

HttpServer::~HttpServer() { Stop(); }

void HttpServer::AddRoute(bool prefix, std::string method, std::string path, HttpHandler handler) {
  if (daemon_ != nullptr) Fatal(absl::StrCat("route ", method, " ", path, " added after Start"));
  if (!handler) Fatal(absl::StrCat("route ", method, " ", path, " has no handler"));
  auto& methods = (prefix ? prefixes_ : exact_)[path];
  if (!methods.emplace(method, std::move(handler)).second) {
    Fatal(absl::StrCat("route ", method, " ", path, " registered twice"));
  }
}

void HttpServer::Handle(std::string method, std::string path, HttpHandler handler) {
  AddRoute(false, std::move(method), std::move(path), std::move(handler));
}

void HttpServer::HandlePrefix(std::string method, std::string prefix, HttpHandler handler) {
  AddRoute(true, std::move(method), std::move(prefix), std::move(handler));
}

const HttpHandler* HttpServer::Resolve(const std::string& method, const std::string& path,
                                       int& status, std::string& allow) const {
  const std::map<std::string, HttpHandler>* methods = nullptr;
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

absl::Status HttpServer::Start(const HttpServerOptions& options) {
  if (daemon_ != nullptr) return absl::FailedPreconditionError("http server already started");
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  sockaddr_storage addr;
  socklen_t addr_len = 0;
  ParseHost(options.host, addr, addr_len, options.port);
  max_body_bytes_ = options.max_body_bytes;

  unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD;  // epoll on Linux
  if (addr.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
  MHD_OptionItem pool_options[2] = {{MHD_OPTION_END, 0, nullptr}, {MHD_OPTION_END, 0, nullptr}};
  if (options.threads > 1) {
    // A pool of one is not a pool to libmicrohttpd; it then serves from the polling thread.
    pool_options[0] = {MHD_OPTION_THREAD_POOL_SIZE, static_cast<intptr_t>(options.threads),
                       nullptr};
  }
  errno = 0;
  daemon_ = MHD_start_daemon(flags, 0, nullptr, nullptr, &HttpServerCallbacks::Access, this,   //
                             MHD_OPTION_SOCK_ADDR, reinterpret_cast<sockaddr*>(&addr),         //
                             MHD_OPTION_URI_LOG_CALLBACK, &HttpServerCallbacks::UriLog, this,  //
                             MHD_OPTION_NOTIFY_COMPLETED, &HttpServerCallbacks::Completed, this,
                             MHD_OPTION_CONNECTION_LIMIT, options.connection_limit,  //
                             MHD_OPTION_CONNECTION_TIMEOUT, options.connection_timeout_seconds,
                             MHD_OPTION_ARRAY, pool_options,  //
                             MHD_OPTION_END);
  if (daemon_ == nullptr) {
    const int err = errno;
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
  MHD_stop_daemon(daemon_);
  daemon_ = nullptr;
  port_ = 0;
}

}  // namespace arbiter
