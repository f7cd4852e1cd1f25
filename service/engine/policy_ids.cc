#include "service/engine/policy_ids.h"

#include <algorithm>

namespace arbiter {

PolicyIdList::PolicyIdList(Table ids) {
  at_.resize(ids.size());
  for (size_t i = 0; i < at_.size(); ++i) at_[i] = static_cast<uint32_t>(i);
  table_ = std::make_shared<const Table>(std::move(ids));
}

bool operator==(const PolicyIdList& a, const PolicyIdList& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

bool operator==(const PolicyIdList& a, const std::vector<std::string>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

}  // namespace arbiter
