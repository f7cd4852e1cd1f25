#include "absl/strings/str_cat.h"
#include "service/engine/bundle_load.h"

namespace arbiter {

absl::StatusOr<bool> CompilePolicy(WorkerSet& set, size_t i, const PolicyInfo& policy,
                                   const std::string& source, absl::Time deadline, PolicySpec& spec,
                                   std::vector<std::string>& errors) {
  if (absl::Now() > deadline) {
    return absl::DeadlineExceededError(
        absl::StrCat("deadline exceeded while loading the bundle (at ", policy.file, ")"));
  }
  if (absl::Status s = set.LoadPolicy(i, policy, source, spec, deadline); !s.ok()) {
    errors.push_back(std::string(s.message()));
    return false;
  }
  return true;
}

}  // namespace arbiter
