// Faults against a real PostgreSQL 15 + PgBouncer: a silent listener, PostgreSQL
// restarted, PgBouncer killed and restarted, PAUSE/RESUME, max_client_conn reached. Nothing
// hangs, nothing leaks, every fault is a metric with a reason and a log line, and it recovers.
#include <arpa/inet.h>
#include <dirent.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <mutex>
#include <thread>

#include "tests/support/integration.h"
#include "tests/support/silent_listener.h"

namespace poolwatch {
namespace {

using support::SilentListener;

PgStack*& stack = support::SharedStack({{"PGB_MAX_CLIENT_CONN", "12"}});

std::string AdminDsn() {
  return "host=127.0.0.1 port=" + std::to_string(stack->pgb_port()) +
         " dbname=pgbouncer user=pgbadmin password=adminpass connect_timeout=5";
}

std::string Config(const std::string& extra_pg = "") {
  return support::SamplingYaml() + "targets:\n  postgres:\n" +
         support::TargetYaml("main", stack->PgDsn(), support::kQuickBackoff + extra_pg) +
         "  pgbouncer:\n" + support::TargetYaml("local", stack->PgbDsn(), support::kQuickBackoff);
}

int OpenFds(int pid) {
  int n = 0;
  DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (d == nullptr) return -1;
  while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

bool Up(const std::string& m, const std::string& metric, const std::string& target) {
  return MetricValue(m, metric, {"target=\"" + target + "\""}) == 1;
}

TEST(FaultsIntegration, SilentTargetTimesOutAloneStaysFastAndLeaksNothing) {
  SilentListener silent;
  PoolwatchProcess pw(Config("    - name: silent\n"
                             "      dsn: \"host=127.0.0.1 port=" + std::to_string(silent.port()) +
                             " dbname=postgres user=poolwatch\"\n"
                             "      pool: {max: 2, backoff: {initial: 100ms, max: 200ms}}\n"));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& m) {
        return MetricValue(m, "poolwatch_target_down_reason",
                           {"target=\"silent\"", "reason=\"timeout\""}) == 1;
      },
      10s))
      << pw.Metrics();
  std::string m = pw.Metrics();
  EXPECT_EQ(MetricValue(m, "pg_up", {"target=\"silent\""}), 0);
  EXPECT_EQ(MetricValue(m, "pg_up", {"target=\"main\""}), 1) << m;
  EXPECT_EQ(MetricValue(m, "pgbouncer_up", {"target=\"local\""}), 1);
  // The silent target's sample ends at sampling.timeout (400ms), with generous slack; the
  // others are not stretched to it.
  EXPECT_LT(MetricValue(m, "poolwatch_sample_duration_seconds", {"target=\"silent\""}), 1.0);
  EXPECT_LT(MetricValue(m, "poolwatch_sample_duration_seconds", {"target=\"main\""}), 0.3);
  EXPECT_LT(MetricValue(m, "poolwatch_sample_duration_seconds", {"target=\"local\""}), 0.3);
  for (int i = 0; i < 20; ++i) {
    auto r = HttpGet(pw.Url("/metrics"));
    ASSERT_EQ(r.status, 200);
    EXPECT_LT(r.seconds, 0.1);
  }
  EXPECT_THAT(pw.Logs(), HasSubstr("target silent (postgres) is down: timeout"));
  // Over many samples (~20 more), poolwatch's descriptors stay flat and it never holds more
  // connections to the silent target than pool.max.
  int pid = pw.process().pid();
  std::this_thread::sleep_for(2s);
  int fds_before = OpenFds(pid);
  int accepted_before = silent.Accepted();
  int max_open = 0;
  for (int i = 0; i < 20; ++i) {
    std::this_thread::sleep_for(500ms);
    max_open = std::max(max_open, silent.StillOpen());
  }
  int fds_after = OpenFds(pid);
  EXPECT_GT(silent.Accepted(), accepted_before) << "it keeps retrying the silent target";
  EXPECT_LE(max_open, 2) << "never more than pool.max connections to the silent target";
  EXPECT_LE(fds_after, fds_before + 2) << "fds before " << fds_before << ", after " << fds_after;
  EXPECT_EQ(MetricValue(pw.Metrics(), "pg_up", {"target=\"main\""}), 1);
}

TEST(FaultsIntegration, PostgresRestartIsDownWithAReasonThenUpAgain) {
  PoolwatchProcess pw(Config());
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  ASSERT_TRUE(pw.WaitMetric([](const std::string& m) { return Up(m, "pg_up", "main"); }, 5s));
  int fds_before = OpenFds(pw.process().pid());
  stack->StopPostgres();
  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& m) { return MetricValue(m, "pg_up", {"target=\"main\""}) == 0; }, 5s))
      << pw.Metrics();
  std::string m = pw.Metrics();
  double reasons = 0;
  for (const char* r : {"refused", "timeout", "starting", "other", "protocol"}) {
    reasons += MetricValue(m, "poolwatch_target_down_reason",
                           {"target=\"main\"", std::string("reason=\"") + r + "\""});
  }
  EXPECT_EQ(reasons, 1) << m;
  // PgBouncer's admin console answers without PostgreSQL: that target stays up.
  EXPECT_EQ(MetricValue(m, "pgbouncer_up", {"target=\"local\""}), 1);
  auto r = HttpGet(pw.Url("/metrics"));
  EXPECT_EQ(r.status, 200);
  EXPECT_LT(r.seconds, 0.1);
  stack->StartPostgres();
  ASSERT_TRUE(pw.WaitMetric([](const std::string& x) { return Up(x, "pg_up", "main"); }, 10s))
      << pw.Logs();
  EXPECT_THAT(pw.Logs(), HasSubstr("target main (postgres) is down:"));
  EXPECT_THAT(pw.Logs(), HasSubstr("target main (postgres) is back up"));
  EXPECT_TRUE(pw.process().Running());
  EXPECT_LE(OpenFds(pw.process().pid()), fds_before + 2) << "broken connections were closed";
}

TEST(FaultsIntegration, PgBouncerKilledAndRestarted) {
  PoolwatchProcess pw(Config());
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  ASSERT_TRUE(pw.WaitMetric([](const std::string& m) { return Up(m, "pgbouncer_up", "local"); },
                            5s));
  int pid = std::stoi(support::ReadFile(stack->dir() + "/pgbouncer.pid"));
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(support::WaitUntil([&] { return ::kill(pid, 0) != 0; }, 5s));
  std::remove((stack->dir() + "/pgbouncer.pid").c_str());
  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& m) {
        return MetricValue(m, "poolwatch_target_down_reason",
                           {"target=\"local\"", "reason=\"refused\""}) == 1;
      },
      5s))
      << pw.Metrics();
  EXPECT_EQ(MetricValue(pw.Metrics(), "pg_up", {"target=\"main\""}), 1);
  stack->StartPgBouncer();
  ASSERT_TRUE(pw.WaitMetric([](const std::string& m) { return Up(m, "pgbouncer_up", "local"); },
                            10s))
      << pw.Logs();
  EXPECT_THAT(pw.Logs(), HasSubstr("target local (pgbouncer) is down: refused"));
  EXPECT_THAT(pw.Logs(), HasSubstr("target local (pgbouncer) is back up"));
}

TEST(FaultsIntegration, PauseAndResumeShowTheTruthAndNothingHangs) {
  PoolwatchProcess pw(Config());
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  Sql admin(AdminDsn());
  Sql client(stack->AppViaPgbDsn());  // logged in before PAUSE
  admin.Exec("PAUSE app");
  client.Send("SELECT 1");  // waits for a server connection that PAUSE withholds
  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& m) {
        return MetricValue(m, "pgbouncer_pools_client_waiting_connections",
                           {"target=\"local\"", "database=\"app\""}) >= 1;
      },
      5s))
      << pw.Metrics();
  std::string m = pw.Metrics();
  EXPECT_EQ(MetricValue(m, "pgbouncer_up", {"target=\"local\""}), 1);
  EXPECT_EQ(MetricValue(m, "pg_up", {"target=\"main\""}), 1);
  EXPECT_LT(MetricValue(m, "poolwatch_sample_duration_seconds", {"target=\"local\""}), 0.4);
  // The wait is visible as it grows.
  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& x) {
        return MetricValue(x, "pgbouncer_pools_client_maxwait_seconds",
                           {"target=\"local\"", "database=\"app\""}) >= 1;
      },
      5s))
      << pw.Metrics();
  auto r = HttpGet(pw.Url("/metrics"));
  EXPECT_LT(r.seconds, 0.1);
  admin.Exec("RESUME app");
  EXPECT_EQ(client.Scalar("SELECT 2"), "2") << "the paused client was served after RESUME";
  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& x) {
        return MetricValue(x, "pgbouncer_pools_client_waiting_connections",
                           {"target=\"local\"", "database=\"app\""}) == 0;
      },
      5s))
      << pw.Metrics();
}

// What really happens when max_client_conn is reached (PgBouncer 1.18): application clients are
// refused, but connections to the admin console are exempt, so poolwatch (a stats_users account
// on the `pgbouncer` database) still gets in, even when it connects after the limit was reached,
// and reports the saturation truthfully instead of going blind. (A PostgreSQL-kind target through
// PgBouncer cannot be used to provoke the refusal: PgBouncer rejects libpq's `options` startup
// parameter before it counts the client.)
TEST(FaultsIntegration, MaxClientConnReachedRefusesAppsButNotPoolwatch) {
  std::vector<std::unique_ptr<Sql>> clients;
  std::string refusal;
  for (int i = 0; i < 20; ++i) {
    try {
      clients.push_back(std::make_unique<Sql>(stack->AppViaPgbDsn() + " connect_timeout=3"));
    } catch (const std::exception& e) {
      refusal = e.what();
      break;
    }
  }
  ASSERT_EQ(clients.size(), 12u) << "max_client_conn is 12";
  ASSERT_THAT(refusal, HasSubstr("no more connections allowed (max_client_conn)"));
  PoolwatchProcess pw(Config());
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& m) {
        return MetricValue(m, "pgbouncer_up", {"target=\"local\""}) == 1 &&
               MetricValue(m, "pgbouncer_pools_client_active_connections",
                           {"target=\"local\"", "database=\"app\""}) +
                       MetricValue(m, "pgbouncer_pools_client_waiting_connections",
                                   {"target=\"local\"", "database=\"app\""}) ==
                   12;
      },
      5s))
      << pw.Metrics() << pw.Logs();
  EXPECT_EQ(MetricValue(pw.Metrics(), "pg_up", {"target=\"main\""}), 1);
  auto r = HttpGet(pw.Url("/metrics"));
  EXPECT_LT(r.seconds, 0.1);
  clients.clear();
  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& m) {
        return MetricValue(m, "pgbouncer_pools_client_active_connections",
                           {"target=\"local\"", "database=\"app\""}) == 0;
      },
      5s));
  EXPECT_THAT(pw.Logs(), ::testing::Not(HasSubstr("is down")));
}

TEST(FaultsIntegration, SighupWithABrokenConfigKeepsSamplingTheRealTargets) {
  PoolwatchProcess pw(Config());
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  support::WriteFile(pw.config_path(), "targets: [\n");
  pw.process().Signal(SIGHUP);
  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& m) {
        return MetricValue(m, "poolwatch_config_last_reload_successful") == 0;
      },
      5s));
  // Still sampling for real: a new session shows up.
  Sql s(stack->SuperDsn("app"));
  s.Exec("BEGIN");
  s.Exec("SELECT 1");
  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& m) {
        return MetricValue(m, "pg_stat_activity_count",
                           {"datname=\"app\"", "state=\"idle in transaction\""}) >= 1 &&
               MetricValue(m, "pg_up", {"target=\"main\""}) == 1;
      },
      5s))
      << pw.Metrics();
  EXPECT_TRUE(pw.process().Running());
  s.Exec("ROLLBACK");
}

}  // namespace
}  // namespace poolwatch
