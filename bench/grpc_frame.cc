// Writes one request as a gRPC length-prefixed message (the body h2load sends for each call):
//   grpc_frame --kind access --request request.json > frame.bin
// The request is JSON in the proto3 mapping, as for `arbiter eval --request`.
#include <fstream>
#include <iostream>
#include <sstream>

#include "service/convert/convert.h"

int main(int argc, char** argv) {
  if (argc != 5 || std::string(argv[1]) != "--kind" || std::string(argv[3]) != "--request") {
    std::cerr << "usage: grpc_frame --kind access|product|deployment --request FILE\n";
    return 2;
  }
  auto kind = arbiter::ParseKind(argv[2]);
  if (!kind.ok()) {
    std::cerr << kind.status().message() << "\n";
    return 2;
  }
  std::ifstream in(argv[4]);
  std::stringstream ss;
  ss << in.rdbuf();
  auto c = arbiter::CaseFromJson(*kind, ss.str());
  if (!c.ok()) {
    std::cerr << c.status().message() << "\n";
    return 2;
  }
  std::string payload;
  switch (*kind) {
    case arbiter::Kind::kAccess:
      payload = c->access().SerializeAsString();
      break;
    case arbiter::Kind::kProduct:
      payload = c->product().SerializeAsString();
      break;
    case arbiter::Kind::kDeployment:
      payload = c->deployment().SerializeAsString();
      break;
  }
  uint32_t n = static_cast<uint32_t>(payload.size());
  char prefix[5] = {0, static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                    static_cast<char>(n >> 8), static_cast<char>(n)};
  std::cout.write(prefix, 5);
  std::cout.write(payload.data(), payload.size());
  return 0;
}
