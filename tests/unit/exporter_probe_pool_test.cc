#include "exporter/probe_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "tests/support/fakes.h"

namespace poolwatch {
namespace {

using support::FakeClock;
using support::FakeConnection;
using namespace std::chrono_literals;

struct Counter {
  std::atomic<int> opened{0};
  std::atomic<int> live{0};
  std::atomic<int> peak{0};
  std::atomic<bool> fail{false};
};

// A connection that tracks how many are alive at once.
class CountedConnection final : public Connection {
 public:
  explicit CountedConnection(Counter& c) : c_(c), inner_({{"SELECT 1", [](std::string_view) {
                                                              return QueryResult();
                                                            }}}) {
    int now = ++c_.live;
    int p = c_.peak.load();
    while (now > p && !c_.peak.compare_exchange_weak(p, now)) {
    }
  }
  ~CountedConnection() override { --c_.live; }
  QueryResult Query(std::string_view sql) override { return inner_.Query(sql); }
  void SetDeadline(SteadyTime d) override { inner_.SetDeadline(d); }
  bool Healthy() const override { return inner_.Healthy(); }
  int BackendPid() const override { return 100; }
  int ServerVersion() const override { return 150000; }
  void Abort() override { inner_.Abort(); }

 private:
  Counter& c_;
  FakeConnection inner_;
};

ConnectFn Connector(Counter& c) {
  return [&c](SteadyTime, const std::atomic<bool>&) -> std::unique_ptr<Connection> {
    if (c.fail) throw DbError("connection refused", DownReason::kRefused, "", true);
    ++c.opened;
    return std::make_unique<CountedConnection>(c);
  };
}

PoolConfig Small(int max) {
  PoolConfig p;
  p.min = 0;
  p.max = max;
  p.backoff_initial = 1s;
  p.backoff_max = 4s;
  return p;
}

TEST(ProbePoolTest, ReusesIdleConnections) {
  SystemClock clock;
  Counter c;
  ProbePool pool("t", Small(2), Connector(c), clock, "SELECT 1");
  for (int i = 0; i < 5; ++i) {
    auto l = pool.Acquire("test", std::chrono::steady_clock::now() + 1s);
    ASSERT_TRUE(l);
  }
  EXPECT_EQ(c.opened, 1);
  EXPECT_EQ(pool.Stats().idle, 1);
  EXPECT_EQ(pool.Stats().acquires, 5);
}

TEST(ProbePoolTest, NeverExceedsMaxUnderConcurrency) {
  SystemClock clock;
  Counter c;
  ProbePool pool("t", Small(3), Connector(c), clock, "SELECT 1");
  std::vector<std::thread> threads;
  std::atomic<int> timeouts{0};
  for (int t = 0; t < 12; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        try {
          auto l = pool.Acquire("worker", std::chrono::steady_clock::now() + 2s);
          std::this_thread::sleep_for(std::chrono::microseconds(200));
        } catch (const DbError&) {
          ++timeouts;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(c.peak.load(), 3);
  EXPECT_GE(c.peak.load(), 2);  // there really was contention
  EXPECT_EQ(timeouts.load(), 0);
}

TEST(ProbePoolTest, AcquireTimesOutWhenAllInUse) {
  SystemClock clock;
  Counter c;
  ProbePool pool("t", Small(1), Connector(c), clock, "SELECT 1");
  auto held = pool.Acquire("holder", std::chrono::steady_clock::now() + 1s);
  auto start = std::chrono::steady_clock::now();
  try {
    pool.Acquire("second", start + 100ms);
    FAIL() << "expected a timeout";
  } catch (const DbError& e) {
    EXPECT_EQ(e.reason(), DownReason::kTimeout);
  }
  EXPECT_GE(std::chrono::steady_clock::now() - start, 90ms);
  EXPECT_EQ(pool.Stats().acquire_timeouts, 1);
}

TEST(ProbePoolTest, BacksOffExponentiallyAfterConnectFailures) {
  FakeClock clock;
  Counter c;
  c.fail = true;
  ProbePool pool("t", Small(1), Connector(c), clock, "SELECT 1");
  auto try_once = [&] {
    try {
      pool.Acquire("s", std::chrono::steady_clock::now() + 1s);
      return true;
    } catch (const DbError& e) {
      EXPECT_EQ(e.reason(), DownReason::kRefused);  // the real reason, also while backing off
      return false;
    }
  };
  EXPECT_FALSE(try_once());
  EXPECT_EQ(pool.Stats().connects_failed, 1);
  EXPECT_FALSE(try_once());  // within backoff: no new attempt
  EXPECT_EQ(pool.Stats().connects_failed, 1);
  clock.Advance(1300ms);  // past 1s +-20%
  EXPECT_FALSE(try_once());
  EXPECT_EQ(pool.Stats().connects_failed, 2);
  clock.Advance(1300ms);  // backoff is now 2s +-20%: still waiting
  EXPECT_FALSE(try_once());
  EXPECT_EQ(pool.Stats().connects_failed, 2);
  clock.Advance(1300ms);
  c.fail = false;
  EXPECT_TRUE(try_once());
  EXPECT_EQ(pool.Stats().connects_ok, 1);
}

TEST(ProbePoolTest, LeakedCheckoutIsCountedAbortedAndItsSlotFreedOnRelease) {
  FakeClock clock;
  Counter c;
  PoolConfig cfg = Small(1);
  cfg.checkout_leak_timeout = 10s;
  ProbePool pool("t", cfg, Connector(c), clock, "SELECT 1");
  auto lease = pool.Acquire("forgetful-collector", std::chrono::steady_clock::now() + 1s);
  clock.Advance(11s);
  pool.Maintain(clock.Now() + std::chrono::seconds(5));
  auto s = pool.Stats();
  EXPECT_EQ(s.leaks, 1);
  EXPECT_EQ(s.leaked_now, 1);
  EXPECT_FALSE(lease->Healthy());  // the holder's next call fails fast
  pool.Maintain(clock.Now() + std::chrono::seconds(5));
  EXPECT_EQ(pool.Stats().leaks, 1);  // counted once
  // The bound holds while the leaked connection still exists.
  EXPECT_THROW(pool.Acquire("other", std::chrono::steady_clock::now() + 50ms), DbError);
  lease.Release();
  EXPECT_EQ(c.live, 0);  // closed, not pooled
  auto again = pool.Acquire("other", std::chrono::steady_clock::now() + 1s);
  EXPECT_TRUE(again->Healthy());
}

TEST(ProbePoolTest, IdleAndLifetimeExpiryCloseConnections) {
  FakeClock clock;
  Counter c;
  PoolConfig cfg = Small(2);
  cfg.min = 0;
  cfg.idle_timeout = 30s;
  cfg.max_lifetime = 100s;
  ProbePool pool("t", cfg, Connector(c), clock, "SELECT 1");
  { auto l = pool.Acquire("s", std::chrono::steady_clock::now() + 1s); }
  clock.Advance(31s);
  pool.Maintain(clock.Now() + std::chrono::seconds(5));
  EXPECT_EQ(c.live, 0);
  EXPECT_EQ(pool.Stats().closed_idle, 1);
  cfg.idle_timeout = 1000s;
  ProbePool pool2("t", cfg, Connector(c), clock, "SELECT 1");
  for (int i = 0; i < 12; ++i) {
    { auto l = pool2.Acquire("s", std::chrono::steady_clock::now() + 1s); }
    clock.Advance(10s);
    pool2.Maintain(clock.Now() + 5s);  // renews the last connection, new before old goes
  }
  EXPECT_GE(pool2.Stats().closed_lifetime, 1);
  EXPECT_EQ(c.opened, 3);  // pool 1's one, pool 2's first, and its recycled successor
}

// At max_connections a replacement cannot be had. The last connection past
// max_lifetime is replaced only once a new one is open, so the only working session is kept.
TEST(ProbePoolTest, TheLastConnectionIsKeptPastItsLifetimeWhenNoReplacementOpens) {
  FakeClock clock;
  Counter c;
  PoolConfig cfg = Small(1);
  cfg.min = 1;
  cfg.max_lifetime = 100s;
  std::atomic<bool> full{false};
  auto base = Connector(c);
  ProbePool pool("t", cfg,
                 [&](SteadyTime d, const std::atomic<bool>& cancel) {
                   if (full) {
                     throw DbError("FATAL:  sorry, too many clients already",
                                   DownReason::kTooManyConnections, "53300", true);
                   }
                   return base(d, cancel);
                 },
                 clock, "SELECT 1");
  { auto l = pool.Acquire("s", clock.Now() + 1s); }
  full = true;
  for (int i = 0; i < 5; ++i) {
    clock.Advance(60s);  // well past max_lifetime
    pool.Maintain(clock.Now() + 5s);
    auto l = pool.Acquire("s", clock.Now() + 1s);
    EXPECT_TRUE(l) << "round " << i;
  }
  EXPECT_EQ(c.live, 1);
  EXPECT_EQ(pool.Stats().closed_lifetime, 0);
  EXPECT_GE(pool.Stats().connects_failed, 1);
  EXPECT_EQ(pool.Stats().last_error_reason, DownReason::kTooManyConnections);
  full = false;
  clock.Advance(120s);  // past the backoff too
  pool.Maintain(clock.Now() + 5s);
  EXPECT_EQ(pool.Stats().closed_lifetime, 1) << "renewed once a connection could be opened";
  EXPECT_EQ(c.live, 1);
}

TEST(ConnectionTest, TooManyConnectionsIsItsOwnReason) {
  EXPECT_EQ(ClassifyError("53300", "FATAL:  sorry, too many clients already"),
            DownReason::kTooManyConnections);
  EXPECT_EQ(ClassifyError("", "connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  "
                              "remaining connection slots are reserved for non-replication "
                              "superuser connections"),
            DownReason::kTooManyConnections);
  EXPECT_EQ(ClassifyError("", "ERROR:  no more connections allowed (max_client_conn)"),
            DownReason::kTooManyConnections);
  EXPECT_EQ(DownReasonName(DownReason::kTooManyConnections), "too_many_connections");
}

TEST(ProbePoolTest, MaintainTopsUpToMin) {
  SystemClock clock;
  Counter c;
  PoolConfig cfg = Small(2);
  cfg.min = 1;
  ProbePool pool("t", cfg, Connector(c), clock, "SELECT 1");
  pool.Maintain(clock.Now() + std::chrono::seconds(5));
  EXPECT_EQ(c.live, 1);
  EXPECT_EQ(pool.Stats().idle, 1);
}

// The top-up runs on the target's worker within the sampling budget, never
// connect_timeout past it; a spent budget skips it (no connect, no failure, no backoff).
TEST(ProbePoolTest, MaintainTopUpIsBoundedByTheCallersDeadline) {
  SystemClock clock;
  PoolConfig cfg = Small(2);
  cfg.min = 1;
  cfg.connect_timeout = 30s;
  std::atomic<int> calls{0};
  SteadyTime seen{};
  ProbePool pool("t", cfg,
                 [&](SteadyTime d, const std::atomic<bool>&) -> std::unique_ptr<Connection> {
                   ++calls;
                   seen = d;
                   throw DbError("connect timed out", DownReason::kTimeout, "", true);
                 },
                 clock, "SELECT 1");
  pool.Maintain(clock.Now() - 1ms);
  EXPECT_EQ(calls.load(), 0) << "a spent budget skips the top-up";
  EXPECT_EQ(pool.Stats().connects_failed, 0);
  const SteadyTime deadline = clock.Now() + 200ms;
  pool.Maintain(deadline);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_LE(seen, deadline) << "the connect got the sampling budget, not connect_timeout";
  // Cut short by the leftover budget: no probe error, no backoff (review finding).
  EXPECT_EQ(pool.Stats().connects_failed, 0);
  pool.Maintain(clock.Now() + 200ms);
  EXPECT_EQ(calls.load(), 2) << "not backing off";
  EXPECT_EQ(pool.Stats().connects_failed, 0);
}

TEST(ProbePoolTest, ATopUpThatFailsWithinItsOwnConnectTimeoutIsAProbeError) {
  SystemClock clock;
  PoolConfig cfg = Small(2);
  cfg.min = 1;
  cfg.connect_timeout = 100ms;  // shorter than the budget: the expiry is the target's
  ProbePool pool("t", cfg,
                 [&](SteadyTime, const std::atomic<bool>&) -> std::unique_ptr<Connection> {
                   throw DbError("connect timed out", DownReason::kTimeout, "", true);
                 },
                 clock, "SELECT 1");
  pool.Maintain(clock.Now() + 5s);
  EXPECT_EQ(pool.Stats().connects_failed, 1);
  ProbePool refused("t", cfg,
                    [&](SteadyTime, const std::atomic<bool>&) -> std::unique_ptr<Connection> {
                      throw DbError("Connection refused", DownReason::kRefused, "", true);
                    },
                    clock, "SELECT 1");
  refused.Maintain(clock.Now() + 200ms);
  EXPECT_EQ(refused.Stats().connects_failed, 1);
}

// Close() cancels a connect in progress (shutdown must not wait out a hanging login).
TEST(ProbePoolTest, CloseCancelsAConnectInProgress) {
  SystemClock clock;
  PoolConfig cfg = Small(2);
  cfg.connect_timeout = 30s;
  std::atomic<bool> entered{false};
  ProbePool pool("t", cfg,
                 [&](SteadyTime d, const std::atomic<bool>& cancel) -> std::unique_ptr<Connection> {
                   entered = true;
                   while (!cancel.load() && std::chrono::steady_clock::now() < d) {
                     std::this_thread::sleep_for(1ms);
                   }
                   throw DbError("connect cancelled", DownReason::kOther, "", true);
                 },
                 clock, "SELECT 1");
  std::thread t([&] { EXPECT_THROW(pool.Acquire("s", clock.Now() + 30s), DbError); });
  while (!entered.load()) std::this_thread::sleep_for(1ms);
  const auto t0 = std::chrono::steady_clock::now();
  pool.Close();
  t.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("connect gave up %.3f s after Close()\n", s);
  EXPECT_LT(s, 5.0);
}

TEST(ProbePoolTest, CloseAbortsInUseAndRefusesNewCheckouts) {
  SystemClock clock;
  Counter c;
  ProbePool pool("t", Small(2), Connector(c), clock, "SELECT 1");
  auto l = pool.Acquire("s", std::chrono::steady_clock::now() + 1s);
  pool.Close();
  EXPECT_FALSE(l->Healthy());
  EXPECT_THROW(pool.Acquire("s", std::chrono::steady_clock::now() + 1s), DbError);
}

}  // namespace
}  // namespace poolwatch
