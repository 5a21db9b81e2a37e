// At max_connections, against a real PostgreSQL 15 at a small max_connections, filled by other
// sessions: the down reason is named too_many_connections (SQLSTATE 53300), and a running
// poolwatch keeps its only probe session past pool.max_lifetime instead of dropping it for a
// replacement the server cannot give.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "tests/support/integration.h"

namespace poolwatch {
namespace {

// 8 slots, 3 of them reserved for superusers (PostgreSQL's default): 5 for everyone else.
PgStack*& stack = support::SharedStack({{"PG_MAX_CONNECTIONS", "8"}});

std::string Config() {
  const std::string pool =
      "      pool: {min: 1, max: 1, max_lifetime: 1s, backoff: {initial: 100ms, max: 300ms}}\n";
  return support::SamplingYaml("300ms", "250ms") + "targets:\n  postgres:\n" +
         support::TargetYaml("main", stack->PgDsn(), pool);
}

TEST(MaxConnectionsIntegration, AFullServerIsNamedAndTheLastProbeSessionIsKept) {
  PoolwatchProcess pw(Config());
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  auto up = [](const std::string& m) { return MetricValue(m, "pg_up", {"target=\"main\""}) == 1; };
  ASSERT_TRUE(pw.WaitMetric(up, 5s)) << pw.Logs();
  // Fill every slot a non-superuser may take.
  std::vector<std::unique_ptr<Sql>> fillers;
  std::string refusal;
  for (int i = 0; i < 20 && refusal.empty(); ++i) {
    try {
      fillers.push_back(std::make_unique<Sql>(stack->PgDsn()));
    } catch (const std::exception& e) {
      refusal = e.what();
    }
  }
  ASSERT_FALSE(refusal.empty()) << "the server never filled up";
  EXPECT_THAT(refusal, HasSubstr("remaining connection slots are reserved"));
  const std::string m0 = pw.Metrics();
  const std::vector<std::string> failed = {"target=\"main\"", "result=\"failure\""};
  const double failures0 = MetricValue(m0, "poolwatch_probe_pool_connects_total", failed);
  const double renewed0 = MetricValue(m0, "poolwatch_probe_pool_closed_total",
                                      {"target=\"main\"", "reason=\"lifetime\""});

  // A fresh poolwatch cannot get in: the reason says why.
  support::TempDir d;
  support::WriteFile(d.File("once.yaml"), Config());
  std::string out;
  EXPECT_EQ(
      support::RunCommand({support::PoolwatchBin(), "--once", "-c", d.File("once.yaml")}, &out), 1)
      << out;
  EXPECT_THAT(out, HasSubstr("too_many_connections")) << out;

  // The running one keeps its session for 4 s (four lifetimes), though renewing it fails.
  int down = 0;
  int scrapes = 0;
  const auto end = std::chrono::steady_clock::now() + 4s;
  while (std::chrono::steady_clock::now() < end) {
    down += up(pw.Metrics()) ? 0 : 1;
    ++scrapes;
    std::this_thread::sleep_for(100ms);
  }
  const std::string m1 = pw.Metrics();
  const double renew_failures =
      MetricValue(m1, "poolwatch_probe_pool_connects_total", failed) - failures0;
  std::printf("max_connections full (%zu fillers): --once reason too_many_connections; running "
              "poolwatch down in %d of %d scrapes over 4s, %g failed renewals of its only session\n",
              fillers.size(), down, scrapes, renew_failures);
  EXPECT_EQ(down, 0) << m1 << pw.Logs();
  EXPECT_GE(renew_failures, 1) << "it did try to renew past max_lifetime";
  EXPECT_EQ(MetricValue(m1, "poolwatch_probe_pool_closed_total",
                        {"target=\"main\"", "reason=\"lifetime\""}),
            renewed0)
      << "the only session was not closed";
  // Room again: the session is renewed (new one first).
  fillers.clear();
  ASSERT_TRUE(pw.WaitMetric(
      [&](const std::string& m) {
        return MetricValue(m, "poolwatch_probe_pool_closed_total",
                           {"target=\"main\"", "reason=\"lifetime\""}) > renewed0 &&
               up(m);
      },
      10s))
      << pw.Metrics();
}

}  // namespace
}  // namespace poolwatch
