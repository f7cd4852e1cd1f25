// Starts the real arbiterd as a child process for integration tests: on 127.0.0.1 with port 0
// (the server reports the ports it bound through --port-file), a scratch bundle or the shipped
// one, and an optional config. The destructor sends SIGTERM and reaps it.
#ifndef ARBITER_TESTS_SUPPORT_ARBITERD_PROCESS_H_
#define ARBITER_TESTS_SUPPORT_ARBITERD_PROCESS_H_

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace arbiter::testing {

struct ArbiterdOptions {
  std::string bundle_dir;
  std::string config_yaml;  // written to a temp file and passed as --config when non-empty
  bool http = true;
  std::vector<std::string> extra_args;
  // Plaintext callers on loopback are "anonymous"; most suites exercise the admin calls too, so
  // they run as this role — unless the config has an `authz:` section of its own (the security
  // suite's), or this is empty (the server's default, engine).
  std::string anonymous_role = "governance";
};

class ArbiterdProcess {
 public:
  // Starts arbiterd and waits (up to 20 s) until it reports its ports. The error includes the
  // server's stderr.
  static absl::StatusOr<std::unique_ptr<ArbiterdProcess>> Start(const ArbiterdOptions& options);
  ~ArbiterdProcess();

  std::string grpc_target() const { return "127.0.0.1:" + std::to_string(grpc_port_); }
  int grpc_port() const { return grpc_port_; }
  int http_port() const { return http_port_; }
  pid_t pid() const { return pid_; }
  const std::string& work_dir() const { return work_dir_; }

  // Sends `sig` and waits for the exit; returns the exit status (or 128+signal).
  int Stop(int sig);
  // The server's stderr so far.
  std::string Stderr() const;

 private:
  pid_t pid_ = -1;
  int grpc_port_ = 0;
  int http_port_ = 0;
  std::string work_dir_;
};

// A fresh temporary directory, removed with its contents when the test process exits
// (ARBITER_KEEP_TEST_DIRS=1 keeps it).
std::string MakeTempDir(const std::string& prefix);
// Copies a directory tree.
void CopyTree(const std::string& from, const std::string& to);
void WriteFile(const std::string& path, const std::string& content);
std::string ReadFileOrEmpty(const std::string& path);

// The shipped bundle and the binaries, from compile definitions set by tests/CMakeLists.txt.
std::string ShippedBundleDir();
std::string ArbiterdBinary();
std::string ArbiterCliBinary();

// What a shell command printed on its stdout, and its exit code (-1 when it did not exit).
struct CommandResult {
  int exit_code = -1;
  std::string out;
};
CommandResult RunCommand(const std::string& command);
// The arbiter CLI with `args` (each single-quoted: no argument may contain a quote), its stderr
// merged into `out` when `with_stderr`.
CommandResult RunArbiterCli(const std::vector<std::string>& args, bool with_stderr);

// Minimal blocking HTTP/1.1 client for loopback tests: returns status and body. `source`: the
// local address to connect from (any of 127/8, e.g. "127.0.0.2", so that a test can be a second
// client next to an attacker that the server limits per address); "" = the kernel's choice.
struct HttpResult {
  int status = 0;
  std::string body;
};
HttpResult HttpRequest(int port, const std::string& method, const std::string& path,
                       const std::string& body = "",
                       const std::string& content_type = "application/json",
                       const std::string& source = "");

// The same over HTTPS, with curl: the server is verified against `pki_dir`/ca.crt and the
// client presents `pki_dir`/<client>.crt (none when `client` is empty). status 0 when no HTTP
// answer came (a refused handshake).
HttpResult HttpsRequest(int port, const std::string& method, const std::string& path,
                        const std::string& body, const std::string& pki_dir,
                        const std::string& client);

}  // namespace arbiter::testing

#endif  // ARBITER_TESTS_SUPPORT_ARBITERD_PROCESS_H_
