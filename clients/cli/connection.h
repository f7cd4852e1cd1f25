// How the CLI reaches a server: the TLS flags every command that talks to arbiterd accepts
// (--tls-ca, --tls-cert, --tls-key, --tls-server-name), with ARBITER_TLS_CA, ARBITER_TLS_CERT,
// ARBITER_TLS_KEY and ARBITER_TLS_SERVER_NAME as defaults so a pipeline sets them once.
#ifndef ARBITER_CLIENTS_CLI_CONNECTION_H_
#define ARBITER_CLIENTS_CLI_CONNECTION_H_

#include <set>
#include <string>

#include "absl/status/status.h"
#include "clients/cli/args.h"
#include "clients/cpp/arbiter_client.h"

namespace arbiter::cli {

// The TLS flags, to add to a command's flags that take a value.
const std::set<std::string>& TlsFlags();

// Fills options.tls_* from the flags, else the environment. INVALID_ARGUMENT when only one of
// a certificate and its key is given.
absl::Status ApplyTls(const Args& args, client::ClientOptions& options);

}  // namespace arbiter::cli

#endif  // ARBITER_CLIENTS_CLI_CONNECTION_H_
