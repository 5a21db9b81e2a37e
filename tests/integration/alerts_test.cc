// Alerting against the real PostgreSQL 15 + PgBouncer, the real poolwatch binary, a Slack-like
// receiver and a real Alertmanager.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "base/time.h"
#include "tests/support/integration.h"
#include "tests/support/slack_receiver.h"

namespace poolwatch {
namespace {

using support::CountWithText;
using support::ReceivedRequest;
using support::ScriptedAnswer;
using support::SlackMessageText;
using support::SlackReceiver;
using Clock = std::chrono::steady_clock;

PgStack*& stack = support::SharedStack({{"PGB_POOL_SIZE", "2"}});

/// A pgbouncer target nobody listens on: TargetDown, quickly and for real.
std::string DeadTarget(const std::string& name, int port) {
  return "    - name: " + name + "\n      dsn: \"host=127.0.0.1 port=" + std::to_string(port) +
         " dbname=pgbouncer user=stats connect_timeout=1\"\n"
         "      pool: {backoff: {initial: 100ms, max: 200ms}}\n";
}

struct Opts {
  std::string targets;  // the `targets:` body
  std::string rules = "    target_down: {for: 1s}\n";
  std::string receivers;  // the `receivers:` body (default: one slack receiver)
  std::string route = "    group_wait: 500ms\n    group_interval: 2s\n";
  std::string delivery = "    retry_initial: 500ms\n    retry_max: 2s\n";
  std::string state_file;
  std::string interval = "500ms";
  /// Short, so a test sees the resolved message soon after the condition clears.
  std::string incidents = "{resolve_after: 1s}";
};

std::string Yaml(const Opts& o) {
  return "sampling: {interval: " + o.interval +
         ", timeout: 400ms}\n"
         "targets:\n" +
         o.targets + "alerts:\n" +
         (o.state_file.empty() ? "" : "  state_file: " + o.state_file + "\n") +
         "  dashboard_url: \"https://grafana.example/d/poolwatch\"\n"
         "  incidents: " + o.incidents + "\n"
         "  rules:\n" +
         o.rules + "  receivers:\n" + o.receivers + "  route:\n" + o.route + "  delivery:\n" +
         o.delivery;
}

std::string SlackReceiverYaml(const std::string& name, const std::string& url,
                              const std::string& extra = "") {
  return "    - name: " + name + "\n      slack: {webhook_url: \"" + url + "\"" + extra + "}\n";
}

int FiringCount(const std::string& body) {
  std::smatch m;
  std::string text = nlohmann::json::parse(body).value("text", "");
  if (std::regex_search(text, m, std::regex("\\[FIRING:([0-9]+)\\]"))) return std::stoi(m[1]);
  return 0;
}

std::vector<ReceivedRequest> WithText(const SlackReceiver& rx, const std::string& needle) {
  std::vector<ReceivedRequest> out;
  for (const auto& r : rx.Delivered()) {
    if (r.body.find(needle) != std::string::npos) out.push_back(r);
  }
  return out;
}


TEST(AlertsIntegration, RetryAfterIsHonouredAndDeliveredOnce) {
  SlackReceiver rx;
  rx.Script({ScriptedAnswer::RateLimited(2)});
  Opts o;
  o.targets = "  pgbouncer:\n" + DeadTarget("dead", support::FreePort());
  o.receivers = SlackReceiverYaml("oncall", rx.Url());
  PoolwatchProcess pw(Yaml(o));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  ASSERT_TRUE(rx.WaitForDelivered(1, 20s)) << pw.Logs();
  std::this_thread::sleep_for(3s);
  auto reqs = rx.Requests();
  ASSERT_EQ(reqs.size(), 2u) << pw.Logs();
  EXPECT_EQ(reqs[0].answered_status, 429);
  EXPECT_GE(Seconds(reqs[1].arrival - reqs[0].arrival), 2.0);
  EXPECT_EQ(rx.Delivered().size(), 1u);
  std::string m = pw.Metrics();
  EXPECT_EQ(MetricValue(m, "poolwatch_notifications_total",
                        {"receiver=\"oncall\"", "result=\"delivered\""}),
            1)
      << m;
  EXPECT_EQ(MetricValue(m, "poolwatch_notifications_total",
                        {"receiver=\"oncall\"", "result=\"retried\""}),
            1);
  EXPECT_THAT(pw.Logs(), Not(HasSubstr(rx.Url())));
}

TEST(AlertsIntegration, ServerErrorsAreRetriedAndDeliveredOnce) {
  SlackReceiver rx;
  rx.Script({ScriptedAnswer::Error(500, "rollup_error"), ScriptedAnswer::Error(500, "rollup_error"),
             ScriptedAnswer::Error(500, "rollup_error")});
  Opts o;
  o.targets = "  pgbouncer:\n" + DeadTarget("dead", support::FreePort());
  o.receivers = SlackReceiverYaml("oncall", rx.Url());
  PoolwatchProcess pw(Yaml(o));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  ASSERT_TRUE(rx.WaitForDelivered(1, 30s)) << pw.Logs();
  std::this_thread::sleep_for(2s);
  auto reqs = rx.Requests();
  ASSERT_EQ(reqs.size(), 4u) << pw.Logs();
  for (std::size_t i = 1; i < reqs.size(); ++i) {
    EXPECT_GE(Seconds(reqs[i].arrival - reqs[i - 1].arrival), 0.35) << "backoff between attempts";
  }
  EXPECT_EQ(rx.Delivered().size(), 1u);
  EXPECT_THAT(SlackMessageText(rx.Delivered()[0].body), HasSubstr("TargetDown"));
}

TEST(AlertsIntegration, NotFoundIsPermanentNotRetriedAndCounted) {
  SlackReceiver rx;
  rx.SetDefault(ScriptedAnswer::Error(404, "channel_not_found"));
  Opts o;
  o.targets = "  pgbouncer:\n" + DeadTarget("dead", support::FreePort());
  o.receivers = SlackReceiverYaml("oncall", rx.Url());
  PoolwatchProcess pw(Yaml(o));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  ASSERT_TRUE(rx.WaitForRequests(1, 20s)) << pw.Logs();
  std::this_thread::sleep_for(5s);
  EXPECT_EQ(rx.Requests().size(), 1u) << "not retried";
  std::string m = pw.Metrics();
  EXPECT_EQ(MetricValue(m, "poolwatch_notifications_dropped_total",
                        {"receiver=\"oncall\"", "reason=\"channel_not_found\""}),
            1)
      << m;
  EXPECT_EQ(MetricValue(m, "poolwatch_notifications_total",
                        {"receiver=\"oncall\"", "result=\"failed_permanent\""}),
            1);
}

TEST(AlertsIntegration, HangingReceiverTimesOutAndRetriesWithoutBlockingSamplingOrMetrics) {
  SlackReceiver rx;
  rx.Script({ScriptedAnswer::Hang(20s)});
  Opts o;
  o.targets = "  pgbouncer:\n" + DeadTarget("dead", support::FreePort()) +
              "    - name: live\n      dsn: \"" + stack->PgbDsn() + "\"\n";
  o.receivers = SlackReceiverYaml("oncall", rx.Url(), ", timeout: 2s");
  PoolwatchProcess pw(Yaml(o));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  ASSERT_TRUE(rx.WaitForRequests(1, 20s)) << pw.Logs();
  // While the receiver hangs: /metrics answers fast and samples keep coming.
  double first =
      MetricValue(pw.Metrics(), "poolwatch_last_sample_timestamp_seconds", {"target=\"live\""});
  double worst = 0;
  for (int i = 0; i < 10; ++i) {
    auto r = HttpGet(pw.Url("/metrics"));
    ASSERT_EQ(r.status, 200);
    worst = std::max(worst, r.seconds);
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_LT(worst, 0.5);
  double later =
      MetricValue(pw.Metrics(), "poolwatch_last_sample_timestamp_seconds", {"target=\"live\""});
  EXPECT_GT(later, first) << "sampling continued while the receiver hung";
  ASSERT_TRUE(rx.WaitForDelivered(1, 20s)) << pw.Logs();
  auto reqs = rx.Requests();
  ASSERT_GE(reqs.size(), 2u);
  EXPECT_GE(Seconds(reqs[1].arrival - reqs[0].arrival), 1.9) << "after the 2s timeout";
  EXPECT_LT(Seconds(reqs[1].arrival - reqs[0].arrival), 10) << "not after the 20s hang";
  EXPECT_EQ(MetricValue(pw.Metrics(), "pgbouncer_up", {"target=\"live\""}), 1);
}

TEST(AlertsIntegration, BurstOfTwentyNeverExceedsTheRateLimitAndArrivesGrouped) {
  SlackReceiver rx;
  Opts o;
  o.targets = "  pgbouncer:\n";
  for (int i = 0; i < 20; ++i)
    o.targets += DeadTarget("dead" + std::to_string(i), support::FreePort());
  o.receivers = SlackReceiverYaml("oncall", rx.Url());
  o.route = "    group_by: [alertname, target]\n    group_wait: 1s\n    group_interval: 2s\n";
  PoolwatchProcess pw(Yaml(o));
  ASSERT_TRUE(pw.WaitReady(30s)) << pw.Logs();
  int firing = 0;
  ASSERT_TRUE(support::WaitUntil(
      [&] {
        firing = 0;
        for (const auto& r : rx.Delivered()) firing += FiringCount(r.body);
        return firing >= 20;
      },
      30s))
      << firing << "\n"
      << pw.Logs();
  std::this_thread::sleep_for(2s);
  auto reqs = rx.Requests();
  EXPECT_EQ(firing, 20);
  EXPECT_LE(reqs.size(), 5u) << "grouped, not one message per alert";
  for (std::size_t i = 1; i < reqs.size(); ++i) {
    EXPECT_GE(Seconds(reqs[i].arrival - reqs[i - 1].arrival), 0.95) << "rate limit ~1/s";
  }
  for (const auto& r : reqs) EXPECT_LT(r.body.size(), 6000u);
}

TEST(AlertsIntegration, HostileServerTextIsEscapedAndValidJson) {
  SlackReceiver rx;
  Opts o;
  // The real server's error names the database: `database "<!channel> & <b>" does not exist`.
  o.targets = "  postgres:\n    - name: hostile\n      dsn: \"host=127.0.0.1 port=" +
              std::to_string(stack->pg_port()) + " user=postgres dbname='<!channel> & <b>x'\"\n";
  o.receivers = SlackReceiverYaml("oncall", rx.Url());
  PoolwatchProcess pw(Yaml(o));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  ASSERT_TRUE(rx.WaitForDelivered(1, 20s)) << pw.Logs();
  std::string body = rx.Delivered()[0].body;
  std::string text;
  ASSERT_NO_THROW(text = SlackMessageText(body)) << body;
  EXPECT_THAT(text, HasSubstr("&lt;!channel&gt; &amp; &lt;b&gt;x")) << text;
  EXPECT_THAT(text, Not(HasSubstr("<!channel>")));
  EXPECT_LT(body.size(), 4000u);
}

TEST(AlertsIntegration, SendTestAlertReportsEachReceiver) {
  SlackReceiver rx;
  SlackReceiver broken;
  broken.SetDefault(ScriptedAnswer::Error(404, "channel_not_found"));
  support::TempDir dir;
  Opts o;
  o.targets = "  pgbouncer:\n" + DeadTarget("dead", support::FreePort());
  o.receivers = SlackReceiverYaml("good", rx.Url("/services/T/B/goodsecret"));
  std::string good = Yaml(o);
  support::WriteFile(dir.File("good.yaml"), good);
  std::string out;
  int rc = support::RunCommand(
      {support::PoolwatchBin(), "-c", dir.File("good.yaml"), "--send-test-alert"}, &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("receiver good: delivered"));
  EXPECT_THAT(out, Not(HasSubstr("goodsecret")));
  ASSERT_EQ(rx.Delivered().size(), 1u);
  EXPECT_THAT(SlackMessageText(rx.Delivered()[0].body), HasSubstr("test notification"));

  o.receivers += SlackReceiverYaml("bad", broken.Url("/services/T/B/badsecret"));
  support::WriteFile(dir.File("bad.yaml"), Yaml(o));
  rc = support::RunCommand(
      {support::PoolwatchBin(), "-c", dir.File("bad.yaml"), "--send-test-alert"}, &out);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_THAT(out, HasSubstr("receiver good: delivered"));
  EXPECT_THAT(out, HasSubstr("receiver bad: FAILED (permanent)"));
  EXPECT_THAT(out, HasSubstr("channel_not_found"));
  EXPECT_THAT(out, Not(HasSubstr("badsecret")));
}

TEST(AlertsIntegration, KillAndRestartWhileFiringNoSecondFiringAndResolveArrives) {
  SlackReceiver rx;
  support::TempDir dir;
  Opts o;
  o.targets = "  pgbouncer:\n    - name: bouncer\n      dsn: \"" + stack->PgbDsn() +
              "\"\n      pool: {backoff: {initial: 100ms, max: 200ms}}\n";
  o.receivers = SlackReceiverYaml("oncall", rx.Url());
  o.state_file = dir.File("alerts.json");
  stack->StopPgBouncer();
  {
    PoolwatchProcess pw(Yaml(o));
    ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
    ASSERT_TRUE(rx.WaitForDelivered(1, 20s)) << pw.Logs();
    std::this_thread::sleep_for(1s);  // a state write after the delivery
    pw.process().Signal(SIGKILL);
    pw.process().Wait(5s);
  }
  {
    PoolwatchProcess pw(Yaml(o));
    ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
    std::this_thread::sleep_for(4s);
    EXPECT_EQ(rx.Requests().size(), 1u) << "no second firing message\n" << pw.Logs();
    stack->StartPgBouncer();
    ASSERT_TRUE(rx.WaitForDelivered(2, 20s)) << pw.Logs();
    std::this_thread::sleep_for(3s);
  }
  auto d = rx.Delivered();
  ASSERT_EQ(d.size(), 2u);
  EXPECT_THAT(SlackMessageText(d[0].body), HasSubstr("FIRING"));
  EXPECT_THAT(SlackMessageText(d[1].body), HasSubstr("RESOLVED"));
  EXPECT_THAT(SlackMessageText(d[1].body), HasSubstr("lasted"));
}

/// Saturates PgBouncer's pool (pool_size 2) so a third client waits: real maxwait.
struct Saturation {
  std::vector<std::unique_ptr<Sql>> holders;
  std::unique_ptr<Sql> waiter;
  explicit Saturation(int n = 2) {
    for (int i = 0; i < n; ++i) {
      holders.push_back(std::make_unique<Sql>(stack->AppViaPgbDsn() + " application_name=holder-" +
                                              std::to_string(i)));
      holders.back()->Exec("BEGIN");
      holders.back()->Exec("SELECT 1");
    }
  }
  void Wait() {
    waiter = std::make_unique<Sql>(stack->AppViaPgbDsn() + " application_name=waiter");
    waiter->Send("SELECT 1");
  }
};

TEST(AlertsIntegration, TargetDownHoldsThePoolAlertsNeitherResolvedNorRefired) {
  SlackReceiver rx;
  Opts o;
  o.targets = "  pgbouncer:\n    - name: bouncer\n      dsn: \"" + stack->PgbDsn() +
              "\"\n      pool: {backoff: {initial: 100ms, max: 200ms}}\n";
  o.rules =
      "    target_down: {for: 3s}\n"
      "    clients_waiting: {warning: 1s, critical: 1h, for: 1s}\n";
  o.receivers = SlackReceiverYaml("oncall", rx.Url());
  o.route =
      "    group_by: [alertname, target]\n    group_wait: 500ms\n    group_interval: 1s\n"
      "    repeat_interval: 2s\n";
  PoolwatchProcess pw(Yaml(o));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  {
    Saturation sat;
    sat.Wait();
    ASSERT_TRUE(support::WaitUntil([&] { return !WithText(rx, "ClientsWaiting").empty(); }, 20s))
        << pw.Logs();
    EXPECT_THAT(SlackMessageText(WithText(rx, "ClientsWaiting")[0].body),
                HasSubstr("pool app/app"));
    auto t_down = Clock::now();
    stack->StopPgBouncer();
    ASSERT_TRUE(support::WaitUntil([&] { return !WithText(rx, "TargetDown").empty(); }, 20s))
        << pw.Logs();
    auto arrived = WithText(rx, "TargetDown")[0].arrival;
    EXPECT_GE(Seconds(arrived - t_down), 3.0) << "after its `for`";
    std::size_t waiting_msgs = WithText(rx, "ClientsWaiting").size();
    std::this_thread::sleep_for(6s);  // three repeat_intervals
    EXPECT_EQ(WithText(rx, "ClientsWaiting").size(), waiting_msgs) << "held: not re-sent";
    for (const auto& r : rx.Delivered()) {
      if (r.body.find("ClientsWaiting") != std::string::npos) {
        EXPECT_THAT(SlackMessageText(r.body), Not(HasSubstr("RESOLVED")));
      }
    }
    std::string st = HttpGet(pw.Url("/status")).body;
    auto j = nlohmann::json::parse(st);
    bool held = false;
    for (const auto& a : j["alerts"]) {
      if (a["labels"]["alertname"] == "ClientsWaiting") held = a["held"].get<bool>();
    }
    EXPECT_TRUE(held) << st;
  }
  stack->StartPgBouncer();
  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& m) {
        return MetricValue(m, "pgbouncer_up", {"target=\"bouncer\""}) == 1;
      },
      20s));
}

// --- Real Alertmanager ------------------------------------------------------------------------

class Alertmanager {
 public:
  explicit Alertmanager(const std::string& slack_url) : port_(support::FreePort()) {
    support::WriteFile(dir_.File("am.yml"),
                       "route:\n"
                       "  receiver: slack\n"
                       "  group_by: [alertname, target]\n"
                       "  group_wait: 1s\n"
                       "  group_interval: 30s\n"
                       "  repeat_interval: 1h\n"
                       "receivers:\n"
                       "  - name: slack\n"
                       "    slack_configs:\n"
                       "      - api_url: \"" +
                           slack_url +
                           "\"\n"
                           "        channel: \"#oncall\"\n"
                           "        send_resolved: false\n");
    proc_ = std::make_unique<support::Process>(std::vector<std::string>{
        "/usr/bin/prometheus-alertmanager", "--config.file=" + dir_.File("am.yml"),
        "--storage.path=" + dir_.File("data"),
        "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--cluster.listen-address="});
  }
  ~Alertmanager() {
    proc_->Signal(SIGTERM);
    if (proc_->Wait(10s) < 0) proc_->Signal(SIGKILL);
  }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  bool WaitReady() {
    return support::WaitUntil([&] { return HttpGet(Url() + "/-/ready").status == 200; }, 20s);
  }
  std::string Logs() const { return proc_->Stderr(); }

 private:
  support::TempDir dir_;
  int port_;
  std::unique_ptr<support::Process> proc_;
};

TEST(AlertsIntegration, ThreeInstancesThroughOneAlertmanagerMakeOneSlackMessage) {
  SlackReceiver rx;
  Alertmanager am(rx.Url());
  ASSERT_TRUE(am.WaitReady()) << am.Logs();
  int dead_port = support::FreePort();
  Opts o;
  o.targets = "  pgbouncer:\n" + DeadTarget("shared-bouncer", dead_port);
  o.receivers = "    - name: am\n      alertmanager: {urls: [\"" + am.Url() + "\"]}\n";
  std::vector<std::unique_ptr<PoolwatchProcess>> pws;
  for (int i = 0; i < 3; ++i) {
    pws.push_back(std::make_unique<PoolwatchProcess>(Yaml(o)));
    ASSERT_TRUE(pws.back()->WaitReady()) << pws.back()->Logs();
  }
  ASSERT_TRUE(rx.WaitForDelivered(1, 30s)) << am.Logs();
  std::this_thread::sleep_for(8s);
  auto d = rx.Delivered();
  ASSERT_EQ(d.size(), 1u) << am.Logs();
  EXPECT_THAT(d[0].body, HasSubstr("TargetDown"));
  for (auto& pw : pws) {
    std::string m = pw->Metrics();
    EXPECT_GE(MetricValue(m, "poolwatch_notifications_total",
                          {"receiver=\"am\"", "result=\"delivered\""}),
              1)
        << m;
  }
  // Alertmanager holds one alert, not three.
  auto alerts = nlohmann::json::parse(HttpGet(am.Url() + "/api/v2/alerts").body);
  ASSERT_EQ(alerts.size(), 1u) << alerts.dump();
  EXPECT_EQ(alerts[0]["labels"]["alertname"], "TargetDown");
  EXPECT_EQ(alerts[0]["labels"]["target"], "shared-bouncer");
}

// --- These two read the utilization, leak and offender collectors. ----------------------------
// They read the agreed metric names; on a branch without those collectors they skip, saying so.

bool HasMetric(PoolwatchProcess& pw, const std::string& name) {
  return pw.WaitMetric(
      [&](const std::string& m) { return m.find("\n" + name + "{") != std::string::npos; }, 5s);
}

TEST(AlertsIntegration, SaturatedPoolOneFiringMessageNamingPoolAndHoldersThenOneResolved) {
  SlackReceiver rx;
  Opts o;
  o.targets = "  postgres:\n    - name: pg\n      dsn: \"" + stack->PgDsn("app") +
              "\"\n"
              "  pgbouncer:\n    - name: bouncer\n      dsn: \"" +
              stack->PgbDsn() + "\"\n";
  o.rules =
      "    target_down: {for: 1s}\n"
      "    pool_utilization: {warning: 0.80, critical: 0.90, for: 2s}\n"
      "    clients_waiting: {enabled: false}\n"
      "    long_transaction: {enabled: false}\n"
      "    connection_leak: {enabled: false}\n";
  o.receivers = SlackReceiverYaml("oncall", rx.Url());
  o.route = "    group_by: [alertname, target]\n    group_wait: 0s\n    group_interval: 1s\n";
  PoolwatchProcess pw(Yaml(o));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  // The rule reads this family: a build that stopped exporting it must fail here.
  ASSERT_TRUE(HasMetric(pw, "poolwatch_pool_utilization_ratio")) << pw.Logs();
  std::vector<int> pids;
  Clock::time_point saturated;
  {
    Saturation sat;
    saturated = Clock::now();
    ASSERT_TRUE(rx.WaitForDelivered(1, 20s)) << pw.Logs();
    auto first = rx.Delivered()[0];
    // interval (0.5s) + for (2s) + 1s, plus the collectors' own lag of one interval.
    EXPECT_LE(Seconds(first.arrival - saturated), 0.5 + 2 + 1 + 0.5);
    std::string text = SlackMessageText(first.body);
    EXPECT_THAT(text, HasSubstr("PoolUtilizationHigh"));
    EXPECT_THAT(text, HasSubstr("database app"));
    EXPECT_THAT(text, HasSubstr("holder-"));
    std::this_thread::sleep_for(3s);
    EXPECT_EQ(rx.Delivered().size(), 1u) << "exactly one firing message";
  }
  ASSERT_TRUE(rx.WaitForDelivered(2, 20s)) << pw.Logs();
  std::this_thread::sleep_for(3s);
  auto d = rx.Delivered();
  ASSERT_EQ(d.size(), 2u);
  EXPECT_THAT(SlackMessageText(d[1].body), HasSubstr("RESOLVED"));
}

TEST(AlertsIntegration, IdleInTransactionPastLeakTimeoutOneConnectionLeakNamingPidAndApp) {
  SlackReceiver rx;
  Opts o;
  o.targets = "  postgres:\n    - name: pg\n      dsn: \"" + stack->PgDsn("app") +
              "\"\n      leak_timeout: 2s\n";
  o.rules =
      "    target_down: {for: 1s}\n"
      "    connection_leak: {threshold: 0, for: 1s}\n"
      "    long_transaction: {enabled: false}\n";
  o.receivers = SlackReceiverYaml("oncall", rx.Url());
  o.route = "    group_by: [alertname, target]\n    group_wait: 0s\n    group_interval: 1s\n";
  PoolwatchProcess pw(Yaml(o));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  // The rule reads this family: a build that stopped exporting it must fail here.
  ASSERT_TRUE(HasMetric(pw, "poolwatch_connection_leaks")) << pw.Logs();
  Sql leaky(stack->SuperDsn("app") + " application_name=leaky-app");
  leaky.Exec("BEGIN");
  leaky.Exec("SELECT 1");
  // A hostile neighbour: Slack control sequence as application_name, a 10 KB query.
  Sql hostile(stack->SuperDsn("app") + " application_name=<!channel>");
  hostile.Exec("BEGIN");
  hostile.Exec("SELECT '" + std::string(10 * 1024, 'q') + "' AS x");
  ASSERT_TRUE(support::WaitUntil([&] { return !WithText(rx, "ConnectionLeak").empty(); }, 30s))
      << pw.Logs();
  std::this_thread::sleep_for(3s);
  auto msgs = WithText(rx, "ConnectionLeak");
  ASSERT_EQ(msgs.size(), 1u);
  std::string text = SlackMessageText(msgs[0].body);
  EXPECT_THAT(text, HasSubstr("pid " + std::to_string(leaky.BackendPid())));
  EXPECT_THAT(text, HasSubstr("leaky-app"));
  EXPECT_THAT(text, Not(HasSubstr("<!channel>")));
  EXPECT_LT(msgs[0].body.size(), 4000u);
}

}  // namespace
}  // namespace poolwatch
