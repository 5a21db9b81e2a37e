#include "collectors/pgbouncer_wait_tracker.h"

#include <algorithm>
#include <set>

namespace poolwatch {

namespace {
// A fast loop at 100 ms fills a 60 s window with 600 marks; more than this per pool is thinned
// by dropping the oldest (the window then reaches back less far, never more).
constexpr std::size_t kMaxMarks = 4096;
}  // namespace

void PoolWaitTracker::SetPoolSizes(std::map<std::string, double> sizes) {
  std::lock_guard<std::mutex> lock(mutex_);
  pool_sizes_ = std::move(sizes);
}

void PoolWaitTracker::Observe(SteadyTime now, const std::vector<Reading>& pools) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (now > latest_) latest_ = now;
  std::set<PoolKey> present;
  for (const auto& r : pools) {
    PoolKey key{r.database, r.user};
    present.insert(key);
    Track& t = pools_[key];
    const bool waiting = r.cl_waiting > 0;
    auto size = pool_sizes_.find(r.database);
    const bool full =
        size != pool_sizes_.end() && size->second > 0 && r.sv_active >= size->second;
    const bool saturated = waiting || full;
    if (t.has_last && now > t.last_time) {
      double dt = std::chrono::duration<double>(now - t.last_time).count();
      if (waiting) {
        double credit = t.last_waiting ? dt : std::min(dt, r.maxwait_seconds.value_or(dt));
        t.state.waiting_seconds_total += std::max(0.0, credit);
      }
      if (saturated) {
        // Saturated at both readings: the whole interval. Newly saturated: as long as the
        // oldest waiting client has waited (the queue proves that much), else nothing yet.
        double credit = t.last_saturated ? dt
                        : waiting        ? std::min(dt, r.maxwait_seconds.value_or(dt))
                                         : 0.0;
        t.state.saturated_seconds_total += std::max(0.0, credit);
      }
    }
    t.state.peak_waiting = std::max(t.state.peak_waiting, r.cl_waiting);
    t.state.peak_maxwait_seconds =
        std::max(t.state.peak_maxwait_seconds, r.maxwait_seconds.value_or(0));
    t.marks.push_back({now, r.cl_waiting, r.maxwait_seconds.value_or(0)});
    if (t.marks.size() > kMaxMarks) t.marks.pop_front();
    if (!t.has_last || now >= t.last_time) {
      t.last_time = now;
      t.last_waiting = waiting;
      t.last_saturated = saturated;
    }
    t.has_last = true;
    t.seen = true;
  }
  for (auto& [key, t] : pools_) {
    if (present.count(key) == 0 && t.has_last && now >= t.last_time) {
      t.last_time = now;
      t.last_waiting = false;
      t.last_saturated = false;
    }
  }
}

std::map<PoolWaitTracker::PoolKey, PoolWaitTracker::PoolState> PoolWaitTracker::TakePeaks() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::map<PoolKey, PoolState> out;
  for (auto it = pools_.begin(); it != pools_.end();) {
    if (!it->second.seen) {
      it = pools_.erase(it);
      continue;
    }
    Track& t = it->second;
    while (!t.marks.empty() && latest_ - t.marks.front().time > peak_window_) t.marks.pop_front();
    t.state.window_peak_waiting = 0;
    t.state.window_peak_maxwait_seconds = 0;
    for (const Mark& m : t.marks) {
      t.state.window_peak_waiting = std::max(t.state.window_peak_waiting, m.waiting);
      t.state.window_peak_maxwait_seconds = std::max(t.state.window_peak_maxwait_seconds, m.maxwait);
    }
    out[it->first] = t.state;
    it->second.seen = false;
    it->second.state.peak_waiting = 0;
    it->second.state.peak_maxwait_seconds = 0;
    ++it;
  }
  return out;
}

}  // namespace poolwatch
