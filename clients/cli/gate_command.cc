#include "clients/cli/gate_command.h"

#include <iostream>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "clients/cli/args.h"
#include "clients/cli/connection.h"
#include "clients/cli/gate_input.h"
#include "clients/cli/gate_output.h"
#include "clients/cli/offline_commands.h"
#include "clients/cpp/arbiter_client.h"
#include "service/convert/convert.h"
#include "service/impact/impact.h"

namespace arbiter::cli {
namespace {

// Reads the descriptor, contracts and previous version named by the flags (or found in the
// conventional layout). The offline catalog fallback for the previous version needs the bundle
// and is applied by the caller.
absl::StatusOr<GateInputs> ReadInputs(const Args& args) {
  GateInputs in;
  bool discover = !args.Has("product") && !args.Has("contract");
  std::string product_path = args.Get("product");
  std::vector<std::string> contract_paths = args.GetAll("contract");
  if (discover) {
    absl::StatusOr<std::string> p = DiscoverProduct(".");
    if (!p.ok()) return p.status();
    product_path = *p;
    absl::StatusOr<std::vector<std::string>> cs = DiscoverContracts(".");
    if (!cs.ok()) return cs.status();
    contract_paths = *cs;
  } else if (product_path.empty()) {
    return absl::InvalidArgumentError("--product FILE: required when --contract is given");
  }
  absl::StatusOr<GateFile> product = ReadGateFile(product_path);
  if (!product.ok()) return product.status();
  in.product = *std::move(product);
  for (const std::string& path : contract_paths) {
    absl::StatusOr<GateFile> c = ReadGateFile(path);
    if (!c.ok()) return c.status();
    in.contracts.push_back(*std::move(c));
  }

  if (args.Has("previous")) {
    absl::StatusOr<GateFile> prev = ReadGateFile(args.Get("previous"));
    if (!prev.ok()) return prev.status();
    in.previous = *std::move(prev);
    in.previous_source = absl::StrCat("file ", args.Get("previous"));
  }
  for (const std::string& path : args.GetAll("previous-contract")) {
    absl::StatusOr<GateFile> c = ReadGateFile(path);
    if (!c.ok()) return c.status();
    in.previous_contracts.push_back(*std::move(c));
  }
  if (args.Has("previous-ref")) {
    std::string ref = args.Get("previous-ref");
    std::vector<std::string> paths = {product_path};
    std::set<std::string> seen = {product_path};
    for (const std::string& p : contract_paths) {
      if (seen.insert(p).second) paths.push_back(p);
    }
    if (discover) {
      // Contracts deleted since `ref` are still previous contracts: their removal is breaking.
      absl::StatusOr<std::vector<std::string>> old = DiscoverContractsAtGitRef(ref);
      if (!old.ok()) return old.status();
      for (const std::string& p : *old) {
        if (seen.insert(p).second) paths.push_back(p);
      }
    }
    absl::StatusOr<std::vector<std::optional<GateFile>>> files = ReadAtGitRef(ref, paths);
    if (!files.ok()) return files.status();
    if ((*files)[0].has_value()) in.previous = *std::move((*files)[0]);
    for (size_t i = 1; i < files->size(); ++i) {
      if ((*files)[i].has_value()) in.previous_contracts.push_back(*std::move((*files)[i]));
    }
    in.previous_source =
        in.previous.has_value()
            ? absl::StrCat("git ", ref)
            : absl::StrCat("git ", ref, " (no descriptor there: first deployment)");
  }
  in.environment = args.Get("env");
  in.pipeline = PipelineMetadata(args);
  in.requester = args.Get("requester");
  if (in.requester.empty() && in.pipeline.count("actor")) in.requester = in.pipeline["actor"];
  return in;
}

// The decision log files `--decisions` names, each with its rotations (FILE.1, FILE.2, ...
// that exist), each read once. NOT_FOUND naming a file that does not exist.
absl::StatusOr<std::vector<std::string>> DecisionFiles(const std::vector<std::string>& named) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const std::string& path : named) {
    std::vector<std::string> files = impact::RotatedFiles(path, 1000);
    if (files.empty() || files[0] != path) {
      return absl::NotFoundError(absl::StrCat("--decisions ", path, ": no such file"));
    }
    for (std::string& f : files) {
      if (seen.insert(f).second) out.push_back(std::move(f));
    }
  }
  return out;
}

absl::StatusOr<v1::Decision> DecideOffline(const std::string& bundle_dir, GateInputs& in,
                                           bool previous_given, const impact::Options& impact,
                                           const impact::Source& source) {
  absl::StatusOr<std::shared_ptr<const Bundle>> bundle = LoadBundleDir(bundle_dir, nullptr);
  if (!bundle.ok()) {
    return absl::Status(bundle.status().code(),
                        absl::StrCat("bundle ", bundle_dir, ": ", bundle.status().message()));
  }
  if (!previous_given) {
    absl::Status s = PreviousFromCatalog(bundle_dir, (*bundle)->catalog(), &in);
    if (!s.ok()) return s;
  }
  v1::DryRunCase c;
  *c.mutable_deployment() = BuildDeploymentRequest(in);
  absl::StatusOr<Request> request = FromProto(c);
  if (!request.ok()) return request.status();
  EvalOptions options;
  options.decision_id = "gate";
  options.deployment_impact = [&](const DeploymentRequest& d, const Value& change) {
    impact::Options o = impact;
    o.now = options.now;
    return impact::Compute(d.product, d.previous ? &*d.previous : nullptr, d.contracts,
                           d.previous_contracts, change, o, source);
  };
  absl::StatusOr<Decision> decision = (*bundle)->Evaluate(*request, options);
  if (!decision.ok()) return decision.status();
  v1::Decision out;
  ToProto(*decision, &out);
  return out;
}

}  // namespace

int GateCommand(int argc, char** argv) {
  std::set<std::string> with_value = {
      "product",      "contract",  "previous",   "previous-contract",
      "previous-ref", "env",       "server",     "bundle",
      "output",       "commit",    "actor",      "run-url",
      "pipeline",     "requester", "timeout-ms", "decisions",
      "since"};
  with_value.insert(TlsFlags().begin(), TlsFlags().end());
  // `--decisions FILE...`: the words after --decisions up to the next flag are all files (a
  // shell glob such as decisions.log* gives several).
  std::vector<std::string> words(argv, argv + argc);
  std::vector<std::string> expanded;
  for (size_t i = 0; i < words.size(); ++i) {
    expanded.push_back(words[i]);
    if (words[i] != "--decisions") continue;
    if (i + 1 < words.size()) expanded.push_back(words[++i]);
    while (i + 1 < words.size() && !absl::StartsWith(words[i + 1], "--")) {
      expanded.push_back("--decisions");
      expanded.push_back(words[++i]);
    }
  }
  std::vector<char*> argv2;
  for (std::string& w : expanded) argv2.push_back(w.data());
  auto args =
      ParseArgs(static_cast<int>(argv2.size()), argv2.data(), 2, with_value, {"fail-on-warn"});
  if (!args.ok()) return Fail(args.status());
  if (!args->positional.empty()) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("unexpected argument \"", args->positional[0], "\" (see arbiter help)")));
  }
  if (args->Get("env").empty()) return Fail(absl::InvalidArgumentError("--env ENV: required"));
  if (args->Has("server") == args->Has("bundle")) {
    return Fail(absl::InvalidArgumentError(
        "exactly one of --server ADDR (ask arbiterd) or --bundle DIR (offline) is required"));
  }
  if (args->Has("previous") && args->Has("previous-ref")) {
    return Fail(absl::InvalidArgumentError("--previous and --previous-ref: choose one"));
  }
  if (args->Has("previous-contract") && !args->Has("previous")) {
    return Fail(absl::InvalidArgumentError("--previous-contract needs --previous FILE"));
  }
  std::string output = args->Get("output", "text");
  if (output != "text" && output != "json" && output != "junit" && output != "github" &&
      output != "markdown") {
    return Fail(
        absl::InvalidArgumentError("--output: expected text, json, junit, github or markdown"));
  }
  // The blast radius: offline from the decision log files named here; arbiterd reads its own.
  impact::Options impact_options;
  impact::Source impact_source;
  if (args->Has("server") && (args->Has("decisions") || args->Has("since"))) {
    return Fail(absl::InvalidArgumentError(
        "--decisions and --since are for --bundle: with --server, arbiterd reads its own "
        "decision log"));
  }
  if (args->Has("since")) {
    absl::StatusOr<absl::Duration> w = impact::ParseWindow(args->Get("since"), "--since");
    if (!w.ok()) return Fail(w.status());
    impact_options.window = *w;
  }
  if (args->Has("decisions")) {
    absl::StatusOr<std::vector<std::string>> files = DecisionFiles(args->GetAll("decisions"));
    if (!files.ok()) return Fail(files.status());
    impact_source.files = *std::move(files);
    impact_source.name = absl::StrCat("decision log ", absl::StrJoin(impact_source.files, ", "));
  }
  int timeout_ms = 10000;
  if (args->Has("timeout-ms") && !absl::SimpleAtoi(args->Get("timeout-ms"), &timeout_ms)) {
    return Fail(absl::InvalidArgumentError("--timeout-ms: expected an integer"));
  }

  absl::StatusOr<GateInputs> in = ReadInputs(*args);
  if (!in.ok()) return Fail(in.status());

  absl::StatusOr<v1::Decision> decision;
  if (args->Has("bundle")) {
    decision =
        DecideOffline(args->Get("bundle"), *in, args->Has("previous") || args->Has("previous-ref"),
                      impact_options, impact_source);
  } else {
    client::ClientOptions options;
    if (absl::Status s = ApplyTls(*args, options); !s.ok()) return Fail(s);
    options.caller = "arbiter-gate";
    options.timeout = absl::Milliseconds(timeout_ms);
    client::Client c(args->Get("server"), options);
    decision = c.CheckDeployment(BuildDeploymentRequest(*in));
    if (!decision.ok()) {
      decision = absl::Status(
          decision.status().code(),
          absl::StrCat("server ", args->Get("server"), ": ", decision.status().message()));
    }
  }
  if (!decision.ok()) return Fail(decision.status());

  GateOutcome outcome = OutcomeOf(*decision, args->Has("fail-on-warn"));
  if (output == "json") {
    std::cout << FormatGateJson(*in, *decision, outcome);
  } else if (output == "junit") {
    std::cout << FormatGateJunit(*in, *decision, outcome);
  } else if (output == "github") {
    std::cout << FormatGateGithub(*in, *decision, outcome);
  } else if (output == "markdown") {
    std::cout << FormatGateMarkdown(*in, *decision, outcome);
  } else {
    std::cout << FormatGateText(*in, *decision, outcome);
  }
  return outcome.ExitCode();
}

}  // namespace arbiter::cli
