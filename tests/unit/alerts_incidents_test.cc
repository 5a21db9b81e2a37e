// The incident model (alerts/incidents.h): rules -> per-rule state machine -> incidents -> what a
// Slack receiver is told, driven with an injected (fake) clock; and the cause-first message.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "alerts/alerter.h"
#include "alerts/incidents.h"
#include "alerts/render.h"
#include "alerts/rules.h"
#include "alerts/state.h"
#include "tests/support/alerts_support.h"
#include "tests/support/fakes.h"

namespace poolwatch {
namespace {

using namespace std::chrono_literals;
using support::AddUtilization;
using support::FakeClock;
using support::MakeSnapshot;
using ::testing::HasSubstr;
using ::testing::Not;

struct Harness {
  AlertsConfig cfg;
  FakeClock clock;
  AlertStateMachine machine;
  std::unique_ptr<IncidentTracker> tracker;
  std::vector<Notification> sent;

  Harness() {
    cfg = support::TestAlertsConfig();
    cfg.route.group_wait = 2s;
    cfg.route.group_interval = 5s;
    cfg.incidents.resolve_after = 10s;
    for (auto& [key, rule] : cfg.rules) {
      rule.for_duration = 1s;
      rule.critical_for.reset();
    }
  }
  void Eval(const Snapshot& s) {
    if (!tracker) tracker = std::make_unique<IncidentTracker>(cfg);
    RuleOutput out = EvaluateRules(s, cfg);
    machine.Update(out.observations, out.down_targets, clock.WallNow());
    std::vector<Alert> active = machine.Active();
    std::vector<Alert> resolved = machine.TakeResolved();
    tracker->Update(active, resolved, clock.WallNow());
    for (auto& n : tracker->Due(clock.WallNow())) sent.push_back(std::move(n));
  }
  void Run(const Snapshot& s, std::chrono::seconds d) {
    for (auto t = 0s; t < d; t += 1s) {
      clock.Advance(1s);
      Eval(s);
    }
  }
  std::vector<std::string> Statuses() const {
    std::vector<std::string> out;
    for (const auto& n : sent) {
      for (const auto& i : n.incidents) out.push_back(i.status);
    }
    return out;
  }
};

Offender Backend(int pid, const std::string& app, const std::string& category, double xact_age,
                 std::vector<int> blocked_by = {}) {
  Offender o;
  o.category = category;
  o.pid = pid;
  o.datname = "postgres";
  o.usename = "app";
  o.application_name = app;
  o.client_addr = "127.0.0.1:4000" + std::to_string(pid % 10);
  o.state = category == "idle_in_transaction" ? "idle in transaction" : "active";
  o.xact_age_seconds = xact_age;
  o.state_age_seconds = xact_age;
  o.blocked_by = std::move(blocked_by);
  o.query = "SELECT pg_sleep(?)";
  return o;
}

/// A saturated alias pool `tiny` (database postgres) on `pgb` held by two long queries, five
/// clients waiting; the PostgreSQL target `pg` sees the same two backends as long transactions.
Snapshot Saturated(double ratio = 1.0, double oldest_tx = 70) {
  Snapshot s = MakeSnapshot({{"pgb", true}, {"pg", true}});
  s.targets[1].kind = TargetKind::kPostgres;
  s.metrics.Gauge("poolwatch_pool_utilization_ratio", "u",
                  {{"target", "pgb"}, {"kind", "pgbouncer_server"}, {"database", "tiny"},
                   {"user", "app"}},
                  ratio);
  s.metrics.Gauge("pgbouncer_pools_client_maxwait_seconds", "w",
                  {{"target", "pgb"}, {"database", "tiny"}, {"user", "app"}}, 20);
  s.metrics.Gauge("poolwatch_pg_oldest_transaction_age_seconds", "t",
                  {{"target", "pg"}, {"datname", "postgres"}}, oldest_tx);
  PoolHolders p;
  p.target = "pgb";
  p.database = "tiny";
  p.user = "app";
  p.real_database = "postgres";
  p.pg_target = "pg";
  p.pool_size = 2;
  p.servers_in_use = 2;
  p.waiting_clients = 5;
  p.longest_wait_seconds = 20;
  Offender h1 = Backend(101, "report", "holder", 70);
  Offender h2 = Backend(102, "report", "holder", 65);
  h1.client_addr = "10.0.0.5:5001";
  h2.client_addr = "10.0.0.5:5002";
  p.holders = {h1, h2};
  for (int i = 0; i < 5; ++i) {
    Offender w;
    w.category = "waiting_client";
    w.application_name = "psql";
    w.client_addr = "127.0.0.1:" + std::to_string(6000 + i);
    w.state = "waiting";
    w.state_age_seconds = 20 - i;
    p.waiting.push_back(w);
  }
  s.targets[0].pools = {p};
  s.targets[1].offenders = {Backend(101, "report", "long_transaction", 70),
                            Backend(102, "report", "long_transaction", 65)};
  return s;
}

Snapshot Calm() {
  Snapshot s = MakeSnapshot({{"pgb", true}, {"pg", true}});
  s.targets[1].kind = TargetKind::kPostgres;
  s.metrics.Gauge("poolwatch_pool_utilization_ratio", "u",
                  {{"target", "pgb"}, {"kind", "pgbouncer_server"}, {"database", "tiny"},
                   {"user", "app"}},
                  0);
  s.metrics.Gauge("poolwatch_pg_oldest_transaction_age_seconds", "t",
                  {{"target", "pg"}, {"datname", "postgres"}}, 0);
  return s;
}

std::string SlackText(const Notification& n, WallTime now) {
  auto j = nlohmann::json::parse(RenderSlack(n, now));
  std::string t = j.value("text", "");
  for (const auto& att : j["attachments"]) {
    for (const auto& b : att["blocks"]) {
      if (b.contains("text")) t += "\n" + b["text"]["text"].get<std::string>();
    }
  }
  return t;
}

TEST(IncidentTest, SymptomsOfOneDatabaseAreOneIncidentOneFiringOneResolved) {
  Harness h;
  h.Run(Saturated(), 5s);
  ASSERT_EQ(h.Statuses(), std::vector<std::string>{"firing"});
  const IncidentNote& i = h.sent[0].incidents[0];
  EXPECT_EQ(i.locus, "database postgres") << "the alias pool folds into its real database";
  std::set<std::string> names(i.alertnames.begin(), i.alertnames.end());
  EXPECT_TRUE(names.count("PoolUtilizationHigh"));
  EXPECT_TRUE(names.count("ClientsWaiting"));
  EXPECT_TRUE(names.count("LongTransaction"));
  ASSERT_GE(i.held_by.size(), 2u);
  EXPECT_EQ(i.held_by[0].pid, 101);
  EXPECT_EQ(i.held_by[0].application_name, "report");
  EXPECT_EQ(i.waiting, "5 clients waiting: psql x5 from 127.0.0.1, longest 20s");
  EXPECT_EQ(i.headline,
            "Pool tiny/app on pgb saturated: 2/2 servers busy, 5 clients waiting, longest 20s "
            "(database postgres)");
  h.Run(Saturated(), 60s);
  EXPECT_EQ(h.Statuses().size(), 1u) << "nothing more while it lasts";
  h.Run(Calm(), 9s);
  EXPECT_EQ(h.Statuses().size(), 1u) << "not before resolve_after";
  h.Run(Calm(), 3s);
  ASSERT_EQ(h.Statuses(), (std::vector<std::string>{"firing", "resolved"}));
  const IncidentNote& r = h.sent[1].incidents[0];
  EXPECT_EQ(r.since, i.since) << "one meaning of since";
  EXPECT_TRUE(r.held_by.empty());
  EXPECT_TRUE(r.headline.empty());
  EXPECT_THAT(r.peaks, ::testing::Contains("pool utilization 100.0%"));
  h.Run(Calm(), 60s);
  EXPECT_EQ(h.Statuses().size(), 2u);
}

TEST(IncidentTest, FiringMessageNamesTheCulpritBeforeAnyVictimAndEachPidOnce) {
  Harness h;
  h.Run(Saturated(), 5s);
  ASSERT_EQ(h.sent.size(), 1u);
  std::string text = SlackText(h.sent[0], h.clock.WallNow());
  auto held = text.find("*Held by:*");
  auto holder = text.find("pid 101");
  auto waiting = text.find("*Waiting:*");
  ASSERT_NE(held, std::string::npos) << text;
  ASSERT_NE(waiting, std::string::npos) << text;
  EXPECT_LT(held, holder);
  EXPECT_LT(holder, waiting) << text;
  for (const std::string pid : {"pid 101", "pid 102"}) {
    EXPECT_EQ(text.find(pid), text.rfind(pid)) << pid << " twice:\n" << text;
  }
  EXPECT_THAT(text, HasSubstr("app `report` from 10.0.0.5:5001"));
  EXPECT_THAT(text, HasSubstr("[FIRING:1]"));

  h.Run(Calm(), 12s);
  ASSERT_EQ(h.sent.size(), 2u);
  std::string resolved = SlackText(h.sent[1], h.clock.WallNow());
  EXPECT_THAT(resolved, HasSubstr("RESOLVED"));
  EXPECT_THAT(resolved, HasSubstr("It lasted"));
  EXPECT_THAT(resolved, Not(HasSubstr("now")));
  EXPECT_THAT(resolved, Not(HasSubstr("Held by")));
  EXPECT_THAT(resolved, Not(HasSubstr("waiting:")));
  EXPECT_THAT(resolved, Not(HasSubstr("pid 101")));
}

TEST(IncidentTest, EscalationGivesOneFiringAndAtMostOneUpdate) {
  Harness h;
  h.cfg.rules.erase("long_transaction");
  h.cfg.rules.erase("clients_waiting");
  h.Run(Saturated(0.85), 8s);  // warning (0.80) only
  ASSERT_EQ(h.Statuses(), std::vector<std::string>{"firing"});
  EXPECT_EQ(h.sent[0].incidents[0].severity, "warning");
  h.Run(Saturated(1.0), 10s);  // critical (0.90)
  ASSERT_EQ(h.Statuses(), (std::vector<std::string>{"firing", "escalated"}));
  EXPECT_EQ(h.sent[1].incidents[0].severity, "critical");
  // Down to warning and up again: no second update.
  h.Run(Saturated(0.85), 5s);
  h.Run(Saturated(1.0), 10s);
  EXPECT_EQ(h.Statuses().size(), 2u);
  h.Run(Calm(), 12s);
  EXPECT_EQ(h.Statuses(), (std::vector<std::string>{"firing", "escalated", "resolved"}));
}

TEST(IncidentTest, ARestartingTransactionOnABusyBackendIsTheSameIncident) {
  Harness h;
  h.cfg.rules.erase("pool_utilization");
  h.cfg.rules.erase("clients_waiting");
  h.cfg.rules["long_transaction"].warning = 5;
  // Waves: a transaction grows past 5s, restarts (age 0) for 3s, grows again, three times.
  for (int wave = 0; wave < 3; ++wave) {
    h.Run(Saturated(0, 8), 6s);
    h.Run(Saturated(0, 0.5), 3s);
  }
  EXPECT_EQ(h.Statuses(), std::vector<std::string>{"firing"});
  h.Run(Calm(), 12s);
  EXPECT_EQ(h.Statuses(), (std::vector<std::string>{"firing", "resolved"}));
}

TEST(IncidentTest, AnIncidentOverBeforeGroupWaitIsNeverAnnounced) {
  Harness h;
  h.cfg.route.group_wait = 30s;
  h.Run(Saturated(), 5s);
  h.Run(Calm(), 30s);
  EXPECT_TRUE(h.sent.empty());
}

TEST(IncidentTest, DifferentLociAreDifferentIncidentsAndTargetDownHoldsThePool) {
  Harness h;
  h.Run(Saturated(), 5s);
  Snapshot down = MakeSnapshot({{"pgb", false}, {"pg", true}});
  down.targets[1].kind = TargetKind::kPostgres;
  down.metrics.Gauge("poolwatch_pg_oldest_transaction_age_seconds", "t",
                     {{"target", "pg"}, {"datname", "postgres"}}, 0);
  h.Run(down, 20s);
  // The pool's symptoms are held (its PgBouncer is down): its incident stays open, quiet.
  std::vector<std::string> loci;
  for (const auto& n : h.sent) loci.push_back(n.incidents[0].locus + ":" + n.incidents[0].status);
  EXPECT_EQ(loci, (std::vector<std::string>{"database postgres:firing", "target pgb:firing"}));
}

TEST(IncidentTest, VictimsAggregate) {
  Offender b1 = Backend(1, "reader", "blocked", 3, {9});
  Offender b2 = Backend(2, "reader", "blocked", 7, {9});
  Offender w;
  w.category = "waiting_client";
  w.application_name = "psql";
  w.client_addr = "127.0.0.1:1";
  w.state_age_seconds = 69;
  EXPECT_EQ(AggregateVictims({w, b1, b2}),
            "1 clients waiting: psql x1 from 127.0.0.1, longest 1m9s; 2 backends blocked: reader "
            "x2 from 127.0.0.1, longest 7.0s");
  EXPECT_EQ(AggregateVictims({}), "");
}

TEST(IncidentTest, ErrorRatioWithTooFewEventsNeitherFiresNorResolves) {
  Harness h;
  auto snap = [](double ratio, double events) {
    Snapshot s = MakeSnapshot({{"pg", true}});
    s.targets[0].kind = TargetKind::kPostgres;
    s.metrics.Gauge("poolwatch_error_ratio", "r", {{"target", "pg"}, {"kind", "session"}}, ratio);
    s.metrics.Gauge("poolwatch_error_window_events", "e", {{"target", "pg"}, {"kind", "session"}},
                    events);
    return s;
  };
  h.Run(snap(0.5, 5), 10s);
  EXPECT_TRUE(h.sent.empty()) << "5 events < min_events 20: no firing on noise";
  h.Run(snap(0.2, 40), 5s);
  ASSERT_EQ(h.Statuses(), std::vector<std::string>{"firing"});
  // The collector reports 0 below min_events: that is no evidence of health.
  h.Run(snap(0, 10), 30s);
  EXPECT_EQ(h.Statuses().size(), 1u) << "not resolved while the window has too few events";
  // Still over the threshold: never resolved.
  h.Run(snap(0.2, 40), 30s);
  EXPECT_EQ(h.Statuses().size(), 1u);
  h.Run(snap(0.01, 40), 15s);
  EXPECT_EQ(h.Statuses(), (std::vector<std::string>{"firing", "resolved"}));
}

TEST(IncidentTest, ErrorRatioResolvesWhenTheWindowEmpties) {
  Harness h;
  auto snap = [](double ratio, double events) {
    Snapshot s = MakeSnapshot({{"pg", true}});
    s.targets[0].kind = TargetKind::kPostgres;
    s.metrics.Gauge("poolwatch_error_ratio", "r", {{"target", "pg"}, {"kind", "rollback"}}, ratio);
    s.metrics.Gauge("poolwatch_error_window_events", "e", {{"target", "pg"}, {"kind", "rollback"}},
                    events);
    return s;
  };
  h.Run(snap(0.3, 40), 10s);
  ASSERT_EQ(h.Statuses(), std::vector<std::string>{"firing"});
  // The traffic stopped: an empty window is no evidence of errors, so the alert must not stay
  // firing (and its incident open) until traffic comes back.
  h.Run(snap(0, 0), 30s);
  EXPECT_EQ(h.Statuses(), (std::vector<std::string>{"firing", "resolved"}));
}

TEST(IncidentTest, StateSurvivesARoundTripAndAnOldStateFileLoads) {
  Harness h;
  h.Run(Saturated(), 5s);
  ASSERT_EQ(h.sent.size(), 1u);
  IncidentTracker copy(h.cfg);
  copy.FromJson(h.tracker->ToJson());
  EXPECT_EQ(copy.OpenCount(), 1u);
  std::vector<Alert> none;
  std::vector<Alert> resolved;
  h.clock.Advance(12s);
  copy.Update(none, resolved, h.clock.WallNow());
  auto due = copy.Due(h.clock.WallNow());
  ASSERT_EQ(due.size(), 1u) << "the restored incident resolves, announced once already";
  EXPECT_EQ(due[0].incidents[0].status, "resolved");
  // A queued incident notification round-trips.
  Notification back = NotificationFromJson(NotificationToJson(due[0]));
  ASSERT_EQ(back.incidents.size(), 1u);
  EXPECT_EQ(back.incidents[0].id, due[0].incidents[0].id);
  EXPECT_EQ(back.incidents[0].peaks, due[0].incidents[0].peaks);

  // A state file from before incidents (no "incidents", no locus) and garbage in the new key.
  support::FakeClock clock;
  std::vector<std::unique_ptr<AlertSink>> sinks;
  sinks.push_back(std::make_unique<support::ScriptedSink>("oncall"));
  Alerter a(h.cfg, clock, std::move(sinks));
  nlohmann::json old = {{"version", 1},
                        {"alerts", {{"records", nlohmann::json::array()}}},
                        {"dispatcher", nlohmann::json::object()},
                        {"queued", nlohmann::json::array()}};
  EXPECT_NO_THROW(a.RestoreState(old));
  old["incidents"] = {{"records", {1, "x", {{"note", 3}}}}};
  EXPECT_NO_THROW(a.RestoreState(old));
  EXPECT_TRUE(a.IncidentsJson().empty());
}

}  // namespace
}  // namespace poolwatch
