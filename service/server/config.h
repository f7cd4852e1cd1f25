// arbiterd's configuration: the optional YAML file (--config) with defaults in the structs, and
// Validate() reporting every problem at once. Flags (--bundle, --listen, --http-listen) are
// parsed only in main and override the file.
#ifndef ARBITER_SERVICE_SERVER_CONFIG_H_
#define ARBITER_SERVICE_SERVER_CONFIG_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "service/authz/authz.h"
#include "service/decision_log/decision_log.h"
#include "service/redact/redact.h"
#include "service/tls/tls_files.h"

namespace arbiter {

// One entry of the Envoy door's path -> resource table (config `envoy.routes`): requests whose
// path (without the query) is `path_prefix` or continues it with '/' are checked against this
// resource. Routes with `context_extensions` in Envoy's config do not need an entry here.
struct EnvoyRoute {
  std::string path_prefix;
  std::string product;
  std::string table;  // catalog.schema.table
  std::string domain;
  std::vector<std::string> columns;
};

// The Envoy ext_authz door (service/envoy): how a CheckRequest becomes an access request.
struct EnvoyDoorConfig {
  // The header Envoy's jwt_authn filter forwards the verified payload in (forward_payload_header).
  std::string jwt_payload_header = "x-jwt-payload";
  // JWT claim names for the principal's id, roles, groups and domain. Other scalar claims become
  // principal attributes.
  std::string id_claim = "sub";
  std::string roles_claim = "roles";
  std::string groups_claim = "groups";
  std::string domain_claim = "domain";
  // HTTP method -> action; a method not listed becomes "unknown" (which policies deny).
  std::map<std::string, std::string> method_actions = {{"GET", "read"},    {"HEAD", "read"},
                                                       {"POST", "write"},  {"PUT", "write"},
                                                       {"PATCH", "write"}, {"DELETE", "delete"}};
  std::vector<EnvoyRoute> routes;
};

// The `tls:` section: one server certificate for the gRPC port and the HTTP side port. The files
// are watched and re-read when they change (cert-manager and SPIRE rotate them in place).
using TlsConfig = tls::TlsFiles;

struct ServerConfig {
  std::string bundle_dir;
  std::string listen = "127.0.0.1:50051";
  std::string http_listen;  // empty: no HTTP side port

  // gRPC server.
  int worker_threads = 0;  // 0 = the CPU budget (cpu_budget.h), at least 2: see WorkerThreads()
  size_t max_message_bytes = 4 << 20;
  int max_batch_size = 1000;
  absl::Duration default_deadline = absl::Milliseconds(1000);
  absl::Duration max_deadline = absl::Seconds(10);
  // Calls in progress beyond this get RESOURCE_EXHAUSTED instead of queueing without bound.
  int max_concurrent_calls = 512;
  absl::Duration drain_timeout = absl::Seconds(20);

  // Bundle watching.
  bool watch_bundle = true;
  absl::Duration poll_interval = absl::Milliseconds(1000);

  DecisionLogOptions decision_log;  // path "" = off, "-" = stdout

  int http_threads = 2;  // I/O threads of the side port (parsing, health, metrics)
  // Side-port abuse limits (service/http/http_server.h): decisions run on http_worker_threads
  // behind a gate that answers 503/429 at once; absolute header/body deadlines.
  int http_worker_threads = 4;
  int http_max_queued = 64;
  int http_max_queued_per_client = 32;
  int http_max_running_per_client = 0;  // 0 = http_worker_threads / 2 (at least 1)
  int http_per_client_connection_limit = 64;
  int http_header_timeout_ms = 10000;
  int http_body_timeout_ms = 30000;
  // A plaintext listener that serves only /healthz and /readyz (for kubelet probes, which cannot
  // present client certificates); empty: none.
  std::string health_listen;

  // Trino endpoint (OPA data API).
  std::string trino_path_prefix = "/v1/data/trino";
  std::map<std::string, std::string> trino_group_roles;
  // Per-request caps of the Trino endpoint (service/trino/routes.h, docs/limits.md).
  int64_t trino_max_checks_per_request = 10000;
  int64_t trino_max_groups_per_identity = 1024;
  int64_t trino_max_body_bytes = 4 << 20;

  // Envoy ext_authz on the gRPC port (section `envoy`).
  EnvoyDoorConfig envoy;

  // AuthZEN on the HTTP side port (section `authzen`): the PDP's own URL ("https://pdp.example"),
  // as PEPs reach it, for /.well-known/authzen-configuration. Empty: "http://" + the request's
  // Host header.
  std::string authzen_base_url;

  // Transport security; without it both ports are plaintext and every caller is "anonymous".
  TlsConfig tls;
  // Plaintext on an address other than loopback is refused unless this is set (--allow-insecure).
  bool allow_insecure = false;
  // Who may do what (roles per identity, bundle roots).
  authz::AuthzConfig authz;
  // decision_log.redact: request fields dropped or digested before a line is written.
  std::vector<redact::Rule> log_redact;

  // INVALID_ARGUMENT listing every bad field.
  absl::Status Validate() const;
  // No tls: section: both ports plaintext.
  bool Plaintext() const;
  // Plaintext on an address beyond loopback (only with allow_insecure): worth a warning.
  bool PlaintextBeyondLoopback() const;

  // worker_threads as the gRPC pollers and the decision workers use it: the configured count, or
  // the CPU budget (at least 2).
  int WorkerThreads() const;
};

// Reads `path` into `config` (keys absent from the file keep their values). INVALID_ARGUMENT
// naming the file, line and key for unknown keys and wrong types.
absl::Status LoadServerConfig(const std::string& path, ServerConfig& config);

}  // namespace arbiter

#endif  // ARBITER_SERVICE_SERVER_CONFIG_H_
