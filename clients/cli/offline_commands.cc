// `arbiter eval`, `arbiter test` and `arbiter validate`: the engine used as a library, without a
// server (as `opa eval` / `opa test` do).
#include "clients/cli/offline_commands.h"

#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "clients/cli/args.h"
#include "clients/cli/decision_output.h"
#include "clients/cli/request_input.h"
#include "service/bundle_test/policy_tests.h"
#include "service/convert/convert.h"
#include "service/engine/bundle.h"

namespace arbiter::cli {

absl::StatusOr<std::shared_ptr<const Bundle>> LoadBundleDir(const std::string& dir,
                                                            BundleFiles* files_out) {
  absl::StatusOr<BundleFiles> files = ReadBundleDir(dir);
  if (!files.ok()) return files.status();
  auto bundle = Bundle::Load(*files);
  if (files_out != nullptr) *files_out = *std::move(files);
  return bundle;
}

int Fail(const absl::Status& status) {
  std::cerr << "arbiter: " << status.message() << "\n";
  return kExitCouldNotDecide;
}

int EvalCommand(int argc, char** argv) {
  std::set<std::string> with_value = RequestFlags();
  with_value.insert({"bundle", "kind", "output", "now"});
  auto args = ParseArgs(argc, argv, 2, with_value, {});
  if (!args.ok()) return Fail(args.status());
  if (!args->Has("bundle")) return Fail(absl::InvalidArgumentError("--bundle DIR: required"));
  absl::StatusOr<Kind> kind = ParseKind(args->Get("kind"));
  if (!kind.ok())
    return Fail(absl::InvalidArgumentError(absl::StrCat("--kind: ", kind.status().message())));
  std::string output = args->Get("output", "text");
  if (output != "text" && output != "json") {
    return Fail(absl::InvalidArgumentError("--output: expected text or json"));
  }
  auto bundle = LoadBundleDir(args->Get("bundle"), nullptr);
  if (!bundle.ok()) return Fail(bundle.status());
  absl::StatusOr<v1::DryRunCase> proto = BuildRequest(*kind, *args);
  if (!proto.ok()) return Fail(proto.status());
  absl::StatusOr<Request> request = FromProto(*proto);
  if (!request.ok()) return Fail(request.status());
  EvalOptions options;
  if (args->Has("now")) {
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, args->Get("now"), &options.now, &err)) {
      return Fail(absl::InvalidArgumentError(absl::StrCat("--now: ", err)));
    }
  }
  options.decision_id = "eval";
  absl::StatusOr<Decision> decision = (*bundle)->Evaluate(*request, options);
  if (!decision.ok()) return Fail(decision.status());
  v1::Decision out;
  ToProto(*decision, &out);
  if (output == "json") {
    std::cout << ToJson(out, true);
  } else {
    std::cout << FormatDecisionText(out, std::string(KindName(*kind)));
  }
  return ExitCodeFor(out);
}

int TestCommand(int argc, char** argv) {
  auto args = ParseArgs(argc, argv, 2, {"output"}, {"verbose"});
  if (!args.ok()) return Fail(args.status());
  if (args->positional.size() != 1) {
    return Fail(absl::InvalidArgumentError("usage: arbiter test DIR [--output text|junit]"));
  }
  std::string output = args->Get("output", "text");
  if (output != "text" && output != "junit") {
    return Fail(absl::InvalidArgumentError("--output: expected text or junit"));
  }
  BundleFiles files;
  auto bundle = LoadBundleDir(args->positional[0], &files);
  if (!bundle.ok()) return Fail(bundle.status());
  if ((*bundle)->test_files().empty()) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat(args->positional[0], ": no test files (tests/*.yaml)")));
  }
  absl::StatusOr<TestReport> report = RunBundleTests(**bundle, files);
  if (!report.ok()) return Fail(report.status());
  if (output == "junit") {
    std::cout << FormatTestJunit(*report);
  } else {
    std::cout << FormatTestText(*report, args->Has("verbose"));
  }
  return report->failed == 0 ? 0 : 1;
}

int ValidateCommand(int argc, char** argv) {
  auto args = ParseArgs(argc, argv, 2, {}, {});
  if (!args.ok()) return Fail(args.status());
  if (args->positional.size() != 1) {
    return Fail(absl::InvalidArgumentError("usage: arbiter validate DIR"));
  }
  auto bundle = LoadBundleDir(args->positional[0], nullptr);
  if (!bundle.ok()) {
    std::cerr << bundle.status().message() << "\n";
    return kExitCouldNotDecide;
  }
  std::map<std::string, int> per_origin;
  for (const PolicyInfo& p : (*bundle)->policies()) per_origin[p.origin()]++;
  std::cout << "bundle " << args->positional[0] << " is valid: revision " << (*bundle)->revision()
            << ", " << (*bundle)->policies().size() << " policies (";
  bool first = true;
  for (const auto& [origin, n] : per_origin) {
    std::cout << (first ? "" : ", ") << origin << " " << n;
    first = false;
  }
  std::cout << "), " << (*bundle)->catalog().products().size() << " products, "
            << (*bundle)->catalog().contracts().size() << " contracts, "
            << (*bundle)->test_files().size() << " test files\n";
  return 0;
}

}  // namespace arbiter::cli
