// Building arbiter.v1 requests from the CLI's inputs: a request file in the proto3 JSON mapping
// (JSON or YAML), or per-field flags for people (--product FILE, --principal ID, ...). `eval`
// and `check` take the same inputs, so every offline evaluation can be repeated on a server.
#ifndef ARBITER_CLIENTS_CLI_REQUEST_INPUT_H_
#define ARBITER_CLIENTS_CLI_REQUEST_INPUT_H_

#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "arbiter/v1/policy_service.pb.h"
#include "clients/cli/args.h"
#include "service/engine/types.h"

namespace arbiter::cli {

// Flags understood by BuildRequest (beyond --kind).
const std::set<std::string>& RequestFlags();

// Reads a whole file. NOT_FOUND / INVALID_ARGUMENT naming the path.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Refuses flag combinations that make no sense, naming the flags: per-field flags beside
// --request, flags of another kind (--env for an access request), --previous-contract without
// --previous (the deployment would be judged as a first one), principal details without
// --principal, --columns without a resource.
absl::Status CheckRequestFlags(Kind kind, const Args& args);

// The request for `kind`, as the DryRunCase oneof, after CheckRequestFlags. INVALID_ARGUMENT
// naming the file or flag.
absl::StatusOr<v1::DryRunCase> BuildRequest(Kind kind, const Args& args);

// A Document holding the YAML file at `path` (checked to parse, so errors name file:line).
absl::StatusOr<v1::Document> DocumentFromFile(const std::string& path);

}  // namespace arbiter::cli

#endif  // ARBITER_CLIENTS_CLI_REQUEST_INPUT_H_
