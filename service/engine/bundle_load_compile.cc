#include "absl/strings/str_cat.h"
#include "service/engine/bundle_load.h"

namespace arbiter {

absl::StatusOr<bool> CompilePolicy(WorkerSet& set, size_t i, const PolicyInfo& policy,
                                   const std::string& source, absl::Time deadline, PolicySpec& spec,
                                   std::vector<std::string>& errors) {
  absl::StatusOr<LuaSandbox*> state = set.StateFor(policy);
  if (!state.ok()) {
    errors.push_back(absl::StrCat(policy.file, ":1: ", state.status().message()));
    return false;
  }
  if (absl::Now() > deadline) {
    return absl::DeadlineExceededError(
        absl::StrCat("deadline exceeded while loading the bundle (at ", policy.file, ")"));
  }
  absl::StatusOr<int> handle = (*state)->LoadPolicy(policy.file, source, spec, deadline);
  if (!handle.ok()) {
    errors.push_back(std::string(handle.status().message()));
    return false;
  }
  set.handles[i] = *handle;
  return true;
}

}  // namespace arbiter
