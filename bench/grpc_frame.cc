// Writes one request as a gRPC length-prefixed message (the body h2load sends for each call):
//   grpc_frame --kind access --request request.json > frame.bin
//   grpc_frame --kind access --request request.json --batch 100 > frame.bin   # CheckBatch
// The request is JSON in the proto3 mapping, as for `arbiter eval --request`; with --batch N
// (access only) the frame is a CheckBatchRequest of N copies of it.
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "service/convert/convert.h"

int main(int argc, char** argv) {
  int batch = 0;
  if (argc == 7 && std::string(argv[5]) == "--batch") batch = std::atoi(argv[6]);
  if ((argc != 5 && !(argc == 7 && batch > 0)) || std::string(argv[1]) != "--kind" ||
      std::string(argv[3]) != "--request") {
    std::cerr << "usage: grpc_frame --kind access|product|deployment --request FILE [--batch N]\n";
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
      if (batch > 0) {
        arbiter::v1::CheckBatchRequest b;
        for (int i = 0; i < batch; ++i) *b.add_requests() = c->access();
        payload = b.SerializeAsString();
      } else {
        payload = c->access().SerializeAsString();
      }
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
