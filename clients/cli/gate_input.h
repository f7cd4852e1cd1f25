// What `arbiter gate` reads before it can ask for a decision: the data product descriptor and its
// contracts from a domain's repository (named on the command line or found in the conventional
// layout), the previous version (files, a git ref, or the bundle's catalog), and the pipeline's
// metadata (flags or the usual CI environment variables). Everything here is input handling; no
// decision is made, so every error is "could not decide" (INVALID_ARGUMENT / NOT_FOUND /
// FAILED_PRECONDITION naming the file, flag or git ref).
#ifndef ARBITER_CLIENTS_CLI_GATE_INPUT_H_
#define ARBITER_CLIENTS_CLI_GATE_INPUT_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "arbiter/v1/types.pb.h"
#include "clients/cli/args.h"
#include "service/engine/catalog.h"

namespace arbiter::cli {

// One YAML document the gate sends: where it came from and what it says.
struct GateFile {
  // The path as the pipeline named it (relative to the working directory when discovered), or
  // "REF:path" for a file read from git, or "bundle:<file>" for the bundle's catalog.
  std::string path;
  // The YAML text as written (line numbers for annotations are looked up in it).
  std::string text;
  // DescriptorName and DescriptorVersion (service/descriptor); empty when absent.
  std::string name;
  std::string version;
  // The document as sent: YAML text with `source` = path.
  v1::Document doc;
};

// Everything a deployment request is built from.
struct GateInputs {
  GateFile product;
  std::vector<GateFile> contracts;
  // The previous descriptor, absent for a first deployment.
  std::optional<GateFile> previous;
  std::vector<GateFile> previous_contracts;
  // How the previous version was found, for people: "none", "file data-product.v1.yaml",
  // "git HEAD~1", "bundle catalog".
  std::string previous_source = "none";
  std::string environment;
  std::map<std::string, std::string> pipeline;
  std::string requester;
};

// The conventional layout, relative to `dir`: `data-product.yaml` (or `.yml`) and every
// `contracts/*.yaml|yml` and `data-contract*.yaml|yml`, in name order. NOT_FOUND when there is
// no descriptor. Returned paths are `dir`-relative ("data-product.yaml", "contracts/x.yaml").
absl::StatusOr<std::vector<std::string>> DiscoverContracts(const std::string& dir);
absl::StatusOr<std::string> DiscoverProduct(const std::string& dir);

// Reads and parses a YAML file (errors name path:line:col).
absl::StatusOr<GateFile> ReadGateFile(const std::string& path);
// The same for text that came from elsewhere (git, the catalog); `source` names it in errors.
absl::StatusOr<GateFile> GateFileFromText(std::string text, const std::string& source);

// Reads `paths` as they were at git revision `ref` of the repository containing the working
// directory (`git show REF:./path`). A path that did not exist at `ref` is skipped (a new
// contract; a first deployment). FAILED_PRECONDITION when git is missing, the working
// directory is not in a repository, or `ref` is not a commit.
absl::StatusOr<std::vector<std::optional<GateFile>>> ReadAtGitRef(
    const std::string& ref, const std::vector<std::string>& paths);

// The contract paths that the conventional layout held at git revision `ref` (contracts that
// were since deleted are removed contracts, which a gate must see).
absl::StatusOr<std::vector<std::string>> DiscoverContractsAtGitRef(const std::string& ref);

// Pipeline metadata: `commit`, `actor`, `run_url` (and `ci`: github / gitlab) from --commit,
// --actor, --run-url, else from GitHub Actions (GITHUB_SHA, GITHUB_ACTOR, GITHUB_SERVER_URL +
// GITHUB_REPOSITORY + GITHUB_RUN_ID) or GitLab CI (CI_COMMIT_SHA, GITLAB_USER_LOGIN,
// CI_JOB_URL) variables; then every --pipeline k=v (which wins).
std::map<std::string, std::string> PipelineMetadata(const Args& args);

// The previous version the bundle's catalog knows for `product` (same metadata.name) and its
// contracts (the catalog contracts named like the current contracts or listed in the previous
// descriptor's spec.contracts), read as text from `bundle_dir`. Sets inputs->previous* when the
// catalog has the product; errors name the catalog file.
absl::Status PreviousFromCatalog(const std::string& bundle_dir, const Catalog& catalog,
                                 GateInputs* inputs);

// The DeploymentRequest for `inputs`.
v1::DeploymentRequest BuildDeploymentRequest(const GateInputs& inputs);

}  // namespace arbiter::cli

#endif  // ARBITER_CLIENTS_CLI_GATE_INPUT_H_
