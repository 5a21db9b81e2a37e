// Rules, the alert state machine and Alertmanager-style grouping, driven with a fake clock.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "alerts/alerter.h"
#include "alerts/rules.h"
#include "alerts/state.h"
#include "base/time.h"
#include "tests/support/fakes.h"
#include "tests/unit/alerts_support.h"

namespace poolwatch {
namespace {

using namespace std::chrono_literals;
using support::AddUtilization;
using support::FakeClock;
using support::MakeSnapshot;
using support::TestAlertsConfig;

/// Per-rule mode (alerts.incidents.enabled: false): Slack and log receivers get Alertmanager-style
/// groups. The incident model has its own tests (alert_incidents_test.cc).
AlertsConfig PerRuleConfig() {
  AlertsConfig c = TestAlertsConfig();
  c.incidents.enabled = false;
  return c;
}

/// Runs rules + state machine + dispatcher on snapshots at fake-clock times.
struct Harness {
  AlertsConfig cfg = PerRuleConfig();
  FakeClock clock;
  AlertStateMachine machine;
  std::unique_ptr<Dispatcher> dispatcher;
  std::vector<Notification> sent;

  Harness() {}
  void Init() { dispatcher = std::make_unique<Dispatcher>(cfg); }
  void Eval(const Snapshot& s) {
    if (!dispatcher) Init();
    RuleOutput out = EvaluateRules(s, cfg);
    machine.Update(out.observations, out.down_targets, clock.WallNow());
    dispatcher->Update(machine.Active(), machine.TakeResolved(), clock.WallNow());
    for (auto& n : dispatcher->Due(clock.WallNow())) sent.push_back(std::move(n));
  }
  /// Advances in 1s steps, evaluating `s` each step.
  void Run(const Snapshot& s, std::chrono::seconds d) {
    for (auto t = 0s; t < d; t += 1s) {
      clock.Advance(1s);
      Eval(s);
    }
  }
  std::vector<Alert> Firing() const {
    std::vector<Alert> out;
    for (const auto& a : machine.Active()) {
      if (a.state == AlertState::kFiring) out.push_back(a);
    }
    return out;
  }
};

Snapshot Util(double v, const std::string& target = "pgb", const std::string& db = "app") {
  Snapshot s = MakeSnapshot({{target, true}});
  AddUtilization(s, target, db, v);
  return s;
}

TEST(AlertRulesTest, ReadsTheAgreedMetricNamesAndTheWho) {
  AlertsConfig cfg = TestAlertsConfig();
  Snapshot s = MakeSnapshot({{"pg", true}});
  s.targets[0].kind = TargetKind::kPostgres;
  Offender o;
  o.category = "idle_in_transaction";
  o.pid = 4711;
  o.application_name = "billing";
  o.datname = "app";
  s.targets[0].offenders.push_back(o);
  s.metrics.Gauge("poolwatch_connection_leaks", "h",
                  {{"target", "pg"}, {"kind", "idle_in_transaction"}}, 2);
  s.metrics.Gauge("poolwatch_error_ratio", "h", {{"target", "pg"}, {"kind", "rollback"}}, 0.5);
  s.metrics.Gauge("poolwatch_error_window_events", "h", {{"target", "pg"}, {"kind", "rollback"}},
                  5);
  s.metrics.Gauge("poolwatch_pg_oldest_transaction_age_seconds", "h",
                  {{"target", "pg"}, {"datname", "app"}}, 400);
  RuleOutput out = EvaluateRules(s, cfg);
  std::map<std::string, Observation> by;
  for (const auto& o2 : out.observations) by[o2.alert.Identity()] = o2;
  ASSERT_TRUE(
      by.count("alertname=ConnectionLeak,kind=idle_in_transaction,severity=warning,target=pg"));
  const Alert& leak =
      by["alertname=ConnectionLeak,kind=idle_in_transaction,severity=warning,target=pg"].alert;
  ASSERT_EQ(leak.offenders.size(), 1u);
  EXPECT_EQ(leak.offenders[0].pid, 4711);
  // Below min_events (20 by default): no error-rate alert, whatever the ratio. The observation
  // only holds an alert that already exists.
  for (const auto& [id, o2] : by) {
    if (id.find("ErrorRateHigh") != std::string::npos) {
      EXPECT_TRUE(o2.hold) << id;
    }
  }
  AlertStateMachine machine;
  machine.Update(out.observations, out.down_targets, WallTime(std::chrono::seconds(1000)));
  machine.Update(out.observations, out.down_targets, WallTime(std::chrono::seconds(2000)));
  for (const auto& a : machine.Active()) {
    EXPECT_NE(a.Label("alertname"), "ErrorRateHigh") << a.Identity();
  }
  EXPECT_TRUE(by.count("alertname=LongTransaction,database=app,severity=critical,target=pg"));
  EXPECT_TRUE(by.count("alertname=LongTransaction,database=app,severity=warning,target=pg"));
}

TEST(AlertRulesTest, TheWhoOfADatabaseWithAHostileNameIsFound) {
  // Labels are sanitized (invalid bytes and control characters become U+FFFD); the offender keeps
  // the raw name. The long-transaction alert of that database must still name the session.
  AlertsConfig cfg = TestAlertsConfig();
  Snapshot s = MakeSnapshot({{"pg", true}});
  s.targets[0].kind = TargetKind::kPostgres;
  const std::string raw = "<!channel> \x01\x1b[31m\xff & x";
  Offender o;
  o.category = "long_transaction";
  o.pid = 4242;
  o.datname = raw;
  s.targets[0].offenders.push_back(o);
  Offender other = o;
  other.pid = 4343;
  other.datname = "app";
  s.targets[0].offenders.push_back(other);
  s.metrics.Gauge("poolwatch_pg_oldest_transaction_age_seconds", "h",
                  {{"target", "pg"}, {"datname", raw}}, 400);
  RuleOutput out = EvaluateRules(s, cfg);
  bool found = false;
  for (const auto& ob : out.observations) {
    if (ob.alert.Label("alertname") != "LongTransaction") continue;
    found = true;
    EXPECT_NE(ob.alert.Label("database"), raw) << "the label is the sanitized form";
    ASSERT_EQ(ob.alert.offenders.size(), 1u);
    EXPECT_EQ(ob.alert.offenders[0].pid, 4242);
  }
  EXPECT_TRUE(found);
}

TEST(AlertRulesTest, ErrorRateNeedsMinimumEvents) {
  AlertsConfig cfg = TestAlertsConfig();
  Snapshot s = MakeSnapshot({{"pg", true}});
  s.metrics.Gauge("poolwatch_error_ratio", "h", {{"target", "pg"}, {"kind", "rollback"}}, 0.06);
  s.metrics.Gauge("poolwatch_error_window_events", "h", {{"target", "pg"}, {"kind", "rollback"}},
                  20);
  RuleOutput out = EvaluateRules(s, cfg);
  ASSERT_EQ(out.observations.size(), 1u);
  EXPECT_EQ(out.observations[0].alert.Label("alertname"), "ErrorRateHigh");
  EXPECT_TRUE(out.observations[0].above);
}

TEST(AlertRulesTest, ErrorRateMessageNamesTheWindowTheRatioUsed) {
  // The ratio is computed over the target's error_window (the sampler copies it into the
  // target's status); the message and the least-events hold read that same value.
  AlertsConfig cfg = TestAlertsConfig();
  Snapshot s = MakeSnapshot({{"pg", true}});
  s.targets[0].kind = TargetKind::kPostgres;
  s.targets[0].error_window.window = 17min;
  s.targets[0].error_window.min_events = 50;
  s.metrics.Gauge("poolwatch_error_ratio", "h", {{"target", "pg"}, {"kind", "rollback"}}, 0.5);
  s.metrics.Gauge("poolwatch_error_window_events", "h", {{"target", "pg"}, {"kind", "rollback"}},
                  30);
  RuleOutput out = EvaluateRules(s, cfg);
  ASSERT_EQ(out.observations.size(), 1u);
  const Observation& o = out.observations[0];
  EXPECT_EQ(o.alert.Label("alertname"), "ErrorRateHigh");
  EXPECT_THAT(o.alert.headline,
              ::testing::HasSubstr("30 events in the last " + HumanDuration(17min)));
  EXPECT_EQ(o.alert.detail, "30 events in the last " + HumanDuration(17min));
  EXPECT_NE(HumanDuration(17min), HumanDuration(5min));
  EXPECT_TRUE(o.hold) << "30 events < the target's error_min_events 50";
  s.targets[0].error_window.min_events = 20;
  EXPECT_FALSE(EvaluateRules(s, cfg).observations.at(0).hold) << "30 events >= 20";
}

TEST(AlertRulesTest, ClientsWaitingPrefersTheFastSamplingPeak) {
  AlertsConfig cfg = TestAlertsConfig();
  Snapshot s = MakeSnapshot({{"pgb", true}});
  Labels l = {{"target", "pgb"}, {"database", "app"}, {"user", "app"}};
  s.metrics.Gauge("pgbouncer_pools_client_maxwait_seconds", "h", l, 0);  // missed by the scrape
  s.metrics.Gauge("poolwatch_pgbouncer_maxwait_peak_seconds", "h", l, 7.5);
  RuleOutput out = EvaluateRules(s, cfg);
  ASSERT_EQ(out.observations.size(), 1u);
  EXPECT_EQ(out.observations[0].alert.Label("alertname"), "ClientsWaiting");
  EXPECT_EQ(out.observations[0].alert.Label("severity"), "warning");
  EXPECT_DOUBLE_EQ(out.observations[0].alert.value, 7.5);
}

TEST(AlertRulesTest, OverridesAndExclusions) {
  AlertsConfig cfg = TestAlertsConfig();
  RuleOverride o;
  o.database = "batch";
  o.enabled = false;
  cfg.rules["pool_utilization"].overrides.push_back(o);
  RuleOverride hi;
  hi.target = "pgb";
  hi.warning = 0.97;
  hi.critical = 0.99;
  cfg.rules["pool_utilization"].overrides.push_back(hi);
  Snapshot s = MakeSnapshot({{"pgb", true}});
  AddUtilization(s, "pgb", "batch", 1.0);
  AddUtilization(s, "pgb", "app", 0.95);
  RuleOutput out = EvaluateRules(s, cfg);
  // batch is disabled; app is under its raised thresholds but within hysteresis of warning.
  for (const auto& ob : out.observations) {
    EXPECT_EQ(ob.alert.Label("database"), "app");
    EXPECT_FALSE(ob.above);
  }
}

TEST(AlertStateTest, PendingThenFiringAfterFor) {
  Harness h;
  h.cfg.rules["pool_utilization"].for_duration = 60s;
  h.cfg.rules["pool_utilization"].critical_for = 60s;
  h.cfg.route.group_wait = 0s;
  h.Eval(Util(0.85));
  auto active = h.machine.Active();
  ASSERT_EQ(active.size(), 1u);
  EXPECT_EQ(active[0].state, AlertState::kPending);
  h.Run(Util(0.85), 59s);
  EXPECT_TRUE(h.Firing().empty());
  h.Run(Util(0.85), 1s);
  ASSERT_EQ(h.Firing().size(), 1u);
  EXPECT_EQ(h.Firing()[0].Label("severity"), "warning");
  ASSERT_EQ(h.sent.size(), 1u);
  EXPECT_EQ(h.sent[0].Firing(), 1u);
}

// Snapshots arrive at the sampling interval give or take the sample's duration: a snapshot 1 ms
// early must not push firing out by a whole interval.
TEST(AlertStateTest, ForToleratesSnapshotJitterOfLessThanHalfAnInterval) {
  AlertsConfig cfg = TestAlertsConfig();
  cfg.rules["pool_utilization"].for_duration = 3s;
  cfg.rules["pool_utilization"].critical_for = 3s;
  auto observe = [&](AlertStateMachine& m, WallTime at) {
    RuleOutput out = EvaluateRules(Util(0.85), cfg);
    m.Update(out.observations, out.down_targets, at);
    return m.Active().at(0).state;
  };
  const WallTime t0 = WallTime(std::chrono::hours(1000));
  AlertStateMachine jittered(1s);
  EXPECT_EQ(observe(jittered, t0), AlertState::kPending);
  EXPECT_EQ(observe(jittered, t0 + 1001ms), AlertState::kPending);
  EXPECT_EQ(observe(jittered, t0 + 2003ms), AlertState::kPending);
  EXPECT_EQ(observe(jittered, t0 + 2999ms), AlertState::kFiring);
  // Without the tolerance the same sequence fires one interval later.
  AlertStateMachine strict;
  observe(strict, t0);
  observe(strict, t0 + 1001ms);
  observe(strict, t0 + 2003ms);
  EXPECT_EQ(observe(strict, t0 + 2999ms), AlertState::kPending);
  EXPECT_EQ(observe(strict, t0 + 4000ms), AlertState::kFiring);
  // More than half an interval early is still pending.
  AlertStateMachine early(1s);
  observe(early, t0);
  EXPECT_EQ(observe(early, t0 + 2400ms), AlertState::kPending);
}

// A `for` shorter than half an interval still needs one evaluation in pending, as in Prometheus.
TEST(AlertStateTest, ShortForStillPendsForOneEvaluation) {
  AlertsConfig cfg = TestAlertsConfig();
  cfg.rules["pool_utilization"].for_duration = 1s;
  cfg.rules["pool_utilization"].critical_for = 1s;
  AlertStateMachine m(5s);
  const WallTime t0 = WallTime(std::chrono::hours(1000));
  RuleOutput out = EvaluateRules(Util(0.85), cfg);
  m.Update(out.observations, out.down_targets, t0);
  EXPECT_EQ(m.Active().at(0).state, AlertState::kPending);
  m.Update(out.observations, out.down_targets, t0 + 5s);
  EXPECT_EQ(m.Active().at(0).state, AlertState::kFiring);
}

TEST(AlertStateTest, PendingThatClearsNeverFires) {
  Harness h;
  h.cfg.route.group_wait = 0s;
  h.Run(Util(0.85), 30s);
  h.Run(Util(0.10), 5s);
  EXPECT_TRUE(h.machine.Active().empty());
  h.Run(Util(0.10), 300s);
  EXPECT_TRUE(h.sent.empty());
}

TEST(AlertStateTest, CriticalInhibitsWarningOfTheSameAlert) {
  Harness h;
  h.cfg.rules["pool_utilization"].for_duration = 1s;
  h.cfg.rules["pool_utilization"].critical_for = 1s;
  h.cfg.route.group_wait = 0s;
  h.Run(Util(1.0), 3s);
  auto firing = h.Firing();
  ASSERT_EQ(firing.size(), 2u);
  ASSERT_EQ(h.sent.size(), 1u);
  ASSERT_EQ(h.sent[0].alerts.size(), 1u) << "only the critical is notified";
  EXPECT_EQ(h.sent[0].alerts[0].Label("severity"), "critical");
  // Back to warning level: the critical resolves, the warning becomes visible.
  h.Run(Util(0.84), 301s);
  ASSERT_GE(h.sent.size(), 2u);
  const Notification& n = h.sent[1];
  EXPECT_EQ(n.Resolved(), 1u);
  EXPECT_EQ(n.Firing(), 1u);
}

TEST(AlertStateTest, HysteresisKeepsAHoveringValueFromFlapping) {
  Harness h;
  h.cfg.rules["pool_utilization"].for_duration = 0s;
  h.cfg.rules["pool_utilization"].critical.reset();
  h.cfg.rules["pool_utilization"].critical_for.reset();
  h.cfg.route.group_wait = 0s;
  h.cfg.route.group_interval = 1s;
  // Hovering 0.79..0.81 around the 0.80 threshold: fires once, never resolves (clear < 0.76).
  for (int i = 0; i < 60; ++i) {
    h.clock.Advance(1s);
    h.Eval(Util(i % 2 ? 0.79 : 0.81));
  }
  ASSERT_EQ(h.sent.size(), 1u);
  EXPECT_EQ(h.sent[0].Firing(), 1u);
  h.clock.Advance(1s);
  h.Eval(Util(0.70));
  h.clock.Advance(1s);
  h.Eval(Util(0.70));
  ASSERT_EQ(h.sent.size(), 2u);
  EXPECT_EQ(h.sent[1].Resolved(), 1u);
}

TEST(AlertStateTest, KeepFiringForBridgesShortDips) {
  Harness h;
  auto& rule = h.cfg.rules["pool_utilization"];
  rule.for_duration = 0s;
  rule.critical.reset();
  rule.critical_for.reset();
  rule.hysteresis = 0;
  rule.keep_firing_for = 10s;
  h.cfg.route.group_wait = 0s;
  h.cfg.route.group_interval = 1s;
  h.Run(Util(0.9), 2s);
  h.Run(Util(0.1), 9s);
  EXPECT_EQ(h.Firing().size(), 1u);
  h.Run(Util(0.9), 2s);
  h.Run(Util(0.1), 12s);
  EXPECT_TRUE(h.Firing().empty());
  ASSERT_EQ(h.sent.size(), 2u);
  EXPECT_EQ(h.sent[1].Resolved(), 1u);
}

TEST(AlertStateTest, DownTargetHoldsItsAlertsAndFiresTargetDown) {
  Harness h;
  h.cfg.rules["pool_utilization"].for_duration = 0s;
  h.cfg.rules["pool_utilization"].critical_for = 0s;
  h.cfg.rules["target_down"].for_duration = 60s;
  h.cfg.route.group_wait = 0s;
  h.cfg.route.group_interval = 1s;
  h.cfg.route.repeat_interval = 10s;
  h.Run(Util(0.95), 2s);
  ASSERT_EQ(h.sent.size(), 1u);
  // The target dies: its metrics vanish from the snapshot.
  Snapshot down = MakeSnapshot({{"pgb", false}});
  h.Run(down, 59s);
  EXPECT_EQ(h.sent.size(), 1u) << "held: neither resolved nor re-sent (repeat is 10s)";
  h.Run(down, 5s);
  ASSERT_EQ(h.sent.size(), 2u);
  EXPECT_EQ(h.sent[1].alerts.size(), 1u);
  EXPECT_EQ(h.sent[1].alerts[0].Label("alertname"), "TargetDown");
  EXPECT_EQ(h.sent[1].Resolved(), 0u);
  bool util_held = false;
  for (const auto& a : h.machine.Active()) {
    if (a.Label("alertname") == "PoolUtilizationHigh")
      util_held = a.held && a.state == AlertState::kFiring;
  }
  EXPECT_TRUE(util_held);
  // Back up and still saturated: TargetDown resolves; the pool alert never resolved.
  h.Run(Util(0.95), 3s);
  bool target_down_resolved = false;
  for (const auto& n : h.sent) {
    for (const auto& a : n.alerts) {
      if (a.Label("alertname") == "TargetDown" && a.state == AlertState::kResolved) {
        target_down_resolved = true;
      }
      if (a.Label("alertname") == "PoolUtilizationHigh") {
        EXPECT_NE(a.state, AlertState::kResolved);
      }
    }
  }
  EXPECT_TRUE(target_down_resolved);
}

TEST(AlertGroupingTest, GroupWaitCollectsABurstIntoOneNotification) {
  Harness h;
  h.cfg.rules["pool_utilization"].for_duration = 0s;
  h.cfg.rules["pool_utilization"].critical.reset();
  h.cfg.rules["pool_utilization"].critical_for.reset();
  h.cfg.route.group_by = {"alertname"};
  Snapshot s = MakeSnapshot({{"pgb", true}});
  for (int i = 0; i < 20; ++i) AddUtilization(s, "pgb", "db" + std::to_string(i), 0.85);
  h.Run(s, 29s);
  EXPECT_TRUE(h.sent.empty());
  h.Run(s, 2s);
  ASSERT_EQ(h.sent.size(), 1u);
  EXPECT_EQ(h.sent[0].Firing(), 20u);
}

TEST(AlertGroupingTest, GroupIntervalBatchesChangesAndRepeatIntervalRepeats) {
  Harness h;
  h.cfg.rules["pool_utilization"].for_duration = 0s;
  h.cfg.rules["pool_utilization"].critical.reset();
  h.cfg.rules["pool_utilization"].critical_for.reset();
  h.cfg.route.group_by = {"alertname", "target"};
  h.cfg.route.group_wait = 10s;
  h.cfg.route.group_interval = 60s;
  h.cfg.route.repeat_interval = 600s;
  Snapshot one = MakeSnapshot({{"pgb", true}});
  AddUtilization(one, "pgb", "a", 0.85);
  h.Run(one, 11s);
  ASSERT_EQ(h.sent.size(), 1u);
  Snapshot two = one;
  AddUtilization(two, "pgb", "b", 0.85);
  h.Run(two, 30s);
  EXPECT_EQ(h.sent.size(), 1u) << "a new alert waits for group_interval";
  h.Run(two, 31s);
  ASSERT_EQ(h.sent.size(), 2u);
  EXPECT_EQ(h.sent[1].Firing(), 2u);
  h.Run(two, 530s);
  EXPECT_EQ(h.sent.size(), 2u);
  h.Run(two, 80s);
  ASSERT_EQ(h.sent.size(), 3u) << "repeat_interval";
}

TEST(AlertGroupingTest, RoutesBySeverityAndAlertmanagerKeepAlive) {
  Harness h;
  ReceiverConfig am;
  am.name = "am";
  am.type = ReceiverType::kAlertmanager;
  am.urls = {"http://127.0.0.1:1"};
  h.cfg.receivers.push_back(am);
  h.cfg.route.by_severity["critical"] = {"oncall", "am"};
  h.cfg.rules["pool_utilization"].for_duration = 0s;
  h.cfg.rules["pool_utilization"].critical_for = 0s;
  h.cfg.route.group_wait = 0s;
  h.Run(Util(0.85), 2s);  // warning only -> oncall
  ASSERT_EQ(h.sent.size(), 1u);
  EXPECT_EQ(h.sent[0].receiver, "oncall");
  h.sent.clear();
  h.Run(Util(0.95), 1s);  // critical -> am immediately
  ASSERT_EQ(h.sent.size(), 1u);
  EXPECT_EQ(h.sent[0].receiver, "am");
  h.sent.clear();
  h.Run(Util(0.95), 61s);
  int am_sends = 0;
  for (const auto& n : h.sent) am_sends += n.receiver == "am";
  EXPECT_EQ(am_sends, 1) << "re-sent every minute";
  // Resolved: re-sent for 15 minutes, then no more.
  h.sent.clear();
  h.Run(Util(0.1), 20 * 60s);
  am_sends = 0;
  for (const auto& n : h.sent) {
    if (n.receiver != "am") continue;
    ++am_sends;
    for (const auto& a : n.alerts) EXPECT_EQ(a.state, AlertState::kResolved);
  }
  EXPECT_GE(am_sends, 14);
  EXPECT_LE(am_sends, 17);
}

TEST(AlertStateTest, StateSurvivesARoundTripThroughJson) {
  Harness h;
  h.cfg.rules["pool_utilization"].for_duration = 0s;
  h.cfg.rules["pool_utilization"].critical_for = 0s;
  h.cfg.route.group_wait = 0s;
  h.Run(Util(0.95), 2s);
  ASSERT_EQ(h.sent.size(), 1u);
  nlohmann::json m = h.machine.ToJson(), d = h.dispatcher->ToJson();
  // "Restart": fresh objects from the saved state, same condition -> nothing new is sent.
  Harness r;
  r.cfg = h.cfg;
  r.Init();
  r.machine.FromJson(nlohmann::json::parse(m.dump()));
  r.dispatcher->FromJson(nlohmann::json::parse(d.dump()));
  r.clock.Advance(
      std::chrono::duration_cast<std::chrono::milliseconds>(h.clock.WallNow() - r.clock.WallNow()));
  r.Run(Util(0.95), 120s);
  EXPECT_TRUE(r.sent.empty());
  r.Run(Util(0.1), 301s);
  ASSERT_EQ(r.sent.size(), 1u);
  EXPECT_EQ(r.sent[0].Resolved(), 1u);
}

}  // namespace
}  // namespace poolwatch

namespace poolwatch {
namespace {

TEST(AlerterTest, SamplerStaleFiresWithoutSnapshotsAndHoldsTheRest) {
  support::FakeClock clock;
  AlertsConfig cfg = support::TestAlertsConfig();
  cfg.rules["target_down"].for_duration = 0s;
  cfg.eval_interval = 5s;  // stale after max(30s, 3 x 5s)
  std::vector<std::unique_ptr<AlertSink>> sinks;
  sinks.push_back(std::make_unique<support::ScriptedSink>("oncall"));
  Alerter a(cfg, clock, std::move(sinks));  // threads not started: evaluation only
  a.Evaluate(MakeSnapshot({{"pgb", false}}));
  auto states = [&] {
    std::map<std::string, std::string> out;
    for (const auto& j : a.StatusJson()) {
      out[j["labels"]["alertname"].get<std::string>()] =
          j["state"].get<std::string>() + (j["held"].get<bool>() ? "+held" : "");
    }
    return out;
  };
  EXPECT_EQ(states()["TargetDown"], "firing");
  clock.Advance(29s);
  a.Tick();
  EXPECT_EQ(states().count("SamplerStale"), 0u);
  clock.Advance(2s);
  a.Tick();
  auto s = states();
  EXPECT_EQ(s["SamplerStale"], "firing");
  EXPECT_EQ(s["TargetDown"], "firing+held") << "not resolved for lack of snapshots";
  MetricSet m;
  a.AddMetrics(m);
  EXPECT_EQ(m.Value("poolwatch_alerts", {{"alertname", "SamplerStale"}, {"state", "firing"}}), 1);
  a.Evaluate(MakeSnapshot({{"pgb", false}}));
  s = states();
  EXPECT_EQ(s.count("SamplerStale"), 0u);
  EXPECT_EQ(s["TargetDown"], "firing");
}

}  // namespace
}  // namespace poolwatch
