// The built-in rules (alerts/rules.cc): the metric names and the who they read, thresholds,
// overrides and exclusions.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "alerts/rules.h"
#include "alerts/state.h"
#include "base/time.h"
#include "tests/support/alerts_support.h"

namespace poolwatch {
namespace {

using namespace std::chrono_literals;
using support::AddUtilization;
using support::MakeSnapshot;
using support::TestAlertsConfig;

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

}  // namespace
}  // namespace poolwatch
