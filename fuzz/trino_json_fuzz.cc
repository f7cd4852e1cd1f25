// libFuzzer target for the Trino endpoint's translation (service/trino): any body, for each of
// the five endpoints, must come back as a plan or an INVALID_ARGUMENT status, never a crash or a
// hang. A plan's items cover its checks in order, every check names a resource the engine
// accepts (a product, or a table of three non-empty parts), and the answer shaped from it is
// valid JSON whether every check is allowed or denied.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "service/trino/translate.h"
#include "service/value/parse.h"

namespace {

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "invariant violated: %s\n", what.c_str());
  std::abort();
}

const arbiter::trino::IdentityMapper& Identities() {
  static const auto* m = new arbiter::trino::IdentityMapper(
      {{"analysts", "sales-analysts, domain:sales, region=EU"}, {"platform", "platform-admin"}});
  return *m;
}

void CheckPlan(const arbiter::trino::Plan& plan) {
  const std::vector<arbiter::AccessRequest> checks = plan.MakeChecks();
  size_t next = 0;
  for (const auto& [begin, end] : plan.items) {
    if (begin != next || end <= begin || end > checks.size()) Fail("item ranges");
    next = end;
  }
  if (next != checks.size()) Fail("checks outside items");
  for (const arbiter::AccessRequest& a : checks) {
    if (plan.principal.id.empty() || a.action.empty()) Fail("principal or action empty");
    if (a.resource.product.empty()) {
      std::vector<absl::string_view> parts = absl::StrSplit(a.resource.table, '.');
      if (parts.size() != 3 || parts[0].empty() || parts[1].empty() || parts[2].empty()) {
        Fail("unaddressable table " + a.resource.table);
      }
    }
  }
  // The server makes each check into the one its thread made before (Plan::MakeCheck): the
  // same check as made afresh, whatever came before it.
  arbiter::AccessRequest reused;
  for (size_t i = 0; i < checks.size(); ++i) {
    plan.MakeCheck(i, reused);
    const arbiter::AccessRequest& fresh = checks[i];
    if (reused.action != fresh.action || reused.resource.table != fresh.resource.table ||
        reused.resource.product != fresh.resource.product ||
        reused.resource.columns != fresh.resource.columns || reused.context != fresh.context ||
        reused.shared_context != fresh.shared_context) {
      Fail("check " + std::to_string(i) + " made in place differs from the one made afresh");
    }
  }
  for (arbiter::Effect effect : {arbiter::Effect::kAllow, arbiter::Effect::kDeny}) {
    arbiter::Decision d;
    d.effect = effect;
    d.obligations.column_masks.push_back({"email", "'***'"});
    d.obligations.row_filters.push_back("region = 'EU'");
    std::vector<absl::StatusOr<arbiter::Decision>> decisions(checks.size(), d);
    arbiter::trino::Answer answer = arbiter::trino::Shape(plan, decisions);
    if (answer.status != 200) Fail("status " + std::to_string(answer.status));
    if (!arbiter::ParseJson(answer.body, "answer").ok()) Fail("answer is not JSON: " + answer.body);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto* products = new arbiter::trino::ProductLocator();
  absl::string_view body(reinterpret_cast<const char*>(data), size);
  arbiter::ParseLimits limits;
  limits.max_bytes = 64 << 10;
  limits.max_depth = 16;
  limits.max_nodes = 10000;
  for (arbiter::trino::Endpoint e :
       {arbiter::trino::Endpoint::kAllow, arbiter::trino::Endpoint::kBatch,
        arbiter::trino::Endpoint::kRowFilters, arbiter::trino::Endpoint::kColumnMask,
        arbiter::trino::Endpoint::kBatchColumnMask}) {
    auto plan = arbiter::trino::Translate(e, body, Identities(), *products, limits);
    if (!plan.ok()) {
      if (plan.status().code() != absl::StatusCode::kInvalidArgument) {
        Fail("unexpected status " + plan.status().ToString());
      }
      continue;
    }
    CheckPlan(*plan);
  }
  return 0;
}
