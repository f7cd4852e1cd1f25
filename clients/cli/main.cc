// arbiter: the command-line client. Offline (eval, test, validate) it uses the engine as a
// library; online (check) it calls an arbiterd over gRPC; gate does either.
#include <cstring>
#include <iostream>
#include <string>

#include "clients/cli/dry_run_command.h"
#include "clients/cli/gate_command.h"
#include "clients/cli/offline_commands.h"
#include "clients/cli/online_commands.h"
#include "clients/cli/waivers_command.h"

namespace {

constexpr char kUsage[] = R"(usage: arbiter <command> [flags]
       arbiter --version

Offline, with the engine as a library:
  eval --bundle DIR --kind access|product|deployment (--request FILE | per-field flags)
       [--now RFC3339] [--output text|json] [--explain]
    --explain: each policy that ran, its findings, print(...) output, instructions and
    time, and which combining step decided and why.
  eval --bundle DIR --trino FILE [--trino-endpoint allow|batch|rowFilters|columnMask|
       batchColumnMask] [--group-roles FILE] [--now RFC3339] [--explain]
    Replays a body Trino's OPA plugin POSTed (as `opa eval -i` would) through arbiterd's
    Trino translation and prints the JSON answer the HTTP route gives. The endpoint is
    inferred from the body unless given; --group-roles is a map of group -> grants or an
    arbiterd config (its trino.group_roles). Exit 0 when every item is allowed, 1 when one
    is not, 2 when the endpoint would refuse the body.
  test DIR [--run REGEX] [--coverage [--threshold PCT] [--lcov FILE]]
       [--output text|junit] [--verbose]
    --coverage: per-policy line coverage by the cases (exit 1 under --threshold).
  validate DIR [--strict] [--no-tests] [--now RFC3339]
    Loads the bundle, lints every policy (undefined globals, assignments to globals,
    unreachable code), checks the test files' schema and runs their cases, and runs the
    product policies over every catalog descriptor; warns about waivers that expire within
    14 days (or have expired) as of --now (default: the clock). Exit 1 on any error (and,
    with --strict, any warning).

Against a server (arbiterd), over gRPC:
  check access|product|deployment --server HOST:PORT (--request FILE | per-field flags)
       [--output text|json] [--timeout-ms N]
  status --server HOST:PORT

Deployment gate, for CI/CD pipelines (docs/gate.md), against a server or offline:
  gate [--product FILE] [--contract FILE]...
       [--previous FILE [--previous-contract FILE]... | --previous-ref REF]
       --env ENV (--server HOST:PORT | --bundle DIR)
       [--output text|json|junit|github|markdown] [--fail-on-warn]
       [--commit SHA] [--actor ID] [--run-url URL] [--pipeline k=v]... [--requester ID]
       [--timeout-ms N] [--decisions FILE... [--since 30d]]
    Without --product/--contract: ./data-product.yaml, ./contracts/*.yaml, ./data-contract*.yaml.
    Without a previous version: the bundle's catalog offline, a first deployment with --server.
    Pipeline metadata defaults to GitHub Actions / GitLab CI variables.
    Exit 1 also for warnings with --fail-on-warn.
    Blast radius of breaking changes: offline, who read the changed columns in the decision
    log FILEs (and their rotations FILE.1, ...) within --since (default 30d); arbiterd reads
    its own log.

Dry-run of a candidate bundle (docs/dry-run.md): which decisions would change?
  dry-run --candidate DIR (--requests FILE | --replay DECISIONS.jsonl
          | --server HOST:PORT --recent N [--since RFC3339])
          [--bundle DIR] [--output text|json|markdown] [--examples N] [--timeout-ms N]
          [--at RFC3339]
    Offline the active bundle is --bundle (default: policies); with --server it is the
    server's, and the candidate is sent inline. --requests/--replay read JSON lines in the
    decision log's shape ({"kind": ..., "request": {...}}). Exit 1 when a decision flips.
    --at: evaluate the candidate at that time (ctx.now): which waivers will have lapsed.

Waivers (docs/waivers.md), for a governance council's review:
  waivers BUNDLE_DIR [--expiring 30d] [--now RFC3339] [--output text|json|markdown]
    Lists the bundle's waivers, soonest expiry first; --expiring: only those that end within
    that time (h, d or w), expired ones included.

Per-field request flags:
  access:      --principal ID [--roles a,b] [--groups g] [--attr k=v] [--principal-domain D]
               --action ACTION (--table catalog.schema.table | --product NAME) [--columns c1,c2]
               [--domain D]
               --principal-domain: the domain the principal belongs to (principal.domain, what
               policies compare with the resource's owner); --domain: the resource's owning
               domain when no catalog entry says it.
  product:     --product FILE [--operation register|update|deprecate] [--requester ID]
  deployment:  --product FILE [--previous FILE] [--contract FILE]... [--previous-contract FILE]...
               --env ENV [--pipeline k=v]... [--requester ID]

TLS, for every command given --server (mutual TLS: arbiterd authorizes the certificate's
identity; defaults from ARBITER_TLS_CA, ARBITER_TLS_CERT, ARBITER_TLS_KEY, ARBITER_TLS_SERVER_NAME):
  --tls-ca FILE  --tls-cert FILE --tls-key FILE  [--tls-server-name NAME]

Exit codes: 0 allowed (or tests passed), 1 denied (or tests failed), 2 could not decide.
)";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "help") == 0 || std::strcmp(argv[1], "--help") == 0) {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  if (std::strcmp(argv[1], "--version") == 0 || std::strcmp(argv[1], "version") == 0) {
    std::cout << "arbiter " << ARBITER_VERSION << "\n";
    return 0;
  }
  std::string command = argv[1];
  if (command == "eval") return arbiter::cli::EvalCommand(argc, argv);
  if (command == "test") return arbiter::cli::TestCommand(argc, argv);
  if (command == "validate") return arbiter::cli::ValidateCommand(argc, argv);
  if (command == "check") return arbiter::cli::CheckCommand(argc, argv);
  if (command == "status") return arbiter::cli::StatusCommand(argc, argv);
  if (command == "dry-run") return arbiter::cli::DryRunCommand(argc, argv);
  if (command == "gate") return arbiter::cli::GateCommand(argc, argv);
  if (command == "waivers") return arbiter::cli::WaiversCommand(argc, argv);
  std::cerr << "arbiter: unknown command \"" << command << "\"\n" << kUsage;
  return 2;
}
