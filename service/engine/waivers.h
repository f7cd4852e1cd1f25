// Waivers: a governance council's temporary, owned exceptions to one policy (issue 15).
//
// A bundle's waivers/*.yaml files hold them; each names one policy, a scope (any of domain,
// product, principal, environment, kind), who approved it, why, and when it ends:
//
//   id: W-12
//   policy: global.production-readiness
//   scope: {domain: sales, product: customer-360, environment: production}
//   reason: legacy product without SLOs until the Q1 migration
//   approved_by: governance-council
//   expires: 2027-03-01            # RFC 3339 date (00:00 UTC that day) or date-time
//   ticket: GOV-311                # optional
//
// A file holds one waiver (a map) or several (a list of maps). While a waiver is in force
// (ctx.now before `expires`), the deny findings of its policy, for requests its scope matches,
// are reported as warnings that name the waiver: a waiver never allows anything by itself and
// never touches another policy. What may be waived is checked at load (CheckWaivers): a
// mandatory policy only when it declares `waivable = true`; a domain's policy only by a waiver
// whose scope names that domain.
#ifndef ARBITER_SERVICE_ENGINE_WAIVERS_H_
#define ARBITER_SERVICE_ENGINE_WAIVERS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "service/value/value.h"

namespace arbiter {

struct PolicyInfo;

// Which requests a waiver covers: every key given must match; an empty key matches anything.
struct WaiverScope {
  std::string domain;       // the owning domain the engine resolved (ctx.domain)
  std::string product;      // the data product's name
  std::string principal;    // access: principal.id; product and deployment: requester.id
  std::string environment;  // deployments' environment (other kinds never match it)
  std::string kind;         // access, product or deployment
};

struct Waiver {
  std::string id;
  std::string policy;
  WaiverScope scope;
  std::string reason;
  std::string approved_by;
  std::string ticket;  // may be empty
  absl::Time expires;
  std::string expires_text;  // as written in the file
  std::string file;
  int line = 1;  // of the waiver's first key

  // In force strictly before `expires`: at the instant itself it no longer applies.
  bool ActiveAt(absl::Time now) const { return now < expires; }
  // "waived by W-12, approved by governance-council, until 2027-03-01: <reason>"
  std::string Note() const;
};

// bundle.yaml's `waivers:` section.
struct WaiverSettings {
  // How far ahead of load time an `expires` may be.
  int max_days = 180;
};

// Reads bundle.yaml's `waivers:` value into `out`; an error message otherwise.
std::optional<std::string> ParseWaiverSettings(const Value& v, WaiverSettings& out);

// Parses one waivers/*.yaml file: appends its waivers to `out` and "file:line: message" lines
// to `errors` (unknown keys, missing fields, bad or too distant dates, malformed ids).
void ParseWaiverFile(absl::string_view path, absl::string_view content,
                     const WaiverSettings& settings, absl::Time load_time, std::vector<Waiver>& out,
                     std::vector<std::string>& errors);

// Checks waivers against the bundle's policies: duplicate ids, unknown policies, non-waivable
// mandatory policies, domain policies waived without naming their domain.
void CheckWaivers(const std::vector<Waiver>& waivers, const std::vector<PolicyInfo>& policies,
                  std::vector<std::string>& errors);

// What a request offers to waiver scopes.
struct WaiverSubject {
  absl::string_view domain;
  absl::string_view product;
  absl::string_view principal;
  absl::string_view environment;
  absl::string_view kind;
};

// The waivers of a bundle, indexed by policy id.
class WaiverIndex {
 public:
  WaiverIndex() = default;
  explicit WaiverIndex(std::vector<Waiver> waivers);

  // The first waiver (in file order) of `policy_id` in force at `now` whose scope matches.
  const Waiver* Find(absl::string_view policy_id, const WaiverSubject& subject,
                     absl::Time now) const;
  const std::vector<Waiver>& all() const { return waivers_; }
  bool empty() const { return waivers_.empty(); }

 private:
  std::vector<Waiver> waivers_;
  absl::flat_hash_map<std::string, std::vector<size_t>> by_policy_;
};

}  // namespace arbiter

#endif  // ARBITER_SERVICE_ENGINE_WAIVERS_H_
