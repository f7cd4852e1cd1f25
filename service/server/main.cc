// arbiterd: the Arbiter policy decision server.
//
//   arbiterd --bundle DIR --listen HOST:PORT [--http-listen HOST:PORT] [--config FILE]
//   arbiterd --help | --version
//
// Flags are parsed here and only here; the optional YAML config file holds everything else.
// SIGTERM/SIGINT drain the server and exit 0.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "service/allocator/allocator.h"
#include "service/authzen/routes.h"
#include "service/envoy/ext_authz_service.h"
#include "service/server/config.h"
#include "service/server/server.h"
#include "service/trino/routes.h"

ABSL_FLAG(std::string, bundle, "", "Policy bundle directory (required).");
ABSL_FLAG(std::string, listen, "127.0.0.1:50051", "gRPC listen address HOST:PORT (port 0 = any).");
ABSL_FLAG(
    std::string, http_listen, "",
    "HTTP side port HOST:PORT for /metrics, /healthz, /readyz, the OPA/Trino API and AuthZEN.");
ABSL_FLAG(std::string, config, "", "Optional YAML config file (limits, decision log, ...).");
ABSL_FLAG(bool, allow_insecure, false,
          "Serve plaintext on a non-loopback address (every caller is then \"anonymous\"). "
          "Without tls: in the config, only loopback addresses are served otherwise.");
ABSL_FLAG(std::string, port_file, "",
          "Write the bound gRPC and HTTP ports here once serving (for tests and scripts).");

namespace {

constexpr char kUsage[] =
    "usage: arbiterd --bundle DIR [--listen HOST:PORT] [--http-listen HOST:PORT] [--config FILE]\n"
    "                [--allow-insecure] [--port-file FILE]\n"
    "       arbiterd --help | --version\n";

// --help: the usage and every flag this file defines (with its default), spelled as documented
// (dashes); abseil's own --help would list only flags matching the program's name, i.e. none.
void PrintHelp() {
  std::string out = kUsage;
  absl::StrAppend(&out, "\nFlags:\n");
  std::vector<std::pair<std::string, const absl::CommandLineFlag*>> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (absl::EndsWith(flag->Filename(), "service/server/main.cc")) {
      std::string dashed(name);
      std::replace(dashed.begin(), dashed.end(), '_', '-');
      flags.emplace_back(dashed, flag);
    }
  }
  std::sort(flags.begin(), flags.end());
  for (const auto& [name, flag] : flags) {
    std::string def = flag->DefaultValue();
    absl::StrAppend(&out, "  --", name, def.empty() ? "" : absl::StrCat(" (default ", def, ")"),
                    "\n      ", flag->Help(), "\n");
  }
  absl::StrAppend(&out,
                  "\nEverything else (TLS, authz, limits, decision log, Trino, metrics) is in the "
                  "--config YAML file; see README.md, \"Running arbiterd\".\n");
  std::fputs(out.c_str(), stdout);
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h" || a == "--helpfull") {
      PrintHelp();
      return 0;
    }
    if (a == "--version") {
      std::printf("arbiterd %s (allocator: %s)\n", ARBITER_VERSION,
                  arbiter::AllocatorName().c_str());
      return 0;
    }
  }
  absl::SetProgramUsageMessage(
      "arbiterd --bundle DIR --listen HOST:PORT [--http-listen HOST:PORT] [--config FILE]");
  // The documented spelling is --http-listen; abseil's flags use underscores.
  std::vector<std::string> storage(argv, argv + argc);
  std::vector<char*> args;
  for (std::string& a : storage) {
    if (a.rfind("--", 0) == 0) {
      size_t end = std::min(a.find('='), a.size());
      std::replace(a.begin() + 2, a.begin() + static_cast<long>(end), '-', '_');
    }
    args.push_back(a.data());
  }
  absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  // Debian builds abseil without NDEBUG, which turns on Mutex deadlock detection: a global
  // graph updated on every lock, measurable on the decision path. Lock ordering is checked by
  // the tests' sanitizer builds instead.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  // Signals are handled by one thread with sigwait; block them everywhere else first, before
  // any other thread exists.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  arbiter::ServerConfig config;
  if (std::string path = absl::GetFlag(FLAGS_config); !path.empty()) {
    if (absl::Status s = arbiter::LoadServerConfig(path, config); !s.ok()) {
      std::fprintf(stderr, "arbiterd: %s\n", std::string(s.message()).c_str());
      return 2;
    }
  }
  config.bundle_dir = absl::GetFlag(FLAGS_bundle);
  config.listen = absl::GetFlag(FLAGS_listen);
  if (std::string h = absl::GetFlag(FLAGS_http_listen); !h.empty()) config.http_listen = h;
  config.allow_insecure = absl::GetFlag(FLAGS_allow_insecure);
  if (config.PlaintextBeyondLoopback() && config.allow_insecure) {
    std::fprintf(stderr,
                 "arbiterd: WARNING: serving plaintext beyond loopback (--allow-insecure): callers "
                 "are unauthenticated and act as \"anonymous\" (role %s)\n",
                 config.authz.anonymous_role.c_str());
  }

  arbiter::ArbiterServer server(config);
  // The doors onto the same decisions beside arbiter.v1: Trino's OPA API and AuthZEN on the HTTP
  // side port, Envoy's ext_authz on the gRPC port.
  if (absl::Status s =
          server.Start({arbiter::trino::InstallTrinoRoutes, arbiter::authzen::InstallAuthzenRoutes},
                       {arbiter::ext_authz::MakeAuthorizationService});
      !s.ok()) {
    std::fprintf(stderr, "arbiterd: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  std::fprintf(
      stderr, "arbiterd: serving bundle %s on %s (gRPC port %d%s)\n", config.bundle_dir.c_str(),
      config.listen.c_str(), server.grpc_port(),
      server.http_port() ? (", HTTP port " + std::to_string(server.http_port())).c_str() : "");
  if (std::string pf = absl::GetFlag(FLAGS_port_file); !pf.empty()) {
    std::string tmp = pf + ".tmp";
    if (FILE* f = std::fopen(tmp.c_str(), "w")) {
      std::fprintf(f, "grpc=%d\nhttp=%d\nhealth=%d\n", server.grpc_port(), server.http_port(),
                   server.health_port());
      std::fclose(f);
      std::rename(tmp.c_str(), pf.c_str());
    }
  }
  int sig = 0;
  sigwait(&signals, &sig);
  std::fprintf(stderr, "arbiterd: signal %d, draining\n", sig);
  server.Shutdown();
  server.Wait();
  std::fprintf(stderr, "arbiterd: stopped\n");
  return 0;
}
