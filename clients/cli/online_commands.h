// Subcommands of the `arbiter` CLI that talk to a running arbiterd over gRPC. Same exit codes as
// the offline commands: 0 allowed, 1 denied, 2 could not decide (including an unreachable
// server, so a pipeline can tell a policy failure from an outage).
#ifndef ARBITER_CLIENTS_CLI_ONLINE_COMMANDS_H_
#define ARBITER_CLIENTS_CLI_ONLINE_COMMANDS_H_

namespace arbiter::cli {

// arbiter check access|product|deployment --server ADDR [request flags] [--output text|json]
int CheckCommand(int argc, char** argv);
// arbiter status --server ADDR
int StatusCommand(int argc, char** argv);

}  // namespace arbiter::cli

#endif  // ARBITER_CLIENTS_CLI_ONLINE_COMMANDS_H_
