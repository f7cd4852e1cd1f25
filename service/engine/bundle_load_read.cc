#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "re2/re2.h"
#include "service/engine/bundle_load.h"
#include "service/value/parse.h"

namespace arbiter {
namespace {

// A domain folder's name.
bool ValidName(absl::string_view s) {
  static const RE2* re = new RE2("[a-z][a-z0-9_-]*");
  return RE2::FullMatch(re2::StringPiece(s.data(), s.size()), *re);
}

}  // namespace

absl::StatusOr<BundleFiles> ReadBundleDir(const std::string& dir, const BundleReadLimits& limits) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat(dir, ": not a directory"));
  }
  BundleFiles out;
  out.root = dir;
  size_t total = 0;
  fs::recursive_directory_iterator it(dir, fs::directory_options::follow_directory_symlink, ec);
  if (ec) return absl::NotFoundError(absl::StrCat(dir, ": ", ec.message()));
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return absl::InternalError(absl::StrCat(dir, ": ", ec.message()));
    std::string rel = fs::relative(it->path(), dir, ec).generic_string();
    // Hidden entries: editors' swap files, and Kubernetes' ConfigMap "..data" links.
    bool hidden = false;
    for (absl::string_view part : absl::StrSplit(rel, '/')) {
      if (absl::StartsWith(part, ".")) hidden = true;
    }
    if (hidden) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file(ec)) continue;
    if (out.files.size() >= limits.max_files) {
      return absl::InvalidArgumentError(
          absl::StrCat(dir, ": more than ", limits.max_files, " files"));
    }
    auto size = it->file_size(ec);
    if (size > limits.max_file_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          rel, ":1: file is ", size, " bytes, over the limit of ", limits.max_file_bytes));
    }
    total += size;
    if (total > limits.max_total_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(dir, ": bundle over ", limits.max_total_bytes, " bytes"));
    }
    std::ifstream in(it->path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    out.files[rel] = ss.str();
  }
  return out;
}

void SortBundleFiles(const BundleFiles& files, const BundleConfig& config, absl::Time now,
                     BundleContents& out, std::vector<std::string>& errors) {
  size_t policy_bytes = 0;
  for (const auto& [path, content] : files.files) {
    std::vector<std::string> parts = absl::StrSplit(path, '/');
    if (path == "bundle.yaml") continue;
    if (parts[0] == "global" || parts[0] == "domains") {
      if (!absl::EndsWith(path, ".lua")) {
        if (!absl::EndsWith(path, ".md")) {
          errors.push_back(
              absl::StrCat(path, ":1: only .lua policy files belong under ", parts[0], "/"));
        }
        continue;
      }
      PolicyInfo info;
      info.file = path;
      if (parts[0] == "global") {
        if (parts.size() != 2) {
          errors.push_back(absl::StrCat(path, ":1: global policies live directly in global/"));
          continue;
        }
      } else {
        if (parts.size() != 3) {
          errors.push_back(
              absl::StrCat(path, ":1: domain policies live in domains/<domain>/<name>.lua"));
          continue;
        }
        if (!ValidName(parts[1])) {
          errors.push_back(absl::StrCat(path, ":1: invalid domain name \"", parts[1],
                                        "\" (lower-case letters, digits, - and _)"));
          continue;
        }
        info.domain = parts[1];
      }
      if (content.size() > config.limits.max_policy_bytes) {
        errors.push_back(absl::StrCat(path, ":1: policy is ", content.size(),
                                      " bytes, over the limit of ",
                                      config.limits.max_policy_bytes));
        continue;
      }
      policy_bytes += content.size();
      out.policies.push_back(std::move(info));
      out.sources.push_back(content);
    } else if (parts[0] == "catalog" && parts.size() == 3 &&
               (parts[1] == "products" || parts[1] == "contracts") &&
               (absl::EndsWith(path, ".yaml") || absl::EndsWith(path, ".yml"))) {
      absl::StatusOr<Value> doc = ParseYaml(content, path);
      if (!doc.ok()) {
        errors.push_back(std::string(doc.status().message()));
        continue;
      }
      if (!doc->is_map()) {
        errors.push_back(absl::StrCat(path, ":1: expected a document (a map)"));
        continue;
      }
      auto& dest = parts[1] == "products" ? out.products : out.contracts;
      dest.push_back({path, std::make_shared<const Value>(*std::move(doc))});
    } else if (parts[0] == "waivers") {
      if (parts.size() == 2 && (absl::EndsWith(path, ".yaml") || absl::EndsWith(path, ".yml"))) {
        ParseWaiverFile(path, content, config.waiver_settings, now, out.waivers, errors);
      } else if (!absl::EndsWith(path, ".md")) {
        errors.push_back(
            absl::StrCat(path, ":1: waivers/ holds waiver files (waivers/<name>.yaml)"));
      }
    } else if (parts[0] == "tests" && parts.size() == 2 &&
               (absl::EndsWith(path, ".yaml") || absl::EndsWith(path, ".yml"))) {
      out.tests[path] = content;
    } else if (absl::EndsWith(path, ".lua")) {
      // A policy that would never run must not pass unnoticed.
      errors.push_back(absl::StrCat(
          path, ":1: policy files live in global/ or domains/<domain>/; this one would never run"));
    }
  }
  if (policy_bytes > config.limits.max_bundle_policy_bytes) {
    errors.push_back(absl::StrCat("bundle.yaml:1: policies total ", policy_bytes,
                                  " bytes, over the limit of ",
                                  config.limits.max_bundle_policy_bytes));
  }
}

}  // namespace arbiter
