// libFuzzer target for the Envoy door's translation (service/envoy/translate.h). The input is
// read two ways:
//   - as the bytes of a CheckRequest, what arrives on the wire (a message protobuf declines is
//     the service's INVALID_ARGUMENT before any translation: skipped here);
//   - as the JWT payload a gateway forwards, put into a fixed CheckRequest both as it is and
//     base64url-encoded (so that the claims' JSON parser sees the bytes themselves).
// Either must come back as an access request or an INVALID_ARGUMENT status with a message, never
// a crash or a hang. A translated request names a principal, an action and a product or table;
// it evaluates on the fixed fuzz bundle to a decision or INVALID_ARGUMENT (fuzz_checks.h's
// invariants). The answers shaped from a decision or a refusal carry a status that matches it
// (OK only for an allow), headers Envoy can forward (visible ASCII: keys and values), and, for a
// denial, a JSON object body.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "envoy/service/auth/v3/external_auth.pb.h"
#include "fuzz/fuzz_bundle.h"
#include "fuzz/fuzz_checks.h"
#include "fuzz/fuzz_wire.h"
#include "service/envoy/translate.h"
#include "service/value/parse.h"

namespace {

using arbiter::AccessRequest;
using arbiter::fuzz::Fail;
using ::envoy::config::core::v3::HeaderValueOption;
using ::envoy::service::auth::v3::CheckRequest;
using ::envoy::service::auth::v3::CheckResponse;

constexpr int kOk = 0;
constexpr int kInvalidArgument = 3;
constexpr int kPermissionDenied = 7;

// Routes as config.cc accepts them (a prefix starting with "/", a product or a table): both
// kinds, nested prefixes, one with a trailing slash and a catch-all.
const arbiter::EnvoyDoorConfig& Config() {
  static const auto* c = [] {
    auto* config = new arbiter::EnvoyDoorConfig;
    config->routes.push_back({"/api/v2/customers", "customer-360", "", "", {}});
    config->routes.push_back({"/api/v2/customers/orders/",
                              "",
                              "sales_analytics.customer_360.orders",
                              "sales",
                              {"order_id", "amount"}});
    config->routes.push_back({"/", "catch-all", "", "", {}});
    return config;
  }();
  return *c;
}

bool VisibleAscii(absl::string_view s) {
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c > 0x7E) return false;
  }
  return true;
}

void CheckHeaders(const google::protobuf::RepeatedPtrField<HeaderValueOption>& headers) {
  for (const HeaderValueOption& h : headers) {
    if (h.header().key().empty() || !VisibleAscii(h.header().key()) ||
        !VisibleAscii(h.header().value())) {
      Fail("a header Envoy cannot forward: " + h.header().key());
    }
    if (!h.has_append() || h.append().value()) Fail("a header appended rather than set");
  }
}

void CheckDenied(const CheckResponse& r) {
  if (!r.has_denied_response() || r.has_ok_response()) Fail("a refusal without a denied response");
  if (r.denied_response().status().code() != ::envoy::type::v3::Forbidden) Fail("not a 403");
  CheckHeaders(r.denied_response().headers());
  absl::StatusOr<arbiter::Value> body = arbiter::ParseJson(r.denied_response().body(), "body");
  if (!body.ok() || !body->is_map() || body->Find("message") == nullptr) {
    Fail("a denied body that is not a JSON object with a message: " + r.denied_response().body());
  }
}

void CheckAnswer(const arbiter::Decision& d) {
  const CheckResponse r = arbiter::ext_authz::ShapeDecision(d);
  if (d.effect == arbiter::Effect::kAllow) {
    if (r.status().code() != kOk || !r.has_ok_response()) Fail("an allow not answered OK");
    CheckHeaders(r.ok_response().headers());
    return;
  }
  if (r.status().code() != kPermissionDenied) Fail("a deny not answered PERMISSION_DENIED");
  CheckDenied(r);
}

void CheckTranslation(const CheckRequest& check) {
  absl::StatusOr<AccessRequest> r = arbiter::ext_authz::TranslateCheck(check, Config());
  if (!r.ok()) {
    arbiter::fuzz::CheckRejection(r.status());
    const CheckResponse invalid = arbiter::ext_authz::ShapeInvalid(r.status());
    if (invalid.status().code() != kInvalidArgument) Fail("a refusal not INVALID_ARGUMENT");
    CheckDenied(invalid);
    return;
  }
  if (r->principal.id.empty()) Fail("a principal without an id");
  if (r->action.empty()) Fail("an action without a name");
  if (r->resource.product.empty() && r->resource.table.empty()) Fail("no product or table");
  for (const char* key : {"method", "path", "host"}) {
    if (r->context.find(key) == r->context.end()) Fail(std::string("context without ") + key);
  }
  std::shared_ptr<const arbiter::Bundle> bundle = arbiter::fuzz::LoadFuzzBundle();
  absl::StatusOr<arbiter::Decision> d = bundle->Evaluate(*r, arbiter::fuzz::FuzzEvalOptions());
  arbiter::fuzz::CheckDecision(*bundle, *r, d);
  arbiter::fuzz::CheckDecisionWire(*r, d);
  if (d.ok()) CheckAnswer(*d);
}

// A request as Envoy's HTTP filter sends it, on a route of the config, with `jwt` as the
// forwarded payload header.
CheckRequest WithJwt(const std::string& jwt) {
  CheckRequest r;
  auto* http = r.mutable_attributes()->mutable_request()->mutable_http();
  http->set_method("GET");
  http->set_path("/api/v2/customers?segment=gold");
  http->set_host("customers.data.example");
  (*http->mutable_headers())["x-jwt-payload"] = jwt;
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  arbiter::fuzz::QuietProtobuf();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  CheckRequest check;
  if (check.ParseFromString(bytes)) CheckTranslation(check);
  CheckTranslation(WithJwt(bytes));
  CheckTranslation(WithJwt(absl::WebSafeBase64Escape(bytes)));
  return 0;
}
