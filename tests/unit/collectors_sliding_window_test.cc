#include "collectors/sliding_window.h"

#include <gtest/gtest.h>

namespace poolwatch {
namespace {

TEST(SlidingWindowTest, RatioIsTheIncreaseOverTheWindow) {
  SlidingWindow w(/*window_seconds=*/300, /*min_events=*/20);
  w.Observe(0, 1000, 10);
  w.Observe(60, 1100, 20);  // 100 events, 10 errors
  auto r = w.Current();
  EXPECT_DOUBLE_EQ(r.events, 100);
  EXPECT_DOUBLE_EQ(r.errors, 10);
  EXPECT_DOUBLE_EQ(r.ratio, 0.1);
}

TEST(SlidingWindowTest, OldEventsSlideOut) {
  SlidingWindow w(300, 20);
  w.Observe(0, 0, 0);
  w.Observe(10, 100, 50);   // a storm early on
  w.Observe(200, 200, 50);  // then only successes
  EXPECT_DOUBLE_EQ(w.Current().ratio, 0.25);
  // At t=320 the baseline is the t=10 observation: the storm is out of the window.
  w.Observe(320, 300, 50);
  auto r = w.Current();
  EXPECT_DOUBLE_EQ(r.events, 200);
  EXPECT_DOUBLE_EQ(r.errors, 0);
  EXPECT_DOUBLE_EQ(r.ratio, 0);
  EXPECT_LE(w.Size(), 3u);
}

TEST(SlidingWindowTest, TooFewEventsIsZeroNotAHundredPercent) {
  SlidingWindow w(300, 20);
  w.Observe(0, 0, 0);
  w.Observe(5, 2, 2);  // 2 of 2 failed
  auto r = w.Current();
  EXPECT_DOUBLE_EQ(r.events, 2);
  EXPECT_DOUBLE_EQ(r.errors, 2);
  EXPECT_DOUBLE_EQ(r.ratio, 0);
  w.Observe(6, 20, 2);  // now 20 events: 10%
  EXPECT_DOUBLE_EQ(w.Current().ratio, 0.1);
}

TEST(SlidingWindowTest, OneObservationOrAQuietWindowIsZero) {
  SlidingWindow w(5, 0);
  EXPECT_DOUBLE_EQ(w.Current().ratio, 0);
  w.Observe(0, 10, 10);
  EXPECT_DOUBLE_EQ(w.Current().events, 0);
  w.Observe(1, 10, 10);
  EXPECT_DOUBLE_EQ(w.Current().ratio, 0);  // no events at all: 0, not NaN
}

TEST(SlidingWindowTest, ACounterResetRestartsTheWindow) {
  SlidingWindow w(300, 1);
  w.Observe(0, 1000, 500);
  w.Observe(10, 5, 0);  // pg_stat_reset() or a server restart
  EXPECT_DOUBLE_EQ(w.Current().events, 0);
  w.Observe(20, 15, 1);
  auto r = w.Current();
  EXPECT_DOUBLE_EQ(r.events, 10);
  EXPECT_DOUBLE_EQ(r.ratio, 0.1);
}

}  // namespace
}  // namespace poolwatch
