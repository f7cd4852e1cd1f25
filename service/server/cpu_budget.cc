#include "service/server/cpu_budget.h"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace arbiter {
namespace {

std::optional<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::string text;
  std::getline(in, text);  // every file read here is one line
  return text;
}

// quota / period in CPUs, or nullopt when there is no quota (or it cannot be read).
std::optional<double> Ratio(absl::string_view quota, absl::string_view period) {
  double q = 0, p = 0;
  if (!absl::SimpleAtod(absl::StripAsciiWhitespace(quota), &q) ||
      !absl::SimpleAtod(absl::StripAsciiWhitespace(period), &p) || q <= 0 || p <= 0) {
    return std::nullopt;
  }
  return q / p;
}

// The cgroup's directory and each of its ancestors up to `root` itself: a quota anywhere on the
// path limits this process.
std::vector<std::string> PathAndAncestors(const std::string& root, absl::string_view cgroup) {
  std::vector<std::string> dirs;
  std::string path(absl::StripSuffix(cgroup, "/"));
  while (true) {
    dirs.push_back(root + path);
    if (path.empty()) break;
    const size_t slash = path.rfind('/');
    path.resize(slash == std::string::npos ? 0 : slash);
  }
  return dirs;
}

std::optional<double> V2Quota(const std::string& root, absl::string_view cgroup) {
  std::optional<double> tightest;
  for (const std::string& dir : PathAndAncestors(root, cgroup)) {
    std::optional<std::string> max = ReadSmallFile(dir + "/cpu.max");
    if (!max.has_value()) continue;
    std::vector<absl::string_view> parts = absl::StrSplit(*max, ' ', absl::SkipWhitespace());
    if (parts.size() != 2 || parts[0] == "max") continue;
    std::optional<double> r = Ratio(parts[0], parts[1]);
    if (r.has_value() && (!tightest.has_value() || *r < *tightest)) tightest = r;
  }
  return tightest;
}

// v1 mounts the cpu controller on its own or together with cpuacct; inside a container without
// a cgroup namespace the path names a cgroup the container's mount shows as its root, which the
// walk up to the mount reaches.
std::optional<double> V1Quota(const std::string& root, absl::string_view cgroup) {
  std::optional<double> tightest;
  for (const char* mount : {"cpu", "cpu,cpuacct", "cpuacct,cpu"}) {
    const std::string base = root + "/" + mount;
    for (const std::string& dir : PathAndAncestors(base, cgroup)) {
      std::optional<std::string> quota = ReadSmallFile(dir + "/cpu.cfs_quota_us");
      std::optional<std::string> period = ReadSmallFile(dir + "/cpu.cfs_period_us");
      if (!quota.has_value() || !period.has_value()) continue;
      std::optional<double> r = Ratio(*quota, *period);  // -1: no quota
      if (r.has_value() && (!tightest.has_value() || *r < *tightest)) tightest = r;
    }
    if (tightest.has_value()) break;
  }
  return tightest;
}

int AffinityCpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace

int CpuBudgetFrom(int affinity_cpus, absl::string_view proc_self_cgroup,
                  const std::string& cgroup_root) {
  std::optional<double> quota;
  for (absl::string_view line : absl::StrSplit(proc_self_cgroup, '\n', absl::SkipEmpty())) {
    // "hierarchy-id:controllers:path"; v2's unified hierarchy is "0::path".
    std::vector<absl::string_view> f = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (f.size() != 3) continue;
    std::optional<double> q;
    if (f[0] == "0" && f[1].empty()) {
      q = V2Quota(cgroup_root, f[2]);
    } else {
      bool cpu = false;
      for (absl::string_view c : absl::StrSplit(f[1], ',')) cpu |= c == "cpu";
      if (cpu) q = V1Quota(cgroup_root, f[2]);
    }
    if (q.has_value() && (!quota.has_value() || *q < *quota)) quota = q;
  }
  int budget = std::max(1, affinity_cpus);
  if (quota.has_value()) {
    budget = std::min(budget, std::max(1, static_cast<int>(std::ceil(*quota - 1e-9))));
  }
  return budget;
}

int CpuBudget() {
  static const int budget = [] {
    std::ifstream in("/proc/self/cgroup");
    std::stringstream text;
    text << in.rdbuf();
    return CpuBudgetFrom(AffinityCpus(), text.str(), "/sys/fs/cgroup");
  }();
  return budget;
}

}  // namespace arbiter
