// The whole App in-process with fake targets, HTTP on 127.0.0.1:0.
#include "exporter/app.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <thread>

#include "collectors/metrics.h"
#include "exporter/snapshot_store.h"
#include "tests/support/fakes.h"
#include "tests/support/util.h"

namespace poolwatch {
namespace {

using support::FakeConnection;
using support::HttpGet;
using support::MetricValue;
using support::Rows;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

QueryResult PoolsResult() {
  return Rows({"database", "user", "cl_active", "cl_waiting", "sv_active", "sv_idle", "maxwait",
               "maxwait_us", "pool_mode"},
              {{"app", "app", "3", "1", "2", "0", "1", "500000", "transaction"}});
}

struct FakeTargets {
  std::atomic<bool> pgb_down{false};
  std::atomic<bool> pg_hang{false};
  std::atomic<bool> pg_queries_fail{false};  // the server answers, with an error
  std::atomic<bool> pg_slow_locks{false};    // pg_locks runs out of budget; the rest answer
  std::atomic<int> connects{0};
  // A wedged call that ignores every deadline (a bug, a kernel stall): the sampler cannot finish
  // its round, so nothing is published and /healthz must say so.
  std::atomic<bool> pg_wedged{false};

  TargetConnector Connector() {
    return [this](const TargetConfig& t, const Config&, SteadyTime deadline,
                  const std::atomic<bool>&)
               -> std::unique_ptr<Connection> {
      ++connects;
      if (t.kind == TargetKind::kPgBouncer) {
        if (pgb_down) {
          throw DbError("connection to server failed: Connection refused", DownReason::kRefused,
                        "", true);
        }
        return std::make_unique<FakeConnection>(std::map<std::string, FakeConnection::Handler>{
            {"SHOW POOLS", [this](std::string_view) {
               if (pgb_down) throw DbError("server closed the connection", DownReason::kOther, "", true);
               return PoolsResult();
             }},
            {"SHOW VERSION", [](std::string_view) { return QueryResult(); }}});
      }
      // The handlers see their connection (for the deadline the sampler set on it).
      auto self = std::make_shared<FakeConnection*>(nullptr);
      auto conn = std::make_unique<FakeConnection>(std::map<std::string, FakeConnection::Handler>{
          {"WITH a AS", [this, deadline](std::string_view) {
             while (pg_wedged) std::this_thread::sleep_for(5ms);
             if (pg_hang) {
               std::this_thread::sleep_until(deadline);
               throw DbError("query timed out", DownReason::kTimeout, "57014", true);
             }
             if (pg_queries_fail) {
               throw DbError("ERROR: out of shared memory", DownReason::kOther, "53200", false);
             }
             // The pg_stat_activity collector's result shape (collectors/pg_stat_activity.cc).
             return Rows({"kind", "datname", "state", "key", "count", "value"},
                         {{"state", "app", "active", "\\N", "2", "1.5"},
                          {"setting", "\\N", "\\N", "max_connections", "100", "0"},
                          {"setting", "\\N", "\\N", "superuser_reserved_connections", "3", "0"},
                          {"total", "\\N", "\\N", "\\N", "2", "0"}});
           }},
          // The other PostgreSQL collectors: quiet results (their logic has unit tests).
          {"WITH b AS", [](std::string_view) { return QueryResult(); }},
          {"SELECT d.datname, m.mode", [this, self](std::string_view) {
             if (pg_slow_locks) {
               std::this_thread::sleep_until((*self)->deadline);
               throw DbError("query timed out", DownReason::kTimeout, "57014", true);
             }
             return QueryResult();
           }},
          {"SELECT s.datid", [](std::string_view) { return QueryResult(); }},
          {"SELECT 1", [](std::string_view) { return QueryResult(); }}});
      *self = conn.get();
      return conn;
    };
  }
};

Config TwoTargets() {
  Config c;
  c.listen_address = "127.0.0.1:0";
  c.interval = 200ms;
  c.timeout = 150ms;
  TargetConfig pg;
  pg.name = "main";
  pg.kind = TargetKind::kPostgres;
  pg.dsn = "host=x";
  TargetConfig pgb;
  pgb.name = "local";
  pgb.kind = TargetKind::kPgBouncer;
  pgb.dsn = "host=y";
  pgb.pool.backoff_initial = 10ms;
  pgb.pool.backoff_max = 20ms;
  c.targets = {pg, pgb};
  return c;
}

class AppTest : public ::testing::Test {
 protected:
  void StartApp(Config c = TwoTargets()) {
    app_ = std::make_unique<App>(c, clock_, fakes_.Connector());
    std::string err;
    ASSERT_TRUE(app_->Start(err)) << err;
    base_ = "http://127.0.0.1:" + std::to_string(app_->http_port());
    ASSERT_TRUE(support::WaitUntil([&] { return HttpGet(base_ + "/readyz").status == 200; }, 5s));
  }
  std::string Metrics() { return HttpGet(base_ + "/metrics").body; }
  void TearDown() override { fakes_.pg_wedged = false; }  // a failed assertion must not hang Stop

  SystemClock clock_;
  FakeTargets fakes_;
  std::unique_ptr<App> app_;
  std::string base_;
};

TEST_F(AppTest, ServesEveryEndpoint) {
  StartApp();
  auto m = HttpGet(base_ + "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_THAT(m.headers["content-type"], HasSubstr("text/plain; version=0.0.4"));
  EXPECT_EQ(MetricValue(m.body, "pg_up", {"target=\"main\""}), 1);
  EXPECT_EQ(MetricValue(m.body, "pgbouncer_up", {"target=\"local\""}), 1);
  EXPECT_EQ(MetricValue(m.body, "pgbouncer_pools_client_waiting_connections",
                        {"database=\"app\""}), 1);
  EXPECT_DOUBLE_EQ(MetricValue(m.body, "pgbouncer_pools_client_maxwait_seconds"), 1.5);
  EXPECT_EQ(MetricValue(m.body, "pg_stat_activity_count", {"state=\"active\""}), 2);
  EXPECT_EQ(MetricValue(m.body, "poolwatch_build_info"), 1);
  EXPECT_EQ(MetricValue(m.body, "poolwatch_config_last_reload_successful"), 1);
  EXPECT_EQ(MetricValue(m.body, "poolwatch_collector_success", {"collector=\"pgbouncer_pools\""}), 1);

  auto gz = HttpGet(base_ + "/metrics", {"Accept-Encoding: gzip"});
  EXPECT_EQ(gz.headers["content-encoding"], "gzip");
  EXPECT_LT(gz.body.size(), m.body.size());

  EXPECT_EQ(HttpGet(base_ + "/healthz").status, 200);
  auto status = HttpGet(base_ + "/status");
  ASSERT_EQ(status.status, 200);
  EXPECT_THAT(status.body, HasSubstr("\"name\": \"main\""));
  EXPECT_THAT(status.body, HasSubstr("\"up\": true"));
  EXPECT_THAT(HttpGet(base_ + "/").body, HasSubstr("/metrics"));
  EXPECT_EQ(HttpGet(base_ + "/debug/pprof").status, 404);
  EXPECT_EQ(support::HttpPost(base_ + "/metrics", "x").status, 405);
}

TEST_F(AppTest, ScrapesNeverTouchTheTargets) {
  StartApp();
  // Stop sampling effects: count connects and queries across many scrapes within one interval.
  int before = fakes_.connects.load();
  for (int i = 0; i < 200; ++i) ASSERT_EQ(HttpGet(base_ + "/metrics").status, 200);
  // Scrapes never open connections; only the sampler might have (it reuses its pool).
  EXPECT_LE(fakes_.connects.load() - before, 0);
}

TEST_F(AppTest, DownTargetIsAMetricWithAReasonAndRecovers) {
  StartApp();
  fakes_.pgb_down = true;
  ASSERT_TRUE(support::WaitUntil(
      [&] { return MetricValue(Metrics(), "pgbouncer_up", {"target=\"local\""}) == 0; }, 3s));
  std::string m = Metrics();
  EXPECT_EQ(MetricValue(m, "poolwatch_target_down_reason", {"target=\"local\"", "reason=\"refused\""}),
            1);
  EXPECT_EQ(MetricValue(m, "pg_up", {"target=\"main\""}), 1) << "the other target is unaffected";
  // The pool's series vanish with the target rather than freezing at their last values.
  EXPECT_TRUE(std::isnan(MetricValue(m, "pgbouncer_pools_client_active_connections")));
  fakes_.pgb_down = false;
  ASSERT_TRUE(support::WaitUntil(
      [&] { return MetricValue(Metrics(), "pgbouncer_up", {"target=\"local\""}) == 1; }, 3s));
}

TEST_F(AppTest, HungTargetDoesNotDelayTheOthers) {
  StartApp();
  fakes_.pg_hang = true;
  ASSERT_TRUE(support::WaitUntil(
      [&] { return MetricValue(Metrics(), "pg_up", {"target=\"main\""}) == 0; }, 3s));
  std::string m = Metrics();
  EXPECT_EQ(MetricValue(m, "poolwatch_target_down_reason", {"target=\"main\"", "reason=\"timeout\""}),
            1);
  EXPECT_EQ(MetricValue(m, "pgbouncer_up", {"target=\"local\""}), 1);
  // The healthy target's sample is not stretched to the hung one's timeout.
  EXPECT_LT(MetricValue(m, "poolwatch_sample_duration_seconds", {"target=\"local\""}), 0.1);
  auto r = HttpGet(base_ + "/metrics");
  EXPECT_LT(r.seconds, 0.1);
}

// A collector that runs out of budget on a live connection (the server answered
// the collectors before it: slow, not gone) is that collector's failure with a reason; the target
// stays up and the others keep their data.
TEST_F(AppTest, SlowCollectorOnALiveConnectionIsItsOwnFailureNotTargetDown) {
  StartApp();
  fakes_.pg_slow_locks = true;
  const std::vector<std::string> locks = {"target=\"main\"", "collector=\"pg_locks\""};
  ASSERT_TRUE(support::WaitUntil(
      [&] { return MetricValue(Metrics(), "poolwatch_collector_timeouts_total", locks) >= 3; }, 5s))
      << Metrics();
  int down = 0;
  for (int i = 0; i < 10; ++i) {
    down += MetricValue(Metrics(), "pg_up", {"target=\"main\""}) == 1 ? 0 : 1;
    std::this_thread::sleep_for(50ms);
  }
  std::string m = Metrics();
  std::printf("slow pg_locks: %g timeouts counted, target published down in %d of 10 scrapes\n",
              MetricValue(m, "poolwatch_collector_timeouts_total", locks), down);
  EXPECT_EQ(down, 0) << m;
  EXPECT_EQ(MetricValue(m, "poolwatch_collector_success", locks), 0);
  EXPECT_GE(MetricValue(m, "poolwatch_collector_errors_total", locks), 3);
  EXPECT_EQ(MetricValue(m, "poolwatch_collector_success",
                        {"target=\"main\"", "collector=\"pg_stat_activity\""}),
            1);
  EXPECT_EQ(MetricValue(m, "pg_stat_activity_count", {"target=\"main\"", "state=\"active\""}),
            2)
      << "the collectors that answered keep their data";
}

TEST_F(AppTest, ReloadWithBrokenConfigKeepsTheOldOne) {
  StartApp();
  support::TempDir dir;
  support::WriteFile(dir.File("bad.yaml"), "targets: [\n");
  EXPECT_FALSE(app_->Reload(dir.File("bad.yaml")));
  ASSERT_TRUE(support::WaitUntil(
      [&] { return MetricValue(Metrics(), "poolwatch_config_last_reload_successful") == 0; }, 3s));
  EXPECT_EQ(MetricValue(Metrics(), "pg_up", {"target=\"main\""}), 1);
  support::WriteFile(dir.File("good.yaml"),
                     "sampling: {interval: 200ms, timeout: 150ms}\n"
                     "targets:\n  postgres:\n    - {name: other, dsn: \"host=x\"}\n");
  EXPECT_TRUE(app_->Reload(dir.File("good.yaml")));
  ASSERT_TRUE(support::WaitUntil(
      [&] {
        std::string m = Metrics();
        return MetricValue(m, "pg_up", {"target=\"other\""}) == 1 &&
               std::isnan(MetricValue(m, "pg_up", {"target=\"main\""}));
      },
      3s));
  EXPECT_EQ(MetricValue(Metrics(), "poolwatch_config_last_reload_successful"), 1);
}

TEST_F(AppTest, FailingProbeQueriesRaiseTheProbeErrorRatio) {
  Config c = TwoTargets();
  c.targets[0].collector_settings.error_window.min_events = 5;
  StartApp(c);
  auto probe_ratio = [&] {
    return MetricValue(Metrics(), "poolwatch_error_ratio", {"target=\"main\"", "kind=\"probe\""});
  };
  // A healthy target: events accumulate, the ratio stays 0.
  ASSERT_TRUE(support::WaitUntil(
      [&] {
        return MetricValue(Metrics(), "poolwatch_error_window_events",
                           {"target=\"main\"", "kind=\"probe\""}) >= 5;
      },
      5s));
  EXPECT_EQ(probe_ratio(), 0);
  EXPECT_EQ(MetricValue(Metrics(), "poolwatch_connection_leaks",
                        {"target=\"main\"", "kind=\"probe_pool\""}), 0);
  // The server answers every activity query with an error: the target stays up (a collector
  // failure is not an outage) but the probe error ratio rises.
  fakes_.pg_queries_fail = true;
  ASSERT_TRUE(support::WaitUntil([&] { return probe_ratio() > 0.05; }, 5s)) << Metrics();
  EXPECT_EQ(MetricValue(Metrics(), "pg_up", {"target=\"main\""}), 1);
  EXPECT_EQ(MetricValue(Metrics(), "poolwatch_collector_success",
                        {"target=\"main\"", "collector=\"pg_stat_activity\""}), 0);
}

TEST_F(AppTest, HealthLevelFollowsTheAlertThresholds) {
  StartApp();  // no alerts: section, so the default thresholds apply
  auto health = [&](const std::string& target, const std::string& level) {
    return MetricValue(Metrics(), "poolwatch_target_health",
                       {"target=\"" + target + "\"", "level=\"" + level + "\""});
  };
  EXPECT_EQ(health("main", "healthy"), 1);
  EXPECT_EQ(health("main", "degraded"), 0);
  EXPECT_EQ(health("local", "healthy"), 1);
  // Failing queries push the probe error ratio over 5% (ErrorRateHigh is a warning): degraded.
  fakes_.pg_queries_fail = true;
  ASSERT_TRUE(support::WaitUntil([&] { return health("main", "degraded") == 1; }, 10s))
      << Metrics();
  EXPECT_EQ(health("main", "healthy"), 0);
  EXPECT_THAT(HttpGet(base_ + "/status").body, HasSubstr("\"health\": \"degraded\""));
  // A down target is unhealthy, whatever else.
  fakes_.pgb_down = true;
  ASSERT_TRUE(support::WaitUntil([&] { return health("local", "unhealthy") == 1; }, 5s));
  EXPECT_EQ(health("local", "healthy"), 0);
}

nlohmann::json Json(const support::HttpResponse& r) {
  return nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
}

TEST_F(AppTest, OverallHealthLevelAndItsEndpoint) {
  StartApp();
  auto h = HttpGet(base_ + "/health");
  EXPECT_EQ(h.status, 200) << h.body;
  EXPECT_EQ(Json(h)["level"], "ok") << h.body;
  EXPECT_EQ(Json(h)["targets"]["main"], "healthy") << h.body;
  EXPECT_EQ(Json(HttpGet(base_ + "/status"))["health"]["level"], "ok");
  // One target down: degraded, still 200 (poolwatch works, one thing it watches does not);
  // strict answers 503.
  fakes_.pgb_down = true;
  ASSERT_TRUE(support::WaitUntil(
      [&] { return Json(HttpGet(base_ + "/health"))["level"] == "degraded"; }, 5s));
  h = HttpGet(base_ + "/health");
  EXPECT_EQ(h.status, 200) << h.body;
  EXPECT_THAT(std::string(Json(h)["reason"]), HasSubstr("local (refused)")) << h.body;
  EXPECT_EQ(HttpGet(base_ + "/health?strict").status, 503);
  EXPECT_EQ(HttpGet(base_ + "/health?x=1&strict=1").status, 503);
  EXPECT_EQ(Json(HttpGet(base_ + "/status"))["health"]["level"], "degraded");
  // Every target down: down, 503, while /healthz (liveness) stays 200.
  fakes_.pg_hang = true;
  ASSERT_TRUE(
      support::WaitUntil([&] { return Json(HttpGet(base_ + "/health"))["level"] == "down"; }, 5s))
      << HttpGet(base_ + "/health").body;
  h = HttpGet(base_ + "/health");
  EXPECT_EQ(h.status, 503);
  EXPECT_THAT(std::string(Json(h)["reason"]), HasSubstr("every target is down")) << h.body;
  EXPECT_EQ(HttpGet(base_ + "/healthz").status, 200) << "liveness must not depend on targets";
  fakes_.pgb_down = false;
  fakes_.pg_hang = false;
  ASSERT_TRUE(support::WaitUntil([&] { return HttpGet(base_ + "/health").status == 200; }, 5s));
  std::printf("health: ok 200, one target down degraded 200 (strict 503), all down 503\n");
}

TEST_F(AppTest, StalledSamplerAnswers503OnHealthzAndIsDown) {
  StartApp();  // interval 200ms, timeout 150ms: stale after 3 x 200 + 150 = 750ms
  ASSERT_EQ(HttpGet(base_ + "/healthz").status, 200);
  fakes_.pg_wedged = true;
  const auto wedged = std::chrono::steady_clock::now();
  ASSERT_TRUE(support::WaitUntil([&] { return HttpGet(base_ + "/healthz").status == 503; }, 5s));
  const double after = std::chrono::duration<double>(std::chrono::steady_clock::now() - wedged).count();
  auto hz = HttpGet(base_ + "/healthz");
  EXPECT_EQ(hz.status, 503);
  EXPECT_EQ(hz.body, "sampler stalled\n");
  auto h = HttpGet(base_ + "/health");
  EXPECT_EQ(h.status, 503) << h.body;
  EXPECT_EQ(Json(h)["level"], "down") << h.body;
  EXPECT_EQ(Json(h)["sampler_fresh"], false) << h.body;
  EXPECT_THAT(std::string(Json(h)["reason"]), HasSubstr("sampler stalled"));
  EXPECT_EQ(Json(HttpGet(base_ + "/status"))["health"]["level"], "down");
  // /metrics keeps serving the last snapshot meanwhile; readiness stays (a sample completed).
  EXPECT_EQ(HttpGet(base_ + "/metrics").status, 200);
  EXPECT_EQ(HttpGet(base_ + "/readyz").status, 200);
  // Unwedged, the next sample makes it live again.
  fakes_.pg_wedged = false;
  ASSERT_TRUE(support::WaitUntil([&] { return HttpGet(base_ + "/healthz").status == 200; }, 5s));
  EXPECT_EQ(Json(HttpGet(base_ + "/health"))["level"], "ok");
  std::printf("stalled sampler: /healthz 503 after %.2fs (bound 0.75s), back to 200 when unwedged\n",
              after);
}

TEST(SnapshotStoreTest, ServesTheTextAndStatusesWithoutTheMetricSet) {
  auto full = std::make_shared<Snapshot>();
  full->sequence = 7;
  full->taken_at = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  full->metrics.Gauge("pg_up",
                      "Whether the last scrape of metrics from PostgreSQL was able to "
                      "connect to the server (1 for yes, 0 for no).",
                      {{"target", "pg"}}, 1);
  full->exposition = Expose(RenderText(full->metrics));
  full->targets.push_back(TargetStatus{});
  full->targets.back().name = "pg";
  full->targets.back().health = "healthy";
  full->external_labels = {{"cluster", "c1"}};
  SnapshotStore store;
  store.Publish(full);
  std::shared_ptr<const Snapshot> served = store.Latest();
  ASSERT_NE(served, nullptr);
  EXPECT_NE(served.get(), full.get());
  EXPECT_EQ(served->metrics.SeriesCount(), 0u) << "the evaluator's MetricSet is not kept";
  EXPECT_EQ(full->metrics.SeriesCount(), 1u) << "the published one is left whole";
  EXPECT_EQ(served->sequence, 7u);
  EXPECT_EQ(served->taken_at, full->taken_at);
  EXPECT_EQ(served->exposition, full->exposition) << "shared, not copied";
  ASSERT_NE(served->exposition, nullptr);
  EXPECT_THAT(served->exposition->text, HasSubstr("pg_up{target=\"pg\"} 1"));
  ASSERT_EQ(served->targets.size(), 1u);
  EXPECT_EQ(served->targets[0].name, "pg");
  EXPECT_EQ(served->targets[0].health, "healthy");
  EXPECT_EQ(served->external_labels, full->external_labels);
}

TEST(HttpServerTest, PortInUseIsAClearError) {
  SnapshotStore store;
  HttpServer a(store, {});
  std::string err;
  ASSERT_TRUE(a.Start("127.0.0.1:0", err)) << err;
  HttpServer b(store, {});
  EXPECT_FALSE(b.Start("127.0.0.1:" + std::to_string(a.port()), err));
  EXPECT_THAT(err, HasSubstr("cannot listen on 127.0.0.1:" + std::to_string(a.port())));
}

}  // namespace
}  // namespace poolwatch
