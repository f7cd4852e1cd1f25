// `arbiter dry-run`: what a candidate bundle would change, before anything is enforced.
//
//   arbiter dry-run --candidate DIR (--requests FILE | --replay DECISIONS.jsonl
//                   | --server ADDR --recent N [--since RFC3339])
//                   [--bundle DIR] [--output text|json|markdown] [--examples N]
//
// Offline, the active bundle is --bundle (default `policies`) and both bundles are evaluated
// here with the engine as a library. With --server, the server's active bundle is used and the
// candidate is sent inline (PolicyService.DryRun); the cases are the server's recent decision
// log (--recent/--since) or, as offline, a file. --requests and --replay both read JSON lines in
// the decision log's own shape (`kind` and `request` at least): --requests stops at the first bad
// line, --replay counts a bad (say, torn) line as a failed request.
//
// Exit codes: 0 nothing flipped, 1 a decision flipped (or the candidate cannot decide a request
// the active bundle decides), 2 the dry-run could not run (the candidate does not load, a file
// cannot be read, the server cannot be reached or refuses).
#ifndef ARBITER_CLIENTS_CLI_DRY_RUN_COMMAND_H_
#define ARBITER_CLIENTS_CLI_DRY_RUN_COMMAND_H_

namespace arbiter::cli {

// Takes main's argc/argv (argv[1] is "dry-run") and returns the exit code above.
int DryRunCommand(int argc, char** argv);

}  // namespace arbiter::cli

#endif  // ARBITER_CLIENTS_CLI_DRY_RUN_COMMAND_H_
