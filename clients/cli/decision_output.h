// Rendering of decisions for people (text) and programs (proto3 JSON), shared by every CLI
// command that prints a decision, offline or from a server.
#ifndef ARBITER_CLIENTS_CLI_DECISION_OUTPUT_H_
#define ARBITER_CLIENTS_CLI_DECISION_OUTPUT_H_

#include <string>

#include "arbiter/v1/types.pb.h"

namespace arbiter::cli {

// "ALLOW access ..." with one line per reason (marks: x deny, + allow, ~ obligation,
// ! warning), the
// obligations, and which policies ran or were overridden.
std::string FormatDecisionText(const v1::Decision& d, const std::string& kind);

// The exit code a pipeline sees: 0 allowed, 1 denied.
int ExitCodeFor(const v1::Decision& d);

}  // namespace arbiter::cli

#endif  // ARBITER_CLIENTS_CLI_DECISION_OUTPUT_H_
