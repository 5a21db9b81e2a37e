// The session error ratio's numerator. A PgBouncer restart or server_lifetime recycle
// ends PostgreSQL sessions "abandoned" (the client vanished without a Terminate message): not a
// session error. Fatal and killed sessions are.
#include <gtest/gtest.h>

#include "collectors/pg_stat_database.h"
#include "tests/support/fakes.h"

namespace poolwatch {
namespace {

using namespace std::chrono_literals;
using support::FakeClock;
using support::FakeConnection;
using support::Rows;

TEST(SessionErrorRatio, AbandonedSessionsAreNotErrorsFatalAndKilledAre) {
  FakeClock clock;
  CollectorOptions o;
  o.clock = &clock;
  o.error_window.window = 60s;
  o.error_window.min_events = 5;
  double sessions = 100, abandoned = 0, fatal = 0, killed = 0;
  FakeConnection conn({{"SELECT s.datid", [&](std::string_view) {
                          auto n = [](double v) { return std::to_string(v); };
                          return Rows({"datid", "datname", "numbackends", "xact_commit",
                                       "xact_rollback", "deadlocks", "sessions",
                                       "sessions_abandoned", "sessions_fatal", "sessions_killed"},
                                      {{"16384", "app", "3", "1000", "0", "0", n(sessions),
                                        n(abandoned), n(fatal), n(killed)}});
                        }}});
  auto c = MakePgStatDatabaseCollector(o);
  auto sample = [&] {
    TargetSample s;
    s.target = "pg";
    s.kind = TargetKind::kPostgres;
    c->Collect(conn, s);
    return s;
  };
  sample();
  // PgBouncer restarts: its 8 server sessions end abandoned; 10 new sessions are established.
  clock.Advance(5s);
  sessions += 10;
  abandoned += 8;
  TargetSample s = sample();
  EXPECT_EQ(s.metrics.Value("poolwatch_error_window_events", {{"kind", "session"}}), 10);
  EXPECT_EQ(s.metrics.Value("poolwatch_error_window_errors", {{"kind", "session"}}), 0);
  EXPECT_EQ(s.metrics.Value("poolwatch_error_ratio", {{"kind", "session"}}), 0);
  // Sessions that die of a FATAL error or are terminated are errors.
  clock.Advance(5s);
  sessions += 10;
  fatal += 1;
  killed += 1;
  s = sample();
  EXPECT_EQ(s.metrics.Value("poolwatch_error_window_errors", {{"kind", "session"}}), 2);
  EXPECT_DOUBLE_EQ(*s.metrics.Value("poolwatch_error_ratio", {{"kind", "session"}}), 0.1);
}

}  // namespace
}  // namespace poolwatch
