// The PgBouncer collectors against the column lists of six PgBouncer versions (golden exposition
// files, compared exactly), plus the pieces: stats fallback, legacy names, unknown columns,
// derived signals, waiting-client offenders, the wait tracker, and one failing SHOW.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <ctime>

#include "collectors/collector.h"
#include "collectors/pgbouncer_clients.h"
#include "collectors/pgbouncer_common.h"
#include "collectors/pgbouncer_pools.h"
#include "collectors/pgbouncer_wait_tracker.h"
#include "exporter/sampler.h"
#include "tests/support/fakes.h"
#include "tests/support/pgbouncer_fixtures.h"
#include "tests/support/util.h"

namespace poolwatch {
namespace {

using support::FakeClock;
using support::FakeConnection;
using support::PgbVersionFixture;
using support::Rows;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

class PgBouncerCollectorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // PgBouncer prints local time; the fixtures say UTC, but 1.7-style stamps have no zone.
    setenv("TZ", "UTC", 1);
    tzset();
  }

  // Runs every PgBouncer collector of the table in order, as the sampler does (a failing one
  // is recorded and skipped).
  TargetSample RunAll(Connection& conn, CollectorOptions opts = {},
                      std::map<std::string, std::string>* failures = nullptr) {
    opts.clock = &clock_;
    if (!opts.wait_tracker) opts.wait_tracker = std::make_shared<PoolWaitTracker>();
    TargetSample s;
    s.target = "pgb";
    s.kind = TargetKind::kPgBouncer;
    for (auto& c : MakeCollectors(TargetKind::kPgBouncer, {}, {}, opts)) {
      try {
        c->Collect(conn, s);
      } catch (const std::exception& e) {
        if (failures) (*failures)[std::string(c->Name())] = e.what();
      }
    }
    return s;
  }

  FakeClock clock_;
};

std::string GoldenPath(const std::string& version) {
  std::string v = version;
  for (auto& ch : v) {
    if (ch == '.') ch = '_';
  }
  return support::SourceDir() + "/tests/unit/golden/pgbouncer_" + v + ".prom";
}

TEST_F(PgBouncerCollectorsTest, EveryVersionMatchesItsGoldenFile) {
  for (const PgbVersionFixture& f : support::PgbVersionFixtures()) {
    SCOPED_TRACE("PgBouncer " + f.name);
    auto conn = support::PgbFake(f);
    std::map<std::string, std::string> failures;
    TargetSample s = RunAll(*conn, {}, &failures);
    EXPECT_TRUE(failures.empty()) << failures.begin()->first << ": " << failures.begin()->second;
    EXPECT_THAT(s.metrics.DeclarationProblems(), ::testing::IsEmpty());
    std::string text = RenderText(s.metrics);
    if (!support::Env("POOLWATCH_UPDATE_GOLDEN").empty()) {
      support::WriteFile(GoldenPath(f.name), text);
    }
    EXPECT_EQ(text, support::ReadFile(GoldenPath(f.name)))
        << "regenerate with POOLWATCH_UPDATE_GOLDEN=1 after checking the difference";
  }
}

// Without the pre-v0.11 names (compatibility.legacy_pgbouncer_stats_names: false), pinned and
// promtool-checked like the rest.
TEST_F(PgBouncerCollectorsTest, CurrentNamesOnlyMatchTheirGoldenFile) {
  auto f = support::PgbVersionFixtures().at(3);
  ASSERT_EQ(f.name, "1.18");
  auto conn = support::PgbFake(f);
  CollectorOptions current;
  current.legacy_stats_names = false;
  std::string text = RenderText(RunAll(*conn, current).metrics);
  if (!support::Env("POOLWATCH_UPDATE_GOLDEN").empty()) {
    support::WriteFile(GoldenPath("1.18_current_names"), text);
  }
  EXPECT_EQ(text, support::ReadFile(GoldenPath("1.18_current_names")));
}

// The right numbers, whatever the version (the goldens pin the rest).
TEST_F(PgBouncerCollectorsTest, EveryVersionYieldsTheSameCoreSignals) {
  for (const PgbVersionFixture& f : support::PgbVersionFixtures()) {
    SCOPED_TRACE("PgBouncer " + f.name);
    auto conn = support::PgbFake(f);
    TargetSample s = RunAll(*conn);
    const MetricSet& m = s.metrics;
    const Labels app = {{"database", "app"}, {"user", "app"}};
    EXPECT_EQ(m.Value("pgbouncer_pools_client_waiting_connections", app), 3);
    const bool has_us = f.name != "1.7";
    EXPECT_DOUBLE_EQ(*m.Value("pgbouncer_pools_client_maxwait_seconds", app), has_us ? 4.25 : 4);
    EXPECT_EQ(m.Value("pgbouncer_stats_totals_queries_pooled_total", {{"database", "app"}}), 2500);
    EXPECT_DOUBLE_EQ(
        *m.Value("pgbouncer_stats_totals_queries_duration_seconds_total", {{"database", "app"}}),
        2.5);
    if (f.name != "1.7") {
      EXPECT_DOUBLE_EQ(
          *m.Value("pgbouncer_stats_totals_client_wait_seconds_total", {{"database", "app"}}), 1.5);
    }
    EXPECT_EQ(m.Has("pgbouncer_stats_totals_server_assignments_total"),
              f.name == "1.24" || f.name == "1.25");
    EXPECT_EQ(m.Value("pgbouncer_databases_pool_size", {{"name", "app"}}), 2);
    EXPECT_EQ(m.Value("pgbouncer_databases_reserve_pool", {{"name", "app"}}), 1);
    EXPECT_EQ(m.Value("pgbouncer_used_clients"), 6);
    EXPECT_EQ(m.Value("pgbouncer_config_max_client_connections"), 100);
    EXPECT_EQ(m.Value("pgbouncer_config_default_pool_size"), 20);
    EXPECT_EQ(m.Value("pgbouncer_config_pool_mode_info", {{"pool_mode", "transaction"}}), 1);
    std::string v = f.name == "1.7" ? "1.7.2" : f.name == "1.8" ? "1.8.1" : "";
    if (v.empty()) {
      v = m.Samples("pgbouncer_version_info").at(0).first.back().second;
      EXPECT_EQ(v.substr(0, f.name.size()), f.name);
    } else {
      EXPECT_EQ(m.Value("pgbouncer_version_info", {{"version", v}}), 1);
    }
    // Utilization: 2 active servers / pool_size 2 from SHOW DATABASES (not default_pool_size 20).
    EXPECT_EQ(m.Value("poolwatch_pool_utilization_ratio",
                      {{"kind", "pgbouncer_server"}, {"database", "app"}}),
              1.0);
    EXPECT_FALSE(m.Value("poolwatch_pool_utilization_ratio", {{"database", "pgbouncer"}}));
    const double clients = f.name == "1.25" ? 7 : 6;
    EXPECT_DOUBLE_EQ(*m.Value("poolwatch_pool_utilization_ratio", {{"kind", "pgbouncer_client"}}),
                     clients / 100);
    EXPECT_EQ(m.Value("poolwatch_connection_leaks", {{"kind", "pgbouncer_server"}}), 1);
    EXPECT_EQ(m.Value("poolwatch_pgbouncer_clients", {{"database", "app"}, {"state", "waiting"}}),
              3);
    EXPECT_EQ(m.Value("poolwatch_pgbouncer_servers", {{"database", "app"}, {"state", "active"}}),
              2);
    EXPECT_DOUBLE_EQ(*m.Value("poolwatch_pgbouncer_clients_oldest_wait_seconds", app),
                     has_us ? 4.25 : 4);
    EXPECT_EQ(m.Value("poolwatch_pgbouncer_waiting_clients_peak", app), 3);
    // Every column of every version is known, except 1.25's two unexported totals.
    for (const auto& [labels, n] : m.Samples("poolwatch_pgbouncer_unknown_columns")) {
      bool totals125 = f.name == "1.25" && labels.back().second == "stats_totals";
      EXPECT_EQ(n, totals125 ? 2 : 0) << labels.back().second;
    }
    // The who of the waiting clients: not in labels, in offenders, longest wait first.
    ASSERT_EQ(s.offenders.size(), 3u);
    EXPECT_EQ(s.offenders[0].category, "waiting_client");
    const bool has_app = f.name != "1.7" && f.name != "1.8" && f.name != "1.12";  // 1.18+
    EXPECT_EQ(s.offenders[0].application_name, has_app ? "report <!channel>" : "");
    EXPECT_EQ(s.offenders[0].client_addr, "10.1.2.3:40003");
    EXPECT_DOUBLE_EQ(s.offenders[0].state_age_seconds, has_us ? 4.25 : 4);
    EXPECT_EQ(s.offenders[0].datname, "app");
  }
}

TEST_F(PgBouncerCollectorsTest, OldPgBouncerFallsBackToShowStatsOnce) {
  auto f = support::PgbVersionFixtures().at(0);  // 1.7
  ASSERT_EQ(f.name, "1.7");
  int totals_asked = 0;
  auto answers = f.answers;
  FakeConnection conn({{"", [&](std::string_view sql) -> QueryResult {
                          if (sql == "SHOW STATS_TOTALS") {
                            ++totals_asked;
                            throw DbError("ERROR:  unknown SHOW command", DownReason::kOther, "",
                                          false);
                          }
                          return answers.at(std::string(sql));
                        }}});
  auto stats = MakeCollectors(TargetKind::kPgBouncer, {}, {}, {});
  Collector* c = nullptr;
  for (auto& x : stats) {
    if (x->Name() == "pgbouncer_stats") c = x.get();
  }
  ASSERT_NE(c, nullptr);
  for (int i = 0; i < 3; ++i) {
    TargetSample s;
    s.target = "old";
    c->Collect(conn, s);
    EXPECT_EQ(s.metrics.Value("pgbouncer_stats_totals_queries_pooled_total", {{"database", "app"}}),
              2500);
  }
  EXPECT_EQ(totals_asked, 1);
}

// On by default: Grafana's pgbouncer-mixin reads the pre-v0.11 names (README, "Compatibility").
TEST_F(PgBouncerCollectorsTest, LegacyNamesAreOnByDefaultAndCanBeTurnedOff) {
  auto f = support::PgbVersionFixtures().at(3);  // 1.18
  auto conn = support::PgbFake(f);
  CollectorOptions current;
  current.legacy_stats_names = false;
  TargetSample plain = RunAll(*conn, current);
  EXPECT_TRUE(plain.metrics.Has("pgbouncer_stats_totals_queries_pooled_total"));
  EXPECT_FALSE(plain.metrics.Has("pgbouncer_stats_queries_pooled_total"));
  TargetSample both = RunAll(*conn);
  for (auto suffix : {"queries_pooled_total", "queries_duration_seconds_total",
                      "received_bytes_total", "sent_bytes_total", "client_wait_seconds_total",
                      "sql_transactions_pooled_total", "server_in_transaction_seconds_total"}) {
    auto now =
        both.metrics.Value(std::string("pgbouncer_stats_totals_") + suffix, {{"database", "app"}});
    auto old = both.metrics.Value(std::string("pgbouncer_stats_") + suffix, {{"database", "app"}});
    ASSERT_TRUE(now && old) << suffix;
    EXPECT_EQ(*now, *old) << suffix;
  }
}

TEST_F(PgBouncerCollectorsTest, UnknownAndMissingColumnsNeitherCrashNorFail) {
  auto f = support::PgbVersionFixtures().at(3);
  // A future PgBouncer: two new columns in SHOW POOLS, one list more; cl_waiting gone.
  f.answers["SHOW POOLS"] =
      Rows({"database", "user", "cl_active", "sv_active", "cl_future", "sv_future"},
           {{"app", "app", "1", "1", "9", "9"}});
  f.answers["SHOW LISTS"] = Rows({"list", "items"}, {{"pools", "1"}, {"tls_contexts", "4"}});
  auto conn = support::PgbFake(f);
  std::map<std::string, std::string> failures;
  TargetSample s = RunAll(*conn, {}, &failures);
  EXPECT_TRUE(failures.empty());
  EXPECT_EQ(s.metrics.Value("poolwatch_pgbouncer_unknown_columns", {{"command", "pools"}}), 2);
  EXPECT_EQ(s.metrics.Value("poolwatch_pgbouncer_unknown_columns", {{"command", "lists"}}), 1);
  EXPECT_EQ(s.metrics.Value("pgbouncer_pools_client_active_connections"), 1);
  EXPECT_FALSE(s.metrics.Has("pgbouncer_pools_client_waiting_connections"));
  EXPECT_EQ(s.metrics.Value("pgbouncer_pools", {}), 1);
}

TEST_F(PgBouncerCollectorsTest, ServerUtilizationFallsBackToDefaultPoolSize) {
  auto f = support::PgbVersionFixtures().at(3);
  f.answers.erase("SHOW DATABASES");  // e.g. the stats user may not run it, or it is disabled
  auto conn = support::PgbFake(f);
  std::map<std::string, std::string> failures;
  TargetSample s = RunAll(*conn, {}, &failures);
  EXPECT_EQ(failures.count("pgbouncer_databases"), 1u);
  EXPECT_EQ(failures.count("pgbouncer_derived"), 0u);  // SHOW DATABASES is optional for it
  EXPECT_DOUBLE_EQ(*s.metrics.Value("poolwatch_pool_utilization_ratio",
                                    {{"kind", "pgbouncer_server"}, {"database", "app"}}),
                   2.0 / 20);
}

TEST_F(PgBouncerCollectorsTest, DerivedSaysWhichInputIsMissing) {
  auto f = support::PgbVersionFixtures().at(3);
  f.answers.erase("SHOW CLIENTS");
  auto conn = support::PgbFake(f);
  std::map<std::string, std::string> failures;
  TargetSample s = RunAll(*conn, {}, &failures);
  EXPECT_THAT(failures["pgbouncer_derived"], HasSubstr("SHOW CLIENTS"));
  // What it could derive is still there; leaks need SHOW CLIENTS and are not guessed.
  EXPECT_TRUE(s.metrics.Value("poolwatch_pool_utilization_ratio", {{"kind", "pgbouncer_server"}}));
  EXPECT_FALSE(s.metrics.Has("poolwatch_connection_leaks"));
}

TEST_F(PgBouncerCollectorsTest, LeakTimeoutIsTheTargets) {
  auto f = support::PgbVersionFixtures().at(3);
  auto conn = support::PgbFake(f);
  CollectorOptions opts;
  opts.leak_timeout = 3s;  // the "api" client's request 5 s ago now counts too
  EXPECT_EQ(RunAll(*conn, opts).metrics.Value("poolwatch_connection_leaks"), 2);
  opts.leak_timeout = 10min;
  EXPECT_EQ(RunAll(*conn, opts).metrics.Value("poolwatch_connection_leaks"), 0);
}

TEST_F(PgBouncerCollectorsTest, WaitingOffendersAreCapped) {
  auto f = support::PgbVersionFixtures().at(3);
  std::vector<support::Row> rows;
  for (int i = 0; i < 25; ++i) {
    rows.push_back(support::Socket("C", "app", "app", "waiting", std::to_string(41000 + i),
                                   "2027-01-15 07:59:59 UTC", std::to_string(i), "0",
                                   "0xd" + std::to_string(10 + i), "", "w" + std::to_string(i)));
  }
  f.answers["SHOW CLIENTS"] = support::Project(f.answers["SHOW CLIENTS"].Columns(), rows);
  auto conn = support::PgbFake(f);
  TargetSample s = RunAll(*conn);
  ASSERT_EQ(s.offenders.size(), static_cast<std::size_t>(kMaxWaitingOffenders));
  EXPECT_EQ(s.offenders.front().application_name, "w24");
  EXPECT_EQ(s.metrics.Value("poolwatch_pgbouncer_clients", {{"state", "waiting"}}), 25);
}

TEST(PgBouncerParseTest, VersionFromRowOrNotice) {
  EXPECT_EQ(ParsePgbVersion("PgBouncer 1.18.0"), "1.18.0");
  EXPECT_EQ(ParsePgbVersion("NOTICE:  pgbouncer version 1.7 (Debian)"), "1.7");
  EXPECT_EQ(ParsePgbVersion("PgBouncer 1.25.1 beta"), "1.25.1");
  EXPECT_FALSE(ParsePgbVersion("PgBouncer"));
}

TEST(PgBouncerParseTest, Timestamps) {
  EXPECT_EQ(ParsePgbTimestamp("2027-01-15 08:00:00 UTC"), 1'800'000'000.0);
  EXPECT_FALSE(ParsePgbTimestamp(""));
  EXPECT_FALSE(ParsePgbTimestamp("yesterday"));
}

// The tracker alone: waits shorter than the main interval still move the counter.
TEST(PoolWaitTrackerTest, ShortWaitsBetweenMainSamplesAreCounted) {
  PoolWaitTracker t;
  SteadyTime t0{};
  auto at = [&](double s) {
    return t0 + std::chrono::duration_cast<SteadyTime::duration>(std::chrono::duration<double>(s));
  };
  auto reading = [](double waiting, double maxwait) {
    return std::vector<PoolWaitTracker::Reading>{{"app", "app", waiting, maxwait}};
  };
  t.Observe(at(0), reading(0, 0));  // main sample
  EXPECT_EQ(t.TakePeaks().at({"app", "app"}).waiting_seconds_total, 0);
  // Fast readings every 200 ms: a wait from ~0.3 s to ~1.1 s.
  t.Observe(at(0.2), reading(0, 0));
  t.Observe(at(0.4), reading(2, 0.1));  // started 0.1 s ago: credit 0.1
  t.Observe(at(0.6), reading(3, 0.3));  // waiting at both: 0.2
  t.Observe(at(0.8), reading(1, 0.5));  // 0.2
  t.Observe(at(1.0), reading(1, 0.7));  // 0.2
  t.Observe(at(1.2), reading(0, 0));    // over: nothing
  t.Observe(at(5.0), reading(0, 0));    // the next main sample sees no one waiting
  auto st = t.TakePeaks().at({"app", "app"});
  EXPECT_NEAR(st.waiting_seconds_total, 0.7, 1e-9);
  EXPECT_EQ(st.peak_waiting, 3);
  EXPECT_NEAR(st.peak_maxwait_seconds, 0.7, 1e-9);
  // Peaks reset, the counter does not.
  t.Observe(at(10), reading(0, 0));
  st = t.TakePeaks().at({"app", "app"});
  EXPECT_EQ(st.peak_waiting, 0);
  EXPECT_NEAR(st.waiting_seconds_total, 0.7, 1e-9);
}

TEST(PoolWaitTrackerTest, MainSamplesAloneCountWhatTheySee) {
  PoolWaitTracker t;
  SteadyTime t0{};
  t.Observe(t0, {{"app", "app", 0, 0.0}});
  t.Observe(t0 + 5s, {{"app", "app", 1, 2.0}});   // waiting for 2 s of the last 5
  t.Observe(t0 + 10s, {{"app", "app", 1, 7.0}});  // still: the whole 5 s
  EXPECT_NEAR(t.TakePeaks().at({"app", "app"}).waiting_seconds_total, 7.0, 1e-9);
}

// The window peaks outlive the per-sample ones for peak_window (a scrape at any
// interval up to it sees the peak), and saturated seconds count a full pool as well as waits.
TEST(PoolWaitTrackerTest, WindowPeaksOutliveSamplesAndSaturationIsCounted) {
  PoolWaitTracker t(std::chrono::seconds(10));
  SteadyTime t0{};
  t.SetPoolSizes({{"app", 2}});
  auto r = [](double waiting, double maxwait, double sv_active) {
    return std::vector<PoolWaitTracker::Reading>{{"app", "app", waiting, maxwait, sv_active}};
  };
  t.Observe(t0, r(0, 0, 1));
  t.TakePeaks();
  t.Observe(t0 + 1s, r(0, 0, 2));    // full from here: credited from the next reading on
  t.Observe(t0 + 2s, r(3, 0.5, 2));  // full at both: 1 s
  auto st = t.TakePeaks().at({"app", "app"});
  EXPECT_EQ(st.peak_waiting, 3);
  EXPECT_EQ(st.window_peak_waiting, 3);
  EXPECT_NEAR(st.saturated_seconds_total, 1.0, 1e-9);
  EXPECT_NEAR(st.waiting_seconds_total, 0.5, 1e-9);  // waiting seen only at t0+2s: maxwait
  t.Observe(t0 + 5s, r(0, 0, 0));  // over (saturated at t0+2s only: no credit without a reading)
  st = t.TakePeaks().at({"app", "app"});
  EXPECT_EQ(st.peak_waiting, 0) << "the per-sample peak resets";
  EXPECT_EQ(st.window_peak_waiting, 3) << "the window peak does not";
  EXPECT_NEAR(st.window_peak_maxwait_seconds, 0.5, 1e-9);
  EXPECT_NEAR(st.saturated_seconds_total, 1.0, 1e-9);
  t.Observe(t0 + 13s, r(0, 0, 0));  // 11 s after the peak: out of the 10 s window
  st = t.TakePeaks().at({"app", "app"});
  EXPECT_EQ(st.window_peak_waiting, 0);
  EXPECT_EQ(st.window_peak_maxwait_seconds, 0);
}

TEST(PoolWaitTrackerTest, VanishedPoolsAreForgotten) {
  PoolWaitTracker t;
  t.Observe(SteadyTime{}, {{"old", "app", 1, 1.0}});
  EXPECT_EQ(t.TakePeaks().count({"old", "app"}), 1u);
  t.Observe(SteadyTime{} + 1s, {{"new", "app", 0, 0.0}});
  auto peaks = t.TakePeaks();
  EXPECT_EQ(peaks.count({"old", "app"}), 0u);
  EXPECT_EQ(peaks.count({"new", "app"}), 1u);
}

// Through the real TargetSampler: one failing SHOW fails only its collector; the target stays
// up; the fast loop's readings reach the next main sample.
TEST(PgBouncerSamplerTest, OneFailingShowMarksOnlyItsCollector) {
  setenv("TZ", "UTC", 1);
  tzset();
  auto f = support::PgbVersionFixtures().at(3);
  f.answers.erase("SHOW LISTS");
  FakeClock clock;
  TargetConfig target;
  target.name = "pgb";
  target.kind = TargetKind::kPgBouncer;
  target.dsn = "host=x";
  Config config;
  config.targets = {target};
  std::atomic<int> pools_asked{0};
  TargetSampler sampler(target, config, clock, [&](const TargetConfig&, const Config&, SteadyTime, const std::atomic<bool>&) {
    auto answers = f.answers;
    return std::make_unique<FakeConnection>(std::map<std::string, FakeConnection::Handler>{
        {"", [answers, &pools_asked](std::string_view sql) {
           if (sql == "SHOW POOLS") ++pools_asked;
           auto it = answers.find(std::string(sql));
           if (it == answers.end()) {
             throw DbError("ERROR:  permission denied", DownReason::kPermissionDenied, "42501",
                           false);
           }
           return it->second;
         }}});
  });
  TargetStatus status;
  TargetSample s = sampler.Sample(clock.Now() + 1s, status);
  EXPECT_TRUE(status.up);
  EXPECT_EQ(s.metrics.Value("pgbouncer_up"), 1);
  EXPECT_EQ(s.metrics.Value("poolwatch_collector_success", {{"collector", "pgbouncer_lists"}}), 0);
  for (auto name :
       {"pgbouncer_pools", "pgbouncer_stats", "pgbouncer_databases", "pgbouncer_config",
        "pgbouncer_version", "pgbouncer_servers", "pgbouncer_clients", "pgbouncer_derived"}) {
    EXPECT_EQ(s.metrics.Value("poolwatch_collector_success", {{"collector", name}}), 1) << name;
  }
  EXPECT_EQ(s.metrics.Value("poolwatch_collector_errors_total", {{"collector", "pgbouncer_lists"}}),
            1);
  EXPECT_EQ(status.offenders.size(), 3u);

  // A fast reading between main samples, through the same probe pool.
  ASSERT_TRUE(sampler.FastCapable());
  clock.Advance(200ms);
  sampler.SampleFast(clock.Now() + 1s);
  EXPECT_EQ(pools_asked.load(), 2);
  clock.Advance(200ms);
  s = sampler.Sample(clock.Now() + 1s, status);
  // Waiting at all three readings, 200 ms apart.
  EXPECT_NEAR(*s.metrics.Value("poolwatch_pgbouncer_waiting_seconds_total", {{"database", "app"}}),
              0.4, 1e-9);
  EXPECT_LE(*s.metrics.Value("poolwatch_probe_pool_connections", {{"state", "idle"}}), 2);
}

}  // namespace
}  // namespace poolwatch
