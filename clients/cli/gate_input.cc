#include "clients/cli/gate_input.h"

#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "clients/cli/request_input.h"
#include "service/descriptor/descriptor.h"
#include "service/value/parse.h"

extern char** environ;

namespace arbiter::cli {
namespace {

namespace fs = std::filesystem;

bool IsYamlName(const std::string& name) {
  return absl::EndsWith(name, ".yaml") || absl::EndsWith(name, ".yml");
}

bool IsContractPath(absl::string_view path) {
  std::string name = fs::path(std::string(path)).filename().string();
  if (!IsYamlName(name)) return false;
  std::string parent = fs::path(std::string(path)).parent_path().string();
  if (parent == "contracts") return true;
  return parent.empty() && absl::StartsWith(name, "data-contract");
}

void FillNames(const Value& tree, GateFile* f) {
  f->name = DescriptorName(tree);
  f->version = DescriptorVersion(tree);
}

struct ProcessResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs argv (searched in PATH) without a shell, capturing stdout and stderr. Both pipes are
// drained together so a chatty stderr cannot block the child.
absl::StatusOr<ProcessResult> Run(const std::vector<std::string>& argv) {
  int out_pipe[2], err_pipe[2];
  if (pipe(out_pipe) != 0) return absl::InternalError("pipe failed");
  if (pipe(err_pipe) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return absl::InternalError("pipe failed");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  posix_spawn_file_actions_addclose(&actions, out_pipe[0]);
  posix_spawn_file_actions_addclose(&actions, err_pipe[0]);
  std::vector<char*> cargv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawnp(&pid, cargv[0], &actions, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (rc != 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    return absl::FailedPreconditionError(absl::StrCat(argv[0], ": cannot run: ", strerror(rc)));
  }
  ProcessResult result;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  char buf[8192];
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

// `git show` resolves "REF:./path" relative to the working directory; absolute paths are made
// relative to it first.
std::string GitRelative(const std::string& path) {
  fs::path p(path);
  if (p.is_absolute()) {
    std::error_code ec;
    fs::path rel = fs::relative(p, fs::current_path(), ec);
    if (!ec && !rel.empty()) p = rel;
  }
  return "./" + p.lexically_normal().string();
}

absl::Status CheckGitRef(const std::string& ref) {
  absl::StatusOr<ProcessResult> r =
      Run({"git", "rev-parse", "--verify", "--quiet", absl::StrCat(ref, "^{commit}")});
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    std::string why = std::string(absl::StripAsciiWhitespace(r->err));
    return absl::FailedPreconditionError(
        absl::StrCat("--previous-ref ", ref, ": not a commit of the git repository here",
                     why.empty() ? "" : absl::StrCat(" (", why, ")")));
  }
  return absl::OkStatus();
}

// The catalog file as the bundle holds it, sent as YAML text: a Struct would lose the key order
// that the diff compares (and the line numbers).
absl::StatusOr<GateFile> FromCatalog(const std::string& bundle_dir, const Catalog::Document& d) {
  absl::StatusOr<std::string> text = ReadFile((fs::path(bundle_dir) / d.file).string());
  if (!text.ok()) return text.status();
  absl::StatusOr<GateFile> f = GateFileFromText(*std::move(text), absl::StrCat("bundle:", d.file));
  return f;
}

}  // namespace

absl::StatusOr<std::string> DiscoverProduct(const std::string& dir) {
  for (const char* name : {"data-product.yaml", "data-product.yml"}) {
    if (fs::is_regular_file(fs::path(dir) / name)) return std::string(name);
  }
  return absl::NotFoundError(absl::StrCat("no --product FILE and no data-product.yaml in ",
                                          dir == "." ? "the current directory" : dir));
}

absl::StatusOr<std::vector<std::string>> DiscoverContracts(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && IsContractPath(name)) out.push_back(name);
  }
  if (fs::is_directory(fs::path(dir) / "contracts")) {
    for (const auto& entry : fs::directory_iterator(fs::path(dir) / "contracts", ec)) {
      std::string name = entry.path().filename().string();
      if (entry.is_regular_file() && IsYamlName(name)) out.push_back("contracts/" + name);
    }
  }
  if (ec) return absl::InternalError(absl::StrCat(dir, ": ", ec.message()));
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<GateFile> GateFileFromText(std::string text, const std::string& source) {
  absl::StatusOr<Value> tree = ParseYaml(text, source);
  if (!tree.ok()) return tree.status();
  if (!tree->is_map()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ":1: expected a YAML map"));
  }
  GateFile f;
  f.path = source;
  FillNames(*tree, &f);
  f.doc.set_yaml(text);
  f.doc.set_source(source);
  f.text = std::move(text);
  return f;
}

absl::StatusOr<GateFile> ReadGateFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  return GateFileFromText(*std::move(text), path);
}

absl::StatusOr<std::vector<std::optional<GateFile>>> ReadAtGitRef(
    const std::string& ref, const std::vector<std::string>& paths) {
  if (absl::Status s = CheckGitRef(ref); !s.ok()) return s;
  std::vector<std::optional<GateFile>> out;
  for (const std::string& path : paths) {
    std::string object = absl::StrCat(ref, ":", GitRelative(path));
    absl::StatusOr<ProcessResult> exists = Run({"git", "cat-file", "-e", object});
    if (!exists.ok()) return exists.status();
    if (exists->exit_code != 0) {
      out.push_back(std::nullopt);
      continue;
    }
    absl::StatusOr<ProcessResult> shown = Run({"git", "show", object});
    if (!shown.ok()) return shown.status();
    if (shown->exit_code != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("git show ", object, ": ", absl::StripAsciiWhitespace(shown->err)));
    }
    absl::StatusOr<GateFile> f = GateFileFromText(shown->out, absl::StrCat(ref, ":", path));
    if (!f.ok()) return f.status();
    out.push_back(*std::move(f));
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> DiscoverContractsAtGitRef(const std::string& ref) {
  if (absl::Status s = CheckGitRef(ref); !s.ok()) return s;
  // Without --full-name, ls-tree prints paths relative to the working directory.
  absl::StatusOr<ProcessResult> r = Run({"git", "ls-tree", "--name-only", ref, "./"});
  if (!r.ok()) return r.status();
  absl::StatusOr<ProcessResult> sub =
      Run({"git", "ls-tree", "--name-only", absl::StrCat(ref, ":./contracts")});
  if (!sub.ok()) return sub.status();
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(r->out, '\n', absl::SkipEmpty())) {
    if (IsContractPath(line)) out.emplace_back(line);
  }
  if (sub->exit_code == 0) {  // no contracts/ folder at that ref is fine
    for (absl::string_view line : absl::StrSplit(sub->out, '\n', absl::SkipEmpty())) {
      if (IsYamlName(std::string(line))) out.push_back(absl::StrCat("contracts/", line));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::map<std::string, std::string> PipelineMetadata(const Args& args) {
  auto env = [](const char* name) -> std::string {
    const char* v = std::getenv(name);
    return v == nullptr ? "" : v;
  };
  std::map<std::string, std::string> m;
  std::string commit, actor, run_url, ci;
  if (!env("GITHUB_ACTIONS").empty() || !env("GITHUB_SHA").empty()) {
    ci = "github";
    commit = env("GITHUB_SHA");
    actor = env("GITHUB_ACTOR");
    if (!env("GITHUB_RUN_ID").empty()) {
      std::string server = env("GITHUB_SERVER_URL");
      run_url = absl::StrCat(server.empty() ? "https://github.com" : server, "/",
                             env("GITHUB_REPOSITORY"), "/actions/runs/", env("GITHUB_RUN_ID"));
    }
  } else if (!env("GITLAB_CI").empty() || !env("CI_COMMIT_SHA").empty()) {
    ci = "gitlab";
    commit = env("CI_COMMIT_SHA");
    actor = env("GITLAB_USER_LOGIN");
    run_url = env("CI_JOB_URL");
  }
  if (args.Has("commit")) commit = args.Get("commit");
  if (args.Has("actor")) actor = args.Get("actor");
  if (args.Has("run-url")) run_url = args.Get("run-url");
  if (!commit.empty()) m["commit"] = commit;
  if (!actor.empty()) m["actor"] = actor;
  if (!run_url.empty()) m["run_url"] = run_url;
  if (!ci.empty()) m["ci"] = ci;
  for (const std::string& kv : args.GetAll("pipeline")) {
    auto eq = kv.find('=');
    if (eq != std::string::npos) m[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return m;
}

absl::Status PreviousFromCatalog(const std::string& bundle_dir, const Catalog& catalog,
                                 GateInputs* inputs) {
  const Catalog::Document* product = nullptr;
  for (const Catalog::Document& d : catalog.products()) {
    if (!inputs->product.name.empty() && DescriptorName(*d.tree) == inputs->product.name) {
      product = &d;
      break;
    }
  }
  if (product == nullptr) return absl::OkStatus();
  absl::StatusOr<GateFile> previous = FromCatalog(bundle_dir, *product);
  if (!previous.ok()) return previous.status();
  inputs->previous = *std::move(previous);
  inputs->previous_source = "bundle catalog";
  std::set<std::string> wanted;
  for (const GateFile& c : inputs->contracts) wanted.insert(c.name);
  if (const Value* listed = product->tree->FindPath({"spec", "contracts"});
      listed != nullptr && listed->is_list()) {
    for (const Value& v : listed->as_list()) {
      if (v.is_string()) wanted.insert(v.as_string());
      if (v.is_map()) wanted.insert(v.GetString("name"));
    }
  }
  for (const Catalog::Document& d : catalog.contracts()) {
    std::string name = DescriptorName(*d.tree);
    if (wanted.count(name) == 0) continue;
    absl::StatusOr<GateFile> c = FromCatalog(bundle_dir, d);
    if (!c.ok()) return c.status();
    inputs->previous_contracts.push_back(*std::move(c));
  }
  return absl::OkStatus();
}

v1::DeploymentRequest BuildDeploymentRequest(const GateInputs& inputs) {
  v1::DeploymentRequest r;
  *r.mutable_product() = inputs.product.doc;
  if (inputs.previous.has_value()) *r.mutable_previous() = inputs.previous->doc;
  for (const GateFile& c : inputs.contracts) *r.add_contracts() = c.doc;
  for (const GateFile& c : inputs.previous_contracts) *r.add_previous_contracts() = c.doc;
  r.set_environment(inputs.environment);
  for (const auto& [k, v] : inputs.pipeline) (*r.mutable_pipeline())[k] = v;
  if (!inputs.requester.empty()) r.mutable_requester()->set_id(inputs.requester);
  return r;
}

}  // namespace arbiter::cli
