#include "service/server/cpu_budget.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace arbiter {
namespace {

class CpuBudgetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            ("arbiter-cpu-budget-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  void Write(const std::string& relative, const std::string& text) {
    const std::filesystem::path p = root_ / relative;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text << "\n";
  }
  int Budget(int affinity, const std::string& proc_self_cgroup) {
    return CpuBudgetFrom(affinity, proc_self_cgroup, root_.string());
  }
  std::filesystem::path root_;
};

TEST_F(CpuBudgetTest, NoCgroupFilesMeansTheAffinityMask) {
  EXPECT_EQ(Budget(8, "0::/\n"), 8);
  EXPECT_EQ(Budget(8, ""), 8);
  EXPECT_EQ(Budget(0, ""), 1);  // never zero threads
}

TEST_F(CpuBudgetTest, CgroupV2QuotaRoundsUp) {
  Write("kubepods/pod1/cpu.max", "150000 100000");  // limits.cpu: 1500m
  EXPECT_EQ(Budget(16, "0::/kubepods/pod1\n"), 2);
  Write("kubepods/pod1/cpu.max", "50000 100000");  // 500m: still one thread
  EXPECT_EQ(Budget(16, "0::/kubepods/pod1\n"), 1);
  Write("kubepods/pod1/cpu.max", "max 100000");  // no limit
  EXPECT_EQ(Budget(16, "0::/kubepods/pod1\n"), 16);
}

TEST_F(CpuBudgetTest, TheTightestQuotaOnThePathToTheRootCounts) {
  Write("kubepods/cpu.max", "300000 100000");
  Write("kubepods/pod1/cpu.max", "max 100000");
  Write("kubepods/pod1/c1/cpu.max", "max 100000");
  EXPECT_EQ(Budget(16, "0::/kubepods/pod1/c1\n"), 3);
  // A cgroup namespace shows the container's own cgroup as "/": the mount's root file.
  Write("cpu.max", "200000 100000");
  EXPECT_EQ(Budget(16, "0::/\n"), 2);
}

TEST_F(CpuBudgetTest, AQuotaAboveTheMaskDoesNotRaiseIt) {
  Write("cpu.max", "800000 100000");
  EXPECT_EQ(Budget(2, "0::/\n"), 2);
}

TEST_F(CpuBudgetTest, CgroupV1Quota) {
  Write("cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "250000");
  Write("cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000");
  EXPECT_EQ(Budget(8, "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n"), 3);
  // -1: no quota.
  Write("cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "-1");
  EXPECT_EQ(Budget(8, "4:cpu,cpuacct:/docker/abc\n"), 8);
}

TEST_F(CpuBudgetTest, CgroupV1WithoutANamespaceFindsTheQuotaAtTheMountsRoot) {
  // The container sees its own cgroup mounted at cpu/ while /proc/self/cgroup names the host's
  // path, which does not exist inside.
  Write("cpu/cpu.cfs_quota_us", "100000");
  Write("cpu/cpu.cfs_period_us", "100000");
  EXPECT_EQ(Budget(8, "3:cpu:/docker/0123456789\n"), 1);
}

TEST_F(CpuBudgetTest, GarbageIsNoQuota) {
  Write("cpu.max", "lots 100000");
  EXPECT_EQ(Budget(4, "0::/\n"), 4);
  Write("cpu.max", "100000 0");
  EXPECT_EQ(Budget(4, "0::/\n"), 4);
  EXPECT_EQ(Budget(4, "not a cgroup line\n::\n"), 4);
}

TEST_F(CpuBudgetTest, TheRunningProcessHasABudget) { EXPECT_GE(CpuBudget(), 1); }

}  // namespace
}  // namespace arbiter
