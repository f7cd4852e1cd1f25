// Subcommands of the `arbiter` CLI that need no server. Each takes main's argc/argv (argv[1] is
// the subcommand) and returns the process exit code: 0 allowed / passed, 1 denied / failed,
// 2 could not decide (bad input, bad bundle, unreachable server).
#ifndef ARBITER_CLIENTS_CLI_OFFLINE_COMMANDS_H_
#define ARBITER_CLIENTS_CLI_OFFLINE_COMMANDS_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "service/engine/bundle.h"

namespace arbiter::cli {

inline constexpr int kExitCouldNotDecide = 2;

// Prints "arbiter: <message>" to stderr and returns kExitCouldNotDecide.
int Fail(const absl::Status& status);

// Reads and loads the bundle in `dir`; the files are copied to `files_out` when given.
absl::StatusOr<std::shared_ptr<const Bundle>> LoadBundleDir(const std::string& dir,
                                                            BundleFiles* files_out,
                                                            const LoadOptions& options = {});

int EvalCommand(int argc, char** argv);
int TestCommand(int argc, char** argv);
int ValidateCommand(int argc, char** argv);

}  // namespace arbiter::cli

#endif  // ARBITER_CLIENTS_CLI_OFFLINE_COMMANDS_H_
