// Delivery policy of one receiver queue, with a fake clock and a scripted sink.
#include "alerts/notifier.h"

#include <gtest/gtest.h>

#include "alerts/sinks.h"
#include "tests/support/alerts_support.h"
#include "tests/support/fakes.h"

namespace poolwatch {
namespace {

using namespace std::chrono_literals;
using support::FakeClock;
using support::Permanent;
using support::RateLimitedFor;
using support::Retryable;
using support::ScriptedSink;

Notification N(const std::string& name) { return support::FiringNotification(name); }

struct QueueHarness {
  FakeClock clock;
  ScriptedSink* sink;
  std::unique_ptr<ReceiverQueue> q;
  explicit QueueHarness(DeliveryConfig cfg = {}, bool rate_limited = true, bool mergeable = true) {
    auto s = std::make_unique<ScriptedSink>("oncall", rate_limited, mergeable);
    sink = s.get();
    q = std::make_unique<ReceiverQueue>(std::move(s), cfg, clock, 42);
  }
  /// Steps until idle or `limit` passes, jumping the fake clock to each due time.
  void Drain(std::chrono::milliseconds limit) {
    auto end = clock.Now() + limit;
    for (;;) {
      auto due = q->Step();
      if (!due) return;
      if (*due > end) return;
      if (*due > clock.Now())
        clock.Advance(std::chrono::duration_cast<std::chrono::milliseconds>(*due - clock.Now()));
    }
  }
};

TEST(NotifierTest, RetryAfterIsHonouredWithJitterAndDeliversOnce) {
  QueueHarness h;
  h.sink->script = {RateLimitedFor(2)};
  h.q->Enqueue(N("A"));
  auto t0 = h.clock.Now();
  auto due = h.q->Step();
  ASSERT_TRUE(due);
  EXPECT_GE(*due - t0, 2000ms);
  EXPECT_LE(*due - t0, 2600ms);
  // Meanwhile two more notifications queue: they are merged into the retry.
  h.q->Enqueue(N("B"));
  h.q->Enqueue(N("C"));
  EXPECT_EQ(h.q->Step(), due) << "not yet";
  h.Drain(10s);
  ASSERT_EQ(h.sink->sent.size(), 2u);
  EXPECT_EQ(h.sink->sent[1].alerts.size(), 3u);
  auto s = h.q->Stats();
  EXPECT_EQ(s.results["delivered"], 1);
  EXPECT_EQ(s.results["retried"], 1);
}

TEST(NotifierTest, ServerErrorsBackOffExponentiallyWithJitterThenDeliver) {
  DeliveryConfig cfg;
  cfg.retry_initial = 1s;
  cfg.retry_max = 4s;
  QueueHarness h(cfg);
  h.sink->script = {Retryable(), Retryable(), Retryable(), Retryable()};
  h.q->Enqueue(N("A"));
  std::vector<std::chrono::milliseconds> gaps;
  auto last = h.clock.Now();
  for (int i = 0; i < 5; ++i) {
    auto due = h.q->Step();
    if (!due) break;
    gaps.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(*due - last));
    h.clock.Advance(gaps.back());
    last = h.clock.Now();
  }
  ASSERT_EQ(gaps.size(), 4u);
  const double base[] = {1000, 2000, 4000, 4000};  // capped at retry_max
  for (int i = 0; i < 4; ++i) {
    EXPECT_GE(gaps[i].count(), base[i] * 0.8 - 1) << i;
    EXPECT_LE(gaps[i].count(), base[i] * 1.2 + 1) << i;
  }
  EXPECT_EQ(h.sink->sent.size(), 5u);
  EXPECT_EQ(h.q->Stats().results["delivered"], 1);
}

TEST(NotifierTest, PermanentFailuresAreNotRetriedAndCountedByReason) {
  QueueHarness h;
  h.sink->script = {Permanent("channel_not_found")};
  h.q->Enqueue(N("A"));
  EXPECT_FALSE(h.q->Step());
  h.Drain(60s);
  EXPECT_EQ(h.sink->sent.size(), 1u);
  auto s = h.q->Stats();
  EXPECT_EQ(s.dropped["channel_not_found"], 1);
  EXPECT_EQ(s.results["failed_permanent"], 1);
}

TEST(NotifierTest, GivesUpAtTheRetryDeadline) {
  DeliveryConfig cfg;
  cfg.retry_deadline = 10s;
  QueueHarness h(cfg);
  for (int i = 0; i < 100; ++i) h.sink->script.push_back(Retryable());
  h.q->Enqueue(N("A"));
  h.Drain(60s);
  EXPECT_EQ(h.q->Stats().dropped["retry_deadline"], 1);
  EXPECT_LT(h.sink->sent.size(), 10u);
  EXPECT_FALSE(h.q->NextDue());
}

TEST(NotifierTest, RateLimitSpacesMessagesAtLeastOneSecondApart) {
  QueueHarness h(DeliveryConfig{}, true, /*mergeable=*/false);
  std::vector<std::chrono::steady_clock::time_point> at;
  for (int i = 0; i < 5; ++i) h.q->Enqueue(N("A" + std::to_string(i)));
  for (int i = 0; i < 10; ++i) {
    auto before = h.sink->sent.size();
    auto due = h.q->Step();
    if (h.sink->sent.size() > before) at.push_back(h.clock.Now());
    if (!due) break;
    if (*due > h.clock.Now())
      h.clock.Advance(std::chrono::duration_cast<std::chrono::milliseconds>(*due - h.clock.Now()));
  }
  ASSERT_EQ(at.size(), 5u);
  for (std::size_t i = 1; i < at.size(); ++i) EXPECT_GE(at[i] - at[i - 1], 1000ms);
}

TEST(NotifierTest, BoundedQueueDropsTheOldestAndCountsIt) {
  DeliveryConfig cfg;
  cfg.queue_size = 3;
  QueueHarness h(cfg, true, false);
  for (int i = 0; i < 5; ++i) h.q->Enqueue(N("A" + std::to_string(i)));
  EXPECT_EQ(h.q->Stats().dropped["queue_full"], 2);
  h.Drain(60s);
  ASSERT_EQ(h.sink->sent.size(), 3u);
  EXPECT_EQ(h.sink->sent[0].group_key, "A2");
}

TEST(SlackReplyTest, ClassifiesEveryAnswer) {
  auto r = [](long status, std::string body, std::map<std::string, std::string> h = {}) {
    HttpReply x;
    x.status = status;
    x.body = std::move(body);
    x.headers = std::move(h);
    return ClassifySlackReply(x);
  };
  EXPECT_EQ(r(200, "ok").status, SendResult::Status::kDelivered);
  EXPECT_EQ(r(200, "ok\n").status, SendResult::Status::kDelivered);
  EXPECT_EQ(r(200, "<html>proxy</html>").status, SendResult::Status::kRetryable);
  auto rl = r(429, "rate_limited", {{"retry-after", "7"}});
  EXPECT_EQ(rl.status, SendResult::Status::kRetryable);
  ASSERT_TRUE(rl.retry_after);
  EXPECT_EQ(*rl.retry_after, 7000ms);
  EXPECT_EQ(r(500, "rollup_error").status, SendResult::Status::kRetryable);
  EXPECT_EQ(r(503, "").reason, "http_503");
  auto nf = r(404, "channel_not_found");
  EXPECT_EQ(nf.status, SendResult::Status::kPermanent);
  EXPECT_EQ(nf.reason, "channel_not_found");
  EXPECT_EQ(r(400, "invalid_payload").reason, "invalid_payload");
  EXPECT_EQ(r(410, "channel_is_archived").reason, "channel_is_archived");
  EXPECT_EQ(r(403, "<b>Forbidden</b>").reason, "http_403");
  HttpReply t;
  t.timed_out = true;
  t.error = "Timeout was reached";
  EXPECT_EQ(ClassifySlackReply(t).status, SendResult::Status::kRetryable);
  EXPECT_EQ(ClassifySlackReply(t).reason, "timeout");
}

}  // namespace
}  // namespace poolwatch
