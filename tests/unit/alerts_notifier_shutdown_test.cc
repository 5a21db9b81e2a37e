// The notifier and alerter at their seams under faults and at shutdown: a cancelled
// attempt stays queued, a notification in flight is pending, failures are counted by reason,
// Drain delivers within a grace period, and Alerter::Shutdown persists what is left for the next
// start, which sends it exactly once.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "alerts/alerter.h"
#include "alerts/notifier.h"
#include "exporter/config.h"
#include "tests/support/alerts_support.h"
#include "tests/support/fakes.h"
#include "tests/support/util.h"

namespace poolwatch {
namespace {

using namespace std::chrono_literals;
using support::FakeClock;
using support::Retryable;
using support::ScriptedSink;
using ::testing::HasSubstr;

Notification N(const std::string& name) { return support::FiringNotification(name); }

SendResult Cancelled() {
  return SendResult{SendResult::Status::kRetryable, "cancelled (shutting down)",
                    kCancelledReason, {}};
}

TEST(NotifierFaultsTest, ACancelledAttemptStaysQueuedUncountedEvenPastItsDeadline) {
  FakeClock clock;
  DeliveryConfig cfg;
  cfg.retry_deadline = 1s;
  auto owned = std::make_unique<ScriptedSink>("oncall", false, true);
  ScriptedSink* sink = owned.get();
  sink->script = {Cancelled()};
  ReceiverQueue q(std::move(owned), cfg, clock, 1);
  q.Enqueue(N("A"));
  clock.Advance(5s);  // far past the retry deadline
  q.Step();
  ASSERT_EQ(q.Pending().size(), 1u) << "kept for the state file";
  ReceiverStats s = q.Stats();
  EXPECT_EQ(s.results["retried"], 0);
  EXPECT_EQ(s.dropped["retry_deadline"], 0);
  EXPECT_TRUE(s.failures.empty());
  q.Step();  // the next process (or the reloaded alerter) sends it
  EXPECT_TRUE(q.Idle());
  EXPECT_EQ(q.Stats().results["delivered"], 1);
  EXPECT_EQ(sink->sent.size(), 2u);
}

TEST(NotifierFaultsTest, FailuresAreCountedByReasonFailingReplicasToo) {
  FakeClock clock;
  DeliveryConfig cfg;
  cfg.retry_initial = 10ms;
  auto owned = std::make_unique<ScriptedSink>("am", false, false);
  ScriptedSink* sink = owned.get();
  SendResult partial{SendResult::Status::kDelivered, "1/2 replicas accepted", "", {}};
  partial.partial_failures = {"connection_refused"};
  sink->script = {Retryable("connection_reset"), Retryable("bad_reply"), partial};
  ReceiverQueue q(std::move(owned), cfg, clock, 1);
  q.Enqueue(N("A"));
  for (int i = 0; i < 10 && !q.Idle(); ++i) {
    clock.Advance(1s);
    q.Step();
  }
  ReceiverStats s = q.Stats();
  EXPECT_EQ(s.failures["connection_reset"], 1);
  EXPECT_EQ(s.failures["bad_reply"], 1);
  EXPECT_EQ(s.failures["connection_refused"], 1);
  EXPECT_EQ(s.results["retried"], 2);
  EXPECT_EQ(s.results["delivered"], 1);
}

/// Blocks in Send until released: a request in flight.
class BlockingSink final : public AlertSink {
 public:
  std::string_view Name() const override { return "oncall"; }
  SendResult Send(const Notification&) override {
    entered.set_value();
    release.get_future().wait();
    return SendResult{SendResult::Status::kDelivered, "ok", "", {}};
  }
  std::promise<void> entered;
  std::promise<void> release;
};

TEST(NotifierFaultsTest, ANotificationInFlightIsPendingUntilItsAnswer) {
  FakeClock clock;
  auto owned = std::make_unique<BlockingSink>();
  BlockingSink* sink = owned.get();
  auto entered = sink->entered.get_future();
  ReceiverQueue q(std::move(owned), DeliveryConfig{}, clock, 1);
  q.Enqueue(N("A"));
  std::thread t([&] { q.Step(); });
  entered.wait();
  EXPECT_EQ(q.Pending().size(), 1u) << "a crash now must not lose it";
  EXPECT_FALSE(q.Idle());
  EXPECT_EQ(q.Stats().queued, 1u);
  sink->release.set_value();
  t.join();
  EXPECT_TRUE(q.Pending().empty());
  EXPECT_TRUE(q.Idle());
}

TEST(NotifierFaultsTest, DrainDeliversWhatIsBeingRetriedWithinTheGrace) {
  SystemClock clock;
  DeliveryConfig cfg;
  cfg.retry_initial = 20ms;
  cfg.retry_max = 40ms;
  auto owned = std::make_unique<ScriptedSink>("oncall", false, true);
  ScriptedSink* sink = owned.get();
  sink->script = {Retryable(), Retryable()};
  std::vector<std::unique_ptr<AlertSink>> sinks;
  sinks.push_back(std::move(owned));
  Notifier notifier(std::move(sinks), cfg, clock);
  notifier.Start();
  notifier.Enqueue(N("A"));
  EXPECT_TRUE(notifier.Drain(10s));
  notifier.Stop();
  EXPECT_TRUE(notifier.Pending().empty());
  EXPECT_EQ(sink->sent.size(), 3u);
}

TEST(NotifierFaultsTest, DrainEndsAtTheGraceAndKeepsWhatIsLeft) {
  SystemClock clock;
  DeliveryConfig cfg;
  cfg.retry_initial = 20ms;
  cfg.retry_max = 40ms;
  auto owned = std::make_unique<ScriptedSink>("oncall", false, true);
  owned->script.assign(10000, Retryable());
  std::vector<std::unique_ptr<AlertSink>> sinks;
  sinks.push_back(std::move(owned));
  Notifier notifier(std::move(sinks), cfg, clock);
  notifier.Start();
  notifier.Enqueue(N("A"));
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(notifier.Drain(300ms));
  auto took = std::chrono::steady_clock::now() - t0;
  notifier.Stop();
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 3s);
  EXPECT_EQ(notifier.Pending().size(), 1u);
}

nlohmann::json Queued(const std::string& state_file) {
  return nlohmann::json::parse(support::ReadFile(state_file)).at("queued");
}

/// Undelivered at shutdown -> saved; the next start sends it once and never a delivered resolve
/// again.
TEST(AlerterShutdownTest, WhatIsUndeliveredAtShutdownIsSentOnceAfterTheRestart) {
  support::TempDir dir;
  FakeClock clock;
  AlertsConfig cfg = support::RestartTestConfig(dir.File("alerts.json"));
  Snapshot down = support::MakeSnapshot({{"pgb", false}});
  Snapshot up = support::MakeSnapshot({{"pgb", true}});
  auto make = [&](ScriptedSink*& raw) {
    auto s = std::make_unique<ScriptedSink>("oncall", false, true);
    raw = s.get();
    std::vector<std::unique_ptr<AlertSink>> sinks;
    sinks.push_back(std::move(s));
    return std::make_unique<Alerter>(cfg, clock, std::move(sinks));
  };
  ScriptedSink* sink = nullptr;
  {
    auto a = make(sink);
    sink->script = {Retryable()};  // then waits for its backoff on a clock that never moves
    a->Start();
    a->Evaluate(down);
    ASSERT_TRUE(support::WaitUntil([&] { return a->notifier().Generation() > 0; }, 5s));
    a->Shutdown(200ms);
  }
  ASSERT_EQ(Queued(cfg.state_file).size(), 1u);
  EXPECT_THAT(Queued(cfg.state_file).dump(), HasSubstr("TargetDown"));
  {
    auto a = make(sink);
    a->Start();
    ASSERT_TRUE(support::WaitUntil([&] { return a->notifier().Generation() > 0; }, 5s));
    clock.Advance(2s);
    a->Evaluate(down);  // still firing: nothing new to say
    clock.Advance(2s);
    a->Evaluate(up);  // the resolve goes out
    ASSERT_TRUE(support::WaitUntil([&] { return a->notifier().Generation() > 1; }, 5s));
    a->Shutdown(1s);
    ASSERT_EQ(sink->sent.size(), 2u);
    EXPECT_EQ(sink->sent[0].Firing(), 1u);
    EXPECT_EQ(sink->sent[1].Resolved(), 1u);
  }
  EXPECT_TRUE(Queued(cfg.state_file).empty());
  {
    auto a = make(sink);
    a->Start();
    clock.Advance(2s);
    a->Evaluate(up);
    std::this_thread::sleep_for(300ms);
    a->Shutdown(1s);
    EXPECT_TRUE(sink->sent.empty()) << "a delivered resolve is not sent again";
  }
}

TEST(AlerterShutdownTest, ShutdownGraceIsConfigurable) {
  const std::string targets =
      "targets:\n  pgbouncer:\n    - name: local\n"
      "      dsn: \"host=127.0.0.1 port=6432 dbname=pgbouncer user=stats\"\n";
  Config c;
  ConfigError e;
  ASSERT_TRUE(LoadConfigString(targets + "alerts: {state_file: /tmp/x.json}\n", "pw.yaml", c, e));
  EXPECT_EQ(c.alerts.shutdown_grace, 5s) << "the default";
  Config c2;
  ASSERT_TRUE(LoadConfigString(targets + "alerts: {shutdown_grace: 0s}\n", "pw.yaml", c2, e));
  EXPECT_EQ(c2.alerts.shutdown_grace, 0s);
  Config c3;
  ConfigError e3;
  EXPECT_FALSE(LoadConfigString(targets + "alerts: {shutdown_grace: soon}\n", "pw.yaml", c3, e3));
  ASSERT_FALSE(e3.problems.empty());
  EXPECT_THAT(e3.problems[0], HasSubstr("alerts.shutdown_grace"));
}

}  // namespace
}  // namespace poolwatch
