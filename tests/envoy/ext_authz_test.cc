// arbiterd's envoy.service.auth.v3.Authorization/Check on the shipped bundle, called as Envoy's
// ext_authz filter calls it: the request attributes Envoy fills in (peers, HTTP method, path,
// host, lower-cased headers with the jwt_authn payload, per-route context_extensions), and the
// answers Envoy acts on (status, ok_response headers, denied_response status and body).
#include <csignal>
#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "envoy/service/auth/v3/external_auth.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/arbiterd_process.h"

namespace arbiter {
namespace {

using ::arbiter::testing::ArbiterdOptions;
using ::arbiter::testing::ArbiterdProcess;
using ::envoy::service::auth::v3::CheckRequest;
using ::envoy::service::auth::v3::CheckResponse;

constexpr int kOk = 0;
constexpr int kInvalidArgument = 3;
constexpr int kPermissionDenied = 7;

// Routes without context_extensions: one to a catalogued table (with the columns the API
// returns), one to a product the catalog does not know.
constexpr char kConfig[] = R"(envoy:
  routes:
    - path_prefix: /api/v2/customers
      table: customer_analytics.customer_360.customers
      columns: [customer_id, email, segment]
    - path_prefix: /api/v1/legacy-crm
      product: legacy-crm
)";

// The base64url (unpadded) JSON payload that jwt_authn forwards.
std::string Jwt(const std::string& json) { return absl::WebSafeBase64Escape(json); }

// A CheckRequest as Envoy's HTTP ext_authz filter builds it: peers, the request's time, id,
// method, lower-cased headers (pseudo-headers included), path with query, host, scheme and
// protocol. `jwt` empty: no x-jwt-payload header; `product`: the route's context_extensions
// product ("" for none). The client also sends an x-arbiter-row-filters header of its own.
CheckRequest EnvoyCheck(const std::string& method, const std::string& path, const std::string& jwt,
                        const std::string& product = "", const std::string& source_principal = "") {
  CheckRequest r;
  auto* attrs = r.mutable_attributes();
  auto* source = attrs->mutable_source();
  source->mutable_address()->mutable_socket_address()->set_address("10.1.2.3");
  source->mutable_address()->mutable_socket_address()->set_port_value(51724);
  source->set_principal(source_principal);
  attrs->mutable_destination()->mutable_address()->mutable_socket_address()->set_address(
      "10.1.9.9");
  attrs->mutable_destination()->mutable_address()->mutable_socket_address()->set_port_value(8080);
  attrs->mutable_request()->mutable_time()->set_seconds(1767225600);
  auto* http = attrs->mutable_request()->mutable_http();
  http->set_id("7d1e2c9a-5f39-4b53-9a2c-1f0e8d6b2a11");
  http->set_method(method);
  http->set_path(path);
  http->set_host("customers.data.example");
  http->set_scheme("https");
  http->set_protocol("HTTP/1.1");
  auto& headers = *http->mutable_headers();
  headers[":authority"] = "customers.data.example";
  headers[":method"] = method;
  headers[":path"] = path;
  headers["x-request-id"] = http->id();
  headers["x-arbiter-row-filters"] = "[\"true\"]";
  if (!jwt.empty()) headers["x-jwt-payload"] = jwt;
  if (!product.empty()) (*attrs->mutable_context_extensions())["product"] = product;
  return r;
}

// The value of the ok_response header `name`, or "" when absent.
std::string OkHeader(const CheckResponse& r, const std::string& name) {
  for (const auto& h : r.ok_response().headers()) {
    if (h.header().key() == name) return h.header().value();
  }
  return "";
}

class ExtAuthzTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ArbiterdOptions o;
    o.bundle_dir = testing::ShippedBundleDir();
    o.config_yaml = kConfig;
    auto p = ArbiterdProcess::Start(o);
    ASSERT_TRUE(p.ok()) << p.status();
    server_ = p->release();
    stub_ = ::envoy::service::auth::v3::Authorization::NewStub(
                grpc::CreateChannel(server_->grpc_target(), grpc::InsecureChannelCredentials()))
                .release();
  }
  static void TearDownTestSuite() {
    delete stub_;
    delete server_;
  }

  static CheckResponse Check(const CheckRequest& req) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    CheckResponse out;
    grpc::Status s = stub_->Check(&ctx, req, &out);
    EXPECT_TRUE(s.ok()) << s.error_code() << ": " << s.error_message();
    return out;
  }

  static ArbiterdProcess* server_;
  static ::envoy::service::auth::v3::Authorization::Stub* stub_;
};

ArbiterdProcess* ExtAuthzTest::server_ = nullptr;
::envoy::service::auth::v3::Authorization::Stub* ExtAuthzTest::stub_ = nullptr;

constexpr char kProductRoute[] = "customer-360";

TEST_F(ExtAuthzTest, AllowsAReaderOfTheProductAndTellsTheUpstream) {
  CheckResponse r = Check(EnvoyCheck(
      "GET", "/api/v2/customers/42?fields=segment",
      Jwt(R"({"iss":"https://idp.example","sub":"ana","roles":["sales-analysts"],"exp":1767229200})"),
      kProductRoute));
  ASSERT_EQ(r.status().code(), kOk) << r.DebugString();
  ASSERT_TRUE(r.has_ok_response());
  EXPECT_FALSE(OkHeader(r, "x-arbiter-decision-id").empty());
  for (const auto& h : r.ok_response().headers()) {
    ASSERT_TRUE(h.has_append());
    EXPECT_FALSE(h.append().value()) << h.header().key() << " must replace what the client sent";
  }
  // The client's own x-arbiter-row-filters never reaches the upstream.
  bool removes_forged = OkHeader(r, "x-arbiter-row-filters").empty();
  for (const auto& name : r.ok_response().headers_to_remove()) {
    removes_forged = removes_forged || name == "x-arbiter-row-filters";
  }
  EXPECT_TRUE(removes_forged) << r.DebugString();
}

TEST_F(ExtAuthzTest, ColumnMasksOfARoutedTableBecomeAHeader) {
  CheckResponse r = Check(
      EnvoyCheck("GET", "/api/v2/customers", Jwt(R"({"sub":"dana","roles":["data-scientists"]})")));
  ASSERT_EQ(r.status().code(), kOk) << r.DebugString();
  std::string masks = OkHeader(r, "x-arbiter-column-masks");
  ASSERT_FALSE(masks.empty()) << r.DebugString();
  nlohmann::json j = nlohmann::json::parse(masks);
  EXPECT_TRUE(j.contains("email")) << masks;
}

TEST_F(ExtAuthzTest, DeniesWith403AndARequesterSafeBody) {
  CheckResponse r = Check(EnvoyCheck("GET", "/api/v2/customers/42",
                                     Jwt(R"({"sub":"mallory","roles":[]})"), kProductRoute));
  EXPECT_EQ(r.status().code(), kPermissionDenied) << r.DebugString();
  ASSERT_TRUE(r.has_denied_response());
  EXPECT_EQ(r.denied_response().status().code(), 403);
  nlohmann::json body = nlohmann::json::parse(r.denied_response().body());
  EXPECT_FALSE(body["decision_id"].get<std::string>().empty());
  EXPECT_FALSE(body["message"].get<std::string>().empty());
  EXPECT_EQ(r.status().message(), body["message"].get<std::string>());
  // Details name roles, products and columns for the audit log; the requester never sees them.
  EXPECT_FALSE(absl::StrContains(r.denied_response().body(), "detail"))
      << r.denied_response().body();
  EXPECT_FALSE(absl::StrContains(r.denied_response().body(), "mallory"))
      << r.denied_response().body();
}

TEST_F(ExtAuthzTest, RouteWithoutAResourceIsRefusedNotGuessed) {
  CheckResponse r = Check(
      EnvoyCheck("GET", "/internal/export", Jwt(R"({"sub":"ana","roles":["sales-analysts"]})")));
  EXPECT_EQ(r.status().code(), kInvalidArgument) << r.DebugString();
  ASSERT_TRUE(r.has_denied_response());
  EXPECT_EQ(r.denied_response().status().code(), 403);
  EXPECT_TRUE(absl::StrContains(r.denied_response().body(), "/internal/export"));
}

TEST_F(ExtAuthzTest, RouteToAnUncataloguedProductIsDeniedByPolicy) {
  CheckResponse r = Check(EnvoyCheck("GET", "/api/v1/legacy-crm/accounts",
                                     Jwt(R"({"sub":"ana","roles":["sales-analysts"]})")));
  EXPECT_EQ(r.status().code(), kPermissionDenied) << r.DebugString();
  EXPECT_TRUE(absl::StrContains(r.denied_response().body(), "not registered"))
      << r.denied_response().body();
}

TEST_F(ExtAuthzTest, MalformedJwtPayloadIsNeverAllowed) {
  const std::string payloads[] = {
      "not base64url!",
      Jwt("{not json"),
      Jwt(R"(["sub","ana"])"),
      Jwt(R"({"roles":["sales-analysts"]})"),                  // no sub
      Jwt(R"({"sub":"ana","roles":"sales-analysts"})") + "%",  // trailing garbage
      Jwt(R"({"sub":"ana","roles":[{"name":"sales-analysts"}]})"),
  };
  for (const std::string& p : payloads) {
    CheckResponse r = Check(EnvoyCheck("GET", "/api/v2/customers/42", p, kProductRoute));
    EXPECT_NE(r.status().code(), kOk) << p << "\n" << r.DebugString();
    EXPECT_FALSE(r.has_ok_response()) << p;
    ASSERT_TRUE(r.has_denied_response()) << p;
    EXPECT_EQ(r.denied_response().status().code(), 403) << p;
  }
}

TEST_F(ExtAuthzTest, WorkloadIdentityWhenNoUserToken) {
  CheckResponse r = Check(EnvoyCheck("GET", "/api/v2/customers/42", "", kProductRoute,
                                     "spiffe://mesh.example/ns/sales/sa/reporting"));
  // A workload without roles is judged (and denied) like any principal.
  EXPECT_EQ(r.status().code(), kPermissionDenied) << r.DebugString();
  nlohmann::json body = nlohmann::json::parse(r.denied_response().body());
  EXPECT_FALSE(body["decision_id"].get<std::string>().empty());

  CheckResponse none = Check(EnvoyCheck("GET", "/api/v2/customers/42", "", kProductRoute));
  EXPECT_EQ(none.status().code(), kInvalidArgument) << none.DebugString();
}

TEST_F(ExtAuthzTest, MethodsMapToActions) {
  const std::string owner = Jwt(R"({"sub":"sam","roles":["sales-data-team"]})");
  EXPECT_EQ(Check(EnvoyCheck("POST", "/api/v2/customers", owner, kProductRoute)).status().code(),
            kOk);
  // DELETE -> "delete", an action the shipped policies do not know: refused.
  CheckResponse del = Check(EnvoyCheck("DELETE", "/api/v2/customers/42", owner, kProductRoute));
  EXPECT_EQ(del.status().code(), kPermissionDenied) << del.DebugString();
  const std::string reader = Jwt(R"({"sub":"ana","roles":["sales-analysts"]})");
  EXPECT_EQ(Check(EnvoyCheck("PUT", "/api/v2/customers/42", reader, kProductRoute)).status().code(),
            kPermissionDenied);
}

// The decision log holds the translated arbiter.v1 request (replayable by the dry-run), not
// Envoy's headers or the query string.
TEST(ExtAuthzLogTest, DecisionLogRecordsTheTranslatedRequest) {
  std::string dir = testing::MakeTempDir("ext-authz-log");
  ArbiterdOptions o;
  o.bundle_dir = testing::ShippedBundleDir();
  o.config_yaml = absl::StrCat("decision_log:\n  path: ", dir, "/decisions.log\n");
  auto server = ArbiterdProcess::Start(o);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = ::envoy::service::auth::v3::Authorization::NewStub(
      grpc::CreateChannel((*server)->grpc_target(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  CheckResponse r;
  ASSERT_TRUE(stub->Check(&ctx,
                          EnvoyCheck("GET", "/api/v2/customers/7?token=secret",
                                     Jwt(R"({"sub":"logged-user","roles":["sales-analysts"],)"
                                         R"("region":"EU","mfa":true})"),
                                     kProductRoute),
                          &r)
                  .ok());
  ASSERT_EQ(r.status().code(), kOk);
  std::string id = OkHeader(r, "x-arbiter-decision-id");
  stub.reset();
  // SIGTERM drains and flushes the log.
  ASSERT_EQ((*server)->Stop(SIGTERM), 0);
  std::string log = testing::ReadFileOrEmpty(dir + "/decisions.log");
  ASSERT_FALSE(log.empty());
  nlohmann::json j = nlohmann::json::parse(log.substr(0, log.find('\n')));
  EXPECT_EQ(j["decision_id"], id);
  EXPECT_EQ(j["request"]["principal"]["id"], "logged-user") << log;
  EXPECT_EQ(j["request"]["principal"]["attributes"]["region"], "EU") << log;
  EXPECT_EQ(j["request"]["principal"]["attributes"]["mfa"], "true") << log;
  EXPECT_EQ(j["request"]["action"], "read") << log;
  EXPECT_EQ(j["request"]["resource"]["product"], "customer-360") << log;
  EXPECT_EQ(j["request"]["context"]["path"], "/api/v2/customers/7") << log;
  EXPECT_EQ(j["request"]["context"]["request_id"], "7d1e2c9a-5f39-4b53-9a2c-1f0e8d6b2a11");
  EXPECT_FALSE(absl::StrContains(log, "secret")) << "the query string is not logged";
  EXPECT_FALSE(absl::StrContains(log, "x-jwt-payload")) << "Envoy's headers are not logged";
}

// A bad `envoy` section stops the server at start with the file, line and key at fault.
TEST(ExtAuthzConfigTest, BadRoutesAreReportedAtStart) {
  ArbiterdOptions o;
  o.bundle_dir = testing::ShippedBundleDir();
  o.config_yaml = "envoy:\n  routes:\n    - product: customer-360\n      methods: [GET]\n";
  auto server = ArbiterdProcess::Start(o);
  ASSERT_FALSE(server.ok());
  EXPECT_TRUE(absl::StrContains(server.status().message(), "envoy.routes[0].path_prefix: required"))
      << server.status();
  EXPECT_TRUE(absl::StrContains(server.status().message(), "unknown key \"methods\""))
      << server.status();
}

}  // namespace
}  // namespace arbiter
