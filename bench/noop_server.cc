// The transport's ceiling for bench/side_by_side.sh: arbiter.v1.DecisionService on gRPC's
// callback API, answering every CheckAccess at once with a fixed ALLOW decision (no policy, no
// log). Whatever arbiterd does beyond this is the price of deciding.
//
//   noop_server --listen 127.0.0.1:0 --port-file FILE
// Writes "grpc=<port>" to FILE once serving; exits on SIGTERM or SIGINT.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include "arbiter/v1/decision_service.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace {

class NoopDecisions final : public arbiter::v1::DecisionService::CallbackService {
  grpc::ServerUnaryReactor* CheckAccess(grpc::CallbackServerContext* ctx,
                                        const arbiter::v1::AccessRequest*,
                                        arbiter::v1::Decision* out) override {
    out->set_effect(arbiter::v1::EFFECT_ALLOW);
    grpc::ServerUnaryReactor* r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }
};

volatile std::sig_atomic_t g_stop = 0;

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:0", port_file;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--listen") == 0) {
      listen = argv[i + 1];
    } else if (std::strcmp(argv[i], "--port-file") == 0) {
      port_file = argv[i + 1];
    } else {
      std::cerr << "usage: noop_server [--listen HOST:PORT] [--port-file FILE]\n";
      return 2;
    }
  }
  NoopDecisions service;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::cerr << "noop_server: cannot listen on " << listen << "\n";
    return 1;
  }
  if (!port_file.empty()) {
    std::ofstream(port_file + ".tmp") << "grpc=" << port << "\n";
    std::rename((port_file + ".tmp").c_str(), port_file.c_str());
  }
  std::signal(SIGTERM, [](int) { g_stop = 1; });
  std::signal(SIGINT, [](int) { g_stop = 1; });
  while (!g_stop) sleep(1);  // a signal ends the sleep early
  server->Shutdown();
  return 0;
}
