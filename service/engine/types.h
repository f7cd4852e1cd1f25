// The engine's own request and decision types. The engine knows nothing of gRPC: the service
// converts arbiter.v1 protos to and from these at its edge (service/server/convert.h).
#ifndef ARBITER_SERVICE_ENGINE_TYPES_H_
#define ARBITER_SERVICE_ENGINE_TYPES_H_

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "service/engine/policy_ids.h"
#include "service/value/parse.h"
#include "service/value/value.h"

namespace arbiter {

enum class Kind { kAccess, kProduct, kDeployment };

// "access", "product" or "deployment".
absl::string_view KindName(Kind kind);
// INVALID_ARGUMENT for anything else.
absl::StatusOr<Kind> ParseKind(absl::string_view name);

struct Principal {
  std::string id;
  std::vector<std::string> roles;
  std::vector<std::string> groups;
  std::string domain;
  std::map<std::string, std::string> attributes;
  // The kind of principal ("user", "service", ...), as AuthZEN's subject.type names it; "" when
  // the caller gave none.
  std::string type;
  // Free-form properties with their JSON values kept (AuthZEN's subject.properties); null when
  // the caller sent none.
  Value properties;
};

struct ResourceRef {
  std::string domain;
  std::string product;
  std::string table;  // catalog.schema.table
  std::vector<std::string> columns;
  // The resource's kind: "table" and "product" (the default, from `table` / `product`) resolve
  // through the catalog; any other type (an AuthZEN resource such as "document") is named by
  // `id`, has no catalog owner and is judged by the global policies only.
  std::string type;
  std::string id;
  Value properties;  // free-form, JSON values kept; null when absent
};

using ContextMap = std::map<std::string, std::string>;

struct AccessRequest {
  Principal principal;
  std::string action;
  ResourceRef resource;
  // req.context's string entries: `shared_context`'s and this check's own (`context`, which wins
  // on a clash). Read both through ForEachContextEntry / ContextEntries.
  ContextMap context;
  // Entries the checks of one batch have in common (a Trino batch's query and schema), held
  // once for all of them instead of copied into each: null when the check has none.
  std::shared_ptr<const ContextMap> shared_context;
  // Parameters of the action (AuthZEN's action.properties); null when absent.
  Value action_properties;
  // Context entries with JSON values (AuthZEN's context): a map, merged into req.context over
  // the string entries of `context`; null when absent.
  Value context_values;
};

// Calls f(key, value) for each string entry of `a`'s req.context, in key order: the shared
// entries merged with the check's own, an own entry replacing a shared one of its key.
template <typename F>
void ForEachContextEntry(const AccessRequest& a, F&& f) {
  if (a.shared_context == nullptr || a.shared_context->empty()) {
    for (const auto& [k, v] : a.context) f(k, v);
    return;
  }
  // Keys mostly differ in their first byte: compared there first (a few instructions instead
  // of a call to memcmp, per shared entry and check).
  auto compare = [](const std::string& x, const std::string& y) {
    if (!x.empty() && !y.empty() && x[0] != y[0]) {
      return static_cast<unsigned char>(x[0]) < static_cast<unsigned char>(y[0]) ? -1 : 1;
    }
    return x.compare(y);
  };
  auto s = a.shared_context->begin();
  const auto s_end = a.shared_context->end();
  for (const auto& [k, v] : a.context) {
    int c = -1;
    for (; s != s_end && (c = compare(s->first, k)) < 0; ++s) f(s->first, s->second);
    if (s != s_end && c == 0) ++s;
    f(k, v);
  }
  for (; s != s_end; ++s) f(s->first, s->second);
}

// The number of entries ForEachContextEntry calls f for.
size_t ContextEntryCount(const AccessRequest& a);
// Whether it calls f at all (without the walk ContextEntryCount makes).
inline bool HasContextEntries(const AccessRequest& a) {
  return !a.context.empty() || (a.shared_context != nullptr && !a.shared_context->empty());
}
// req.context's string entries in one map (a copy: for tests and the paths that are not per
// check).
ContextMap ContextEntries(const AccessRequest& a);

struct ProductRequest {
  Value product;  // the descriptor tree as the domain wrote it
  std::string operation;
  Principal requester;
};

struct DeploymentRequest {
  Value product;
  std::optional<Value> previous;
  std::vector<Value> contracts;
  // Documents sent as YAML text carry their positions (Value::pos), which give schema changes
  // their `line`.
  std::vector<Value> previous_contracts;
  std::string environment;
  std::map<std::string, std::string> pipeline;
  Principal requester;
};

using Request = std::variant<AccessRequest, ProductRequest, DeploymentRequest>;

Kind KindOf(const Request& request);

enum class Effect { kAllow, kDeny };
absl::string_view EffectName(Effect effect);  // "allow" / "deny"

// A finding's weight. kInfo marks a reason the engine itself adds to explain a decision (no
// policy's finding): it never changes the effect. kNone: a grant (allow, obligate).
enum class Severity : uint8_t { kNone, kError, kWarning, kInfo };
// A policy's layer in the combining rule (DESIGN §1). Global policies are mandatory, default or
// advisory (bundle format: `mode = '...'`); a domain's own policies are kDomain. kNone only on
// reasons no policy gave (the engine's own notes).
enum class PolicyMode : uint8_t { kNone, kMandatory, kDefault, kAdvisory, kDomain };

// The one table per vocabulary: each value's name (as the bundle format, the API, JSON output
// and log lines spell it) and what it means. Indexed by the enum's value.
template <typename E>
struct VocabularyEntry {
  E value;
  absl::string_view name;
  absl::string_view description;
};
extern const std::array<VocabularyEntry<Severity>, 4> kSeverities;
extern const std::array<VocabularyEntry<PolicyMode>, 5> kPolicyModes;

absl::string_view SeverityName(Severity severity);  // "" / "error" / "warning" / "info"
// The severity of that name; nullopt for anything else ("" included).
std::optional<Severity> ParseSeverity(absl::string_view name);
absl::string_view PolicyModeName(PolicyMode mode);  // "" / "mandatory" / "default" / ...
// The mode of that name; nullopt for anything else ("" included).
std::optional<PolicyMode> ParsePolicyMode(absl::string_view name);

struct Reason {
  std::string policy_id;
  std::string origin;  // "global" or "domain:<name>"
  Effect effect = Effect::kDeny;
  Severity severity = Severity::kNone;
  std::string message;  // safe to show to the requester
  std::string detail;   // governance and audit only
  PolicyMode mode = PolicyMode::kNone;
  bool obligation = false;  // from obligate(): adds masks/filters, grants nothing
  // The id of the waiver that turned this policy's deny into a warning (waivers.h); else empty.
  std::string waiver;
};

struct ColumnMask {
  std::string column;
  std::string expression;
};

struct Obligations {
  std::vector<ColumnMask> column_masks;
  std::vector<std::string> row_filters;
  bool empty() const { return column_masks.empty() && row_filters.empty(); }
};

// A policy that could not give an answer: it raised an error, ran out of its instruction or
// time budget or memory, or returned something malformed. The engine turns each into a deny
// finding (a warning for advisory policies); the service counts them in metrics.
struct PolicyFault {
  enum class Type { kError, kBudget, kMemory, kMalformed };
  std::string policy_id;
  Type type = Type::kError;
};
absl::string_view PolicyFaultTypeName(PolicyFault::Type type);

// What one policy did in a traced evaluation (EvalOptions::trace): `arbiter eval --explain`.
struct PolicyTrace {
  std::string policy_id;
  std::string origin;
  PolicyMode mode = PolicyMode::kNone;
  // Lua VM instructions the check ran, counted by the budget hook (a multiple of its interval,
  // so an approximation for small checks).
  int64_t instructions = 0;
  absl::Duration time;
  // What the check passed to print(...), capped (see lua_library.cc); never written anywhere
  // else.
  std::vector<std::string> prints;
  // One line per finding: "allow: message (detail)".
  std::vector<std::string> findings;
  std::string fault;  // the error, when the policy could not decide
};

struct EvaluationTrace {
  std::vector<PolicyTrace> policies;  // in evaluation order
};

// Lines of policy code run, per policy file, with how often: test mode only.
using LineCoverage = std::map<std::string, std::map<int, int64_t>>;

struct Decision {
  std::string decision_id;
  Effect effect = Effect::kDeny;
  std::vector<Reason> reasons;
  Obligations obligations;
  std::string bundle_revision;
  // In evaluation order.
  PolicyIdList evaluated_policies;
  // Default global policies the domain's own replaced (PolicyInfo::overrides).
  PolicyIdList overridden_policies;
  std::string domain;  // whose overrides applied
  Value change;        // deployments: what req.change held
  bool defaulted = false;
  std::vector<PolicyFault> faults;
  // Only when EvalOptions::trace was set.
  std::shared_ptr<const EvaluationTrace> trace;
};

// One principal for every access request of a batch (a Trino request's checks, which can number
// thousands for one user with hundreds of groups): the batch holds it once, each request's own
// `principal` is left empty, and the engine builds the policies' view of it (req.principal) once
// instead of once per check. Immutable after construction; safe to share between threads.
class SharedPrincipal {
 public:
  explicit SharedPrincipal(Principal principal);
  const Principal& principal() const { return principal_; }
  // req.principal as policies read it.
  const std::shared_ptr<const Value>& value() const { return value_; }

 private:
  Principal principal_;
  std::shared_ptr<const Value> value_;
};

// Per-evaluation inputs that are not part of the request.
struct EvalOptions {
  // What `ctx.now` is; injected so that tests and replays are deterministic.
  absl::Time now = absl::Now();
  // The evaluation stops (fail closed: DEADLINE_EXCEEDED) once this passes; each policy's own
  // wall-clock budget from bundle.yaml applies as well.
  absl::Time deadline = absl::InfiniteFuture();
  // Copied into the decision; the caller (service, CLI) makes it unique.
  std::string decision_id;
  // Debugging: record what each policy did, its print(...) output included, in
  // Decision::trace. Off, print(...) does nothing.
  bool trace = false;
  // Test mode only (`arbiter test --coverage`): when set, every line of policy code run is
  // counted here (a line hook: slower, never used by the server). Not owned.
  LineCoverage* coverage = nullptr;
  // When set, the principal of an access request (whose own `principal` is then ignored): the
  // checks of one batch share it. Not owned.
  const SharedPrincipal* principal = nullptr;
  // Deployments: when set, called with the request and the computed req.change; a result that
  // is not null becomes req.change.impact (and so the decision's change.impact). The server and
  // `arbiter gate` compute it from a decision log (service/impact): the engine reads no logs.
  std::function<Value(const DeploymentRequest&, const Value& change)> deployment_impact;
};

}  // namespace arbiter

#endif  // ARBITER_SERVICE_ENGINE_TYPES_H_
