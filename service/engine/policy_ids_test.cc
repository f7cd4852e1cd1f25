#include "service/engine/policy_ids.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "gtest/gtest.h"

namespace arbiter {
namespace {

using Ids = std::vector<std::string>;

TEST(PolicyIdListTest, NamesIdsOfASharedTableInTheOrderAdded) {
  auto table = std::make_shared<const Ids>(Ids{"global.a", "global.pii-masking", "sales.s"});
  PolicyIdList list(table);
  EXPECT_TRUE(list.empty());
  list.Add(2);
  list.Add(0);
  EXPECT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0], "sales.s");
  EXPECT_EQ(list, (Ids{"sales.s", "global.a"}));
  EXPECT_NE(list, (Ids{"global.a", "sales.s"}));
  EXPECT_NE(list, Ids{"sales.s"});
  EXPECT_EQ(absl::StrJoin(list, ","), "sales.s,global.a");
  // The ids are the table's own strings, not copies.
  EXPECT_EQ(&list[1], &(*table)[0]);
}

TEST(PolicyIdListTest, AListKeepsItsTableAlive) {
  auto table = std::make_shared<const Ids>(Ids{"global.first-policy-of-the-table", "global.b"});
  std::weak_ptr<const Ids> weak = table;
  auto other = std::make_shared<const Ids>(Ids{"global.other"});
  {
    PolicyIdList copy;
    {
      PolicyIdList list(std::move(table));
      list.Add(0);
      copy = list;
      list.Reset(other);
      EXPECT_TRUE(list.empty());
    }
    EXPECT_FALSE(weak.expired());
    EXPECT_EQ(copy, Ids{"global.first-policy-of-the-table"});
  }
  EXPECT_TRUE(weak.expired());
}

TEST(PolicyIdListTest, ListsOfTheirOwnIdsCompareByTheIds) {
  PolicyIdList own = {"global.a", "", "sales.s"};
  EXPECT_EQ(own, (Ids{"global.a", "", "sales.s"}));
  auto table = std::make_shared<const Ids>(Ids{"sales.s", "global.a", ""});
  PolicyIdList shared(table);
  for (size_t i : {1, 2, 0}) shared.Add(i);
  EXPECT_EQ(own, shared);
  EXPECT_EQ(PolicyIdList(Ids{"x"}), PolicyIdList{"x"});
  EXPECT_NE(own, PolicyIdList());
  EXPECT_EQ(PolicyIdList(), Ids{});
  // More ids than the list keeps inline.
  Ids many;
  for (int i = 0; i < 20; ++i) many.push_back("global.policy-number-" + std::to_string(i));
  EXPECT_EQ(PolicyIdList(many), many);
}

}  // namespace
}  // namespace arbiter
