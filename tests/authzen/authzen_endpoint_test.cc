// arbiterd's AuthZEN Authorization API 1.0 endpoints over HTTP, on the shipped bundle: the
// specification's own request examples (its subjects, documents and accounts are not in the
// mesh's catalog, so the global policies deny them: a 200 with "decision": false), plus the
// catalog's products and tables, which the mesh's policies grant.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/arbiterd_process.h"

namespace arbiter {
namespace {

using ::arbiter::testing::ArbiterdOptions;
using ::arbiter::testing::ArbiterdProcess;
using Json = nlohmann::json;

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// One HTTP/1.1 exchange with extra request headers ("Name: value\r\n" lines), over loopback.
Response Exchange(int port, const std::string& method, const std::string& path,
                  const std::string& body, const std::string& extra_headers = "",
                  const std::string& host = "127.0.0.1") {
  Response out;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  timeval tv{30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return out;
  }
  std::string req = absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: ", host,
                                 "\r\nConnection: close\r\nContent-Type: application/json\r\n",
                                 extra_headers, "Content-Length: ", body.size(), "\r\n\r\n", body);
  for (size_t sent = 0; sent < req.size();) {
    ssize_t n = send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string resp;
  char buf[8192];
  for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) resp.append(buf, static_cast<size_t>(n));
  close(fd);
  size_t end = resp.find("\r\n\r\n");
  if (resp.size() < 12 || end == std::string::npos) return out;
  (void)absl::SimpleAtoi(resp.substr(9, 3), &out.status);
  std::vector<std::string> lines = absl::StrSplit(resp.substr(0, end), "\r\n");
  for (size_t i = 1; i < lines.size(); ++i) {
    size_t colon = lines[i].find(':');
    if (colon == std::string::npos) continue;
    out.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
  }
  out.body = resp.substr(end + 4);
  return out;
}

class AuthzenTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ArbiterdOptions o;
    o.bundle_dir = testing::ShippedBundleDir();
    auto p = ArbiterdProcess::Start(o);
    ASSERT_TRUE(p.ok()) << p.status();
    server_ = p->release();
  }
  static void TearDownTestSuite() { delete server_; }

  static Response Post(const std::string& path, const std::string& body,
                       const std::string& extra_headers = "") {
    return Exchange(server_->http_port(), "POST", path, body, extra_headers);
  }
  // Expects a 200 JSON answer and returns it parsed.
  static Json PostOk(const std::string& path, const std::string& body) {
    Response r = Post(path, body);
    EXPECT_EQ(r.status, 200) << body << "\n" << r.body;
    EXPECT_EQ(r.headers["content-type"], "application/json");
    return Json::parse(r.body, nullptr, false);
  }

  static ArbiterdProcess* server_;
};

ArbiterdProcess* AuthzenTest::server_ = nullptr;

constexpr char kEvaluation[] = "/access/v1/evaluation";
constexpr char kEvaluations[] = "/access/v1/evaluations";

// Spec §6.1.1, the Access Evaluation request example.
constexpr char kSpecEvaluation[] = R"({
  "subject": {
    "type": "user",
    "id": "alice@example.com"
  },
  "resource": {
    "type": "account",
    "id": "123"
  },
  "action": {
    "name": "can_read",
    "properties": {
      "method": "GET"
    }
  },
  "context": {
    "time": "1985-10-26T01:22-07:00"
  }
})";

TEST_F(AuthzenTest, SpecEvaluationExampleIsDeniedWithA200) {
  Json j = PostOk(kEvaluation, kSpecEvaluation);
  EXPECT_EQ(j["decision"], false) << j;
  EXPECT_FALSE(j["context"]["decision_id"].get<std::string>().empty()) << j;
  // The global policies judge an account (no catalog owner): it is not data the mesh knows.
  ASSERT_FALSE(j["context"]["reasons"].empty()) << j;
  for (const Json& r : j["context"]["reasons"]) {
    EXPECT_TRUE(r.contains("message")) << r;
    EXPECT_FALSE(r.contains("detail")) << "details are for the audit log only: " << r;
  }
}

TEST_F(AuthzenTest, SpecHttpsExampleEchoesTheRequestId) {
  // Spec §10.1 (HTTPS binding examples).
  Response r = Post(kEvaluation, R"({
    "subject": {"type": "user", "id": "alice@example.com"},
    "resource": {"type": "todo", "id": "1"},
    "action": {"name": "can_read"},
    "context": {"time": "1985-10-26T01:22-07:00"}})",
                    "Authorization: Bearer myoauthtoken\r\n"
                    "X-Request-ID: bfe9eb29-ab87-4ca3-be83-a1d5d8305716\r\n");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["x-request-id"], "bfe9eb29-ab87-4ca3-be83-a1d5d8305716");
  EXPECT_EQ(Json::parse(r.body)["decision"], false);
}

TEST_F(AuthzenTest, CatalogResourcesAreGrantedByTheMeshPolicies) {
  Json product = PostOk(kEvaluation, R"({
    "subject": {"type": "user", "id": "ana@example.com",
                "properties": {"roles": ["sales-analysts"], "department": "Sales"}},
    "action": {"name": "read"},
    "resource": {"type": "product", "id": "customer-360"}})");
  EXPECT_EQ(product["decision"], true) << product;
  EXPECT_FALSE(product["context"]["decision_id"].get<std::string>().empty());

  // A table with columns: the PII column is masked for data scientists.
  Json table = PostOk(kEvaluation, R"({
    "subject": {"type": "user", "id": "dana@example.com",
                "properties": {"roles": "data-scientists"}},
    "action": {"name": "read"},
    "resource": {"type": "table", "id": "customer_analytics.customer_360.customers",
                 "properties": {"columns": ["customer_id", "email"]}}})");
  EXPECT_EQ(table["decision"], true) << table;
  ASSERT_TRUE(table["context"].contains("obligations")) << table;
  EXPECT_EQ(table["context"]["obligations"]["column_masks"][0]["column"], "email") << table;

  Json stranger = PostOk(kEvaluation, R"({
    "subject": {"type": "user", "id": "mallory@example.com"},
    "action": {"name": "read"},
    "resource": {"type": "product", "id": "customer-360"}})");
  EXPECT_EQ(stranger["decision"], false) << stranger;
}

TEST_F(AuthzenTest, MalformedInputIsA400WithAMessage) {
  Response notjson = Post(kEvaluation, "{\"subject\": ");
  EXPECT_EQ(notjson.status, 400);
  EXPECT_FALSE(notjson.body.empty());
  Response nosubject =
      Post(kEvaluation, R"({"action": {"name": "read"}, "resource": {"type": "t", "id": "1"}})");
  EXPECT_EQ(nosubject.status, 400);
  EXPECT_EQ(nosubject.body, "subject: required");
  // A table id that is not catalog.schema.table: the engine refuses it as malformed.
  Response badtable = Post(kEvaluation, R"({"subject": {"type": "user", "id": "a"},
      "action": {"name": "read"}, "resource": {"type": "table", "id": "customers"}})");
  EXPECT_EQ(badtable.status, 400);
  EXPECT_TRUE(absl::StrContains(badtable.body, "resource.table")) << badtable.body;
  // Spec §7.1.2's options example names no action at all: a required member missing.
  Response options = Post(kEvaluations, R"({
    "evaluations": [{
      "resource": {"type": "doc", "id": "1"},
      "subject": {"type": "doc", "id": "2"}
    }],
    "options": {
      "evaluations_semantic": "execute_all",
      "another_option": "value"
    }})");
  EXPECT_EQ(options.status, 400);
  EXPECT_EQ(options.body, "evaluations[0].action: required (here or at the top level)");
  Response semantic = Post(kEvaluations, R"({"options": {"evaluations_semantic": "first"},
      "subject": {"type": "user", "id": "a"}, "action": {"name": "read"},
      "resource": {"type": "product", "id": "customer-360"}})");
  EXPECT_EQ(semantic.status, 400);
  EXPECT_TRUE(absl::StartsWith(semantic.body, "options.evaluations_semantic")) << semantic.body;
}

TEST_F(AuthzenTest, SpecEvaluationsWithoutDefaults) {
  // Spec §7.1: three requests, no default values.
  std::string item_tail = R"(, "context": {"time": "2024-05-31T15:22-07:00"}})";
  std::string body = R"({"evaluations": [)";
  for (const char* doc : {"boxcarring.md", "subject-search.md", "resource-search.md"}) {
    absl::StrAppend(&body, doc[0] == 'b' ? "" : ",",
                    R"({"subject": {"type": "user", "id": "alice@example.com"},)"
                    R"("action": {"name": "can_read"},)"
                    R"("resource": {"type": "document", "id": ")",
                    doc, "\"}", item_tail);
  }
  absl::StrAppend(&body, "]}");
  Json j = PostOk(kEvaluations, body);
  ASSERT_EQ(j["evaluations"].size(), 3u) << j;
  EXPECT_FALSE(j.contains("decision")) << "the specification recommends omitting it";
  for (const Json& e : j["evaluations"]) EXPECT_EQ(e["decision"], false);
}

TEST_F(AuthzenTest, SpecEvaluationsWithDefaultsAndAnOverride) {
  // Spec §7.1.1: subject, context and action defaults; the third overrides the action.
  Json j = PostOk(kEvaluations, R"({
    "subject": {"type": "user", "id": "alice@example.com"},
    "context": {"time": "2024-05-31T15:22-07:00"},
    "action": {"name": "can_read"},
    "evaluations": [
      {"resource": {"type": "document", "id": "boxcarring.md"}},
      {"resource": {"type": "document", "id": "subject-search.md"}},
      {"action": {"name": "can_edit"}, "resource": {"type": "document", "id": "resource-search.md"}}
    ]})");
  ASSERT_EQ(j["evaluations"].size(), 3u) << j;
  std::set<std::string> ids;
  for (const Json& e : j["evaluations"]) ids.insert(e["context"]["decision_id"].get<std::string>());
  EXPECT_EQ(ids.size(), 3u) << "one decision (and log line) per evaluation";
}

// Spec §7.1.2.1's three semantics, on a mix the mesh decides differently: a document (denied), the
// customer-360 product (granted to ana's role), another document.
std::string Semantics(const std::string& semantic, const std::string& items) {
  return absl::StrCat(R"({"subject": {"type": "user", "id": "ana@example.com",
                                      "properties": {"roles": ["sales-analysts"]}},
                          "action": {"name": "read"},
                          "options": {"evaluations_semantic": ")",
                      semantic, R"("}, "evaluations": [)", items, "]}");
}
constexpr char kDoc[] = R"({"resource": {"type": "document", "id": "1"}})";
constexpr char kProduct[] = R"({"resource": {"type": "product", "id": "customer-360"}})";

std::vector<bool> Decisions(const Json& j) {
  std::vector<bool> out;
  for (const Json& e : j["evaluations"]) out.push_back(e["decision"].get<bool>());
  return out;
}

TEST_F(AuthzenTest, EvaluationsSemantics) {
  std::string mix = absl::StrCat(kProduct, ",", kDoc, ",", kProduct);
  EXPECT_EQ(Decisions(PostOk(kEvaluations, Semantics("execute_all", mix))),
            (std::vector<bool>{true, false, true}));
  EXPECT_EQ(Decisions(PostOk(kEvaluations, Semantics("deny_on_first_deny", mix))),
            (std::vector<bool>{true, false}));
  std::string docs_first = absl::StrCat(kDoc, ",", kProduct, ",", kDoc);
  EXPECT_EQ(Decisions(PostOk(kEvaluations, Semantics("permit_on_first_permit", docs_first))),
            (std::vector<bool>{false, true}));
  // The specification's own example: read on three documents.
  std::string docs = absl::StrCat(R"({"resource": {"type": "document", "id": "1"}},)",
                                  R"({"resource": {"type": "document", "id": "2"}},)",
                                  R"({"resource": {"type": "document", "id": "3"}})");
  EXPECT_EQ(Decisions(PostOk(kEvaluations, Semantics("deny_on_first_deny", docs))),
            (std::vector<bool>{false}));
  EXPECT_EQ(Decisions(PostOk(kEvaluations, Semantics("permit_on_first_permit", docs))),
            (std::vector<bool>{false, false, false}));
}

TEST_F(AuthzenTest, MalformedEvaluationInABatchIsAnErrorDecision) {
  Json j = PostOk(kEvaluations, R"({"subject": {"type": "user", "id": "ana@example.com",
                                                "properties": {"roles": ["sales-analysts"]}},
      "action": {"name": "read"},
      "evaluations": [{"resource": {"type": "table", "id": "customers"}},
                      {"resource": {"type": "product", "id": "customer-360"}}]})");
  ASSERT_EQ(j["evaluations"].size(), 2u) << j;
  EXPECT_EQ(j["evaluations"][0]["decision"], false);
  EXPECT_EQ(j["evaluations"][0]["context"]["error"]["status"], 400) << j;
  EXPECT_EQ(j["evaluations"][1]["decision"], true);
}

TEST_F(AuthzenTest, EvaluationsWithoutAnArrayIsOneEvaluation) {
  Json j = PostOk(kEvaluations, kSpecEvaluation);
  EXPECT_EQ(j["decision"], false) << j;
  EXPECT_FALSE(j.contains("evaluations"));
}

TEST_F(AuthzenTest, MetadataHasAbsoluteUrls) {
  Response r = Exchange(server_->http_port(), "GET", "/.well-known/authzen-configuration", "", "",
                        "pdp.example.com:8181");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["content-type"], "application/json");
  Json j = Json::parse(r.body);
  EXPECT_EQ(j["policy_decision_point"], "http://pdp.example.com:8181");
  EXPECT_EQ(j["access_evaluation_endpoint"], "http://pdp.example.com:8181/access/v1/evaluation");
  EXPECT_EQ(j["access_evaluations_endpoint"], "http://pdp.example.com:8181/access/v1/evaluations");
  // Parameters with no value are omitted (no search endpoints are served).
  EXPECT_FALSE(j.contains("search_resource_endpoint"));
  EXPECT_EQ(Exchange(server_->http_port(), "GET", "/.well-known/authzen-configuration", "", "",
                     "evil.example/\"x")
                .status,
            400);
}

TEST(AuthzenConfigTest, ConfiguredBaseUrlAndDecisionLog) {
  std::string dir = testing::MakeTempDir("authzen-log");
  ArbiterdOptions o;
  o.bundle_dir = testing::ShippedBundleDir();
  o.config_yaml = absl::StrCat("authzen:\n  base_url: https://pdp.example.com/\n",
                               "decision_log:\n  path: ", dir, "/decisions.log\n");
  auto server = ArbiterdProcess::Start(o);
  ASSERT_TRUE(server.ok()) << server.status();
  Response meta = Exchange((*server)->http_port(), "GET", "/.well-known/authzen-configuration", "");
  Json j = Json::parse(meta.body);
  EXPECT_EQ(j["policy_decision_point"], "https://pdp.example.com");
  EXPECT_EQ(j["access_evaluation_endpoint"], "https://pdp.example.com/access/v1/evaluation");

  Response r = Exchange((*server)->http_port(), "POST", kEvaluation, kSpecEvaluation,
                        "X-Request-ID: req-42\r\n");
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ((*server)->Stop(SIGTERM), 0);  // drains and flushes the log
  std::string log = testing::ReadFileOrEmpty(dir + "/decisions.log");
  ASSERT_FALSE(log.empty());
  Json line = Json::parse(log.substr(0, log.find('\n')));
  EXPECT_EQ(line["request"]["principal"]["type"], "user") << line;
  EXPECT_EQ(line["request"]["resource"]["type"], "account") << line;
  EXPECT_EQ(line["request"]["resource"]["id"], "123") << line;
  EXPECT_EQ(line["request"]["actionProperties"]["method"], "GET") << line;
  EXPECT_EQ(line["request"]["contextValues"]["time"], "1985-10-26T01:22-07:00") << line;
  EXPECT_EQ(line["request"]["context"]["request_id"], "req-42") << line;
  EXPECT_EQ(line["caller"]["transport"], "http") << line;
}

}  // namespace
}  // namespace arbiter
