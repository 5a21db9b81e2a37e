// The PgBouncer collectors against the real PgBouncer 1.18 (Debian 12) in front of PostgreSQL 15:
// every collector succeeds with the real column lists; saturation, waiting clients and their
// *who*; fast sampling catching a wait shorter than the main interval; a server connection held
// by a silent client reported as a leak.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/integration.h"

namespace poolwatch {
namespace {

// PGB_POOL_SIZE=2 (the stack's default, said here because the tests depend on it): two held
// transactions fill the app pool.
PgStack*& stack = support::SharedStack({{"PGB_POOL_SIZE", "2"}});

std::string Config(const std::string& sampling, const std::string& target_extra = "") {
  return "sampling: {" + sampling + "}\ntargets:\n  pgbouncer:\n" +
         support::TargetYaml("local", stack->PgbDsn(), target_extra);
}

std::string App(const std::string& application_name) {
  return stack->AppViaPgbDsn() + " application_name=" + application_name;
}

// A client holding a transaction open through PgBouncer: in transaction pooling it keeps one
// server connection linked to it until it ends the transaction.
std::unique_ptr<Sql> Holder(const std::string& name = "holder") {
  auto s = std::make_unique<Sql>(App(name));
  s->Exec("BEGIN");
  s->Exec("SELECT 1");
  return s;
}

const std::vector<std::string> kCollectors = {
    "pgbouncer_pools",   "pgbouncer_stats",   "pgbouncer_databases",
    "pgbouncer_lists",   "pgbouncer_config",  "pgbouncer_version",
    "pgbouncer_servers", "pgbouncer_clients", "pgbouncer_derived"};

const std::string kApp = "database=\"app\"";
const std::string kAppUser = "user=\"app\"";

double SampleTime(const std::string& m) {
  return MetricValue(m, "poolwatch_last_sample_timestamp_seconds", {"target=\"local\""});
}

TEST(PgBouncerCollectorsIntegration, EveryCollectorSucceedsOnTheRealPgBouncer) {
  PoolwatchProcess pw(Config("interval: 500ms, timeout: 400ms"));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  // One app client, so the app pool and its stats exist.
  Sql app(App("one-client"));
  app.Exec("SELECT 1");
  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& m) {
        return MetricValue(m, "pgbouncer_pools_client_active_connections", {kApp}) >= 1;
      },
      5s))
      << pw.Metrics();
  std::string m = pw.Metrics();
  for (const auto& c : kCollectors) {
    EXPECT_EQ(MetricValue(m, "poolwatch_collector_success", {"collector=\"" + c + "\""}), 1)
        << c << "\n"
        << pw.Logs();
  }
  EXPECT_EQ(MetricValue(m, "pgbouncer_up", {"target=\"local\""}), 1);
  EXPECT_EQ(MetricValue(m, "pgbouncer_version_info", {"version=\"1.18.0\""}), 1) << m;
  // Every column PgBouncer 1.18 sends is one poolwatch knows.
  for (const std::string cmd :
       {"pools", "stats_totals", "databases", "lists", "config", "version", "servers", "clients"}) {
    EXPECT_EQ(MetricValue(m, "poolwatch_pgbouncer_unknown_columns", {"command=\"" + cmd + "\""}), 0)
        << cmd;
  }
  EXPECT_GE(MetricValue(m, "pgbouncer_stats_totals_queries_pooled_total", {kApp}), 1);
  EXPECT_EQ(MetricValue(m, "pgbouncer_databases_pool_size", {"name=\"app\""}), 2);
  EXPECT_EQ(MetricValue(m, "pgbouncer_databases", {}), 3);  // app, postgres, the admin console
  EXPECT_EQ(MetricValue(m, "pgbouncer_config_max_client_connections"), 100);
  EXPECT_EQ(MetricValue(m, "pgbouncer_config_default_pool_size"), 2);
  EXPECT_EQ(MetricValue(m, "pgbouncer_config_pool_mode_info", {"pool_mode=\"transaction\""}), 1);
  EXPECT_GE(MetricValue(m, "poolwatch_pgbouncer_clients", {kApp, "state=\"active\""}), 1);
  EXPECT_GE(MetricValue(m, "poolwatch_pgbouncer_servers", {kApp, "state=\"idle\""}), 1);
  // poolwatch's own admin session plus the app client, of max_client_conn 100.
  EXPECT_DOUBLE_EQ(
      MetricValue(m, "poolwatch_pool_utilization_ratio", {"kind=\"pgbouncer_client\""}), 2.0 / 100);
  EXPECT_EQ(MetricValue(m, "poolwatch_connection_leaks", {"kind=\"pgbouncer_server\""}), 0);
  EXPECT_EQ(MetricValue(m, "poolwatch_pool_utilization_ratio",
                        {"kind=\"pgbouncer_server\"", kApp, kAppUser}),
            0);
}

TEST(PgBouncerCollectorsIntegration, SaturatedPoolShowsWaitingClientsAndWhoTheyAre) {
  PoolwatchProcess pw(Config("interval: 500ms, timeout: 400ms"));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  auto h1 = Holder();
  auto h2 = Holder();
  // Two more clients than the pool's two servers: they queue in PgBouncer.
  Sql w1(App("waiter-app"));
  Sql w2(App("waiter-app"));
  w1.Send("SELECT 1");
  w2.Send("SELECT 1");
  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& m) {
        return MetricValue(m, "pgbouncer_pools_client_waiting_connections", {kApp}) == 2 &&
               MetricValue(m, "pgbouncer_pools_client_maxwait_seconds", {kApp}) > 0;
      },
      5s))
      << pw.Metrics();
  std::string m = pw.Metrics();
  EXPECT_EQ(MetricValue(m, "poolwatch_pool_utilization_ratio",
                        {"kind=\"pgbouncer_server\"", kApp, kAppUser}),
            1.0);
  EXPECT_EQ(MetricValue(m, "pgbouncer_pools_server_active_connections", {kApp}), 2);
  EXPECT_EQ(MetricValue(m, "poolwatch_pgbouncer_clients", {kApp, "state=\"waiting\""}), 2);
  EXPECT_GT(MetricValue(m, "poolwatch_pgbouncer_clients_oldest_wait_seconds", {kApp}), 0);
  EXPECT_GE(MetricValue(m, "poolwatch_pgbouncer_waiting_clients_peak", {kApp}), 2);
  // The who is in /status, not in labels.
  EXPECT_EQ(m.find("waiter-app"), std::string::npos) << "application_name leaked into labels";
  auto status = nlohmann::json::parse(HttpGet(pw.Url("/status")).body);
  int waiting = 0;
  for (const auto& t : status["targets"]) {
    for (const auto& o : t["offenders"]) {
      if (o["category"] != "waiting_client") continue;
      ++waiting;
      EXPECT_EQ(o["application_name"], "waiter-app");
      EXPECT_EQ(o["datname"], "app");
      EXPECT_EQ(o["usename"], "app");
      EXPECT_THAT(o["client_addr"].get<std::string>(), ::testing::StartsWith("127.0.0.1:"));
      EXPECT_GT(o["state_age_seconds"].get<double>(), 0);
    }
  }
  EXPECT_EQ(waiting, 2) << status.dump(2);
  // Without fast sampling, the main samples alone move the waiting-seconds counter.
  std::this_thread::sleep_for(1500ms);
  EXPECT_GT(MetricValue(pw.Metrics(), "poolwatch_pgbouncer_waiting_seconds_total", {kApp}), 0.5);
  h1->Exec("COMMIT");
  h2->Exec("COMMIT");
  EXPECT_EQ(w1.Scalar("SELECT 2"), "2");  // drains the queued SELECT 1 first
  EXPECT_EQ(w2.Scalar("SELECT 2"), "2");
  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& x) {
        return MetricValue(x, "pgbouncer_pools_client_waiting_connections", {kApp}) == 0;
      },
      5s));
}

TEST(PgBouncerCollectorsIntegration, FastSamplingCatchesAWaitShorterThanTheMainInterval) {
  PoolwatchProcess pw(Config("interval: 5s, timeout: 2s, fast_interval: 200ms"));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  // Start right after a main sample, so the whole wait falls between two of them.
  const double first = SampleTime(pw.Metrics());
  ASSERT_TRUE(pw.WaitMetric([&](const std::string& m) { return SampleTime(m) > first; }, 8s));
  std::string before = pw.Metrics();
  const double t_before = SampleTime(before);
  double counter_before = MetricValue(before, "poolwatch_pgbouncer_waiting_seconds_total", {kApp});
  if (std::isnan(counter_before)) counter_before = 0;  // the app pool may not exist yet

  auto h1 = Holder();
  auto h2 = Holder();
  Sql waiter(App("short-waiter"));
  auto wait_start = std::chrono::steady_clock::now();
  waiter.Send("SELECT 1");
  std::this_thread::sleep_for(1500ms);
  h1->Exec("COMMIT");
  h2->Exec("COMMIT");
  EXPECT_EQ(waiter.Scalar("SELECT 2"), "2");
  auto waited = std::chrono::steady_clock::now() - wait_start;
  ASSERT_LT(waited, 4s) << "the wait must end before the next main sample";

  ASSERT_TRUE(pw.WaitMetric([&](const std::string& m) { return SampleTime(m) > t_before; }, 8s));
  std::string m = pw.Metrics();
  // The main sample itself saw nobody waiting...
  EXPECT_EQ(MetricValue(m, "pgbouncer_pools_client_waiting_connections", {kApp}), 0) << m;
  // ...but the fast readings in between did.
  EXPECT_EQ(MetricValue(m, "poolwatch_pgbouncer_waiting_clients_peak", {kApp, kAppUser}), 1) << m;
  EXPECT_GT(MetricValue(m, "poolwatch_pgbouncer_maxwait_peak_seconds", {kApp, kAppUser}), 0.5);
  double moved = MetricValue(m, "poolwatch_pgbouncer_waiting_seconds_total", {kApp, kAppUser}) -
                 counter_before;
  EXPECT_GT(moved, 0.5) << m;  // about 1.5 s
  EXPECT_LT(moved, 3.0) << m;
  // The fast loop shares the bounded probe pool.
  EXPECT_LE(MetricValue(m, "poolwatch_probe_pool_connections", {"state=\"idle\""}) +
                MetricValue(m, "poolwatch_probe_pool_connections", {"state=\"in_use\""}),
            2);
}

// Prometheus scraping less often than poolwatch samples (here every 3 s against
// 500 ms sampling) still sees a wait that came and went between two scrapes, through the window
// peaks (sampling.peak_window), and the saturated seconds counted meanwhile.
TEST(PgBouncerCollectorsIntegration, PeaksSurviveAScrapeIntervalLongerThanSampling) {
  PoolwatchProcess pw(Config("interval: 500ms, timeout: 400ms, peak_window: 5s"));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  const std::vector<std::string> pool = {kApp, kAppUser};
  // The app pool exists (and SHOW DATABASES' pool_size is known) before the "scrape" at t0.
  { Sql warm(App("warm")); warm.Exec("SELECT 1"); }
  ASSERT_TRUE(pw.WaitMetric(
      [&](const std::string& m) {
        return !std::isnan(MetricValue(m, "poolwatch_pgbouncer_saturated_seconds_total", pool));
      },
      5s))
      << pw.Metrics();
  const std::string scrape0 = pw.Metrics();
  const auto t0 = std::chrono::steady_clock::now();
  const double saturated0 =
      MetricValue(scrape0, "poolwatch_pgbouncer_saturated_seconds_total", pool);
  const double waiting0 = MetricValue(scrape0, "poolwatch_pgbouncer_waiting_seconds_total", pool);
  {
    auto h1 = Holder();
    auto h2 = Holder();  // pool_size 2: saturated from here
    Sql waiter(App("between-scrapes"));
    waiter.Send("SELECT 1");
    std::this_thread::sleep_for(1500ms);
    h1->Exec("COMMIT");
    h2->Exec("COMMIT");
    EXPECT_EQ(waiter.Scalar("SELECT 2"), "2");
  }
  std::this_thread::sleep_until(t0 + 3s);  // the next scrape, several samples after the wait
  const std::string scrape1 = pw.Metrics();
  const double since_sample = MetricValue(scrape1, "poolwatch_pgbouncer_waiting_clients_peak", pool);
  const double window = MetricValue(scrape1, "poolwatch_pgbouncer_waiting_clients_window_peak", pool);
  const double window_maxwait =
      MetricValue(scrape1, "poolwatch_pgbouncer_maxwait_window_peak_seconds", pool);
  const double saturated =
      MetricValue(scrape1, "poolwatch_pgbouncer_saturated_seconds_total", pool) - saturated0;
  const double waiting =
      MetricValue(scrape1, "poolwatch_pgbouncer_waiting_seconds_total", pool) - waiting0;
  std::printf("scrape every 3s, sampling 500ms: per-sample peak %g, window peak %g (maxwait "
              "%.2fs), saturated %.2fs, waiting %.2fs\n",
              since_sample, window, window_maxwait, saturated, waiting);
  EXPECT_EQ(since_sample, 0) << "the per-sample peak is long reset: the scrape would miss it";
  EXPECT_EQ(window, 1) << scrape1;
  EXPECT_GT(window_maxwait, 0.5) << scrape1;
  EXPECT_GT(saturated, 1.0) << scrape1;   // about 1.5 s: two holders fill the pool of 2
  EXPECT_LT(saturated, 3.0) << scrape1;
  EXPECT_GE(saturated + 0.05, waiting) << "saturated covers every waiting second";
  // Beyond the window the peak is gone again (the documented bound).
  ASSERT_TRUE(pw.WaitMetric(
      [&](const std::string& m) {
        return MetricValue(m, "poolwatch_pgbouncer_waiting_clients_window_peak", pool) == 0;
      },
      8s))
      << pw.Metrics();
}

TEST(PgBouncerCollectorsIntegration, ServerHeldBySilentClientIsALeak) {
  PoolwatchProcess pw(Config("interval: 500ms, timeout: 400ms", "      leak_timeout: 1s\n"));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& m) {
        return MetricValue(m, "poolwatch_connection_leaks", {"kind=\"pgbouncer_server\""}) == 0;
      },
      5s));
  // Idle in transaction through PgBouncer: its server stays linked, the client sends nothing.
  auto silent = Holder("silent-client");
  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& m) {
        return MetricValue(m, "poolwatch_connection_leaks", {"kind=\"pgbouncer_server\""}) == 1;
      },
      8s))
      << pw.Metrics();
  // An active client (sending queries all along) is not a leak.
  Sql busy(App("busy-client"));
  busy.Exec("BEGIN");
  for (int i = 0; i < 10; ++i) {
    busy.Exec("SELECT 1");
    std::this_thread::sleep_for(300ms);
  }
  EXPECT_EQ(MetricValue(pw.Metrics(), "poolwatch_connection_leaks", {"kind=\"pgbouncer_server\""}),
            1);
  busy.Exec("COMMIT");
  silent->Exec("COMMIT");
  EXPECT_TRUE(pw.WaitMetric(
      [](const std::string& m) {
        return MetricValue(m, "poolwatch_connection_leaks", {"kind=\"pgbouncer_server\""}) == 0;
      },
      5s))
      << pw.Metrics();
}

}  // namespace
}  // namespace poolwatch
