// The PostgreSQL collectors against a real PostgreSQL 15:
// each test induces the condition with real sessions and reads poolwatch's /metrics and /status.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <thread>

#include "collectors/pq_connection.h"
#include "tests/support/integration.h"

namespace poolwatch {
namespace {

// PgBouncer (unused by the PostgreSQL-only configs here, but for one test) gets a pool in
// statement mode and passes poolwatch's `options` startup parameter.
PgStack*& stack = support::SharedStack(
    {{"PGB_ALIAS", "stmt:app pool_mode=statement"}, {"PGB_IGNORE_STARTUP", "options"}});

constexpr double kInterval = 0.5;  // seconds, the sampling interval of every test below

// A PostgreSQL-only config; `extra` is indented target-level YAML.
std::string Config(const std::string& extra, const std::string& dsn = "") {
  return support::SamplingYaml() + "targets:\n  postgres:\n" +
         support::TargetYaml("main", dsn.empty() ? stack->PgDsn() : dsn, extra);
}

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

nlohmann::json Offenders(const PoolwatchProcess& pw) {
  auto r = HttpGet(pw.Url("/status"));
  EXPECT_EQ(r.status, 200);
  auto j = nlohmann::json::parse(r.body);
  for (const auto& t : j["targets"]) {
    if (t["name"] == "main") return t["offenders"];
  }
  return nlohmann::json::array();
}

// postgres_exporter's identity, limit and health names against the real server's own answers
//: the values a dashboard divides by must be the server's, in postgres_exporter's
// units.
TEST(PgCollectorsIntegration, SettingsVersionStartTimeAndExporterHealthMatchTheServer) {
  PoolwatchProcess pw(Config(""));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& m) { return m.find("\npg_static{") != std::string::npos; }, 5s))
      << pw.Metrics();
  const std::string m = pw.Metrics();
  Sql s(stack->SuperDsn("postgres"));
  auto num = [&](const std::string& sql) { return std::stod(s.Scalar(sql)); };
  const std::vector<std::string> t = {"target=\"main\""};
  EXPECT_EQ(MetricValue(m, "pg_settings_max_locks_per_transaction", t),
            num("SELECT setting FROM pg_settings WHERE name = 'max_locks_per_transaction'"));
  EXPECT_EQ(MetricValue(m, "pg_settings_shared_buffers_bytes", t),
            num("SELECT pg_size_bytes(current_setting('shared_buffers'))"));
  EXPECT_EQ(MetricValue(m, "pg_settings_work_mem_bytes", t),
            num("SELECT pg_size_bytes(current_setting('work_mem'))"));
  EXPECT_EQ(MetricValue(m, "pg_settings_max_wal_size_bytes", t),
            num("SELECT pg_size_bytes(current_setting('max_wal_size'))"));
  EXPECT_DOUBLE_EQ(MetricValue(m, "pg_settings_deadlock_timeout_seconds", t),
                   num("SELECT extract(epoch FROM current_setting('deadlock_timeout')::interval)"));
  EXPECT_EQ(MetricValue(m, "pg_settings_transaction_read_only", t), 0);
  EXPECT_EQ(MetricValue(m, "pg_settings_random_page_cost", t),
            num("SELECT current_setting('random_page_cost')"));
  const double v = num("SELECT current_setting('server_version_num')");
  const std::string short_version = std::to_string(static_cast<int>(v) / 10000) + "." +
                                    std::to_string(static_cast<int>(v) % 10000) + ".0";
  EXPECT_EQ(MetricValue(m, "pg_static",
                        {"target=\"main\"", "short_version=\"" + short_version + "\"",
                         "version=\"" + s.Scalar("SELECT version()") + "\""}),
            1)
      << m.substr(m.find("pg_static"), 300);
  EXPECT_NEAR(MetricValue(m, "pg_postmaster_start_time_seconds", t),
              num("SELECT extract(epoch FROM pg_postmaster_start_time())"), 0.001);
  EXPECT_EQ(MetricValue(m, "pg_exporter_last_scrape_error", t), 0);
  EXPECT_GT(MetricValue(m, "pg_exporter_last_scrape_duration_seconds", t), 0);
  EXPECT_GT(MetricValue(m, "process_resident_memory_bytes"), 0);
  EXPECT_GT(MetricValue(m, "process_open_fds"), 0);
  // All pg_stat_database columns, for every database, under postgres_exporter's labels.
  for (const char* c : {"blks_read", "blks_hit", "tup_returned", "tup_fetched", "tup_inserted",
                        "tup_updated", "tup_deleted", "conflicts", "temp_files", "temp_bytes",
                        "blk_read_time", "blk_write_time"}) {
    EXPECT_GE(MetricValue(m, std::string("pg_stat_database_") + c, {"datname=\"postgres\""}), 0)
        << c;
  }
  EXPECT_GT(MetricValue(m, "pg_stat_database_blks_hit", {"datname=\"postgres\""}), 0);
}

TEST(PgCollectorsIntegration, IdleInTransactionLeaksAndTheirAge) {
  PoolwatchProcess pw(Config("      leak_timeout: 1s\n"));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& m) {
        return MetricValue(m, "poolwatch_connection_leaks", {"kind=\"idle_in_transaction\""}) == 0;
      },
      5s))
      << pw.Metrics();
  constexpr int kN = 3;
  std::vector<std::unique_ptr<Sql>> sessions;
  std::vector<int> pids;
  double first_idle_unix = 0;
  for (int i = 0; i < kN; ++i) {
    sessions.push_back(std::make_unique<Sql>(stack->SuperDsn("app")));
    sessions.back()->Exec("BEGIN");
    sessions.back()->Exec("SELECT 1");
    if (i == 0) {  // idle in transaction since just before this
      first_idle_unix =
          std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
              .count();
    }
    pids.push_back(sessions.back()->BackendPid());
  }
  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& m) {
        return MetricValue(m, "poolwatch_connection_leaks", {"kind=\"idle_in_transaction\""}) == kN;
      },
      10s))
      << pw.Metrics();
  std::string m = pw.Metrics();
  const double age = MetricValue(m, "poolwatch_pg_oldest_idle_in_transaction_age_seconds",
                                 {"target=\"main\"", "datname=\"app\""});
  // Right to within one interval: against the true age as of the sample that produced it (same
  // host, so the server's and our wall clocks agree).
  const double sample_unix =
      MetricValue(m, "poolwatch_last_sample_timestamp_seconds", {"target=\"main\""});
  EXPECT_GT(age, 1.0) << m;
  EXPECT_NEAR(age, sample_unix - first_idle_unix, kInterval) << m;
  // Every leaked backend is named in the offenders.
  std::set<int> named;
  for (const auto& o : Offenders(pw)) {
    if (o["category"] == "idle_in_transaction") named.insert(o["pid"].get<int>());
  }
  for (int pid : pids) EXPECT_TRUE(named.count(pid)) << "pid " << pid;

  for (auto& s : sessions) s->Exec("ROLLBACK");
  EXPECT_TRUE(pw.WaitMetric(
      [](const std::string& x) {
        return MetricValue(x, "poolwatch_connection_leaks", {"kind=\"idle_in_transaction\""}) ==
                   0 &&
               MetricValue(x, "poolwatch_pg_oldest_idle_in_transaction_age_seconds",
                           {"datname=\"app\""}) == 0;
      },
      5s))
      << pw.Metrics();
}

TEST(PgCollectorsIntegration, HeldTransactionMovesCountsAndAgesButExcludedAppsDoNot) {
  PoolwatchProcess pw(
      Config("      long_transactions:\n"
             "        threshold: 1s\n"
             "        thresholds: [1s, 2s]\n"
             "        exclude_application_names: [\"batch-*\"]\n"));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  Sql held(stack->SuperDsn("app"));
  held.Exec("SET application_name = 'held-app'");
  const auto held_since = std::chrono::steady_clock::now();  // the transaction starts after
  held.Exec("BEGIN ISOLATION LEVEL REPEATABLE READ");
  held.Exec("SELECT count(*) FROM pg_class");  // takes the snapshot: backend_xmin is set
  Sql excluded(stack->SuperDsn("app"));
  excluded.Exec("SET application_name = 'batch-nightly'");
  excluded.Exec("BEGIN");
  excluded.Exec("SELECT 1");

  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& m) {
        return MetricValue(m, "poolwatch_pg_transactions_over_threshold",
                           {"target=\"main\"", "threshold=\"2s\""}) == 1;
      },
      10s))
      << pw.Metrics();
  std::string m = pw.Metrics();
  // The excluded session is as old, and would make these 2.
  EXPECT_EQ(MetricValue(m, "poolwatch_pg_transactions_over_threshold", {"threshold=\"1s\""}), 1)
      << m;
  EXPECT_EQ(MetricValue(m, "pg_long_running_transactions", {"target=\"main\""}), 1) << m;
  const double oldest =
      MetricValue(m, "pg_long_running_transactions_oldest_timestamp_seconds", {"target=\"main\""});
  EXPECT_GT(oldest, 2.0) << m;
  EXPECT_LE(oldest, Since(held_since) + 0.1) << m;
  EXPECT_GT(MetricValue(m, "poolwatch_pg_oldest_transaction_age_seconds", {"datname=\"app\""}),
            2.0);
  EXPECT_GT(
      MetricValue(m, "poolwatch_pg_oldest_idle_in_transaction_age_seconds", {"datname=\"app\""}),
      2.0);
  for (const auto& o : Offenders(pw)) {
    EXPECT_NE(o["application_name"], "batch-nightly") << o.dump();
  }

  // backend_xmin age grows with every transaction id handed out while the snapshot is held.
  Sql other(stack->SuperDsn("app"));
  for (int i = 0; i < 5; ++i) other.Exec("SELECT txid_current()");
  EXPECT_TRUE(pw.WaitMetric(
      [](const std::string& x) {
        return MetricValue(x, "poolwatch_pg_oldest_xmin_age_transactions", {"datname=\"app\""}) >=
               5;
      },
      5s))
      << pw.Metrics();

  // A running query moves the active-query age.
  Sql busy(stack->SuperDsn("app"));
  busy.Send("SELECT pg_sleep(2.5)");
  EXPECT_TRUE(pw.WaitMetric(
      [](const std::string& x) {
        return MetricValue(x, "poolwatch_pg_oldest_active_query_age_seconds",
                           {"datname=\"app\""}) >= 1;
      },
      5s))
      << pw.Metrics();
  busy.Exec("SELECT 1");

  // End the held transaction: everything drops to 0 though the excluded one is still open.
  held.Exec("COMMIT");
  EXPECT_TRUE(pw.WaitMetric(
      [](const std::string& x) {
        return MetricValue(x, "pg_long_running_transactions", {"target=\"main\""}) == 0 &&
               MetricValue(x, "poolwatch_pg_transactions_over_threshold", {"threshold=\"1s\""}) ==
                   0 &&
               MetricValue(x, "poolwatch_pg_oldest_transaction_age_seconds", {"datname=\"app\""}) ==
                   0;
      },
      5s))
      << pw.Metrics();
  excluded.Exec("ROLLBACK");
}

TEST(PgCollectorsIntegration, LockConflictCountsBlockedAndNamesBlockerAndBlocked) {
  Sql admin(stack->SuperDsn("app"));
  admin.Exec("CREATE TABLE IF NOT EXISTS lock_t (id int PRIMARY KEY, v int)");
  admin.Exec("INSERT INTO lock_t VALUES (1, 0) ON CONFLICT DO NOTHING");
  PoolwatchProcess pw(Config(""));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  Sql blocker(stack->SuperDsn("app"));
  blocker.Exec("BEGIN");
  blocker.Exec("UPDATE lock_t SET v = v + 1 WHERE id = 1");
  Sql waiter(stack->SuperDsn("app"));
  waiter.Send("UPDATE lock_t SET v = v + 42 WHERE id = 1 AND 'secret' <> 'x'");

  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& m) {
        return MetricValue(m, "poolwatch_pg_blocked_backends", {"datname=\"app\""}) == 1 &&
               MetricValue(m, "poolwatch_pg_lock_waiting_backends", {"datname=\"app\""}) == 1;
      },
      10s))
      << pw.Metrics();
  std::string m = pw.Metrics();
  EXPECT_EQ(MetricValue(m, "poolwatch_pg_blocked_backends", {"datname=\"postgres\""}), 0);
  EXPECT_GE(MetricValue(m, "pg_locks_count", {"datname=\"app\"", "mode=\"rowexclusivelock\""}), 1)
      << m;
  EXPECT_EQ(MetricValue(m, "pg_locks_count", {"datname=\"app\"", "mode=\"sireadlock\""}), 0) << m;

  bool saw_blocker = false, saw_blocked = false;
  for (const auto& o : Offenders(pw)) {
    if (o["category"] == "blocker" && o["pid"] == blocker.BackendPid()) saw_blocker = true;
    if (o["category"] == "blocked" && o["pid"] == waiter.BackendPid()) {
      saw_blocked = true;
      EXPECT_THAT(o["blocked_by"].get<std::vector<int>>(),
                  ::testing::ElementsAre(blocker.BackendPid()));
      EXPECT_EQ(o["wait_event"], "Lock:transactionid") << o.dump();
      // Literals masked by default.
      EXPECT_EQ(o["query"], "UPDATE lock_t SET v = v + ? WHERE id = ? AND ? <> ?") << o.dump();
    }
  }
  EXPECT_TRUE(saw_blocker) << HttpGet(pw.Url("/status")).body;
  EXPECT_TRUE(saw_blocked) << HttpGet(pw.Url("/status")).body;

  blocker.Exec("ROLLBACK");
  waiter.Exec("SELECT 1");  // drains the UPDATE's result
  EXPECT_TRUE(pw.WaitMetric(
      [](const std::string& x) {
        return MetricValue(x, "poolwatch_pg_blocked_backends", {"datname=\"app\""}) == 0;
      },
      5s))
      << pw.Metrics();
}

// A blocker outside any transaction: a session-level advisory lock, its holder idle (no
// xact_start, no xmin). Its own row says nothing, so it is found through the waiter's
// pg_blocking_pids() (the activity statement's second pass over its rows, run only when
// something is blocked).
TEST(PgCollectorsIntegration, AnIdleSessionLockHolderIsNamedAsTheBlocker) {
  PoolwatchProcess pw(Config(""));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  Sql holder(stack->SuperDsn("app"));
  holder.Exec("SELECT pg_advisory_lock(4711)");
  Sql waiter(stack->SuperDsn("app"));
  waiter.Send("SELECT pg_advisory_lock(4711)");
  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& m) {
        return MetricValue(m, "poolwatch_pg_blocked_backends", {"datname=\"app\""}) == 1;
      },
      10s))
      << pw.Metrics();
  bool saw_blocker = false, saw_blocked = false;
  for (const auto& o : Offenders(pw)) {
    if (o["category"] == "blocker" && o["pid"] == holder.BackendPid()) saw_blocker = true;
    if (o["category"] == "blocked" && o["pid"] == waiter.BackendPid()) {
      saw_blocked = true;
      EXPECT_THAT(o["blocked_by"].get<std::vector<int>>(),
                  ::testing::ElementsAre(holder.BackendPid()));
    }
  }
  EXPECT_TRUE(saw_blocker) << HttpGet(pw.Url("/status")).body;
  EXPECT_TRUE(saw_blocked) << HttpGet(pw.Url("/status")).body;
  holder.Exec("SELECT pg_advisory_unlock(4711)");
  waiter.Exec("SELECT pg_advisory_unlock(4711)");  // drains the waiter's result, then unlocks
}

// The session's prepared statement, through libpq against the real server: prepared once,
// executed with parameters (NULL included) after that; and when a pooler in transaction mode
// loses it (played here with DEALLOCATE), the session says so once and goes on unnamed.
TEST(PgCollectorsIntegration, PreparedStatementsArePreparedOncePerSessionAndSurviveLosingThem) {
  ConnectSpec spec;
  spec.dsn = stack->PgDsn();
  auto conn = ConnectPq(spec, std::chrono::steady_clock::now() + 5s);
  conn->SetDeadline(std::chrono::steady_clock::now() + 5s);
  const std::string sql = "SELECT cardinality($1::int[]) AS n, $2::text IS NULL AS unset";
  for (int i = 0; i < 3; ++i) {
    QueryResult r = conn->QueryPrepared(sql, {"{1,2,3}", std::nullopt});
    ASSERT_EQ(r.Rows(), 1);
    EXPECT_EQ(r.String(0, "n"), "3");
    EXPECT_EQ(r.String(0, "unset"), "t");
  }
  QueryResult named = conn->Query(
      "SELECT name, statement FROM pg_prepared_statements WHERE statement LIKE '%cardinality%'");
  ASSERT_EQ(named.Rows(), 1);
  EXPECT_EQ(named.String(0, "statement"), sql);
  conn->Query("DEALLOCATE " + named.String(0, "name"));
  try {
    conn->QueryPrepared(sql, {"{1}", std::string("x")});
    ADD_FAILURE() << "executing a deallocated statement succeeded";
  } catch (const DbError& e) {
    EXPECT_EQ(e.sqlstate(), "26000") << e.what();
    EXPECT_FALSE(e.connection_lost());
  }
  QueryResult r = conn->QueryPrepared(sql, {"{1}", std::string("x")});
  ASSERT_EQ(r.Rows(), 1);
  EXPECT_EQ(r.String(0, "n"), "1");
  EXPECT_EQ(r.String(0, "unset"), "f");
  EXPECT_EQ(conn->Query("SELECT count(*) AS n FROM pg_prepared_statements").String(0, "n"), "0");
}

// A PostgreSQL target behind a pooler in statement mode (PgBouncer's pool_mode=statement closes
// a session that opens a transaction block): the first sample notices, retries on a fresh
// session without a transaction, and the target is never down.
TEST(PgCollectorsIntegration, ThroughAPoolerInStatementModeSamplesWithoutATransaction) {
  const std::string dsn = "host=127.0.0.1 port=" + std::to_string(stack->pgb_port()) +
                          " dbname=stmt user=app password=apppass";
  PoolwatchProcess pw(Config("", dsn));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& m) {
        return MetricValue(m, "poolwatch_collector_success", {"collector=\"pg_stat_database\""}) ==
               1;
      },
      10s))
      << pw.Metrics() << pw.Logs();
  for (int i = 0; i < 6; ++i) {
    std::string m = pw.Metrics();
    EXPECT_EQ(MetricValue(m, "pg_up", {"target=\"main\""}), 1) << m;
    std::this_thread::sleep_for(std::chrono::duration<double>(kInterval));
  }
  EXPECT_THAT(pw.Logs(), HasSubstr("sampling without a transaction from now on"));
  EXPECT_THAT(pw.Logs(), Not(HasSubstr("is down")));
}

TEST(PgCollectorsIntegration, RollbackStormRaisesTheErrorRatioAndAQuietWindowClearsIt) {
  PoolwatchProcess pw(Config("      error_window: 3s\n      error_min_events: 20\n"));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  {
    Sql storm(stack->SuperDsn("app"));
    bool high = false;
    auto until = std::chrono::steady_clock::now() + 20s;
    while (!high && std::chrono::steady_clock::now() < until) {
      for (int i = 0; i < 100; ++i) storm.Exec("BEGIN; SELECT 1; ROLLBACK");
      high = MetricValue(pw.Metrics(), "poolwatch_error_ratio",
                         {"target=\"main\"", "kind=\"rollback\""}) > 0.05;
    }
    std::string m = pw.Metrics();
    ASSERT_TRUE(high) << m;
    EXPECT_GE(MetricValue(m, "poolwatch_error_window_events", {"kind=\"rollback\""}), 20) << m;
    EXPECT_GT(MetricValue(m, "poolwatch_error_window_errors", {"kind=\"rollback\""}), 0) << m;
    EXPECT_GT(MetricValue(m, "pg_stat_database_xact_rollback", {"datname=\"app\""}), 100) << m;
  }
  // No more rollbacks: once the window has slid past the storm (and the last stats flush), 0.
  EXPECT_TRUE(pw.WaitMetric(
      [](const std::string& x) {
        return MetricValue(x, "poolwatch_error_ratio", {"kind=\"rollback\""}) == 0;
      },
      20s))
      << pw.Metrics();
}

TEST(PgCollectorsIntegration, KilledSessionsRaiseTheSessionErrorRatio) {
  PoolwatchProcess pw(Config("      error_window: 5s\n      error_min_events: 3\n"));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  Sql admin(stack->SuperDsn("postgres"));
  std::vector<std::unique_ptr<Sql>> victims;
  for (int i = 0; i < 4; ++i) victims.push_back(std::make_unique<Sql>(stack->SuperDsn("app")));
  for (auto& v : victims) {
    admin.Exec("SELECT pg_terminate_backend(" + std::to_string(v->BackendPid()) + ")");
  }
  EXPECT_TRUE(pw.WaitMetric(
      [](const std::string& x) {
        return MetricValue(x, "poolwatch_error_ratio", {"kind=\"session\""}) > 0.5 &&
               MetricValue(x, "pg_stat_database_sessions_killed", {"datname=\"app\""}) >= 4;
      },
      20s))
      << pw.Metrics();
}

TEST(PgCollectorsIntegration, RoleWithoutPgMonitorDegradesAndStaysUp) {
  std::string dsn = stack->PgDsn();
  dsn.replace(dsn.find("user=poolwatch"), 14, "user=nopriv");
  Sql other(stack->SuperDsn("app"));
  other.Exec("BEGIN");
  other.Exec("SELECT 1");
  PoolwatchProcess pw(Config("      leak_timeout: 1s\n", dsn));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  std::this_thread::sleep_for(1500ms);  // a few samples
  ASSERT_TRUE(pw.process().Running()) << pw.Logs();
  std::string m = pw.Metrics();
  EXPECT_EQ(MetricValue(m, "pg_up", {"target=\"main\""}), 1) << m;
  for (const char* c :
       {"pg_stat_activity", "pg_long_transactions", "pg_locks", "pg_stat_database"}) {
    double ok = MetricValue(m, "poolwatch_collector_success",
                            {"target=\"main\"", std::string("collector=\"") + c + "\""});
    EXPECT_TRUE(ok == 0 || ok == 1) << c << "\n" << m;
  }
  // What it cannot see is reported: the superuser's session has no visible state.
  EXPECT_GE(MetricValue(m, "poolwatch_pg_invisible_backends", {"target=\"main\""}), 1) << m;
  other.Exec("ROLLBACK");
}

// Transactions of a database as pg_stat_database counts them, once every backend in it is gone
// (a backend flushes its counts when it exits).
double XactsOf(Sql& probe, const std::string& db) {
  EXPECT_TRUE(support::WaitUntil(
      [&] {
        return probe.Scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = '" + db + "'") ==
               "0";
      },
      10s));
  std::this_thread::sleep_for(300ms);
  return std::stod(probe.Scalar(
      "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '" + db + "'"));
}

// pg_settings is read once per connection and again after a reload: a changed
// parameter shows up within a sample or two of pg_reload_conf(), and goes back likewise.
TEST(PgCollectorsIntegration, SettingsAreReReadAfterAReload) {
  PoolwatchProcess pw(Config(""));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  const std::vector<std::string> t = {"target=\"main\""};
  auto work_mem_is = [&](double bytes) {
    return pw.WaitMetric(
        [&](const std::string& m) {
          return MetricValue(m, "pg_settings_work_mem_bytes", t) == bytes;
        },
        5s);
  };
  Sql s(stack->SuperDsn("postgres"));
  const double before = std::stod(s.Scalar("SELECT pg_size_bytes(current_setting('work_mem'))"));
  ASSERT_TRUE(work_mem_is(before)) << pw.Metrics();
  s.Exec("ALTER SYSTEM SET work_mem = '7MB'");
  s.Exec("SELECT pg_reload_conf()");
  EXPECT_TRUE(work_mem_is(7.0 * 1024 * 1024)) << pw.Metrics();
  s.Exec("ALTER SYSTEM RESET work_mem");
  s.Exec("SELECT pg_reload_conf()");
  EXPECT_TRUE(work_mem_is(before)) << pw.Metrics();
}

TEST(PgCollectorsIntegration, EachCollectorIsOneRoundTripPerSample) {
  Sql probe(stack->SuperDsn("app"));
  if (probe.Scalar("SELECT count(*) FROM pg_database WHERE datname = 'costdb'") == "0") {
    probe.Exec("CREATE DATABASE costdb");
  }
  probe.Exec("GRANT CONNECT ON DATABASE costdb TO poolwatch");
  const std::vector<std::string> names = {"pg_stat_activity", "pg_long_transactions", "pg_locks",
                                          "pg_stat_database"};
  support::TempDir d;
  // Runs `poolwatch --once` with the given collectors on; returns the transactions it caused.
  auto cost = [&](const std::vector<std::string>& on) {
    std::string collectors = "{";
    for (std::size_t i = 0; i < names.size(); ++i) {
      bool enabled = std::find(on.begin(), on.end(), names[i]) != on.end();
      collectors += (i ? ", " : "") + names[i] + ": " + (enabled ? "true" : "false");
    }
    collectors += "}";
    support::WriteFile(d.File("c.yaml"),
                       Config("      collectors: " + collectors + "\n", stack->PgDsn("costdb")));
    double before = XactsOf(probe, "costdb");
    std::string out;
    EXPECT_EQ(
        support::RunCommand({support::PoolwatchBin(), "--once", "-c", d.File("c.yaml")}, &out), 0)
        << out;
    return XactsOf(probe, "costdb") - before;
  };
  const double base = cost({});
  for (const auto& n : names) EXPECT_EQ(cost({n}) - base, 1) << n;
  // All four together: one transaction (the sampler wraps a PostgreSQL sample in BEGIN ...
  // COMMIT, so the server reads its backend-status array once), three statements in it:
  // pg_long_transactions reads the rows the pg_stat_activity collector's statement returned for
  // it (one scan of pg_stat_activity per sample).
  EXPECT_EQ(cost(names) - base, 1);
  EXPECT_EQ(cost({"pg_stat_activity", "pg_long_transactions"}) - base, 1);
}

TEST(PgCollectorsIntegration, LiveScrapePassesPromtoolWithOnlyCompatibilityNameLints) {
  PoolwatchProcess pw(
      Config("      activity_breakdown: {by: [usename, application_name], max_series: 5}\n"));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  Sql s(stack->SuperDsn("app"));
  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& m) {
        return MetricValue(m, "poolwatch_pg_backends_by_usename", {"usename=\"postgres\""}) >= 1;
      },
      5s))
      << pw.Metrics();
  support::TempDir d;
  support::WriteFile(d.File("scrape.prom"), pw.Metrics());
  std::string out;
  int rc = support::RunCommand(
      {"/bin/sh", "-c", "promtool check metrics < " + d.File("scrape.prom")}, &out);
  EXPECT_NE(rc, 1) << out;
  // postgres_exporter's names are kept on purpose: *_count gauges and counters without _total.
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    EXPECT_THAT(line, ::testing::MatchesRegex("(pg_stat_activity_count|pg_locks_count|"
                                              "pg_stat_database_[a-z_]+) .*"));
  }
}

}  // namespace
}  // namespace poolwatch
