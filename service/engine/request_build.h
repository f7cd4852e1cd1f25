// The steps that turn an engine Request into `req`, the tree every policy reads, each in its own
// file and testable alone (request_build_test.cc). Internal to the engine; Bundle::Evaluate runs
// them in order, once per decision:
//
//   1. validate ValidateRequest (request_validate.cc): the fields a request must have and their
//               shape, before anything is looked up; INVALID_ARGUMENT naming the field.
//   2. resolve  ResolveRequest (request_resolve.cc): who owns what the request is about: for an
//               access request the catalog's product (and table) of its resource, whose domain a
//               request can confirm but never choose; for the others the descriptor's domain.
//   3. tree     RequestTree (request_tree.cc): the `req` map itself, sharing the catalog's trees
//               and a batch's principal rather than copying them.
//   4. change   RequestChange (request_change.cc): deployments only, the classified schema diff
//               (service/diff) with the caller's impact, which becomes both `req.change` and
//               Decision::change.
//
// This is the hot path of every decision: the steps hand each other pointers and views into the
// catalog and the request, never copies of their trees (only the owning domain's name is a
// string of its own); what they return borrows from both, so it lives no longer than they do.
#ifndef ARBITER_SERVICE_ENGINE_REQUEST_BUILD_H_
#define ARBITER_SERVICE_ENGINE_REQUEST_BUILD_H_

#include <cstddef>
#include <cstring>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "service/diff/schema_diff.h"
#include "service/engine/catalog.h"
#include "service/engine/types.h"
#include "service/value/value.h"

namespace arbiter {

// Above this many columns an access request is rejected (resource.columns).
inline constexpr size_t kMaxRequestColumns = 10000;

// Step "validate": the checks that need nothing but the request. Access: principal.id (of
// `principal` when given: a batch's shared principal stands for the request's own), action, a
// table or product named for catalog types and an id for others, no catalog fields on a
// non-catalog type, at most kMaxRequestColumns columns, a table named catalog.schema.table.
// Product and deployment requests: their documents are maps; deployments name an environment.
// The first problem found is the answer.
absl::Status ValidateRequest(const Request& request, const SharedPrincipal* principal);

// What step "resolve" found. Apart from `domain`, views into the catalog and the request.
struct ResolvedRequest {
  // The domain that owns the request's subject, "" for none: the catalog's for an access
  // request (an uncatalogued resource has no owner, so only global policies judge it), the
  // product descriptor's (DescriptorDomain: a number written there is its text) for the other
  // kinds. Owned: Bundle::Evaluate moves it into Decision::domain once the tree is built.
  std::string domain;
  // Access requests only. The product that serves the resource; null when uncatalogued.
  const Catalog::ProductEntry* product = nullptr;
  // The table's entry (columns index included) when the resource is a table the catalog knows
  // the schema of; its `table` is null when the port does not list the table.
  const Catalog::TableEntry* table = nullptr;
  // req.resource.product: the catalog's name for a catalogued table, else the request's.
  absl::string_view product_name;
};

// Step "resolve": for an access request, one catalog lookup of the table (else the product).
// INVALID_ARGUMENT when the request's own resource.domain or resource.product contradict the
// catalog; a resource the catalog does not know is not an error (it has no owner). Expects a
// request ValidateRequest accepted.
absl::StatusOr<ResolvedRequest> ResolveRequest(const Request& request, const Catalog& catalog);
// The result borrows from the request: not from a temporary (an AccessRequest passed where a
// Request is expected would be one).
absl::StatusOr<ResolvedRequest> ResolveRequest(Request&& request, const Catalog& catalog) = delete;

// Step "tree": `req` as policies read it: kind and domain, then per kind the
// principal/requester, action, context, resource (its columns as the catalog's column entries,
// and unknown_columns), product and table; or the documents of a product or deployment request.
// `principal`, when given, is shared as req.principal instead of the request's own. Deployments'
// `change` is not part of it (step "change").
Value RequestTree(const Request& request, const SharedPrincipal* principal,
                  const ResolvedRequest& resolved);
// The same tree, rebuilt in `tree`: what `tree` holds (the tree of an earlier request:
// Bundle::Evaluate keeps one per worker set) is reused where it has the same shape: its maps'
// and lists' storage, its strings' buffers, its shared references. A decision like the one
// before then allocates nothing here and destroys no tree. The result equals RequestTree's.
void FillRequestTree(const Request& request, const SharedPrincipal* principal,
                     const ResolvedRequest& resolved, Value& tree);

// Rebuilding a tree in place, one map at a time: Next(key) gives each entry's value, in order,
// for a Set* below (or another refill) to write.
class MapRefill {
 public:
  // `v` becomes a map (kept, entries and all, when it owns one) with room for `capacity`
  // entries: the references Next gives stay valid while no more entries than that are given.
  // Inline, as the destructor: a request tree has ten maps and lists, each refilled per
  // decision, and mostly with the same shape (no reserve, nothing to drop).
  MapRefill(Value& v, size_t capacity) : m_(v.owned_map()) {
    if (m_ == nullptr || m_->capacity() < capacity) Reset(v, capacity);
  }
  // Drops the entries after the last one given.
  ~MapRefill() {
    if (i_ < m_->size()) DropRest();
  }
  MapRefill(const MapRefill&) = delete;
  MapRefill& operator=(const MapRefill&) = delete;
  // The value of the next entry, `key`: the entry in this place when it has that key (its old
  // value left for the writer to reuse), else a new null entry in its place, the entries after
  // it dropped (the shape changed there).
  // Inline: a request tree has ~25 entries, each rewritten per decision.
  Value& Next(absl::string_view key) {
    if (i_ < m_->size()) {
      auto& [k, v] = (*m_)[i_];
      if (k.size() == key.size() && std::memcmp(k.data(), key.data(), key.size()) == 0) {
        ++i_;
        return v;
      }
    }
    return NextNew(key);
  }

 private:
  Value& NextNew(absl::string_view key);
  void Reset(Value& v, size_t capacity);
  void DropRest();
  Value::Map* m_;
  size_t i_ = 0;
};

// The same for a list.
class ListRefill {
 public:
  ListRefill(Value& v, size_t capacity) : l_(v.owned_list()) {
    if (l_ == nullptr || l_->capacity() < capacity) Reset(v, capacity);
  }
  ~ListRefill() {
    if (i_ < l_->size()) DropRest();
  }
  ListRefill(const ListRefill&) = delete;
  ListRefill& operator=(const ListRefill&) = delete;
  Value& Next() {
    if (i_ < l_->size()) return (*l_)[i_++];
    return NextNew();
  }

 private:
  Value& NextNew();
  void Reset(Value& v, size_t capacity);
  void DropRest();
  Value::List* l_;
  size_t i_ = 0;
};

// `v` = `s`, in the buffer of the string `v` owns when it owns one.
// Inline for its usual case, a string that holds the text already (most of a tree's ~20
// strings per decision: the kind, action, domain, the principal's id and roles): comparing costs
// less than the call and assign's rewrite.
void SetStringSlow(Value& v, absl::string_view s);
inline void SetString(Value& v, absl::string_view s) {
  if (const std::string* owned = v.owned_string();
      owned != nullptr && owned->size() == s.size() &&
      std::memcmp(owned->data(), s.data(), s.size()) == 0) {
    return;
  }
  SetStringSlow(v, s);
}
// `v` = Value::Shared(target), without touching the reference count when `v` holds it already.
void SetShared(Value& v, const std::shared_ptr<const Value>& target);

// Step "change": what a deployment changes (ComputeChange with each change's `line`, from the
// positions of documents sent as YAML text), under the bundle's diff rule classes; then, when
// `impact` is set and answers, the result as its `impact` (EvalOptions::deployment_impact).
Value RequestChange(
    const DeploymentRequest& request, const DiffRuleClasses& classes,
    const std::function<Value(const DeploymentRequest&, const Value& change)>& impact);

}  // namespace arbiter

#endif  // ARBITER_SERVICE_ENGINE_REQUEST_BUILD_H_
