// A fleet of three poolwatch processes (the real binary) as three pods of
// one application: each with its own PgBouncer, all watching one shared PostgreSQL (`shared:
// true`), all posting to one Slack-like receiver. Exactly one holder; PostgreSQL sees the
// sampling statements of one instance only; a PostgreSQL incident gives one firing and one
// resolved message in total; a PgBouncer incident in pod 2 gives one message naming pod 2; a
// holder killed (-9) or hung (-STOP) while firing is replaced within the documented bound,
// nothing is announced twice and the resolve arrives once. Intervals are scaled down (500ms).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "tests/support/integration.h"
#include "tests/support/slack_receiver.h"

namespace poolwatch {
namespace {

using support::CountWithText;
using support::ReceivedRequest;
using support::SlackMessageText;
using support::SlackReceiver;
using Clock = std::chrono::steady_clock;

PgStack*& stack = support::SharedStack({{"PGB_POOL_SIZE", "2"}});

// sampling.interval 500ms: the election's idle_session_timeout is 3 x 500ms = 1.5s.
constexpr auto kInterval = 500ms;
constexpr auto kIdleSessionTimeout = 3 * kInterval;

std::string Dump(const std::vector<ReceivedRequest>& d) {
  std::string out;
  for (const auto& r : d) out += "--- " + r.path + "\n" + SlackMessageText(r.body, true) + "\n";
  return out;
}

/// Three pods: pod i (1..3) runs poolwatch with POD_NAME=app-i, its own PgBouncer, and the shared
/// PostgreSQL target `db` with application_name=pw-app-i (so PostgreSQL can tell them apart).
class Fleet {
 public:
  explicit Fleet(SlackReceiver& rx, int pods = 3) {
    for (int i = 1; i <= pods; ++i) {
      int port = i == 1 ? stack->pgb_port() : ExtraPort(i);
      std::string yaml =
          "sampling: {interval: 500ms, timeout: 400ms}\n"
          "external_labels: {namespace: \"${POD_NAMESPACE}\", pod: \"${POD_NAME}\"}\n"
          "targets:\n"
          "  postgres:\n"
          "    - name: db\n"
          "      shared: true\n"
          "      dsn: \"" + stack->PgDsn("postgres") + " application_name=pw-${POD_NAME}\"\n"
          "      long_transactions: {exclude_application_names: [sleeper]}\n"
          "  pgbouncer:\n"
          "    - name: \"bouncer-${POD_NAME}\"\n"
          "      dsn: \"" + stack->PgbDsnAt(port) + "\"\n"
          "      pool: {backoff: {initial: 100ms, max: 200ms}}\n"
          "alerts:\n"
          "  incidents: {resolve_after: 2s}\n"
          "  rules:\n"
          "    target_down: {for: 1s}\n"
          "    pool_utilization: {warning: 0.80, critical: 0.90, for: 1s}\n"
          "    clients_waiting: {warning: 1s, critical: 1h, for: 1s}\n"
          "    long_transaction: {warning: 3s, critical: 1h, for: 1s}\n"
          "    error_rate: {enabled: false}\n"
          "  receivers:\n"
          "    - name: oncall\n"
          "      slack: {webhook_url: \"" + rx.Url("/pod" + std::to_string(i)) + "\"}\n"
          "  route:\n    group_wait: 500ms\n    group_interval: 2s\n";
      pods_.push_back(std::make_unique<PoolwatchProcess>(
          yaml, std::vector<std::string>{},
          std::map<std::string, std::string>{{"POD_NAME", "app-" + std::to_string(i)},
                                             {"POD_NAMESPACE", "shop"}}));
    }
    for (auto& p : pods_) EXPECT_TRUE(p->WaitReady()) << p->Logs();
  }

  static int ExtraPort(int i) {
    static std::map<int, int> ports;  // one extra PgBouncer per pod number, for the binary
    auto it = ports.find(i);
    if (it == ports.end()) it = ports.emplace(i, stack->StartExtraPgBouncer(i)).first;
    return it->second;
  }

  PoolwatchProcess& pod(int i) { return *pods_.at(i - 1); }
  int size() const { return static_cast<int>(pods_.size()); }

  /// poolwatch_target_role{target="db",role="holder"} of pod i; NaN when it does not answer.
  double HolderValue(int i) {
    if (stopped_.count(i) || !pod(i).process().Running()) return NAN;
    auto r = HttpGet(pod(i).Url("/metrics"), {}, 500);
    if (r.status != 200) return NAN;
    return MetricValue(r.body, "poolwatch_target_role", {"target=\"db\"", "role=\"holder\""});
  }
  /// The pods that say they hold the election (those that answer).
  std::vector<int> Holders() {
    std::vector<int> out;
    for (int i = 1; i <= size(); ++i) {
      if (HolderValue(i) == 1) out.push_back(i);
    }
    return out;
  }
  /// Waits until exactly one answering pod holds, other than `not_this`; returns it (0: none).
  int WaitOneHolder(std::chrono::milliseconds timeout, int not_this = 0) {
    int holder = 0;
    support::WaitUntil(
        [&] {
          auto h = Holders();
          holder = h.size() == 1 && h[0] != not_this ? h[0] : 0;
          return holder != 0;
        },
        timeout);
    return holder;
  }
  void MarkStopped(int i) { stopped_.insert(i); }
  void MarkContinued(int i) { stopped_.erase(i); }
  std::string Logs() {
    std::string out;
    for (int i = 1; i <= size(); ++i) {
      out += "=== pod " + std::to_string(i) + "\n" + pod(i).Logs().substr(
          pod(i).Logs().size() > 4000 ? pod(i).Logs().size() - 4000 : 0);
    }
    return out;
  }

 private:
  std::vector<std::unique_ptr<PoolwatchProcess>> pods_;
  std::set<int> stopped_;
};

/// Statements logged by PostgreSQL (log_statement = all, prefix "%a|") per application_name.
class StatementLog {
 public:
  StatementLog() {
    Sql super(stack->SuperDsn("postgres"));
    super.Exec("ALTER SYSTEM SET log_statement = 'all'");
    super.Exec("ALTER SYSTEM SET log_line_prefix = '%a|'");
    super.Exec("SELECT pg_reload_conf()");
    std::this_thread::sleep_for(300ms);
  }
  std::size_t Mark() const { return support::ReadFile(Path()).size(); }
  /// application_name -> statements logged since `from`; `election` counts the election's own
  /// statements (lock tries, heartbeats, LISTEN, SET, NOTIFY) separately.
  std::map<std::string, int> Since(std::size_t from, std::map<std::string, int>* election) const {
    std::string text = support::ReadFile(Path()).substr(from);
    std::map<std::string, int> out;
    std::regex re("^([^|\\n]*)\\|LOG:  statement: (.*)$");
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      std::smatch m;
      if (!std::regex_match(line, m, re)) continue;
      std::string stmt = m[2];
      bool is_election = stmt.find("pg_try_advisory_lock") != std::string::npos ||
                         stmt.find("pg_notify") != std::string::npos ||
                         stmt.rfind("LISTEN ", 0) == 0 ||
                         stmt.rfind("SET idle_session_timeout", 0) == 0 || stmt == "SELECT 1";
      (is_election && election ? (*election)[m[1]] : out[m[1]]) += 1;
    }
    return out;
  }

 private:
  static std::string Path() { return stack->dir() + "/postgres.log"; }
};

TEST(Fleet, ExactlyOneHolderAndPostgresSeesOneInstancesSamplingStatements) {
  StatementLog log;
  // A single instance first: the statements per minute one poolwatch costs the database.
  std::map<std::string, int> single, single_election;
  {
    SlackReceiver rx;
    Fleet one(rx, 1);
    ASSERT_EQ(one.WaitOneHolder(10s), 1) << one.Logs();
    std::size_t mark = log.Mark();
    std::this_thread::sleep_for(6s);
    single = log.Since(mark, &single_election);
  }
  SlackReceiver rx;
  Fleet fleet(rx);
  int holder = fleet.WaitOneHolder(10s);
  ASSERT_NE(holder, 0) << fleet.Logs();
  std::size_t mark = log.Mark();
  int samples = 0;
  auto until = Clock::now() + 6s;
  while (Clock::now() < until) {
    auto h = fleet.Holders();
    EXPECT_EQ(h.size(), 1u) << "holders at one instant";
    ++samples;
    std::this_thread::sleep_for(200ms);
  }
  std::map<std::string, int> election;
  auto per_app = log.Since(mark, &election);
  std::string holder_app = "pw-app-" + std::to_string(holder);
  for (int i = 1; i <= 3; ++i) {
    std::string app = "pw-app-" + std::to_string(i);
    if (i == holder) {
      EXPECT_GT(per_app[app], 0) << "the holder samples";
    } else {
      EXPECT_EQ(per_app[app], 0) << app << " is a standby and must not sample";
      EXPECT_GT(election[app], 0) << app << " tries the lock";
    }
  }
  const double per_min = 60.0 / 6.0;
  std::printf("[ figure ] sampling statements/min: single instance %.0f, fleet of 3: holder %.0f, "
              "standbys %.0f and %.0f\n",
              single["pw-app-1"] * per_min, per_app[holder_app] * per_min,
              per_app[holder == 1 ? "pw-app-2" : "pw-app-1"] * per_min,
              per_app[holder == 3 ? "pw-app-2" : "pw-app-3"] * per_min);
  std::printf("[ figure ] election statements/min: single %.0f; fleet per pod: %.0f %.0f %.0f\n",
              single_election["pw-app-1"] * per_min, election["pw-app-1"] * per_min,
              election["pw-app-2"] * per_min, election["pw-app-3"] * per_min);
  std::printf("[ figure ] %d role checks, one holder each time (pod %d)\n", samples, holder);
  // The same sampling load as one instance (within one sample's worth of jitter each way).
  EXPECT_NEAR(per_app[holder_app], single["pw-app-1"], single["pw-app-1"] * 0.3 + 8);
  // Backends: each standby holds only its election session.
  Sql super(stack->SuperDsn("postgres"));
  for (int i = 1; i <= 3; ++i) {
    int n = std::stoi(super.Scalar("SELECT count(*) FROM pg_stat_activity WHERE "
                                   "application_name = 'pw-app-" + std::to_string(i) + "'"));
    std::printf("[ figure ] backends of pw-app-%d (%s): %d\n", i,
                i == holder ? "holder" : "standby", n);
    if (i != holder) {
      EXPECT_EQ(n, 1) << "a standby holds its one election session";
    }
  }
  // /status names the role and carries the external labels.
  auto status = nlohmann::json::parse(HttpGet(fleet.pod(holder).Url("/status")).body);
  EXPECT_EQ(status["external_labels"]["pod"], "app-" + std::to_string(holder)) << status.dump(1);
  EXPECT_EQ(status["external_labels"]["namespace"], "shop");
  bool saw_role = false;
  for (const auto& t : status["targets"]) {
    if (t["name"] == "db") saw_role = t.value("role", "") == "holder";
  }
  EXPECT_TRUE(saw_role) << status.dump(1);
  // Standbys export no pg_* series for the shared target.
  int standby = holder == 1 ? 2 : 1;
  std::string m = fleet.pod(standby).Metrics();
  EXPECT_TRUE(std::isnan(MetricValue(m, "pg_up", {"target=\"db\""}))) << m.substr(0, 2000);
  EXPECT_EQ(MetricValue(m, "poolwatch_target_role", {"target=\"db\"", "role=\"standby\""}), 1);
  EXPECT_TRUE(rx.Delivered().empty()) << Dump(rx.Delivered());
}

TEST(Fleet, PostgresIncidentGivesOneFiringAndOneResolvedInTotal) {
  SlackReceiver rx;
  Fleet fleet(rx);
  int holder = fleet.WaitOneHolder(10s);
  ASSERT_NE(holder, 0) << fleet.Logs();
  std::this_thread::sleep_for(1s);
  ASSERT_TRUE(rx.Delivered().empty()) << Dump(rx.Delivered());
  {
    Sql tx(stack->SuperDsn("app") + " application_name=long-tx");
    tx.Exec("BEGIN");
    tx.Exec("SELECT 1");
    ASSERT_TRUE(rx.WaitForDelivered(1, 20s)) << fleet.Logs();
    std::this_thread::sleep_for(1s);
    tx.Exec("ROLLBACK");
  }
  ASSERT_TRUE(rx.WaitForDelivered(2, 20s)) << fleet.Logs();
  std::this_thread::sleep_for(3s);
  auto d = rx.Delivered();
  ASSERT_EQ(d.size(), 2u) << Dump(d);
  EXPECT_EQ(CountWithText(d, "FIRING", true), 1) << Dump(d);
  EXPECT_EQ(CountWithText(d, "RESOLVED", true), 1) << Dump(d);
  EXPECT_EQ(d[0].path, "/pod" + std::to_string(holder)) << "the holder speaks";
  EXPECT_THAT(SlackMessageText(d[0].body, true), HasSubstr("namespace=shop"));
  EXPECT_THAT(SlackMessageText(d[0].body, true), HasSubstr("pod=app-" + std::to_string(holder)));
}

TEST(Fleet, PgBouncerIncidentInPod2GivesOneMessageNamingPod2) {
  SlackReceiver rx;
  Fleet fleet(rx);
  ASSERT_NE(fleet.WaitOneHolder(10s), 0) << fleet.Logs();
  std::this_thread::sleep_for(1s);
  ASSERT_TRUE(rx.Delivered().empty()) << Dump(rx.Delivered());
  int port = Fleet::ExtraPort(2);
  auto app_dsn = [port](const std::string& app) {
    return "host=127.0.0.1 port=" + std::to_string(port) +
           " dbname=app user=app password=apppass application_name=" + app;
  };
  {
    std::vector<std::unique_ptr<Sql>> sessions;
    for (int i = 0; i < 2; ++i) {
      sessions.push_back(std::make_unique<Sql>(app_dsn("sleeper")));
      sessions.back()->Send("SELECT pg_sleep(6)");
    }
    std::this_thread::sleep_for(300ms);
    sessions.push_back(std::make_unique<Sql>(app_dsn("waiter")));
    sessions.back()->Send("SELECT 1");
    ASSERT_TRUE(rx.WaitForDelivered(1, 20s)) << fleet.Logs();
    // Sql's destructor waits for the sleeps to end.
  }
  ASSERT_TRUE(rx.WaitForDelivered(2, 20s)) << fleet.Logs();
  std::this_thread::sleep_for(3s);
  auto d = rx.Delivered();
  ASSERT_EQ(d.size(), 2u) << Dump(d);
  EXPECT_EQ(CountWithText(d, "FIRING", true), 1) << Dump(d);
  EXPECT_EQ(CountWithText(d, "RESOLVED", true), 1) << Dump(d);
  for (const auto& r : d) {
    EXPECT_EQ(r.path, "/pod2") << Dump(d);
    EXPECT_THAT(SlackMessageText(r.body, true), HasSubstr("pod=app-2"));
  }
  EXPECT_THAT(SlackMessageText(d[0].body, true), HasSubstr("bouncer-app-2"));
}

/// Kill (-9) or hang (-STOP) the holder while a PostgreSQL incident is firing.
void TakeoverWhileFiring(int signal, std::chrono::milliseconds bound) {
  SlackReceiver rx;
  Fleet fleet(rx);
  int holder = fleet.WaitOneHolder(10s);
  ASSERT_NE(holder, 0) << fleet.Logs();
  std::this_thread::sleep_for(1s);
  ASSERT_TRUE(rx.Delivered().empty()) << Dump(rx.Delivered());
  Sql tx(stack->SuperDsn("app") + " application_name=long-tx");
  tx.Exec("BEGIN");
  tx.Exec("SELECT 1");
  ASSERT_TRUE(rx.WaitForDelivered(1, 20s)) << fleet.Logs();
  std::this_thread::sleep_for(2 * kInterval);  // the holder publishes the announced state
  auto t0 = Clock::now();
  fleet.pod(holder).process().Signal(signal);
  if (signal == SIGSTOP) fleet.MarkStopped(holder);
  int next = fleet.WaitOneHolder(bound + 5s, holder);
  double took = std::chrono::duration<double>(Clock::now() - t0).count();
  ASSERT_NE(next, 0) << fleet.Logs();
  std::printf("[ figure ] %s of holder pod %d: pod %d holds after %.2fs (bound %.2fs)\n",
              signal == SIGKILL ? "kill -9" : "kill -STOP", holder, next, took,
              std::chrono::duration<double>(bound).count());
  EXPECT_LE(took, std::chrono::duration<double>(bound).count() + 0.5)
      << "takeover within the documented bound (+0.5s of this test's polling)";
  std::this_thread::sleep_for(3s);  // the new holder keeps firing, silently
  double handoffs = MetricValue(fleet.pod(next).Metrics(),
                                "poolwatch_election_handoffs_received_total", {"target=\"db\""});
  EXPECT_GT(handoffs, 0) << "the new holder heard the old one's state";
  EXPECT_EQ(rx.Delivered().size(), 1u) << "nothing announced twice:\n" << Dump(rx.Delivered());
  if (signal == SIGSTOP) {
    fleet.pod(holder).process().Signal(SIGCONT);  // the hung one wakes up: it must stay quiet
    fleet.MarkContinued(holder);
    std::this_thread::sleep_for(2s);
    EXPECT_EQ(fleet.Holders(), std::vector<int>{next}) << fleet.Logs();
    EXPECT_EQ(rx.Delivered().size(), 1u) << Dump(rx.Delivered());
  }
  tx.Exec("ROLLBACK");
  ASSERT_TRUE(rx.WaitForDelivered(2, 20s)) << fleet.Logs();
  std::this_thread::sleep_for(3s);
  auto d = rx.Delivered();
  EXPECT_EQ(d.size(), 2u) << Dump(d);
  EXPECT_EQ(CountWithText(d, "FIRING", true), 1) << Dump(d);
  EXPECT_EQ(CountWithText(d, "RESOLVED", true), 1) << Dump(d);
  EXPECT_EQ(d.back().path, "/pod" + std::to_string(next)) << "the new holder resolves";
}

TEST(Fleet, KillNineOfTheHolderWhileFiringTakesOverWithoutDuplicatesAndResolvesOnce) {
  // The killed session is closed by the kernel at once: the next standby try wins (README
  // "Takeover and its bound": one interval plus the sample's timeout).
  TakeoverWhileFiring(SIGKILL, kInterval + 400ms);  // interval + sampling.timeout
}

TEST(Fleet, KillStopOfTheHolderWhileFiringTakesOverWithinTheIdleSessionBound) {
  // Hung with its connection open (its kernel still answers TCP keepalives): PostgreSQL drops
  // the session idle_session_timeout after its last heartbeat, then the next try wins.
  TakeoverWhileFiring(SIGSTOP, kIdleSessionTimeout + kInterval + 400ms);
}

TEST(Fleet, TheElectionNeedsNoPrivilegeAndNoWrite) {
  // A role with no grant at all, every transaction read-only: it still takes the advisory lock,
  // LISTENs and NOTIFYs (two replicas: one holds, the other hears its state).
  Sql super(stack->SuperDsn("postgres"));
  super.Exec("ALTER ROLE nopriv SET default_transaction_read_only = on");
  SlackReceiver rx;
  std::vector<std::unique_ptr<PoolwatchProcess>> pods;
  for (int i = 1; i <= 2; ++i) {
    pods.push_back(std::make_unique<PoolwatchProcess>(
        "sampling: {interval: 500ms, timeout: 400ms}\n"
        "targets:\n  postgres:\n    - name: db\n      shared: true\n      dsn: \"host=127.0.0.1 "
        "port=" + std::to_string(stack->pg_port()) + " dbname=postgres user=nopriv "
        "application_name=ro-" + std::to_string(i) + "\"\n"
        "alerts:\n  receivers:\n    - name: oncall\n      slack: {webhook_url: \"" + rx.Url() +
        "\"}\n"));
  }
  auto value = [&](int i, const std::vector<std::string>& labels, const char* family) {
    return MetricValue(pods[i]->Metrics(), family, labels);
  };
  ASSERT_TRUE(support::WaitUntil(
      [&] {
        double a = value(0, {"target=\"db\"", "role=\"holder\""}, "poolwatch_target_role");
        double b = value(1, {"target=\"db\"", "role=\"holder\""}, "poolwatch_target_role");
        return a + b == 1;
      },
      10s))
      << pods[0]->Logs() << pods[1]->Logs();
  int standby = value(0, {"target=\"db\"", "role=\"holder\""}, "poolwatch_target_role") == 1;
  ASSERT_TRUE(support::WaitUntil(
      [&] {
        return value(standby, {"target=\"db\""}, "poolwatch_election_handoffs_received_total") > 0;
      },
      5s))
      << "NOTIFY from a read-only session reached the standby\n"
      << pods[standby]->Logs();
  super.Exec("ALTER ROLE nopriv RESET default_transaction_read_only");
}

TEST(Fleet, AReloadOfALoneHolderWhileFiringNeitherAnnouncesAgainNorLosesTheResolve) {
  // One replica with shared: true (the chart's inject default): a SIGHUP closes its election
  // session and opens a new one; it hears no other holder and keeps its own alert state.
  SlackReceiver rx;
  Fleet one(rx, 1);
  ASSERT_EQ(one.WaitOneHolder(10s), 1) << one.Logs();
  Sql tx(stack->SuperDsn("app") + " application_name=long-tx");
  tx.Exec("BEGIN");
  tx.Exec("SELECT 1");
  ASSERT_TRUE(rx.WaitForDelivered(1, 20s)) << one.Logs();
  one.pod(1).process().Signal(SIGHUP);
  ASSERT_TRUE(support::WaitUntil(
      [&] { return one.pod(1).Logs().find("configuration reloaded") != std::string::npos; }, 5s));
  ASSERT_EQ(one.WaitOneHolder(10s), 1) << one.Logs();
  std::this_thread::sleep_for(3s);
  EXPECT_EQ(rx.Delivered().size(), 1u) << Dump(rx.Delivered());
  tx.Exec("ROLLBACK");
  ASSERT_TRUE(rx.WaitForDelivered(2, 20s)) << one.Logs();
  std::this_thread::sleep_for(2s);
  auto d = rx.Delivered();
  EXPECT_EQ(d.size(), 2u) << Dump(d);
  EXPECT_EQ(CountWithText(d, "RESOLVED", true), 1) << Dump(d);
}

}  // namespace
}  // namespace poolwatch
