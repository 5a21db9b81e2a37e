// The `alerts:` section: the issue's example parses; problems carry file:line:col; secrets stay
// out of every message.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "exporter/config.h"
#include "tests/support/util.h"

namespace poolwatch {
namespace {

using namespace std::chrono_literals;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kTargets = R"(sampling: {interval: 5s, timeout: 3s}
targets:
  pgbouncer:
    - name: local
      dsn: "host=127.0.0.1 port=6432 dbname=pgbouncer user=stats"
)";

std::string Joined(const ConfigError& e) {
  std::string s;
  for (const auto& p : e.problems) s += p + "\n";
  return s;
}

TEST(ConfigAlertsTest, TheIssueExampleParses) {
  support::TempDir dir;
  support::WriteFile(dir.File("hook"), "https://hooks.slack.com/services/T1/B2/sekrit\n");
  std::string yaml = kTargets + R"(alerts:
  state_file: /var/lib/poolwatch/alerts.json
  dashboard_url: "https://grafana.example/d/poolwatch"
  rules:
    pool_utilization: {warning: 0.80, critical: 0.90, for: 2m}
    error_rate: {threshold: 0.05, for: 2m}
    connection_leak: {threshold: 0, for: 1m}
    long_transaction: {warning: 60s, critical: 300s, for: 1m, exclude_databases: [template*],
                       runbook_url: "https://runbooks.example/long-tx",
                       overrides: [{target: local, database: batch, warning: 30m, critical: 2h}]}
    clients_waiting: {warning: 5s, critical: 15s, for: 1m, keep_firing_for: 2m}
    target_down: {for: 1m, labels: {team: dba}}
  receivers:
    - name: oncall
      slack: {webhook_url_file: )" +
                     dir.File("hook") + R"(, send_resolved: true}
    - name: cluster-am
      alertmanager: {urls: ["http://alertmanager-0:9093", "http://alertmanager-1:9093"]}
    - name: stdout
      log: {}
  route:
    receivers: [oncall]
    by_severity: {critical: [oncall, cluster-am]}
    group_by: [alertname, target]
    group_wait: 30s
    group_interval: 5m
    repeat_interval: 4h
)";
  Config c;
  ConfigError e;
  ASSERT_TRUE(LoadConfigString(yaml, "pw.yaml", c, e)) << Joined(e);
  const AlertsConfig& a = c.alerts;
  EXPECT_TRUE(a.enabled);
  EXPECT_EQ(a.state_file, "/var/lib/poolwatch/alerts.json");
  EXPECT_EQ(a.eval_interval, 5s);
  EXPECT_DOUBLE_EQ(*a.rules.at("pool_utilization").critical, 0.90);
  EXPECT_EQ(a.rules.at("pool_utilization").for_duration, 2min);
  EXPECT_DOUBLE_EQ(*a.rules.at("long_transaction").warning, 60);
  EXPECT_DOUBLE_EQ(*a.rules.at("long_transaction").overrides.at(0).critical, 7200);
  EXPECT_EQ(a.rules.at("clients_waiting").keep_firing_for, 2min);
  EXPECT_EQ(a.rules.at("target_down").labels.at("team"), "dba");
  ASSERT_EQ(a.receivers.size(), 3u);
  EXPECT_EQ(a.receivers[0].type, ReceiverType::kSlack);
  EXPECT_EQ(a.receivers[0].webhook_url, "https://hooks.slack.com/services/T1/B2/sekrit");
  EXPECT_EQ(a.receivers[1].urls.size(), 2u);
  EXPECT_EQ(a.receivers[2].type, ReceiverType::kLog);
  EXPECT_EQ(a.route.by_severity.at("critical").size(), 2u);
  EXPECT_EQ(a.route.repeat_interval, 4h);
  EXPECT_THAT(c.Secrets(), Contains("https://hooks.slack.com/services/T1/B2/sekrit"));
}

TEST(ConfigAlertsTest, DefaultsFollowTheReference) {
  Config c;
  ConfigError e;
  ASSERT_TRUE(LoadConfigString(kTargets + "alerts:\n  state_file: /tmp/x.json\n", "pw.yaml", c, e))
      << Joined(e);
  const auto& r = c.alerts.rules;
  EXPECT_DOUBLE_EQ(*r.at("pool_utilization").warning, 0.80);
  EXPECT_EQ(r.at("pool_utilization").for_duration, 2min);
  EXPECT_EQ(*r.at("pool_utilization").critical_for, 1min);
  EXPECT_DOUBLE_EQ(*r.at("error_rate").warning, 0.05);
  EXPECT_DOUBLE_EQ(*r.at("long_transaction").critical, 300);
  EXPECT_DOUBLE_EQ(*r.at("clients_waiting").critical, 15);
  EXPECT_EQ(r.at("target_down").for_duration, 1min);
  EXPECT_EQ(c.alerts.route.group_wait, 30s);
  EXPECT_EQ(c.alerts.route.group_interval, 5min);
  EXPECT_EQ(c.alerts.route.repeat_interval, 4h);
  EXPECT_TRUE(c.alerts.receivers.empty());
}

TEST(ConfigAlertsTest, EveryProblemAtOnceWithLineAndColumn) {
  std::string yaml = kTargets + R"(alerts:
  rules:
    pool_utilisation: {warning: 0.8}
    long_transaction: {warning: 60, critical: 30s}
    clients_waiting: {warning: 5s, critical: 2s}
  receivers:
    - name: oncall
      slack: {send_resolved: yes}
    - name: oncall
      alertmanager: {urls: []}
  route:
    receivers: [nobody]
    group_wait: soon
  bogus: 1
)";
  ConfigError e;
  Config c;
  ASSERT_FALSE(LoadConfigString(yaml, "pw.yaml", c, e));
  std::string all = Joined(e);
  EXPECT_THAT(all, HasSubstr("pw.yaml:8:5: alerts.rules.pool_utilisation: unknown rule"));
  EXPECT_THAT(all, HasSubstr("alerts.rules.long_transaction.warning: invalid duration"));
  EXPECT_THAT(all, HasSubstr("alerts.rules.clients_waiting.critical: must not be below warning"));
  EXPECT_THAT(all, HasSubstr("alerts.receivers[0].slack.send_resolved: must be true or false"));
  EXPECT_THAT(all, HasSubstr("alerts.receivers[0].slack.webhook_url_file: is required"));
  EXPECT_THAT(all, HasSubstr("duplicate receiver name \"oncall\""));
  EXPECT_THAT(all, HasSubstr("alerts.receivers[1].alertmanager.urls: needs at least one URL"));
  EXPECT_THAT(all, HasSubstr("alerts.route.receivers: unknown receiver \"nobody\""));
  EXPECT_THAT(all, HasSubstr("alerts.route.group_wait: invalid duration"));
  EXPECT_THAT(all, HasSubstr("alerts.bogus: unknown key"));
  EXPECT_GE(e.problems.size(), 10u) << all;
  for (const auto& p : e.problems) EXPECT_THAT(p, ::testing::StartsWith("pw.yaml:")) << p;
}

TEST(ConfigAlertsTest, ErrorRateWindowIsTheTargetsAndTheRuleKeysAreRejected) {
  // One source: the ratio's window and least events are the target's; the rule's former copies
  // are errors that say where the setting lives.
  std::string yaml = R"(targets:
  postgres:
    - name: pg
      dsn: "host=127.0.0.1 dbname=app"
      error_window: 10m
      error_min_events: 50
alerts:
  rules:
    error_rate: {threshold: 0.05, window: 5m, min_events: 20}
)";
  ConfigError e;
  Config c;
  ASSERT_FALSE(LoadConfigString(yaml, "pw.yaml", c, e));
  std::string all = Joined(e);
  EXPECT_THAT(all, HasSubstr("pw.yaml:9:43: alerts.rules.error_rate.window: is a target setting "
                             "now: set targets[].error_window"));
  EXPECT_THAT(all, HasSubstr("pw.yaml:9:59: alerts.rules.error_rate.min_events: is a target "
                             "setting now: set targets[].error_min_events"));
  EXPECT_EQ(e.problems.size(), 2u) << all;
  ConfigError e2;
  Config c2;
  std::string ok = yaml.substr(0, yaml.find("alerts:"));
  ASSERT_TRUE(LoadConfigString(ok, "pw.yaml", c2, e2)) << Joined(e2);
  ASSERT_EQ(c2.targets.size(), 1u);
  EXPECT_EQ(c2.targets[0].collector_settings.error_window.window, 10min);
  EXPECT_EQ(c2.targets[0].collector_settings.error_window.min_events, 50);
}

TEST(ConfigAlertsTest, WebhookUrlFromEnvAndNeverInAnError) {
  setenv("PW_TEST_HOOK", "https://hooks.slack.com/services/T9/B9/envsecret", 1);
  Config c;
  ConfigError e;
  ASSERT_TRUE(LoadConfigString(kTargets + R"(alerts:
  receivers:
    - name: oncall
      slack: {webhook_url: "${PW_TEST_HOOK}"}
)",
                               "pw.yaml", c, e))
      << Joined(e);
  EXPECT_EQ(c.alerts.receivers[0].webhook_url, "https://hooks.slack.com/services/T9/B9/envsecret");
  EXPECT_EQ(c.alerts.route.receivers, std::vector<std::string>{"oncall"}) << "default: all";
  setenv("PW_TEST_HOOK", "ftp://not-a-webhook/sekrit-token", 1);
  ConfigError bad;
  ASSERT_FALSE(LoadConfigString(kTargets + R"(alerts:
  receivers:
    - name: oncall
      slack: {webhook_url: "${PW_TEST_HOOK}"}
)",
                                "pw.yaml", c, bad));
  EXPECT_THAT(Joined(bad), HasSubstr("must be an http(s) URL"));
  EXPECT_THAT(Joined(bad), Not(HasSubstr("sekrit-token")));
  unsetenv("PW_TEST_HOOK");
}

}  // namespace
}  // namespace poolwatch
