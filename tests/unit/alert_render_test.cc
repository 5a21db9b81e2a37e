// Slack, Alertmanager and log rendering: golden Slack JSON, escaping, truncation, invalid UTF-8.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "alerts/render.h"
#include "alerts/text.h"
#include "tests/support/util.h"

namespace poolwatch {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

const WallTime kNow = WallTime(std::chrono::seconds(1'800'000'000));

Alert Saturated() {
  Alert a;
  a.labels = {{"alertname", "PoolUtilizationHigh"}, {"severity", "critical"}, {"target", "bouncer"},
              {"kind", "pgbouncer_server"},         {"database", "app"},      {"user", "app"}};
  a.state = AlertState::kFiring;
  a.value = 1.0;
  a.threshold = 0.9;
  a.unit = "ratio";
  a.summary =
      "Server pool utilization 100.0% (threshold 90.0%) on target bouncer, database app, user app "
      "(pgbouncer_server)";
  a.active_since = kNow - 150s;
  a.starts_at = kNow - 90s;
  a.runbook_url = "https://runbooks.example/pool?x=1&y=2";
  Offender o;
  o.category = "long_transaction";
  o.pid = 31337;
  o.usename = "app";
  o.datname = "app";
  o.application_name = "billing-worker";
  o.client_addr = "10.1.2.3";
  o.state = "idle in transaction";
  o.xact_age_seconds = 95;
  o.state_age_seconds = 80;
  o.wait_event = "ClientRead";
  o.query = "UPDATE invoices SET paid = ? WHERE id = ?";
  a.offenders.push_back(o);
  return a;
}

Notification Group(std::vector<Alert> alerts) {
  Notification n;
  n.receiver = "oncall";
  n.group_key = "oncall{alertname=PoolUtilizationHigh,target=bouncer}";
  n.group_labels = {{"alertname", "PoolUtilizationHigh"}, {"target", "bouncer"}};
  n.alerts = std::move(alerts);
  n.created = kNow;
  n.dashboard_url = "https://grafana.example/d/poolwatch";
  return n;
}

void CheckGolden(const std::string& name, const std::string& rendered) {
  std::string pretty = nlohmann::json::parse(rendered).dump(2) + "\n";
  std::string path = testing::SourceDir() + "/tests/unit/golden/" + name;
  if (!testing::Env("POOLWATCH_UPDATE_GOLDEN").empty()) testing::WriteFile(path, pretty);
  EXPECT_EQ(pretty, testing::ReadFile(path))
      << "golden " << path << " (POOLWATCH_UPDATE_GOLDEN=1 rewrites it)";
}

std::string AllText(const nlohmann::json& msg) {
  std::string t = msg["text"].get<std::string>();
  for (const auto& att : msg["attachments"]) {
    for (const auto& b : att["blocks"]) {
      if (b.contains("text")) t += "\n" + b["text"]["text"].get<std::string>();
      if (b.contains("elements")) {
        for (const auto& e : b["elements"]) t += "\n" + e["text"].get<std::string>();
      }
    }
  }
  return t;
}

TEST(SlackRenderTest, FiringMatchesGolden) {
  std::string out = RenderSlack(Group({Saturated()}), kNow);
  CheckGolden("slack_firing.json", out);
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["attachments"][0]["color"], "danger");
  std::string text = AllText(j);
  EXPECT_THAT(text, HasSubstr("pid 31337"));
  EXPECT_THAT(text, HasSubstr("billing-worker"));
  EXPECT_THAT(text, HasSubstr("100.0% (threshold 90.0%)"));
  EXPECT_THAT(text, HasSubstr("|Runbook>"));
  EXPECT_THAT(text, HasSubstr("|Dashboard>"));
}

TEST(SlackRenderTest, ResolvedMatchesGoldenAndSaysHowLongItLasted) {
  Alert a = Saturated();
  a.state = AlertState::kResolved;
  a.resolved_at = kNow;
  std::string out = RenderSlack(Group({a}), kNow);
  CheckGolden("slack_resolved.json", out);
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["attachments"][0]["color"], "good");
  EXPECT_THAT(AllText(j), HasSubstr("lasted 1m30s"));
}

TEST(SlackRenderTest, WarningColour) {
  Alert a = Saturated();
  a.labels["severity"] = "warning";
  auto j = nlohmann::json::parse(RenderSlack(Group({a}), kNow));
  EXPECT_EQ(j["attachments"][0]["color"], "warning");
}

TEST(SlackRenderTest, HostileStringsAreEscapedTruncatedAndValidJson) {
  Alert a = Saturated();
  a.labels["database"] = "<!channel>";
  a.summary = "on database <!channel> & <@U123>";
  a.offenders[0].application_name = "<!channel>";
  a.offenders[0].usename = "<!here> & co";
  a.offenders[0].query = std::string(10 * 1024, 'x') + "<!everyone>";
  a.offenders[0].client_addr = std::string("\xff\xfe bad \xc3\x28 utf8 \xed\xa0\x80");
  a.detail = "error: \x80\x81 <b>";
  std::string out = RenderSlack(Group({a}), kNow);
  nlohmann::json j;
  ASSERT_NO_THROW(j = nlohmann::json::parse(out));  // valid JSON, valid UTF-8
  std::string text = AllText(j);
  EXPECT_THAT(text, Not(HasSubstr("<!channel>")));
  EXPECT_THAT(text, Not(HasSubstr("<!here>")));
  EXPECT_THAT(text, Not(HasSubstr("<@U123>")));
  EXPECT_THAT(text, Not(HasSubstr("<!everyone>")));
  EXPECT_THAT(text, HasSubstr("&lt;!channel&gt;"));
  EXPECT_THAT(text, HasSubstr("&amp; co"));
  EXPECT_LT(out.size(), 3500u);
  EXPECT_EQ(SanitizeUtf8(out), out);
}

TEST(SlackRenderTest, ManyAlertsStayUnderTheBudgetWithAndNMore) {
  std::vector<Alert> alerts;
  for (int i = 0; i < 60; ++i) {
    Alert a = Saturated();
    a.labels["database"] = "db" + std::to_string(i);
    for (int k = 0; k < 8; ++k) a.offenders.push_back(a.offenders[0]);
    alerts.push_back(a);
  }
  std::string out = RenderSlack(Group(alerts), kNow);
  auto j = nlohmann::json::parse(out);
  std::string text = AllText(j);
  EXPECT_LT(text.size(), 3000u);
  EXPECT_THAT(text, HasSubstr("more"));
  EXPECT_THAT(text, ::testing::ContainsRegex("\\.\\.\\.and [0-9]+ more"));
  EXPECT_THAT(text, HasSubstr("[FIRING:60]"));
  EXPECT_LE(j["attachments"][0]["blocks"].size(), 50u);
  for (const auto& b : j["attachments"][0]["blocks"]) {
    if (b.contains("text")) {
      EXPECT_LE(b["text"]["text"].get<std::string>().size(), 3000u);
    }
  }
}

TEST(SlackRenderTest, TestNotification) {
  Notification n;
  n.receiver = "oncall";
  n.test = true;
  auto j = nlohmann::json::parse(RenderSlack(n, kNow));
  EXPECT_THAT(j["text"].get<std::string>(), HasSubstr("test notification"));
}

TEST(AlertmanagerRenderTest, EndsAtFollowsTheProtocol) {
  Alert f = Saturated();
  Alert r = Saturated();
  r.labels["database"] = "other";
  r.state = AlertState::kResolved;
  r.resolved_at = kNow - 10s;
  Notification n = Group({f, r});
  n.eval_interval = 5s;
  auto j = nlohmann::json::parse(RenderAlertmanager(n, kNow));
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["endsAt"], Rfc3339(kNow + 4min)) << "now + 4 x max(interval, 1m)";
  EXPECT_EQ(j[0]["startsAt"], Rfc3339(kNow - 90s));
  EXPECT_EQ(j[1]["endsAt"], Rfc3339(kNow - 10s));
  EXPECT_EQ(j[0]["labels"]["alertname"], "PoolUtilizationHigh");
  EXPECT_FALSE(j[0]["labels"].contains("value"));
  EXPECT_THAT(j[0]["annotations"]["who"].get<std::string>(), HasSubstr("31337"));
  n.eval_interval = 2min;
  j = nlohmann::json::parse(RenderAlertmanager(n, kNow));
  EXPECT_EQ(j[0]["endsAt"], Rfc3339(kNow + 8min));
}

TEST(LogRenderTest, OneJsonLine) {
  std::string line = RenderLogLine(Group({Saturated()}), kNow);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["alerts"][0]["status"], "firing");
  EXPECT_EQ(j["alerts"][0]["offenders"][0]["pid"], 31337);
}

TEST(TextTest, Utf8AndEscaping) {
  EXPECT_EQ(SanitizeUtf8("ok \xc3\xa9"), "ok \xc3\xa9");
  EXPECT_EQ(SanitizeUtf8("\xff"), "\xEF\xBF\xBD");
  EXPECT_EQ(SanitizeUtf8("\xc0\xaf"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong
  EXPECT_EQ(TruncateUtf8("\xc3\xa9\xc3\xa9\xc3\xa9", 5), "\xc3\xa9...");
  EXPECT_EQ(TruncateUtf8("\xc3\xa9\xc3\xa9\xc3\xa9", 6), "\xc3\xa9\xc3\xa9\xc3\xa9");
  EXPECT_EQ(TruncateUtf8("abcdefgh", 6), "abc...");
  EXPECT_EQ(EscapeSlack("<a & b>"), "&lt;a &amp; b&gt;");
  EXPECT_EQ(HumanDuration(90s), "1m30s");
  EXPECT_EQ(HumanDuration(3h + 5min), "3h5m");
  WallTime t;
  ASSERT_TRUE(ParseRfc3339(Rfc3339(kNow + 123ms), t));
  EXPECT_EQ(t, kNow + 123ms);
}

}  // namespace
}  // namespace poolwatch
