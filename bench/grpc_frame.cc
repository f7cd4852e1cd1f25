// Writes one request as a gRPC length-prefixed message (the body h2load sends for each call):
//   grpc_frame --kind access --request request.json > frame.bin
//   grpc_frame --kind access --request request.json --batch 100 > frame.bin   # CheckBatch
//   grpc_frame --kind envoy --request check.json > frame.bin   # Envoy's ext_authz Check
// The request is JSON in the proto3 mapping, as for `arbiter eval --request`; with --batch N
// (access only) the frame is a CheckBatchRequest of N copies of it. For envoy it is an
// envoy.service.auth.v3.CheckRequest as Envoy's ext_authz filter sends it.
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "envoy/service/auth/v3/external_auth.pb.h"
#include "google/protobuf/util/json_util.h"
#include "service/convert/convert.h"

namespace {

// The serialized request message of `kind` ("access", ..., "envoy") for `json`.
absl::StatusOr<std::string> Payload(const std::string& kind_name, const std::string& json,
                                    int batch) {
  if (kind_name == "envoy") {
    envoy::service::auth::v3::CheckRequest check;
    if (auto s = google::protobuf::util::JsonStringToMessage(json, &check); !s.ok()) {
      return absl::InvalidArgumentError(std::string(s.message()));
    }
    return check.SerializeAsString();
  }
  absl::StatusOr<arbiter::Kind> kind = arbiter::ParseKind(kind_name);
  if (!kind.ok()) return kind.status();
  absl::StatusOr<arbiter::v1::DryRunCase> c = arbiter::CaseFromJson(*kind, json);
  if (!c.ok()) return c.status();
  switch (*kind) {
    case arbiter::Kind::kAccess:
      if (batch > 0) {
        arbiter::v1::CheckBatchRequest b;
        for (int i = 0; i < batch; ++i) *b.add_requests() = c->access();
        return b.SerializeAsString();
      }
      return c->access().SerializeAsString();
    case arbiter::Kind::kProduct:
      return c->product().SerializeAsString();
    case arbiter::Kind::kDeployment:
      return c->deployment().SerializeAsString();
  }
  return absl::InvalidArgumentError("unknown kind");
}

}  // namespace

int main(int argc, char** argv) {
  int batch = 0;
  if (argc == 7 && std::string(argv[5]) == "--batch") batch = std::atoi(argv[6]);
  if ((argc != 5 && !(argc == 7 && batch > 0)) || std::string(argv[1]) != "--kind" ||
      std::string(argv[3]) != "--request" || (batch > 0 && std::string(argv[2]) != "access")) {
    std::cerr << "usage: grpc_frame --kind access|product|deployment|envoy --request FILE "
                 "[--batch N (access)]\n";
    return 2;
  }
  std::ifstream in(argv[4]);
  std::stringstream ss;
  ss << in.rdbuf();
  absl::StatusOr<std::string> payload = Payload(argv[2], ss.str(), batch);
  if (!payload.ok()) {
    std::cerr << argv[4] << ": " << payload.status().message() << "\n";
    return 2;
  }
  uint32_t n = static_cast<uint32_t>(payload->size());
  char prefix[5] = {0, static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                    static_cast<char>(n >> 8), static_cast<char>(n)};
  std::cout.write(prefix, 5);
  std::cout.write(payload->data(), payload->size());
  return 0;
}
