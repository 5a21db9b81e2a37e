// Five incidents against the real PostgreSQL 15 + PgBouncer, the real
// poolwatch binary and a Slack-like receiver. Each, from a calm start, gives exactly one firing
// and one resolved message; the firing one names the culprit before any victim and no pid twice;
// the resolved one claims nothing still holds. Windows are scaled down (interval 500ms, `for` 1s,
// group_wait 500ms, resolve_after 2s) so the binary stays short.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

#include "base/time.h"
#include "tests/support/integration.h"
#include "tests/support/slack_receiver.h"

namespace poolwatch {
namespace {

using support::CountWithText;
using support::SlackMessageText;
using support::SlackReceiver;
using Clock = std::chrono::steady_clock;

PgStack*& stack = support::SharedStack({{"PGB_POOL_SIZE", "2"}, {"PGB_ALIAS", "tiny:postgres"}});

struct Config {
  std::string rules =
      "    target_down: {for: 1s}\n"
      "    pool_utilization: {warning: 0.80, critical: 0.90, for: 1s}\n"
      "    clients_waiting: {warning: 1s, critical: 1h, for: 1s}\n"
      "    long_transaction: {warning: 3s, critical: 1h, for: 1s}\n"
      "    connection_leak: {for: 1s}\n";
  bool with_bouncer = true;
  std::string incidents = "{resolve_after: 2s}";
};

std::string Yaml(const SlackReceiver& rx, const Config& c) {
  std::string y =
      "sampling: {interval: 500ms, timeout: 400ms}\n"
      "targets:\n"
      "  postgres:\n    - name: pg\n      dsn: \"" +
      stack->PgDsn("postgres") +
      "\"\n      leak_timeout: 2s\n      error_window: 10s\n      error_min_events: 5\n";
  if (c.with_bouncer) {
    y += "  pgbouncer:\n    - name: bouncer\n      dsn: \"" + stack->PgbDsn() +
         "\"\n      pool: {backoff: {initial: 100ms, max: 200ms}}\n";
  }
  y += "alerts:\n  incidents: " + c.incidents + "\n  rules:\n" + c.rules +
       "  receivers:\n    - name: oncall\n      slack: {webhook_url: \"" + rx.Url() +
       "\"}\n"
       "  route:\n    group_wait: 500ms\n    group_interval: 2s\n";
  return y;
}


/// Every "pid N" in a text, in order.
std::vector<int> Pids(const std::string& text) {
  std::vector<int> out;
  std::regex re("pid ([0-9]+)");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator();
       ++it) {
    out.push_back(std::stoi((*it)[1]));
  }
  return out;
}

/// The checks every firing message passes: `culprits` appear, before the *Waiting* section
/// (victims) and before any `victims` pid; no pid twice.
void CheckFiring(const std::string& text, const std::vector<int>& culprits,
                 const std::vector<int>& victims = {}) {
  std::vector<int> pids = Pids(text);
  std::set<int> unique(pids.begin(), pids.end());
  EXPECT_EQ(unique.size(), pids.size()) << "a pid twice:\n" << text;
  auto waiting = text.find("*Waiting:*");
  for (int c : culprits) {
    auto at = text.find("pid " + std::to_string(c));
    ASSERT_NE(at, std::string::npos) << "culprit " << c << " missing:\n" << text;
    if (waiting != std::string::npos) {
      EXPECT_LT(at, waiting) << text;
    }
    for (int v : victims) {
      auto vat = text.find("pid " + std::to_string(v));
      if (vat != std::string::npos) {
        EXPECT_LT(at, vat) << "victim " << v << " first:\n" << text;
      }
    }
  }
}

void CheckResolved(const std::string& text) {
  EXPECT_THAT(text, HasSubstr("RESOLVED"));
  EXPECT_THAT(text, HasSubstr("It lasted"));
  EXPECT_THAT(text, Not(HasSubstr(" now")));
  EXPECT_THAT(text, Not(HasSubstr("Held by")));
  EXPECT_THAT(text, Not(HasSubstr("*Waiting:*")));
  EXPECT_TRUE(Pids(text).empty()) << text;
}

/// Waits for the firing message, then for the condition to end (`end`), the resolved message,
/// and 3 s more of silence; asserts exactly one of each.
struct Incident {
  Incident(SlackReceiver& r, PoolwatchProcess& p) : rx(r), pw(p) {}
  SlackReceiver& rx;
  PoolwatchProcess& pw;
  std::string firing, resolved;
  double latency = 0;
  void Firing(Clock::time_point induced) {
    ASSERT_TRUE(rx.WaitForDelivered(1, 30s)) << pw.Logs();
    auto first = rx.Delivered()[0];
    latency = Seconds(first.arrival - induced);
    firing = SlackMessageText(first.body);
  }
  void Resolved() {
    ASSERT_TRUE(rx.WaitForDelivered(2, 30s)) << pw.Logs();
    std::this_thread::sleep_for(3s);
    auto d = rx.Delivered();
    ASSERT_EQ(d.size(), 2u) << pw.Logs();
    EXPECT_EQ(CountWithText(d, "*FIRING*"), 1);
    EXPECT_EQ(CountWithText(d, "*RESOLVED*"), 1);
    resolved = SlackMessageText(d[1].body);
    CheckResolved(resolved);
  }
};

std::string TinyDsn(const std::string& app) {
  return "host=127.0.0.1 port=" + std::to_string(stack->pgb_port()) +
         " dbname=tiny user=app password=apppass application_name=" + app;
}

std::vector<int> PidsOf(Sql& super, const std::string& app_like) {
  std::vector<int> out;
  for (const auto& row : super.Exec("SELECT pid FROM pg_stat_activity WHERE application_name LIKE '" +
                                    app_like + "' ORDER BY pid")) {
    out.push_back(std::stoi(row[0]));
  }
  return out;
}

TEST(Incidents, PoolSaturationThroughAnAliasPoolOneFiringOneResolvedHoldersFirst) {
  SlackReceiver rx;
  PoolwatchProcess pw(Yaml(rx, Config{}));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  std::this_thread::sleep_for(2s);  // calm start
  ASSERT_TRUE(rx.Delivered().empty()) << SlackMessageText(rx.Delivered()[0].body);
  Sql super(stack->SuperDsn("postgres"));
  Incident run(rx, pw);
  std::vector<std::unique_ptr<Sql>> sessions;
  auto induced = Clock::now();
  for (int i = 0; i < 2; ++i) {
    sessions.push_back(std::make_unique<Sql>(TinyDsn("report-" + std::to_string(i))));
    sessions.back()->Send("SELECT pg_sleep(9)");
  }
  std::this_thread::sleep_for(300ms);
  for (int i = 0; i < 3; ++i) {
    sessions.push_back(std::make_unique<Sql>(TinyDsn("waiter")));
    sessions.back()->Send("SELECT 1");
  }
  run.Firing(induced);
  std::vector<int> holders = PidsOf(super, "report-%");
  ASSERT_EQ(holders.size(), 2u);
  std::printf("[ figure ] saturation: firing %.2fs after induction\n", run.latency);
  EXPECT_LE(run.latency, 0.5 + 1 + 0.5 + 1 + 0.5) << "interval + for + group_wait + 1s (+1 sample lag)";
  CheckFiring(run.firing, holders);
  EXPECT_THAT(run.firing, HasSubstr("Pool tiny/app on bouncer saturated"));
  EXPECT_THAT(run.firing, HasSubstr("database postgres"));
  EXPECT_THAT(run.firing, HasSubstr("report-"));
  EXPECT_THAT(run.firing, HasSubstr("3 clients waiting: waiter x3"));

  // The holder chain: PgBouncer's remote_pid is the pg_stat_activity pid.
  auto status = nlohmann::json::parse(HttpGet(pw.Url("/status")).body);
  std::set<int> status_pids;
  for (const auto& t : status["targets"]) {
    if (t["name"] != "bouncer") continue;
    for (const auto& p : t["pools"]) {
      if (p["database"] != "tiny") continue;
      EXPECT_EQ(p["real_database"], "postgres");
      EXPECT_EQ(p["pg_target"], "pg");
      EXPECT_EQ(p["unmatched_holders"], 0);
      for (const auto& h : p["holders"]) status_pids.insert(h["pid"].get<int>());
    }
  }
  EXPECT_EQ(status_pids, std::set<int>(holders.begin(), holders.end())) << status.dump(1);
  // --once shows the same holder chain (a separate process: its own sample of the same stack).
  std::string once;
  ASSERT_EQ(support::RunCommand({support::PoolwatchBin(), "--once", "-c", pw.config_path()}, &once),
            0)
      << once;
  EXPECT_THAT(once, HasSubstr("pool tiny/app (database postgres): 2/2 servers in use"));
  for (int pid : holders) EXPECT_THAT(once, HasSubstr("held by pid " + std::to_string(pid)));
  ASSERT_FALSE(status["incidents"].empty()) << status.dump(1);
  EXPECT_EQ(status["incidents"][0]["locus"], "database postgres");
  run.Resolved();
  EXPECT_THAT(run.resolved, HasSubstr("database postgres"));
  std::printf("[ message ] firing:\n%s\n[ message ] resolved:\n%s\n", run.firing.c_str(),
              run.resolved.c_str());
}

TEST(Incidents, RemotePidEqualsThePgStatActivityPid) {
  Sql admin(stack->PgbDsn());
  Sql super(stack->SuperDsn("postgres"));
  Sql s(TinyDsn("pid-check"));
  s.Exec("BEGIN");
  s.Exec("SELECT 1");  // holds its server (transaction pooling)
  auto rows = admin.Exec("SHOW SERVERS");
  // Sql::Exec gives cells only: PgBouncer 1.18's (Debian 12's) column order, checked against
  // the unit fixtures: type, user, database, state, addr, port, local_addr, local_port,
  // connect_time, request_time, wait, wait_us, close_needed, ptr, link, remote_pid, tls,
  // application_name. A linked server (link not empty) of pool tiny is ours.
  std::vector<int> remote;
  for (const auto& r : rows) {
    if (r.size() > 15 && r[2] == "tiny" && !r[14].empty()) remote.push_back(std::stoi(r[15]));
  }
  ASSERT_EQ(remote.size(), 1u);
  EXPECT_EQ(PidsOf(super, "pid-check"), remote);
  s.Exec("ROLLBACK");
}

TEST(Incidents, IdleInTransactionLeakOneFiringOneResolved) {
  SlackReceiver rx;
  PoolwatchProcess pw(Yaml(rx, Config{}));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  std::this_thread::sleep_for(2s);
  ASSERT_TRUE(rx.Delivered().empty());
  Incident run(rx, pw);
  auto leaky = std::make_unique<Sql>(stack->SuperDsn("app") + " application_name=leaky-app");
  auto induced = Clock::now();
  leaky->Exec("BEGIN");
  leaky->Exec("SELECT 1");
  run.Firing(induced);
  std::printf("[ figure ] leak: firing %.2fs after induction (leak_timeout 2s)\n", run.latency);
  CheckFiring(run.firing, {leaky->BackendPid()});
  EXPECT_THAT(run.firing, HasSubstr("leaky-app"));
  EXPECT_THAT(run.firing, HasSubstr("database app"));
  std::this_thread::sleep_for(3s);  // LongTransaction joins the same incident: no new message
  EXPECT_EQ(rx.Delivered().size(), 1u);
  leaky->Exec("ROLLBACK");
  run.Resolved();
}

TEST(Incidents, LongTransactionOneFiringOneResolved) {
  SlackReceiver rx;
  PoolwatchProcess pw(Yaml(rx, Config{}));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  std::this_thread::sleep_for(2s);
  ASSERT_TRUE(rx.Delivered().empty());
  Incident run(rx, pw);
  Sql batch(stack->SuperDsn("app") + " application_name=batch-job");
  auto induced = Clock::now();
  batch.Exec("BEGIN");
  batch.Send("SELECT pg_sleep(7)");
  run.Firing(induced);
  std::printf("[ figure ] long transaction: firing %.2fs after induction (threshold 3s)\n",
              run.latency);
  CheckFiring(run.firing, {batch.BackendPid()});
  EXPECT_THAT(run.firing, HasSubstr("batch-job"));
  EXPECT_THAT(run.firing, HasSubstr("LongTransaction"));
  batch.Exec("COMMIT");  // after the sleep's result
  run.Resolved();
}

TEST(Incidents, LockChainRootBlockerFirstReadersAggregated) {
  SlackReceiver rx;
  PoolwatchProcess pw(Yaml(rx, Config{}));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  Sql setup(stack->SuperDsn("app"));
  setup.Exec("CREATE TABLE IF NOT EXISTS lockme (x int)");
  std::this_thread::sleep_for(2s);
  ASSERT_TRUE(rx.Delivered().empty());
  Incident run(rx, pw);
  auto locker = std::make_unique<Sql>(stack->SuperDsn("app") + " application_name=locker");
  auto induced = Clock::now();
  locker->Exec("BEGIN");
  locker->Exec("LOCK TABLE lockme IN ACCESS EXCLUSIVE MODE");
  std::vector<std::unique_ptr<Sql>> readers;
  std::vector<int> reader_pids;
  for (int i = 0; i < 3; ++i) {
    readers.push_back(std::make_unique<Sql>(stack->SuperDsn("app") + " application_name=reader"));
    reader_pids.push_back(readers.back()->BackendPid());
    readers.back()->Send("SELECT count(*) FROM lockme");
  }
  run.Firing(induced);
  std::printf("[ figure ] lock chain: firing %.2fs after induction\n", run.latency);
  CheckFiring(run.firing, {locker->BackendPid()}, reader_pids);
  EXPECT_THAT(run.firing, HasSubstr("blocks 3 backend(s)"));
  EXPECT_THAT(run.firing, HasSubstr("3 backends blocked: reader x3"));
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(rx.Delivered().size(), 1u) << "leak, long transaction, blocked: one incident";
  locker->Exec("COMMIT");
  readers.clear();
  run.Resolved();
}

TEST(Incidents, PgBouncerDownAndBackOneFiringOneResolvedThenCalm) {
  SlackReceiver rx;
  Config c;
  // ErrorRateHigh with a short `for`: a session error counted for the restart would page here.
  c.rules += "    error_rate: {for: 1s}\n";
  PoolwatchProcess pw(Yaml(rx, c));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  {
    // Server connections for PgBouncer to drop: sessions that end "abandoned" in PostgreSQL.
    std::vector<std::unique_ptr<Sql>> clients;
    for (int i = 0; i < 2; ++i) {
      clients.push_back(std::make_unique<Sql>(stack->AppViaPgbDsn()));
      clients.back()->Exec("SELECT 1");
    }
    for (int i = 0; i < 10; ++i) Sql(stack->PgDsn("app")).Exec("SELECT 1");  // events
  }
  std::this_thread::sleep_for(2s);
  ASSERT_TRUE(rx.Delivered().empty());
  Sql super(stack->SuperDsn("postgres"));
  auto abandoned = [&] {
    super.Exec("SELECT pg_stat_clear_snapshot()");
    return std::stod(super.Scalar("SELECT sum(sessions_abandoned) FROM pg_stat_database"));
  };
  double abandoned_before = abandoned();
  Incident run(rx, pw);
  auto induced = Clock::now();
  stack->StopPgBouncer();
  run.Firing(induced);
  std::printf("[ figure ] PgBouncer down: firing %.2fs after induction\n", run.latency);
  EXPECT_THAT(run.firing, HasSubstr("TargetDown"));
  EXPECT_THAT(run.firing, HasSubstr("bouncer"));
  stack->StartPgBouncer();
  run.Resolved();
  // Calm after the restart: two error windows (10s each, scaled from 5 minutes) without a single
  // message; the dropped server connections are not session errors.
  for (int i = 0; i < 10; ++i) Sql(stack->PgDsn("app")).Exec("SELECT 1");
  std::this_thread::sleep_for(20s);
  EXPECT_EQ(rx.Delivered().size(), 2u) << SlackMessageText(rx.Delivered().back().body) << pw.Logs();
  std::printf("[ figure ] sessions abandoned by the PgBouncer restart: %.0f\n",
              abandoned() - abandoned_before);
}

TEST(Incidents, EscalationGivesOneFiringAndAtMostOneUpdate) {
  SlackReceiver rx;
  Config c;
  // pool_size 2: one busy server is 50%, two 100%; the thresholds are scaled so that the step
  // from one to two is warning -> critical (the 85% -> 100%).
  c.rules =
      "    target_down: {for: 1s}\n"
      "    pool_utilization: {warning: 0.40, critical: 0.90, for: 1s}\n"
      "    clients_waiting: {enabled: false}\n"
      "    long_transaction: {enabled: false}\n"
      "    connection_leak: {enabled: false}\n";
  PoolwatchProcess pw(Yaml(rx, c));
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  std::this_thread::sleep_for(2s);
  ASSERT_TRUE(rx.Delivered().empty());
  Sql a(TinyDsn("first"));
  a.Send("SELECT pg_sleep(12)");
  ASSERT_TRUE(rx.WaitForDelivered(1, 20s)) << pw.Logs();
  EXPECT_THAT(SlackMessageText(rx.Delivered()[0].body), HasSubstr("(warning)"));
  std::this_thread::sleep_for(2s);
  Sql b(TinyDsn("second"));
  b.Send("SELECT pg_sleep(7)");
  ASSERT_TRUE(rx.WaitForDelivered(2, 20s)) << pw.Logs();
  EXPECT_THAT(SlackMessageText(rx.Delivered()[1].body), HasSubstr("ESCALATED to critical"));
  ASSERT_TRUE(rx.WaitForDelivered(3, 30s)) << pw.Logs();
  std::this_thread::sleep_for(3s);
  auto d = rx.Delivered();
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(CountWithText(d, "*FIRING*"), 1);
  EXPECT_EQ(CountWithText(d, "*ESCALATED to critical*"), 1);
  EXPECT_EQ(CountWithText(d, "*RESOLVED*"), 1);
}

}  // namespace
}  // namespace poolwatch
