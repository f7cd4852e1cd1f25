#include "clients/cli/dry_run_command.h"

#include <iostream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "clients/cli/args.h"
#include "clients/cli/connection.h"
#include "clients/cli/offline_commands.h"
#include "clients/cli/request_input.h"
#include "clients/cpp/arbiter_client.h"
#include "service/dryrun/dry_run.h"
#include "service/dryrun/report.h"
#include "service/engine/bundle.h"

namespace arbiter::cli {
namespace {

constexpr char kUsage[] =
    "usage: arbiter dry-run --candidate DIR (--requests FILE | --replay DECISIONS.jsonl | "
    "--server ADDR --recent N [--since RFC3339]) [--bundle DIR] [--output text|json|markdown] "
    "[--examples N] [--at RFC3339]";

// What the command line asks for, checked as a whole before anything is read.
struct DryRunFlags {
  std::string candidate;
  std::string active_dir;  // offline only
  std::string server;      // empty: offline
  std::string cases_file;  // --requests or --replay
  bool lenient = false;    // --replay: a bad line is a failed request, not an error
  int recent = 0;
  bool has_since = false;
  absl::Time since;
  std::optional<absl::Time> at;  // --at: the candidate's ctx.now
  std::string output = "text";
  int examples = 5;
  int timeout_ms = 60000;
  client::ClientOptions client;  // TLS to the server
};

absl::StatusOr<DryRunFlags> CheckFlags(const Args& args) {
  DryRunFlags f;
  std::vector<std::string> problems;
  if (!args.positional.empty()) problems.push_back(absl::StrCat("unexpected ", args.positional[0]));
  f.candidate = args.Get("candidate");
  if (f.candidate.empty()) problems.push_back("--candidate DIR: required");
  f.server = args.Get("server");
  if (absl::Status s = ApplyTls(args, f.client); !s.ok()) problems.emplace_back(s.message());
  if (args.Has("requests") && args.Has("replay")) {
    problems.push_back("--requests and --replay: give one");
  }
  f.lenient = args.Has("replay");
  f.cases_file = f.lenient ? args.Get("replay") : args.Get("requests");
  if (args.Has("recent") && (!absl::SimpleAtoi(args.Get("recent"), &f.recent) || f.recent <= 0)) {
    problems.push_back("--recent: expected a positive number of decisions");
  }
  if (args.Has("since")) {
    std::string err;
    f.has_since = absl::ParseTime(absl::RFC3339_full, args.Get("since"), &f.since, &err);
    if (!f.has_since) problems.push_back(absl::StrCat("--since: expected RFC 3339: ", err));
  }
  if (args.Has("at")) {
    std::string err;
    absl::Time t;
    if (absl::ParseTime(absl::RFC3339_full, args.Get("at"), &t, &err)) {
      f.at = t;
    } else {
      problems.push_back(absl::StrCat("--at: expected RFC 3339 (2027-03-01T00:00:00Z): ", err));
    }
  }
  bool replay_server = args.Has("recent") || args.Has("since");
  if (replay_server && f.server.empty()) {
    problems.push_back(
        "--recent/--since replay a server's log: add --server ADDR (offline, use "
        "--replay DECISIONS.jsonl)");
  }
  if (replay_server && !f.cases_file.empty()) {
    problems.push_back("--recent/--since and --requests/--replay: give one source of requests");
  }
  if (!replay_server && f.cases_file.empty()) {
    problems.push_back(
        "requests: give --requests FILE, --replay DECISIONS.jsonl or --server ADDR "
        "--recent N");
  }
  if (!f.server.empty() && args.Has("bundle")) {
    problems.push_back("--bundle and --server: the server's active bundle is compared; give one");
  }
  f.active_dir = args.Get("bundle", "policies");
  f.output = args.Get("output", "text");
  if (f.output != "text" && f.output != "json" && f.output != "markdown") {
    problems.push_back("--output: expected text, json or markdown");
  }
  if (args.Has("examples") && (!absl::SimpleAtoi(args.Get("examples"), &f.examples) ||
                               f.examples < 0 || f.examples > kMaxDryRunExamples)) {
    problems.push_back(absl::StrCat("--examples: expected 0 to ", kMaxDryRunExamples));
  }
  if (args.Has("timeout-ms") &&
      (!absl::SimpleAtoi(args.Get("timeout-ms"), &f.timeout_ms) || f.timeout_ms <= 0)) {
    problems.push_back("--timeout-ms: expected a positive integer");
  }
  if (!problems.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(absl::StrJoin(problems, "\n  "), "\n", kUsage));
  }
  return f;
}

absl::StatusOr<std::vector<DryRunInput>> ReadCases(const DryRunFlags& f, bool lenient) {
  absl::StatusOr<std::string> content = ReadFile(f.cases_file);
  if (!content.ok()) return content.status();
  return ParseCaseLines(*content, f.cases_file, lenient);
}

absl::StatusOr<v1::DryRunResponse> RunOffline(const DryRunFlags& f, const BundleFiles& files) {
  absl::StatusOr<std::vector<DryRunInput>> inputs = ReadCases(f, f.lenient);
  if (!inputs.ok()) return inputs.status();
  auto active = LoadBundleDir(f.active_dir, nullptr);
  if (!active.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "active bundle ", f.active_dir, " does not load: ", active.status().message()));
  }
  CandidateLoad candidate = LoadCandidate(files);
  if (candidate.bundle == nullptr) {
    v1::DryRunResponse response;
    response.set_active_revision((*active)->revision());
    for (std::string& e : candidate.errors) response.add_candidate_errors(std::move(e));
    return response;
  }
  DryRunOptions options;
  options.max_examples = f.examples;
  options.candidate_at = f.at;
  return CompareBundles(**active, *candidate.bundle, *inputs, options);
}

absl::StatusOr<v1::DryRunResponse> RunOnServer(const DryRunFlags& f, const BundleFiles& files) {
  v1::DryRunRequest request;
  auto& inline_files = *request.mutable_candidate()->mutable_files();
  for (const auto& [path, content] : files.files) inline_files[path] = content;
  // On the wire 0 means the server's default (5), so --examples 0 gets the default from a server.
  request.set_max_examples(f.examples);
  if (f.at.has_value()) {
    request.mutable_candidate_at()->set_seconds(absl::ToUnixSeconds(*f.at));
  }
  if (!f.cases_file.empty()) {
    // Cases travel as protos: a line that cannot be read cannot be sent, so it is an error here.
    absl::StatusOr<std::vector<DryRunInput>> inputs = ReadCases(f, /*lenient=*/false);
    if (!inputs.ok()) return inputs.status();
    for (DryRunInput& in : *inputs) *request.add_cases() = std::move(in.request);
  } else {
    request.set_recent(f.recent);
    if (f.has_since) {
      int64_t seconds = absl::ToUnixSeconds(f.since);
      request.mutable_since()->set_seconds(seconds);
      request.mutable_since()->set_nanos(
          static_cast<int32_t>(absl::ToInt64Nanoseconds(f.since - absl::FromUnixSeconds(seconds))));
    }
  }
  client::ClientOptions options = f.client;
  options.caller = "arbiter-cli dry-run";
  options.timeout = absl::Milliseconds(f.timeout_ms);
  client::Client c(f.server, options);
  return c.DryRun(request);
}

}  // namespace

int DryRunCommand(int argc, char** argv) {
  std::set<std::string> with_value = {"candidate", "requests",   "replay", "server",
                                      "recent",    "since",      "bundle", "output",
                                      "examples",  "timeout-ms", "at"};
  with_value.insert(TlsFlags().begin(), TlsFlags().end());
  auto args = ParseArgs(argc, argv, 2, with_value, {});
  if (!args.ok()) return Fail(args.status());
  absl::StatusOr<DryRunFlags> flags = CheckFlags(*args);
  if (!flags.ok()) return Fail(flags.status());
  absl::StatusOr<BundleFiles> files = ReadBundleDir(flags->candidate);
  if (!files.ok()) {
    return Fail(absl::Status(files.status().code(),
                             absl::StrCat("--candidate: ", files.status().message())));
  }
  absl::StatusOr<v1::DryRunResponse> response =
      flags->server.empty() ? RunOffline(*flags, *files) : RunOnServer(*flags, *files);
  if (!response.ok()) return Fail(response.status());

  DryRunReportLabels labels;
  labels.candidate = flags->candidate;
  if (flags->at.has_value()) labels.candidate_at = args->Get("at");
  labels.active =
      flags->server.empty() ? flags->active_dir : absl::StrCat("server ", flags->server);
  if (flags->output == "json") {
    std::cout << FormatDryRunJson(*response);
  } else if (flags->output == "markdown") {
    std::cout << FormatDryRunMarkdown(*response, labels);
  } else {
    std::cout << FormatDryRunText(*response, labels);
  }
  return DryRunExitCode(*response);
}

}  // namespace arbiter::cli
