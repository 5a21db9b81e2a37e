// Alerter::Shutdown with the production libcurl client against the Slack-like receiver:
// a request hanging at the end of the grace period is cancelled promptly and its notification is
// persisted, not lost and not counted as a failure; a slow receiver gets its message first.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "alerts/alerter.h"
#include "tests/support/alerts_support.h"
#include "tests/support/slack_receiver.h"
#include "tests/support/util.h"

namespace poolwatch {
namespace {

using namespace std::chrono_literals;
using support::ScriptedAnswer;
using support::SlackReceiver;
using ::testing::HasSubstr;
using ::testing::Not;

AlertsConfig Config(const SlackReceiver& rx, const support::TempDir& dir) {
  AlertsConfig cfg = support::TestAlertsConfig();
  cfg.receivers[0] = support::SlackTestConfig(rx.Url());
  cfg.receivers[0].timeout = 20s;
  cfg.state_file = dir.File("alerts.json");
  cfg.route.group_wait = 0s;
  cfg.rules["target_down"].for_duration = 0s;
  return cfg;
}

nlohmann::json Queued(const std::string& state_file) {
  return nlohmann::json::parse(support::ReadFile(state_file)).at("queued");
}

TEST(AlerterShutdownComponentTest, AHangingRequestIsCancelledAtTheGraceAndPersisted) {
  SlackReceiver rx;
  rx.SetDefault(ScriptedAnswer::Hang(30s));
  support::TempDir dir;
  SystemClock clock;
  AlertsConfig cfg = Config(rx, dir);
  Alerter a(cfg, clock);  // its own libcurl client, cancelled at the end of the grace
  a.Start();
  a.Evaluate(support::MakeSnapshot({{"pgb", false}}));
  ASSERT_TRUE(rx.WaitForRequests(1, 10s));
  auto t0 = std::chrono::steady_clock::now();
  a.Shutdown(500ms);
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, 500ms);
  EXPECT_LT(took, 3s) << "not the receiver's 20s timeout";
  auto queued = Queued(cfg.state_file);
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_THAT(queued.dump(), HasSubstr("TargetDown"));
  MetricSet m;
  a.AddMetrics(m);
  EXPECT_THAT(RenderText(m), Not(HasSubstr("reason=\"cancelled\""))) << "not a failure";
}

TEST(AlerterShutdownComponentTest, ASlowReceiverGetsItsMessageWithinTheGrace) {
  SlackReceiver rx;
  rx.SetDefault(ScriptedAnswer::Slow(700ms));
  support::TempDir dir;
  SystemClock clock;
  AlertsConfig cfg = Config(rx, dir);
  Alerter a(cfg, clock);
  a.Start();
  a.Evaluate(support::MakeSnapshot({{"pgb", false}}));
  ASSERT_TRUE(rx.WaitForRequests(1, 10s));
  a.Shutdown(5s);
  EXPECT_EQ(rx.Delivered().size(), 1u);
  EXPECT_TRUE(Queued(cfg.state_file).empty());
}

}  // namespace
}  // namespace poolwatch
