#include "collectors/sliding_window.h"

namespace poolwatch {

void SlidingWindow::Observe(double t, double events_total, double errors_total) {
  if (!points_.empty()) {
    const Point& last = points_.back();
    if (t < last.t || events_total < last.events || errors_total < last.errors) points_.clear();
  }
  points_.push_back({t, events_total, errors_total});
  // Keep exactly one observation at or before the window's start as the baseline.
  const double start = t - window_;
  while (points_.size() >= 2 && points_[1].t <= start) points_.pop_front();
}

SlidingWindow::Result SlidingWindow::Current() const {
  Result r;
  if (points_.size() < 2) return r;
  const Point& first = points_.front();
  const Point& last = points_.back();
  r.events = last.events - first.events;
  r.errors = last.errors - first.errors;
  if (r.events > 0 && r.events >= min_events_) r.ratio = r.errors / r.events;
  return r;
}

}  // namespace poolwatch
