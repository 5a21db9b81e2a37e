// The fleet with the whole App in-process: fake targets whose PostgreSQL also answers the
// election's statements, HTTP on 127.0.0.1:0, Slack and Alertmanager payloads caught by the
// Slack-like receiver (it accepts any path).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <thread>
#include <nlohmann/json.hpp>

#include "exporter/app.h"
#include "tests/support/alerts_support.h"
#include "tests/support/fakes.h"
#include "tests/support/slack_receiver.h"
#include "tests/support/util.h"

namespace poolwatch {
namespace {

using namespace std::chrono_literals;
using support::FakeConnection;
using support::HttpGet;
using support::MetricValue;
using support::Rows;
using ::testing::HasSubstr;

/// PostgreSQL target "db" (shared) answers quietly and grants the advisory lock when `lock_free`;
/// PgBouncer target "pgbouncer-app-2" is down (a per-pod alert).
TargetConnector Connector(std::atomic<bool>& lock_free) {
  return [&lock_free](const TargetConfig& t, const Config&, SteadyTime,
                      const std::atomic<bool>&) -> std::unique_ptr<Connection> {
    if (t.kind == TargetKind::kPgBouncer) {
      throw DbError("connection to server failed: Connection refused", DownReason::kRefused, "",
                    true);
    }
    auto quiet = [](std::string_view) { return QueryResult(); };
    return std::make_unique<FakeConnection>(std::map<std::string, FakeConnection::Handler>{
        {"SELECT pg_try_advisory_lock", [&lock_free](std::string_view) {
           return Rows({"locked"}, {{lock_free ? "t" : "f"}});
         }},
        {"SET idle_session_timeout", quiet},
        {"LISTEN ", quiet},
        {"SELECT 1", quiet},
        {"WITH", quiet},  // the collectors' statements: quiet results (they have unit tests)
        {"SELECT d.datname", quiet},
        {"SELECT s.datid", quiet}});
  };
}

Config FleetConfig(const support::SlackReceiver& rx) {
  Config c;
  c.listen_address = "127.0.0.1:0";
  c.interval = 200ms;
  c.timeout = 150ms;
  TargetConfig pg;
  pg.name = "db";
  pg.kind = TargetKind::kPostgres;
  pg.dsn = "host=x";
  pg.shared = true;
  pg.election_key = "db";
  TargetConfig pgb;
  pgb.name = "pgbouncer-app-2";
  pgb.kind = TargetKind::kPgBouncer;
  pgb.dsn = "host=y";
  pgb.pool.backoff_initial = 10ms;
  pgb.pool.backoff_max = 20ms;
  c.targets = {pg, pgb};
  c.external_labels = {{"namespace", "shop"}, {"pod", "app-2"}};
  AlertsConfig& a = c.alerts;
  a.enabled = true;
  a.eval_interval = c.interval;
  a.external_labels = c.external_labels;
  a.shared_targets = {"db"};
  for (auto& [key, rule] : a.rules) rule.for_duration = 0s;
  ReceiverConfig slack = support::SlackTestConfig(rx.Url("/slack"), "slack");
  ReceiverConfig am;
  am.name = "am";
  am.type = ReceiverType::kAlertmanager;
  am.urls = {rx.Url("/am")};
  a.receivers = {slack, am};
  a.route.receivers = {"slack", "am"};
  a.route.group_wait = 0s;
  a.delivery.rate_limit_per_second = 100;
  return c;
}

/// Waits (5 s at most) until the App at `base` reports `role` for the shared target `db`.
bool WaitForRole(const std::string& base, const std::string& role) {
  return support::WaitUntil(
      [&] {
        return MetricValue(HttpGet(base + "/metrics").body, "poolwatch_target_role",
                           {"target=\"db\"", "role=\"" + role + "\""}) == 1;
      },
      5s);
}

TEST(FleetComponentTest, TheHolderSamplesAndEveryAlertCarriesTheExternalLabels) {
  support::SlackReceiver rx;
  std::atomic<bool> lock_free{true};
  SystemClock clock;
  App app(FleetConfig(rx), clock, Connector(lock_free));
  std::string err;
  ASSERT_TRUE(app.Start(err)) << err;
  std::string base = "http://127.0.0.1:" + std::to_string(app.http_port());
  ASSERT_TRUE(WaitForRole(base, "holder"));
  std::string m = HttpGet(base + "/metrics").body;
  EXPECT_EQ(MetricValue(m, "pg_up", {"target=\"db\""}), 1) << "the holder samples";
  EXPECT_EQ(MetricValue(m, "poolwatch_target_role", {"target=\"db\"", "role=\"standby\""}), 0);
  EXPECT_GE(MetricValue(m, "poolwatch_election_acquired_total", {"target=\"db\""}), 1);

  auto status = nlohmann::json::parse(HttpGet(base + "/status").body);
  EXPECT_EQ(status["external_labels"], nlohmann::json({{"namespace", "shop"}, {"pod", "app-2"}}));
  for (const auto& t : status["targets"]) {
    if (t["name"] == "db") {
      EXPECT_EQ(t.value("role", ""), "holder") << status.dump(1);
    } else {
      EXPECT_FALSE(t.contains("role"));
    }
  }

  // The per-pod PgBouncer is down: Alertmanager gets namespace and pod as labels, Slack names
  // the pod.
  bool am = false, slack = false;
  ASSERT_TRUE(support::WaitUntil(
      [&] {
        for (const auto& r : rx.Requests()) {
          am = am || r.path == "/am/api/v2/alerts";
          slack = slack || r.path == "/slack";
        }
        return am && slack;
      },
      10s));
  for (const auto& r : rx.Requests()) {
    if (r.path == "/am/api/v2/alerts") {
      auto alerts = nlohmann::json::parse(r.body);
      ASSERT_FALSE(alerts.empty());
      EXPECT_EQ(alerts[0]["labels"]["namespace"], "shop") << r.body;
      EXPECT_EQ(alerts[0]["labels"]["pod"], "app-2") << r.body;
      EXPECT_EQ(alerts[0]["labels"]["target"], "pgbouncer-app-2") << r.body;
    } else if (r.path == "/slack") {
      EXPECT_THAT(r.body, HasSubstr("[namespace=shop, pod=app-2]"));
    }
  }
  auto alerts = nlohmann::json::parse(HttpGet(base + "/status").body)["alerts"];
  ASSERT_FALSE(alerts.empty());
  EXPECT_EQ(alerts[0]["labels"]["pod"], "app-2");
  app.Stop();
}

TEST(FleetComponentTest, AStandbyExportsItsRoleButNoSeriesOfTheSharedTarget) {
  support::SlackReceiver rx;
  std::atomic<bool> lock_free{false};  // another replica holds it
  SystemClock clock;
  Config c = FleetConfig(rx);
  c.targets.pop_back();  // the shared target only: nothing for this replica to alert on
  App app(c, clock, Connector(lock_free));
  std::string err;
  ASSERT_TRUE(app.Start(err)) << err;
  std::string base = "http://127.0.0.1:" + std::to_string(app.http_port());
  ASSERT_TRUE(WaitForRole(base, "standby"));
  std::this_thread::sleep_for(600ms);  // a few standby samples
  std::string m = HttpGet(base + "/metrics").body;
  EXPECT_TRUE(std::isnan(MetricValue(m, "pg_up", {"target=\"db\""})));
  for (const char* family : {"poolwatch_probe_pool_connections", "pg_exporter_last_scrape_error",
                             "poolwatch_target_health", "poolwatch_target_up"}) {
    EXPECT_TRUE(std::isnan(MetricValue(m, family, {"target=\"db\""}))) << family;
  }
  EXPECT_GE(MetricValue(m, "poolwatch_election_statements_total", {"target=\"db\""}), 3);
  auto status = nlohmann::json::parse(HttpGet(base + "/status").body);
  ASSERT_EQ(status["targets"].size(), 1u);
  EXPECT_EQ(status["targets"][0]["role"], "standby");
  EXPECT_TRUE(status["alerts"].empty()) << status.dump(1);
  EXPECT_TRUE(rx.Requests().empty()) << "a standby says nothing";
  // The lock comes free (the holder died): this replica takes over and samples.
  lock_free = true;
  ASSERT_TRUE(support::WaitUntil(
      [&] { return MetricValue(HttpGet(base + "/metrics").body, "pg_up", {"target=\"db\""}) == 1; },
      5s));
  app.Stop();
}

}  // namespace
}  // namespace poolwatch
