// Explain for governance callers (issue 14): a decision call may ask for the evaluation's trace
// (gRPC `explain: true`, AuthZEN and Trino `?explain=true`); a caller with the governance role
// gets the same text `arbiter eval --explain` prints, any other caller is refused
// (PERMISSION_DENIED / 403) and gets no trace. Two real servers: plaintext loopback callers are
// "anonymous", mapped to governance on one and to engine (the default) on the other.
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "arbiter/v1/decision_service.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/arbiterd_process.h"

namespace arbiter {
namespace {

using ::arbiter::testing::ArbiterdOptions;
using ::arbiter::testing::ArbiterdProcess;
using ::arbiter::testing::HttpResult;

constexpr char kConfig[] = R"(trino:
  group_roles:
    analysts: "sales-analysts"
)";

constexpr char kTrinoSelect[] =
    R"({"input":{"context":{"identity":{"user":"ana","groups":["analysts"]}},)"
    R"("action":{"operation":"SelectFromColumns","resource":{"table":{"catalogName":)"
    R"("customer_analytics","schemaName":"customer_360","tableName":"customers",)"
    R"("columns":["email"]}}}}})";

constexpr char kAuthzen[] =
    R"({"subject":{"type":"user","id":"ana","properties":{"roles":["sales-analysts"]}},)"
    R"("action":{"name":"read"},)"
    R"("resource":{"type":"table","id":"customer_analytics.customer_360.customers"}})";

class ExplainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    for (const char* role : {"governance", ""}) {
      ArbiterdOptions o;
      o.bundle_dir = testing::ShippedBundleDir();
      o.config_yaml = kConfig;
      o.anonymous_role = role;  // "": the server's default, engine
      auto p = ArbiterdProcess::Start(o);
      ASSERT_TRUE(p.ok()) << p.status();
      (*role != '\0' ? governance_ : engine_) = p->release();
    }
  }
  static void TearDownTestSuite() {
    delete governance_;
    delete engine_;
  }

  static std::unique_ptr<v1::DecisionService::Stub> Stub(const ArbiterdProcess& server) {
    return v1::DecisionService::NewStub(
        grpc::CreateChannel(server.grpc_target(), grpc::InsecureChannelCredentials()));
  }

  static v1::AccessRequest Read(bool explain) {
    v1::AccessRequest r;
    r.mutable_principal()->set_id("ana");
    r.mutable_principal()->add_roles("sales-analysts");
    r.set_action("read");
    r.mutable_resource()->set_table("customer_analytics.customer_360.customers");
    r.mutable_resource()->add_columns("email");
    r.set_explain(explain);
    return r;
  }

  static ArbiterdProcess* governance_;
  static ArbiterdProcess* engine_;
};
ArbiterdProcess* ExplainTest::governance_ = nullptr;
ArbiterdProcess* ExplainTest::engine_ = nullptr;

TEST_F(ExplainTest, GrpcGovernanceCallerGetsTheTrace) {
  auto stub = Stub(*governance_);
  grpc::ClientContext ctx;
  v1::Decision d;
  grpc::Status s = stub->CheckAccess(&ctx, Read(true), &d);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(d.effect(), v1::EFFECT_ALLOW);
  // The text `arbiter eval --explain` prints: the deciding step, each policy with its findings.
  EXPECT_TRUE(absl::StartsWith(d.explain(), "explain:\n  decided by step 5")) << d.explain();
  EXPECT_TRUE(absl::StrContains(d.explain(), "global.access-grants [global, default]"))
      << d.explain();
  EXPECT_TRUE(absl::StrContains(d.explain(), "instructions")) << d.explain();

  // Not asked: no trace.
  grpc::ClientContext plain;
  v1::Decision without;
  ASSERT_TRUE(stub->CheckAccess(&plain, Read(false), &without).ok());
  EXPECT_TRUE(without.explain().empty()) << without.explain();
}

TEST_F(ExplainTest, GrpcBatchExplainsEachDecision) {
  auto stub = Stub(*governance_);
  v1::CheckBatchRequest req;
  *req.add_requests() = Read(false);
  *req.add_requests() = Read(true);  // an item may ask for its own trace
  grpc::ClientContext ctx;
  v1::CheckBatchResponse out;
  ASSERT_TRUE(stub->CheckBatch(&ctx, req, &out).ok());
  ASSERT_EQ(out.decisions_size(), 2);
  EXPECT_TRUE(out.decisions(0).explain().empty());
  EXPECT_TRUE(absl::StrContains(out.decisions(1).explain(), "decided by")) << out.DebugString();
}

TEST_F(ExplainTest, GrpcOtherRolesAreRefused) {
  auto stub = Stub(*engine_);
  grpc::ClientContext ctx;
  v1::Decision d;
  grpc::Status s = stub->CheckAccess(&ctx, Read(true), &d);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "may not explain")) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "governance")) << s.error_message();
  EXPECT_TRUE(d.explain().empty());

  v1::CheckBatchRequest batch;
  *batch.add_requests() = Read(false);
  batch.set_explain(true);
  grpc::ClientContext bctx;
  v1::CheckBatchResponse bout;
  EXPECT_EQ(stub->CheckBatch(&bctx, batch, &bout).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  // The same call without explain is decided as always.
  grpc::ClientContext plain;
  ASSERT_TRUE(stub->CheckAccess(&plain, Read(false), &d).ok());
  EXPECT_EQ(d.effect(), v1::EFFECT_ALLOW);
  EXPECT_TRUE(d.explain().empty());
}

TEST_F(ExplainTest, TrinoExplainForGovernanceOnly) {
  HttpResult r = testing::HttpRequest(governance_->http_port(), "POST",
                                      "/v1/data/trino/allow?explain=true", kTrinoSelect);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(absl::StartsWith(r.body, R"({"result":true,"explain":"endpoint: allow, )")) << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, "check 0: read customer_analytics.customer_360.customers"))
      << r.body;
  // Without the flag, the exact answer Trino decodes.
  r = testing::HttpRequest(governance_->http_port(), "POST", "/v1/data/trino/allow", kTrinoSelect);
  EXPECT_EQ(r.body, R"({"result":true})");

  r = testing::HttpRequest(engine_->http_port(), "POST", "/v1/data/trino/allow?explain=true",
                           kTrinoSelect);
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, R"("code":"permission_denied")")) << r.body;
  EXPECT_FALSE(absl::StrContains(r.body, "result")) << r.body;
}

TEST_F(ExplainTest, AuthzenExplainForGovernanceOnly) {
  HttpResult r = testing::HttpRequest(governance_->http_port(), "POST",
                                      "/access/v1/evaluation?explain=true", kAuthzen);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, R"("explain":"explain:\n  decided by)")) << r.body;
  r = testing::HttpRequest(governance_->http_port(), "POST", "/access/v1/evaluation", kAuthzen);
  EXPECT_FALSE(absl::StrContains(r.body, "\"explain\"")) << r.body;
  // A batch (execute_all): each evaluation carries its own explanation.
  r = testing::HttpRequest(governance_->http_port(), "POST", "/access/v1/evaluations?explain=true",
                           absl::StrCat(R"({"evaluations":[)", kAuthzen, ",", kAuthzen, "]}"));
  ASSERT_EQ(r.status, 200) << r.body;
  nlohmann::json batch = nlohmann::json::parse(r.body);
  ASSERT_EQ(batch["evaluations"].size(), 2u) << r.body;
  for (const auto& e : batch["evaluations"]) {
    const std::string explain = e.value("context", nlohmann::json::object()).value("explain", "");
    EXPECT_TRUE(absl::StartsWith(explain, "explain:\n  decided by")) << r.body;
  }

  r = testing::HttpRequest(engine_->http_port(), "POST", "/access/v1/evaluation?explain=true",
                           kAuthzen);
  EXPECT_EQ(r.status, 403) << r.body;
  r = testing::HttpRequest(engine_->http_port(), "POST", "/access/v1/evaluations?explain=1",
                           absl::StrCat(R"({"evaluations":[)", kAuthzen, "]}"));
  EXPECT_EQ(r.status, 403) << r.body;
}

}  // namespace
}  // namespace arbiter
