// The wire decoder of access checks against protobuf's parser + FromProto, the answer it must
// give whenever it decodes: for the messages callers send, for each kind of message it must
// decline, and for mutated bytes (where it may decline, but never decode differently).
#include "service/convert/access_wire.h"

#include <cstdint>
#include <string>

#include "arbiter/v1/decision_service.pb.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "service/convert/convert.h"

namespace arbiter {
namespace {

// Engine requests compared through their wire form (every field the engine keeps).
v1::AccessRequest AsProto(const AccessRequest& r) {
  v1::AccessRequest p;
  ToProto(r, &p);
  return p;
}

::testing::AssertionResult SameRequest(const AccessRequest& a, const AccessRequest& b) {
  std::string diff;
  google::protobuf::util::MessageDifferencer d;
  d.ReportDifferencesToString(&diff);
  if (d.Compare(AsProto(a), AsProto(b))) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << diff;
}

v1::AccessRequest Full() {
  v1::AccessRequest r;
  v1::Principal* p = r.mutable_principal();
  p->set_id("ana");
  p->add_roles("sales-analysts");
  p->add_roles("");  // an empty element is kept
  p->add_groups("emea");
  p->set_domain("sales");
  (*p->mutable_attributes())["region"] = "EU";
  (*p->mutable_attributes())["clearance"] = "";
  p->set_type("user");
  r.set_action("read");
  v1::ResourceRef* res = r.mutable_resource();
  res->set_domain("customer");
  res->set_product("customer-360");
  res->set_table("customer_analytics.customer_360.customers");
  res->add_columns("customer_id");
  res->add_columns("email");
  res->set_type("table");
  res->set_id("t-1");
  (*r.mutable_context())["operation"] = "SelectFromColumns";
  (*r.mutable_context())["query_id"] = "q\xc3\xa9-7";  // UTF-8 beyond ASCII
  r.set_explain(true);
  return r;
}

// Decodes `bytes` both ways; when the decoder accepts, protobuf must too, with the same request.
// Returns whether the decoder accepted.
bool CheckAgainstProtobuf(const std::string& bytes) {
  AccessRequest fast;
  bool explain = false;
  const bool decoded = AccessRequestFromWire(bytes, fast, explain);
  v1::AccessRequest message;
  const bool parsed = message.ParseFromString(bytes);
  if (decoded) {
    EXPECT_TRUE(parsed) << "decoded bytes protobuf refuses";
    if (parsed) {
      EXPECT_TRUE(SameRequest(fast, FromProto(message)));
      EXPECT_EQ(explain, message.explain());
    }
  }
  return decoded;
}

TEST(AccessWireTest, DecodesEveryNonStructFieldAsProtobufAndFromProto) {
  EXPECT_TRUE(CheckAgainstProtobuf(Full().SerializeAsString()));
  EXPECT_TRUE(CheckAgainstProtobuf(""));  // the empty message: every field default
  v1::AccessRequest minimal;
  minimal.mutable_principal()->set_id("ana");
  minimal.set_action("read");
  minimal.mutable_resource()->set_table("a.b.c");
  EXPECT_TRUE(CheckAgainstProtobuf(minimal.SerializeAsString()));
  // Long strings (lengths of two and three varint bytes).
  v1::AccessRequest big = Full();
  big.mutable_principal()->add_roles(std::string(300, 'r'));
  big.mutable_resource()->add_columns(std::string(70000, 'c'));
  EXPECT_TRUE(CheckAgainstProtobuf(big.SerializeAsString()));
}

// FromProto into an existing request (the server's protobuf fallback fills the request the
// wire decoder may have half filled) writes every field: whatever the request held before, the
// result is the request FromProto builds anew, absent structs null again.
TEST(AccessWireTest, FromProtoInPlaceWritesEveryField) {
  v1::AccessRequest with_structs = Full();
  (*with_structs.mutable_principal()->mutable_properties()->mutable_fields())["team"]
      .set_string_value("crm");
  (*with_structs.mutable_resource()->mutable_properties()->mutable_fields())["tier"]
      .set_number_value(2);
  (*with_structs.mutable_action_properties()->mutable_fields())["method"].set_string_value("get");
  (*with_structs.mutable_context_values()->mutable_fields())["ip"].set_string_value("10.0.0.1");
  v1::AccessRequest other;
  other.mutable_principal()->set_id("bo");
  (*other.mutable_principal()->mutable_attributes())["team"] = "ops";
  other.set_action("write");
  other.mutable_resource()->set_product("orders");
  (*other.mutable_context())["ip"] = "10.0.0.2";
  const std::vector<v1::AccessRequest> messages = {Full(), with_structs, other, v1::AccessRequest(),
                                                   with_structs};
  AccessRequest reused;
  for (size_t i = 0; i < messages.size(); ++i) {
    FromProto(messages[i], reused);
    const AccessRequest fresh = FromProto(messages[i]);
    EXPECT_TRUE(SameRequest(reused, fresh)) << i;
    EXPECT_EQ(reused.principal.properties.is_null(), fresh.principal.properties.is_null()) << i;
    EXPECT_EQ(reused.resource.properties.is_null(), fresh.resource.properties.is_null()) << i;
    EXPECT_EQ(reused.action_properties.is_null(), fresh.action_properties.is_null()) << i;
    EXPECT_EQ(reused.context_values.is_null(), fresh.context_values.is_null()) << i;
    EXPECT_EQ(reused.principal.attributes, fresh.principal.attributes) << i;
    EXPECT_EQ(reused.context, fresh.context) << i;
  }
}

TEST(AccessWireTest, RepeatedMessageFieldsMergeAsInProtobuf) {
  // Two serialized messages concatenated are their merge: strings replaced, lists and maps
  // added to, a later map entry replacing an earlier one of the same key.
  v1::AccessRequest second;
  second.mutable_principal()->set_id("bob");
  second.mutable_principal()->add_roles("auditors");
  (*second.mutable_principal()->mutable_attributes())["region"] = "US";
  (*second.mutable_context())["operation"] = "FilterTables";
  second.mutable_resource()->add_columns("segment");
  second.set_action("write");
  const std::string bytes = Full().SerializeAsString() + second.SerializeAsString();
  ASSERT_TRUE(CheckAgainstProtobuf(bytes));
  AccessRequest r;
  bool explain = false;
  ASSERT_TRUE(AccessRequestFromWire(bytes, r, explain));
  EXPECT_EQ(r.principal.id, "bob");
  EXPECT_EQ(r.principal.roles.size(), 3u);
  EXPECT_EQ(r.principal.attributes.at("region"), "US");
  EXPECT_EQ(r.context.at("operation"), "FilterTables");
  EXPECT_EQ(r.resource.columns.size(), 3u);
  EXPECT_TRUE(explain);
}

TEST(AccessWireTest, DeclinesStructFieldsUnknownFieldsAndBadBytes) {
  const auto declined = [](const std::string& bytes) {
    AccessRequest r;
    bool explain = false;
    return !AccessRequestFromWire(bytes, r, explain);
  };
  v1::AccessRequest with_struct = Full();
  (*with_struct.mutable_action_properties()->mutable_fields())["k"].set_string_value("v");
  EXPECT_TRUE(declined(with_struct.SerializeAsString()));
  with_struct = Full();
  (*with_struct.mutable_context_values()->mutable_fields())["k"].set_bool_value(true);
  EXPECT_TRUE(declined(with_struct.SerializeAsString()));
  with_struct = Full();
  (*with_struct.mutable_principal()->mutable_properties()->mutable_fields())["k"];
  EXPECT_TRUE(declined(with_struct.SerializeAsString()));
  with_struct = Full();
  (*with_struct.mutable_resource()->mutable_properties()->mutable_fields())["k"];
  EXPECT_TRUE(declined(with_struct.SerializeAsString()));

  const std::string full = Full().SerializeAsString();
  EXPECT_TRUE(declined(full + std::string("\x40\x01", 2)));      // field 8, a varint: unknown
  EXPECT_TRUE(declined(full + std::string("\x10\x01", 2)));      // action (2) as a varint
  EXPECT_TRUE(declined(full + std::string("\xf8\x00\x01", 3)));  // explain, a two-byte tag
  EXPECT_TRUE(declined(full.substr(0, full.size() - 1)));        // truncated
  EXPECT_TRUE(
      declined("\x0a\xff\xff\xff\x0f"
               "abc"));  // a length past the end
  // Not UTF-8: protobuf refuses the message, the decoder declines it.
  v1::AccessRequest bad_utf8;
  bad_utf8.set_action("re\xffud");
  const std::string bytes = bad_utf8.SerializeAsString();
  EXPECT_TRUE(declined(bytes));
  EXPECT_FALSE(v1::AccessRequest().ParseFromString(bytes));
}

// Deterministic edits of real messages (a byte changed, cut, inserted or dropped).
class Mutator {
 public:
  std::string Mutate(std::string bytes) {
    const int edits = 1 + static_cast<int>(Next() % 3);
    for (int e = 0; e < edits && !bytes.empty(); ++e) {
      const size_t at = Next() % bytes.size();
      switch (Next() % 4) {
        case 0:
          bytes[at] = static_cast<char>(Next());
          break;
        case 1:
          bytes[at] = static_cast<char>(bytes[at] ^ (1 << (Next() % 8)));
          break;
        case 2:
          bytes.insert(at, 1, static_cast<char>(Next()));
          break;
        default:
          bytes.erase(at, 1 + Next() % 4);
          break;
      }
    }
    return bytes;
  }

 private:
  uint64_t Next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return state_;
  }
  uint64_t state_ = 0x9e3779b97f4a7c15ULL;
};

// Whatever the decoder accepts of mutated messages, it decodes as protobuf + FromProto do. Not
// a fuzzer (fuzz/ has those), but a wide net over the wire format's corners: lengths, tags,
// wire types, varints.
// A map entry whose key or value occurs twice, the first time not UTF-8: protobuf refuses the
// message though the later occurrence would replace the bad one, so the decoder must not decode
// it (access_wire_fuzz found the decoder checking only the last occurrence).
TEST(AccessWireTest, DeclinesAMapEntryWithAnInvalidStringLaterReplaced) {
  const auto entry = [](char field, const std::string& first, const std::string& second) {
    std::string e;
    for (const std::string* s : {&first, &second}) {
      e += static_cast<char>(field << 3 | 2);
      e += static_cast<char>(s->size());
      e += *s;
    }
    return e;
  };
  for (char field : {1, 2}) {
    SCOPED_TRACE(static_cast<int>(field));
    const std::string e = entry(field, "query\xa0id", "operation");
    const std::string context = std::string(1, 4 << 3 | 2) + static_cast<char>(e.size()) + e;
    v1::AccessRequest message;
    ASSERT_FALSE(message.ParseFromString(context)) << "protobuf accepts it: the test is moot";
    EXPECT_FALSE(CheckAgainstProtobuf(context));
    // The same entry in the principal's attributes (field 5 of the principal, field 1).
    const std::string attributes = std::string(1, 5 << 3 | 2) + context.substr(1);
    const std::string principal =
        std::string(1, 1 << 3 | 2) + static_cast<char>(attributes.size()) + attributes;
    ASSERT_FALSE(message.ParseFromString(principal)) << "protobuf accepts it: the test is moot";
    EXPECT_FALSE(CheckAgainstProtobuf(principal));
  }
}

TEST(AccessWireTest, MutatedBytesDecodeAsProtobufOrAreDeclined) {
  const std::string seeds[] = {
      Full().SerializeAsString(),
      Full().SerializeAsString() + Full().principal().SerializeAsString(),
  };
  google::protobuf::LogSilencer quiet;  // protobuf logs each string that is not UTF-8
  Mutator mutator;
  int accepted = 0, total = 0;
  for (const std::string& seed : seeds) {
    for (int i = 0; i < 20000; ++i) {
      ++total;
      if (CheckAgainstProtobuf(mutator.Mutate(seed))) ++accepted;
      if (::testing::Test::HasFailure()) return;
    }
  }
  // Edits inside string contents still decode (the rest were declined): the comparison ran on
  // a few thousand decoded requests, not none.
  EXPECT_GT(accepted, total / 50);
}

std::string Batch(const std::vector<v1::AccessRequest>& requests, bool explain = false) {
  v1::CheckBatchRequest b;
  for (const auto& r : requests) *b.add_requests() = r;
  b.set_explain(explain);
  return b.SerializeAsString();
}

v1::AccessRequest Check(const std::string& principal, const std::string& table) {
  v1::AccessRequest r;
  r.mutable_principal()->set_id(principal);
  r.mutable_principal()->add_roles("sales-analysts");
  r.set_action("read");
  r.mutable_resource()->set_table(table);
  return r;
}

TEST(AccessWireTest, BatchOfOnePrincipalSharesIt) {
  v1::AccessRequest explained = Check("ana", "a.b.d");
  explained.set_explain(true);
  WireBatch batch;
  ASSERT_TRUE(CheckBatchFromWire(Batch({Check("ana", "a.b.c"), explained}, true), batch));
  ASSERT_TRUE(batch.shared_principal.has_value());
  EXPECT_EQ(batch.shared_principal->id, "ana");
  EXPECT_EQ(batch.shared_principal->roles, std::vector<std::string>{"sales-analysts"});
  ASSERT_EQ(batch.requests.size(), 2u);
  for (const AccessRequest& r : batch.requests) {
    EXPECT_TRUE(r.principal.id.empty());  // EvalOptions::principal stands in
    EXPECT_TRUE(r.principal.roles.empty());
  }
  EXPECT_EQ(batch.requests[1].resource.table, "a.b.d");
  EXPECT_EQ(batch.explain, (std::vector<bool>{false, true}));
  EXPECT_TRUE(batch.explain_all);
}

TEST(AccessWireTest, BatchOfSeveralPrincipalsGivesEachItsOwn) {
  v1::CheckBatchRequest message;
  const std::string bytes =
      Batch({Check("ana", "a.b.c"), Check("bob", "a.b.c"), Check("ana", "a.b.e")});
  ASSERT_TRUE(message.ParseFromString(bytes));
  WireBatch batch;
  ASSERT_TRUE(CheckBatchFromWire(bytes, batch));
  EXPECT_FALSE(batch.shared_principal.has_value());
  ASSERT_EQ(batch.requests.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(SameRequest(batch.requests[i], FromProto(message.requests(i)))) << i;
  }
}

TEST(AccessWireTest, BatchItemThatMergesASecondPrincipalIsNotShared) {
  // The second item starts with the first one's principal bytes, then merges another principal
  // field: its principal is the merge, not the first one's.
  v1::AccessRequest extra;
  extra.mutable_principal()->add_groups("emea");
  v1::AccessRequest merged = Check("ana", "a.b.c");
  merged.MergeFrom(extra);
  const std::string second = Check("ana", "a.b.c").SerializeAsString() + extra.SerializeAsString();
  std::string bytes = Batch({Check("ana", "a.b.c")});
  bytes += '\x0a';
  ASSERT_LT(second.size(), 128u);
  bytes += static_cast<char>(second.size());
  bytes += second;
  WireBatch batch;
  ASSERT_TRUE(CheckBatchFromWire(bytes, batch));
  EXPECT_FALSE(batch.shared_principal.has_value());
  ASSERT_EQ(batch.requests.size(), 2u);
  EXPECT_TRUE(SameRequest(batch.requests[0], FromProto(Check("ana", "a.b.c"))));
  EXPECT_TRUE(SameRequest(batch.requests[1], FromProto(merged)));
}

TEST(AccessWireTest, BatchDeclinesWhatAnItemDeclines) {
  v1::AccessRequest with_struct = Check("ana", "a.b.c");
  (*with_struct.mutable_action_properties()->mutable_fields())["k"];
  WireBatch batch;
  EXPECT_FALSE(CheckBatchFromWire(Batch({Check("ana", "a.b.c"), with_struct}), batch));
  batch = WireBatch();
  EXPECT_FALSE(CheckBatchFromWire(Batch({Check("ana", "a.b.c")}) + "\x10\x01", batch));
  batch = WireBatch();
  EXPECT_TRUE(CheckBatchFromWire("", batch));  // an empty batch
  EXPECT_TRUE(batch.requests.empty());
}

// The same for batches, where requests of one principal share it: each request, with the
// shared principal put back, is what protobuf + FromProto give.
TEST(AccessWireTest, MutatedBatchesDecodeAsProtobufOrAreDeclined) {
  const std::string seed =
      Batch({Check("ana", "a.b.c"), Check("ana", "a.b.d"), Check("ana", "a.b.e")}, true);
  google::protobuf::LogSilencer quiet;
  Mutator mutator;
  int accepted = 0, shared = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::string bytes = mutator.Mutate(seed);
    WireBatch batch;
    if (!CheckBatchFromWire(bytes, batch)) continue;
    ++accepted;
    v1::CheckBatchRequest message;
    ASSERT_TRUE(message.ParseFromString(bytes)) << "decoded bytes protobuf refuses";
    ASSERT_EQ(batch.requests.size(), static_cast<size_t>(message.requests_size()));
    ASSERT_EQ(batch.explain.size(), batch.requests.size());
    EXPECT_EQ(batch.explain_all, message.explain());
    if (batch.shared_principal.has_value()) ++shared;
    for (int j = 0; j < message.requests_size(); ++j) {
      AccessRequest r = batch.requests[j];
      if (batch.shared_principal.has_value()) {
        ASSERT_TRUE(AsProto(r).principal().SerializeAsString().empty()) << j;
        r.principal = *batch.shared_principal;
      }
      ASSERT_TRUE(SameRequest(r, FromProto(message.requests(j)))) << j;
      EXPECT_EQ(batch.explain[j], message.requests(j).explain()) << j;
    }
  }
  EXPECT_GT(accepted, 20000 / 50);
  EXPECT_GT(shared, 0);
  EXPECT_LT(shared, accepted);
}

}  // namespace
}  // namespace arbiter
