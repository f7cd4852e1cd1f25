// arbiterd end to end: the real binary started as a process on loopback, called through the
// generated gRPC client (and its HTTP side port), on the shipped bundle or a scratch copy.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "clients/cpp/arbiter_client.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/arbiterd_process.h"

namespace arbiter {
namespace {

using ::arbiter::testing::ArbiterdOptions;
using ::arbiter::testing::ArbiterdProcess;

std::unique_ptr<ArbiterdProcess> StartOrDie(ArbiterdOptions options) {
  auto p = ArbiterdProcess::Start(options);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : nullptr;
}

std::string Read(const std::string& path) { return testing::ReadFileOrEmpty(path); }

v1::Document Doc(const std::string& bundle_path) {
  v1::Document d;
  d.set_yaml(Read(testing::ShippedBundleDir() + "/" + bundle_path));
  d.set_source(bundle_path);
  return d;
}

v1::AccessRequest Access(const std::string& id, std::vector<std::string> roles,
                         const std::string& action, const std::string& table,
                         std::vector<std::string> columns) {
  v1::AccessRequest r;
  r.mutable_principal()->set_id(id);
  for (auto& role : roles) r.mutable_principal()->add_roles(role);
  r.set_action(action);
  r.mutable_resource()->set_table(table);
  for (auto& c : columns) r.mutable_resource()->add_columns(c);
  return r;
}

bool HasReason(const v1::Decision& d, const std::string& id) {
  for (const auto& r : d.reasons()) {
    if (r.policy_id() == id) return true;
  }
  return false;
}

constexpr char kCustomers[] = "customer_analytics.customer_360.customers";

class ShippedBundleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    log_dir_ = new std::string(testing::MakeTempDir("arbiter-log"));
    ArbiterdOptions o;
    o.bundle_dir = testing::ShippedBundleDir();
    o.config_yaml = absl::StrCat("server:\n  max_batch_size: 5\n  max_message_bytes: 65536\n",
                                 "decision_log:\n  path: ", *log_dir_, "/decisions.jsonl\n");
    server_ = StartOrDie(o).release();
  }
  static void TearDownTestSuite() {
    delete server_;
    delete log_dir_;
  }
  client::Client Client() const { return client::Client(server_->grpc_target()); }

  static ArbiterdProcess* server_;
  static std::string* log_dir_;
};
ArbiterdProcess* ShippedBundleTest::server_ = nullptr;
std::string* ShippedBundleTest::log_dir_ = nullptr;

TEST_F(ShippedBundleTest, AccessAllowedWithPiiMasked) {
  auto d = Client().CheckAccess(
      Access("ana", {"sales-analysts"}, "read", kCustomers, {"customer_id", "email"}));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->effect(), v1::EFFECT_ALLOW);
  EXPECT_TRUE(HasReason(*d, "global.access-grants"));
  ASSERT_EQ(d->obligations().column_masks_size(), 1);
  EXPECT_EQ(d->obligations().column_masks(0).column(), "email");
  EXPECT_EQ(d->domain(), "sales");
  EXPECT_FALSE(d->bundle_revision().empty());
  EXPECT_FALSE(d->decision_id().empty());
}

TEST_F(ShippedBundleTest, AccessDeniedWithoutGrant) {
  auto d = Client().CheckAccess(Access("mallory", {"interns"}, "read", kCustomers, {"email"}));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->effect(), v1::EFFECT_DENY);
  EXPECT_EQ(d->obligations().column_masks_size(), 0);
}

TEST_F(ShippedBundleTest, AccessToUncataloguedTableDenied) {
  auto d = Client().CheckAccess(
      Access("ana", {"sales-analysts"}, "read", "nowhere.unknown.table", {"x"}));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->effect(), v1::EFFECT_DENY);
  EXPECT_TRUE(HasReason(*d, "global.catalog-registered"));
}

TEST_F(ShippedBundleTest, ProductChecks) {
  v1::ProductRequest ok;
  *ok.mutable_product() = Doc("catalog/products/customer-360.yaml");
  auto d = Client().CheckProduct(ok);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->effect(), v1::EFFECT_ALLOW);

  v1::ProductRequest bad;
  bad.mutable_product()->set_yaml(
      "apiVersion: datamesh/v1\nkind: DataProduct\nmetadata:\n  name: Bad_Name\n  domain: sales\n"
      "  version: 1.0.0\nspec: {}\n");
  d = Client().CheckProduct(bad);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->effect(), v1::EFFECT_DENY);
  EXPECT_TRUE(HasReason(*d, "global.interoperability"));
}

TEST_F(ShippedBundleTest, DeploymentBreakingChangeWithoutMajorBumpDenied) {
  std::string contract =
      Read(testing::ShippedBundleDir() + "/catalog/contracts/customer-transactions-contract.yaml");
  // Drop the `amount` field from the Avro schema: a breaking change.
  std::string changed = contract;
  auto pos = changed.find("{\"name\": \"amount\"");
  ASSERT_NE(pos, std::string::npos);
  changed.erase(pos, changed.find('\n', pos) - pos + 1);
  v1::DeploymentRequest r;
  *r.mutable_product() = Doc("catalog/products/customer-transactions.yaml");
  *r.mutable_previous() = Doc("catalog/products/customer-transactions.yaml");
  r.add_contracts()->set_yaml(changed);
  r.add_previous_contracts()->set_yaml(contract);
  r.set_environment("production");
  auto d = Client().CheckDeployment(r);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->effect(), v1::EFFECT_DENY);
  EXPECT_TRUE(HasReason(*d, "global.breaking-changes"));
  // The classified diff travels with the decision.
  const auto& breaking = d->change().fields().at("breaking").list_value();
  ASSERT_GE(breaking.values_size(), 1);
  EXPECT_EQ(breaking.values(0).struct_value().fields().at("rule").string_value(), "field_removed");
}

TEST_F(ShippedBundleTest, BatchAnswersEachItemInOrder) {
  v1::CheckBatchRequest batch;
  *batch.add_requests() = Access("ana", {"sales-analysts"}, "read", kCustomers, {"customer_id"});
  *batch.add_requests() = Access("mallory", {}, "read", kCustomers, {"customer_id"});
  *batch.add_requests() = Access("", {}, "read", kCustomers, {});  // invalid: no principal
  auto r = Client().CheckBatch(batch);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->decisions_size(), 3);
  EXPECT_EQ(r->decisions(0).effect(), v1::EFFECT_ALLOW);
  EXPECT_EQ(r->decisions(1).effect(), v1::EFFECT_DENY);
  EXPECT_EQ(r->decisions(2).effect(), v1::EFFECT_UNSPECIFIED);
  ASSERT_EQ(r->errors_size(), 1);
  EXPECT_EQ(r->errors(0).index(), 2);
  EXPECT_EQ(r->errors(0).error().code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_TRUE(absl::StrContains(r->errors(0).error().message(), "principal.id"));
  // Decision ids: "<prefix>-<counter>", the batch's taken together (one chunk: consecutive),
  // a later call's after them.
  auto counter = [](const std::string& id) {
    uint64_t n = 0;
    EXPECT_EQ(id.size(), 25u) << id;
    EXPECT_TRUE(absl::SimpleHexAtoi(id.substr(17), &n)) << id;
    return n;
  };
  const std::string& first = r->decisions(0).decision_id();
  const std::string& second = r->decisions(1).decision_id();
  EXPECT_EQ(first.substr(0, 17), second.substr(0, 17));
  EXPECT_EQ(counter(second), counter(first) + 1);
  auto later = Client().CheckAccess(Access("ana", {"sales-analysts"}, "read", kCustomers, {}));
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_GT(counter(later->decision_id()), counter(second));
}

TEST_F(ShippedBundleTest, BadInputNamesTheField) {
  client::Client c = Client();
  struct Case {
    v1::AccessRequest request;
    std::string field;
  };
  std::vector<Case> cases = {
      {Access("", {"x"}, "read", kCustomers, {}), "principal.id"},
      {Access("ana", {"x"}, "", kCustomers, {}), "action"},
      {Access("ana", {"x"}, "read", "", {}), "resource"},
      {Access("ana", {"x"}, "read", "only.two", {}), "resource.table"},
  };
  for (const Case& tc : cases) {
    auto d = c.CheckAccess(tc.request);
    ASSERT_FALSE(d.ok()) << tc.field;
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument) << d.status();
    EXPECT_TRUE(absl::StrContains(d.status().message(), tc.field)) << d.status();
  }
  v1::ProductRequest yaml_error;
  yaml_error.mutable_product()->set_yaml("metadata:\n  name: [unclosed\n");
  auto d = c.CheckProduct(yaml_error);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(d.status().message(), "product:")) << d.status();

  v1::ProductRequest no_document;  // neither yaml nor struct
  d = c.CheckProduct(no_document);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(d.status().message(), "product: required")) << d.status();

  v1::ProductRequest not_a_map;
  not_a_map.mutable_product()->set_yaml("- just\n- a list\n");
  d = c.CheckProduct(not_a_map);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument) << d.status();

  v1::DeploymentRequest no_env;
  *no_env.mutable_product() = Doc("catalog/products/customer-transactions.yaml");
  d = c.CheckDeployment(no_env);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(d.status().message(), "environment")) << d.status();
}

TEST_F(ShippedBundleTest, LimitsOnBatchAndMessageSize) {
  v1::CheckBatchRequest batch;
  for (int i = 0; i < 6; ++i) *batch.add_requests() = Access("ana", {}, "read", kCustomers, {});
  auto r = Client().CheckBatch(batch);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(r.status().message(), "requests")) << r.status();

  v1::AccessRequest big = Access("ana", {}, "read", kCustomers, {});
  big.mutable_principal()->add_roles(std::string(100000, 'x'));  // over max_message_bytes
  auto d = Client().CheckAccess(big);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kResourceExhausted) << d.status();
}

TEST_F(ShippedBundleTest, HealthAndReflection) {
  auto channel = grpc::CreateChannel(server_->grpc_target(), grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  for (const char* service : {"", "arbiter.v1.DecisionService"}) {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(service);
    grpc::health::v1::HealthCheckResponse resp;
    ASSERT_TRUE(health->Check(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  }
  auto reflection = grpc::reflection::v1alpha::ServerReflection::NewStub(channel);
  grpc::ClientContext ctx;
  auto stream = reflection->ServerReflectionInfo(&ctx);
  grpc::reflection::v1alpha::ServerReflectionRequest req;
  req.set_list_services("");
  ASSERT_TRUE(stream->Write(req));
  grpc::reflection::v1alpha::ServerReflectionResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  std::vector<std::string> names;
  for (const auto& s : resp.list_services_response().service()) names.push_back(s.name());
  EXPECT_NE(std::find(names.begin(), names.end(), "arbiter.v1.DecisionService"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "arbiter.v1.PolicyService"), names.end());
  stream->WritesDone();
}

TEST_F(ShippedBundleTest, HttpSidePort) {
  auto healthz = testing::HttpRequest(server_->http_port(), "GET", "/healthz");
  EXPECT_EQ(healthz.status, 200);
  auto readyz = testing::HttpRequest(server_->http_port(), "GET", "/readyz");
  EXPECT_EQ(readyz.status, 200);
  ASSERT_TRUE(Client().CheckAccess(Access("ana", {"sales-analysts"}, "read", kCustomers, {})).ok());
  auto metrics = testing::HttpRequest(server_->http_port(), "GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_TRUE(absl::StrContains(metrics.body, "arbiter_decisions_total{kind=\"access\""));
  EXPECT_TRUE(absl::StrContains(metrics.body, "arbiter_decision_latency_seconds_bucket"));
  EXPECT_TRUE(absl::StrContains(metrics.body, "arbiter_bundle_info{revision="));
  EXPECT_TRUE(absl::StrContains(metrics.body, "arbiter_decision_log_queue_depth"));
}

TEST_F(ShippedBundleTest, StatusAndPolicies) {
  auto s = Client().GetStatus();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_FALSE(s->bundle_revision().empty());
  EXPECT_TRUE(s->last_load_error().empty());
  EXPECT_GT(s->policies_size(), 1);
  auto p = Client().ListPolicies("global");
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_GT(p->policies_size(), 0);
  for (const auto& info : p->policies()) EXPECT_EQ(info.origin(), "global");
}

// --- Reload, drain and the decision log, each on a server of its own. ---

class ScratchBundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("arbiter-bundle");
    bundle_ = dir_ + "/bundle";
    testing::CopyTree(testing::ShippedBundleDir(), bundle_);
  }
  void SetRevision(const std::string& revision) {
    std::string cfg = Read(bundle_ + "/bundle.yaml");
    auto start = cfg.find("revision:");
    auto end = cfg.find('\n', start);
    cfg.replace(start, end - start, absl::StrCat("revision: \"", revision, "\""));
    testing::WriteFile(bundle_ + "/bundle.yaml", cfg);
  }
  // Waits (bounded) until the server reports `revision`.
  bool WaitForRevision(const client::Client& c, const std::string& revision) {
    for (int i = 0; i < 200; ++i) {
      auto s = c.GetStatus();
      if (s.ok() && s->bundle_revision() == revision) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return false;
  }
  std::string dir_, bundle_;
};

TEST_F(ScratchBundleTest, HotReloadOfAChangedPolicyIsSeenByTheNextCall) {
  ArbiterdOptions o;
  o.bundle_dir = bundle_;
  o.config_yaml = "bundle:\n  poll_interval_ms: 50\n";
  auto server = StartOrDie(o);
  ASSERT_NE(server, nullptr);
  client::Client c(server->grpc_target());
  auto before = c.CheckAccess(Access("ana", {"sales-analysts"}, "read", kCustomers, {}));
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->effect(), v1::EFFECT_ALLOW);

  testing::WriteFile(bundle_ + "/global/freeze.lua", R"(return {
  id = "global.freeze", description = "change freeze", kinds = {"access"},
  check = function(req, ctx) return deny("the mesh is frozen") end,
})");
  SetRevision("r-freeze");
  ASSERT_TRUE(WaitForRevision(c, "r-freeze"));
  auto after = c.CheckAccess(Access("ana", {"sales-analysts"}, "read", kCustomers, {}));
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->effect(), v1::EFFECT_DENY);
  EXPECT_EQ(after->bundle_revision(), "r-freeze");
  EXPECT_TRUE(HasReason(*after, "global.freeze"));
}

TEST_F(ScratchBundleTest, BrokenBundleIsRejectedAndTheOldRevisionKeepsAnswering) {
  ArbiterdOptions o;
  o.bundle_dir = bundle_;
  o.config_yaml = "bundle:\n  watch: false\n";
  auto server = StartOrDie(o);
  ASSERT_NE(server, nullptr);
  client::Client c(server->grpc_target());
  auto status = c.GetStatus();
  ASSERT_TRUE(status.ok());
  std::string revision = status->bundle_revision();

  testing::WriteFile(bundle_ + "/domains/sales/broken.lua", "return { id = 'sales.broken',\n");
  SetRevision("r-broken");
  auto reload = c.Reload();
  ASSERT_TRUE(reload.ok()) << reload.status();
  EXPECT_FALSE(reload->activated());
  ASSERT_GE(reload->errors_size(), 1);
  EXPECT_TRUE(absl::StrContains(reload->errors(0), "domains/sales/broken.lua:"))
      << reload->errors(0);
  EXPECT_EQ(reload->bundle_revision(), revision);

  auto d = c.CheckAccess(Access("ana", {"sales-analysts"}, "read", kCustomers, {}));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->bundle_revision(), revision);
  EXPECT_EQ(d->effect(), v1::EFFECT_ALLOW);
  status = c.GetStatus();
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(absl::StrContains(status->last_load_error(), "broken.lua"));
  EXPECT_EQ(status->reloads_failed(), 1);
  auto metrics = testing::HttpRequest(server->http_port(), "GET", "/metrics");
  EXPECT_TRUE(
      absl::StrContains(metrics.body, "arbiter_bundle_reloads_total{outcome=\"failure\"} 1"));
  EXPECT_TRUE(absl::StrContains(metrics.body, "arbiter_bundle_last_reload_success 0"));
}

TEST_F(ScratchBundleTest, StartingWithABadBundleIsRefused) {
  testing::WriteFile(bundle_ + "/global/oops.lua", "this is not lua");
  ArbiterdOptions o;
  o.bundle_dir = bundle_;
  auto server = ArbiterdProcess::Start(o);
  ASSERT_FALSE(server.ok());
  EXPECT_TRUE(absl::StrContains(server.status().message(), "global/oops.lua:1:"))
      << server.status();
}

TEST_F(ScratchBundleTest, SigtermDrainsAndEveryLoggedDecisionParses) {
  std::string log = dir_ + "/decisions.jsonl";
  ArbiterdOptions o;
  o.bundle_dir = bundle_;
  o.config_yaml = absl::StrCat("decision_log:\n  path: ", log, "\n  overflow: block\n");
  auto server = StartOrDie(o);
  ASSERT_NE(server, nullptr);
  std::atomic<int> ok_calls{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      client::Client c(server->grpc_target());
      while (!stop.load()) {
        auto d = c.CheckAccess(Access("ana", {"sales-analysts"}, "read", kCustomers, {"email"}));
        if (d.ok()) ++ok_calls;
      }
    });
  }
  while (ok_calls.load() < 200) std::this_thread::yield();
  int exit_code = server->Stop(SIGTERM);
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(exit_code, 0);
  std::vector<std::string> lines = absl::StrSplit(Read(log), '\n', absl::SkipEmpty());
  // Every call that got a decision was logged (block mode loses nothing), and every line parses.
  EXPECT_EQ(static_cast<int>(lines.size()), ok_calls.load());
  for (const std::string& line : lines) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << line;
    EXPECT_EQ(j["kind"], "access");
    EXPECT_EQ(j["effect"], "allow");
    EXPECT_EQ(j["request"]["principal"]["id"], "ana");
    EXPECT_TRUE(j.contains("decision_id") && j.contains("bundle_revision") &&
                j.contains("latency_us") && j.contains("caller"));
  }
}

// The gRPC path decodes access checks from their wire bytes (service/convert/access_wire.h),
// and a batch whose checks all name one principal shares it (SharedPrincipal). Either way the
// answers are those of single calls and every log line shows the check's own principal; a
// request the decoder declines (a Struct field) is parsed by protobuf and answered the same.
TEST_F(ScratchBundleTest, BatchesOfOneOrManyPrincipalsAnswerAndLogAsSingleCalls) {
  std::string log = dir_ + "/decisions.jsonl";
  ArbiterdOptions o;
  o.bundle_dir = bundle_;
  o.config_yaml = absl::StrCat("decision_log:\n  path: ", log, "\n  overflow: block\n");
  auto server = StartOrDie(o);
  ASSERT_NE(server, nullptr);
  client::Client c(server->grpc_target());
  std::vector<v1::AccessRequest> checks = {
      Access("ana", {"sales-analysts"}, "read", kCustomers, {"customer_id", "email"}),
      Access("ana", {"sales-analysts"}, "read", kCustomers, {"segment"}),
      Access("ana", {"sales-analysts"}, "write", kCustomers, {}),
  };
  std::vector<v1::AccessRequest> mixed = checks;
  mixed[1] = Access("mallory", {}, "read", kCustomers, {"segment"});
  v1::AccessRequest with_struct = checks[0];  // declined by the wire decoder
  (*with_struct.mutable_action_properties()->mutable_fields())["reason"].set_string_value("audit");
  std::vector<std::string> principals;  // of the logged decisions, in call order
  for (const std::vector<v1::AccessRequest>* items : {&checks, &mixed}) {
    v1::CheckBatchRequest batch;
    for (const auto& r : *items) *batch.add_requests() = r;
    auto answer = c.CheckBatch(batch);
    ASSERT_TRUE(answer.ok()) << answer.status();
    ASSERT_EQ(answer->decisions_size(), static_cast<int>(items->size()));
    EXPECT_EQ(answer->errors_size(), 0);
    for (size_t i = 0; i < items->size(); ++i) {
      auto single = c.CheckAccess((*items)[i]);
      ASSERT_TRUE(single.ok()) << single.status();
      const v1::Decision& d = answer->decisions(static_cast<int>(i));
      EXPECT_EQ(d.effect(), single->effect()) << i;
      EXPECT_EQ(d.reasons_size(), single->reasons_size()) << i;
      EXPECT_EQ(d.obligations().SerializeAsString(), single->obligations().SerializeAsString());
      EXPECT_EQ(absl::StrJoin(d.evaluated_policies(), ","),
                absl::StrJoin(single->evaluated_policies(), ","));
    }
    for (const auto& r : *items) principals.push_back(r.principal().id());  // the batch's lines
    for (const auto& r : *items) principals.push_back(r.principal().id());  // the singles'
  }
  auto declined = c.CheckAccess(with_struct);
  ASSERT_TRUE(declined.ok()) << declined.status();
  auto plain = c.CheckAccess(checks[0]);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(declined->effect(), plain->effect());
  EXPECT_EQ(declined->obligations().SerializeAsString(), plain->obligations().SerializeAsString());
  EXPECT_EQ(server->Stop(SIGTERM), 0);  // drains the log
  std::vector<std::string> lines = absl::StrSplit(Read(log), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), principals.size() + 2);
  std::multiset<std::string> logged, expected(principals.begin(), principals.end());
  for (size_t i = 0; i < principals.size(); ++i) {
    auto j = nlohmann::json::parse(lines[i], nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << lines[i];
    logged.insert(j["request"]["principal"]["id"].get<std::string>());
    EXPECT_EQ(j["request"]["principal"]["roles"].size(),
              j["request"]["principal"]["id"] == "ana" ? 1u : 0u)
        << lines[i];
  }
  // A batch's checks may be decided (and logged) by several threads: compare as multisets.
  EXPECT_EQ(logged, expected);
  auto last = nlohmann::json::parse(lines[principals.size()], nullptr, false);
  EXPECT_EQ(last["request"]["actionProperties"]["reason"], "audit") << lines[principals.size()];
}

TEST_F(ScratchBundleTest, DecisionLogOverflowIsCountedNotSilent) {
  // The log goes to a FIFO that nobody reads: the writer stalls, the small queue fills, and
  // the overflow policy (drop) must count every lost line.
  std::string fifo = dir_ + "/stalled.fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  int reader = open(fifo.c_str(), O_RDONLY | O_NONBLOCK);  // lets the writer open, never reads
  ASSERT_GE(reader, 0);
  ArbiterdOptions o;
  o.bundle_dir = bundle_;
  o.config_yaml =
      absl::StrCat("decision_log:\n  path: ", fifo, "\n  queue_capacity: 8\n  overflow: drop\n");
  auto server = StartOrDie(o);
  ASSERT_NE(server, nullptr);
  client::Client c(server->grpc_target());
  // Enough decisions to fill the pipe buffer (64 KiB) and the queue several times over.
  for (int i = 0; i < 400; ++i) {
    auto d = c.CheckAccess(Access("ana", {"sales-analysts"}, "read", kCustomers, {"email"}));
    ASSERT_TRUE(d.ok()) << d.status();  // decisions keep flowing; only logging drops
  }
  auto metrics = testing::HttpRequest(server->http_port(), "GET", "/metrics");
  double dropped = -1;
  for (absl::string_view line : absl::StrSplit(metrics.body, '\n')) {
    if (absl::StartsWith(line, "arbiter_decision_log_dropped_total ")) {
      (void)absl::SimpleAtod(line.substr(line.find(' ') + 1), &dropped);
    }
  }
  EXPECT_GT(dropped, 0) << metrics.body;
  server->Stop(SIGKILL);  // the writer is stuck on the FIFO by design
  close(reader);
}

TEST_F(ScratchBundleTest, PassedDeadlineIsDeadlineExceededNeverAnAllow) {
  testing::WriteFile(bundle_ + "/global/slow.lua", R"(return {
  id = "global.slow", description = "burns time", kinds = {"access"}, mode = "default",
  check = function(req, ctx)
    local x = 0
    for i = 1, 1e12 do x = x + i end
    return allow("never")
  end,
})");
  // Generous policy budgets, so that the caller's deadline is what stops the evaluation.
  std::string cfg = Read(bundle_ + "/bundle.yaml");
  cfg.replace(cfg.find("limits:"), std::string::npos,
              "limits: {instruction_budget: 100000000000, policy_timeout_ms: 60000}\n");
  testing::WriteFile(bundle_ + "/bundle.yaml", cfg);
  ArbiterdOptions o;
  o.bundle_dir = bundle_;
  auto server = StartOrDie(o);
  ASSERT_NE(server, nullptr);
  client::ClientOptions opts;
  opts.timeout = absl::Milliseconds(20);
  client::Client c(server->grpc_target(), opts);
  auto d = c.CheckAccess(Access("ana", {"sales-analysts"}, "read", kCustomers, {}));
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), absl::StatusCode::kDeadlineExceeded) << d.status();
}

}  // namespace
}  // namespace arbiter
