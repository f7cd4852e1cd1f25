// AuthZEN request parsing and answer shapes without a server.
#include "service/authzen/translate.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace arbiter::authzen {
namespace {

TEST(AuthzenTranslateTest, SubjectPropertiesFillThePrincipal) {
  auto r = ParseEvaluation(R"({
    "subject": {"type": "user", "id": "alice@example.com",
                "properties": {"roles": ["sales-analysts"], "groups": "g1 g2", "domain": "sales",
                               "department": "Sales", "clearance": 3, "mfa": true,
                               "devices": ["a"]}},
    "action": {"name": "read", "properties": {"method": "GET"}},
    "resource": {"type": "table", "id": "c.s.t", "properties": {"columns": ["email"]}},
    "context": {"time": "1985-10-26T01:22-07:00", "n": 1},
    "ignored": {"unknown": "members are ignored"}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->principal.type, "user");
  EXPECT_EQ(r->principal.id, "alice@example.com");
  EXPECT_EQ(r->principal.roles, std::vector<std::string>{"sales-analysts"});
  EXPECT_EQ(r->principal.groups, (std::vector<std::string>{"g1", "g2"}));
  EXPECT_EQ(r->principal.domain, "sales");
  EXPECT_EQ(r->principal.attributes.at("department"), "Sales");
  EXPECT_EQ(r->principal.attributes.at("clearance"), "3");
  EXPECT_EQ(r->principal.attributes.at("mfa"), "true");
  EXPECT_EQ(r->principal.attributes.count("devices"), 0u);
  EXPECT_EQ(r->principal.properties.Find("devices")->as_list().size(), 1u);
  EXPECT_EQ(r->action, "read");
  EXPECT_EQ(r->action_properties.GetString("method"), "GET");
  EXPECT_EQ(r->resource.table, "c.s.t");
  EXPECT_EQ(r->resource.columns, std::vector<std::string>{"email"});
  EXPECT_EQ(r->context_values.Find("n")->as_int(), 1);
}

TEST(AuthzenTranslateTest, OtherResourceTypesHaveNoCatalogName) {
  auto r = ParseEvaluation(R"({"subject": {"type": "user", "id": "a"}, "action": {"name": "x"},
                               "resource": {"type": "document", "id": "d1"}})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->resource.type, "document");
  EXPECT_EQ(r->resource.id, "d1");
  EXPECT_TRUE(r->resource.table.empty());
  EXPECT_TRUE(r->resource.product.empty());
}

TEST(AuthzenTranslateTest, MissingMembersAreNamed) {
  struct Case {
    const char* body;
    const char* message;
  } cases[] = {
      {"[]", "body: expected a JSON object"},
      {"{", "body"},
      {R"({"action": {"name": "r"}, "resource": {"type": "t", "id": "1"}})", "subject: required"},
      {R"({"subject": {"type": "user"}, "action": {"name": "r"}, "resource": {"type": "t", "id": "1"}})",
       "subject.id: required string"},
      {R"({"subject": {"type": "user", "id": "a"}, "action": {}, "resource": {"type": "t", "id": "1"}})",
       "action.name: required string"},
      {R"({"subject": {"type": "user", "id": "a"}, "action": {"name": "r"}, "resource": {"type": "t", "id": 1}})",
       "resource.id: required string"},
      {R"({"subject": {"type": "user", "id": "a", "properties": []}, "action": {"name": "r"},
           "resource": {"type": "t", "id": "1"}})",
       "subject.properties: expected an object"},
      {R"({"subject": {"type": "user", "id": "a", "properties": {"roles": [1]}}, "action": {"name": "r"},
           "resource": {"type": "t", "id": "1"}})",
       "subject.properties.roles: expected strings"},
      {R"({"subject": {"type": "user", "id": "a"}, "action": {"name": "r"},
           "resource": {"type": "t", "id": "1"}, "context": "now"})",
       "context: expected an object"},
  };
  for (const Case& c : cases) {
    auto r = ParseEvaluation(c.body);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(r.status().message(), c.message)) << r.status() << "\n" << c.body;
  }
}

TEST(AuthzenTranslateTest, EvaluationsTakeDefaultsAndOverrides) {
  auto b = ParseEvaluations(R"({
    "subject": {"type": "user", "id": "alice@example.com"},
    "context": {"time": "2024-05-31T15:22-07:00"},
    "action": {"name": "can_read"},
    "options": {"evaluations_semantic": "deny_on_first_deny", "another_option": "value"},
    "evaluations": [
      {"resource": {"type": "document", "id": "boxcarring.md"}},
      {"action": {"name": "can_edit"}, "resource": {"type": "document", "id": "resource-search.md"}}
    ]})",
                            10);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_FALSE(b->single);
  EXPECT_EQ(b->semantic, Semantic::kDenyOnFirstDeny);
  ASSERT_EQ(b->items.size(), 2u);
  EXPECT_EQ(b->items[0].action, "can_read");
  EXPECT_EQ(b->items[1].action, "can_edit");
  EXPECT_EQ(b->items[1].principal.id, "alice@example.com");
  EXPECT_EQ(b->items[1].context_values.GetString("time"), "2024-05-31T15:22-07:00");
}

TEST(AuthzenTranslateTest, EvaluationsErrors) {
  EXPECT_TRUE(absl::StrContains(
      ParseEvaluations(R"({"evaluations": [{"resource": {"type": "d", "id": "1"}}]})", 10)
          .status()
          .message(),
      "evaluations[0].subject: required (here or at the top level)"));
  EXPECT_TRUE(absl::StrContains(
      ParseEvaluations(R"({"options": {"evaluations_semantic": "first"}, "evaluations": []})", 10)
          .status()
          .message(),
      "options.evaluations_semantic"));
  EXPECT_TRUE(absl::StrContains(
      ParseEvaluations(R"({"subject": {"type": "u", "id": "a"}, "action": {"name": "r"},
                          "evaluations": [{"resource": {"type": "d", "id": "1"}},
                                          {"resource": {"type": "d", "id": "2"}}]})",
                       1)
          .status()
          .message(),
      "evaluations: 2 items, over the limit of 1"));
  // No (or an empty) evaluations array: a single evaluation.
  auto single = ParseEvaluations(R"({"subject": {"type": "u", "id": "a"}, "action": {"name": "r"},
                                     "resource": {"type": "d", "id": "1"}, "evaluations": []})",
                                 10);
  ASSERT_TRUE(single.ok());
  EXPECT_TRUE(single->single);
}

TEST(AuthzenTranslateTest, DecisionJsonIsRequesterSafe) {
  Decision d;
  d.decision_id = "d-1";
  d.effect = Effect::kAllow;
  Reason r;
  r.effect = Effect::kAllow;
  r.message = "Granted.";
  r.detail = "role x on product y";
  d.reasons = {r};
  d.obligations.row_filters = {"region = 'EU'"};
  d.obligations.column_masks = {{"email", "'***'"}};
  EXPECT_EQ(DecisionJson(d),
            R"({"decision":true,"context":{"decision_id":"d-1","reasons":[{"effect":"allow",)"
            R"("message":"Granted."}],"obligations":{"row_filters":["region = 'EU'"],)"
            R"("column_masks":[{"column":"email","expression":"'***'"}]}}})");
  EXPECT_EQ(
      EvaluationErrorJson(absl::InvalidArgumentError("resource.table: bad")),
      R"({"decision":false,"context":{"error":{"status":400,"message":"resource.table: bad"}}})");
}

}  // namespace
}  // namespace arbiter::authzen
