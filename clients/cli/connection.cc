#include "clients/cli/connection.h"

#include <cstdlib>

namespace arbiter::cli {

const std::set<std::string>& TlsFlags() {
  static const std::set<std::string> flags = {"tls-ca", "tls-cert", "tls-key", "tls-server-name"};
  return flags;
}

absl::Status ApplyTls(const Args& args, client::ClientOptions& options) {
  auto pick = [&](const char* flag, const char* env) {
    if (args.Has(flag)) return args.Get(flag);
    const char* v = std::getenv(env);
    return std::string(v == nullptr ? "" : v);
  };
  options.tls_ca = pick("tls-ca", "ARBITER_TLS_CA");
  options.tls_cert = pick("tls-cert", "ARBITER_TLS_CERT");
  options.tls_key = pick("tls-key", "ARBITER_TLS_KEY");
  options.tls_server_name = pick("tls-server-name", "ARBITER_TLS_SERVER_NAME");
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return absl::InvalidArgumentError(
        "--tls-cert and --tls-key (or ARBITER_TLS_CERT and ARBITER_TLS_KEY) go together");
  }
  if (!options.tls_server_name.empty() && options.tls_ca.empty() && options.tls_cert.empty()) {
    return absl::InvalidArgumentError("--tls-server-name needs TLS: add --tls-ca (and --tls-cert)");
  }
  return absl::OkStatus();
}

}  // namespace arbiter::cli
