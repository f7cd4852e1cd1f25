// The Lua helpers as plain functions, without a Lua state: what each returns for the values a
// policy can pass, and the errors it gives. (sandbox_test.cc covers the same helpers through
// policies, with the adapter between.)
#include <cmath>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "service/engine/lua_helpers/arg.h"
#include "service/engine/lua_helpers/duration.h"
#include "service/engine/lua_helpers/get.h"
#include "service/engine/lua_helpers/guards.h"
#include "service/engine/lua_helpers/lists.h"
#include "service/engine/lua_helpers/print.h"
#include "service/engine/lua_helpers/regex.h"
#include "service/engine/lua_helpers/roles.h"
#include "service/engine/lua_helpers/semver.h"
#include "service/engine/lua_helpers/text.h"
#include "service/value/parse.h"

namespace arbiter::lua_helpers {
namespace {

// A Lua table's array part, as the adapter would show it.
class VectorTable final : public Table {
 public:
  explicit VectorTable(std::vector<Arg> items) : items_(std::move(items)) {}
  int64_t RawLen() const override { return static_cast<int64_t>(items_.size()); }
  Arg RawGet(int64_t i) const override {
    return i >= 1 && i <= RawLen() ? items_[static_cast<size_t>(i - 1)] : Arg();
  }
  Arg AsArg() const {
    Arg a;
    a.kind = Arg::Kind::kTable;
    a.table = this;
    a.identity = this;
    return a;
  }

 private:
  std::vector<Arg> items_;
};

Value Json(absl::string_view text) {
  absl::StatusOr<Value> v = ParseJson(text, "test.json");
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *std::move(v) : Value();
}

Arg Other(const void* identity, Arg::Kind kind = Arg::Kind::kOther) {
  Arg a;
  a.kind = kind;
  a.identity = identity;
  return a;
}

TEST(ArgTest, RawEqualFollowsLua) {
  EXPECT_TRUE(RawEqual(Arg(), Arg()));
  EXPECT_TRUE(RawEqual(Arg::Int(1), Arg::Double(1.0)));
  EXPECT_TRUE(RawEqual(Arg::Double(2.0), Arg::Int(2)));
  EXPECT_FALSE(RawEqual(Arg::Int(1), Arg::Double(1.5)));
  // 2^53 + 1 has no exact double: Lua compares an integer and a float exactly, not as doubles.
  EXPECT_FALSE(RawEqual(Arg::Int((int64_t{1} << 53) + 1), Arg::Double(9007199254740992.0)));
  EXPECT_FALSE(RawEqual(Arg::Double(NAN), Arg::Double(NAN)));
  EXPECT_FALSE(RawEqual(Arg::Int(1), Arg::String("1")));
  EXPECT_TRUE(RawEqual(Arg::String("a"), Arg::String("a")));
  EXPECT_FALSE(RawEqual(Arg::Bool(true), Arg::Bool(false)));
  int x, y;
  EXPECT_TRUE(RawEqual(Other(&x), Other(&x)));
  EXPECT_FALSE(RawEqual(Other(&x), Other(&y)));
  // A dead view is never the live view of the same data (the engine made a new one since).
  EXPECT_FALSE(RawEqual(Other(&x, Arg::Kind::kDeadView), Other(&x)));
  Value list = Json("[1, [2]]");
  EXPECT_TRUE(RawEqual(Arg::Of(list.as_list()[1]), Arg::Of(list.as_list()[1])));
  EXPECT_FALSE(RawEqual(Arg::Of(list.as_list()[1]), Arg::Of(list)));
}

TEST(ArgTest, ScalarEqualsComparesNumbersAsDoubles) {
  EXPECT_TRUE(ScalarEquals(Arg::Int(2), Value(2.0)));
  EXPECT_TRUE(ScalarEquals(Arg::Double(2.0), Value(2)));
  EXPECT_TRUE(ScalarEquals(Arg::String("a"), Value("a")));
  EXPECT_FALSE(ScalarEquals(Arg::String("2"), Value(2)));
  EXPECT_TRUE(ScalarEquals(Arg::Bool(false), Value(false)));
  EXPECT_FALSE(ScalarEquals(Arg(), Value()));
  Value list = Json("[1]");
  EXPECT_FALSE(ScalarEquals(Arg::Of(list), list));
}

TEST(ListsTest, TablesAndViews) {
  Value roles = Json(R"(["analyst", "steward", 3])");
  const Arg view = Arg::Of(roles);
  VectorTable table({Arg::String("a"), Arg::Int(2)});
  EXPECT_EQ(*ListLen(view), 3);
  EXPECT_EQ(*ListLen(table.AsArg()), 2);
  EXPECT_EQ(*ListLen(Arg()), 0);
  EXPECT_EQ(*ListLen(Arg::Of(Json(R"({"a": 1})"))), 0);  // a map is not a list
  EXPECT_TRUE(*ListContains(view, Arg::String("steward")));
  EXPECT_TRUE(*ListContains(view, Arg::Double(3.0)));
  EXPECT_FALSE(*ListContains(view, Arg::String("admin")));
  EXPECT_TRUE(*ListContains(table.AsArg(), Arg::Double(2.0)));
  EXPECT_FALSE(*ListContains(table.AsArg(), Arg::String("2")));
  EXPECT_FALSE(*ListContains(Arg(), Arg::String("a")));
  EXPECT_TRUE(*ListIntersects(table.AsArg(), Arg::Of(Json(R"(["x", 2])"))));
  EXPECT_TRUE(*ListIntersects(view, VectorTable({Arg::String("analyst")}).AsArg()));
  EXPECT_FALSE(*ListIntersects(view, table.AsArg()));
  EXPECT_FALSE(*ListIntersects(VectorTable({}).AsArg(), Arg()));
  // A table inside a table is compared by identity.
  int t;
  VectorTable nested({Other(&t, Arg::Kind::kTable)});
  EXPECT_TRUE(*ListContains(nested.AsArg(), Other(&t, Arg::Kind::kTable)));
}

TEST(ListsTest, DeadViewsFailWhereTheyAreUsedAsLists) {
  int stale;
  const Arg dead = Other(&stale, Arg::Kind::kDeadView);
  EXPECT_TRUE(absl::StrContains(ListLen(dead).status().message(), "kept beyond the check call"));
  EXPECT_FALSE(ListContains(dead, Arg::String("a")).ok());
  // As an element it is only compared; as an empty list's partner it is never reached.
  EXPECT_TRUE(*ListContains(VectorTable({dead}).AsArg(), dead));
  EXPECT_FALSE(*ListIntersects(VectorTable({}).AsArg(), dead));
  EXPECT_FALSE(ListIntersects(VectorTable({Arg::String("a")}).AsArg(), dead).ok());
}

// Walks over large tables ask the clock every kListClockSteps comparisons (list.intersects of
// two tables is quadratic), short ones never; its error is the call's.
TEST(ListsTest, LongWalksAskTheClock) {
  int calls = 0;
  absl::Status status;
  auto clock = [&] {
    ++calls;
    return status;
  };
  std::vector<Arg> many;
  for (int i = 0; i < 3 * kListClockSteps; ++i) many.push_back(Arg::Int(i));
  VectorTable big(many), small({Arg::Int(1), Arg::Int(2)});
  EXPECT_FALSE(*ListContains(big.AsArg(), Arg::String("x"), clock));
  EXPECT_EQ(calls, 3);
  calls = 0;
  EXPECT_TRUE(*ListContains(big.AsArg(), Arg::Int(5), clock));  // found before the first
  EXPECT_TRUE(*ListIntersects(small.AsArg(), small.AsArg(), clock));
  EXPECT_FALSE(*HasAnyRole(small.AsArg(), VectorTable({Arg::Int(7)}).AsArg(), clock));
  EXPECT_EQ(calls, 0);
  // 3 * kListClockSteps needles against 2 elements: 6 * kListClockSteps comparisons.
  EXPECT_FALSE(
      *ListIntersects(big.AsArg(), VectorTable({Arg::Int(-1), Arg::Int(-2)}).AsArg(), clock));
  EXPECT_EQ(calls, 6);
  status = absl::DeadlineExceededError("policy time budget exceeded");
  EXPECT_EQ(ListContains(big.AsArg(), Arg::String("x"), clock).status().message(),
            "policy time budget exceeded");
  EXPECT_EQ(ListIntersects(big.AsArg(), big.AsArg(), clock).status().message(),
            "policy time budget exceeded");
  EXPECT_EQ(HasAnyRole(big.AsArg(), big.AsArg(), clock).status().message(),
            "policy time budget exceeded");
  EXPECT_EQ(InGroup(big.AsArg(), Arg::String("x"), clock).status().message(),
            "policy time budget exceeded");
  EXPECT_TRUE(*HasRole(small.AsArg(), Arg::Int(2), clock));  // short walks still answer
}

TEST(RolesTest, PrincipalFields) {
  Value principal = Json(R"({"id": "ana", "roles": ["analyst"], "groups": ["everyone"]})");
  Arg roles = PrincipalField(principal, kRolesField);
  EXPECT_TRUE(*HasRole(roles, Arg::String("analyst")));
  EXPECT_FALSE(*HasRole(roles, Arg::String("admin")));
  EXPECT_TRUE(*InGroup(PrincipalField(principal, kGroupsField), Arg::String("everyone")));
  EXPECT_TRUE(*HasAnyRole(roles, VectorTable({Arg::String("x"), Arg::String("analyst")}).AsArg()));
  EXPECT_FALSE(*HasAnyRole(roles, VectorTable({Arg::String("x")}).AsArg()));
  EXPECT_EQ(PrincipalField(principal, "missing").kind, Arg::Kind::kNil);
  EXPECT_EQ(PrincipalField(Json("[1]"), kRolesField).kind, Arg::Kind::kNil);
  // A role list that is a string holds nothing.
  EXPECT_FALSE(*HasRole(PrincipalField(principal, "id"), Arg::String("ana")));
}

TEST(GetTest, PathKeysSkipEmptyKeys) {
  std::vector<std::string> keys;
  PathKeys k(".a..b.1.");
  absl::string_view key;
  while (k.Next(&key)) keys.emplace_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "b", "1"}));
  EXPECT_EQ(k.rest(), "");
  PathKeys empty("");
  EXPECT_FALSE(empty.Next(&key));
}

TEST(GetTest, WalksMapsAndLists) {
  Value v = Json(R"({"a": {"b": [10, {"c": "deep"}]}, "n": null})");
  ASSERT_NE(GetPath(v, "a.b.2.c"), nullptr);
  EXPECT_EQ(GetPath(v, "a.b.2.c")->as_string(), "deep");
  EXPECT_EQ(GetPath(v, "a.b.1")->as_int(), 10);
  EXPECT_EQ(GetPath(v, ""), &v);
  EXPECT_EQ(GetPath(v, "a.b.0"), nullptr);
  EXPECT_EQ(GetPath(v, "a.b.3"), nullptr);
  EXPECT_EQ(GetPath(v, "a.b.x"), nullptr);
  EXPECT_EQ(GetPath(v, "a.b.1.c"), nullptr);  // through a scalar
  EXPECT_EQ(GetPath(v, "missing"), nullptr);
  EXPECT_TRUE(GetPath(v, "n")->is_null());
}

TEST(GetTest, CompiledPathsWalkAsTheTextDoes) {
  Value v = Json(R"({"a": {"b": [10, {"c": "deep"}], "1": "one"}, "n": null})");
  for (absl::string_view path : {"a.b.2.c", "a.b.1", "", ".a..b.1.", "a.b.0", "a.b.3", "a.b.x",
                                 "a.b.1.c", "missing", "n", "a.1", "a.b.+1", "a.b.99999999999"}) {
    CompiledPath compiled;
    ASSERT_TRUE(CompilePath(path, &compiled)) << path;
    EXPECT_EQ(compiled.path(), path);
    EXPECT_EQ(GetPath(v, compiled), GetPath(v, path)) << path;
  }
  CompiledPath compiled;
  EXPECT_FALSE(CompilePath(std::string(kMaxCompiledPathBytes + 1, 'a'), &compiled));
  EXPECT_FALSE(CompilePath("1.2.3.4.5.6.7.8.9", &compiled));  // one key too many
  EXPECT_TRUE(CompilePath("1.2.3.4.5.6.7.8", &compiled));
}

TEST(GetTest, PathCacheNeverConfusesTwoPaths) {
  Value v = Json(R"({"a": {"b": 1, "c": 2}})");
  PathCache cache;
  auto never = [](const Value&) { return false; };
  // Two paths at one address (a Lua string freed and its memory reused for another).
  char buffer[] = "a.b";
  PathCache::Entry* first = cache.Get(buffer);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->Walk(v, 1, never)->as_int(), 1);
  buffer[2] = 'c';
  PathCache::Entry* second = cache.Get(buffer);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->path().path(), "a.c");
  EXPECT_EQ(second->Walk(v, 1, never)->as_int(), 2);
  // Many paths at many addresses share the slots: each lookup still gives its own path.
  std::vector<std::string> paths;
  for (int i = 0; i < 500; ++i) paths.push_back(i % 2 ? "a.b" : "a.c");
  for (const std::string& p : paths) {
    PathCache::Entry* e = cache.Get(p);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->path().path(), p);
    EXPECT_EQ(e->Walk(v, 1, never)->as_int(), p == "a.b" ? 1 : 2);
  }
  // A path too long to compile is not cached; callers walk it as text.
  EXPECT_EQ(cache.Get(std::string(kMaxCompiledPathBytes + 1, 'a')), nullptr);
}

TEST(GetTest, RememberedAnswersFollowTheRootAndTheEpoch) {
  PathCache cache;
  int asked = 0;
  auto never = [&](const Value&) {
    ++asked;
    return false;
  };
  auto always = [&](const Value&) {
    ++asked;
    return true;
  };
  const std::string path = "a.b";
  Value one = Json(R"({"a": {"b": 1}})"), two = Json(R"({"a": {"b": 2}})");
  PathCache::Entry* e = cache.Get(path);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->Walk(one, 1, never)->as_int(), 1);
  EXPECT_EQ(e->Walk(two, 1, never)->as_int(), 2);  // another root: walked again
  EXPECT_EQ(e->Walk(two, 1, never)->as_int(), 2);  // remembered
  EXPECT_EQ(asked, 2);
  // A new epoch (a new evaluation: `two` may be freed and its memory reused) walks again; an
  // address said not to outlive the cache is not asked again.
  two = Json(R"({"a": {"b": 3}})");
  EXPECT_EQ(e->Walk(two, 2, never)->as_int(), 3);
  EXPECT_EQ(asked, 2);
  EXPECT_EQ(e->Walk(two, 2, never)->as_int(), 3);
  EXPECT_EQ(asked, 2);
  // A tree that outlives the cache is remembered across epochs.
  EXPECT_EQ(e->Walk(one, 3, always)->as_int(), 1);
  EXPECT_EQ(e->Walk(one, 4, always)->as_int(), 1);
  EXPECT_EQ(e->Walk(one, 5, never)->as_int(), 1);
  EXPECT_EQ(asked, 3);
  // Misses and nulls are remembered as they are.
  PathCache::Entry* missing = cache.Get("a.x");
  ASSERT_NE(missing, nullptr);
  EXPECT_EQ(missing->Walk(one, 5, never), nullptr);
  EXPECT_EQ(missing->Walk(one, 5, never), nullptr);
  EXPECT_EQ(asked, 4);
  // A slot taken by another path forgets the answer of the one before.
  char buffer[] = "a.b";
  ASSERT_EQ(cache.Get(buffer)->Walk(one, 6, always)->as_int(), 1);
  buffer[0] = 'x';
  EXPECT_EQ(cache.Get(buffer)->Walk(one, 6, always), nullptr);
}

TEST(GetTest, KeptAnswersAreForgottenWhenTheAnswerMayChange) {
  PathCache cache;
  auto never = [](const Value&) { return false; };
  auto always = [](const Value&) { return true; };
  Value one = Json(R"({"a": {"b": 1}})"), two = Json(R"({"a": {"b": 2}})");
  const std::string path = "a.b";
  PathCache::Entry* e = cache.Get(path);
  ASSERT_NE(e, nullptr);
  EXPECT_FALSE(e->kept());
  e->Walk(one, 1, never);
  EXPECT_FALSE(e->kept());
  e->Keep();
  e->Walk(one, 1, never);  // the same answer
  EXPECT_TRUE(e->kept());
  e->Walk(two, 1, never);  // another root
  EXPECT_FALSE(e->kept());
  e->Keep();
  e->Walk(two, 2, never);  // another epoch
  EXPECT_FALSE(e->kept());
  e->Walk(one, 3, always);
  e->Keep();
  e->Walk(one, 4, always);  // a tree that outlives the cache: the same answer
  EXPECT_TRUE(e->kept());
  // A slot taken by another path forgets it.
  char buffer[] = "a.b";
  PathCache::Entry* first = cache.Get(buffer);
  first->Walk(one, 5, never);
  first->Keep();
  buffer[2] = 'c';
  EXPECT_FALSE(cache.Get(buffer)->kept());
  // What the caller holds for a slot (KeepNew) stays through walks and the slot's reuse; only
  // KeepNew replaces it.
  PathCache::Entry* held = cache.Get(buffer);
  EXPECT_FALSE(held->held_string().has_value());
  held->Walk(one, 6, never);
  held->KeepNew("kept text");
  EXPECT_TRUE(held->kept());
  held->Walk(two, 6, never);
  EXPECT_FALSE(held->kept());
  EXPECT_EQ(held->held_string(), "kept text");
  // The slot taken by another path (a set's slots are taken in turn).
  PathCache::Entry* reused = nullptr;
  for (char c = 'd'; c < 'd' + 4 && reused != held; ++c) {
    buffer[2] = c;
    reused = cache.Get(buffer);
  }
  ASSERT_EQ(reused, held);
  EXPECT_FALSE(held->kept());
  EXPECT_EQ(held->held_string(), "kept text");
  held->KeepNew(std::nullopt);
  EXPECT_TRUE(held->kept());
  EXPECT_FALSE(held->held_string().has_value());
  // A pinned slot is found by its path's address alone (the caller keeps the bytes there
  // unchanged; here they change to show that the text is no longer compared).
  char pinned_buffer[] = "a.b";
  PathCache::Entry* pinned = cache.Get(pinned_buffer);
  ASSERT_NE(pinned, nullptr);
  EXPECT_FALSE(pinned->pinned());
  pinned->Pin();
  pinned_buffer[2] = 'x';
  EXPECT_EQ(cache.Get(pinned_buffer), pinned);
  EXPECT_EQ(pinned->path().path(), "a.b");
  // Slots are numbered within 1..kSlots, and paths at many addresses use many of them.
  std::vector<std::string> paths;
  for (int i = 0; i < 4 * PathCache::kSlots; ++i) {
    paths.push_back(absl::StrCat("a.long.path.kept.on.the.heap.", i));
  }
  std::set<int> slots;
  for (const std::string& p : paths) {
    PathCache::Entry* s = cache.Get(p);
    ASSERT_NE(s, nullptr);
    EXPECT_GE(s->slot(), 1);
    EXPECT_LE(s->slot(), PathCache::kSlots);
    slots.insert(s->slot());
  }
  EXPECT_GT(slots.size(), static_cast<size_t>(PathCache::kSlots / 2));
}

TEST(RolesTest, FieldMemoFollowsThePrincipalAndTheEpoch) {
  Value ana = Json(R"({"roles": ["analyst"], "groups": ["everyone"]})");
  Value bob = Json(R"({"roles": ["admin"]})");
  FieldMemo memo;
  EXPECT_TRUE(*HasRole(memo.Get(ana, kRolesField, 1), Arg::String("analyst")));
  EXPECT_TRUE(*HasRole(memo.Get(ana, kRolesField, 1), Arg::String("analyst")));
  EXPECT_TRUE(*HasRole(memo.Get(bob, kRolesField, 1), Arg::String("admin")));
  EXPECT_FALSE(*HasRole(memo.Get(bob, kRolesField, 1), Arg::String("analyst")));
  // A new epoch: `ana` may have been freed and another principal made at its address.
  ana = Json(R"({"roles": ["auditor"]})");
  EXPECT_TRUE(*HasRole(memo.Get(ana, kRolesField, 2), Arg::String("auditor")));
  EXPECT_EQ(memo.Get(bob, kRolesField, 2).kind, Arg::Kind::kView);
  Value nobody = Json(R"({"id": "x"})");
  EXPECT_EQ(memo.Get(nobody, kRolesField, 2).kind, Arg::Kind::kNil);
}

TEST(DurationTest, UnitsAndNumbers) {
  EXPECT_EQ(Duration(Arg::String("1h30m")), 5400.0);
  EXPECT_EQ(Duration(Arg::String("250ms")), 0.25);
  EXPECT_EQ(Duration(Arg::String("2w")), 1209600.0);
  EXPECT_EQ(Duration(Arg::String("7y")), 7.0 * 365 * 86400);
  EXPECT_EQ(Duration(Arg::Int(42)), 42.0);
  EXPECT_EQ(Duration(Arg::String("5")), std::nullopt);
  EXPECT_EQ(Duration(Arg::String("-1h")), std::nullopt);
  EXPECT_EQ(Duration(Arg::String("")), std::nullopt);
  EXPECT_EQ(Duration(Arg::String(std::string(65, '1'))), std::nullopt);
  EXPECT_EQ(Duration(Arg::String(absl::string_view("5m\0junk", 7))), std::nullopt);
  EXPECT_EQ(Duration(Arg()), std::nullopt);
}

TEST(DurationTest, Percent) {
  EXPECT_EQ(Percent(Arg::String("99.5%")), 99.5);
  EXPECT_EQ(Percent(Arg::Double(99.9)), 99.9);
  EXPECT_EQ(Percent(Arg::String("99.5")), std::nullopt);
  EXPECT_EQ(Percent(Arg::String("%")), std::nullopt);
  EXPECT_EQ(Percent(Arg::String("inf%")), std::nullopt);
  EXPECT_EQ(Percent(Arg::Bool(true)), std::nullopt);
}

TEST(SemverTest, VersionsFromStringsAndNumbers) {
  std::optional<SemVer> v = ParseVersion(Arg::String("v1.2.3-rc.1"));
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->major, 1);
  EXPECT_EQ(v->patch, 3);
  EXPECT_EQ(v->prerelease, "rc.1");
  EXPECT_TRUE(ParseVersion(Arg::Int(2)).has_value());
  ASSERT_TRUE(ParseVersion(Arg::Double(1.5)).has_value());
  EXPECT_EQ(ParseVersion(Arg::Double(1.5))->minor, 5);
  EXPECT_FALSE(ParseVersion(Arg::Double(1234567.0)).has_value());  // %g: 1.23457e+06
  EXPECT_FALSE(ParseVersion(Arg::String(absl::string_view("1.2.3\0junk", 10))).has_value());
  const std::string long_pre(kMaxVersionBytes - 6, 'a');
  EXPECT_TRUE(ParseVersion(Arg::String("1.0.0-" + long_pre)).has_value());
  EXPECT_FALSE(ParseVersion(Arg::String("1.0.0-" + long_pre + "a")).has_value());
  EXPECT_FALSE(ParseVersion(Arg()).has_value());
}

TEST(SemverTest, CompareAndBump) {
  EXPECT_EQ(*CompareVersions(Arg::String("1.2.3"), Arg::String("1.10.0")), -1);
  EXPECT_EQ(*CompareVersions(Arg::Int(2), Arg::String("2.0.0")), 0);
  EXPECT_EQ(*BumpBetween(Arg::String("1.2.3"), Arg::String("2.0.0")), "major");
  EXPECT_EQ(*BumpBetween(Arg::String("1.2.3"), Arg::String("1.2.2")), "downgrade");
  absl::StatusOr<int> bad = CompareVersions(Arg::String("x"), Arg::String("1.0.0"));
  EXPECT_EQ(bad.status().message(), "semver: both arguments must be semantic versions");
  EXPECT_FALSE(BumpBetween(Arg::String("1.0.0"), Arg()).ok());
}

// A state's memory as the regex helpers see it, with a clock that counts its calls.
struct RegexFixture {
  RegexCache cache;
  size_t mem_used = 0;
  size_t mem_limit = 64 << 20;
  size_t max_subject = 1 << 20;
  int clock_calls = 0;
  absl::Status clock_status;
  absl::StatusOr<bool> Test(std::optional<absl::string_view> pattern,
                            std::optional<absl::string_view> subject,
                            RE2::Anchor anchor = RE2::UNANCHORED) {
    auto clock = [this] {
      ++clock_calls;
      return clock_status;
    };
    return RegexTest(cache, RegexBudget{&mem_used, mem_limit, max_subject, clock}, pattern, subject,
                     anchor);
  }
  absl::StatusOr<std::optional<Captures>> Capture(absl::string_view pattern,
                                                  std::optional<absl::string_view> subject) {
    auto clock = [this] {
      ++clock_calls;
      return clock_status;
    };
    return RegexCaptures(cache, RegexBudget{&mem_used, mem_limit, max_subject, clock}, pattern,
                         subject);
  }
};

TEST(RegexTest, MatchAndFind) {
  RegexFixture f;
  EXPECT_TRUE(*f.Test("[a-z][a-z0-9-]*", "customer-360", RE2::ANCHOR_BOTH));
  EXPECT_FALSE(*f.Test("[a-z]+", "abc1", RE2::ANCHOR_BOTH));
  EXPECT_TRUE(*f.Test("[0-9]", "abc1"));
  EXPECT_FALSE(*f.Test(".*", std::nullopt));
  EXPECT_EQ(f.clock_calls, 3);  // the missing subject is never matched
}

TEST(RegexTest, CacheChargesTheStateMemory) {
  RegexFixture f;
  ASSERT_TRUE(f.Test("a", "x").ok());
  ASSERT_TRUE(f.Test("a", "y").ok());
  EXPECT_EQ(f.cache.size(), 1u);
  EXPECT_EQ(f.mem_used, kRegexMaxMem);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(f.Test("p" + std::to_string(i), "x").ok());
  EXPECT_LE(f.cache.size(), kMaxRegexCache);
  EXPECT_EQ(f.mem_used, f.cache.size() * kRegexMaxMem);
  f.cache.Clear(&f.mem_used);
  EXPECT_EQ(f.mem_used, 0u);
  // No room for a program under the ceiling even after giving up the cached ones: an error.
  ASSERT_TRUE(f.Test("b", "x").ok());
  f.mem_used += 10;  // the Lua heap
  f.mem_limit = kRegexMaxMem + 5;
  absl::StatusOr<bool> full = f.Test("c", "x");
  EXPECT_EQ(full.status().message(),
            "re: memory limit of 262149 bytes exceeded (a compiled pattern takes up to 262144 "
            "bytes)");
  EXPECT_EQ(f.mem_used, 10u);
  EXPECT_EQ(f.cache.size(), 0u);
}

TEST(RegexTest, RecentProgramsNeverAnswerForAnotherPattern) {
  RegexFixture f;
  // One address, two patterns (a Lua string freed and its memory reused for another).
  char pattern[] = "a+";
  EXPECT_TRUE(*f.Test(pattern, "aa", RE2::ANCHOR_BOTH));
  EXPECT_TRUE(*f.Test(pattern, "aa", RE2::ANCHOR_BOTH));
  pattern[0] = 'b';
  EXPECT_FALSE(*f.Test(pattern, "aa", RE2::ANCHOR_BOTH));
  EXPECT_TRUE(*f.Test(pattern, "bb", RE2::ANCHOR_BOTH));
  EXPECT_EQ(f.cache.size(), 2u);
  // Programs given up (to make room) are not answered from the recent ones: under ASan a stale
  // one would be a use after free.
  f.cache.Clear(&f.mem_used);
  EXPECT_TRUE(*f.Test(pattern, "bb", RE2::ANCHOR_BOTH));
  for (int i = 0; i < 2 * static_cast<int>(kMaxRegexCache); ++i) {
    ASSERT_TRUE(f.Test("p" + std::to_string(i), "x").ok());
  }
  EXPECT_TRUE(*f.Test(pattern, "bb", RE2::ANCHOR_BOTH));
  EXPECT_EQ(f.mem_used, f.cache.size() * kRegexMaxMem);
}

// Answers are remembered by program, anchor and subject bytes: never given for another of
// these, nor for a program made at a freed one's address.
TEST(RegexTest, RememberedAnswersAreEachSubjectsOwn) {
  RegexFixture f;
  const char* const patterns[] = {"a+", "[a-z]+",
                                  "(?i)(var)?char(\\s*\\(\\s*\\d+\\s*\\))?|string|text"};
  const std::string long_a(RegexCache::kMaxAnsweredSubjectBytes + 1, 'a');
  const std::string subjects[] = {"a",       "aa",          "ab",        "b",
                                  "",        "VARCHAR(10)", "string",    "strings",
                                  "varchar", long_a,        long_a + "!"};
  for (int round = 0; round < 3; ++round) {
    for (const char* p : patterns) {
      RE2 fresh(p);
      for (const std::string& subject : subjects) {
        for (RE2::Anchor anchor : {RE2::UNANCHORED, RE2::ANCHOR_BOTH}) {
          // One buffer for every subject: the same address, other bytes.
          char buffer[64];
          std::memcpy(buffer, subject.data(), subject.size());
          absl::string_view at_one_address(buffer, subject.size());
          const bool want = fresh.Match(re2::StringPiece(subject.data(), subject.size()), 0,
                                        subject.size(), anchor, nullptr, 0);
          EXPECT_EQ(*f.Test(p, at_one_address, anchor), want) << p << " " << subject;
          EXPECT_EQ(*f.Test(p, subject, anchor), want) << p << " " << subject;
        }
      }
    }
  }
  // Room for one program only: each new pattern's program replaces the last, often at its
  // address. The clock and the subject's limit are asked first, remembered or not.
  f.mem_limit = kRegexMaxMem + 5;
  f.cache.Clear(&f.mem_used);
  for (int i = 0; i < 20; ++i) {
    const bool odd = i % 2 == 1;
    EXPECT_EQ(*f.Test(odd ? "b" : "a", "a", RE2::ANCHOR_BOTH), !odd) << i;
  }
  const int calls = f.clock_calls;
  EXPECT_TRUE(*f.Test("a", "a", RE2::ANCHOR_BOTH));
  EXPECT_EQ(f.clock_calls, calls + 1);
  f.max_subject = 0;
  EXPECT_FALSE(f.Test("a", "a", RE2::ANCHOR_BOTH).ok());
}

TEST(RegexTest, Errors) {
  RegexFixture f;
  EXPECT_EQ(f.Test(std::nullopt, "x").status().message(), "re: the pattern must be a string");
  EXPECT_EQ(f.Test(std::string(5000, 'a'), "x").status().message(),
            "re: the pattern is longer than 4096 bytes");
  EXPECT_TRUE(absl::StartsWith(f.Test("a(", "x").status().message(), "re: invalid pattern: "));
  EXPECT_TRUE(
      absl::StartsWith(f.Capture("a(", "x").status().message(), "re.captures: invalid pattern"));
  f.max_subject = 10;
  EXPECT_EQ(f.Test("a", std::string(11, 'a')).status().message(),
            "re: subject of 11 bytes is too long for this pattern (limit 10 bytes)");
  // The clock is asked before the match, and its error is the call's.
  f.clock_status = absl::DeadlineExceededError("policy time budget exceeded");
  EXPECT_EQ(f.Test("a", "a").status().message(), "policy time budget exceeded");
}

TEST(RegexTest, Captures) {
  RegexFixture f;
  absl::StatusOr<std::optional<Captures>> c = f.Capture("(\\w+)@(\\w+)", "mail: me@host!");
  ASSERT_TRUE(c.ok() && c->has_value());
  ASSERT_EQ((*c)->count, 2);
  EXPECT_EQ((*c)->groups[0], "me");
  EXPECT_EQ((*c)->groups[1], "host");
  c = f.Capture("(a)|(b)", "b");
  ASSERT_TRUE(c.ok() && c->has_value());
  EXPECT_EQ((*c)->groups[0].data(), nullptr);  // took no part
  EXPECT_EQ((*c)->groups[1], "b");
  EXPECT_FALSE(f.Capture("(x)", "abc")->has_value());
  EXPECT_FALSE(f.Capture("(x)", std::nullopt)->has_value());
  // Only the first kMaxCaptures groups.
  std::string many;
  for (int i = 0; i < 20; ++i) many += "(a)";
  c = f.Capture(many, std::string(20, 'a'));
  ASSERT_TRUE(c.ok() && c->has_value());
  EXPECT_EQ((*c)->count, kMaxCaptures);
}

TEST(GuardsTest, PatternCost) {
  // Anchoring removes the factor n of trying every start position.
  EXPECT_EQ(PatternCost("^abc", 1000, true), 4);
  EXPECT_EQ(PatternCost("^abc", 1000, false), 4 * 1001);  // gmatch: '^' is a character
  // Each repetition multiplies by about n.
  EXPECT_GT(PatternCost("a*b*c*", 1000, true), 1000 * PatternCost("a*b*", 1000, true) / 10);
  EXPECT_GT(PatternCost(std::string(26, 'a') + "?", 26, true), PatternCost("a", 26, true));
}

TEST(GuardsTest, Checks) {
  EXPECT_TRUE(CheckPatternCall(100, "a", false, true, 16 << 10).ok());
  EXPECT_EQ(CheckPatternCall(20000, "a", false, true, 16 << 10).message(),
            "subject of 20000 bytes is over the Lua pattern limit of 16384 bytes; use re.* (RE2, "
            "linear time)");
  EXPECT_TRUE(CheckPatternCall(20000, "a", true, true, 16 << 10).ok());  // a plain find
  EXPECT_TRUE(
      absl::StartsWith(CheckPatternCall(10000, "a*a*a*a*b", false, true, 16 << 10).message(),
                       "Lua pattern too costly to backtrack over 10000 bytes"));
  EXPECT_TRUE(CheckRep(10, 100, 1, 1 << 20).ok());
  EXPECT_EQ(CheckRep(1 << 20, 2, 0, 1 << 20).message(),
            "string.rep result over the limit of 1048576 bytes");
  EXPECT_FALSE(CheckRep(0, (1 << 20) + 1, 0, 1 << 20).ok());  // an empty string, looped
  EXPECT_TRUE(CheckRep(5, -3, 0, 10).ok());
  EXPECT_TRUE(CheckSort(kMaxSortInC + 1, true).ok());
  EXPECT_EQ(CheckSort(kMaxSortInC + 1, false).message(),
            "table.sort: over 50000 items need a Lua comparator function");
}

TEST(PrintTest, RendersWithoutMetamethods) {
  std::string line;
  auto add = [&line](const PrintArg& a, bool first = false) {
    return AppendPrintArg(a, first, &line);
  };
  ASSERT_TRUE(add(PrintArg{Arg::String("x")}, true).ok());
  ASSERT_TRUE(add(PrintArg{Arg::Int(42)}).ok());
  ASSERT_TRUE(add(PrintArg{Arg::Double(0.1)}).ok());
  ASSERT_TRUE(add(PrintArg{Arg::Bool(false)}).ok());
  ASSERT_TRUE(add(PrintArg{Arg()}).ok());
  Value v = Json(R"({"a": [1, "b"]})");
  ASSERT_TRUE(add(PrintArg{Arg::Of(v)}).ok());
  PrintArg finding;
  finding.value.kind = Arg::Kind::kTable;
  finding.finding = true;
  finding.finding_type = "deny";
  finding.finding_message = "no";
  ASSERT_TRUE(add(finding).ok());
  PrintArg function;
  function.value.kind = Arg::Kind::kOther;
  function.type_name = "function";
  ASSERT_TRUE(add(function).ok());
  EXPECT_EQ(line, R"(x 42 0.1 false nil {"a":[1,"b"]} deny(no) function)");
  PrintArg dead;
  dead.value.kind = Arg::Kind::kDeadView;
  EXPECT_FALSE(add(dead).ok());
}

TEST(PrintTest, LinesAreCapped) {
  std::string line;
  ASSERT_TRUE(AppendPrintArg(PrintArg{Arg::String(std::string(2000, 'x'))}, true, &line).ok());
  ASSERT_TRUE(AppendPrintArg(PrintArg{Arg::String("more")}, false, &line).ok());
  EXPECT_EQ(line.size(), kMaxPrintLineBytes);
  std::vector<std::string> lines;
  size_t bytes = 0;
  AddPrintLine("a\tb", &lines, &bytes);
  EXPECT_EQ(lines.back(), "a b");  // control characters cleaned
  EXPECT_EQ(bytes, 3u);
  while (PrintTakesLine(lines.size(), bytes)) AddPrintLine("line", &lines, &bytes);
  EXPECT_EQ(lines.size(), kMaxPrintLines);
  AddPrintLine("line", &lines, &bytes);
  EXPECT_EQ(lines.back(), "(print: output capped)");
  AddPrintLine("line", &lines, &bytes);
  EXPECT_EQ(lines.size(), kMaxPrintLines + 1);  // and then nothing
  // The byte cap: a note per call until the line cap.
  lines.clear();
  bytes = kMaxPrintBytes;
  AddPrintLine("x", &lines, &bytes);
  AddPrintLine("x", &lines, &bytes);
  EXPECT_EQ(lines, (std::vector<std::string>(2, "(print: output capped)")));
}

TEST(TextTest, CleanText) {
  EXPECT_EQ(CleanText("plain", 10), "plain");
  EXPECT_EQ(CleanText("plain", 3), "pla");
  EXPECT_EQ(CleanText("a\nb\x7f", 10), "a b ");
  EXPECT_EQ(CleanText("\xff\xc3\xa9", 10), "?\xc3\xa9");    // invalid byte; then é
  EXPECT_EQ(CleanText("\xc3\xa9\xc3\xa9", 3), "\xc3\xa9");  // not cut inside a character
  EXPECT_EQ(CleanText("\xed\xa0\x80", 10), "???");          // a surrogate is not UTF-8
  // The fast path reads eight bytes at a time: every byte value, at every position of a word and
  // of the tail, is cleaned as one byte at a time would clean it.
  const std::string printable = "The quick brown fox jumps over the lazy dog 0123456789 ~!";
  EXPECT_EQ(CleanText(printable, 1000), printable);
  EXPECT_EQ(CleanText(printable, 20), printable.substr(0, 20));
  for (int b = 0; b < 256; ++b) {
    for (size_t at : {0, 3, 7, 8, 15, 16, 21}) {
      std::string s(23, 'x');
      s[at] = static_cast<char>(b);
      std::string expected = s;
      if (b < 0x20 || b == 0x7F) {
        expected[at] = ' ';
      } else if (b >= 0x80) {
        expected[at] = '?';  // a lone non-ASCII byte is not UTF-8
      }
      EXPECT_EQ(CleanText(s, 100), expected) << "byte " << b << " at " << at;
    }
  }
}

}  // namespace
}  // namespace arbiter::lua_helpers
