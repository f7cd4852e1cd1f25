// The Envoy door's translation without a server: routes, claims, methods and the answers' shapes.
#include "service/envoy/translate.h"

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace arbiter::ext_authz {
namespace {

using ::envoy::service::auth::v3::CheckRequest;
using ::envoy::service::auth::v3::CheckResponse;

CheckRequest Request(const std::string& method, const std::string& path,
                     const std::string& jwt_json) {
  CheckRequest r;
  auto* http = r.mutable_attributes()->mutable_request()->mutable_http();
  http->set_method(method);
  http->set_path(path);
  http->set_host("api.example");
  if (!jwt_json.empty())
    (*http->mutable_headers())["x-jwt-payload"] = absl::WebSafeBase64Escape(jwt_json);
  return r;
}

EnvoyDoorConfig Routes() {
  EnvoyDoorConfig c;
  c.routes.push_back({"/api/v2/customers", "customer-360", "", "", {}});
  c.routes.push_back(
      {"/api/v2/customers/segments", "", "cat.customer_360.customer_segments", "", {"segment"}});
  return c;
}

TEST(EnvoyTranslateTest, LongestRouteOnSegmentBoundaries) {
  EnvoyDoorConfig c = Routes();
  auto a = TranslateCheck(Request("GET", "/api/v2/customers/segments/1?x=1", R"({"sub":"u"})"), c);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->resource.table, "cat.customer_360.customer_segments");
  EXPECT_EQ(a->resource.columns, std::vector<std::string>{"segment"});
  auto b = TranslateCheck(Request("GET", "/api/v2/customers", R"({"sub":"u"})"), c);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->resource.product, "customer-360");
  // "/api/v2/customersX" is another path, not a sub-path of the route.
  EXPECT_FALSE(TranslateCheck(Request("GET", "/api/v2/customersX", R"({"sub":"u"})"), c).ok());
}

TEST(EnvoyTranslateTest, ContextExtensionsWinOverRoutes) {
  CheckRequest r = Request("GET", "/api/v2/customers", R"({"sub":"u"})");
  auto& ext = *r.mutable_attributes()->mutable_context_extensions();
  ext["table"] = "a.b.c";
  ext["domain"] = "sales";
  ext["columns"] = "email, segment ,";
  auto a = TranslateCheck(r, Routes());
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->resource.table, "a.b.c");
  EXPECT_EQ(a->resource.product, "");
  EXPECT_EQ(a->resource.domain, "sales");
  EXPECT_EQ(a->resource.columns, (std::vector<std::string>{"email", "segment"}));
}

TEST(EnvoyTranslateTest, ClaimsBecomeThePrincipal) {
  EnvoyDoorConfig c = Routes();
  c.id_claim = "email";
  c.roles_claim = "scope";
  auto a = TranslateCheck(
      Request("PATCH", "/api/v2/customers/1",
              R"({"sub":"123","email":"ana@example.com","scope":"read write,admin",)"
              R"("groups":["g1"],"domain":"sales","level":3,"mfa":false,"aud":["x"]})"),
      c);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->principal.id, "ana@example.com");
  EXPECT_EQ(a->principal.roles, (std::vector<std::string>{"read", "write", "admin"}));
  EXPECT_EQ(a->principal.groups, std::vector<std::string>{"g1"});
  EXPECT_EQ(a->principal.domain, "sales");
  EXPECT_EQ(a->principal.attributes.at("sub"), "123");
  EXPECT_EQ(a->principal.attributes.at("level"), "3");
  EXPECT_EQ(a->principal.attributes.at("mfa"), "false");
  EXPECT_EQ(a->principal.attributes.count("aud"), 0u);
  EXPECT_EQ(a->action, "write");
  EXPECT_EQ(a->context.at("method"), "PATCH");
  EXPECT_EQ(a->context.at("host"), "api.example");
}

TEST(EnvoyTranslateTest, UnknownMethodIsUnknownAction) {
  auto a = TranslateCheck(Request("OPTIONS", "/api/v2/customers", R"({"sub":"u"})"), Routes());
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->action, "unknown");
}

TEST(EnvoyTranslateTest, BadPayloadsNameTheHeader) {
  for (const char* json : {"[1]", "{\"sub\":1}", "{\"sub\":\"u\",\"roles\":[1]}", "{",
                           "{\"sub\":\"u\",\"domain\":[\"x\"]}"}) {
    auto a = TranslateCheck(Request("GET", "/api/v2/customers", json), Routes());
    ASSERT_FALSE(a.ok()) << json;
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StartsWith(a.status().message(), "x-jwt-payload")) << a.status();
  }
}

TEST(EnvoyTranslateTest, AllowCarriesObligationsAsHeaders) {
  Decision d;
  d.decision_id = "d-1";
  d.effect = Effect::kAllow;
  d.obligations.row_filters = {"region = 'EU'"};
  d.obligations.column_masks = {{"email", "'***'"}};
  CheckResponse r = ShapeDecision(d);
  EXPECT_EQ(r.status().code(), 0);
  std::map<std::string, std::string> headers;
  for (const auto& h : r.ok_response().headers()) headers[h.header().key()] = h.header().value();
  EXPECT_EQ(headers.at(kDecisionIdHeader), "d-1");
  EXPECT_EQ(headers.at(kRowFiltersHeader), R"(["region = 'EU'"])");
  EXPECT_EQ(headers.at(kColumnMasksHeader), R"({"email":"'***'"})");
  EXPECT_TRUE(r.ok_response().headers_to_remove().empty());
}

TEST(EnvoyTranslateTest, DenyBodyHasMessagesNotDetails) {
  Decision d;
  d.decision_id = "d-2";
  Reason deny;
  deny.effect = Effect::kDeny;
  deny.severity = Severity::kError;
  deny.message = "Not for you.";
  deny.detail = "role x lacks read on secret-product";
  Reason warn = deny;
  warn.severity = Severity::kWarning;
  warn.message = "A warning.";
  d.reasons = {deny, warn};
  CheckResponse r = ShapeDecision(d);
  EXPECT_EQ(r.status().code(), 7);
  EXPECT_EQ(r.status().message(), "Not for you.");
  EXPECT_EQ(r.denied_response().status().code(), 403);
  EXPECT_EQ(r.denied_response().body(),
            R"({"decision_id":"d-2","message":"Not for you.","reasons":["Not for you."]})");
}

}  // namespace
}  // namespace arbiter::ext_authz
