// One stuck target must not stall the others. PgBouncer stopped with SIGSTOP,
// and separately a PostgreSQL target whose logins hang (a listener that accepts and never
// answers) with pool.min: 2: the healthy target's samples stay fresh (age under interval +
// timeout), /healthz stays 200 for 30 s, and SIGTERM in the middle of it exits within 1 s.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include "tests/support/integration.h"
#include "tests/support/silent_listener.h"
#include "tests/support/slack_receiver.h"

namespace poolwatch {
namespace {

using support::SilentListener;

PgStack*& stack = support::SharedStack();

constexpr double kInterval = 2.0;
constexpr double kTimeout = 1.5;
// The snapshot is assembled and published after the slowest target's budget ends; what a
// scraper sees can be that much older than interval + timeout.
constexpr double kPublishSlack = 0.25;

std::string Config(const std::string& extra_targets) {
  return support::SamplingYaml("2s", "1500ms") + "targets:\n  postgres:\n" +
         support::TargetYaml("healthy", stack->PgDsn(), extra_targets);
}

struct Watch {
  double max_age = 0;
  int polls = 0;
  int healthz_not_200 = 0;
  int healthy_down = 0;
};

// Polls /metrics and /healthz every 200 ms for `seconds`.
Watch WatchHealthy(PoolwatchProcess& pw, double seconds) {
  Watch w;
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    auto m = HttpGet(pw.Url("/metrics"), {}, 3000);
    double now = std::chrono::duration<double>(
                     std::chrono::system_clock::now().time_since_epoch()).count();
    double ts = MetricValue(m.body, "poolwatch_last_sample_timestamp_seconds",
                            {"target=\"healthy\""});
    if (!std::isnan(ts)) w.max_age = std::max(w.max_age, now - ts);
    if (MetricValue(m.body, "pg_up", {"target=\"healthy\""}) != 1) ++w.healthy_down;
    if (HttpGet(pw.Url("/healthz"), {}, 3000).status != 200) ++w.healthz_not_200;
    ++w.polls;
    std::this_thread::sleep_for(200ms);
  }
  return w;
}

double SigtermExitSeconds(PoolwatchProcess& pw) {
  auto t0 = std::chrono::steady_clock::now();
  pw.process().Signal(SIGTERM);
  int rc = pw.process().Wait(10s);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(rc, 0);
  return s;
}

void Report(const char* what, const Watch& w, double exit_s) {
  std::printf("%s: healthy target's max sample age %.3f s (bound interval + timeout = %.1f s), "
              "/healthz non-200 %d of %d polls, healthy published down %d times; SIGTERM exit "
              "%.3f s\n",
              what, w.max_age, kInterval + kTimeout, w.healthz_not_200, w.polls, w.healthy_down,
              exit_s);
  EXPECT_LT(w.max_age, kInterval + kTimeout + kPublishSlack);
  EXPECT_EQ(w.healthz_not_200, 0);
  EXPECT_EQ(w.healthy_down, 0);
  EXPECT_LT(exit_s, 1.0) << "shutdown aborts a connect in progress";
}

TEST(StallIntegration, StoppedPgBouncerDoesNotStallTheHealthyTarget) {
  PoolwatchProcess pw(Config("  pgbouncer:\n    - name: stuck\n      dsn: \"" + stack->PgbDsn() +
                             "\"\n"));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& m) { return MetricValue(m, "pgbouncer_up", {"target=\"stuck\""}) == 1; },
      10s));
  const int pgb = std::stoi(support::ReadFile(stack->dir() + "/pgbouncer.pid"));
  ASSERT_EQ(::kill(pgb, SIGSTOP), 0);
  Watch w = WatchHealthy(pw, 30);
  std::string m = pw.Metrics();
  double stuck_up = MetricValue(m, "pgbouncer_up", {"target=\"stuck\""});
  double exit_s = SigtermExitSeconds(pw);
  ::kill(pgb, SIGCONT);
  EXPECT_EQ(stuck_up, 0) << "the stopped PgBouncer is down";
  Report("PgBouncer SIGSTOPped", w, exit_s);
}

TEST(StallIntegration, HangingLoginsWithPoolMinDoNotStallTheHealthyTarget) {
  SilentListener silent;
  PoolwatchProcess pw(Config("    - name: hangs\n      dsn: \"host=127.0.0.1 port=" +
                             std::to_string(silent.port()) +
                             " dbname=postgres user=poolwatch\"\n"
                             "      pool: {min: 2, max: 3, backoff: {initial: 100ms, max: 200ms}}\n"));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  Watch w = WatchHealthy(pw, 30);
  std::string m = pw.Metrics();
  EXPECT_EQ(MetricValue(m, "pg_up", {"target=\"hangs\""}), 0);
  double exit_s = SigtermExitSeconds(pw);
  Report("PostgreSQL logins hang, pool.min 2", w, exit_s);
}

std::string ReloadConfig(const std::string& interval, const std::string& timeout,
                         const std::string& slack_url) {
  return "sampling: {interval: " + interval + ", timeout: " + timeout + "}\n"
         "targets:\n"
         "  postgres:\n"
         "    - name: healthy\n"
         "      dsn: \"" + stack->PgDsn() + "\"\n"
         "  pgbouncer:\n"
         "    - name: bouncer\n"
         "      dsn: \"" + stack->PgbDsn() + "\"\n"
         "alerts:\n"
         "  rules:\n"
         "    target_down: {for: 0s}\n"
         "  receivers:\n"
         "    - name: r\n"
         "      slack: {webhook_url: \"" + slack_url + "\"}\n"
         "  route: {group_wait: 0s, group_interval: 1s}\n";
}

// 100 SIGHUPs in 2 s publish no false down and send no notification (even with
// target_down's `for: 0s`), and /healthz stays 200 throughout.
TEST(StallIntegration, SighupStormPublishesNoFalseDownAndNotifiesNobody) {
  support::SlackReceiver slack;
  PoolwatchProcess pw(ReloadConfig("500ms", "400ms", slack.Url()));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& m) {
        return MetricValue(m, "pg_up", {"target=\"healthy\""}) == 1 &&
               MetricValue(m, "pgbouncer_up", {"target=\"bouncer\""}) == 1;
      },
      10s));
  std::atomic<bool> storming{true};
  std::thread storm([&] {
    for (int i = 0; i < 100; ++i) {
      pw.process().Signal(SIGHUP);
      std::this_thread::sleep_for(20ms);
    }
    storming = false;
  });
  int polls = 0, down = 0, healthz_bad = 0;
  auto until = std::chrono::steady_clock::now() + 5s;
  while (storming || std::chrono::steady_clock::now() < until) {
    auto m = HttpGet(pw.Url("/metrics"), {}, 3000);
    if (MetricValue(m.body, "pg_up", {"target=\"healthy\""}) != 1 ||
        MetricValue(m.body, "pgbouncer_up", {"target=\"bouncer\""}) != 1) {
      ++down;
    }
    if (HttpGet(pw.Url("/healthz"), {}, 3000).status != 200) ++healthz_bad;
    ++polls;
    std::this_thread::sleep_for(30ms);
  }
  storm.join();
  std::this_thread::sleep_for(2s);  // group_wait 0s: a notification would be out by now
  std::string logs = pw.Logs();
  int reloads = 0;
  for (std::size_t p = 0; (p = logs.find("configuration reloaded", p)) != std::string::npos; ++p) {
    ++reloads;
  }
  std::printf("100 SIGHUPs in 2 s: %d reloads, %d of %d scrapes showed a target down, /healthz "
              "non-200 %d times, %zu notifications\n",
              reloads, down, polls, healthz_bad, slack.Requests().size());
  EXPECT_EQ(down, 0);
  EXPECT_EQ(healthz_bad, 0);
  EXPECT_EQ(slack.Requests().size(), 0u);
  EXPECT_GE(reloads, 1);
  EXPECT_TRUE(pw.process().Running());
}

// /healthz judges by the running configuration's interval: raising it from
// 500ms to 10s on reload must not make the liveness probe fail between the slower samples.
TEST(StallIntegration, HealthzFollowsTheReloadedInterval) {
  support::SlackReceiver slack;
  PoolwatchProcess pw(ReloadConfig("500ms", "400ms", slack.Url()));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  support::WriteFile(pw.config_path(), ReloadConfig("10s", "1s", slack.Url()));
  pw.process().Signal(SIGHUP);
  ASSERT_TRUE(support::WaitUntil(
      [&] { return pw.Logs().find("configuration reloaded") != std::string::npos; }, 5s));
  int bad = 0, polls = 0;
  auto until = std::chrono::steady_clock::now() + 6s;  // past 3 x 500ms + 400ms, twice over
  while (std::chrono::steady_clock::now() < until) {
    bad += HttpGet(pw.Url("/healthz"), {}, 3000).status != 200 ? 1 : 0;
    ++polls;
    std::this_thread::sleep_for(200ms);
  }
  std::printf("after reloading interval 500ms -> 10s: /healthz non-200 %d of %d polls over 6 s\n",
              bad, polls);
  EXPECT_EQ(bad, 0);
}

}  // namespace
}  // namespace poolwatch
