// The PostgreSQL collectors against scripted result sets (the real server is in
// tests/integration/pg_collectors_test.cc).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/time.h"
#include "collectors/collector.h"
#include "collectors/pg_locks.h"
#include "collectors/pg_long_transactions.h"
#include "collectors/pg_stat_activity.h"
#include "collectors/pg_stat_database.h"
#include "exporter/sampler.h"
#include "tests/support/fakes.h"

namespace poolwatch {
namespace {

using support::FakeClock;
using support::FakeConnection;
using support::Rows;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

TargetSample NewSample() {
  TargetSample s;
  s.target = "main";
  s.kind = TargetKind::kPostgres;
  s.own_pids = {11, 12};
  return s;
}

const std::vector<std::string> kActivityCols = {"kind", "datname", "state",
                                                "key",  "count",   "value"};

QueryResult ActivityRows(std::vector<std::vector<std::string>> extra = {}) {
  std::vector<std::vector<std::string>> rows = {
      {"state", "app", "active", "\\N", "2", "3.5"},
      {"state", "app", "idle in transaction", "\\N", "1", "70"},
      {"state", "app", "idle", "\\N", "4", "0"},
      {"setting", "\\N", "\\N", "max_connections", "100", "0"},
      {"setting", "\\N", "\\N", "superuser_reserved_connections", "3", "0"},
      {"total", "\\N", "\\N", "\\N", "7", "2"},
      {"lock", "app", "\\N", "\\N", "2", "1"},
      {"lock", "postgres", "\\N", "\\N", "0", "0"},
  };
  for (auto& r : extra) rows.push_back(r);
  return Rows(kActivityCols, rows);
}

TEST(PgStatActivityTest, OneQueryExcludingOurselvesWithLockWaitsBlockedAndUtilization) {
  std::string sql;
  FakeConnection conn({{"WITH a AS", [&](std::string_view q) {
                          sql = std::string(q);
                          return ActivityRows();
                        }}});
  auto c = MakePgStatActivityCollector(CollectorOptions{});
  TargetSample s = NewSample();
  c->Collect(conn, s);
  EXPECT_EQ(conn.queries, 1);
  EXPECT_THAT(sql, HasSubstr("pid <> pg_backend_pid()"));
  EXPECT_THAT(sql, HasSubstr("'{11,12}'::int[]"));
  EXPECT_THAT(sql, HasSubstr("pg_blocking_pids(pid)"));
  auto& m = s.metrics;
  EXPECT_EQ(m.Value("pg_stat_activity_count", {{"datname", "app"}, {"state", "active"}}), 2);
  EXPECT_EQ(m.Value("pg_stat_activity_max_tx_duration",
                    {{"datname", "app"}, {"state", "idle in transaction"}}),
            70);
  EXPECT_EQ(m.Value("poolwatch_pg_lock_waiting_backends", {{"datname", "app"}}), 2);
  EXPECT_EQ(m.Value("poolwatch_pg_blocked_backends", {{"datname", "app"}}), 1);
  EXPECT_EQ(m.Value("poolwatch_pg_blocked_backends", {{"datname", "postgres"}}), 0);
  EXPECT_EQ(m.Value("poolwatch_pg_client_backends"), 7);
  EXPECT_EQ(m.Value("poolwatch_pg_invisible_backends"), 2);
  EXPECT_EQ(m.Value("pg_settings_max_connections"), 100);
  EXPECT_DOUBLE_EQ(
      *m.Value("poolwatch_pool_utilization_ratio",
               {{"target", "main"}, {"kind", "postgres"}, {"database", ""}, {"user", ""}}),
      7.0 / 97.0);
  EXPECT_FALSE(m.Has("poolwatch_pg_backends_by_usename")) << "breakdown is off by default";
  EXPECT_THAT(m.DeclarationProblems(), ::testing::IsEmpty());
  EXPECT_THAT(sql, ::testing::Not(HasSubstr("GROUP BY 3, 4")));
}

TEST(PgStatActivityTest, BreakdownFoldsValuesOutsideTheAllowListAndCapsSeries) {
  CollectorOptions o;
  o.activity_breakdown.by = {"usename"};
  o.activity_breakdown.allow = {"app*"};
  o.activity_breakdown.max_series = 2;
  std::string sql;
  FakeConnection conn({{"WITH a AS", [&](std::string_view q) {
                          sql = std::string(q);
                          return ActivityRows({{"usename", "\\N", "idle", "app1", "5", "0"},
                                               {"usename", "\\N", "active", "app2", "3", "0"},
                                               {"usename", "\\N", "idle", "bob", "2", "0"},
                                               {"usename", "\\N", "idle", "carol", "1", "0"}});
                        }}});
  auto c = MakePgStatActivityCollector(o);
  TargetSample s = NewSample();
  c->Collect(conn, s);
  EXPECT_EQ(conn.queries, 1);
  EXPECT_THAT(sql, HasSubstr("coalesce(usename, '')"));
  auto series = s.metrics.Samples("poolwatch_pg_backends_by_usename");
  ASSERT_EQ(series.size(), 2u);
  EXPECT_EQ(
      s.metrics.Value("poolwatch_pg_backends_by_usename", {{"usename", "app1"}, {"state", "idle"}}),
      5);
  // bob + carol folded into "other" (3) tie with app2/active (3); one of them is dropped.
  const Labels fam = {{"family", "poolwatch_pg_backends_by_usename"}};
  EXPECT_EQ(s.metrics.Value("poolwatch_dropped_series_total", fam), 1);
  EXPECT_THAT(s.metrics.DeclarationProblems(), ::testing::IsEmpty());
  TargetSample s2 = NewSample();
  c->Collect(conn, s2);
  EXPECT_EQ(s2.metrics.Value("poolwatch_dropped_series_total", fam), 2) << "a counter";
}

const std::vector<std::string> kLongCols = {
    "db",          "pid",       "datname",      "usename",         "application_name",
    "client_addr", "state",     "backend_type", "wait_event_type", "wait_event",
    "xact_age",    "state_age", "query_age",    "xmin_age",        "blocked_by",
    "blocker",     "query"};

QueryResult LongRows() {
  return Rows(
      kLongCols,
      {
          // A quiet database: only its name.
          {"postgres", "\\N", "\\N", "\\N", "\\N", "\\N", "\\N", "\\N", "\\N", "\\N", "\\N", "\\N",
           "\\N", "\\N", "\\N", "\\N", "\\N"},
          // Idle in transaction for 400s, blocking pid 102.
          {"app", "101", "app", "alice", "web", "10.0.0.5", "idle in transaction", "client backend",
           "Client", "ClientRead", "500", "400", "500", "12", "\\N", "t",
           "UPDATE accounts SET balance = 10 WHERE id = 7"},
          // Waiting for 101 for 90s.
          {"app", "102", "app", "bob", "worker", "10.0.0.6", "active", "client backend", "Lock",
           "transactionid", "90", "90", "90", "3", "{101}", "f",
           "UPDATE accounts SET balance = 'x' WHERE id = 7"},
          // Short and active.
          {"app", "103", "app", "carol", "api", "\\N", "active", "client backend", "\\N", "\\N",
           "2", "2", "2", "\\N", "\\N", "f", "SELECT 1"},
          // Excluded: application name pattern and backend type.
          {"app", "104", "app", "dave", "batch-nightly", "\\N", "idle in transaction",
           "client backend", "\\N", "\\N", "9000", "9000", "9000", "999", "\\N", "f", "SELECT 2"},
          {"app", "105", "app", "\\N", "\\N", "\\N", "active", "autovacuum worker", "\\N", "\\N",
           "8000", "8000", "8000", "998", "\\N", "f", "autovacuum: x"},
      });
}

TEST(PgLongTransactionsTest, CountsAgesLeaksAndOffendersWithExclusions) {
  CollectorOptions o;
  o.long_transactions.threshold = 60s;
  o.long_transactions.thresholds = {60s, 300s};
  o.long_transactions.exclude_application_names = {"batch-*", "poolwatch"};
  o.leak_timeout = 60s;
  o.offenders.top = 1;
  std::string sql;
  FakeConnection conn({{"WITH b AS", [&](std::string_view q) {
                          sql = std::string(q);
                          return LongRows();
                        }}});
  auto c = MakePgLongTransactionsCollector(o);
  TargetSample s = NewSample();
  c->Collect(conn, s);
  EXPECT_EQ(conn.queries, 1);
  EXPECT_THAT(sql, HasSubstr("'{11,12}'::int[]"));
  auto& m = s.metrics;
  EXPECT_EQ(m.Value("pg_long_running_transactions"), 2);  // 101 (500s), 102 (90s)
  EXPECT_EQ(m.Value("pg_long_running_transactions_oldest_timestamp_seconds"), 500);
  EXPECT_EQ(m.Value("poolwatch_pg_transactions_over_threshold", {{"threshold", "60s"}}), 2);
  EXPECT_EQ(m.Value("poolwatch_pg_transactions_over_threshold", {{"threshold", "300s"}}), 1);
  EXPECT_EQ(m.Value("poolwatch_pg_oldest_transaction_age_seconds", {{"datname", "app"}}), 500);
  EXPECT_EQ(m.Value("poolwatch_pg_oldest_idle_in_transaction_age_seconds", {{"datname", "app"}}),
            400);
  EXPECT_EQ(m.Value("poolwatch_pg_oldest_active_query_age_seconds", {{"datname", "app"}}), 90);
  EXPECT_EQ(m.Value("poolwatch_pg_oldest_xmin_age_transactions", {{"datname", "app"}}), 12);
  EXPECT_EQ(m.Value("poolwatch_pg_oldest_transaction_age_seconds", {{"datname", "postgres"}}), 0);
  EXPECT_EQ(m.Value("poolwatch_connection_leaks", {{"kind", "idle_in_transaction"}}), 1);

  std::map<std::string, std::vector<int>> by_cat;
  for (const auto& off : s.offenders) by_cat[off.category].push_back(off.pid);
  EXPECT_EQ(by_cat["long_transaction"], std::vector<int>({101}));  // top 1
  EXPECT_EQ(by_cat["idle_in_transaction"], std::vector<int>({101}));
  EXPECT_EQ(by_cat["blocker"], std::vector<int>({101}));
  EXPECT_EQ(by_cat["blocked"], std::vector<int>({102}));
  for (const auto& off : s.offenders) {
    EXPECT_NE(off.pid, 104);
    EXPECT_NE(off.pid, 105);
    if (off.category == "blocked") {
      EXPECT_EQ(off.blocked_by, std::vector<int>({101}));
      EXPECT_EQ(off.wait_event, "Lock:transactionid");
      EXPECT_EQ(off.query, "UPDATE accounts SET balance = ? WHERE id = ?");
      EXPECT_EQ(off.usename, "bob");
      EXPECT_EQ(off.client_addr, "10.0.0.6");
      EXPECT_EQ(off.xact_age_seconds, 90);
    }
  }
}

TEST(PgLongTransactionsTest, LeakTimeoutAndQueryOptionsAreHonoured) {
  CollectorOptions o;
  o.leak_timeout = 500s;  // 101 has been idle for 400s: not a leak yet; 104 for 9000s is
  o.offenders.mask_literals = false;
  o.offenders.query_length = 20;
  FakeConnection conn({{"WITH b AS", [](std::string_view) { return LongRows(); }}});
  auto c = MakePgLongTransactionsCollector(o);
  TargetSample s = NewSample();
  c->Collect(conn, s);
  EXPECT_EQ(s.metrics.Value("poolwatch_connection_leaks"), 1);
  // Defaults: thresholds 60s and 300s; poolwatch excluded but batch-nightly is not (9000s).
  EXPECT_EQ(s.metrics.Value("poolwatch_pg_transactions_over_threshold", {{"threshold", "300s"}}),
            2);
  for (const auto& off : s.offenders) {
    if (off.pid == 101) {
      EXPECT_EQ(off.query, "UPDATE accounts S...");
    }
  }
}

TEST(PgLongTransactionsTest, ThresholdLabels) {
  EXPECT_EQ(DurationLabel(60s), "60s");
  EXPECT_EQ(DurationLabel(5min), "300s");
  EXPECT_EQ(DurationLabel(1500ms), "1500ms");
}

TEST(PgLocksTest, OneQueryLowerCaseModesOwnLocksExcluded) {
  std::string sql;
  FakeConnection conn(
      {{"SELECT d.datname, m.mode", [&](std::string_view q) {
          sql = std::string(q);
          return Rows({"datname", "mode", "count"},
                      {{"app", "accessexclusivelock", "1"}, {"app", "rowexclusivelock", "4"}});
        }}});
  auto c = MakePgLocksCollector(CollectorOptions{});
  TargetSample s = NewSample();
  c->Collect(conn, s);
  EXPECT_EQ(conn.queries, 1);
  for (const auto& mode : PgLockModes()) EXPECT_THAT(sql, HasSubstr("('" + mode + "')"));
  EXPECT_THAT(sql, HasSubstr("'{11,12}'::int[]"));
  EXPECT_EQ(s.metrics.Value("pg_locks_count", {{"datname", "app"}, {"mode", "rowexclusivelock"}}),
            4);
}

TEST(PgStatDatabaseTest, CountersAndSlidingRollbackAndSessionRatios) {
  FakeClock clock;
  CollectorOptions o;
  o.clock = &clock;
  o.error_window.window = 60s;
  o.error_window.min_events = 20;
  double commits = 1000, rollbacks = 10, sessions = 50, killed = 0;
  std::string sql;
  FakeConnection conn({{"SELECT s.datid", [&](std::string_view q) {
                          sql = std::string(q);
                          auto n = [](double v) { return std::to_string(v); };
                          return Rows({"datid", "datname", "numbackends", "xact_commit",
                                       "xact_rollback", "deadlocks", "sessions",
                                       "sessions_abandoned", "sessions_fatal", "sessions_killed"},
                                      {{"16384", "app", "3", n(commits), n(rollbacks), "1",
                                        n(sessions), "0", "0", n(killed)}});
                        }}});
  auto c = MakePgStatDatabaseCollector(o);
  auto sample = [&] {
    TargetSample s = NewSample();
    c->Collect(conn, s);
    return s;
  };
  TargetSample s = sample();
  EXPECT_THAT(sql, HasSubstr("sessions_killed"));  // FakeConnection says PostgreSQL 15
  EXPECT_EQ(
      s.metrics.Value("pg_stat_database_xact_commit", {{"datid", "16384"}, {"datname", "app"}}),
      1000);
  EXPECT_EQ(s.metrics.Value("pg_stat_database_numbackends", {{"datname", "app"}}), 3);
  EXPECT_EQ(s.metrics.Value("pg_stat_database_deadlocks"), 1);
  EXPECT_EQ(s.metrics.Value("poolwatch_error_ratio", {{"kind", "rollback"}}), 0);

  // 10 transactions, all rolled back: too few events for a ratio.
  clock.Advance(5s);
  rollbacks += 10;
  s = sample();
  EXPECT_EQ(s.metrics.Value("poolwatch_error_ratio", {{"kind", "rollback"}}), 0);
  EXPECT_EQ(s.metrics.Value("poolwatch_error_window_events", {{"kind", "rollback"}}), 10);
  EXPECT_EQ(s.metrics.Value("poolwatch_error_window_errors", {{"kind", "rollback"}}), 10);

  // 90 commits more: 10 / 100.
  clock.Advance(5s);
  commits += 90;
  sessions += 10;
  killed += 5;
  s = sample();
  EXPECT_DOUBLE_EQ(*s.metrics.Value("poolwatch_error_ratio", {{"kind", "rollback"}}), 0.1);
  EXPECT_EQ(s.metrics.Value("poolwatch_error_window_events", {{"kind", "session"}}), 10);
  EXPECT_EQ(s.metrics.Value("poolwatch_error_ratio", {{"kind", "session"}}), 0)
      << "10 sessions are below error_min_events";

  // A quiet minute later the window holds no errors.
  clock.Advance(61s);
  s = sample();
  clock.Advance(5s);
  s = sample();
  EXPECT_EQ(s.metrics.Value("poolwatch_error_ratio", {{"kind", "rollback"}}), 0);
  EXPECT_EQ(s.metrics.Value("poolwatch_error_window_errors", {{"kind", "rollback"}}), 0);
}

// Every pg_stat_database column postgres_exporter exports, from the same query, with its names,
// types and labels.
TEST(PgStatDatabaseTest, EveryPostgresExporterColumnFromTheOneQuery) {
  const std::vector<std::string> counters = {
      "xact_commit", "xact_rollback", "blks_read",  "blks_hit",      "tup_returned",
      "tup_fetched", "tup_inserted",  "tup_updated", "tup_deleted",  "conflicts",
      "temp_files",  "temp_bytes",    "deadlocks",   "blk_read_time", "blk_write_time"};
  std::vector<std::string> cols = {"datid", "datname", "numbackends"};
  std::vector<std::string> row = {"16384", "app", "3"};
  for (std::size_t i = 0; i < counters.size(); ++i) {
    cols.push_back(counters[i]);
    row.push_back(std::to_string(100 + i));
  }
  std::string sql;
  FakeConnection conn({{"SELECT s.datid", [&](std::string_view q) {
                          sql = std::string(q);
                          return Rows(cols, {row});
                        }}});
  CollectorOptions o;
  FakeClock clock;
  o.clock = &clock;
  auto c = MakePgStatDatabaseCollector(o);
  TargetSample s = NewSample();
  c->Collect(conn, s);
  EXPECT_EQ(conn.queries, 1);
  EXPECT_THAT(s.metrics.DeclarationProblems(), ::testing::IsEmpty());
  for (std::size_t i = 0; i < counters.size(); ++i) {
    const std::string name = "pg_stat_database_" + counters[i];
    SCOPED_TRACE(name);
    EXPECT_THAT(sql, HasSubstr("s." + counters[i]));
    auto samples = s.metrics.Samples(name);
    ASSERT_EQ(samples.size(), 1u);
    EXPECT_EQ(samples[0].first, (Labels{{"target", "main"}, {"datid", "16384"}, {"datname", "app"}}));
    EXPECT_EQ(samples[0].second, 100 + i);
    ASSERT_NE(FindFamily(name), nullptr);
    EXPECT_EQ(FindFamily(name)->type, prometheus::MetricType::Counter);
  }
  EXPECT_EQ(FindFamily("pg_stat_database_numbackends")->type, prometheus::MetricType::Gauge);
}

// pg_settings_* with postgres_exporter's unit conversion, pg_static and the postmaster's start
// time come from the activity query's existing pg_settings part: no extra round trip.
TEST(PgStatActivityTest, SettingsInBaseUnitsVersionAndStartTimeInTheSameQuery) {
  std::string sql;
  FakeConnection conn({{"WITH a AS", [&](std::string_view q) {
                          sql = std::string(q);
                          return ActivityRows({
                              {"setting", "\\N", "\\N", "max_locks_per_transaction", "64", "0"},
                              {"setting", "\\N", "8kB", "shared_buffers", "16384", "0"},
                              {"setting", "\\N", "kB", "work_mem", "4096", "0"},
                              {"setting", "\\N", "MB", "max_wal_size", "1024", "0"},
                              {"setting", "\\N", "ms", "statement_timeout", "1500", "0"},
                              {"setting", "\\N", "\\N", "transaction_read_only", "0", "0"},
                              {"static", "\\N", "PostgreSQL 15.4 on x86_64", "150004",
                               "1700000000.5", "0"},
                          });
                        }}});
  auto c = MakePgStatActivityCollector(CollectorOptions{});
  TargetSample s = NewSample();
  c->Collect(conn, s);
  EXPECT_EQ(conn.queries, 1);
  EXPECT_THAT(sql, HasSubstr("'max_locks_per_transaction'"));
  EXPECT_THAT(sql, HasSubstr("pg_postmaster_start_time()"));
  // One scan of pg_stat_activity (its function, pg_stat_get_activity), the CTE: the
  // settings part scans no more of it, and the invisible-backend count reads the same CTE.
  std::size_t scans = 0;
  for (const char* scan : {"FROM pg_stat_activity", "pg_stat_get_activity("}) {
    for (std::size_t at = sql.find(scan); at != std::string::npos; at = sql.find(scan, at + 1)) {
      ++scans;
    }
  }
  EXPECT_EQ(scans, 1u);
  auto& m = s.metrics;
  EXPECT_THAT(m.DeclarationProblems(), ::testing::IsEmpty());
  EXPECT_EQ(m.Value("pg_settings_max_connections", {{"target", "main"}}), 100);
  EXPECT_EQ(m.Value("pg_settings_superuser_reserved_connections"), 3);
  EXPECT_EQ(m.Value("pg_settings_max_locks_per_transaction"), 64);
  EXPECT_EQ(m.Value("pg_settings_shared_buffers_bytes"), 16384.0 * 8192);
  EXPECT_EQ(m.Value("pg_settings_work_mem_bytes"), 4096.0 * 1024);
  EXPECT_EQ(m.Value("pg_settings_max_wal_size_bytes"), 1024.0 * 1048576);
  EXPECT_DOUBLE_EQ(*m.Value("pg_settings_statement_timeout_seconds"), 1.5);
  EXPECT_EQ(m.Value("pg_settings_transaction_read_only"), 0);
  EXPECT_EQ(m.Value("pg_static", {{"target", "main"},
                                  {"version", "PostgreSQL 15.4 on x86_64"},
                                  {"short_version", "15.4.0"}}),
            1);
  EXPECT_EQ(m.Value("pg_postmaster_start_time_seconds"), 1700000000.5);
}

std::size_t Count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

// The default PostgreSQL collectors read pg_stat_activity once per sample: the
// pg_stat_activity collector's statement also returns pg_long_transactions' rows (kind "long"),
// which that collector reads from the sample instead of querying; pg_stat_database counts
// poolwatch's own backends without it. Each collector still has its own success.
TEST(PgCollectorTableTest, OneScanOfPgStatActivityPerSampleFeedsEveryCollector) {
  std::vector<std::string> cols = kActivityCols;
  cols.insert(cols.end(), kLongCols.begin(), kLongCols.end());
  auto combined = [&]() {
    std::vector<std::vector<std::string>> rows;
    const std::size_t pad = kLongCols.size();
    for (const auto& r : std::vector<std::vector<std::string>>{
             {"state", "app", "active", "\\N", "2", "3.5"},
             {"total", "\\N", "\\N", "\\N", "7", "0"}}) {
      auto row = r;
      row.insert(row.end(), pad, "\\N");
      rows.push_back(row);
    }
    QueryResult lr = LongRows();
    for (int i = 0; i < lr.Rows(); ++i) {
      // kind, datname, state, key, count, value, then the long columns.
      std::vector<std::string> row = {"long", lr.String(i, "datname", "\\N"),
                                      lr.String(i, "state", "\\N"), "\\N", "\\N", "\\N"};
      for (const auto& c : kLongCols) row.push_back(lr.String(i, c, "\\N"));
      rows.push_back(row);
    }
    return Rows(cols, rows);
  };
  std::vector<std::string> sqls;
  FakeConnection conn({{"WITH a AS",
                        [&](std::string_view q) {
                          sqls.emplace_back(q);
                          return combined();
                        }},
                       {"SELECT d.datname, m.mode",
                        [&](std::string_view q) {
                          sqls.emplace_back(q);
                          return Rows({"datname", "mode", "count"}, {});
                        }},
                       {"SELECT s.datid", [&](std::string_view q) {
                          sqls.emplace_back(q);
                          return Rows({"datid", "datname", "numbackends"}, {{"1", "app", "3"}});
                        }}});
  CollectorOptions o;
  o.long_transactions.thresholds = {60s, 300s};
  FakeClock clock;
  o.clock = &clock;
  auto collectors = MakeCollectors(TargetKind::kPostgres, {}, {}, o);
  ASSERT_EQ(collectors.size(), 4u);
  TargetSample s = NewSample();
  for (auto& c : collectors) c->Collect(conn, s);  // throws if one queried what is not scripted
  EXPECT_EQ(conn.queries, 3) << "pg_long_transactions read the activity statement's rows";
  std::string all;
  for (const auto& q : sqls) all += q + "\n";
  EXPECT_EQ(Count(all, "pg_stat_activity") + Count(all, "pg_stat_get_activity("), 1u) << all;
  EXPECT_EQ(Count(all, "pg_blocking_pids("), 1u) << "once per waiting backend, in the CTE";
  EXPECT_THAT(sqls[0], HasSubstr("'long'"));
  EXPECT_THAT(sqls[0], HasSubstr("left(query, 1024)"));
  EXPECT_THAT(sqls[2], HasSubstr("pg_stat_get_backend_idset()"));
  EXPECT_THAT(sqls[2], HasSubstr("'{11,12}'::int[]"));
  EXPECT_TRUE(s.shared_results.empty()) << "consumed";
  auto& m = s.metrics;
  EXPECT_EQ(m.Value("pg_stat_activity_count", {{"datname", "app"}, {"state", "active"}}), 2);
  EXPECT_EQ(m.Value("poolwatch_pg_client_backends"), 7);
  // The same figures as from its own query (PgLongTransactionsTest above, default options).
  EXPECT_EQ(m.Value("poolwatch_pg_transactions_over_threshold", {{"threshold", "300s"}}), 2);
  EXPECT_EQ(m.Value("poolwatch_pg_oldest_transaction_age_seconds", {{"datname", "app"}}), 9000);
  EXPECT_EQ(m.Value("poolwatch_pg_oldest_transaction_age_seconds", {{"datname", "postgres"}}), 0);
  EXPECT_EQ(m.Value("poolwatch_pg_oldest_xmin_age_transactions", {{"datname", "app"}}), 999);
  std::map<std::string, std::vector<int>> by_cat;
  for (const auto& off : s.offenders) by_cat[off.category].push_back(off.pid);
  EXPECT_EQ(by_cat["blocker"], std::vector<int>({101}));
  EXPECT_EQ(by_cat["blocked"], std::vector<int>({102}));
  EXPECT_EQ(s.backends.size(), 4u) << "every backend but the excluded autovacuum worker";
  EXPECT_EQ(m.Value("pg_stat_database_numbackends", {{"datname", "app"}}), 3);
  EXPECT_THAT(m.DeclarationProblems(), ::testing::IsEmpty());

  // Without the pg_stat_activity collector, pg_long_transactions queries for itself.
  auto alone = MakeCollectors(TargetKind::kPostgres, {}, {"pg_stat_activity"}, o);
  FakeConnection conn2({{"WITH b AS", [](std::string_view) { return LongRows(); }},
                        {"SELECT d.datname, m.mode",
                         [](std::string_view) { return Rows({"datname", "mode", "count"}, {}); }},
                        {"SELECT s.datid", [](std::string_view) {
                           return Rows({"datid", "datname", "numbackends"}, {});
                         }}});
  TargetSample s2 = NewSample();
  for (auto& c : alone) c->Collect(conn2, s2);
  EXPECT_EQ(conn2.queries, 3);
  EXPECT_EQ(s2.metrics.Value("poolwatch_pg_oldest_xmin_age_transactions", {{"datname", "app"}}),
            999);
}

// pg_settings is read on a backend's first sample and again only when the reload time or the
// recovery state changed: the statement gates it on the key the previous sample returned, and the
// collector exports the rows it kept meanwhile (the same series every sample).
TEST(PgStatActivityTest, SettingsAreReReadOnlyWhenTheReloadKeyChanges) {
  std::vector<std::string> sqls;
  std::string key = "2026-01-01 00:00:00+00 false";
  FakeConnection conn({{"WITH a AS", [&](std::string_view q) {
                          sqls.emplace_back(q);
                          const bool gated =
                              sqls.back().find("IS DISTINCT FROM '" + key + "'") != std::string::npos;
                          std::vector<std::vector<std::string>> extra = {
                              {"conf", "\\N", "\\N", key, "0", "0"}};
                          QueryResult all = ActivityRows(extra);
                          if (!gated) return all;
                          // The server skipped pg_settings: every row but the settings.
                          std::vector<std::vector<std::string>> rows;
                          for (int i = 0; i < all.Rows(); ++i) {
                            if (all.String(i, "kind") == "setting") continue;
                            std::vector<std::string> row;
                            for (const auto& c : kActivityCols) row.push_back(all.String(i, c, "\\N"));
                            rows.push_back(row);
                          }
                          return Rows(kActivityCols, rows);
                        }}});
  auto c = MakePgStatActivityCollector(CollectorOptions{});
  for (int i = 0; i < 3; ++i) {
    TargetSample s = NewSample();
    c->Collect(conn, s);
    EXPECT_EQ(s.metrics.Value("pg_settings_max_connections"), 100) << "sample " << i;
    EXPECT_DOUBLE_EQ(*s.metrics.Value("poolwatch_pool_utilization_ratio"), 7.0 / 97.0);
  }
  EXPECT_THAT(sqls[0], ::testing::Not(HasSubstr("IS DISTINCT FROM")));
  EXPECT_THAT(sqls[1], HasSubstr("IS DISTINCT FROM '" + key + "'"));
  key = "2026-01-01 00:05:00+00 false";  // a reload
  TargetSample s = NewSample();
  c->Collect(conn, s);
  EXPECT_THAT(sqls[3], ::testing::Not(HasSubstr("IS DISTINCT FROM '" + key + "'")));
  EXPECT_EQ(s.metrics.Value("pg_settings_max_connections"), 100);
  c->Collect(conn, s);
  EXPECT_THAT(sqls[4], HasSubstr("IS DISTINCT FROM '" + key + "'"));
}

TEST(PgCollectorTableTest, PostgresCollectorsAreOnByDefaultAndSwitchable) {
  auto names = [](const std::vector<std::unique_ptr<Collector>>& v) {
    std::vector<std::string> out;
    for (const auto& c : v) out.emplace_back(c->Name());
    return out;
  };
  EXPECT_EQ(names(MakeCollectors(TargetKind::kPostgres, {}, {}, {})),
            std::vector<std::string>(
                {"pg_stat_activity", "pg_long_transactions", "pg_locks", "pg_stat_database"}));
  EXPECT_EQ(
      names(MakeCollectors(TargetKind::kPostgres, {}, {"pg_locks"}, {})),
      std::vector<std::string>({"pg_stat_activity", "pg_long_transactions", "pg_stat_database"}));
}

// What fakes and wrappers see of a prepared statement: its parameters as literals.
TEST(InlineParamsTest, ParametersBecomeQuotedLiteralsOrNull) {
  EXPECT_EQ(InlineParams("SELECT $1::int[], $2::text, $2, $10", {"{1,2}", std::string("it's")}),
            "SELECT '{1,2}'::int[], 'it''s'::text, 'it''s', $10");
  EXPECT_EQ(InlineParams("SELECT $1 IS NULL, $", {std::nullopt}), "SELECT NULL IS NULL, $");
  EXPECT_EQ(InlineParams("SELECT 1", {}), "SELECT 1");
}

// A PostgreSQL target for the real TargetSampler over a fake connector.
TargetConfig PgTarget() {
  TargetConfig target;
  target.name = "main";
  target.kind = TargetKind::kPostgres;
  target.dsn = "host=x";
  return target;
}

// Through the real TargetSampler: a PostgreSQL sample is one transaction, and a collector whose
// statement fails (which aborts a transaction) costs only that collector: the sampler rolls back
// and the next collectors run in a new one. The fake plays the server's transaction states.
TEST(PgSamplerTest, OneTransactionPerSampleAndAFailedStatementOnlyFailsItsCollector) {
  FakeClock clock;
  const TargetConfig target = PgTarget();
  Config config;
  config.targets = {target};
  std::vector<std::string> log;  // transaction control, and "Q" for a collector's statement
  TargetSampler sampler(
      target, config, clock,
      [&](const TargetConfig&, const Config&, SteadyTime, const std::atomic<bool>&) {
        auto state = std::make_shared<std::string>("idle");  // idle / in / aborted
        return std::make_unique<FakeConnection>(std::map<std::string, FakeConnection::Handler>{
            {"", [&log, state](std::string_view sql) {
               if (sql == "BEGIN" || sql == "COMMIT" || sql == "ROLLBACK") {
                 log.emplace_back(sql);
                 if (sql == "BEGIN" && *state != "idle") {
                   throw DbError("already in a transaction", DownReason::kOther, "25001", false);
                 }
                 *state = sql == "BEGIN" ? "in" : "idle";
                 return QueryResult();
               }
               if (sql == "SELECT 1") return Rows({"x"}, {{"1"}});  // the pool's health check
               log.emplace_back("Q");
               if (*state == "aborted") {
                 throw DbError("current transaction is aborted", DownReason::kOther, "25P02",
                               false);
               }
               if (sql.substr(0, 24) == "SELECT d.datname, m.mode") {  // pg_locks' statement
                 if (*state == "in") *state = "aborted";
                 throw DbError("permission denied for view pg_locks", DownReason::kPermissionDenied,
                               "42501", false);
               }
               return QueryResult();
             }}});
      });
  TargetStatus status;
  TargetSample s = sampler.Sample(clock.Now() + 1s, status);
  EXPECT_TRUE(status.up);
  EXPECT_EQ(s.metrics.Value("poolwatch_collector_success", {{"collector", "pg_locks"}}), 0);
  for (auto name : {"pg_stat_activity", "pg_long_transactions", "pg_stat_database"}) {
    EXPECT_EQ(s.metrics.Value("poolwatch_collector_success", {{"collector", name}}), 1) << name;
  }
  // activity (which feeds pg_long_transactions), locks: fails; a new transaction for
  // pg_stat_database.
  EXPECT_EQ(log, std::vector<std::string>({"BEGIN", "Q", "Q", "ROLLBACK", "BEGIN", "Q", "COMMIT"}));
}

// BEGIN failing on a session just opened: closed by the peer (a pooler in statement mode) switches
// the target to samples without a transaction and retries at once, so the target stays up; a
// timeout is the sample's budget running out on a live session (collectors fail, the target stays
// up) and keeps transactions on.
TEST(PgSamplerTest, BeginClosedByAPoolerOrTimingOut) {
  for (const bool timeout : {false, true}) {
    FakeClock clock;
    const TargetConfig target = PgTarget();
    Config config;
    config.targets = {target};
    int begins = 0;
    int statements = 0;
    TargetSampler sampler(
        target, config, clock,
        [&](const TargetConfig&, const Config&, SteadyTime, const std::atomic<bool>&) {
          return std::make_unique<FakeConnection>(std::map<std::string, FakeConnection::Handler>{
              {"", [&](std::string_view sql) {
                 if (sql == "BEGIN") {
                   if (++begins == 1) {
                     throw DbError(timeout ? "query timed out" : "server closed the connection",
                                   timeout ? DownReason::kTimeout : DownReason::kOther, "", true);
                   }
                   return QueryResult();
                 }
                 if (sql != "COMMIT" && sql != "SELECT 1") ++statements;
                 return QueryResult();
               }}});
        });
    TargetStatus status;
    TargetSample s = sampler.Sample(clock.Now() + 1s, status);
    EXPECT_TRUE(status.up) << timeout;
    EXPECT_EQ(s.metrics.Value("poolwatch_collector_success", {{"collector", "pg_locks"}}),
              timeout ? 0 : 1)
        << timeout;
    EXPECT_EQ(statements, timeout ? 0 : 3) << timeout;  // activity, locks, database
    EXPECT_EQ(begins, 1) << timeout;
    clock.Advance(1s);
    TargetStatus next;
    sampler.Sample(clock.Now() + 1s, next);
    EXPECT_TRUE(next.up) << timeout;
    EXPECT_EQ(begins, timeout ? 2 : 1) << "transactions stay on after a timeout only";
  }
}

}  // namespace
}  // namespace poolwatch
