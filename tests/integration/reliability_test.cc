// Reliability against a real PostgreSQL 15 and PgBouncer: the protective session
// timeouts on poolwatch's own probe sessions, the idle-connection health check before a
// connection is reused, and the overall health level of `--once`; and a password_file
// rotated the way the kubelet updates a mounted Secret is used without a SIGHUP.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <thread>

#include "exporter/config.h"
#include "exporter/sampler.h"
#include "tests/support/integration.h"

namespace poolwatch {
namespace {

PgStack*& stack = support::SharedStack();

// The production connector (the one every probe pool uses) opens a session whose own settings,
// read back on that very session, are the guards: a query poolwatch gave up on must not linger
// on the server, nor hold a lock, nor an open transaction.
TEST(ReliabilityIntegration, ProbeSessionsCarryTheProtectiveTimeouts) {
  Config config;
  config.interval = 2s;
  config.timeout = 900ms;
  TargetConfig t;
  t.name = "main";
  t.kind = TargetKind::kPostgres;
  t.dsn = stack->PgDsn();
  std::atomic<bool> cancel{false};
  auto conn = ConnectTarget(t, config, std::chrono::steady_clock::now() + 5s, cancel);
  ASSERT_TRUE(conn);
  conn->SetDeadline(std::chrono::steady_clock::now() + 5s);
  QueryResult r = conn->Query(
      "SELECT name, setting, unit, source FROM pg_settings WHERE name IN ('statement_timeout', "
      "'lock_timeout', 'idle_in_transaction_session_timeout', 'application_name') ORDER BY name");
  std::map<std::string, std::string> got;
  for (int i = 0; i < r.Rows(); ++i) {
    got[r.String(i, "name")] = r.String(i, "setting") + r.String(i, "unit") + " (" +
                               r.String(i, "source") + ")";
  }
  std::printf("probe session: statement_timeout=%s lock_timeout=%s "
              "idle_in_transaction_session_timeout=%s\n",
              got["statement_timeout"].c_str(), got["lock_timeout"].c_str(),
              got["idle_in_transaction_session_timeout"].c_str());
  // statement_timeout = sampling.timeout; lock_timeout half of it; idle in transaction 4 intervals.
  EXPECT_EQ(got["statement_timeout"], "900ms (client)");
  EXPECT_EQ(got["lock_timeout"], "450ms (client)");
  EXPECT_EQ(got["idle_in_transaction_session_timeout"], "8000ms (client)");
  EXPECT_EQ(got["application_name"], "poolwatch (client)");
  // And they bite: a statement longer than the budget is cancelled by the server itself.
  conn->SetDeadline(std::chrono::steady_clock::now() + 5s);
  try {
    conn->Query("SELECT pg_sleep(3)");
    ADD_FAILURE() << "pg_sleep(3) ran past statement_timeout";
  } catch (const DbError& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("statement timeout"));
  }
}

// A probe connection idle longer than pool.health_check_interval is checked (SELECT 1) before it
// is reused; a dead one is dropped and replaced, so a backend killed between samples (a failover,
// an idle-session killer, pg_terminate_backend) costs no failed sample and no false down.
TEST(ReliabilityIntegration, IdleConnectionsAreHealthCheckedBeforeReuse) {
  PoolwatchProcess pw(
      "sampling: {interval: 700ms, timeout: 500ms}\n"
      "targets:\n"
      "  postgres:\n"
      "    - name: main\n"
      "      dsn: \"" + stack->PgDsn() + "\"\n"
      "      pool: {min: 1, max: 1, health_check_interval: 200ms, backoff: {initial: 100ms, max: 200ms}}\n");
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& m) { return MetricValue(m, "pg_up", {"target=\"main\""}) == 1; }, 5s));
  Sql super(stack->SuperDsn());
  int killed = 0;
  int down_seen = 0;
  int failed_collectors = 0;
  for (int round = 0; round < 5; ++round) {
    // Right after a sample, so the next one finds the connection idle (and dead).
    const std::string before = pw.Metrics();
    const double seq = MetricValue(before, "poolwatch_last_sample_timestamp_seconds",
                                   {"target=\"main\""});
    ASSERT_TRUE(pw.WaitMetric(
        [seq](const std::string& m) {
          return MetricValue(m, "poolwatch_last_sample_timestamp_seconds", {"target=\"main\""}) > seq;
        },
        5s));
    killed += std::stoi(super.Scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE application_name = 'poolwatch' AND pid <> pg_backend_pid()"));
    const double after_kill =
        MetricValue(pw.Metrics(), "poolwatch_last_sample_timestamp_seconds", {"target=\"main\""});
    ASSERT_TRUE(pw.WaitMetric(
        [after_kill](const std::string& m) {
          return MetricValue(m, "poolwatch_last_sample_timestamp_seconds", {"target=\"main\""}) >
                 after_kill;
        },
        5s));
    const std::string m = pw.Metrics();
    down_seen += MetricValue(m, "pg_up", {"target=\"main\""}) == 1 ? 0 : 1;
    failed_collectors += MetricValue(m, "poolwatch_collector_success",
                                     {"target=\"main\"", "collector=\"pg_stat_activity\""}) == 1
                             ? 0
                             : 1;
  }
  const std::string m = pw.Metrics();
  const double checks_failed = MetricValue(m, "poolwatch_probe_pool_health_check_failures_total",
                                           {"target=\"main\""});
  std::printf("idle health check: %d probe backends killed between samples, %g health checks "
              "failed (and replaced), target down in %d of 5 samples after a kill, "
              "pg_stat_activity failed in %d\n",
              killed, checks_failed, down_seen, failed_collectors);
  EXPECT_GE(killed, 5);
  EXPECT_GE(checks_failed, 5) << m;
  EXPECT_EQ(down_seen, 0) << m;
  EXPECT_EQ(failed_collectors, 0) << m;
  EXPECT_THAT(pw.Logs(), Not(HasSubstr("is down")));
}

// `--once` prints the overall level: ok with both targets up, down when nothing is reachable,
// degraded when one of two is down (exit 1 then: a target is down).
TEST(ReliabilityIntegration, OnceReportsTheOverallHealthLevel) {
  support::TempDir d;
  const std::string gone = "host=127.0.0.1 port=" + std::to_string(support::FreePort()) +
                           " dbname=pgbouncer connect_timeout=2";
  auto cfg = [&](const std::string& pgb_dsn) {
    return "targets:\n  postgres:\n    - name: main\n      dsn: \"" + stack->PgDsn() +
           "\"\n  pgbouncer:\n    - name: local\n      dsn: \"" + pgb_dsn + "\"\n";
  };
  support::WriteFile(d.File("ok.yaml"), cfg(stack->PgbDsn()));
  support::WriteFile(d.File("half.yaml"), cfg(gone));
  support::WriteFile(d.File("none.yaml"),
                     "targets:\n  pgbouncer:\n    - {name: gone, dsn: \"" + gone + "\"}\n");
  std::string out;
  // The JSON document is the lines from "{" to "}" (log lines on stderr come before or after).
  auto parse = [&out] {
    std::size_t at = out.rfind("{\n", 0) == 0 ? 0 : out.find("\n{\n");
    if (at == std::string::npos) return nlohmann::json();
    if (at != 0) ++at;
    const std::size_t end = out.find("\n}\n", at);
    if (end == std::string::npos) return nlohmann::json();
    return nlohmann::json::parse(out.substr(at, end + 2 - at), nullptr, false);
  };
  auto once = [&](const std::string& file, const std::string& output) {
    out.clear();
    return support::RunCommand(
        {support::PoolwatchBin(), "--once", "--output=" + output, "-c", d.File(file)}, &out);
  };
  ASSERT_EQ(once("ok.yaml", "json"), 0) << out;
  auto j = parse();
  ASSERT_TRUE(j.is_object()) << out;
  EXPECT_EQ(j["health"]["level"], "ok") << out;
  for (const auto& t : j["targets"]) EXPECT_EQ(t["health"], "healthy") << out;
  ASSERT_EQ(once("ok.yaml", "text"), 0) << out;
  EXPECT_THAT(out, HasSubstr("\nhealth: ok\n"));
  EXPECT_EQ(once("half.yaml", "json"), 1) << out;
  j = parse();
  ASSERT_TRUE(j.is_object()) << out;
  EXPECT_EQ(j["health"]["level"], "degraded") << out;
  EXPECT_THAT(std::string(j["health"]["reason"]), HasSubstr("local (refused)")) << out;
  EXPECT_EQ(once("none.yaml", "text"), 1) << out;
  EXPECT_THAT(out, HasSubstr("health: down (every target is down: gone (refused))")) << out;
  std::printf("--once health: ok / degraded / down as expected\n");
}

// The kubelet's atomic writer: DIR/..genN/KEY, DIR/..data -> ..genN (swapped by rename), and
// DIR/KEY -> ..data/KEY.
void PublishSecret(const std::string& dir, int gen, const std::string& key,
                   const std::string& content) {
  namespace fs = std::filesystem;
  const std::string g = "..gen" + std::to_string(gen);
  fs::create_directory(dir + "/" + g);
  support::WriteFile(dir + "/" + g + "/" + key, content);
  if (!fs::is_symlink(dir + "/" + key)) fs::create_symlink("..data/" + key, dir + "/" + key);
  fs::create_symlink(g, dir + "/..data_tmp");
  ASSERT_EQ(::rename((dir + "/..data_tmp").c_str(), (dir + "/..data").c_str()), 0);
  if (gen > 1) fs::remove_all(dir + "/..gen" + std::to_string(gen - 1));
}

// pg_hba.conf of the test stack asks role pwsecret (only) for its password (scram-sha-256).
TEST(ReliabilityIntegration, RotatedPasswordFileIsUsedWithoutASighup) {
  Sql super(stack->SuperDsn());
  struct Restore {  // other tests of the stack know pwsecret's original password
    Sql& s;
    ~Restore() { s.Exec("ALTER ROLE pwsecret PASSWORD 'S3cr3t-pw!'"); }
  } restore{super};
  support::TempDir secrets;
  PublishSecret(secrets.path(), 1, "password", "S3cr3t-pw!\n");
  PoolwatchProcess pw(
      "sampling: {interval: 300ms, timeout: 250ms}\n"
      "targets:\n"
      "  postgres:\n"
      "    - name: rot\n"
      "      dsn: \"host=127.0.0.1 port=" + std::to_string(stack->pg_port()) +
      " dbname=postgres user=pwsecret\"\n"
      "      password_file: " + secrets.File("password") + "\n"
      "      pool: {min: 1, max: 1, health_check_interval: 100ms, backoff: {initial: 100ms, max: 200ms}}\n");
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  auto up = [](const std::string& m) { return MetricValue(m, "pg_up", {"target=\"rot\""}) == 1; };
  ASSERT_TRUE(pw.WaitMetric(up, 5s)) << pw.Logs();
  const std::vector<std::string> ok = {"target=\"rot\"", "result=\"success\""};
  auto kill_probe = [&] {
    return std::stoi(super.Scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'pwsecret'"));
  };
  // The password changes on the server and in the Secret, then poolwatch's session is killed:
  // it must log in again with the new password, with no SIGHUP.
  super.Exec("ALTER ROLE pwsecret PASSWORD 'N3w-rotated-pw'");
  PublishSecret(secrets.path(), 2, "password", "N3w-rotated-pw\n");
  const double connects = MetricValue(pw.Metrics(), "poolwatch_probe_pool_connects_total", ok);
  ASSERT_GE(kill_probe(), 1);
  const auto killed = std::chrono::steady_clock::now();
  ASSERT_TRUE(pw.WaitMetric(
      [&](const std::string& m) {
        return MetricValue(m, "poolwatch_probe_pool_connects_total", ok) > connects && up(m);
      },
      10s))
      << pw.Metrics() << pw.Logs();
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  std::string m = pw.Metrics();
  EXPECT_EQ(MetricValue(m, "poolwatch_secret_file_reloads_total",
                        {"owner=\"rot\"", "key=\"password_file\""}),
            1)
      << m;
  EXPECT_THAT(pw.Logs(), HasSubstr("password_file of target rot changed on disk and was re-read"));
  EXPECT_THAT(pw.Logs(), Not(HasSubstr("N3w-rotated-pw")));
  // A bad new generation (empty) keeps the working password; reconnecting still works.
  PublishSecret(secrets.path(), 3, "password", "\n");
  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& x) {
        return MetricValue(x, "poolwatch_secret_file_reload_errors_total",
                           {"owner=\"rot\"", "key=\"password_file\""}) == 1;
      },
      5s))
      << pw.Metrics();
  const double connects2 = MetricValue(pw.Metrics(), "poolwatch_probe_pool_connects_total", ok);
  ASSERT_GE(kill_probe(), 1);
  ASSERT_TRUE(pw.WaitMetric(
      [&](const std::string& x) {
        return MetricValue(x, "poolwatch_probe_pool_connects_total", ok) > connects2 && up(x);
      },
      10s))
      << pw.Metrics() << pw.Logs();
  EXPECT_THAT(pw.Logs(), HasSubstr("cannot be used; keeping the previous value"));
  std::printf("rotated password_file: reconnected with the new password %.2fs after the session "
              "was killed, no SIGHUP; an empty new file kept the old one (1 error counted)\n",
              took);
}

}  // namespace
}  // namespace poolwatch
