// Value's map lookup, type and in-place Add: the hot path of every decision reads and builds
// requests through them, so each shortcut they take is pinned here against the plain meaning.
#include "service/value/value.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "service/value/json_escape.h"

namespace arbiter {
namespace {

TEST(ValueFindTest, KeysOfTheSameLengthAndFirstByteAreTold) {
  Value m =
      Value::Map{{"name", Value(1)},  {"nbme", Value(2)}, {"namf", Value(3)}, {"nam", Value(4)},
                 {"names", Value(5)}, {"n", Value(6)},    {"", Value(7)},     {"mame", Value(8)}};
  EXPECT_EQ(m.Find("name")->as_int(), 1);
  EXPECT_EQ(m.Find("nbme")->as_int(), 2);
  EXPECT_EQ(m.Find("namf")->as_int(), 3);
  EXPECT_EQ(m.Find("nam")->as_int(), 4);
  EXPECT_EQ(m.Find("names")->as_int(), 5);
  EXPECT_EQ(m.Find("n")->as_int(), 6);
  EXPECT_EQ(m.Find("")->as_int(), 7);
  EXPECT_EQ(m.Find("mame")->as_int(), 8);
  EXPECT_EQ(m.Find("namg"), nullptr);
  EXPECT_EQ(m.Find("Name"), nullptr);
  EXPECT_EQ(m.Find("na"), nullptr);
  // A key with a NUL byte in it is compared in full.
  Value z = Value::Map{{std::string("a\0b", 3), Value(1)}};
  EXPECT_EQ(z.Find(absl::string_view("a\0b", 3))->as_int(), 1);
  EXPECT_EQ(z.Find(absl::string_view("a\0c", 3)), nullptr);
  EXPECT_EQ(z.Find("a"), nullptr);
}

TEST(ValueFindTest, FirstMatchWinsAndOnlyMapsHaveKeys) {
  Value m = Value::Map{{"k", Value(1)}, {"k", Value(2)}};
  EXPECT_EQ(m.Find("k")->as_int(), 1);
  EXPECT_EQ(Value().Find(""), nullptr);
  EXPECT_EQ(Value("k").Find("k"), nullptr);
  EXPECT_EQ(Value(Value::List{Value("k")}).Find("k"), nullptr);
  EXPECT_EQ(Value::EmptyMap().Find(""), nullptr);
}

TEST(ValueTypeTest, EveryTypeDirectlyAndThroughSharedReferences) {
  const Value values[] = {Value(),    Value(true),        Value(int64_t{1}), Value(1.5),
                          Value("s"), Value::EmptyList(), Value::EmptyMap()};
  const Value::Type types[] = {Value::Type::kNull,   Value::Type::kBool,   Value::Type::kInt,
                               Value::Type::kDouble, Value::Type::kString, Value::Type::kList,
                               Value::Type::kMap};
  for (size_t i = 0; i < 7; ++i) {
    EXPECT_EQ(values[i].type(), types[i]) << i;
    Value shared = Value::Shared(std::make_shared<const Value>(values[i]));
    EXPECT_EQ(shared.type(), types[i]) << i;
    // A shared reference to a shared reference answers for the final target.
    Value twice = Value::Shared(std::make_shared<const Value>(shared));
    EXPECT_EQ(twice.type(), types[i]) << i;
    EXPECT_EQ(&twice.Get(), &shared.Get()) << i;
    EXPECT_EQ(twice, values[i]) << i;
  }
  auto target = std::make_shared<const Value>(Value::Map{{"a", Value("b")}});
  Value shared = Value::Shared(target);
  EXPECT_EQ(&shared.Get(), target.get());
  EXPECT_EQ(shared.Find("a")->as_string(), "b");
  EXPECT_EQ(shared.size(), 1u);
}

TEST(ValueAddTest, BuildsEachEntryFromWhatAValueIsMadeOf) {
  Value m;  // null becomes a map
  std::string s = "copied";
  const std::string cs = "const";
  m.Add("string", s);
  m.Add("const_string", cs);
  m.Add("moved", std::string("moved"));
  m.Add("view", absl::string_view("view"));
  m.Add("chars", "chars");
  m.Add("int", 7);
  m.Add("int64", int64_t{1} << 40);
  m.Add("double", 0.25);
  m.Add("bool", false);
  m.Add("list", Value::List{Value(1), Value("x")});
  m.Add("map", Value::Map{{"k", Value("v")}});
  Value v("value");
  m.Add("value", v);
  m.Add("null", Value());
  Value& added = m.Add("last", Value::EmptyList());
  added.Append("appended");
  EXPECT_EQ(s, "copied");
  EXPECT_EQ(v.as_string(), "value");
  EXPECT_EQ(m.ToJson(),
            R"({"string":"copied","const_string":"const","moved":"moved","view":"view",)"
            R"("chars":"chars","int":7,"int64":1099511627776,"double":0.25,"bool":false,)"
            R"("list":[1,"x"],"map":{"k":"v"},"value":"value","null":null,)"
            R"("last":["appended"]})");
  EXPECT_TRUE(m.Find("bool")->is_bool());
  EXPECT_TRUE(m.Find("int")->is_int());
}

// AppendJsonString as it was before it tested eight bytes at a time: the one byte-at-a-time
// meaning the fast path must keep, byte for byte (bytes from 0x7f up, valid UTF-8 or not, are
// copied as they are; only control bytes, '"' and '\' are escaped).
std::string ByteAtATime(absl::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xF];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

std::string Quoted(absl::string_view s) {
  std::string out;
  AppendJsonString(out, s);
  return out;
}

TEST(AppendJsonStringTest, EscapesExactlyControlBytesQuoteAndBackslash) {
  EXPECT_EQ(Quoted(""), R"("")");
  EXPECT_EQ(Quoted("plain text"), R"("plain text")");
  EXPECT_EQ(Quoted("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(Quoted("\n\r\t\b\f"), R"("\n\r\t\u0008\u000c")");
  EXPECT_EQ(Quoted(std::string("\0\x1f\x7f", 3)), "\"\\u0000\\u001f\x7f\"");
  EXPECT_EQ(Quoted("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  // Invalid UTF-8 (a lone continuation byte, a truncated sequence, 0xff) is copied as it is.
  EXPECT_EQ(Quoted("\x80x\xc3\xff"), "\"\x80x\xc3\xff\"");
  // Appends to what the string holds.
  std::string out = "prefix:";
  AppendJsonString(out, "a\"b");
  EXPECT_EQ(out, R"(prefix:"a\"b")");
}

// Every byte value at every position of a 1..24 byte run of plain text, so that each lane of the
// eight-byte test and the byte-wise tail sees each byte, alone and before or after an escape.
TEST(AppendJsonStringTest, EveryByteAtEveryPositionAsByteAtATime) {
  for (size_t len = 1; len <= 24; ++len) {
    for (size_t pos = 0; pos < len; ++pos) {
      for (int b = 0; b < 256; ++b) {
        std::string s(len, 'x');
        s[pos] = static_cast<char>(b);
        ASSERT_EQ(Quoted(s), ByteAtATime(s)) << "len " << len << " pos " << pos << " byte " << b;
        if (pos + 1 < len) s[pos + 1] = '"';  // a second escape right after
        ASSERT_EQ(Quoted(s), ByteAtATime(s)) << "len " << len << " pos " << pos << " byte " << b;
      }
    }
  }
}

// Random strings weighted towards the bytes near the escape boundaries (0x1f/0x20, '"' and its
// neighbours, '\', 0x7f/0x80, 0xff), where a wrong borrow in the eight-byte test would show.
TEST(AppendJsonStringTest, RandomStringsAsByteAtATime) {
  std::mt19937 rng(12);
  const unsigned char kNear[] = {0x00, 0x01, 0x09, 0x0a, 0x1f, 0x20, 0x21, 0x22, 0x23,
                                 0x5b, 0x5c, 0x5d, 0x7f, 0x80, 0xc3, 0xe2, 0xfe, 0xff};
  for (int round = 0; round < 20000; ++round) {
    std::string s(rng() % 40, '\0');
    for (char& c : s) {
      c = rng() % 2 == 0 ? static_cast<char>(kNear[rng() % sizeof kNear])
                         : static_cast<char>(rng() % 256);
    }
    ASSERT_EQ(Quoted(s), ByteAtATime(s)) << "round " << round;
    size_t plain = 0;
    while (plain < s.size() && ByteAtATime(s.substr(plain, 1)).size() == 3) ++plain;
    ASSERT_EQ(JsonPlainPrefix(s), plain) << "round " << round;
  }
}

// JsonCopyPlain (the log line writer's copy-and-test) against the byte-at-a-time escaper: it
// says "plain" exactly when quoting adds nothing but the quotes, then holds the bytes, and never
// writes outside dst[0, n).
void ExpectCopyPlainAgrees(const std::string& s, const std::string& context) {
  constexpr char kCanary = '#';
  std::string dst(s.size() + 32, kCanary);
  const bool plain = JsonCopyPlain(dst.data() + 16, s.data(), s.size());
  ASSERT_EQ(plain, ByteAtATime(s).size() == s.size() + 2) << context;
  if (plain) ASSERT_EQ(dst.substr(16, s.size()), s) << context;
  ASSERT_EQ(dst.substr(0, 16), std::string(16, kCanary)) << context;
  ASSERT_EQ(dst.substr(16 + s.size()), std::string(16, kCanary)) << context;
}

// Lengths up to 48 take every path: bytes, two 4-byte words, two 8-byte words, one to three
// 16-byte blocks with an overlapping last one.
TEST(JsonCopyPlainTest, EveryByteAtEveryPositionAsByteAtATime) {
  ExpectCopyPlainAgrees("", "empty");
  for (size_t len = 1; len <= 48; ++len) {
    ExpectCopyPlainAgrees(std::string(len, 'x'), "plain");
    for (size_t pos = 0; pos < len; ++pos) {
      for (int b = 0; b < 256; ++b) {
        std::string s(len, 'x');
        s[pos] = static_cast<char>(b);
        ExpectCopyPlainAgrees(s, absl::StrCat("len ", len, " pos ", pos, " byte ", b));
      }
    }
  }
}

TEST(JsonCopyPlainTest, RandomStringsAsByteAtATime) {
  std::mt19937 rng(13);
  const unsigned char kNear[] = {0x1f, 0x20, 0x21, 0x22, 0x23, 0x5b, 0x5c, 0x5d, 0x7f, 0x80, 0xff};
  for (int round = 0; round < 20000; ++round) {
    std::string s(rng() % 100, 'a');
    for (char& c : s) {
      // Mostly plain bytes, so that a good share of the strings has nothing to escape.
      if (rng() % 64 == 0) {
        c = static_cast<char>(rng() % 0x20);
      } else if (rng() % 8 == 0) {
        c = static_cast<char>(kNear[rng() % sizeof kNear]);
      }
    }
    ExpectCopyPlainAgrees(s, absl::StrCat("round ", round));
  }
}

// print(req) and tostring(view) render through AppendJsonPrefix: what it appends must be exactly
// the start of the whole JSON, at every cap, for every kind of node (escapes cut mid-way too).
TEST(AppendJsonPrefixTest, IsThePrefixOfTheWholeJsonAtEveryCap) {
  const Value tree =
      Value::Map{{"a\"key", Value("line\nbreak \x01 and \\ slash")},
                 {"list", Value::List{Value(), Value(true), Value(int64_t{-42}), Value(2.5),
                                      Value("s"), Value::EmptyList(), Value::EmptyMap()}},
                 {"shared", Value::Shared(std::make_shared<const Value>(
                                Value::Map{{"deep", Value::List{Value("x\ty"), Value(false)}}}))},
                 {"", Value("")}};
  const std::string whole = tree.ToJson();
  for (const std::string& start : {std::string(), std::string("print: ")}) {
    for (size_t cap = 0; cap <= start.size() + whole.size() + 3; ++cap) {
      std::string out = start;
      AppendJsonPrefix(out, tree, cap);
      const std::string want = (start + whole).substr(0, std::max(cap, start.size()));
      EXPECT_EQ(out, want) << "cap " << cap;
    }
  }
}

// The bound is the point: a tree far too big to render (64^8 leaves through shared subtrees, and a
// 64 MiB string) must cost about the cap. Rendering either whole would not finish in the test's
// lifetime (the tree) or would allocate 64 MiB more (the string); both are checked by result.
TEST(AppendJsonPrefixTest, WorkIsBoundedByTheCapNotByTheTree) {
  Value level = Value("leaf");
  for (int depth = 0; depth < 8; ++depth) {
    auto shared = std::make_shared<const Value>(std::move(level));
    Value::List items;
    for (int i = 0; i < 64; ++i) items.push_back(Value::Shared(shared));
    level = Value(std::move(items));
  }
  std::string out;
  AppendJsonPrefix(out, level, 4096);
  ASSERT_EQ(out.size(), 4096u);
  EXPECT_EQ(out.substr(0, 16), "[[[[[[[[\"leaf\",\"");

  const Value huge = Value::Map{{"blob", Value(std::string(64u << 20, 'z'))}};
  std::string line = "x";
  AppendJsonPrefix(line, huge, 1024);
  ASSERT_EQ(line.size(), 1024u);
  EXPECT_EQ(line.substr(0, 11), "x{\"blob\":\"z");
  EXPECT_LT(line.capacity(), 1u << 20);  // the string was cut before it was escaped
}

}  // namespace
}  // namespace arbiter
