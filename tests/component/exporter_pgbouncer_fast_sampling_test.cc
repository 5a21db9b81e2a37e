// The fast SHOW POOLS loop inside the whole App (its own thread beside the sampler's, sharing the
// probe pool), with a fake PgBouncer whose queue comes and goes between main samples. Labelled
// `threads` with the component suite, so TSan runs it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "exporter/app.h"
#include "tests/support/fakes.h"
#include "tests/support/util.h"

namespace poolwatch {
namespace {

using support::FakeConnection;
using support::HttpGet;
using support::MetricValue;
using support::Rows;
using namespace std::chrono_literals;

struct FakePgBouncer {
  std::atomic<int> waiting{0};
  std::atomic<int> pools_queries{0};
  std::atomic<int> open{0};
  std::atomic<int> peak_open{0};

  TargetConnector Connector() {
    return [this](const TargetConfig&, const Config&, SteadyTime, const std::atomic<bool>&) -> std::unique_ptr<Connection> {
      int n = ++open;
      int p = peak_open.load();
      while (n > p && !peak_open.compare_exchange_weak(p, n)) {
      }
      auto conn = std::make_unique<FakeConnection>(std::map<std::string, FakeConnection::Handler>{
          {"SHOW POOLS",
           [this](std::string_view) {
             ++pools_queries;
             int w = waiting.load();
             return Rows({"database", "user", "cl_active", "cl_waiting", "sv_active", "maxwait",
                          "maxwait_us"},
                         {{"app", "app", "2", std::to_string(w), "2", "0", w ? "100000" : "0"}});
           }},
          {"SHOW VERSION",
           [](std::string_view) { return Rows({"version"}, {{"PgBouncer 1.18.0"}}); }}});
      return conn;
    };
  }
};

TEST(PgBouncerFastSamplingComponent, FastLoopFeedsTheNextMainSample) {
  FakePgBouncer pgb;
  Config c;
  c.listen_address = "127.0.0.1:0";
  c.interval = 1500ms;
  c.timeout = 500ms;
  c.fast_interval = 50ms;
  TargetConfig t;
  t.name = "local";
  t.kind = TargetKind::kPgBouncer;
  t.dsn = "host=x";
  c.targets = {t};
  SystemClock clock;
  App app(c, clock, pgb.Connector());
  std::string err;
  ASSERT_TRUE(app.Start(err)) << err;
  const std::string base = "http://127.0.0.1:" + std::to_string(app.http_port());
  auto metrics = [&] { return HttpGet(base + "/metrics").body; };
  auto sample_time = [&](const std::string& m) {
    return MetricValue(m, "poolwatch_last_sample_timestamp_seconds", {"target=\"local\""});
  };
  ASSERT_TRUE(support::WaitUntil([&] { return !std::isnan(sample_time(metrics())); }, 5s));
  const double t0 = sample_time(metrics());
  // A queue for ~400 ms, well inside one main interval.
  pgb.waiting = 2;
  std::this_thread::sleep_for(400ms);
  pgb.waiting = 0;
  ASSERT_TRUE(support::WaitUntil([&] { return sample_time(metrics()) > t0; }, 5s));
  std::string m = metrics();
  EXPECT_EQ(MetricValue(m, "pgbouncer_pools_client_waiting_connections"), 0);
  EXPECT_EQ(MetricValue(m, "poolwatch_pgbouncer_waiting_clients_peak"), 2) << m;
  EXPECT_DOUBLE_EQ(MetricValue(m, "poolwatch_pgbouncer_maxwait_peak_seconds"), 0.1);
  double counted = MetricValue(m, "poolwatch_pgbouncer_waiting_seconds_total");
  EXPECT_GT(counted, 0.2) << m;
  EXPECT_LT(counted, 1.0) << m;
  EXPECT_GT(pgb.pools_queries.load(), 5);  // the fast loop ran
  EXPECT_LE(pgb.peak_open.load(), 2);      // within the probe pool's bound
  app.Stop();
}

}  // namespace
}  // namespace poolwatch
