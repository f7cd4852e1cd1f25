#include "service/server/decision_wire.h"

#include <string>

#include "arbiter/v1/decision_service.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "service/convert/convert.h"

namespace arbiter {
namespace {

// What the server wrote before: ToProto, explain, then protobuf's serializer.
std::string ViaProto(const Decision& d, const std::string& explain) {
  v1::Decision message;
  ToProto(d, &message);
  if (!explain.empty()) message.set_explain(explain);
  return message.SerializeAsString();
}

// AppendDecisionWire's bytes, checked against DecisionWireSlice's (the unary response's) on the
// way: every test below covers both.
std::string Wire(const Decision& d, const std::string& explain = "") {
  std::string out;
  AppendDecisionWire(d, explain, out);
  if (!d.change.is_map()) {  // (a Struct's map may serialize in another order)
    grpc::Slice slice = DecisionWireSlice(d, explain);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(slice.begin()), slice.size()), out);
  }
  return out;
}

Reason MakeReason(std::string id, Effect effect, Severity severity, PolicyMode mode) {
  Reason r;
  r.policy_id = std::move(id);
  r.origin = "global";
  r.effect = effect;
  r.severity = severity;
  r.message = "message of " + r.policy_id;
  r.detail = "detail";
  r.mode = mode;
  return r;
}

TEST(DecisionWireTest, EmptyDecisionIsAnEffectOnly) {
  Decision d;
  EXPECT_EQ(Wire(d), ViaProto(d, ""));
  d.effect = Effect::kAllow;
  EXPECT_EQ(Wire(d), ViaProto(d, ""));
}

TEST(DecisionWireTest, EveryFieldAsProtobufWritesIt) {
  Decision d;
  d.decision_id = "0123456789abcdef-00000001";
  d.effect = Effect::kAllow;
  d.reasons.push_back(
      MakeReason("global.pii", Effect::kAllow, Severity::kNone, PolicyMode::kMandatory));
  Reason warned = MakeReason("sales.grant", Effect::kDeny, Severity::kWarning, PolicyMode::kDomain);
  warned.waiver = "W-12";
  warned.origin = "domain:sales";
  d.reasons.push_back(warned);
  Reason obligation =
      MakeReason("global.mask", Effect::kAllow, Severity::kNone, PolicyMode::kDefault);
  obligation.obligation = true;
  obligation.detail.clear();
  d.reasons.push_back(obligation);
  d.reasons.push_back(MakeReason("", Effect::kDeny, Severity::kInfo, PolicyMode::kNone));
  d.reasons.push_back(MakeReason("a.b", Effect::kDeny, Severity::kError, PolicyMode::kAdvisory));
  d.obligations.column_masks.push_back({"email", "'***'"});
  d.obligations.column_masks.push_back({"", ""});
  d.obligations.row_filters.push_back("region = 'eu'");
  d.obligations.row_filters.push_back("");
  d.bundle_revision = "rev-1";
  d.evaluated_policies = {"global.pii", "", "sales.grant"};
  d.overridden_policies = {"global.default-deny"};
  d.domain = "sales";
  d.defaulted = true;
  EXPECT_EQ(Wire(d), ViaProto(d, ""));
  EXPECT_EQ(Wire(d, "explained\nhere"), ViaProto(d, "explained\nhere"));
}

TEST(DecisionWireTest, LengthsOfTwoAndThreeVarintBytes) {
  Decision d;
  Reason r = MakeReason("global.long", Effect::kDeny, Severity::kError, PolicyMode::kMandatory);
  r.message = std::string(300, 'm');   // a two-byte length inside the reason
  r.detail = std::string(20000, 'd');  // three bytes, and a three-byte reason length
  d.reasons.push_back(r);
  d.obligations.row_filters.push_back(std::string(200, 'f'));
  d.obligations.column_masks.push_back({std::string(130, 'c'), "x"});
  d.bundle_revision = std::string(128, 'r');
  EXPECT_EQ(Wire(d), ViaProto(d, ""));
  EXPECT_EQ(Wire(d, std::string(70000, 'e')), ViaProto(d, std::string(70000, 'e')));
}

TEST(DecisionWireTest, OnlyRowFiltersOrOnlyMasks) {
  Decision d;
  d.obligations.row_filters.push_back("x > 1");
  EXPECT_EQ(Wire(d), ViaProto(d, ""));
  d.obligations.row_filters.clear();
  d.obligations.column_masks.push_back({"c", ""});
  EXPECT_EQ(Wire(d), ViaProto(d, ""));
}

TEST(DecisionWireTest, DeploymentChangeGoesThroughTheStruct) {
  Decision d;
  d.effect = Effect::kDeny;
  Value change = Value::EmptyMap();
  change.Add("breaking", true);
  change.Add("removed_columns", Value(Value::List{Value("a"), Value("b")}));
  d.change = change;
  d.reasons.push_back(
      MakeReason("global.compat", Effect::kDeny, Severity::kError, PolicyMode::kMandatory));
  std::string wire = Wire(d, "why");
  v1::Decision parsed;
  ASSERT_TRUE(parsed.ParseFromString(wire));
  EXPECT_TRUE(parsed.change().fields().at("breaking").bool_value());
  EXPECT_EQ(parsed.explain(), "why");
  // A Struct is a map: its bytes may come in any order, so compare the messages.
  v1::Decision expected;
  ASSERT_TRUE(expected.ParseFromString(ViaProto(d, "why")));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(parsed, expected));
}

TEST(DecisionWireTest, BatchResponseAssembledAroundTheDecisions) {
  Decision a;
  a.decision_id = "a";
  a.effect = Effect::kAllow;
  a.reasons.push_back(
      MakeReason("global.x", Effect::kAllow, Severity::kNone, PolicyMode::kDefault));
  Decision b;
  b.decision_id = "b";
  v1::CheckBatchResponse whole;  // what the server serialized before
  ToProto(a, whole.add_decisions());
  whole.add_decisions();  // an item that could not be decided
  ToProto(b, whole.add_decisions());
  whole.mutable_decisions(2)->set_explain("why b");
  auto* e = whole.add_errors();
  e->set_index(1);
  e->mutable_error()->set_code(3);
  e->mutable_error()->set_message("requests[1].resource: required");
  whole.set_bundle_revision("rev");

  std::string bytes;
  AppendMessageField(1, Wire(a), bytes);
  AppendMessageField(1, "", bytes);
  AppendMessageField(1, Wire(b, "why b"), bytes);
  v1::CheckBatchResponse rest;
  *rest.mutable_errors() = whole.errors();
  rest.set_bundle_revision("rev");
  rest.AppendToString(&bytes);
  EXPECT_EQ(bytes, whole.SerializeAsString());

  // As the server writes it: each decision in place after its tag and length.
  std::string in_place;
  AppendDecisionField(1, a, "", in_place);
  AppendMessageField(1, "", in_place);
  AppendDecisionField(1, b, "why b", in_place);
  rest.AppendToString(&in_place);
  EXPECT_EQ(in_place, whole.SerializeAsString());
}

TEST(DecisionWireTest, DecisionFieldOfEveryLengthOfLength) {
  // Messages whose length takes one, two and three varint bytes, and a deployment's (protobuf's
  // bytes for its Struct), each after what is already there.
  for (size_t n : {0, 100, 200, 20000}) {
    Decision d;
    d.decision_id = std::string(n, 'i');
    std::string out = "x";
    AppendDecisionField(1, d, "", out);
    std::string expected = "x";
    AppendMessageField(1, Wire(d), expected);
    EXPECT_EQ(out, expected) << n;
  }
  Decision deployment;
  deployment.change = Value::EmptyMap();
  deployment.change.Add("breaking", true);
  std::string out;
  AppendDecisionField(1, deployment, "why", out);
  v1::CheckBatchResponse parsed;
  ASSERT_TRUE(parsed.ParseFromString(out));
  ASSERT_EQ(parsed.decisions_size(), 1);
  EXPECT_TRUE(parsed.decisions(0).change().fields().at("breaking").bool_value());
  EXPECT_EQ(parsed.decisions(0).explain(), "why");
}

TEST(DecisionWireTest, AppendsToWhatIsThere) {
  Decision d;
  d.decision_id = "id";
  std::string out = "prefix";
  AppendDecisionWire(d, "", out);
  EXPECT_EQ(out, "prefix" + ViaProto(d, ""));
}

}  // namespace
}  // namespace arbiter
