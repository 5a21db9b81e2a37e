#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "collectors/connection.h"

namespace poolwatch {

/// What a scrape every sampling.interval would miss about waiting clients: per pool
/// (database, user), the peak of cl_waiting and maxwait since the last main sample, and a counter
/// of seconds the pool spent with waiting clients. Fed by every SHOW POOLS reading, the main
/// sample's and the fast loop's (sampling.fast_interval).
///
/// Waiting time between two readings t0 < t1 is credited at t1: the whole interval when clients
/// were waiting at both; when they wait only at t1, at most maxwait (the age of the oldest
/// waiting client, so the queue has been non-empty at least that long) and at most t1 - t0. So
/// a wait shorter than the main interval still moves the counter as soon as one reading sees it,
/// and the counter never runs ahead of the time it could have been waiting.
///
/// Peaks that survive scrapes: besides the peaks since the previous main sample (what the
/// in-process rules read each sample), the maximum over the last `peak_window` of every reading,
/// so a Prometheus scraping at any interval up to peak_window sees every peak.
///
/// Saturated seconds are credited the same way as waiting seconds, for readings where the pool
/// was saturated: clients waiting, or every server connection the pool may have (pool_size of
/// SHOW DATABASES, from SetPoolSizes) in use (sv_active >= pool_size). A pool that becomes
/// saturated without a waiting client is credited from the reading that saw it (the counter never
/// runs ahead).
///
/// Thread-safe: the sampler thread and the fast loop's thread both call it.
class PoolWaitTracker {
 public:
  using PoolKey = std::pair<std::string, std::string>;  // database, user

  struct Reading {
    std::string database;
    std::string user;
    double cl_waiting = 0;
    std::optional<double> maxwait_seconds;  // nullopt when this PgBouncer has no maxwait
    double sv_active = 0;
  };

  struct PoolState {
    double peak_waiting = 0;
    double peak_maxwait_seconds = 0;
    double waiting_seconds_total = 0;
    double window_peak_waiting = 0;          // over the last peak_window
    double window_peak_maxwait_seconds = 0;  // over the last peak_window
    double saturated_seconds_total = 0;
  };

  /// `peak_window`: how far back the window peaks reach (sampling.peak_window).
  explicit PoolWaitTracker(std::chrono::milliseconds peak_window = std::chrono::seconds(60))
      : peak_window_(peak_window) {}

  /// pool_size per database (SHOW DATABASES), for saturation; replaces the previous sizes.
  void SetPoolSizes(std::map<std::string, double> sizes);

  /// Records one SHOW POOLS reading taken at `now`. Pools missing from it count as not waiting.
  void Observe(SteadyTime now, const std::vector<Reading>& pools);

  /// Every pool seen since the previous call, with its peaks since then and its counter; resets
  /// the peaks and forgets pools no reading saw since the previous call (a vanished pool
  /// vanishes from /metrics).
  std::map<PoolKey, PoolState> TakePeaks();

 private:
  struct Mark {
    SteadyTime time;
    double waiting;
    double maxwait;
  };
  struct Track {
    PoolState state;
    SteadyTime last_time{};
    bool last_waiting = false;
    bool last_saturated = false;
    bool has_last = false;
    bool seen = false;
    std::deque<Mark> marks;  // readings within peak_window, oldest first (bounded)
  };
  const std::chrono::milliseconds peak_window_;
  std::mutex mutex_;
  std::map<PoolKey, Track> pools_;
  std::map<std::string, double> pool_sizes_;
  SteadyTime latest_{};
};

}  // namespace poolwatch
