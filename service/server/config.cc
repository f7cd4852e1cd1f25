#include "service/server/config.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "service/server/cpu_budget.h"
#include "service/value/parse.h"

namespace arbiter {
namespace {

class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)) {}

  void Section(const Value& root, absl::string_view section,
               const std::function<void(const std::string&, const Value&)>& fn) {
    const Value* s = root.Find(section);
    if (s == nullptr || s->is_null()) return;
    if (!s->is_map()) {
      Error(*s, absl::StrCat(section, ": expected a map"));
      return;
    }
    for (const auto& [k, v] : s->as_map()) fn(k, v);
  }
  void Int(absl::string_view section, const std::string& key, const Value& v, int64_t& out) {
    if (!v.is_int()) {
      Error(v, absl::StrCat(section, ".", key, ": expected an integer"));
    } else {
      out = v.as_int();
    }
  }
  void String(absl::string_view section, const std::string& key, const Value& v, std::string& out) {
    if (!v.is_string()) {
      Error(v, absl::StrCat(section, ".", key, ": expected a string"));
    } else {
      out = v.as_string();
    }
  }
  void Bool(absl::string_view section, const std::string& key, const Value& v, bool& out) {
    if (!v.is_bool()) {
      Error(v, absl::StrCat(section, ".", key, ": expected true or false"));
    } else {
      out = v.as_bool();
    }
  }
  void Unknown(absl::string_view section, const std::string& key, const Value& v) {
    Error(v, absl::StrCat(section, ": unknown key \"", key, "\""));
  }
  // A message about the entry `at`, on its key's line (the parser's position).
  void Error(const Value& at, absl::string_view msg) {
    errors_.push_back(absl::StrCat(path_, ":", at.line() > 0 ? at.line() : 1, ": ", msg));
  }
  std::vector<std::string>& errors() { return errors_; }

 private:
  std::string path_;
  std::vector<std::string> errors_;
};

// "127.0.0.1:50051", "localhost:0", "[::1]:8181": plaintext there reaches only this machine.
bool IsLoopback(const std::string& addr) {
  std::string host = addr.substr(0, addr.rfind(':'));
  if (host.size() > 1 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host == "localhost" || host == "::1" || absl::StartsWith(host, "127.");
}

}  // namespace

absl::Status ServerConfig::Validate() const {
  std::vector<std::string> errors;
  if (bundle_dir.empty()) errors.push_back("bundle: required (--bundle DIR)");
  if (listen.empty()) errors.push_back("listen: required (--listen HOST:PORT)");
  if (worker_threads < 0) errors.push_back("server.worker_threads: must be >= 0");
  if (max_message_bytes < 1024) errors.push_back("server.max_message_bytes: must be >= 1024");
  if (max_batch_size < 1) errors.push_back("server.max_batch_size: must be >= 1");
  if (default_deadline <= absl::ZeroDuration()) {
    errors.push_back("server.default_deadline_ms: must be > 0");
  }
  if (max_deadline < default_deadline) {
    errors.push_back("server.max_deadline_ms: must be >= default_deadline_ms");
  }
  if (max_concurrent_calls < 1) errors.push_back("server.max_concurrent_calls: must be >= 1");
  if (poll_interval < absl::Milliseconds(10)) {
    errors.push_back("bundle.poll_interval_ms: must be >= 10");
  }
  if (http_threads < 1) errors.push_back("http.threads: must be >= 1");
  if (http_worker_threads < 1) errors.push_back("http.worker_threads: must be >= 1");
  if (http_max_queued < 1) errors.push_back("http.max_queued: must be >= 1");
  if (http_max_queued_per_client < 1) {
    errors.push_back("http.max_queued_per_client: must be >= 1");
  }
  if (http_max_running_per_client < 0) {
    errors.push_back("http.max_running_per_client: must be >= 0");
  }
  if (http_per_client_connection_limit < 0) {
    errors.push_back("http.per_client_connection_limit: must be >= 0");
  }
  if (http_header_timeout_ms < 1) errors.push_back("http.header_timeout_ms: must be >= 1");
  if (http_body_timeout_ms < 1) errors.push_back("http.body_timeout_ms: must be >= 1");
  if (trino_max_checks_per_request < 1) {
    errors.push_back("trino.max_checks_per_request: must be >= 1");
  }
  if (trino_max_groups_per_identity < 0) {
    errors.push_back("trino.max_groups_per_identity: must be >= 0");
  }
  if (trino_max_body_bytes < 1) errors.push_back("trino.max_body_bytes: must be >= 1");
  if (!decision_log.path.empty()) {
    if (auto s = decision_log.Validate(); !s.ok()) {
      errors.push_back(absl::StrCat("decision_log: ", s.message()));
    }
  }
  if (tls.enabled()) {
    if (tls.cert_file.empty()) errors.push_back("tls.cert_file: required with tls.key_file");
    if (tls.key_file.empty()) errors.push_back("tls.key_file: required with tls.cert_file");
    if (tls.client_auth != TlsConfig::ClientAuth::kNone && tls.client_ca_file.empty()) {
      errors.push_back(
          "tls.client_ca_file: required to verify client certificates (or client_auth: none)");
    }
  } else if (!allow_insecure) {
    for (const auto& [name, addr] : {std::pair<const char*, const std::string&>{"listen", listen},
                                     {"http_listen", http_listen}}) {
      if (!addr.empty() && !IsLoopback(addr)) {
        errors.push_back(absl::StrCat(
            name, ": plaintext on the non-loopback address ", addr,
            " would let anyone on the network call as \"anonymous\"; configure tls: or pass "
            "--allow-insecure"));
      }
    }
  }
  if (auto s = authz.Validate(); !s.ok()) errors.push_back(std::string(s.message()));
  if (auto s = redact::Redactor::Validate(log_redact); !s.ok()) {
    errors.push_back(std::string(s.message()));
  }
  if (errors.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
}

bool ServerConfig::Plaintext() const { return !tls.enabled(); }

bool ServerConfig::PlaintextBeyondLoopback() const {
  return !tls.enabled() &&
         (!IsLoopback(listen) || (!http_listen.empty() && !IsLoopback(http_listen)));
}

absl::Status LoadServerConfig(const std::string& path, ServerConfig& c) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open the config file"));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  absl::StatusOr<Value> root = ParseYaml(text, path);
  if (!root.ok()) return root.status();
  if (root->is_null()) return absl::OkStatus();
  if (!root->is_map()) return absl::InvalidArgumentError(absl::StrCat(path, ":1: expected a map"));
  Reader r(path);
  for (const auto& [k, v] : root->as_map()) {
    if (k != "server" && k != "bundle" && k != "decision_log" && k != "http" && k != "trino" &&
        k != "envoy" && k != "authzen" && k != "tls" && k != "authz") {
      r.Error(v, absl::StrCat("unknown section \"", k,
                              "\" (allowed: server, bundle, decision_log, http, trino, envoy, "
                              "authzen, tls, authz)"));
    }
  }
  r.Section(*root, "server", [&](const std::string& k, const Value& v) {
    int64_t n = 0;
    if (k == "worker_threads") {
      r.Int("server", k, v, n), c.worker_threads = static_cast<int>(n);
    } else if (k == "max_message_bytes") {
      n = static_cast<int64_t>(c.max_message_bytes);
      r.Int("server", k, v, n), c.max_message_bytes = static_cast<size_t>(n);
    } else if (k == "max_batch_size") {
      n = c.max_batch_size;
      r.Int("server", k, v, n), c.max_batch_size = static_cast<int>(n);
    } else if (k == "default_deadline_ms") {
      n = absl::ToInt64Milliseconds(c.default_deadline);
      r.Int("server", k, v, n), c.default_deadline = absl::Milliseconds(n);
    } else if (k == "max_deadline_ms") {
      n = absl::ToInt64Milliseconds(c.max_deadline);
      r.Int("server", k, v, n), c.max_deadline = absl::Milliseconds(n);
    } else if (k == "max_concurrent_calls") {
      n = c.max_concurrent_calls;
      r.Int("server", k, v, n), c.max_concurrent_calls = static_cast<int>(n);
    } else if (k == "drain_timeout_seconds") {
      n = absl::ToInt64Seconds(c.drain_timeout);
      r.Int("server", k, v, n), c.drain_timeout = absl::Seconds(n);
    } else {
      r.Unknown("server", k, v);
    }
  });
  r.Section(*root, "bundle", [&](const std::string& k, const Value& v) {
    if (k == "watch") {
      r.Bool("bundle", k, v, c.watch_bundle);
    } else if (k == "poll_interval_ms") {
      int64_t n = absl::ToInt64Milliseconds(c.poll_interval);
      r.Int("bundle", k, v, n), c.poll_interval = absl::Milliseconds(n);
    } else {
      r.Unknown("bundle", k, v);
    }
  });
  r.Section(*root, "decision_log", [&](const std::string& k, const Value& v) {
    DecisionLogOptions& d = c.decision_log;
    int64_t n = 0;
    if (k == "path") {
      r.String("decision_log", k, v, d.path);
    } else if (k == "max_file_bytes") {
      n = static_cast<int64_t>(d.max_file_bytes);
      r.Int("decision_log", k, v, n), d.max_file_bytes = static_cast<size_t>(n);
    } else if (k == "max_files") {
      n = d.max_files;
      r.Int("decision_log", k, v, n), d.max_files = static_cast<int>(n);
    } else if (k == "queue_capacity") {
      n = static_cast<int64_t>(d.queue_capacity);
      r.Int("decision_log", k, v, n), d.queue_capacity = static_cast<size_t>(n);
    } else if (k == "recent_capacity") {
      n = static_cast<int64_t>(d.recent_capacity);
      r.Int("decision_log", k, v, n), d.recent_capacity = static_cast<size_t>(n);
    } else if (k == "max_line_bytes" || k == "queue_bytes" || k == "recent_bytes") {
      size_t& field = k == "max_line_bytes" ? d.max_line_bytes
                      : k == "queue_bytes"  ? d.queue_bytes
                                            : d.recent_bytes;
      n = static_cast<int64_t>(field);
      r.Int("decision_log", k, v, n);
      if (n < 0) {
        r.Error(v, absl::StrCat("decision_log.", k, ": must be >= 0"));
      } else {
        field = static_cast<size_t>(n);
      }
    } else if (k == "rotate_interval_seconds") {
      n = absl::ToInt64Seconds(d.rotate_interval);
      r.Int("decision_log", k, v, n), d.rotate_interval = absl::Seconds(n);
    } else if (k == "overflow") {
      std::string s;
      r.String("decision_log", k, v, s);
      if (s == "drop") {
        d.overflow = DecisionLogOptions::Overflow::kDrop;
      } else if (s == "block") {
        d.overflow = DecisionLogOptions::Overflow::kBlock;
      } else {
        r.Error(v, "decision_log.overflow: expected drop or block");
      }
    } else if (k == "redact") {
      if (!v.is_list()) {
        r.Error(v, "decision_log.redact: expected a list of request field paths");
        return;
      }
      for (size_t i = 0; i < v.as_list().size(); ++i) {
        const Value& e = v.as_list()[i];
        std::string where = absl::StrCat("decision_log.redact[", i, "]");
        redact::Rule rule;
        if (e.is_string()) {
          rule.path = e.as_string();
        } else if (e.is_map()) {
          for (const auto& [ek, ev] : e.as_map()) {
            if (ek == "path") {
              r.String(where, ek, ev, rule.path);
            } else if (ek == "action") {
              std::string a;
              r.String(where, ek, ev, a);
              if (a == "digest") {
                rule.action = redact::Rule::Action::kDigest;
              } else if (a != "drop") {
                r.Error(v, absl::StrCat(where, ".action: expected drop or digest"));
              }
            } else {
              r.Unknown(where, ek, ev);
            }
          }
        } else {
          r.Error(v, absl::StrCat(where, ": expected a path or {path, action}"));
          continue;
        }
        c.log_redact.push_back(std::move(rule));
      }
    } else {
      r.Unknown("decision_log", k, v);
    }
  });
  r.Section(*root, "tls", [&](const std::string& k, const Value& v) {
    if (k == "cert_file") {
      r.String("tls", k, v, c.tls.cert_file);
    } else if (k == "key_file") {
      r.String("tls", k, v, c.tls.key_file);
    } else if (k == "client_ca_file") {
      r.String("tls", k, v, c.tls.client_ca_file);
    } else if (k == "client_auth") {
      std::string s;
      r.String("tls", k, v, s);
      if (s == "require") {
        c.tls.client_auth = TlsConfig::ClientAuth::kRequire;
      } else if (s == "request") {
        c.tls.client_auth = TlsConfig::ClientAuth::kRequest;
      } else if (s == "none") {
        c.tls.client_auth = TlsConfig::ClientAuth::kNone;
      } else {
        r.Error(v, "tls.client_auth: expected require, request or none");
      }
    } else {
      r.Unknown("tls", k, v);
    }
  });
  r.Section(*root, "authz", [&](const std::string& k, const Value& v) {
    if (k == "identities") {
      if (!v.is_list()) {
        r.Error(v, "authz.identities: expected a list of {match, role}");
        return;
      }
      for (size_t i = 0; i < v.as_list().size(); ++i) {
        const Value& e = v.as_list()[i];
        std::string where = absl::StrCat("authz.identities[", i, "]");
        if (!e.is_map()) {
          r.Error(v, absl::StrCat(where, ": expected {match, role}"));
          continue;
        }
        authz::IdentityRule rule;
        for (const auto& [ek, ev] : e.as_map()) {
          if (ek == "match") {
            r.String(where, ek, ev, rule.match);
          } else if (ek == "role") {
            r.String(where, ek, ev, rule.role);
          } else {
            r.Unknown(where, ek, ev);
          }
        }
        c.authz.identities.push_back(std::move(rule));
      }
    } else if (k == "anonymous_role") {
      r.String("authz", k, v, c.authz.anonymous_role);
    } else if (k == "bundle_roots") {
      if (!v.is_list()) {
        r.Error(v, "authz.bundle_roots: expected a list of directories");
        return;
      }
      for (const Value& e : v.as_list()) {
        if (e.is_string()) {
          c.authz.bundle_roots.push_back(e.as_string());
        } else {
          r.Error(v, "authz.bundle_roots: expected directory names");
        }
      }
    } else {
      r.Unknown("authz", k, v);
    }
  });
  r.Section(*root, "http", [&](const std::string& k, const Value& v) {
    if (k == "threads") {
      int64_t n = c.http_threads;
      r.Int("http", k, v, n), c.http_threads = static_cast<int>(n);
    } else if (k == "listen") {
      r.String("http", k, v, c.http_listen);
    } else if (k == "health_listen") {
      r.String("http", k, v, c.health_listen);
    } else if (int* field = k == "worker_threads"           ? &c.http_worker_threads
                            : k == "max_queued"             ? &c.http_max_queued
                            : k == "max_queued_per_client"  ? &c.http_max_queued_per_client
                            : k == "max_running_per_client" ? &c.http_max_running_per_client
                            : k == "per_client_connection_limit"
                                ? &c.http_per_client_connection_limit
                            : k == "header_timeout_ms" ? &c.http_header_timeout_ms
                            : k == "body_timeout_ms"   ? &c.http_body_timeout_ms
                                                       : nullptr;
               field != nullptr) {
      int64_t n = *field;
      r.Int("http", k, v, n), *field = static_cast<int>(n);
    } else {
      r.Unknown("http", k, v);
    }
  });
  r.Section(*root, "trino", [&](const std::string& k, const Value& v) {
    if (k == "path_prefix") {
      r.String("trino", k, v, c.trino_path_prefix);
    } else if (k == "max_checks_per_request") {
      r.Int("trino", k, v, c.trino_max_checks_per_request);
    } else if (k == "max_groups_per_identity") {
      r.Int("trino", k, v, c.trino_max_groups_per_identity);
    } else if (k == "max_body_bytes") {
      r.Int("trino", k, v, c.trino_max_body_bytes);
    } else if (k == "group_roles") {
      if (!v.is_map()) {
        r.Error(v, "trino.group_roles: expected a map of group -> role");
        return;
      }
      for (const auto& [g, role] : v.as_map()) {
        if (role.is_string()) {
          c.trino_group_roles[g] = role.as_string();
        } else {
          r.Error(role, absl::StrCat("trino.group_roles.", g, ": expected a role name"));
        }
      }
    } else {
      r.Unknown("trino", k, v);
    }
  });
  r.Section(*root, "envoy", [&](const std::string& k, const Value& v) {
    EnvoyDoorConfig& e = c.envoy;
    if (k == "jwt_payload_header") {
      r.String("envoy", k, v, e.jwt_payload_header);
      e.jwt_payload_header = absl::AsciiStrToLower(e.jwt_payload_header);
    } else if (k == "claims") {
      if (!v.is_map()) {
        r.Error(v, "envoy.claims: expected a map (id, roles, groups, domain)");
        return;
      }
      for (const auto& [ck, cv] : v.as_map()) {
        std::string* target = ck == "id"       ? &e.id_claim
                              : ck == "roles"  ? &e.roles_claim
                              : ck == "groups" ? &e.groups_claim
                              : ck == "domain" ? &e.domain_claim
                                               : nullptr;
        if (target == nullptr) {
          r.Error(cv, absl::StrCat("envoy.claims: unknown key \"", ck,
                                   "\" (allowed: id, roles, groups, domain)"));
        } else {
          r.String("envoy.claims", ck, cv, *target);
        }
      }
    } else if (k == "method_actions") {
      if (!v.is_map()) {
        r.Error(v, "envoy.method_actions: expected a map of HTTP method -> action");
        return;
      }
      for (const auto& [m, a] : v.as_map()) {
        if (!a.is_string() || a.as_string().empty()) {
          r.Error(a, absl::StrCat("envoy.method_actions.", m, ": expected an action name"));
        } else {
          e.method_actions[absl::AsciiStrToUpper(m)] = a.as_string();
        }
      }
    } else if (k == "routes") {
      if (!v.is_list()) {
        r.Error(v, "envoy.routes: expected a list of {path_prefix, product | table, ...}");
        return;
      }
      for (size_t i = 0; i < v.as_list().size(); ++i) {
        const Value& route = v.as_list()[i];
        std::string where = absl::StrCat("envoy.routes[", i, "]");
        if (!route.is_map()) {
          r.Error(v, absl::StrCat(where, ": expected a map"));
          continue;
        }
        EnvoyRoute out;
        for (const auto& [rk, rv] : route.as_map()) {
          if (rk == "path_prefix") {
            r.String(where, rk, rv, out.path_prefix);
          } else if (rk == "product") {
            r.String(where, rk, rv, out.product);
          } else if (rk == "table") {
            r.String(where, rk, rv, out.table);
          } else if (rk == "domain") {
            r.String(where, rk, rv, out.domain);
          } else if (rk == "columns" && rv.is_list()) {
            for (const Value& col : rv.as_list()) {
              if (col.is_string()) out.columns.push_back(col.as_string());
            }
          } else if (rk == "columns" && rv.is_string()) {
            for (absl::string_view col :
                 absl::StrSplit(rv.as_string(), ',', absl::SkipWhitespace())) {
              out.columns.emplace_back(absl::StripAsciiWhitespace(col));
            }
          } else {
            r.Error(rv, absl::StrCat(where, ": unknown key \"", rk,
                                     "\" (allowed: path_prefix, product, table, domain, columns)"));
          }
        }
        if (out.path_prefix.empty() || out.path_prefix[0] != '/') {
          r.Error(v, absl::StrCat(where, ".path_prefix: required, starting with '/'"));
        }
        if (out.product.empty() && out.table.empty()) {
          r.Error(v, absl::StrCat(where, ": name a product or a table"));
        }
        e.routes.push_back(std::move(out));
      }
    } else {
      r.Unknown("envoy", k, v);
    }
  });
  r.Section(*root, "authzen", [&](const std::string& k, const Value& v) {
    if (k == "base_url") {
      r.String("authzen", k, v, c.authzen_base_url);
      while (!c.authzen_base_url.empty() && c.authzen_base_url.back() == '/') {
        c.authzen_base_url.pop_back();
      }
    } else {
      r.Unknown("authzen", k, v);
    }
  });
  if (!r.errors().empty()) return absl::InvalidArgumentError(absl::StrJoin(r.errors(), "\n"));
  return absl::OkStatus();
}

int ServerConfig::WorkerThreads() const {
  return worker_threads > 0 ? worker_threads : std::max(2, CpuBudget());
}

}  // namespace arbiter
