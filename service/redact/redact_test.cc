#include "service/redact/redact.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace arbiter::redact {
namespace {

constexpr char kAccess[] =
    R"({"principal":{"id":"ana","attributes":{"email":"ana@example.com","region":"EU",)"
    R"("phone":"+1 555"}},"action":"read","resource":{"table":"a.b.c","columns":["x"]},)"
    R"("context":{"query":"select email from c"}})";

nlohmann::json Redact(std::vector<Rule> rules, absl::string_view json) {
  return nlohmann::json::parse(Redactor(std::move(rules)).ApplyToJson(json));
}

TEST(RedactTest, DropsOneMapKey) {
  auto j = Redact({{"principal.attributes.email", Rule::Action::kDrop}}, kAccess);
  EXPECT_FALSE(j["principal"]["attributes"].contains("email"));
  EXPECT_EQ(j["principal"]["attributes"]["region"], "EU");
  EXPECT_EQ(j["principal"]["attributes"].size(), 2u);
  EXPECT_EQ(j["principal"]["id"], "ana");
}

TEST(RedactTest, DigestsEveryKeyUnderAStar) {
  auto j = Redact({{"principal.attributes.*", Rule::Action::kDigest}}, kAccess);
  ASSERT_EQ(j["principal"]["attributes"].size(), 3u);
  EXPECT_EQ(j["principal"]["attributes"]["email"], Digest("ana@example.com"));
  EXPECT_TRUE(
      absl::StartsWith(j["principal"]["attributes"]["region"].get<std::string>(), "sha256:"));
  EXPECT_EQ(j["principal"]["id"], "ana");
}

TEST(RedactTest, DigestOfAKnownValue) {
  EXPECT_EQ(Digest("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(RedactTest, WholeDocumentsListsAndProtoFieldNames) {
  constexpr char kDeployment[] =
      R"({"product":{"struct":{"metadata":{"name":"secret-product"}}},)"
      R"("previousContracts":[{"struct":{"id":"c1"}},{"struct":{"id":"c2"}}],)"
      R"("environment":"production"})";
  Redactor r({{"product", Rule::Action::kDigest},
              {"previous_contracts.struct", Rule::Action::kDigest},
              {"environment", Rule::Action::kDrop}});
  std::string out = r.ApplyToJson(kDeployment);
  EXPECT_FALSE(absl::StrContains(out, "secret-product")) << out;
  auto j = nlohmann::json::parse(out);
  EXPECT_TRUE(absl::StartsWith(j["product"].get<std::string>(), "sha256:"));
  ASSERT_EQ(j["previousContracts"].size(), 2u);
  EXPECT_NE(j["previousContracts"][0]["struct"], j["previousContracts"][1]["struct"]);
  EXPECT_FALSE(j.contains("environment"));
}

TEST(RedactTest, PathsThatNameNothingChangeNothing) {
  auto j =
      Redact({{"principal.nope", Rule::Action::kDrop}, {"action.x", Rule::Action::kDrop}}, kAccess);
  EXPECT_EQ(j, nlohmann::json::parse(kAccess));
}

TEST(RedactTest, TextThatIsNotJsonIsDigestedWhole) {
  std::string out = Redactor({{"a", Rule::Action::kDrop}}).ApplyToJson("{not json");
  EXPECT_EQ(out, "\"" + Digest("{not json") + "\"");
}

TEST(RedactTest, ValidateNamesTheRule) {
  absl::Status s = Redactor::Validate({{"principal.id", Rule::Action::kDrop}, {"a..b"}, {""}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "decision_log.redact[1]")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "decision_log.redact[2]")) << s;
  EXPECT_FALSE(absl::StrContains(s.message(), "redact[0]")) << s;
}

}  // namespace
}  // namespace arbiter::redact
