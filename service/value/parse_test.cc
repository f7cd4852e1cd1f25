#include "service/value/parse.h"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace arbiter {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

Value Yaml(const std::string& text, const ParseLimits& limits = {}) {
  absl::StatusOr<Value> v = ParseYaml(text, "t.yaml", limits);
  EXPECT_TRUE(v.ok()) << v.status() << "\n" << text;
  return v.ok() ? *std::move(v) : Value();
}

// The message of a parse that must fail with INVALID_ARGUMENT.
std::string YamlError(const std::string& text, const ParseLimits& limits = {}) {
  absl::StatusOr<Value> v = ParseYaml(text, "t.yaml", limits);
  EXPECT_FALSE(v.ok()) << text << "\nparsed as " << (v.ok() ? v->ToJson() : "");
  if (v.ok()) return "";
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument) << v.status();
  return std::string(v.status().message());
}

std::string J(const std::string& yaml) { return Yaml(yaml).ToJson(); }

TEST(ParseYamlTest, PlainScalarsResolveByCoreSchema) {
  for (const char* null_text : {"~", "null", "Null", "NULL", ""}) {
    EXPECT_TRUE(Yaml(absl::StrCat("v: ", null_text)).Find("v")->is_null()) << null_text;
  }
  for (const char* t : {"true", "True", "TRUE"}) {
    Value v = Yaml(absl::StrCat("v: ", t));
    ASSERT_TRUE(v.Find("v")->is_bool()) << t;
    EXPECT_TRUE(v.Find("v")->as_bool());
  }
  for (const char* f : {"false", "False", "FALSE"}) {
    Value v = Yaml(absl::StrCat("v: ", f));
    ASSERT_TRUE(v.Find("v")->is_bool()) << f;
    EXPECT_FALSE(v.Find("v")->as_bool());
  }
  // YAML 1.1 booleans are strings in the core schema.
  EXPECT_EQ(J("[yes, no, on, off, y, n, tRUE]"), R"(["yes","no","on","off","y","n","tRUE"])");
  Value ints = Yaml("[0, 7, -12, +5, 9223372036854775807, -9223372036854775808]");
  ASSERT_EQ(ints.size(), 6u);
  for (const Value& i : ints.as_list()) EXPECT_TRUE(i.is_int()) << i.ToJson();
  EXPECT_EQ(ints.as_list()[2].as_int(), -12);
  EXPECT_EQ(ints.as_list()[3].as_int(), 5);
  EXPECT_EQ(ints.as_list()[4].as_int(), INT64_MAX);
  Value floats = Yaml("[1.5, -0.25, .5, 1e3, 2.5E-2, 0.0, 9223372036854775808]");
  for (const Value& d : floats.as_list()) EXPECT_TRUE(d.is_double()) << d.ToJson();
  EXPECT_DOUBLE_EQ(floats.as_list()[0].as_double(), 1.5);
  EXPECT_DOUBLE_EQ(floats.as_list()[2].as_double(), 0.5);
  EXPECT_DOUBLE_EQ(floats.as_list()[3].as_double(), 1000);
  // Leading zeros, versions, hex, infinities and other look-alikes stay strings.
  EXPECT_EQ(J("[007, 00, 1.2.0, 0x1F, .inf, -.inf, .nan, 1e999, 1_000, 12abc, '-', +]"),
            R"(["007","00","1.2.0","0x1F",".inf","-.inf",".nan","1e999","1_000","12abc","-","+"])");
  EXPECT_TRUE(Yaml("3.").is_double());
  EXPECT_EQ(J("v: 0.5"), R"({"v":0.5})");
  EXPECT_EQ(J("v: hello world"), R"({"v":"hello world"})");
}

TEST(ParseYamlTest, QuotedBlockAndStrTaggedScalarsAreStrings) {
  EXPECT_EQ(J(R"(["1", '2', "true", 'null', "", '~', "1.5", "007"])"),
            R"(["1","2","true","null","","~","1.5","007"])");
  EXPECT_EQ(J("a: |\n  12\nb: >\n  true\nc: |-\n  null\n"),
            R"({"a":"12\n","b":"true\n","c":"null"})");
  EXPECT_EQ(J("[!!str 12, !!str true, ! 12, !!str null, !!str ]"),
            R"(["12","true","12","null",""])");
  // Other explicit tags on plain scalars keep the core-schema resolution.
  EXPECT_EQ(J("[!!int 12, !custom true, !!float 1.5]"), R"([12,true,1.5])");
}

TEST(ParseYamlTest, ScalarText) {
  EXPECT_EQ(J("a: \"tab\\there \\u00e9 \\\"q\\\"\"\nb: 'it''s'\n"),
            "{\"a\":\"tab\\there \xc3\xa9 \\\"q\\\"\",\"b\":\"it's\"}");
  EXPECT_EQ(J("a: folded\n  across lines\nb: >\n  one\n  two\n\n  three\n"),
            R"({"a":"folded across lines","b":"one two\nthree\n"})");
  EXPECT_EQ(J("a: x # comment\n# whole line\nb: 'y # not a comment'\n"),
            R"({"a":"x","b":"y # not a comment"})");
  EXPECT_EQ(J("a: |+\n  keep\n\nb: 1\n"), R"({"a":"keep\n\n","b":1})");
  EXPECT_EQ(J("url: http://x.example/a?b=c:d"), R"({"url":"http://x.example/a?b=c:d"})");
  Value nul = Yaml(R"(a: "x\0y")");
  EXPECT_EQ(nul.Find("a")->as_string(), std::string("x\0y", 3));
}

TEST(ParseYamlTest, MapsKeepInsertionOrderAndKeysAreText) {
  Value v = Yaml("zeta: 1\nalpha: 2\nmid: {b: 1, a: 2}\n");
  ASSERT_TRUE(v.is_map());
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v.as_map()[0].first, "zeta");
  EXPECT_EQ(v.as_map()[1].first, "alpha");
  EXPECT_EQ(v.as_map()[2].first, "mid");
  EXPECT_EQ(v.Find("mid")->ToJson(), R"({"b":1,"a":2})");
  // Keys are the scalar's text, whatever it would resolve to as a value.
  EXPECT_EQ(J("1: a\ntrue: b\n1.50: c\n\"q\": d\n007: e\n!!str x: f\n"),
            R"({"1":"a","true":"b","1.50":"c","q":"d","007":"e","x":"f"})");
  EXPECT_EQ(J("{}"), "{}");
  EXPECT_EQ(J("[]"), "[]");
  EXPECT_EQ(J("- a\n- - b\n  - c\n- {x: [1, {y: z}]}\n"), R"(["a",["b","c"],{"x":[1,{"y":"z"}]}])");
}

TEST(ParseYamlTest, DuplicateKeysAreErrorsNamingTheSecondKey) {
  EXPECT_EQ(YamlError("a: 1\nb: 2\na: 3\n"), "t.yaml:3:1: duplicate key \"a\"");
  EXPECT_EQ(YamlError("top:\n  x: 1\n  x: 2\n"), "t.yaml:3:3: duplicate key \"x\"");
  EXPECT_EQ(YamlError("{k: 1, k: 2}"), "t.yaml:1:8: duplicate key \"k\"");
  // Same text, different style: still the same key.
  EXPECT_EQ(YamlError("1: a\n\"1\": b\n"), "t.yaml:2:1: duplicate key \"1\"");
  // The same key in different maps is fine.
  EXPECT_EQ(J("a: {k: 1}\nb: {k: 2}\n"), R"({"a":{"k":1},"b":{"k":2}})");
}

TEST(ParseYamlTest, NonScalarKeysAreErrors) {
  EXPECT_EQ(YamlError("? [a, b]\n: 1\n"), "t.yaml:1:3: map keys must be scalars");
  EXPECT_EQ(YamlError("{[a]: 1}"), "t.yaml:1:2: map keys must be scalars");
  EXPECT_EQ(YamlError("ok: 1\n? {a: 1}\n: 2\n"), "t.yaml:2:3: map keys must be scalars");
  // A null key is not a scalar key either.
  EXPECT_THAT(YamlError("~: 1\n"), HasSubstr("map keys must be scalars"));
  EXPECT_THAT(YamlError("null: 1\n"), HasSubstr("map keys must be scalars"));
  EXPECT_THAT(YamlError("a: 1\n?\n: 2\n"), HasSubstr("map keys must be scalars"));
  // ... unless quoted.
  EXPECT_EQ(J("\"~\": 1\n'null': 2\n\"\": 3\n"), R"({"~":1,"null":2,"":3})");
}

TEST(ParseYamlTest, AliasesCopyTheAnchoredValue) {
  Value v = Yaml(
      "base: &b {owner: sales, tier: 1}\n"
      "copy: *b\n"
      "name: &n \"007\"\n"
      "again: *n\n"
      "list: &l [1, 2]\n"
      "lists: [*l, *l]\n");
  EXPECT_EQ(v.ToJson(), R"({"base":{"owner":"sales","tier":1},"copy":{"owner":"sales","tier":1},)"
                        R"("name":"007","again":"007","list":[1,2],"lists":[[1,2],[1,2]]})");
  // A copy, not a reference: the values are independent.
  EXPECT_FALSE(v.Find("copy")->is_null());
  // Aliased scalars as keys use the scalar's text.
  EXPECT_EQ(J("k: &k 1.50\n*k : x\n"), R"({"k":1.5,"1.50":"x"})");
  EXPECT_EQ(J("&k key: 1\nother: *k\n"), R"({"key":1,"other":"key"})");
  EXPECT_EQ(YamlError("a: &m {x: 1}\n*m : 2\n"), "t.yaml:2:1: map keys must be scalars");
  // A redefined anchor names the latest node.
  EXPECT_EQ(J("a: &x 1\nb: &x 2\nc: *x\n"), R"({"a":1,"b":2,"c":2})");
  EXPECT_EQ(YamlError("a: *nowhere\n"),
            "t.yaml:1:4: the referenced anchor is not defined: *nowhere");
}

TEST(ParseYamlTest, AliasesCountTowardTheNodeLimit) {
  ParseLimits limits;
  limits.max_nodes = 10;
  // Root map + a list + its 3 items = 5 nodes (keys do not count); the alias adds 4 more.
  EXPECT_EQ(Yaml("a: &a [1, 2, 3]\nb: 1\nc: *a\n", limits).ToJson(),
            R"({"a":[1,2,3],"b":1,"c":[1,2,3]})");
  limits.max_nodes = 9;
  EXPECT_EQ(YamlError("a: &a [1, 2, 3]\nb: 1\nc: *a\n", limits),
            "t.yaml:3:4: document has more than 9 nodes");
  EXPECT_EQ(Yaml("a: &a [1, 2]\nb: *a\n", limits).ToJson(), R"({"a":[1,2],"b":[1,2]})");
  limits.max_nodes = 6;
  EXPECT_EQ(Yaml("a: &a [1, 2]\nb: 3\nc: 4\n", limits).ToJson(), R"({"a":[1,2],"b":3,"c":4})");
  EXPECT_EQ(YamlError("a: &a [1, 2]\nb: 3\nc: 4\nd: 5\n", limits),
            "t.yaml:4:4: document has more than 6 nodes");
}

TEST(ParseYamlTest, AliasesOfABigScalarCountItsBytes) {
  // Issue 11: one 1 MiB scalar aliased 1,500 times is few nodes but 1.5 GB of text.
  std::string text = absl::StrCat("a: &big ", std::string(1 << 20, 'x'), "\nb: [");
  for (int i = 0; i < 1500; ++i) absl::StrAppend(&text, i ? ", " : "", "*big");
  absl::StrAppend(&text, "]\n");
  const std::string error = YamlError(text);
  EXPECT_NE(error.find("t.yaml:2:"), std::string::npos) << error;
  EXPECT_NE(error.find("document expands to more than 16777216 bytes of text"), std::string::npos)
      << error;
  // Keys count too, aliased keys included.
  ParseLimits limits;
  limits.max_expanded_bytes = 10;
  EXPECT_EQ(Yaml("&k abcd: 1\nx: *k\n", limits).ToJson(), R"({"abcd":1,"x":"abcd"})");
  EXPECT_EQ(YamlError("&k abcd: 1\nx: *k\ny: *k\n", limits),  // 4+1+1+4 bytes, then "y"
            "t.yaml:3:1: document expands to more than 10 bytes of text (aliases count what "
            "they copy)");
  // An anchored collection counts everything inside it.
  limits.max_expanded_bytes = 12;
  EXPECT_EQ(YamlError("a: &a [xx, yy]\nb: *a\nc: *a\n", limits),
            "t.yaml:3:4: document expands to more than 12 bytes of text (aliases count what "
            "they copy)");
}

TEST(ParseYamlTest, BillionLaughsIsRejectedByTheNodeLimit) {
  std::string text = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'i'; ++c) {
    absl::StrAppend(&text, std::string(1, c), ": &", std::string(1, c), " [");
    for (int i = 0; i < 9; ++i) absl::StrAppend(&text, i ? ", " : "", "*", std::string(1, prev));
    absl::StrAppend(&text, "]\n");
    prev = c;
  }
  std::string message = YamlError(text);
  EXPECT_THAT(message, StartsWith("t.yaml:"));
  EXPECT_THAT(message, HasSubstr("document has more than 200000 nodes"));
}

TEST(ParseYamlTest, DepthLimit) {
  ParseLimits limits;
  limits.max_depth = 3;
  // The document is at depth 0; any node (collection or scalar) deeper than 3 is rejected.
  EXPECT_EQ(Yaml("a:\n  b:\n    c: x\n", limits).ToJson(), R"({"a":{"b":{"c":"x"}}})");
  EXPECT_EQ(Yaml("a:\n  b:\n    c: []\n", limits).ToJson(), R"({"a":{"b":{"c":[]}}})");
  EXPECT_EQ(YamlError("a:\n  b:\n    c: [x]\n", limits),
            "t.yaml:3:9: nesting deeper than 3 levels");
  EXPECT_EQ(YamlError("a:\n  b:\n    c:\n      d: 1\n", limits),
            "t.yaml:4:10: nesting deeper than 3 levels");
  EXPECT_EQ(YamlError("a:\n  b:\n    c:\n      - 1\n", limits),
            "t.yaml:4:9: nesting deeper than 3 levels");
  // Nor may flow collections nest more than 3 deep, even with nothing inside.
  EXPECT_EQ(Yaml("[[[]]]", limits).ToJson(), "[[[]]]");
  EXPECT_EQ(Yaml("[[[x]]]", limits).ToJson(), R"([[["x"]]])");
  EXPECT_EQ(YamlError("[[[[]]]]", limits), "t.yaml:1:4: nesting deeper than 3 levels");
  EXPECT_EQ(YamlError("[{a: [{}]}]", limits), "t.yaml:1:7: nesting deeper than 3 levels");
  EXPECT_EQ(YamlError("[[[[x]]]]", limits), "t.yaml:1:4: nesting deeper than 3 levels");
  // An alias is as deep as what it copies.
  EXPECT_EQ(Yaml("a: &a [[1]]\nb: *a\n", limits).ToJson(), R"({"a":[[1]],"b":[[1]]})");
  EXPECT_THAT(YamlError("a: &a [[1]]\nb: [*a]\n", limits),
              HasSubstr("nesting deeper than 3 levels"));
}

TEST(ParseYamlTest, DeepNestingIsRejectedWithoutRecursing) {
  EXPECT_THAT(YamlError(std::string(1000000, '[')), HasSubstr("nesting deeper than 64 levels"));
  for (int n : {65, 1000, 100000}) {
    std::string flow = std::string(n, '[') + std::string(n, ']');
    EXPECT_THAT(YamlError(flow), HasSubstr("nesting deeper than 64 levels")) << n;
    std::string flow_maps;
    for (int i = 0; i < n; ++i) flow_maps += "{a: ";
    flow_maps += "1" + std::string(n, '}');
    EXPECT_THAT(YamlError(flow_maps), HasSubstr("nesting deeper than 64 levels")) << n;
  }
  std::string block;
  for (int i = 0; i < 200; ++i) absl::StrAppend(&block, std::string(i * 2, ' '), "k:\n");
  EXPECT_EQ(YamlError(block), "t.yaml:66:131: nesting deeper than 64 levels");
  std::string list;
  for (int i = 0; i < 200; ++i) list += "- ";
  list += "x\n";
  EXPECT_THAT(YamlError(list), HasSubstr("nesting deeper than 64 levels"));
  // 64 levels below the root are fine.
  std::string ok = std::string(64, '[') + "1" + std::string(64, ']');
  EXPECT_TRUE(ParseYaml(ok, "t.yaml").ok());
}

TEST(ParseYamlTest, ByteLimit) {
  ParseLimits limits;
  limits.max_bytes = 10;
  EXPECT_EQ(Yaml("a: 1234567", limits).ToJson(), R"({"a":1234567})");
  EXPECT_EQ(YamlError("a: 12345678", limits),
            "t.yaml:1:1: document is 11 bytes, over the limit of 10");
}

TEST(ParseYamlTest, EmptyAndMultipleDocuments) {
  EXPECT_TRUE(Yaml("").is_null());
  EXPECT_TRUE(Yaml("# only a comment\n\n").is_null());
  EXPECT_TRUE(Yaml("---\n").is_null());
  EXPECT_TRUE(Yaml("--- ~\n").is_null());
  EXPECT_EQ(J("--- 5\n"), "5");
  EXPECT_EQ(J("plain text"), R"("plain text")");
  // Only the first document is read; the rest is not even parsed.
  EXPECT_EQ(J("a: 1\n---\nb: 2\n"), R"({"a":1})");
  EXPECT_EQ(J("---\na: 1\n...\n---\nb: 2\n"), R"({"a":1})");
  EXPECT_EQ(J("a: 1\n---\nb: [\n"), R"({"a":1})");
  EXPECT_TRUE(Yaml("---\n---\na: 1\n").is_null());
}

TEST(ParseYamlTest, SyntaxErrorsNameLineAndColumn) {
  for (const char* bad : {"a: [1, 2\n", "a: 'open\n", "a: 1\n b: 2\n", "a:\n- 1\n  - 2\nc: }\n",
                          "key: value: other\n", "\"a\" b: 1\n", "- a\nb: 1\n"}) {
    std::string message = YamlError(bad);
    ASSERT_TRUE(absl::StartsWith(message, "t.yaml:")) << message;
    // "<source>:<line>:<col>: <message>" with 1-based numbers.
    std::string rest = message.substr(7);
    int line = 0, col = 0;
    ASSERT_EQ(std::sscanf(rest.c_str(), "%d:%d: ", &line, &col), 2) << message;
    EXPECT_GE(line, 1) << message;
    EXPECT_GE(col, 1) << message;
    EXPECT_LE(line, 4) << message;
  }
  EXPECT_THAT(YamlError("a: 1\nb: [1, 2\n"), StartsWith("t.yaml:3:1: "));
  EXPECT_THAT(YamlError("a: 1\nb: *\n"), StartsWith("t.yaml:2:"));
}

TEST(ParseYamlTest, SyntaxErrorsWinOverDuplicateKeys) {
  // The whole document is checked for syntax first, as with a tree-building parser.
  EXPECT_THAT(YamlError("a: 1\na: 2\nb: [\n"), Not(HasSubstr("duplicate")));
  EXPECT_THAT(YamlError("? [x]\n: 1\nb: [\n"), Not(HasSubstr("map keys")));
}

TEST(ParseYamlTest, TextMustBeUtf8) {
  EXPECT_THAT(YamlError("a: x\xffy\n"), StartsWith("t.yaml:1:"));
  EXPECT_THAT(YamlError(std::string("\x0b\0\0\0\0\0\0:", 8)), StartsWith("t.yaml:"));
  EXPECT_EQ(J("a: \xc3\xa9\n"), "{\"a\":\"\xc3\xa9\"}");
  EXPECT_EQ(J("\xef\xbb\xbf"
              "a: 1\n"),
            R"({"a":1})");  // a UTF-8 byte order mark
}

TEST(ParseYamlTest, ErrorsUseTheSourceName) {
  absl::StatusOr<Value> v = ParseYaml("a: [", "policies/catalog/x.yaml");
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(v.status().message()), StartsWith("policies/catalog/x.yaml:"));
}

#ifdef ARBITER_POLICIES_DIR
TEST(ParseYamlTest, ShippedProductDescriptor) {
  std::ifstream in(std::string(ARBITER_POLICIES_DIR) + "/catalog/products/customer-360.yaml");
  ASSERT_TRUE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  Value v = Yaml(ss.str());
  ASSERT_TRUE(v.is_map());
  EXPECT_GT(v.size(), 0u);
}
#endif

// These pin ParseJson's behaviour (nlohmann's, also through its faster common path).
Value Json(const std::string& text, const ParseLimits& limits = {}) {
  absl::StatusOr<Value> v = ParseJson(text, "t.json", limits);
  EXPECT_TRUE(v.ok()) << v.status() << "\n" << text;
  return v.ok() ? *std::move(v) : Value();
}

std::string JsonError(const std::string& text, const ParseLimits& limits = {}) {
  absl::StatusOr<Value> v = ParseJson(text, "t.json", limits);
  EXPECT_FALSE(v.ok()) << text;
  if (v.ok()) return "";
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument) << v.status();
  return std::string(v.status().message());
}

TEST(ParseJsonTest, Values) {
  Value v = Json(R"({"z": 1, "a": [true, false, null, 1.5, "s", -3], "big": 18446744073709551615,
                     "max": 9223372036854775807})");
  EXPECT_EQ(v.as_map()[0].first, "z");
  EXPECT_TRUE(v.Find("z")->is_int());
  EXPECT_EQ(v.Find("a")->ToJson(), R"([true,false,null,1.5,"s",-3])");
  EXPECT_TRUE(v.Find("big")->is_double());
  EXPECT_TRUE(v.Find("max")->is_int());
  EXPECT_EQ(v.Find("max")->as_int(), INT64_MAX);
  // Strings are never resolved.
  EXPECT_EQ(Json(R"(["1", "true", "null", "007"])").ToJson(), R"(["1","true","null","007"])");
  EXPECT_TRUE(Json("null").is_null());
  EXPECT_EQ(Json("{}").ToJson(), "{}");
}

TEST(ParseJsonTest, Errors) {
  EXPECT_EQ(JsonError(R"({"a": 1, "a": 2})"), "t.json:1:1: duplicate key \"a\"");
  EXPECT_THAT(JsonError("{\"a\": [1,\n 2"), StartsWith("t.json:2:"));
  EXPECT_THAT(JsonError(""), StartsWith("t.json:1:1: "));
  EXPECT_THAT(JsonError("[1] x"), StartsWith("t.json:1:"));
  ParseLimits limits;
  limits.max_depth = 2;
  EXPECT_EQ(Json("[[1]]", limits).ToJson(), "[[1]]");
  EXPECT_THAT(JsonError("[[[1]]]", limits), HasSubstr("nesting deeper than 2 levels"));
  limits = ParseLimits();
  limits.max_nodes = 3;
  EXPECT_EQ(Json("[1, 2]", limits).ToJson(), "[1,2]");
  EXPECT_THAT(JsonError("[1, 2, 3]", limits), HasSubstr("document has more than 3 nodes"));
  limits = ParseLimits();
  limits.max_bytes = 4;
  EXPECT_EQ(JsonError("[1, 2]", limits), "t.json:1:1: document is 6 bytes, over the limit of 4");
  EXPECT_THAT(JsonError(std::string(100000, '[')), HasSubstr("nesting deeper than 64 levels"));
}

// The same tree, types and positions (operator== compares numbers across int and double and
// ignores positions).
void ExpectSameTree(const Value& a, const Value& b, const std::string& where) {
  ASSERT_EQ(a.type(), b.type()) << where;
  EXPECT_EQ(a.pos().file, b.pos().file) << where;
  EXPECT_EQ(a.pos().line, b.pos().line) << where;
  EXPECT_EQ(a.pos().column, b.pos().column) << where;
  switch (a.type()) {
    case Value::Type::kList:
      ASSERT_EQ(a.size(), b.size()) << where;
      for (size_t i = 0; i < a.size(); ++i) {
        ExpectSameTree(a.as_list()[i], b.as_list()[i], absl::StrCat(where, "[", i, "]"));
      }
      return;
    case Value::Type::kMap:
      ASSERT_EQ(a.size(), b.size()) << where;
      for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a.as_map()[i].first, b.as_map()[i].first) << where;
        ExpectSameTree(a.as_map()[i].second, b.as_map()[i].second,
                       absl::StrCat(where, ".", a.as_map()[i].first));
      }
      return;
    default:
      EXPECT_EQ(a, b) << where;
  }
}

// ParseJson's own parser of the common case and nlohmann's (ParseJsonReference) agree on every
// document: the same tree with the same positions, or the same error.
TEST(ParseJsonTest, FastPathAgreesWithTheReferenceParser) {
  const std::string deep_ok = std::string(64, '[') + std::string(64, ']');
  const std::string deep_bad = std::string(65, '[') + std::string(65, ']');
  const std::string deeper = std::string(300, '[') + std::string(300, ']');
  const std::vector<std::string> texts = {
      R"({"input":{"context":{"identity":{"user":"ana","groups":["analysts"]}},"action":{"operation":"FilterTables","filterResources":[{"table":{"catalogName":"c","schemaName":"s","tableName":"t"}}]}}})",
      "{\"a\": [1, \"x\\\"y\",\n  true, -2.5e3],\n \"b\": {\"c\": null}}",
      " \r\n\t[ 1 , -0 , 0 , -7 , 123456789012345678 , 1234567890123456789 , -9223372036854775808 "
      "]\n",
      "[9223372036854775807, 18446744073709551615, 1e2, 1.0, 1E+2, -0.0, 1e999]",
      R"(["\"\\\/\b\f\n\r\t", "\u00e9", "\ud83d\ude00", "\ud800", "a\u0000b", "tab\there"])",
      "[\"caf\xc3\xa9\", \"\xe2\x82\xac\", \"\xf0\x9f\x98\x80\", \"\x7f\"]",
      "[\"\xc3\"]",
      "[\"\xc0\xaf\"]",
      "[\"\xed\xa0\x80\"]",
      "[\"\xf4\x90\x80\x80\"]",
      "[\"\xe0\x80\x80\"]",
      "[\"\xf0\x80\x80\x80\"]",
      "[\"\xff\"]",
      "[\"\x80\"]",
      "\"ctl\x01\"",
      "\"new\nline\"",
      "\xef\xbb\xbf{\"bom\": 1}",
      "",
      " ",
      "{",
      "}",
      "[",
      "]",
      "[1,]",
      "{\"a\":1,}",
      "{,}",
      "[,1]",
      "{\"a\" 1}",
      "{\"a\":}",
      "{1:2}",
      "{'a':1}",
      "[01]",
      "[-]",
      "[-01]",
      "[+1]",
      "[.5]",
      "[1.]",
      "[1e]",
      "[0x1]",
      "[tru]",
      "[truex]",
      "[nul]",
      "[True]",
      "nullx",
      "[1] x",
      "[1] [2]",
      "\"\\x\"",
      "\"\\u12\"",
      "\"unterminated",
      "\"esc\\",
      "[\"a\"\"b\"]",
      "{\"a\":1 \"b\":2}",
      R"({"a": 1, "a": 2})",
      R"({"a": {"b": 1, "b": 2}})",
      R"([{"k": 1}, {"k": 2}])",
      "{}",
      "[]",
      "{ }",
      "[ ]",
      "null",
      "true",
      "false",
      "0",
      "-1",
      "\"s\"",
      "42 ",
      "\n\n  7",
      "[\n{\n\"x\"\n:\n[\n1\n,\n2\n]\n}\n]",
      // Strings as list items and map values (built in place) on lines and columns of their own.
      "[\"a\",\n  \"bc\", {\"k\":\n \"v\", \"l\": [\"\", \"w\\n\"]}, \"x\\\"y\"]",
      "[1\n,\n\"\\\"\\\\\"\n, {\"q\\\"\": \"\\\\\"}]",
      std::string("[\"a\0b\"]", 7),
      std::string("[1,\0]", 5),
      deep_ok,
      deep_bad,
      deeper,
  };
  for (const std::string& text : texts) {
    absl::StatusOr<Value> fast = ParseJson(text, "t.json");
    absl::StatusOr<Value> reference = ParseJsonReference(text, "t.json");
    ASSERT_EQ(fast.ok(), reference.ok()) << text;
    if (!fast.ok()) {
      EXPECT_EQ(fast.status(), reference.status()) << text;
      continue;
    }
    ExpectSameTree(*fast, *reference, text);
  }
  // The limits: the same node count and depth at which each gives up.
  for (size_t nodes : {1, 2, 3, 4, 5, 6, 7}) {
    ParseLimits limits;
    limits.max_nodes = nodes;
    for (const std::string text :
         {"[1, [2], {\"a\": 3}]", "{\"a\": [1, 2]}", "[[[]]]", "7",
          "[\"a\", {\"b\": \"c\"}, \"d\"]", "{\"a\": \"b\", \"c\": [\"d\"]}"}) {
      absl::StatusOr<Value> fast = ParseJson(text, "t.json", limits);
      absl::StatusOr<Value> reference = ParseJsonReference(text, "t.json", limits);
      ASSERT_EQ(fast.ok(), reference.ok()) << text << " max_nodes " << nodes;
      if (!fast.ok()) {
        EXPECT_EQ(fast.status(), reference.status()) << text;
      }
    }
  }
  for (int depth : {0, 1, 2, 3}) {
    ParseLimits limits;
    limits.max_depth = depth;
    for (const std::string text : {"[[1]]", "{\"a\": {\"b\": []}}", "[]", "1"}) {
      absl::StatusOr<Value> fast = ParseJson(text, "t.json", limits);
      absl::StatusOr<Value> reference = ParseJsonReference(text, "t.json", limits);
      ASSERT_EQ(fast.ok(), reference.ok()) << text << " max_depth " << depth;
      if (!fast.ok()) {
        EXPECT_EQ(fast.status(), reference.status()) << text;
      }
    }
  }
}

// The string scan's sixteen-byte blocks: a byte that stops a plain run (quote, backslash,
// control, newline, UTF-8 lead and continuation bytes, and their neighbours) at every position
// of strings of 1..40 bytes, in a string that ends the text (the last bytes are scanned one by
// one) and one followed by more text (blocks all the way), parse as the reference parser does.
TEST(ParseJsonTest, FastStringScanAgreesWithTheReferenceParser) {
  const unsigned char kBytes[] = {0x00, 0x0a, 0x1f, 0x20, 0x21, '"',  0x23, 0x5b,
                                  '\\', 0x5d, 0x7f, 0x80, 0xbf, 0xc3, 0xe2, 0xff};
  for (size_t len = 1; len <= 40; ++len) {
    for (size_t pos = 0; pos < len; ++pos) {
      for (unsigned char b : kBytes) {
        std::string str(len, 'x');
        str[pos] = static_cast<char>(b);
        for (const std::string& text :
             {absl::StrCat("\"", str, "\""),
              absl::StrCat("[\"", str, "\", \"", std::string(20, 'y'), "\"]")}) {
          absl::StatusOr<Value> fast = ParseJson(text, "t.json");
          absl::StatusOr<Value> reference = ParseJsonReference(text, "t.json");
          ASSERT_EQ(fast.ok(), reference.ok())
              << "len " << len << " pos " << pos << " byte " << static_cast<int>(b);
          if (!fast.ok()) {
            ASSERT_EQ(fast.status(), reference.status()) << text;
            continue;
          }
          ExpectSameTree(*fast, *reference, text);
        }
      }
    }
  }
}

// The lines SourceLines used to record by path are now every node's own position.
TEST(SourcePosTest, EveryNodeHasTheLineItWasWrittenOn) {
  absl::StatusOr<Value> v = ParseYaml(R"(# a comment
cases:
  - name: first
    expect:
      effect: allow
  - {name: second, expect: {reasons: [a,
      b]}}
)",
                                      "t.yaml");
  ASSERT_TRUE(v.ok()) << v.status();
  const Value& cases = *v->Find("cases");
  EXPECT_EQ(cases.line(), 2);
  EXPECT_EQ(cases.as_list()[0].line(), 3);
  EXPECT_EQ(cases.as_list()[0].FindPath({"expect", "effect"})->line(), 5);
  EXPECT_EQ(cases.as_list()[1].line(), 6);
  EXPECT_EQ(cases.as_list()[1].FindPath({"expect", "reasons"})->as_list()[1].line(), 7);
  // Columns are 1-based; a map entry is where its key is.
  EXPECT_EQ(cases.as_list()[0].FindPath({"expect", "effect"})->pos().column, 7);
  EXPECT_EQ(cases.as_list()[1].pos().column, 5);
  EXPECT_EQ(cases.pos().FileLine(), "t.yaml:2");
  EXPECT_EQ(SourceFileName(cases.pos().file), "t.yaml");
}

TEST(SourcePosTest, AliasesTakeThePlaceTheyAreUsed) {
  absl::StatusOr<Value> v = ParseYaml("a: &x [1, 2]\nb:\n  - *x\n", "t.yaml");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->Find("b")->line(), 2);
  EXPECT_EQ(v->Find("b")->as_list()[0].line(), 3);
  EXPECT_EQ(v->Find("b")->as_list()[0].as_list()[1].line(), 1);  // inside: the original
}

TEST(SourcePosTest, JsonNodesHaveTheirTokensPosition) {
  absl::StatusOr<Value> v =
      ParseJson("{\"a\": [1, \"x\\\"y\",\n  true, -2.5e3],\n \"b\": {\"c\": null}}", "t.json");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->pos().line, 1);
  EXPECT_EQ(v->pos().column, 1);
  const Value& a = *v->Find("a");
  EXPECT_EQ(a.pos().column, 2);  // the key
  EXPECT_EQ(a.as_list()[0].pos().column, 8);
  EXPECT_EQ(a.as_list()[1].pos().column, 11);
  EXPECT_EQ(a.as_list()[2].line(), 2);
  EXPECT_EQ(a.as_list()[2].pos().column, 3);
  EXPECT_EQ(a.as_list()[3].pos().column, 9);
  const Value& c = *v->FindPath({"b", "c"});
  EXPECT_EQ(c.line(), 3);
  EXPECT_EQ(c.pos().column, 8);
  EXPECT_EQ(v->Find("b")->pos().FileLine(), "t.json:3");
}

TEST(SourcePosTest, ValuesBuiltInCodeHaveNoPosition) {
  Value v = Value::EmptyMap();
  v.Set("a", 1);
  EXPECT_FALSE(v.pos().known());
  EXPECT_FALSE(v.Find("a")->pos().known());
  // A position is not part of a value's identity.
  absl::StatusOr<Value> parsed = ParseYaml("a: 1\n", "t.yaml");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, v);
  // Positions live in the variant's padding: requests converted on the hot path stay small.
  EXPECT_LE(sizeof(Value), 40u);
}

}  // namespace
}  // namespace arbiter
