#include "exporter/process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace poolwatch {
namespace {

// The fields of /proc/self/stat after the command name (which may contain spaces and ')').
std::vector<std::string> StatFields() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return {};
  const auto close = line.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream rest(line.substr(close + 1));
  std::vector<std::string> fields;
  for (std::string f; rest >> f;) fields.push_back(f);
  return fields;  // fields[0] is field 3 (state) of proc(5)
}

// proc(5) field N (1-based) as a number, from StatFields().
bool Field(const std::vector<std::string>& f, std::size_t n, double* out) {
  if (n < 3 || f.size() <= n - 3) return false;
  try {
    *out = std::stod(f[n - 3]);
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

bool BootTime(double* out) {
  std::ifstream in("/proc/stat");
  for (std::string key; in >> key;) {
    if (key == "btime") return static_cast<bool>(in >> *out);
    in.ignore(1 << 20, '\n');
  }
  return false;
}

bool OpenFds(double* out) {
  std::error_code ec;
  std::filesystem::directory_iterator it("/proc/self/fd", ec);
  if (ec) return false;
  double n = 0;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) return false;
    ++n;
  }
  *out = n - 1;  // the iterator's own descriptor
  return true;
}

}  // namespace

void AddOsProcessMetrics(MetricSet& m) {
  const std::vector<std::string> f = StatFields();
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  double utime = 0, stime = 0, start = 0, vsize = 0, rss = 0, btime = 0;
  if (ticks > 0 && Field(f, 14, &utime) && Field(f, 15, &stime)) {
    m.Counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
              {}, (utime + stime) / ticks);
  }
  if (Field(f, 23, &vsize)) {
    m.Gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", {}, vsize);
  }
  if (page > 0 && Field(f, 24, &rss)) {
    m.Gauge("process_resident_memory_bytes", "Resident memory size in bytes.", {}, rss * page);
  }
  if (ticks > 0 && Field(f, 22, &start) && BootTime(&btime)) {
    m.Gauge("process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.", {}, btime + start / ticks);
  }
  double fds = 0;
  if (OpenFds(&fds)) {
    m.Gauge("process_open_fds", "Number of open file descriptors.", {}, fds);
  }
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    m.Gauge("process_max_fds", "Maximum number of open file descriptors.", {},
            lim.rlim_cur == RLIM_INFINITY ? -1 : static_cast<double>(lim.rlim_cur));
  }
}

void AddExporterHealthMetrics(const std::vector<TargetStatus>& targets, MetricSet& m) {
  for (const TargetStatus& t : targets) {
    // The holder exports them.
    if (t.kind != TargetKind::kPostgres || t.role == "standby") continue;
    bool error = !t.up;
    for (const auto& entry : t.collector_success) error = error || !entry.second;
    const Labels l = {{"target", t.name}};
    m.Gauge("pg_exporter_last_scrape_error",
            "Whether an error occurred in the last sample of the target (1 for error, 0 for "
            "success).",
            l, error ? 1 : 0);
    m.Gauge("pg_exporter_last_scrape_duration_seconds",
            "Duration of the last sample of the target, in seconds.", l,
            t.sample_duration_seconds);
  }
}

}  // namespace poolwatch
