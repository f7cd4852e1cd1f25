// How many CPUs this process may use: what thread pools sized "one per core" should count.
//
// std::thread::hardware_concurrency() counts the node's cores. In a container with a CPU limit
// (Kubernetes `resources.limits.cpu`, i.e. a cgroup CPU quota) or a restricted affinity mask that
// is too many: a pool sized by it makes threads the kernel then throttles, and a batch spread over
// helpers that cannot run adds only hand-offs. The budget is the affinity mask's CPU count,
// lowered by the tightest cgroup CPU quota on the way from this process's cgroup to the root,
// rounded up; at least 1.
#ifndef ARBITER_SERVICE_SERVER_CPU_BUDGET_H_
#define ARBITER_SERVICE_SERVER_CPU_BUDGET_H_

#include <string>

#include "absl/strings/string_view.h"

namespace arbiter {

// The budget of the running process (read once; cached).
int CpuBudget();

// The same from explicit sources, for tests: `affinity_cpus` CPUs in the affinity mask,
// `proc_self_cgroup` the text of /proc/self/cgroup, `cgroup_root` where the cgroup file systems
// are mounted (/sys/fs/cgroup). Understands cgroup v2 (`cpu.max`: "max 100000" or
// "<quota> <period>") and v1 (`cpu.cfs_quota_us`, -1 = none, and `cpu.cfs_period_us` under the
// controller's mount: cpu, cpu,cpuacct or cpuacct,cpu). Unreadable files mean no quota.
int CpuBudgetFrom(int affinity_cpus, absl::string_view proc_self_cgroup,
                  const std::string& cgroup_root);

}  // namespace arbiter

#endif  // ARBITER_SERVICE_SERVER_CPU_BUDGET_H_
