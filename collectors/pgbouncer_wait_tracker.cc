#include "pgbouncer_wait_tracker.h"

#include <algorithm>
#include <set>

namespace poolwatch {

void PoolWaitTracker::Observe(SteadyTime now, const std::vector<Reading>& pools) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::set<PoolKey> present;
  for (const auto& r : pools) {
    PoolKey key{r.database, r.user};
    present.insert(key);
    Track& t = pools_[key];
    const bool waiting = r.cl_waiting > 0;
    if (t.has_last && now > t.last_time) {
      double dt = std::chrono::duration<double>(now - t.last_time).count();
      if (waiting) {
        double credit = t.last_waiting ? dt : std::min(dt, r.maxwait_seconds.value_or(dt));
        t.state.waiting_seconds_total += std::max(0.0, credit);
      }
    }
    t.state.peak_waiting = std::max(t.state.peak_waiting, r.cl_waiting);
    t.state.peak_maxwait_seconds =
        std::max(t.state.peak_maxwait_seconds, r.maxwait_seconds.value_or(0));
    if (!t.has_last || now >= t.last_time) {
      t.last_time = now;
      t.last_waiting = waiting;
    }
    t.has_last = true;
    t.seen = true;
  }
  for (auto& [key, t] : pools_) {
    if (present.count(key) == 0 && t.has_last && now >= t.last_time) {
      t.last_time = now;
      t.last_waiting = false;
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
    out[it->first] = it->second.state;
    it->second.seen = false;
    it->second.state.peak_waiting = 0;
    it->second.state.peak_maxwait_seconds = 0;
    ++it;
  }
  return out;
}

}  // namespace poolwatch
