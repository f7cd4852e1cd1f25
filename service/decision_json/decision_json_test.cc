#include "service/decision_json/decision_json.h"

#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "service/convert/convert.h"
#include "service/value/parse.h"

namespace arbiter::json {
namespace {

v1::AccessRequest AccessProto() {
  v1::AccessRequest r;
  v1::Principal* p = r.mutable_principal();
  p->set_id("ana@company.com");
  p->add_roles("sales-analysts");
  p->add_groups("sales");
  p->set_domain("sales");
  (*p->mutable_attributes())["region"] = "EU";
  (*p->mutable_attributes())["team"] = "a \"quoted\"\nname";
  r.set_action("read");
  r.mutable_resource()->set_table("customer_analytics.customer_360.customers");
  r.mutable_resource()->add_columns("email");
  r.mutable_resource()->add_columns("segment");
  (*r.mutable_context())["query_id"] = "q1";
  return r;
}

// The request written from engine types is what protobuf's own JSON printer wrote for the wire
// message (same fields, same names, defaults left out) ...
TEST(AppendRequestTest, AccessMatchesProtobufsJsonMapping) {
  v1::AccessRequest proto = AccessProto();
  std::string ours;
  AppendRequest(ours, Request(FromProto(proto)));
  EXPECT_EQ(nlohmann::json::parse(ours), nlohmann::json::parse(ToJson(proto))) << ours;

  v1::AccessRequest sparse;
  sparse.mutable_principal()->set_id("x");
  sparse.set_action("discover");
  sparse.mutable_resource()->set_product("p");
  ours.clear();
  AppendRequest(ours, Request(FromProto(sparse)));
  EXPECT_EQ(nlohmann::json::parse(ours), nlohmann::json::parse(ToJson(sparse))) << ours;

  // The typed, structured fields the AuthZEN door fills.
  v1::AccessRequest typed;
  typed.mutable_principal()->set_id("alice@example.com");
  typed.mutable_principal()->set_type("user");
  (*typed.mutable_principal()->mutable_properties()->mutable_fields())["clearance"]
      .set_number_value(3);
  typed.set_action("can_read");
  (*typed.mutable_action_properties()->mutable_fields())["method"].set_string_value("GET");
  typed.mutable_resource()->set_type("document");
  typed.mutable_resource()->set_id("boxcarring.md");
  (*typed.mutable_resource()->mutable_properties()->mutable_fields())["draft"].set_bool_value(true);
  (*typed.mutable_context_values()->mutable_fields())["time"].set_string_value("1985");
  ours.clear();
  AppendRequest(ours, Request(FromProto(typed)));
  EXPECT_EQ(nlohmann::json::parse(ours), nlohmann::json::parse(ToJson(typed))) << ours;
}

// A tree as JSON, for comparisons that ignore key order (a Struct's keys come back sorted).
nlohmann::json Tree(const Value& v) {
  std::string out;
  AppendJson(out, v);
  return nlohmann::json::parse(out);
}

// ... and it replays: parsed back as the request message, it converts to the same request.
TEST(AppendRequestTest, EveryKindReplaysToTheSameEngineRequest) {
  AccessRequest access = FromProto(AccessProto());
  std::string out;
  AppendRequest(out, Request(access));
  absl::StatusOr<Request> back = RequestFromJson(Kind::kAccess, out);
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << out;
  const auto& a = std::get<AccessRequest>(*back);
  EXPECT_EQ(a.principal.attributes, access.principal.attributes);
  EXPECT_EQ(a.resource.columns, access.resource.columns);
  EXPECT_EQ(a.context, access.context);

  absl::StatusOr<Value> product = ParseYaml(
      "metadata: {name: p, domain: sales, version: 1.2.0}\nspec:\n  n: 3\n  ratio: 0.25\n"
      "  flag: true\n  none: null\n  list: [a, 2, {b: c}]\n",
      "p.yaml");
  ASSERT_TRUE(product.ok());
  ProductRequest pr;
  pr.product = *product;
  pr.operation = "update";
  pr.requester.id = "ci";
  out.clear();
  AppendRequest(out, Request(pr));
  back = RequestFromJson(Kind::kProduct, out);
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << out;
  EXPECT_EQ(Tree(std::get<ProductRequest>(*back).product), Tree(pr.product)) << out;
  EXPECT_EQ(std::get<ProductRequest>(*back).operation, "update");

  DeploymentRequest dr;
  dr.product = *product;
  dr.previous = *product;
  dr.contracts = {*product};
  dr.previous_contracts = {*product, *product};
  dr.environment = "production";
  dr.pipeline = {{"commit", "abc"}};
  dr.requester.id = "ci";
  out.clear();
  AppendRequest(out, Request(dr));
  back = RequestFromJson(Kind::kDeployment, out);
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << out;
  const auto& d = std::get<DeploymentRequest>(*back);
  EXPECT_EQ(Tree(d.product), Tree(dr.product));
  ASSERT_TRUE(d.previous.has_value());
  EXPECT_EQ(d.contracts.size(), 1u);
  EXPECT_EQ(d.previous_contracts.size(), 2u);
  EXPECT_EQ(d.pipeline, dr.pipeline);
  EXPECT_EQ(d.environment, "production");
}

TEST(AppendStringTest, EscapesControlsQuotesAndBackslashesOnly) {
  EXPECT_EQ(Quote("plain"), "\"plain\"");
  EXPECT_EQ(Quote(std::string("a\"b\\c\n\r\t\x01\x1f\x7f", 11)),
            "\"a\\\"b\\\\c\\n\\r\\t\\u0001\\u001f\x7f\"");
  EXPECT_EQ(Quote("é ✓"), "\"é ✓\"");
  EXPECT_EQ(Quote(std::string("\0", 1)), "\"\\u0000\"");
  EXPECT_EQ(Quote(""), "\"\"");
}

// The line's writer tells plain strings from those needing an escape on its own for strings up
// to 16 bytes (word-wide tests with overlapping loads): every length up to 40, every position,
// each byte that needs an escape and its neighbours that do not, must come out as Quote (the
// one escaper) writes it.
TEST(AppendStringTest, LineStringsOfEveryLengthAndPositionAsQuote) {
  const char specials[] = {'"', '\\', '\n', '\x01', '\x1f', '\0',   ' ', '!',
                           '#', '[',  ']',  '\x7f', '\x80', '\xff', 'a'};
  for (size_t n = 1; n <= 40; ++n) {  // (an empty id leaves the principal out)
    for (size_t at = 0; at < n; ++at) {
      for (char c : specials) {
        std::string s(n, 'x');
        s[at] = c;
        AccessRequest r;
        r.principal.id = s;
        std::string out;
        AppendRequest(out, Request(r));
        EXPECT_EQ(out, "{\"principal\":{\"id\":" + Quote(s) + "}}")
            << "length " << n << ", byte " << static_cast<int>(c) << " at " << at;
        if (::testing::Test::HasFailure()) return;
      }
    }
  }
}

TEST(AppendTimeTest, IsAbslRfc3339Full) {
  absl::Time base =
      absl::FromCivil(absl::CivilSecond(2026, 11, 30, 1, 52, 53), absl::UTCTimeZone());
  for (absl::Duration frac : {absl::ZeroDuration(), absl::Milliseconds(250), absl::Nanoseconds(1),
                              absl::Microseconds(123456), absl::Nanoseconds(999999999)}) {
    for (absl::Time t : {base + frac, base - absl::Hours(24 * 400) + frac,
                         absl::UnixEpoch() - absl::Seconds(1) + frac}) {
      std::string out;
      AppendTime(out, t);
      EXPECT_EQ(out, absl::FormatTime(absl::RFC3339_full, t, absl::UTCTimeZone()));
    }
  }
}

TEST(DecisionLogLineTest, HasEveryFieldOfTheLogLine) {
  Decision d;
  d.decision_id = "id-1";
  d.effect = Effect::kAllow;
  d.reasons.push_back({"global.grant", "global", Effect::kAllow, Severity::kNone, "ok \"fine\"",
                       "detail\n2", PolicyMode::kDefault, false, ""});
  d.obligations.column_masks.push_back({"email", "'***'"});
  d.obligations.row_filters.push_back("region = 'EU'");
  d.bundle_revision = "r1";
  d.domain = "sales";
  d.evaluated_policies = {"global.grant", "sales.x"};
  d.overridden_policies = {"global.y"};
  d.faults.push_back({"sales.x", PolicyFault::Type::kBudget});
  absl::Time t = absl::FromUnixMillis(1700000000123);
  std::string line =
      DecisionLogLine(d, Request(FromProto(AccessProto())), t, absl::Microseconds(42),
                      {"ipv4:1.2.3.4:5", "me", "engine", "a-claim", "grpc"});
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["decision_id"], "id-1");
  EXPECT_EQ(j["time"], absl::FormatTime(absl::RFC3339_full, t, absl::UTCTimeZone()));
  EXPECT_EQ(j["kind"], "access");
  EXPECT_EQ(j["request"]["principal"]["id"], "ana@company.com");
  EXPECT_EQ(j["effect"], "allow");
  EXPECT_EQ(j["reasons"][0]["policy_id"], "global.grant");
  EXPECT_EQ(j["reasons"][0]["origin"], "global");
  EXPECT_EQ(j["reasons"][0]["effect"], "allow");
  EXPECT_EQ(j["reasons"][0]["severity"], "");
  EXPECT_EQ(j["reasons"][0]["message"], "ok \"fine\"");
  EXPECT_EQ(j["reasons"][0]["detail"], "detail\n2");
  EXPECT_EQ(j["obligations"]["column_masks"][0]["column"], "email");
  EXPECT_EQ(j["obligations"]["column_masks"][0]["expression"], "'***'");
  EXPECT_EQ(j["obligations"]["row_filters"][0], "region = 'EU'");
  EXPECT_EQ(j["bundle_revision"], "r1");
  EXPECT_EQ(j["domain"], "sales");
  EXPECT_EQ(j["evaluated_policies"].size(), 2u);
  EXPECT_EQ(j["overridden_policies"][0], "global.y");
  EXPECT_EQ(j["faults"][0]["policy_id"], "sales.x");
  EXPECT_EQ(j["faults"][0]["type"], "budget");
  EXPECT_EQ(j["latency_us"], 42);
  EXPECT_EQ(j["caller"]["peer"], "ipv4:1.2.3.4:5");
  EXPECT_EQ(j["caller"]["identity"], "me");
  EXPECT_EQ(j["caller"]["role"], "engine");
  EXPECT_EQ(j["caller"]["claimed"], "a-claim");
  EXPECT_EQ(j["caller"]["transport"], "grpc");
  // The same line from the request's JSON (the redacted path) is the same line.
  std::string request_json;
  AppendRequest(request_json, Request(FromProto(AccessProto())));
  EXPECT_EQ(DecisionLogLine(d, Kind::kAccess, request_json, t, absl::Microseconds(42),
                            {"ipv4:1.2.3.4:5", "me", "engine", "a-claim", "grpc"}),
            line);
}

TEST(DecisionLogLineTest, AWaivedReasonNamesItsWaiver) {
  Decision d;
  d.decision_id = "id-2";
  d.effect = Effect::kAllow;
  Reason waived;
  waived.policy_id = "global.slos";
  waived.origin = "global";
  waived.effect = Effect::kDeny;
  waived.severity = Severity::kWarning;
  waived.message = "no SLO [waived by W-12]";
  waived.mode = PolicyMode::kMandatory;
  waived.waiver = "W-12";
  d.reasons.push_back(waived);
  d.reasons.push_back({"global.grant", "global", Effect::kAllow, Severity::kNone, "ok", "",
                       PolicyMode::kDefault, false, ""});
  auto j = nlohmann::json::parse(DecisionLogLine(d, Request(FromProto(AccessProto())),
                                                 absl::FromUnixSeconds(1700000000),
                                                 absl::Microseconds(1), {}));
  EXPECT_EQ(j["reasons"][0]["waiver"], "W-12");
  EXPECT_EQ(j["reasons"][0]["severity"], "warning");
  // Only waived reasons carry the key, so every other line keeps its shape.
  EXPECT_FALSE(j["reasons"][1].contains("waiver"));
}

}  // namespace
}  // namespace arbiter::json

namespace arbiter::json {
namespace {

// The decision object (CLI --output json, the gate) and the log line share their fields: one
// shape, written by one serializer.
TEST(DecisionJsonTest, DecisionObjectMatchesTheLogLinesFields) {
  Decision d;
  d.decision_id = "d-1";
  d.effect = Effect::kDeny;
  Reason r;
  r.policy_id = "global.breaking-changes";
  r.origin = "global";
  r.effect = Effect::kDeny;
  r.severity = Severity::kError;
  r.message = "a field was removed";
  d.reasons.push_back(r);
  d.bundle_revision = "rev-1";
  d.domain = "sales";
  d.evaluated_policies = {"global.breaking-changes"};
  d.change = Value::EmptyMap();
  d.change.Set("breaking", Value::EmptyList());
  d.defaulted = false;
  std::string object = DecisionJson(d, Kind::kDeployment);
  EXPECT_EQ(object,
            R"({"decision_id":"d-1","kind":"deployment","effect":"deny","reasons":[{"policy_id":)"
            R"("global.breaking-changes","origin":"global","effect":"deny","severity":"error",)"
            R"("message":"a field was removed","detail":""}],"obligations":{"column_masks":[],)"
            R"("row_filters":[]},"bundle_revision":"rev-1","domain":"sales","evaluated_policies":)"
            R"(["global.breaking-changes"],"overridden_policies":[],"faults":[],"defaulted":false,)"
            R"("change":{"breaking":[]}})");
  // The log line carries the same text from "effect" to "faults".
  AccessRequest req;
  std::string line = DecisionLogLine(d, Request(req), absl::UnixEpoch(), absl::ZeroDuration(), {});
  size_t from = object.find(",\"effect\"");
  size_t to = object.find(",\"defaulted\"");
  EXPECT_NE(line.find(object.substr(from, to - from)), std::string::npos) << line;
}

}  // namespace
}  // namespace arbiter::json

namespace arbiter::json {
namespace {

// Every field of every kind, with texts that need escapes and some that do not, appended to a
// string that already holds text: the exact bytes, pinned so that a faster writer cannot change
// a line that dry-run replay, blast radius or a log pipeline reads.
Principal RichPrincipal() {
  Principal p;
  p.id = "ana@company.com";
  p.roles = {"sales-analysts", "r\"2"};
  p.groups = {"emea", ""};
  p.domain = "sales";
  p.attributes = {{"region", "EU"}, {"team", "a \"quoted\"\nname\x01\\"}};
  p.type = "user";
  p.properties = Value::EmptyMap();
  p.properties.Set("clearance", Value(3));
  p.properties.Set("tags", Value(Value::List{Value("x"), Value(true), Value(0.5), Value()}));
  return p;
}

Decision RichDecision() {
  Decision d;
  d.decision_id = "2c1a17e0af4a41eb-00000001";
  d.effect = Effect::kAllow;
  d.reasons.push_back({"global.grant", "global", Effect::kAllow, Severity::kNone,
                       "Granted by the data product's access control.",
                       "role sales-analysts has read\ton \"customer-360\"", PolicyMode::kDefault,
                       false, ""});
  d.reasons.push_back({"sales.slo", "domain:sales", Effect::kDeny, Severity::kWarning,
                       "no SLO [waived by W-12]", "", PolicyMode::kMandatory, false, "W-12"});
  d.obligations.column_masks.push_back({"email", "'***'"});
  d.obligations.column_masks.push_back({"phone", "regexp_replace(phone, '\\d', 'x')"});
  d.obligations.row_filters = {"region = 'EU'", "owner = current_user"};
  d.bundle_revision = "2026.11.21-1";
  d.domain = "sales";
  d.evaluated_policies = {"global.grant", "global.pii-masking", "sales.slo"};
  d.overridden_policies = {"global.y"};
  d.faults.push_back({"sales.x", PolicyFault::Type::kBudget});
  d.faults.push_back({"sales.z", PolicyFault::Type::kError});
  return d;
}

const Caller kCaller{"ipv4:127.0.0.1:33238", "spiffe://x/y", "engine", "cl\"aim", "grpc"};

// The lines, one per line of testdata/log_lines.golden (written by the byte-at-a-time writer
// this one replaced; ARBITER_UPDATE_GOLDEN=1 rewrites it from the current code).
std::vector<std::string> RichLines() {
  std::vector<std::string> lines;
  const absl::Time t = absl::FromUnixNanos(1764508459067216408);
  AccessRequest access;
  access.principal = RichPrincipal();
  access.action = "read";
  access.resource = {"sales",
                     "customer-360",
                     "customer_analytics.customer_360.customers",
                     {"customer_id", "email", "seg\"ment"},
                     "table",
                     "t-1",
                     Value::EmptyMap()};
  access.resource.properties.Set("draft", Value(true));
  access.context = {{"operation", "SelectFromColumns"}, {"query_id", "q\n1"}};
  access.action_properties = Value::EmptyMap();
  access.action_properties.Set("method", Value("GET"));
  access.context_values = Value::EmptyMap();
  access.context_values.Set("time", Value(1985));
  std::string line = "prefix|";
  AppendDecisionLogLine(line, RichDecision(), Request(access), t, absl::Microseconds(265), kCaller);
  lines.push_back(line);

  // A batch's shared principal is shown instead of the request's own (empty) one.
  AccessRequest bare;
  bare.action = "discover";
  bare.resource.product = "p";
  Principal shared = RichPrincipal();
  lines.push_back(DecisionLogLine(Decision(), Request(bare), absl::UnixEpoch(),
                                  absl::ZeroDuration(), Caller{}, &shared));
  lines.push_back(DecisionLogLine(Decision(), Request(AccessRequest()), absl::UnixEpoch(),
                                  absl::ZeroDuration(), Caller{}));

  ProductRequest product;
  product.product = Value::EmptyMap();
  product.product.Set("name", Value("customer-360"));
  product.product.Set("owner", Value(Value::Map{{"team", Value("crm \"core\"")}}));
  product.operation = "register";
  product.requester = RichPrincipal();
  lines.push_back(
      DecisionLogLine(RichDecision(), Request(product), t, absl::Milliseconds(3), kCaller));

  DeploymentRequest deployment;
  deployment.product = product.product;
  deployment.previous = Value::EmptyMap();
  deployment.previous->Set("name", Value("customer-360"));
  deployment.contracts = {Value(Value::Map{{"id", Value("c1")}}), Value(Value::List{})};
  deployment.previous_contracts = {Value(Value::Map{{"id", Value("c0")}})};
  deployment.environment = "prod";
  deployment.pipeline = {{"commit", "abc123"}, {"run", "7"}};
  deployment.requester.id = "ci";
  Decision changed = RichDecision();
  changed.change = Value::EmptyMap();
  changed.change.Set("breaking", Value(Value::List{Value("removed column x")}));
  lines.push_back(DecisionLogLine(changed, Request(deployment), t, absl::Seconds(2), kCaller));
  // The redacted path: the request as given JSON.
  lines.push_back(DecisionLogLine(changed, Kind::kDeployment, "{\"redacted\":true}", t,
                                  absl::Microseconds(-1), kCaller));
  // The request alone, appended.
  std::string request = "prefix|";
  AppendRequest(request, Request(deployment));
  lines.push_back(request);
  // The decision object, with its change, twice in one string.
  std::string object = "prefix|";
  AppendDecision(object, changed, Kind::kDeployment);
  changed.defaulted = true;
  AppendDecision(object, changed, Kind::kDeployment);
  lines.push_back(object);
  lines.push_back(DecisionJson(Decision(), Kind::kAccess));
  return lines;
}

// A batch's shared principal is written once per thread and principal and reused for the lines
// after it: each line must still be the one written afresh from the request's own principal,
// whichever principal came before (one differing in any field, an empty one, one with
// properties, the same one again).
TEST(DecisionLogLineTest, SharedPrincipalLinesAreThoseOfTheRequestsOwn) {
  Principal base = RichPrincipal();
  base.properties = Value();
  std::vector<Principal> variants(9, base);
  variants[1].id += "x";
  variants[2].roles.push_back("r3");
  variants[3].groups.pop_back();
  variants[4].domain = "";
  variants[5].attributes["region"] = "US";
  variants[6].type = "service";
  variants[7] = Principal();
  variants[8] = RichPrincipal();  // with properties
  // Each variant right after the base principal, so that each field's difference is what
  // tells them apart.
  std::vector<Principal> principals;
  for (const Principal& v : variants) {
    principals.push_back(base);
    principals.push_back(v);
  }
  AccessRequest bare;
  bare.action = "discover";
  bare.resource.product = "p";
  for (size_t i = 0; i < principals.size(); ++i) {
    AccessRequest own = bare;
    own.principal = principals[i];
    const std::string expected = DecisionLogLine(RichDecision(), Request(own), absl::UnixEpoch(),
                                                 absl::ZeroDuration(), kCaller);
    for (int repeat = 0; repeat < 2; ++repeat) {
      EXPECT_EQ(DecisionLogLine(RichDecision(), Request(bare), absl::UnixEpoch(),
                                absl::ZeroDuration(), kCaller, &principals[i]),
                expected)
          << "principal " << i << " repeat " << repeat;
    }
    std::string request;
    AppendRequest(request, Request(bare), &principals[i]);
    std::string own_request;
    AppendRequest(own_request, Request(own));
    EXPECT_EQ(request, own_request) << "principal " << i;
  }
}

// Each line names its own decision's evaluated policies, whichever list the thread's previous line
// named: the same entries of another table (a reloaded bundle's), other entries of the same
// table, the same ids in a table of their own, none.
TEST(DecisionLogLineTest, EvaluatedPoliciesAreEachDecisionsOwn) {
  auto t1 = std::make_shared<const PolicyIdList::Table>(
      PolicyIdList::Table{"global.a", "global.b", "sales.c"});
  auto t2 = std::make_shared<const PolicyIdList::Table>(
      PolicyIdList::Table{"global.x", "global.\"quoted\"", "sales.z"});
  auto over = [](const std::shared_ptr<const PolicyIdList::Table>& t, std::vector<size_t> at) {
    PolicyIdList list(t);
    for (size_t i : at) list.Add(i);
    return list;
  };
  using Ids = std::vector<std::string>;
  const std::vector<std::pair<PolicyIdList, Ids>> lists = {
      {over(t1, {0, 1}), Ids{"global.a", "global.b"}},
      {over(t1, {0, 2}), Ids{"global.a", "sales.c"}},
      {over(t2, {0, 1}), Ids{"global.x", "global.\"quoted\""}},
      {over(t1, {0, 1, 2}), Ids{"global.a", "global.b", "sales.c"}},
      {PolicyIdList{"global.a", "global.c"}, Ids{"global.a", "global.c"}},
      {over(t1, {}), Ids{}},
      {over(t1, {0, 1}), Ids{"global.a", "global.b"}},
  };
  AccessRequest request;
  request.action = "read";
  for (int round = 0; round < 2; ++round) {
    for (const auto& [list, ids] : lists) {
      for (int repeat = 0; repeat < 2; ++repeat) {
        Decision d = RichDecision();
        d.evaluated_policies = list;
        const nlohmann::json line = nlohmann::json::parse(
            DecisionLogLine(d, Request(request), absl::UnixEpoch(), absl::ZeroDuration(), kCaller));
        EXPECT_EQ(line["evaluated_policies"].get<Ids>(), ids);
        EXPECT_EQ(
            nlohmann::json::parse(DecisionJson(d, Kind::kAccess))["evaluated_policies"].get<Ids>(),
            ids);
      }
    }
  }
  // A thread's first line, of a decision whose list names no table (a default Decision's).
  std::thread([&] {
    Decision d = RichDecision();
    d.evaluated_policies = PolicyIdList();
    const nlohmann::json line = nlohmann::json::parse(
        DecisionLogLine(d, Request(request), absl::UnixEpoch(), absl::ZeroDuration(), kCaller));
    EXPECT_EQ(line["evaluated_policies"].get<Ids>(), Ids{});
  }).join();
}

// A batch's shared context entries are logged as req.context's, merged in key order with the
// check's own (which replace shared ones of their key): the line of a check holding them all
// itself, byte for byte, and it replays to that check.
TEST(DecisionLogLineTest, SharedContextEntriesAreLoggedAsTheRequestsOwn) {
  AccessRequest split;
  split.action = "read";
  split.resource.table = "hive.sales.orders";
  split.shared_context = std::make_shared<ContextMap>(
      ContextMap{{"catalog", "hive"}, {"operation", "FilterTables"}, {"table", "shared"}});
  split.context = {{"column", "id"}, {"table", "orders"}};
  AccessRequest own = split;
  own.shared_context = nullptr;
  own.context = {
      {"catalog", "hive"}, {"column", "id"}, {"operation", "FilterTables"}, {"table", "orders"}};
  const std::string expected = DecisionLogLine(RichDecision(), Request(own), absl::UnixEpoch(),
                                               absl::ZeroDuration(), kCaller);
  EXPECT_NE(expected.find(R"("context":{"catalog":"hive","column":"id",)"
                          R"("operation":"FilterTables","table":"orders"})"),
            std::string::npos)
      << expected;
  EXPECT_EQ(DecisionLogLine(RichDecision(), Request(split), absl::UnixEpoch(), absl::ZeroDuration(),
                            kCaller),
            expected);
  std::string request;
  AppendRequest(request, Request(split));
  absl::StatusOr<Request> back = RequestFromJson(Kind::kAccess, request);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(std::get<AccessRequest>(*back).context, own.context);
  // Only shared entries: the context is still written.
  split.context.clear();
  EXPECT_NE(
      DecisionLogLine(RichDecision(), Request(split), absl::UnixEpoch(), absl::ZeroDuration(),
                      kCaller)
          .find(R"("context":{"catalog":"hive","operation":"FilterTables","table":"shared"})"),
      std::string::npos);
}

TEST(DecisionLogLineTest, EveryFieldOfEveryKindByteForByte) {
  const std::string path = ARBITER_DECISION_JSON_TESTDATA "/log_lines.golden";
  std::vector<std::string> lines = RichLines();
  if (std::getenv("ARBITER_UPDATE_GOLDEN") != nullptr) {
    std::ofstream out(path, std::ios::binary);
    for (const std::string& l : lines) out << l << "\n";
  }
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in.good()) << path;
  std::vector<std::string> golden;
  for (std::string l; std::getline(in, l);) golden.push_back(l);
  ASSERT_EQ(golden.size(), lines.size()) << path;
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i], golden[i]) << "line " << i + 1 << " of " << path;
  }
}

}  // namespace
}  // namespace arbiter::json
