#include "clients/cli/online_commands.h"

#include <iostream>

#include "absl/strings/str_cat.h"
#include "clients/cli/args.h"
#include "clients/cli/connection.h"
#include "clients/cli/decision_output.h"
#include "clients/cli/offline_commands.h"
#include "clients/cli/request_input.h"
#include "clients/cpp/arbiter_client.h"
#include "service/convert/convert.h"
#include "service/decision_json/decision_json.h"

namespace arbiter::cli {

int CheckCommand(int argc, char** argv) {
  if (argc < 3) {
    return Fail(absl::InvalidArgumentError(
        "usage: arbiter check access|product|deployment --server ADDR [request flags]"));
  }
  absl::StatusOr<Kind> kind = ParseKind(argv[2]);
  if (!kind.ok()) return Fail(kind.status());
  std::set<std::string> with_value = RequestFlags();
  with_value.insert({"server", "output", "timeout-ms"});
  with_value.insert(TlsFlags().begin(), TlsFlags().end());
  auto args = ParseArgs(argc, argv, 3, with_value, {});
  if (!args.ok()) return Fail(args.status());
  if (!args->Has("server")) return Fail(absl::InvalidArgumentError("--server ADDR: required"));
  std::string output = args->Get("output", "text");
  if (output != "text" && output != "json") {
    return Fail(absl::InvalidArgumentError("--output: expected text or json"));
  }
  absl::StatusOr<v1::DryRunCase> request = BuildRequest(*kind, *args);
  if (!request.ok()) return Fail(request.status());
  client::ClientOptions options;
  if (absl::Status s = ApplyTls(*args, options); !s.ok()) return Fail(s);
  options.caller = "arbiter-cli";
  int timeout_ms = 5000;
  if (args->Has("timeout-ms") && !absl::SimpleAtoi(args->Get("timeout-ms"), &timeout_ms)) {
    return Fail(absl::InvalidArgumentError("--timeout-ms: expected an integer"));
  }
  options.timeout = absl::Milliseconds(timeout_ms);
  client::Client c(args->Get("server"), options);
  absl::StatusOr<v1::Decision> d = c.Check(*request);
  if (!d.ok()) return Fail(d.status());
  if (output == "json") {
    // The one decision shape (docs/decision-json.md), as the decision log writes it.
    std::cout << json::DecisionJson(FromProto(*d), *kind) << "\n";
  } else {
    std::cout << FormatDecisionText(*d, std::string(KindName(*kind)));
  }
  return ExitCodeFor(*d);
}

int StatusCommand(int argc, char** argv) {
  std::set<std::string> with_value = TlsFlags();
  with_value.insert("server");
  auto args = ParseArgs(argc, argv, 2, with_value, {});
  if (!args.ok()) return Fail(args.status());
  if (!args->Has("server")) return Fail(absl::InvalidArgumentError("--server ADDR: required"));
  client::ClientOptions options;
  if (absl::Status s = ApplyTls(*args, options); !s.ok()) return Fail(s);
  client::Client c(args->Get("server"), options);
  auto status = c.GetStatus();
  if (!status.ok()) return Fail(status.status());
  std::cout << ToJson(*status, true);
  return 0;
}

}  // namespace arbiter::cli
