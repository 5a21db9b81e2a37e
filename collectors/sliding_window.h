#pragma once

#include <deque>

namespace poolwatch {

/// An error ratio over a sliding time window, computed from cumulative counters (e.g.
/// pg_stat_database's xact_commit + xact_rollback and xact_rollback, or a probe pool's attempts
/// and failures) observed at explicit timestamps, so it is testable without a clock.
///
/// The window's counts are the increase from the last observation at or before `now - window`
/// (or the oldest one kept) to the newest. A counter that goes down (stats reset, server
/// restart) restarts the window. Below `min_events` events the ratio is 0, never a 100% built on
/// two events. Not thread-safe: one owner (a collector) at a time.
class SlidingWindow {
 public:
  struct Result {
    double events = 0;  // denominator events in the window
    double errors = 0;  // of which errors
    double ratio = 0;   // errors / events, or 0 below min_events
  };

  /// `window_seconds` > 0; `min_events` >= 0.
  SlidingWindow(double window_seconds, double min_events)
      : window_(window_seconds), min_events_(min_events) {}

  /// Records the cumulative totals at time `t` (seconds on any monotonic scale). Observations
  /// must come in non-decreasing `t`; an earlier one restarts the window.
  void Observe(double t, double events_total, double errors_total);

  /// The window ending at the newest observation.
  Result Current() const;

  /// Observations kept (bounded by the window: older ones are dropped).
  std::size_t Size() const { return points_.size(); }

 private:
  struct Point {
    double t;
    double events;
    double errors;
  };
  double window_;
  double min_events_;
  std::deque<Point> points_;
};

}  // namespace poolwatch
