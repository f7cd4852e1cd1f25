// Test helpers for the engine's GoogleTest suites (combine_test, bundle_test, sandbox_test): status
// assertions (abseil 20220623 has no status matchers), in-memory bundles and request builders.
// Header-only; for tests only.
#ifndef ARBITER_SERVICE_ENGINE_TESTING_H_
#define ARBITER_SERVICE_ENGINE_TESTING_H_

#include <initializer_list>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "service/engine/bundle.h"
#include "service/engine/types.h"

namespace arbiter {
namespace enginetest {

// EXPECT_TRUE(IsOk(status_or_statusor)).
inline ::testing::AssertionResult IsOk(const absl::Status& s) {
  if (s.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "status is " << s;
}
template <typename T>
::testing::AssertionResult IsOk(const absl::StatusOr<T>& s) {
  return IsOk(s.status());
}

// EXPECT_TRUE(StatusIs(s, code, "substring of the message")).
inline ::testing::AssertionResult StatusIs(const absl::Status& s, absl::StatusCode code,
                                           absl::string_view substr = "") {
  if (s.code() == code && absl::StrContains(s.message(), substr)) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "status is " << s << "; expected code " << absl::StatusCodeToString(code)
         << " with a message containing \"" << substr << "\"";
}
template <typename T>
::testing::AssertionResult StatusIs(const absl::StatusOr<T>& s, absl::StatusCode code,
                                    absl::string_view substr = "") {
  return StatusIs(s.status(), code, substr);
}

// A bundle.yaml with `extra` lines appended (limits:, defaults:).
inline std::string BundleYaml(absl::string_view extra = "") {
  return absl::StrCat("revision: r1\n", extra);
}

// A policy file: `return { id = ..., kinds = {...}, <fields> check = function(req, ctx) <body>
// end }`. `fields` are extra "key = value," lines (mode, severity, overrides).
inline std::string Policy(absl::string_view id, absl::string_view body,
                          absl::string_view fields = "", absl::string_view kinds = "'access'") {
  return absl::StrCat("return {\n  id = '", id, "',\n  kinds = {", kinds, "},\n", fields,
                      fields.empty() || absl::EndsWith(fields, "\n") ? "" : "\n",
                      "  check = function(req, ctx)\n", body, "\n  end,\n}\n");
}

// BundleFiles from path -> content pairs.
inline BundleFiles Files(std::initializer_list<std::pair<const std::string, std::string>> files) {
  BundleFiles b;
  b.files = files;
  return b;
}

// Catalogues a product `<d>-data` owned by domain d for each domains/<d>/ folder of `files` and
// for the usual test domains, unless the files have one: DomainAccess reads it, since only the
// catalog says who owns a resource.
inline void AddDomainProducts(BundleFiles& files) {
  std::set<std::string> domains = {"sales", "marketing", "finance", "supplychain"};
  for (const auto& [path, content] : files.files) {
    std::vector<std::string> parts = absl::StrSplit(path, '/');
    if (parts.size() == 3 && parts[0] == "domains") domains.insert(parts[1]);
  }
  for (const std::string& d : domains) {
    std::string path = absl::StrCat("catalog/products/", d, "-data.yaml");
    if (files.files.count(path) == 0) {
      files.files[path] = absl::StrCat("metadata: {name: ", d, "-data, domain: ", d, "}\n");
    }
  }
}

// Loads `files` (bundle.yaml added when missing, and the products of AddDomainProducts) and
// fails the test if that does not work.
inline std::shared_ptr<const Bundle> MustLoad(BundleFiles files) {
  if (files.files.count("bundle.yaml") == 0) files.files["bundle.yaml"] = BundleYaml();
  AddDomainProducts(files);
  absl::StatusOr<std::shared_ptr<const Bundle>> b = Bundle::Load(files);
  EXPECT_TRUE(IsOk(b));
  return b.ok() ? *b : nullptr;
}

// An access request for product `<domain>-data` (see AddDomainProducts), read by `ana`.
inline AccessRequest DomainAccess(absl::string_view domain, absl::string_view action = "read") {
  AccessRequest r;
  r.principal.id = "ana";
  r.principal.roles = {"analyst"};
  r.principal.groups = {"everyone"};
  r.action = std::string(action);
  r.resource.product = absl::StrCat(domain, "-data");
  return r;
}

inline EvalOptions Opts() {
  EvalOptions o;
  o.now = absl::FromUnixSeconds(1'800'000'000);
  o.decision_id = "d-1";
  return o;
}

// Evaluates and fails the test when the result is not OK (the returned decision is then empty).
inline Decision MustEvaluate(const Bundle& b, const Request& r, const EvalOptions& o = Opts()) {
  absl::StatusOr<Decision> d = b.Evaluate(r, o);
  EXPECT_TRUE(IsOk(d));
  return d.ok() ? *std::move(d) : Decision{};
}

inline const Reason* FindReason(const Decision& d, absl::string_view policy_id) {
  for (const Reason& r : d.reasons) {
    if (r.policy_id == policy_id) return &r;
  }
  return nullptr;
}

inline const PolicyFault* FindFault(const Decision& d, absl::string_view policy_id) {
  for (const PolicyFault& f : d.faults) {
    if (f.policy_id == policy_id) return &f;
  }
  return nullptr;
}

// A one-line rendering of what a decision says, for comparing decisions and for messages.
inline std::string Describe(const Decision& d) {
  std::vector<std::string> parts;
  parts.push_back(absl::StrCat("effect=", EffectName(d.effect), d.defaulted ? "(default)" : ""));
  for (const Reason& r : d.reasons) {
    parts.push_back(absl::StrCat("reason[", r.policy_id, " ", r.origin, " ", EffectName(r.effect),
                                 " ", SeverityName(r.severity), " '", r.message, "' '", r.detail,
                                 "']"));
  }
  for (const ColumnMask& m : d.obligations.column_masks) {
    parts.push_back(absl::StrCat("mask[", m.column, "=", m.expression, "]"));
  }
  for (const std::string& f : d.obligations.row_filters) {
    parts.push_back(absl::StrCat("filter[", f, "]"));
  }
  parts.push_back(absl::StrCat("evaluated=", absl::StrJoin(d.evaluated_policies, ",")));
  parts.push_back(absl::StrCat("overridden=", absl::StrJoin(d.overridden_policies, ",")));
  for (const PolicyFault& f : d.faults) {
    parts.push_back(absl::StrCat("fault[", f.policy_id, " ", PolicyFaultTypeName(f.type), "]"));
  }
  return absl::StrJoin(parts, " ");
}

}  // namespace enginetest
}  // namespace arbiter

#endif  // ARBITER_SERVICE_ENGINE_TESTING_H_
