// `arbiter eval`, `arbiter test` and `arbiter validate`: the engine used as a library, without a
// server (as `opa eval` / `opa test` do).
#include "clients/cli/offline_commands.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "clients/cli/args.h"
#include "clients/cli/decision_output.h"
#include "clients/cli/request_input.h"
#include "service/bundle_test/policy_tests.h"
#include "service/convert/convert.h"
#include "service/decision_json/decision_json.h"
#include "service/engine/bundle.h"
#include "service/explain/explain.h"
#include "service/trino/replay.h"
#include "service/trino/translate.h"
#include "service/value/parse.h"

namespace arbiter::cli {

absl::StatusOr<std::shared_ptr<const Bundle>> LoadBundleDir(const std::string& dir,
                                                            BundleFiles* files_out,
                                                            const LoadOptions& options) {
  absl::StatusOr<BundleFiles> files = ReadBundleDir(dir);
  if (!files.ok()) return files.status();
  auto bundle = Bundle::Load(*files, options);
  if (files_out != nullptr) *files_out = *std::move(files);
  return bundle;
}

int Fail(const absl::Status& status) {
  std::cerr << "arbiter: " << status.message() << "\n";
  return kExitCouldNotDecide;
}

namespace {

// `--group-roles FILE`: a YAML map of group -> grants, or an arbiterd config file, whose
// trino.group_roles is used.
absl::StatusOr<std::map<std::string, std::string>> ReadGroupRoles(const std::string& path) {
  std::map<std::string, std::string> out;
  if (path.empty()) return out;
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("--group-roles ", path, ": cannot read"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  absl::StatusOr<Value> doc = ParseYaml(text, path);
  if (!doc.ok()) return doc.status();
  const Value* roles = &*doc;
  if (const Value* from_config = doc->FindPath({"trino", "group_roles"})) roles = from_config;
  if (roles->is_null()) return out;
  if (!roles->is_map()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--group-roles ", path, ": expected a map of group -> grants, or arbiterd's config"));
  }
  for (const auto& [group, grants] : roles->as_map()) {
    if (!grants.is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--group-roles ", path, ": group ", group, ": expected a string of grants"));
    }
    out[group] = grants.as_string();
  }
  return out;
}

// `arbiter eval --trino FILE`: the body Trino's OPA plugin POSTed, replayed on the bundle through
// the Trino endpoint's own translation. Prints the JSON answer the HTTP route gives.
int EvalTrino(const Args& args, std::shared_ptr<const Bundle> bundle, EvalOptions options) {
  std::ifstream in(args.Get("trino"), std::ios::binary);
  if (!in) {
    return Fail(absl::NotFoundError(absl::StrCat("--trino ", args.Get("trino"), ": cannot read")));
  }
  std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  trino::Endpoint endpoint = trino::InferEndpoint(body);
  if (args.Has("trino-endpoint")) {
    absl::StatusOr<trino::Endpoint> e = trino::ParseEndpoint(args.Get("trino-endpoint"));
    if (!e.ok()) {
      return Fail(
          absl::InvalidArgumentError(absl::StrCat("--trino-endpoint: ", e.status().message())));
    }
    endpoint = *e;
  }
  auto group_roles = ReadGroupRoles(args.Get("group-roles"));
  if (!group_roles.ok()) return Fail(group_roles.status());
  trino::Replay replay =
      trino::ReplayRequest(*bundle, endpoint, body, trino::IdentityMapper(*group_roles), options);
  std::cout << replay.answer.body << "\n";
  if (replay.answer.status != 200) {
    std::cerr << "arbiter: the " << trino::EndpointName(endpoint) << " endpoint answers HTTP "
              << replay.answer.status << "\n";
    return kExitCouldNotDecide;
  }
  bool all_allowed = !replay.plan.items.empty();
  for (const auto& [begin, end] : replay.plan.items) {
    bool any = false;
    for (size_t i = begin; i < end; ++i) any = any || replay.decisions[i]->effect == Effect::kAllow;
    all_allowed = all_allowed && any;
  }
  if (args.Has("explain")) {
    std::cout << FormatChecksExplain(
        absl::StrCat("endpoint: ", trino::EndpointName(endpoint), ", operation ",
                     replay.plan.operation, ", user ", replay.plan.user),
        replay.checks, replay.decisions);
  }
  return all_allowed ? 0 : 1;
}

}  // namespace

int EvalCommand(int argc, char** argv) {
  std::set<std::string> with_value = RequestFlags();
  with_value.insert({"bundle", "kind", "output", "now", "trino", "trino-endpoint", "group-roles"});
  auto args = ParseArgs(argc, argv, 2, with_value, {"explain"});
  if (!args.ok()) return Fail(args.status());
  if (!args->Has("bundle")) return Fail(absl::InvalidArgumentError("--bundle DIR: required"));
  if (args->Has("trino")) {
    std::vector<std::string> refused;
    for (const std::string& f : RequestFlags()) {
      if (args->Has(f)) refused.push_back(absl::StrCat("--", f));
    }
    for (const char* f : {"kind", "output"}) {
      if (args->Has(f)) refused.push_back(absl::StrCat("--", f));
    }
    if (!refused.empty()) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat("--trino FILE is the whole request (and the answer is Trino's JSON): drop ",
                       absl::StrJoin(refused, ", "))));
    }
  } else {
    for (const char* f : {"trino-endpoint", "group-roles"}) {
      if (args->Has(f)) {
        return Fail(absl::InvalidArgumentError(absl::StrCat("--", f, ": only with --trino FILE")));
      }
    }
  }
  // A Trino request is access checks.
  absl::StatusOr<Kind> kind = ParseKind(args->Has("trino") ? "access" : args->Get("kind"));
  if (!kind.ok())
    return Fail(absl::InvalidArgumentError(absl::StrCat("--kind: ", kind.status().message())));
  std::string output = args->Get("output", "text");
  if (output != "text" && output != "json") {
    return Fail(absl::InvalidArgumentError("--output: expected text or json"));
  }
  if (args->Has("explain") && output != "text") {
    return Fail(absl::InvalidArgumentError("--explain prints text: drop --output json"));
  }
  auto bundle = LoadBundleDir(args->Get("bundle"), nullptr);
  if (!bundle.ok()) return Fail(bundle.status());
  EvalOptions options;
  if (args->Has("now")) {
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, args->Get("now"), &options.now, &err)) {
      return Fail(absl::InvalidArgumentError(absl::StrCat("--now: ", err)));
    }
  }
  options.decision_id = "eval";
  options.trace = args->Has("explain");
  if (args->Has("trino")) return EvalTrino(*args, *bundle, options);
  absl::StatusOr<v1::DryRunCase> proto = BuildRequest(*kind, *args);
  if (!proto.ok()) return Fail(proto.status());
  absl::StatusOr<Request> request = FromProto(*proto);
  if (!request.ok()) return Fail(request.status());
  absl::StatusOr<Decision> decision = (*bundle)->Evaluate(*request, options);
  if (!decision.ok()) return Fail(decision.status());
  v1::Decision out;
  ToProto(*decision, &out);
  if (output == "json") {
    // The one decision shape (docs/decision-json.md), as the decision log writes it.
    std::cout << json::DecisionJson(*decision, *kind) << "\n";
  } else {
    std::cout << FormatDecisionText(out, std::string(KindName(*kind)));
    if (args->Has("explain")) std::cout << FormatExplain(*decision, *kind);
  }
  return ExitCodeFor(out);
}

int TestCommand(int argc, char** argv) {
  auto args =
      ParseArgs(argc, argv, 2, {"output", "run", "threshold", "lcov"}, {"verbose", "coverage"});
  if (!args.ok()) return Fail(args.status());
  if (args->positional.size() != 1) {
    return Fail(absl::InvalidArgumentError(
        "usage: arbiter test DIR [--run REGEX] [--coverage [--threshold PCT] [--lcov FILE]] "
        "[--output text|junit] [--verbose]"));
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
  bool coverage = args->Has("coverage") || args->Has("threshold") || args->Has("lcov");
  double threshold = 0;
  if (args->Has("threshold") &&
      (!absl::SimpleAtod(args->Get("threshold"), &threshold) || threshold < 0 || threshold > 100)) {
    return Fail(absl::InvalidArgumentError("--threshold: expected a percentage 0..100"));
  }
  TestOptions options;
  options.run = args->Get("run");
  LineCoverage lines;
  if (coverage) options.coverage = &lines;
  absl::StatusOr<TestReport> report = RunBundleTests(**bundle, files, options);
  if (!report.ok()) return Fail(report.status());
  if (report->cases.empty()) {
    return Fail(
        absl::InvalidArgumentError(absl::StrCat("--run ", options.run, ": no test case matches")));
  }
  if (output == "junit") {
    std::cout << FormatTestJunit(*report);
  } else {
    std::cout << FormatTestText(*report, args->Has("verbose"));
  }
  if (!coverage) return report->failed == 0 ? 0 : 1;
  CoverageReport cov = BuildCoverage(**bundle, lines);
  // With junit on stdout, the coverage table goes to stderr so the XML stays well-formed.
  (output == "junit" ? std::cerr : std::cout) << FormatCoverageText(cov);
  if (args->Has("lcov")) {
    std::ofstream lcov(args->Get("lcov"), std::ios::binary | std::ios::trunc);
    lcov << FormatCoverageLcov(cov, lines, args->positional[0]);
    if (!lcov) {
      return Fail(
          absl::UnavailableError(absl::StrCat("--lcov ", args->Get("lcov"), ": cannot write")));
    }
  }
  if (cov.percent() + 1e-9 < threshold) {
    std::cerr << "arbiter: coverage " << cov.percent() << "% is under the threshold of "
              << threshold << "%\n";
    return 1;
  }
  return report->failed == 0 ? 0 : 1;
}

namespace {

// `arbiter validate` warns about waivers that end within this many days (issue 15).
constexpr int kWaiverWarningDays = 14;

// "in 9 days", "in 1 day", "within a day".
std::string InDays(absl::Duration left) {
  int64_t days = absl::IDivDuration(left, absl::Hours(24), &left);
  if (days == 0) return "within a day";
  return absl::StrCat("in ", days, days == 1 ? " day" : " days");
}

// Runs the product policies over every catalog descriptor, as a registration would: a catalog
// that holds products its own bundle refuses is a mistake. Problems go to `lines`.
void CheckCatalogProducts(const Bundle& bundle, std::vector<std::string>& errors,
                          std::vector<std::string>& notes) {
  for (const Catalog::Document& doc : bundle.catalog().products()) {
    ProductRequest req;
    req.product = *doc.tree;
    req.operation = "register";
    EvalOptions options;
    options.decision_id = "validate";
    absl::StatusOr<Decision> d = bundle.Evaluate(Request(std::move(req)), options);
    if (!d.ok()) {
      errors.push_back(absl::StrCat(
          doc.file, ":1: error: product policies could not decide: ", d.status().message()));
      continue;
    }
    for (const Reason& r : d->reasons) {
      bool denies = r.effect == Effect::kDeny && r.severity == Severity::kError;
      std::string line =
          absl::StrCat(doc.file, ":1: ", denies ? "error" : "note", ": ", r.policy_id, ": ",
                       r.message, r.detail.empty() ? "" : absl::StrCat(" (", r.detail, ")"));
      (denies ? errors : notes).push_back(std::move(line));
    }
  }
}

}  // namespace

int ValidateCommand(int argc, char** argv) {
  auto args = ParseArgs(argc, argv, 2, {"now"}, {"strict", "no-tests"});
  if (!args.ok()) return Fail(args.status());
  if (args->positional.size() != 1) {
    return Fail(absl::InvalidArgumentError(
        "usage: arbiter validate DIR [--strict] [--no-tests] [--now RFC3339]"));
  }
  // Waivers are judged at --now (the clock by default): when they may be at most, and which
  // expire soon.
  LoadOptions load;
  if (args->Has("now")) {
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, args->Get("now"), &load.now, &err)) {
      return Fail(absl::InvalidArgumentError(absl::StrCat("--now: ", err)));
    }
  }
  BundleFiles files;
  auto bundle = LoadBundleDir(args->positional[0], &files, load);
  if (!bundle.ok()) {
    std::cerr << bundle.status().message() << "\n";
    return kExitCouldNotDecide;
  }
  const Bundle& b = **bundle;
  bool strict = args->Has("strict");
  std::vector<std::string> errors, warnings, notes;
  for (const LintFinding& f : b.Lint()) {
    (f.level == LintFinding::Level::kError ? errors : warnings).push_back(f.Format());
  }
  size_t lint_errors = errors.size();
  size_t lint_warnings = warnings.size();
  int cases = 0;
  std::string tests_summary = "test cases not run (--no-tests)";
  if (absl::Status s = ValidateTestFiles(b, files, &cases); !s.ok()) {
    // "test files have N problems:\nfile:line: message..."
    std::vector<std::string> lines = absl::StrSplit(s.message(), '\n');
    for (size_t i = 1; i < lines.size(); ++i) {
      size_t colon = lines[i].find(": ", lines[i].find(':') + 1);
      errors.push_back(
          colon == std::string::npos
              ? lines[i]
              : absl::StrCat(lines[i].substr(0, colon), ": error", lines[i].substr(colon)));
    }
    tests_summary = absl::StrCat("test files have ", lines.size() - 1, " problems");
  } else if (!args->Has("no-tests")) {
    absl::StatusOr<TestReport> report = RunBundleTests(b, files);
    if (!report.ok()) {
      errors.push_back(absl::StrCat(args->positional[0], ": error: ", report.status().message()));
      tests_summary = "test cases could not run";
    } else {
      for (const TestCaseResult& c : report->cases) {
        if (c.passed) continue;
        errors.push_back(absl::StrCat(c.file, ":", c.line, ": error: test case \"", c.name,
                                      "\" fails: ", absl::StrJoin(c.failures, "; ")));
      }
      tests_summary = absl::StrCat(report->passed, "/", report->cases.size(), " test cases pass");
    }
  }
  CheckCatalogProducts(b, errors, notes);
  int waivers_in_force = 0, waivers_ending = 0;
  for (const Waiver& w : b.waivers()) {
    // Unknown and non-waivable policies are load errors; here only time is judged.
    if (!w.ActiveAt(load.now)) {
      warnings.push_back(absl::StrCat(w.file, ":", w.line, ": warning: waiver ", w.id, " (",
                                      w.policy, ") expired ", w.expires_text,
                                      " and no longer applies: remove or renew it"));
      continue;
    }
    ++waivers_in_force;
    absl::Duration left = w.expires - load.now;
    if (left <= absl::Hours(24 * kWaiverWarningDays)) {
      ++waivers_ending;
      warnings.push_back(absl::StrCat(w.file, ":", w.line, ": warning: waiver ", w.id, " (",
                                      w.policy, ") expires ", w.expires_text, ", ", InDays(left),
                                      ": renew it or let ", w.policy, " apply again"));
    }
  }
  for (const std::string& e : errors) std::cout << e << "\n";
  for (const std::string& w : warnings) std::cout << w << "\n";
  for (const std::string& n : notes) std::cout << n << "\n";

  std::map<std::string, int> per_origin;
  for (const PolicyInfo& p : b.policies()) per_origin[p.origin()]++;
  size_t problems = errors.size() + (strict ? warnings.size() : 0);
  std::cout << "bundle " << args->positional[0] << (problems == 0 ? " is valid" : " is NOT valid")
            << ": revision " << b.revision() << ", " << b.policies().size() << " policies (";
  bool first = true;
  for (const auto& [origin, n] : per_origin) {
    std::cout << (first ? "" : ", ") << origin << " " << n;
    first = false;
  }
  std::cout << "), " << b.catalog().products().size() << " products, "
            << b.catalog().contracts().size() << " contracts, " << b.test_files().size()
            << " test files\n"
            << "  lint: " << lint_errors << " errors, " << lint_warnings << " warnings"
            << (strict ? " (--strict: warnings are errors)" : "") << "\n"
            << "  tests: " << tests_summary << "\n"
            << "  catalog: product policies run over " << b.catalog().products().size()
            << " descriptors, " << (errors.size() - lint_errors) << " errors in tests and catalog, "
            << notes.size() << " notes\n"
            << "  waivers: " << b.waivers().size() << " (" << waivers_in_force << " in force, "
            << waivers_ending << " expiring within " << kWaiverWarningDays << " days)\n";
  return problems == 0 ? 0 : 1;
}

}  // namespace arbiter::cli
