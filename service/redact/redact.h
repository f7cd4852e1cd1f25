// Redaction of logged requests, like OPA's decision-log masks: configured request fields are
// dropped, or replaced by "sha256:<hex>" of their value, before a decision-log line is written —
// and so before a replay can carry them out of the server.
//
//   decision_log:
//     redact:
//       - principal.attributes.email            # drop
//       - {path: "principal.attributes.*", action: digest}
//       - {path: product, action: digest}       # a whole document -> the digest of its JSON
//
// A path is dot-separated keys of the request as the log writes it (the proto3 JSON mapping:
// `previousContracts`; the proto field name `previous_contracts` is accepted too), with `*` for
// any key. Lists are transparent: the rest of the path applies to every element. A string is
// digested as its bytes, anything else as its JSON text.
//
// Thread-safe: a Redactor is immutable.
#ifndef ARBITER_SERVICE_REDACT_REDACT_H_
#define ARBITER_SERVICE_REDACT_REDACT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "service/value/value.h"

namespace arbiter::redact {

struct Rule {
  std::string path;
  enum class Action { kDrop, kDigest };
  Action action = Action::kDrop;
};

// "sha256:" and the lower-case hex SHA-256 of `bytes`.
std::string Digest(absl::string_view bytes);

class Redactor {
 public:
  Redactor() = default;
  // INVALID_ARGUMENT naming the rule (decision_log.redact[i]) with an empty path or segment.
  static absl::Status Validate(const std::vector<Rule>& rules);
  explicit Redactor(std::vector<Rule> rules);

  bool empty() const { return rules_.empty(); }
  // Applies every rule to `tree` in place. Paths that name nothing are skipped.
  void Apply(Value& tree) const;
  // The same on a JSON text (the log's request object); text that does not parse as JSON is
  // replaced by its digest, since nothing in it can be told apart.
  std::string ApplyToJson(absl::string_view json) const;

 private:
  struct Compiled {
    std::vector<std::string> segments;
    Rule::Action action;
  };
  std::vector<Compiled> rules_;
};

}  // namespace arbiter::redact

#endif  // ARBITER_SERVICE_REDACT_REDACT_H_
