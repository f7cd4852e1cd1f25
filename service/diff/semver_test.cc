#include "service/diff/semver.h"

#include <limits>
#include <optional>
#include <string>

#include "gtest/gtest.h"

namespace arbiter {
namespace {

struct ParseCase {
  const char* text;
  bool ok;
  const char* canonical;  // FormatSemVer of the result when ok
};

TEST(SemVerTest, Parse) {
  const ParseCase cases[] = {
      {"1.2.3", true, "1.2.3"},
      {"v1.2.3", true, "1.2.3"},
      {"V0.0.0", true, "0.0.0"},
      {"1.2", true, "1.2.0"},
      {"2", true, "2.0.0"},
      {"1.0.0-rc.1", true, "1.0.0-rc.1"},
      {"1.0.0-alpha-beta.0.x", true, "1.0.0-alpha-beta.0.x"},
      {"1.0.0+build.7", true, "1.0.0+build.7"},
      {"1.0.0-rc.1+sha.5114f85", true, "1.0.0-rc.1+sha.5114f85"},
      {"1.0.0+001", true, "1.0.0+001"},  // leading zeros are fine in build metadata
      {"9223372036854775807.0.0", true, "9223372036854775807.0.0"},
      {"", false, ""},
      {"v", false, ""},
      {"1.2.3.4", false, ""},
      {"01.2.3", false, ""},
      {"1.02.3", false, ""},
      {"1..3", false, ""},
      {"1.2.3-", false, ""},
      {"1.2.3-rc..1", false, ""},
      {"1.2.3-01", false, ""},  // numeric prerelease identifiers have no leading zeros
      {"1.2.3+", false, ""},
      {"1.2.3-rc_1", false, ""},
      {"-1.2.3", false, ""},
      {"1.2.x", false, ""},
      {" 1.2.3", false, ""},
      {"9223372036854775808.0.0", false, ""},
      {"latest", false, ""},
  };
  for (const ParseCase& c : cases) {
    std::optional<SemVer> v = ParseSemVer(c.text);
    EXPECT_EQ(v.has_value(), c.ok) << c.text;
    if (v && c.ok) {
      EXPECT_EQ(FormatSemVer(*v), c.canonical) << c.text;
    }
  }
}

TEST(SemVerTest, ParseComponents) {
  std::optional<SemVer> v = ParseSemVer("v10.20.30-rc.1+b5");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->major, 10);
  EXPECT_EQ(v->minor, 20);
  EXPECT_EQ(v->patch, 30);
  EXPECT_EQ(v->prerelease, "rc.1");
  EXPECT_EQ(v->build, "b5");
}

int Compare(const char* a, const char* b) {
  std::optional<SemVer> va = ParseSemVer(a);
  std::optional<SemVer> vb = ParseSemVer(b);
  EXPECT_TRUE(va && vb) << a << " " << b;
  if (!va || !vb) return 99;
  return CompareSemVer(*va, *vb);
}

TEST(SemVerTest, PrecedenceChainFromTheSpec) {
  // semver.org §11's example chain, each strictly lower than the next.
  const char* chain[] = {"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
                         "1.0.0-beta",  "1.0.0-beta.2",  "1.0.0-beta.11",
                         "1.0.0-rc.1",  "1.0.0",         "1.0.1",
                         "1.1.0",       "2.0.0",         "10.0.0"};
  const size_t n = sizeof(chain) / sizeof(chain[0]);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < n; ++j) {
      int want = i < j ? -1 : (i > j ? 1 : 0);
      EXPECT_EQ(Compare(chain[i], chain[j]), want) << chain[i] << " vs " << chain[j];
    }
  }
}

TEST(SemVerTest, CompareEdgeCases) {
  EXPECT_EQ(Compare("1.0.0+a", "1.0.0+b"), 0);  // build metadata is ignored
  EXPECT_EQ(Compare("v1.2", "1.2.0"), 0);
  EXPECT_EQ(Compare("1.0.0-2", "1.0.0-10"), -1);  // numeric, not text, comparison
  EXPECT_EQ(Compare("1.0.0-99999999999999999999", "1.0.0-100000000000000000000"), -1);
  EXPECT_EQ(Compare("1.0.0-9", "1.0.0-a"), -1);  // numeric identifiers sort first
  EXPECT_EQ(Compare("1.0.0-B", "1.0.0-a"), -1);  // ASCII order
}

struct BumpCase {
  const char* from;
  const char* to;
  Bump want;
};

TEST(SemVerTest, ClassifyBump) {
  const BumpCase cases[] = {
      {"1.2.0", "2.0.0", Bump::kMajor},
      {"1.2.3", "2.5.1", Bump::kMajor},
      {"1.2.0", "1.3.0", Bump::kMinor},
      {"1.2.3", "1.3.0-rc.1", Bump::kMinor},
      {"1.2.0", "1.2.1", Bump::kPatch},
      {"1.0.0-rc.1", "1.0.0", Bump::kPatch},  // prerelease-only change
      {"1.0.0-rc.1", "1.0.0-rc.2", Bump::kPatch},
      {"1.2.0", "1.2.0", Bump::kNone},
      {"1.2.0+a", "1.2.0+b", Bump::kNone},
      {"1.2", "v1.2.0", Bump::kNone},
      {"2.0.0", "1.9.9", Bump::kDowngrade},
      {"1.2.1", "1.2.0", Bump::kDowngrade},
      {"1.0.0", "1.0.0-rc.1", Bump::kDowngrade},
  };
  for (const BumpCase& c : cases) {
    std::optional<SemVer> from = ParseSemVer(c.from);
    std::optional<SemVer> to = ParseSemVer(c.to);
    ASSERT_TRUE(from && to) << c.from << " " << c.to;
    EXPECT_EQ(ClassifyBump(*from, *to), c.want) << c.from << " -> " << c.to;
  }
}

TEST(SemVerTest, BumpNames) {
  EXPECT_EQ(BumpName(Bump::kMajor), "major");
  EXPECT_EQ(BumpName(Bump::kMinor), "minor");
  EXPECT_EQ(BumpName(Bump::kPatch), "patch");
  EXPECT_EQ(BumpName(Bump::kNone), "none");
  EXPECT_EQ(BumpName(Bump::kDowngrade), "downgrade");
  for (const BumpInfo& b : kBumps) {
    EXPECT_EQ(ParseBump(b.name), b.bump) << b.name;
    EXPECT_FALSE(b.description.empty()) << b.name;
  }
  EXPECT_FALSE(ParseBump("Major").has_value());
}

TEST(SemVerTest, VersionString) {
  EXPECT_EQ(VersionString(Value("1.2.0")), "1.2.0");
  EXPECT_EQ(VersionString(Value(2)), "2");
  EXPECT_EQ(VersionString(Value(1.2)), "1.2");
  EXPECT_EQ(VersionString(Value(0.1)), "0.1");
  EXPECT_EQ(VersionString(Value(3.0)), "3");
  EXPECT_EQ(VersionString(Value()), std::nullopt);
  EXPECT_EQ(VersionString(Value(true)), std::nullopt);
  EXPECT_EQ(VersionString(Value::EmptyMap()), std::nullopt);
  EXPECT_EQ(VersionString(Value(std::numeric_limits<double>::infinity())), std::nullopt);
  // What a YAML number turns into must parse as the version the author meant.
  std::optional<SemVer> v = ParseSemVer(*VersionString(Value(1.2)));
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(FormatSemVer(*v), "1.2.0");
}

}  // namespace
}  // namespace arbiter
