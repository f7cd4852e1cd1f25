// `arbiter gate`: the deployment gate a domain's pipeline runs before it deploys a data product.
// It reads the descriptor and contracts from the repository, the previous version, the target
// environment and the pipeline's metadata, asks for a `deployment` decision (from arbiterd, or
// offline from a bundle) and reports it as text, JSON, JUnit XML or GitHub annotations.
//
// Exit codes keep a policy failure apart from an outage: 0 allowed; 1 denied (or warnings under
// --fail-on-warn); 2 could not decide (bad input, malformed YAML, unreachable server, bad
// bundle, unknown git ref). See docs/gate.md.
#ifndef ARBITER_CLIENTS_CLI_GATE_COMMAND_H_
#define ARBITER_CLIENTS_CLI_GATE_COMMAND_H_

namespace arbiter::cli {

// arbiter gate [--product FILE] [--contract FILE]... [--previous FILE [--previous-contract
//   FILE]... | --previous-ref REF] --env ENV (--server ADDR | --bundle DIR)
//   [--output text|json|junit|github|markdown] [--fail-on-warn] [--commit SHA] [--actor ID]
//   [--run-url URL] [--pipeline k=v]... [--requester ID] [--timeout-ms N]
//   [--decisions FILE... [--since 30d]]   (the blast radius, offline; service/impact)
// Takes main's argc/argv (argv[1] is "gate") and returns the exit code.
int GateCommand(int argc, char** argv);

}  // namespace arbiter::cli

#endif  // ARBITER_CLIENTS_CLI_GATE_COMMAND_H_
