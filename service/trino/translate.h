// Trino's OPA access-control protocol, translated to Arbiter access requests and back. Trino's
// `plugin/trino-opa` POSTs `{"input": {"context": {"identity": {"user", "groups"}, ...},
// "action": {"operation", "resource" | "filterResources"}}}` and expects OPA-shaped answers; this
// file turns one such body into the access checks that decide it (a Plan) and the decisions back
// into the exact JSON Trino decodes. It knows nothing of HTTP or of the server: routes.h serves
// it, and the unit tests call it directly.
//
// The mapping, in short (docs/trino.md has the full table):
//   - operation -> action: read, write, admin, discover, execute, system, or "unknown" for an
//     operation this version does not know (fail closed: policies see it and deny).
//   - identity.user -> principal.id; identity.groups -> principal.groups, and through
//     `trino.group_roles` to roles, a domain and attributes (IdentityMapper).
//   - a table or column -> resource.table "catalog.schema.table" (+ columns), resolved by the
//     engine through the catalog to its product and domain.
//   - a catalog or schema -> one check per data product that lives there (resource.product);
//     the catalog or schema is allowed when any of them is. `information_schema` counts as its
//     catalog. A catalog or schema without products gets one check on "<catalog>.<schema>.*",
//     which no product serves (policies refuse it and the refusal is logged).
//   - Trino's own `system` catalog: its metadata schemas (jdbc, metadata, information_schema)
//     are `execute` (Trino filters what they list object by object); everything else in it is
//     `system`.
//   - resources that are not data (the query itself, functions, users, session properties) ->
//     a pseudo table "$trino.<kind>.<operation>", with the details in req.context.
// Every check carries req.context.operation (Trino's name) and the resource's names
// (catalog, schema, table, column, column_type, function, property, user, target).
#ifndef ARBITER_SERVICE_TRINO_TRANSLATE_H_
#define ARBITER_SERVICE_TRINO_TRANSLATE_H_

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "service/engine/catalog.h"
#include "service/engine/types.h"
#include "service/value/parse.h"

namespace arbiter::trino {

// The action a Trino operation maps to, or "unknown" for an operation not in the table.
absl::string_view ActionForOperation(absl::string_view operation);

// The compiled form of the server config's `trino.group_roles` (group -> value). A value is a
// comma-separated list of grants, so that one directory group can carry everything Arbiter's
// policies test:
//   "sales-analysts"          a role
//   "domain:finance"          the principal's domain
//   "region=EU"               an attribute
// e.g. `finance-analysts: "finance-analysts, domain:finance, region=EU"`.
// Immutable after construction; thread-safe.
class IdentityMapper {
 public:
  IdentityMapper() = default;
  explicit IdentityMapper(const std::map<std::string, std::string>& group_roles);

  // The principal for a Trino identity: id = user, groups as given, roles (deduplicated, in
  // group order), domain and attributes from the groups' grants. When two groups grant
  // different domains the first group wins, so the result does not depend on map order.
  Principal Map(std::string user, std::vector<std::string> groups) const;

 private:
  struct Grant {
    std::vector<std::string> roles;
    std::string domain;
    std::vector<std::pair<std::string, std::string>> attributes;
  };
  absl::flat_hash_map<std::string, Grant> groups_;
};

// Which data products live in which Trino catalog and schema, from the products' sql output
// ports. Names are compared case-insensitively, as Trino does. Built once per bundle snapshot;
// immutable and thread-safe afterwards.
class ProductLocator {
 public:
  ProductLocator() = default;
  static ProductLocator Build(const Catalog& catalog);

  // Product names (metadata.name) in this catalog, or in this catalog and schema; empty when
  // none. Each product appears once, in catalog order.
  const std::vector<std::string>& InCatalog(absl::string_view catalog) const;
  const std::vector<std::string>& InSchema(absl::string_view catalog,
                                           absl::string_view schema) const;

 private:
  absl::flat_hash_map<std::string, std::vector<std::string>> by_catalog_;
  absl::flat_hash_map<std::string, std::vector<std::string>> by_schema_;  // "catalog.schema"
};

// The five OPA documents Trino can be configured to ask for.
enum class Endpoint {
  kAllow,            // opa.policy.uri: {"result": true|false}
  kBatch,            // opa.policy.batched-uri: {"result": [allowed indices]}
  kRowFilters,       // opa.policy.row-filters-uri: {"result": [{"expression"}]}
  kColumnMask,       // opa.policy.column-masking-uri: {"result": {"expression"}} or {}
  kBatchColumnMask,  // opa.policy.batch-column-masking-uri: {"result": [{index, viewExpression}]}
};

// The endpoint's name as Trino's config and arbiterd's paths spell it: "allow", "batch",
// "rowFilters", "columnMask", "batchColumnMask".
absl::string_view EndpointName(Endpoint endpoint);
// The inverse of EndpointName (also "batchColumnMasks"); INVALID_ARGUMENT listing the names.
absl::StatusOr<Endpoint> ParseEndpoint(absl::string_view name);
// The endpoint Trino would have POSTed `body` to, for replaying a request captured without its
// path: a `filterResources` list is a batch (of masks for GetColumnMask), GetRowFilters asks for
// row filters, GetColumnMask (one column) for a mask, everything else is allow. A body that does
// not parse is "allow" (Translate then reports what is wrong with it).
Endpoint InferEndpoint(absl::string_view body);

// How Translate makes one access check of a plan (Plan::MakeCheck): views of the plan's parsed
// body (Plan::document) and of the product index, and the name of a table made at translation.
struct CheckSpec {
  absl::string_view action;
  // resource.table: "catalog.schema.table" of the three views when `joined`, else `table_name`
  // (a pattern or a pseudo table; "" for a check on a product).
  bool joined = false;
  absl::string_view catalog, schema, table;
  std::string table_name;
  absl::string_view product;
  // resource.columns: Plan::column_names[columns_begin, columns_end).
  uint32_t columns_begin = 0, columns_end = 0;
  // req.context's own entries, one per key of kOwnContextKeys (in the same order); "" for none.
  static constexpr std::array<absl::string_view, 6> kOwnContextKeys = {
      "column", "column_type", "function", "property", "table", "user"};
  std::array<absl::string_view, 6> own_context;
  // req.context's entries in common with other checks: Plan::shared_contexts[shared_context].
  uint32_t shared_context = 0;
};

// One Trino request, translated: the access checks to evaluate (all on one bundle snapshot)
// and how their decisions combine into the answer.
struct Plan {
  Endpoint endpoint = Endpoint::kAllow;
  std::string operation;
  std::string user;
  // The one principal of every check: a check's principal is left empty so that a batch of
  // thousands of checks holds one copy of a principal with hundreds of groups, not thousands
  // (issue 11). Callers fill it in for the few checks they decide at a time.
  Principal principal;
  // What check i is made of (MakeCheck), one per check, and what the specs refer to: the parsed
  // body, the checks' column lists, their common context entries. The checks themselves are not
  // kept here: the server makes each on the thread that decides it.
  std::vector<CheckSpec> specs;
  std::shared_ptr<const Value> document;
  std::vector<absl::string_view> column_names;
  std::vector<std::shared_ptr<const ContextMap>> shared_contexts;
  // items[i] = [begin, end) into the checks: answer item i is allowed when any of its checks is
  // allowed. Allow/row-filter/column-mask plans have one item; batches one per filter resource
  // (for FilterColumns: one per column, in the order of the columns lists).
  std::vector<std::pair<size_t, size_t>> items;
  // Column-mask plans: the column each item asks a mask for.
  std::vector<std::string> mask_columns;

  size_t check_count() const { return specs.size(); }
  // Makes check `index` (principal left empty) in `check`, which must be default-constructed or
  // one that MakeCheck made: what the two checks share is kept in place (the room of the strings
  // and of req.context's own entries, the common entries' reference), so that a thread deciding
  // a batch's checks in a row allocates little. Thread-safe; the product index the plan was
  // translated with must be alive.
  void MakeCheck(size_t index, AccessRequest& check) const;
  // Every check, each made afresh (principal left empty): for callers that hold a whole plan's
  // checks at once (the CLI's replay, tests, benchmarks).
  std::vector<AccessRequest> MakeChecks() const;
};

// Bounds on a request body: Trino's batches are wide (every table of a catalog) but shallow.
ParseLimits DefaultTrinoParseLimits();

// Per-request caps (config keys trino.max_checks_per_request, trino.max_groups_per_identity).
// Over either, Translate fails with RESOURCE_EXHAUSTED and a message naming the key.
struct TrinoLimits {
  size_t max_checks = 10000;  // access checks one request expands to (items x columns/products)
  size_t max_groups = 1024;   // input.context.identity.groups
};

// Parses `body` and translates it into a plan whose checks are made with Plan::MakeCheck (the
// server: on the thread that decides each, Decider::MakeFn) or Plan::MakeChecks. The plan refers
// to `products`, which must outlive those calls. INVALID_ARGUMENT with a message naming the
// field for a body that is not JSON, has no `input` or `input.action.operation`, no
// `input.context.identity.user`, or lacks the resource(s) the endpoint needs. An unknown
// operation is not an error: it is translated with action "unknown" and decided (denied) by the
// policies.
absl::StatusOr<Plan> Translate(Endpoint endpoint, absl::string_view body,
                               const IdentityMapper& identities, const ProductLocator& products,
                               const ParseLimits& limits = DefaultTrinoParseLimits(),
                               const TrinoLimits& caps = TrinoLimits());

// An HTTP status and JSON body.
struct Answer {
  int status = 200;
  std::string body;
};

// What Shape reads of one check's decision: its effect and its obligations.
struct CheckVerdict {
  Effect effect = Effect::kDeny;
  Obligations obligations;
};

// The part of `d` that Shape reads, moved out of it.
CheckVerdict TakeVerdict(Decision& d);

// Shapes the verdicts of the plan's checks (`statuses[i]` OK and `verdicts[i]` for each check
// decided, in order) into Trino's answer; the checks themselves need not be made (plan.items
// say how many there were). Any status that is an error (deadline, internal, no bundle) makes
// the whole answer a 500, so that Trino fails the query instead of guessing. A denied read
// yields the row filter `false` and NULL masks, so that a path reaching data without the select
// check still sees nothing.
Answer Shape(const Plan& plan, const std::vector<absl::Status>& statuses,
             const std::vector<CheckVerdict>& verdicts);
// The same from whole decisions (one per check, in order).
Answer Shape(const Plan& plan, const std::vector<absl::StatusOr<Decision>>& decisions);

// OPA's error shape: {"code": code, "message": message}.
std::string ErrorBody(absl::string_view code, absl::string_view message);

// The answer to a request Translate refused: 413 request_too_large for a cap
// (RESOURCE_EXHAUSTED), else 400 invalid_parameter.
Answer RejectedAnswer(const absl::Status& status);

}  // namespace arbiter::trino

#endif  // ARBITER_SERVICE_TRINO_TRANSLATE_H_
