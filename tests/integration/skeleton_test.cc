// The walking skeleton against a real PostgreSQL 15 and PgBouncer.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "tests/support/integration.h"

namespace poolwatch {
namespace {

PgStack*& stack = support::SharedStack();

std::string Config(const std::string& interval = "500ms", const std::string& extra_pg = "") {
  return support::SamplingYaml(interval) + "targets:\n  postgres:\n" +
         support::TargetYaml("main", stack->PgDsn(), extra_pg) + "  pgbouncer:\n" +
         support::TargetYaml("local", stack->PgbDsn(), support::kQuickBackoff);
}

TEST(SkeletonIntegration, BothTargetsUpWithRealMetrics) {
  PoolwatchProcess pw(Config());
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  std::string m = pw.Metrics();
  EXPECT_EQ(MetricValue(m, "pg_up", {"target=\"main\""}), 1) << m;
  EXPECT_EQ(MetricValue(m, "pgbouncer_up", {"target=\"local\""}), 1) << m;
  EXPECT_EQ(MetricValue(m, "poolwatch_target_up", {"target=\"main\"", "kind=\"postgres\""}), 1);
  EXPECT_EQ(MetricValue(m, "pg_settings_max_connections", {"target=\"main\""}), 100);
  EXPECT_EQ(MetricValue(m, "pg_stat_activity_count",
                        {"datname=\"app\"", "state=\"idle in transaction\""}), 0);
  // The admin console's own pool is always there.
  EXPECT_FALSE(std::isnan(MetricValue(m, "pgbouncer_pools_client_active_connections",
                                      {"database=\"pgbouncer\""})));
  EXPECT_EQ(MetricValue(m, "poolwatch_collector_success", {"collector=\"pg_stat_activity\""}), 1);
  EXPECT_GT(MetricValue(m, "poolwatch_last_sample_timestamp_seconds", {"target=\"main\""}), 1.7e9);
}

TEST(SkeletonIntegration, CountsRealSessionsButNotItsOwn) {
  PoolwatchProcess pw(Config());
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  Sql a(stack->SuperDsn("app"));
  Sql b(stack->SuperDsn("app"));
  a.Exec("BEGIN");
  a.Exec("SELECT 1");
  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& m) {
        return MetricValue(m, "pg_stat_activity_count",
                           {"datname=\"app\"", "state=\"idle in transaction\""}) == 1 &&
               MetricValue(m, "pg_stat_activity_count", {"datname=\"app\"", "state=\"idle\""}) == 1;
      },
      5s))
      << pw.Metrics();
  // poolwatch's own backend (in database postgres) is not counted anywhere.
  std::string m = pw.Metrics();
  EXPECT_EQ(MetricValue(m, "pg_stat_activity_count", {"datname=\"postgres\"", "state=\"active\""}), 0);
  EXPECT_EQ(MetricValue(m, "pg_stat_activity_count", {"datname=\"postgres\"", "state=\"idle\""}), 0);
  a.Exec("ROLLBACK");
}

TEST(SkeletonIntegration, PgBouncerDownIsAReasonAndComesBackWithoutRestart) {
  PoolwatchProcess pw(Config());
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  ASSERT_TRUE(pw.WaitMetric([](const std::string& m) {
    return MetricValue(m, "pgbouncer_up", {"target=\"local\""}) == 1;
  }, 5s));
  stack->StopPgBouncer();
  auto stopped = std::chrono::steady_clock::now();
  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& x) { return MetricValue(x, "pgbouncer_up", {"target=\"local\""}) == 0; },
      3s));
  // Within two intervals (2 x 500ms) plus one scrape's slack.
  EXPECT_LT(std::chrono::steady_clock::now() - stopped, 1500ms);
  std::string m = pw.Metrics();
  EXPECT_EQ(MetricValue(m, "poolwatch_target_down_reason", {"target=\"local\"", "reason=\"refused\""}),
            1) << m;
  EXPECT_EQ(MetricValue(m, "pg_up", {"target=\"main\""}), 1);
  // /metrics keeps answering, fast, while the target is down.
  for (int i = 0; i < 20; ++i) {
    auto r = HttpGet(pw.Url("/metrics"));
    ASSERT_EQ(r.status, 200);
    EXPECT_LT(r.seconds, 0.05);
  }
  EXPECT_EQ(HttpGet(pw.Url("/healthz")).status, 200) << "liveness must not depend on targets";
  EXPECT_EQ(HttpGet(pw.Url("/readyz")).status, 200) << "readiness must not depend on targets";
  stack->StartPgBouncer();
  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& x) { return MetricValue(x, "pgbouncer_up", {"target=\"local\""}) == 1; },
      5s))
      << pw.Logs();
  EXPECT_THAT(pw.Logs(), HasSubstr("target local (pgbouncer) is down: refused"));
  EXPECT_THAT(pw.Logs(), HasSubstr("target local (pgbouncer) is back up"));
}

TEST(SkeletonIntegration, ThousandScrapesRunNoQueryAndOpenNoConnection) {
  // A long interval: after the first sample the sampler is quiet, so anything that moves during
  // the scrapes would be the scrapes' doing.
  PoolwatchProcess pw(Config("1h"));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  Sql probe(stack->SuperDsn("app"));
  auto observe = [&] {
    // poolwatch's backends and the last time each ran a query; pg_stat_database's transaction
    // count and sessions (PostgreSQL 14+) for its database.
    probe.Exec("SELECT pg_stat_clear_snapshot()");
    auto rows = probe.Exec(
        "SELECT count(*), coalesce(max(query_start)::text, ''), "
        "(SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'postgres'), "
        "(SELECT sessions FROM pg_stat_database WHERE datname = 'postgres') "
        "FROM pg_stat_activity WHERE application_name = 'poolwatch'");
    return rows[0];
  };
  Sql admin("host=127.0.0.1 port=" + std::to_string(stack->pgb_port()) +
            " dbname=pgbouncer user=pgbadmin password=adminpass");
  auto pgb_request_time = [&] {
    // poolwatch's admin-console session, and when it last sent a request.
    auto rows = admin.Exec("SHOW CLIENTS");
    std::string out;
    int n = 0;
    // Columns by position would break across versions; SHOW CLIENTS in 1.18: user is 1,
    // request_time 9, application_name last.
    for (const auto& row : rows) {
      if (row.back() == "poolwatch") {
        out = row[9];
        ++n;
      }
    }
    return std::to_string(n) + "@" + out;
  };
  std::this_thread::sleep_for(1500ms);  // let the first sample's stats flush (PGSTAT_MIN_INTERVAL)
  auto before = observe();
  auto pgb_before = pgb_request_time();
  ASSERT_EQ(pgb_before.substr(0, 2), "1@") << pgb_before;
  ASSERT_EQ(before[0], "1") << "one persistent probe connection";
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(HttpGet(pw.Url("/metrics")).status, 200);
  std::this_thread::sleep_for(1500ms);
  auto after = observe();
  EXPECT_EQ(after[0], before[0]) << "no new connections";
  EXPECT_EQ(after[1], before[1]) << "poolwatch's backend ran no query";
  EXPECT_EQ(after[2], before[2]) << "no transactions in its database";
  EXPECT_EQ(after[3], before[3]) << "no new sessions";
  // PgBouncer: still one poolwatch session, and its last request time did not move.
  EXPECT_EQ(pgb_request_time(), pgb_before);
}

TEST(SkeletonIntegration, ProbePoolNeverExceedsMax) {
  PoolwatchProcess pw(
      "sampling: {interval: 100ms, timeout: 100ms}\n"
      "targets:\n  postgres:\n    - name: main\n      dsn: \"" + stack->PgDsn() +
      "\"\n      pool: {min: 1, max: 2}\n");
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  Sql probe(stack->SuperDsn("app"));
  int peak = 0;
  for (int i = 0; i < 40; ++i) {
    int n = std::stoi(probe.Scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'poolwatch'"));
    peak = std::max(peak, n);
    // Meanwhile, scrapers hammer /metrics: they must not add connections.
    HttpGet(pw.Url("/metrics"));
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_GE(peak, 1);
  EXPECT_LE(peak, 2);
}

TEST(SkeletonIntegration, PasswordsNeverAppearInLogsStatusOrErrors) {
  const std::string secret = "S3cr3t-pw!";
  const std::string wrong = "Wr0ng-pw-zz";
  const std::string port = std::to_string(stack->pg_port());
  // A working target (kv form) and three failing ones, one per DSN password form.
  std::string cfg =
      "sampling: {interval: 300ms, timeout: 300ms}\n"
      "targets:\n  postgres:\n"
      "    - {name: kv_ok, dsn: \"host=127.0.0.1 port=" + port + " dbname=postgres user=pwsecret "
      "password=" + secret + "\"}\n"
      "    - {name: kv_bad, dsn: \"host=127.0.0.1 port=" + port + " dbname=postgres user=pwsecret "
      "password=" + wrong + "\"}\n"
      "    - {name: uri_bad, dsn: \"postgres://pwsecret:" + wrong + "x@127.0.0.1:" + port +
      "/postgres\"}\n"
      "    - {name: query_bad, dsn: \"postgresql://127.0.0.1:" + port +
      "/postgres?user=pwsecret&password=" + wrong + "y\"}\n";
  PoolwatchProcess pw(cfg, {"--log.level=debug"});
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  ASSERT_TRUE(pw.WaitMetric([](const std::string& m) {
    return MetricValue(m, "pg_up", {"target=\"kv_ok\""}) == 1 &&
           MetricValue(m, "poolwatch_target_down_reason",
                       {"target=\"uri_bad\"", "reason=\"auth_failed\""}) == 1 &&
           MetricValue(m, "poolwatch_target_down_reason",
                       {"target=\"query_bad\"", "reason=\"auth_failed\""}) == 1 &&
           MetricValue(m, "poolwatch_target_down_reason",
                       {"target=\"kv_bad\"", "reason=\"auth_failed\""}) == 1;
  }, 5s)) << pw.Metrics();
  std::string status = HttpGet(pw.Url("/status")).body;
  EXPECT_THAT(status, HasSubstr("password authentication failed"));
  std::string once_out;
  support::RunCommand({support::PoolwatchBin(), "--once", "--output=json", "-c", pw.config_path()},
                      &once_out);
  std::string once_text;
  support::RunCommand({support::PoolwatchBin(), "--once", "-c", pw.config_path()}, &once_text);
  // A config problem echoes nothing secret either.
  support::TempDir d;
  support::WriteFile(
      d.File("bad.yaml"),
      "targets:\n  postgres:\n    - {name: x, dsn: \"host=a password=" + wrong + " bogus=1\"}\n");
  std::string check_out;
  EXPECT_EQ(support::RunCommand(
                {support::PoolwatchBin(), "--check-config", "-c", d.File("bad.yaml")}, &check_out),
            2);
  for (const std::string& where : {pw.Logs(), status, pw.Metrics(), once_out, once_text, check_out}) {
    EXPECT_THAT(where, Not(HasSubstr(secret)));
    EXPECT_THAT(where, Not(HasSubstr(wrong)));
  }
}

TEST(SkeletonIntegration, OnceTextIsAReadableTableAndExitCodeFollowsHealth) {
  support::TempDir d;
  support::WriteFile(d.File("pw.yaml"), Config());
  std::string out;
  EXPECT_EQ(support::RunCommand({support::PoolwatchBin(), "--once", "-c", d.File("pw.yaml")}, &out),
            0)
      << out;
  std::vector<std::string> lines;
  std::istringstream in(out);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 4u) << out;
  EXPECT_EQ(lines[3], "health: ok") << out;
  EXPECT_THAT(lines[0], ::testing::MatchesRegex("TARGET +KIND +UP +REASON +SAMPLE_MS +DETAILS"));
  EXPECT_THAT(lines[1], ::testing::MatchesRegex(
                            "main +postgres +yes +- +[0-9.]+ +connections: [0-9]+/97 .*"));
  EXPECT_THAT(lines[2], ::testing::MatchesRegex(
                            "local +pgbouncer +yes +- +[0-9.]+ +pools: [0-9]+ pools; clients active .*"));
  support::WriteFile(d.File("down.yaml"),
                     "targets:\n  pgbouncer:\n    - {name: gone, dsn: \"host=127.0.0.1 port=" +
                         std::to_string(support::FreePort()) + " dbname=pgbouncer\"}\n");
  EXPECT_EQ(
      support::RunCommand({support::PoolwatchBin(), "--once", "-c", d.File("down.yaml")}, &out), 1);
  EXPECT_THAT(out, HasSubstr("gone            pgbouncer  NO    refused"));
}

TEST(SkeletonIntegration, LiveScrapePassesPromtool) {
  PoolwatchProcess pw(Config());
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  support::TempDir d;
  support::WriteFile(d.File("scrape.prom"), pw.Metrics());
  std::string out;
  int rc = support::RunCommand(
      {"/bin/sh", "-c", "promtool check metrics < " + d.File("scrape.prom")}, &out);
  // promtool exits 1 on a format error and 3 on naming lints. The only lints we accept are those
  // postgres_exporter's own names carry (kept for compatibility): the *_count gauges and
  // pg_stat_database's counters without _total.
  EXPECT_NE(rc, 1) << out;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    EXPECT_THAT(line, ::testing::MatchesRegex(
                          "((pg_stat_activity_count|pg_locks_count) non-histogram and non-summary "
                          "metrics should not have \"_count\" suffix|pg_stat_database_[a-z_]+ "
                          "counter metrics should have \"_total\" suffix)"));
  }
}

}  // namespace
}  // namespace poolwatch
