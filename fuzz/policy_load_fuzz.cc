// libFuzzer target for the Lua sandbox: the input is the source of one domain policy
// (domains/sales/fuzzed.lua) in the otherwise fixed bundle of fuzz_bundle.h, whose bundle.yaml
// sets small limits (100000 instructions, 20 ms, 8 MiB per state). Bundle::Load compiles it and
// runs its top level under those limits; if the bundle loads, a fixed access request, product
// request and deployment request of the sales domain are evaluated, so `check` runs too.
// Arbitrary Lua must end as a load error or a decision (a fault is a deny finding) — never a
// crash, an escape from the sandbox, a hang past the limits, a leak or unbounded memory.
// ARBITER_FUZZ_VERBOSE=1 prints the load status and the reasons (to check a seed).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "fuzz/fuzz_bundle.h"
#include "fuzz/fuzz_checks.h"
#include "service/value/parse.h"

namespace {

using arbiter::Request;

const std::vector<Request>& FixedRequests() {
  static const std::vector<Request>* requests = [] {
    auto* out = new std::vector<Request>;
    arbiter::AccessRequest a;
    a.principal.id = "sam";
    a.principal.roles = {"sales-analysts"};
    a.principal.domain = "sales";
    a.principal.attributes = {{"region", "eu"}};
    a.action = "read";
    a.resource.table = "sales_analytics.orders.orders";
    a.resource.columns = {"order_id", "email"};
    a.context = {{"operation", "SelectFromColumns"}};
    out->push_back(a);

    absl::StatusOr<arbiter::Value> product = arbiter::ParseYaml(
        arbiter::fuzz::FuzzBundleFiles().files["catalog/products/orders.yaml"], "orders.yaml");
    absl::StatusOr<arbiter::Value> contract = arbiter::ParseYaml(
        arbiter::fuzz::FuzzBundleFiles().files["catalog/contracts/orders-contract.yaml"],
        "orders-contract.yaml");
    if (!product.ok() || !contract.ok()) arbiter::fuzz::Fail("fixed documents do not parse");
    arbiter::ProductRequest p;
    p.product = *product;
    p.operation = "update";
    p.requester = a.principal;
    out->push_back(p);

    arbiter::DeploymentRequest d;
    absl::StatusOr<arbiter::Value> next = arbiter::ParseYaml(
        "apiVersion: datamesh/v1\nkind: DataProduct\n"
        "metadata: {name: orders, domain: sales, owner: sales-data-team, version: 1.3.0}\n"
        "spec:\n  outputPorts:\n    - {name: sql-access, type: sql, catalog: sales_analytics,"
        " schema: orders_v2}\n",
        "next.yaml");
    if (!next.ok()) arbiter::fuzz::Fail("fixed deployment does not parse");
    d.product = *next;
    d.previous = *product;
    d.contracts = {*contract};
    d.previous_contracts = {*contract};
    d.environment = "production";
    d.pipeline = {{"commit", "abc123"}};
    d.requester = a.principal;
    out->push_back(std::move(d));
    return out;
  }();
  return *requests;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const arbiter::BundleFiles base = arbiter::fuzz::FuzzBundleFiles();
  arbiter::BundleFiles files = base;
  files.files[arbiter::fuzz::kFuzzedPolicyPath] =
      std::string(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::shared_ptr<const arbiter::Bundle>> bundle = arbiter::Bundle::Load(files);
  static const bool verbose = std::getenv("ARBITER_FUZZ_VERBOSE") != nullptr;
  if (verbose) {
    std::fprintf(stderr, "load: %s\n", bundle.ok() ? "OK" : bundle.status().ToString().c_str());
  }
  if (!bundle.ok()) {
    if (bundle.status().code() != absl::StatusCode::kInvalidArgument) {
      arbiter::fuzz::Fail("Bundle::Load must fail with INVALID_ARGUMENT, got " +
                          bundle.status().ToString());
    }
    return 0;
  }
  for (const Request& request : FixedRequests()) {
    absl::StatusOr<arbiter::Decision> decision =
        (*bundle)->Evaluate(request, arbiter::fuzz::FuzzEvalOptions());
    arbiter::fuzz::CheckDecision(**bundle, request, decision);
    if (verbose && decision.ok()) {
      for (const arbiter::Reason& r : decision->reasons) {
        std::fprintf(stderr, "  %s %s: %s | %s\n",
                     std::string(arbiter::KindName(arbiter::KindOf(request))).c_str(),
                     r.policy_id.c_str(), r.message.c_str(), r.detail.c_str());
      }
    }
    // Run the same request again: state a policy kept in its chunk's upvalues must not turn a
    // second evaluation into a crash either.
    decision = (*bundle)->Evaluate(request, arbiter::fuzz::FuzzEvalOptions());
    arbiter::fuzz::CheckDecision(**bundle, request, decision);
  }
  return 0;
}
