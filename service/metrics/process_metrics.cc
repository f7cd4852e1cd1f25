// process_* metrics from /proc/self, as the Prometheus client libraries export them, so that the
// usual dashboards and alerts (CPU, memory, file descriptors, restarts) work on arbiterd.
#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "service/metrics/metrics.h"

namespace arbiter::metrics {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string ReadFile(const char* path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The fields of /proc/self/stat after the command name (which may contain spaces and
// parentheses, so it is skipped up to its last ')'): field 3 (state) is index 0.
std::vector<std::string> StatFields() {
  std::string stat = ReadFile("/proc/self/stat");
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return {};
  return absl::StrSplit(stat.substr(close + 2), ' ', absl::SkipEmpty());
}

double StatField(int field) {  // 1-based, as proc(5) numbers them
  std::vector<std::string> f = StatFields();
  size_t index = static_cast<size_t>(field - 3);
  double v;
  if (index >= f.size() || !absl::SimpleAtod(f[index], &v)) return kNaN;
  return v;
}

double CpuSeconds() {
  double utime = StatField(14), stime = StatField(15);
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double BootTime() {
  for (absl::string_view line : absl::StrSplit(ReadFile("/proc/stat"), '\n')) {
    double v;
    if (absl::ConsumePrefix(&line, "btime ") && absl::SimpleAtod(line, &v)) return v;
  }
  return kNaN;
}

double StartTimeSeconds() {
  // Constant for the process: computed once.
  static const double start =
      BootTime() + StatField(22) / static_cast<double>(sysconf(_SC_CLK_TCK));
  return start;
}

double OpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return kNaN;
  double n = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n - 1;  // the descriptor opendir itself holds
}

double MaxFds() {
  rlimit r;
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return kNaN;
  return r.rlim_cur == RLIM_INFINITY ? std::numeric_limits<double>::infinity()
                                     : static_cast<double>(r.rlim_cur);
}

}  // namespace

void RegisterProcessMetrics(Registry& registry) {
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  registry.AddCounterCallback("process_cpu_seconds_total",
                              "Total user and system CPU time spent in seconds.", CpuSeconds);
  registry.AddGaugeCallback("process_resident_memory_bytes", "Resident memory size in bytes.",
                            [page] { return StatField(24) * page; });
  registry.AddGaugeCallback("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                            [] { return StatField(23); });
  registry.AddGaugeCallback("process_open_fds", "Number of open file descriptors.", OpenFds);
  registry.AddGaugeCallback("process_max_fds", "Maximum number of open file descriptors.", MaxFds);
  registry.AddGaugeCallback("process_start_time_seconds",
                            "Start time of the process since unix epoch in seconds.",
                            StartTimeSeconds);
}

}  // namespace arbiter::metrics
