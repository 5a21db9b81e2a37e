// The alerting pipeline in-process against the Slack-like receiver over real HTTP (libcurl).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "alerts/alerter.h"
#include "alerts/sinks.h"
#include "tests/support/alerts_support.h"
#include "tests/support/fakes.h"
#include "tests/support/slack_receiver.h"
#include "tests/support/util.h"

namespace poolwatch {
namespace {

using namespace std::chrono_literals;
using support::FakeClock;
using support::ScriptedAnswer;
using support::SlackReceiver;
using ::testing::HasSubstr;
using ::testing::Not;

Notification OneAlert() {
  Notification n;
  n.receiver = "oncall";
  Alert a;
  a.labels = {{"alertname", "TargetDown"}, {"severity", "critical"}, {"target", "x"}};
  a.state = AlertState::kFiring;
  a.summary = "Target x is unreachable";
  n.alerts.push_back(a);
  return n;
}

TEST(SlackSinkComponentTest, ClassifiesRealHttpAnswersAndNeverReportsTheUrl) {
  SlackReceiver rx;
  SystemClock clock;
  CurlHttpClient http;
  std::string url = rx.Url("/services/T1/B1/topsecret");
  SlackSink sink("oncall", url, 700ms, http, clock);
  rx.Script({ScriptedAnswer::Ok(), ScriptedAnswer::Error(404, "channel_not_found"),
             ScriptedAnswer::RateLimited(2), ScriptedAnswer::Error(500, "rollup_error"),
             ScriptedAnswer::Error(400, "invalid_payload"), ScriptedAnswer::Hang(3s)});
  EXPECT_EQ(sink.Send(OneAlert()).status, SendResult::Status::kDelivered);
  SendResult nf = sink.Send(OneAlert());
  EXPECT_EQ(nf.status, SendResult::Status::kPermanent);
  EXPECT_EQ(nf.reason, "channel_not_found");
  SendResult rl = sink.Send(OneAlert());
  EXPECT_EQ(rl.status, SendResult::Status::kRetryable);
  ASSERT_TRUE(rl.retry_after);
  EXPECT_EQ(*rl.retry_after, 2s);
  EXPECT_EQ(sink.Send(OneAlert()).status, SendResult::Status::kRetryable);
  EXPECT_EQ(sink.Send(OneAlert()).reason, "invalid_payload");
  auto t0 = std::chrono::steady_clock::now();
  SendResult hang = sink.Send(OneAlert());
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(hang.status, SendResult::Status::kRetryable);
  EXPECT_EQ(hang.reason, "timeout");
  EXPECT_LT(took, 2s);
  for (const auto& r : {nf, rl, hang}) {
    EXPECT_THAT(r.detail, Not(HasSubstr("topsecret"))) << r.detail;
  }
  auto reqs = rx.Requests();
  ASSERT_EQ(reqs.size(), 6u);
  EXPECT_EQ(reqs[0].path, "/services/T1/B1/topsecret");
  auto body = nlohmann::json::parse(reqs[0].body);
  EXPECT_THAT(body["text"].get<std::string>(), HasSubstr("TargetDown"));
}

/// A restart with the state file: no second "firing", and the resolve after it arrives.
TEST(AlerterComponentTest, RestartNeitherResendsFiringNorLosesTheResolve) {
  SlackReceiver rx;
  support::TempDir dir;
  FakeClock clock;
  CurlHttpClient http;
  AlertsConfig cfg = support::RestartTestConfig(dir.File("alerts.json"));
  cfg.receivers[0] = support::SlackTestConfig(rx.Url());
  Snapshot down = support::MakeSnapshot({{"pgb", false}});
  Snapshot up = support::MakeSnapshot({{"pgb", true}});
  {
    Alerter a(cfg, clock, http);
    a.Start();
    a.Evaluate(down);
    ASSERT_TRUE(rx.WaitForDelivered(1, 10s));
    a.Stop();
  }
  ASSERT_THAT(support::ReadFile(cfg.state_file), HasSubstr("TargetDown"));
  {
    Alerter a(cfg, clock, http);
    a.Start();
    for (int i = 0; i < 5; ++i) {
      clock.Advance(1s);
      a.Evaluate(down);
    }
    std::this_thread::sleep_for(500ms);
    EXPECT_EQ(rx.Requests().size(), 1u) << "no second firing message after the restart";
    a.Stop();
  }
  {
    Alerter a(cfg, clock, http);
    a.Start();
    clock.Advance(2s);
    a.Evaluate(up);
    ASSERT_TRUE(rx.WaitForDelivered(2, 10s));
    a.Stop();
  }
  auto reqs = rx.Requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_THAT(reqs[1].body, HasSubstr("RESOLVED"));
}

/// A resolve that could not be delivered before the stop is delivered after the restart.
TEST(AlerterComponentTest, UndeliveredResolveSurvivesARestart) {
  SlackReceiver rx;
  support::TempDir dir;
  FakeClock clock;
  CurlHttpClient http;
  AlertsConfig cfg = support::RestartTestConfig(dir.File("alerts.json"));
  cfg.receivers[0] = support::SlackTestConfig(rx.Url());
  {
    Alerter a(cfg, clock, http);
    a.Start();
    a.Evaluate(support::MakeSnapshot({{"pgb", false}}));
    ASSERT_TRUE(rx.WaitForDelivered(1, 10s));
    rx.SetDefault(ScriptedAnswer::Error(503, "down"));
    clock.Advance(2s);
    a.Evaluate(support::MakeSnapshot({{"pgb", true}}));
    // The fake clock must move for the rate limit (1/s) to let the resolve out.
    ASSERT_TRUE(support::WaitUntil(
        [&] {
          clock.Advance(200ms);
          return rx.Requests().size() >= 2;
        },
        10s));
    a.Stop();
  }
  rx.SetDefault(ScriptedAnswer::Ok());
  Alerter a(cfg, clock, http);
  a.Start();
  clock.Advance(5s);
  a.Evaluate(support::MakeSnapshot({{"pgb", true}}));
  ASSERT_TRUE(rx.WaitForDelivered(2, 10s));
  a.Stop();
  EXPECT_THAT(rx.Delivered().back().body, HasSubstr("RESOLVED"));
}

}  // namespace
}  // namespace poolwatch

#include "exporter/app.h"

namespace poolwatch {
namespace {

/// A SIGHUP reload (no state file) carries alert state over: no second "firing" message, and
/// /status and /metrics show the alert throughout.
TEST(AlerterComponentTest, ReloadCarriesStateWithoutAStateFile) {
  SlackReceiver rx;
  support::TempDir dir;
  std::string yaml =
      "sampling: {interval: 200ms, timeout: 100ms}\n"
      "targets:\n  pgbouncer:\n    - name: dead\n"
      "      dsn: \"host=127.0.0.1 port=1 dbname=pgbouncer user=stats\"\n"
      "alerts:\n  rules: {target_down: {for: 0s}}\n"
      "  receivers: [{name: oncall, slack: {webhook_url: \"" +
      rx.Url() +
      "\"}}]\n"
      "  route: {group_wait: 0s, group_interval: 1s}\n";
  support::WriteFile(dir.File("pw.yaml"), yaml);
  Config cfg;
  ConfigError errors;
  ASSERT_TRUE(LoadConfigFile(dir.File("pw.yaml"), cfg, errors));
  cfg.listen_address = "127.0.0.1:0";
  SystemClock clock;
  App app(cfg, clock,
          [](const TargetConfig&, const Config&, SteadyTime, const std::atomic<bool>&) -> std::unique_ptr<Connection> {
            throw DbError("connection refused", DownReason::kRefused, "", true);
          });
  std::string error;
  ASSERT_TRUE(app.Start(error)) << error;
  ASSERT_TRUE(rx.WaitForDelivered(1, 10s));
  ASSERT_TRUE(app.Reload(dir.File("pw.yaml")));
  std::this_thread::sleep_for(2s);
  // Only TargetDown counts: on a loaded machine a 200 ms sampler can stall long enough for a
  // SamplerStale notification, which is not what this test is about.
  std::size_t target_down = 0;
  for (const auto& r : rx.Requests()) target_down += r.body.find("TargetDown") != std::string::npos;
  EXPECT_EQ(target_down, 1u) << "the reload announced the alert again";
  std::string base = "http://127.0.0.1:" + std::to_string(app.http_port());
  auto status = nlohmann::json::parse(support::HttpGet(base + "/status").body);
  ASSERT_EQ(status["alerts"].size(), 1u) << status.dump();
  EXPECT_EQ(status["alerts"][0]["labels"]["alertname"], "TargetDown");
  EXPECT_EQ(status["alerts"][0]["state"], "firing");
  EXPECT_THAT(status.dump(), Not(HasSubstr(rx.Url())));
  std::string m = support::HttpGet(base + "/metrics").body;
  EXPECT_EQ(
      support::MetricValue(m, "poolwatch_alerts", {"alertname=\"TargetDown\"", "state=\"firing\""}),
      1)
      << m;
  app.Stop();
}

}  // namespace
}  // namespace poolwatch
