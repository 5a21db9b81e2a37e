// Least privilege against a real PostgreSQL 15 + PgBouncer: a role with only pg_monitor and a
// PgBouncer stats_users account are enough for every collector poolwatch has; a role without
// pg_monitor gets collectors reported as failed or partial, never a crash. Passwords come from
// password_file or the environment, never the command line.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdlib.h>

#include <cmath>
#include <thread>

#include "collectors/collector.h"
#include "tests/support/integration.h"

namespace poolwatch {
namespace {

PgStack*& stack = support::SharedStack();

// Every collector of `kind` switched on, whatever its default.
std::string AllCollectors(TargetKind kind) {
  std::string out = "{";
  for (const auto& c : CollectorTable()) {
    if (c.kind != kind) continue;
    out += std::string(out.size() > 1 ? ", " : "") + std::string(c.name) + ": true";
  }
  return out + "}";
}

std::vector<std::string> Names(TargetKind kind) {
  std::vector<std::string> v;
  for (const auto& c : CollectorTable()) {
    if (c.kind == kind) v.emplace_back(c.name);
  }
  return v;
}

std::string Dsn(int port, const std::string& db, const std::string& user) {
  return "host=127.0.0.1 port=" + std::to_string(port) + " dbname=" + db + " user=" + user;
}

TEST(LeastPrivilegeIntegration, PgMonitorAndStatsUsersAreEnoughForEveryCollector) {
  Sql super(stack->SuperDsn());
  // The role really is unprivileged apart from pg_monitor.
  EXPECT_EQ(super.Scalar("SELECT rolsuper::text || rolcreaterole::text || rolcreatedb::text || "
                         "rolreplication::text || rolbypassrls::text FROM pg_roles "
                         "WHERE rolname = 'poolwatch'"),
            "falsefalsefalsefalsefalse");
  EXPECT_EQ(super.Scalar("SELECT string_agg(b.rolname, ',' ORDER BY b.rolname) FROM pg_auth_members m "
                         "JOIN pg_roles r ON r.oid = m.member JOIN pg_roles b ON b.oid = m.roleid "
                         "WHERE r.rolname = 'poolwatch'"),
            "pg_monitor");
  // Some activity for the collectors to see.
  Sql app(stack->SuperDsn("app"));
  app.Exec("BEGIN");
  app.Exec("SELECT 1");
  support::TempDir d;
  support::WriteFile(d.File("statspass"), "statspass\n");
  PoolwatchProcess pw(
      "sampling: {interval: 1s, timeout: 900ms}\n"
      "targets:\n"
      "  postgres:\n"
      "    - name: main\n"
      "      dsn: \"" + Dsn(stack->pg_port(), "postgres", "poolwatch") + "\"\n"
      "      collectors: " + AllCollectors(TargetKind::kPostgres) + "\n"
      "  pgbouncer:\n"
      "    - name: local\n"
      "      dsn: \"" + Dsn(stack->pgb_port(), "pgbouncer", "stats") + "\"\n"
      "      password_file: " + d.File("statspass") + "\n"
      "      collectors: " + AllCollectors(TargetKind::kPgBouncer) + "\n");
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& m) {
        return MetricValue(m, "pg_up", {"target=\"main\""}) == 1 &&
               MetricValue(m, "pgbouncer_up", {"target=\"local\""}) == 1;
      },
      10s))
      << pw.Metrics() << pw.Logs();
  std::this_thread::sleep_for(1200ms);  // a couple more samples: every collector has run
  std::string m = pw.Metrics();
  for (const auto& [target, kind] : {std::pair<std::string, TargetKind>{"main", TargetKind::kPostgres},
                                     {"local", TargetKind::kPgBouncer}}) {
    for (const auto& name : Names(kind)) {
      EXPECT_EQ(MetricValue(m, "poolwatch_collector_success",
                            {"target=\"" + target + "\"", "collector=\"" + name + "\""}),
                1)
          << target << "/" << name << " needs more than pg_monitor / stats_users\n"
          << HttpGet(pw.Url("/status")).body;
      EXPECT_EQ(MetricValue(m, "poolwatch_collector_errors_total",
                            {"target=\"" + target + "\"", "collector=\"" + name + "\""}),
                0)
          << target << "/" << name;
    }
  }
  // pg_monitor lets it see other roles' sessions (the idle-in-transaction one above).
  EXPECT_GE(MetricValue(m, "pg_stat_activity_count",
                        {"datname=\"app\"", "state=\"idle in transaction\""}),
            1);
  app.Exec("ROLLBACK");
}

TEST(LeastPrivilegeIntegration, WithoutPgMonitorCollectorsAreReportedNotCrashedOn) {
  PoolwatchProcess pw(
      "sampling: {interval: 1s, timeout: 900ms}\n"
      "targets:\n"
      "  postgres:\n"
      "    - name: weak\n"
      "      dsn: \"" + Dsn(stack->pg_port(), "postgres", "nopriv") + "\"\n"
      "      collectors: " + AllCollectors(TargetKind::kPostgres) + "\n"
      "  pgbouncer:\n"
      "    - name: noadmin\n"
      "      dsn: \"" + Dsn(stack->pgb_port(), "pgbouncer", "app") + " password=apppass\"\n");
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& m) {
        return !std::isnan(MetricValue(m, "pg_up", {"target=\"weak\""})) &&
               MetricValue(m, "pgbouncer_up", {"target=\"noadmin\""}) == 0;
      },
      10s))
      << pw.Metrics();
  std::this_thread::sleep_for(1500ms);
  std::string m = pw.Metrics();
  // The PostgreSQL target is reachable: up, and each collector reports success or failure.
  EXPECT_EQ(MetricValue(m, "pg_up", {"target=\"weak\""}), 1) << m;
  for (const auto& name : Names(TargetKind::kPostgres)) {
    double v = MetricValue(m, "poolwatch_collector_success",
                           {"target=\"weak\"", "collector=\"" + name + "\""});
    EXPECT_TRUE(v == 0 || v == 1) << name << " not reported";
  }
  // A non-admin, non-stats user is refused by the admin console: down with a reason.
  double reasons = 0;
  for (const char* r : {"auth_failed", "permission_denied", "protocol", "other", "refused"}) {
    reasons += MetricValue(m, "poolwatch_target_down_reason",
                           {"target=\"noadmin\"", std::string("reason=\"") + r + "\""});
  }
  EXPECT_EQ(reasons, 1) << m;
  EXPECT_TRUE(pw.process().Running());
  EXPECT_THAT(pw.Logs(), Not(HasSubstr("apppass")));
  EXPECT_THAT(HttpGet(pw.Url("/status")).body, Not(HasSubstr("apppass")));
}

TEST(LeastPrivilegeIntegration, PasswordsFromEnvAndFileNeverFromTheCommandLine) {
  // The secret role needs a password; give it through ${ENV} and check the process's command
  // line and environment-free outputs never carry it.
  const std::string secret = "S3cr3t-pw!";
  PoolwatchProcess pw(
      "sampling: {interval: 1s, timeout: 900ms}\n"
      "targets:\n"
      "  postgres:\n"
      "    - name: env\n"
      "      dsn: \"" + Dsn(stack->pg_port(), "postgres", "pwsecret") + "\"\n"
      "      password: ${PW_SECRET}\n",
      {}, {{"PW_SECRET", secret}});
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& m) { return MetricValue(m, "pg_up", {"target=\"env\""}) == 1; }, 10s))
      << pw.Metrics();
  std::string cmdline =
      support::ReadFile("/proc/" + std::to_string(pw.process().pid()) + "/cmdline");
  EXPECT_THAT(cmdline, Not(HasSubstr(secret)));
  // --once in every output format: the target is up and the password is nowhere.
  ::setenv("PW_SECRET", secret.c_str(), 1);
  for (const char* fmt : {"text", "json", "prometheus"}) {
    std::string out;
    int rc = support::RunCommand(
        {support::PoolwatchBin(), "--once", std::string("--output=") + fmt, "-c", pw.config_path()},
        &out);
    EXPECT_EQ(rc, 0) << out;
    EXPECT_THAT(out, Not(HasSubstr(secret))) << fmt;
  }
  ::unsetenv("PW_SECRET");
}

}  // namespace
}  // namespace poolwatch
