// A small command-line parser for the `arbiter` CLI's subcommands: `--name value`,
// `--name=value`, repeatable flags, boolean switches and positional arguments. Unknown flags are
// errors (a typo must not silently change what a pipeline checks).
#ifndef ARBITER_CLIENTS_CLI_ARGS_H_
#define ARBITER_CLIENTS_CLI_ARGS_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace arbiter::cli {

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::vector<std::string>> values;
  std::set<std::string> switches;

  bool Has(const std::string& name) const {
    return values.count(name) > 0 || switches.count(name) > 0;
  }
  // The last value of `name`, or `fallback`.
  std::string Get(const std::string& name, const std::string& fallback = "") const {
    auto it = values.find(name);
    return it == values.end() || it->second.empty() ? fallback : it->second.back();
  }
  std::vector<std::string> GetAll(const std::string& name) const {
    auto it = values.find(name);
    return it == values.end() ? std::vector<std::string>{} : it->second;
  }
};

// Parses argv[first..argc). `with_value` lists flags that take a value, `switches` boolean ones.
absl::StatusOr<Args> ParseArgs(int argc, char** argv, int first,
                               const std::set<std::string>& with_value,
                               const std::set<std::string>& switches);

}  // namespace arbiter::cli

#endif  // ARBITER_CLIENTS_CLI_ARGS_H_
