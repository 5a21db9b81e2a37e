// Slack, Alertmanager and log rendering: golden Slack JSON, escaping, truncation, invalid UTF-8.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <nlohmann/json.hpp>

#include "alerts/render.h"
#include "alerts/text.h"
#include "base/strings.h"
#include "base/time.h"
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
  std::string path = support::SourceDir() + "/tests/unit/golden/" + name;
  if (!support::Env("POOLWATCH_UPDATE_GOLDEN").empty()) support::WriteFile(path, pretty);
  EXPECT_EQ(pretty, support::ReadFile(path))
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

// The cases below were found by tests/fuzz/slack_fuzz.cc and alertmanager_fuzz.cc.

/// Every text of a Slack payload: the fallback, sections and context elements.
std::vector<std::string> Texts(const nlohmann::json& msg) {
  std::vector<std::string> out = {msg["text"].get<std::string>()};
  for (const auto& att : msg["attachments"]) {
    for (const auto& b : att["blocks"]) {
      if (b.contains("text")) out.push_back(b["text"]["text"].get<std::string>());
      if (b.contains("elements")) {
        for (const auto& e : b["elements"]) out.push_back(e["text"].get<std::string>());
      }
    }
  }
  return out;
}

bool EveryAmpersandStartsAnEscape(const std::string& t) {
  for (std::size_t i = t.find('&'); i != std::string::npos; i = t.find('&', i + 1)) {
    if (t.compare(i, 5, "&amp;") != 0 && t.compare(i, 4, "&lt;") != 0 &&
        t.compare(i, 4, "&gt;") != 0) {
      return false;
    }
  }
  return true;
}

TEST(SlackRenderTest, ControlCharactersNeverReachTheText) {
  Alert a = Saturated();
  a.summary = "sum\x01mary \x1b[31mred\x1b[0m\r";
  a.offenders[0].client_addr = "10.0.0.1\nFAKE LINE *RESOLVED*";
  a.offenders[0].query = std::string("select \x07\x7f 1");
  a.detail = "line one\nline two\x02";
  auto j = nlohmann::json::parse(RenderSlack(Group({a}), kNow));
  for (const auto& t : Texts(j)) {
    for (unsigned char c : t) EXPECT_FALSE((c < 0x20 && c != '\n') || c == 0x7f) << t;
    EXPECT_THAT(t, Not(HasSubstr("\nFAKE LINE"))) << "a value cannot start a line of its own";
  }
  std::string all = AllText(j);
  EXPECT_THAT(all, HasSubstr("line one\nline two")) << "the detail keeps its lines";
  EXPECT_THAT(all, HasSubstr("red"));
}

TEST(SlackRenderTest, PasswordsAndWebhookPathsInOutsideStringsAreRedacted) {
  Alert a = Saturated();
  a.summary = "cannot reach postgres://app:S3cr3tPw@db:5432/x";
  a.detail = "host=db user=app password=S3cr3tPw dbname=x";
  a.offenders[0].query = "select dblink_connect('host=x password=S3cr3tPw')";
  a.offenders[0].usename = "https://hooks.slack.com/services/T0/B0/HookSecret1";
  for (const std::string& out :
       {RenderSlack(Group({a}), kNow), RenderAlertmanager(Group({a}), kNow)}) {
    EXPECT_THAT(out, Not(HasSubstr("S3cr3tPw"))) << out;
    EXPECT_THAT(out, Not(HasSubstr("HookSecret1"))) << out;
    EXPECT_THAT(out, HasSubstr("******"));
  }
}

TEST(SlackRenderTest, CutTextNeverSplitsAnEscapeAndKeepsTheRunbookLink) {
  // Offenders full of '&' make the section too long; wherever the cut falls (the summary length
  // moves it), it must not leave "&am" behind, and the runbook link stays whole.
  for (int shift = 0; shift < 12; ++shift) {
    Alert a = Saturated();
    a.summary = std::string(static_cast<std::size_t>(shift), 's');
    a.offenders.assign(5, a.offenders[0]);
    for (auto& o : a.offenders) {
      o.usename = o.application_name = o.datname = std::string(200, '&');
      o.query = std::string(300, '&');
    }
    auto j = nlohmann::json::parse(RenderSlack(Group({a}), kNow, 10000));
    const auto& blocks = j["attachments"][0]["blocks"];
    ASSERT_GE(blocks.size(), 2u);
    std::string section = blocks[1]["text"]["text"].get<std::string>();
    EXPECT_LE(section.size(), 3000u);
    EXPECT_TRUE(EveryAmpersandStartsAnEscape(section)) << section;
    EXPECT_THAT(section,
                ::testing::EndsWith("<https://runbooks.example/pool?x=1&amp;y=2|Runbook>\n"));
  }
}

TEST(SlackRenderTest, EscapingCannotBlowTheHeaderPastTheBudget) {
  // Truncating before escaping let 200 '&' become 1000 bytes; the header then used the whole
  // budget and no alert was shown.
  Alert a = Saturated();
  a.labels["alertname"] = std::string(300, '&');
  Notification n = Group({a});
  n.group_labels["target"] = std::string(300, '&');
  n.group_labels["database"] = std::string(300, '<');
  auto j = nlohmann::json::parse(RenderSlack(n, kNow));
  std::string fallback = j["text"].get<std::string>();
  EXPECT_LE(fallback.size(), 450u) << fallback;
  EXPECT_TRUE(EveryAmpersandStartsAnEscape(fallback));
  std::size_t total = 0;
  for (const auto& t : Texts(j)) total += t.size();
  EXPECT_LE(total, 3000u);
  EXPECT_THAT(AllText(j), HasSubstr("pid 31337")) << "the alert itself is shown";
}

TEST(TextTest, FormatValueHandlesNonFiniteAndHugeValues) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(FormatValue(nan, "seconds"), "NaN");
  EXPECT_EQ(FormatValue(inf, "seconds"), "+Inf");
  EXPECT_EQ(FormatValue(-inf, "ratio"), "-Inf");
  EXPECT_EQ(FormatValue(1e300, "seconds"), "1e+300s");
  EXPECT_EQ(FormatValue(-1e300, "seconds"), "-1e+300s");
  EXPECT_EQ(FormatValue(1e20, "ratio"), "1e+22%");
  EXPECT_EQ(FormatValue(3725, "seconds"), "1h2m") << "ordinary values unchanged";
  Alert a = Saturated();
  a.value = nan;
  a.unit = "seconds";
  a.offenders[0].xact_age_seconds = inf;
  auto j = nlohmann::json::parse(RenderSlack(Group({a}), kNow));
  EXPECT_THAT(AllText(j), HasSubstr("transaction +Inf"));
}

TEST(AlertmanagerRenderTest, LabelsAndAnnotationsAreBoundedAndValid) {
  Alert a = Saturated();
  a.labels["database"] = std::string(100 * 1024, 'd') + "\xff";
  a.summary = std::string(100 * 1024, '\xe2');
  a.offenders.assign(5, a.offenders[0]);
  for (auto& o : a.offenders) o.usename = std::string(100 * 1024, 'u');
  std::string out = RenderAlertmanager(Group({a}), kNow);
  auto j = nlohmann::json::parse(out);  // valid JSON, valid UTF-8
  EXPECT_LE(j[0]["labels"]["database"].get<std::string>().size(), 1024u);
  EXPECT_THAT(j[0]["labels"]["database"].get<std::string>(), ::testing::StartsWith("ddd"));
  EXPECT_LE(j[0]["annotations"]["summary"].get<std::string>().size(), 1000u);
  EXPECT_LE(j[0]["annotations"]["who"].get<std::string>().size(), 1000u);
  EXPECT_THAT(j[0]["annotations"]["who"].get<std::string>(), HasSubstr("pid 31337"));
  EXPECT_LT(out.size(), 8000u);
}

}  // namespace
}  // namespace poolwatch
