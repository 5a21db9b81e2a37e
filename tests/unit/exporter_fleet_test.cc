// Identity (${POD_NAME} in target names, external_labels), the election of a
// shared target's holder over a scripted session, and the alert-state handoff between replicas.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <deque>
#include <nlohmann/json.hpp>

#include "alerts/alerter.h"
#include "alerts/render.h"
#include "alerts/rules.h"
#include "exporter/config.h"
#include "exporter/election.h"
#include "tests/support/alerts_support.h"
#include "tests/support/fakes.h"

namespace poolwatch {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kFleetYaml[] = R"(external_labels:
  namespace: "${FLEET_TEST_NS}"
  pod: "${FLEET_TEST_POD}"
targets:
  postgres:
    - name: db
      shared: true
      dsn: "host=127.0.0.1 dbname=app user=poolwatch application_name=pw-${FLEET_TEST_POD}"
  pgbouncer:
    - name: "pgbouncer-${FLEET_TEST_POD}"
      dsn: "host=127.0.0.1 port=6432 dbname=pgbouncer user=stats"
)";

class FleetConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("FLEET_TEST_NS", "shop", 1);  // NOLINT(concurrency-mt-unsafe): single-threaded test
    setenv("FLEET_TEST_POD", "app-7f9c-2", 1);  // NOLINT(concurrency-mt-unsafe)
  }
};

TEST_F(FleetConfigTest, PodNameInTargetNamesAndExternalLabelsExpandFromTheEnvironment) {
  Config c;
  ConfigError e;
  ASSERT_TRUE(LoadConfigString(kFleetYaml, "pw.yaml", c, e)) << ::testing::PrintToString(e.problems);
  ASSERT_EQ(c.targets.size(), 2u);
  EXPECT_EQ(c.targets[0].name, "db");
  EXPECT_TRUE(c.targets[0].shared);
  EXPECT_EQ(c.targets[0].election_key, "db") << "defaults to the expanded target name";
  EXPECT_EQ(c.targets[1].name, "pgbouncer-app-7f9c-2");
  EXPECT_FALSE(c.targets[1].shared);
  std::map<std::string, std::string> want = {{"namespace", "shop"}, {"pod", "app-7f9c-2"}};
  EXPECT_EQ(c.external_labels, want);
  EXPECT_EQ(c.alerts.external_labels, want);
  EXPECT_EQ(c.alerts.shared_targets, std::set<std::string>{"db"});
}

TEST_F(FleetConfigTest, ElectionKeyIsExplicitWhenSet) {
  std::string y = kFleetYaml;
  y.replace(y.find("      shared: true\n"), 19, "      shared: true\n      election_key: orders-db\n");
  Config c;
  ConfigError e;
  ASSERT_TRUE(LoadConfigString(y, "pw.yaml", c, e)) << ::testing::PrintToString(e.problems);
  EXPECT_EQ(c.targets[0].election_key, "orders-db");
  EXPECT_EQ(ElectionLockKey("orders-db"), ElectionLockKey("orders-db"));
  EXPECT_NE(ElectionLockKey("orders-db"), ElectionLockKey("db"));
  EXPECT_EQ(ElectionChannel("db").rfind("poolwatch_", 0), 0u);
  EXPECT_EQ(ElectionChannel("db").size(), 26u);
}

TEST_F(FleetConfigTest, BadFleetKeysAreErrorsWithLineAndColumn) {
  // A newline from the environment cannot forge a target name (it is validated after expansion).
  setenv("FLEET_TEST_POD", "evil\nname", 1);  // NOLINT(concurrency-mt-unsafe)
  Config c;
  ConfigError e;
  ASSERT_FALSE(LoadConfigString(kFleetYaml, "pw.yaml", c, e));
  std::string all = ::testing::PrintToString(e.problems);
  EXPECT_THAT(all, HasSubstr("pw.yaml:10:13: targets.pgbouncer[0].name"));
  EXPECT_THAT(all, HasSubstr("pw.yaml:3:8: external_labels.pod"));

  constexpr char kBad[] = R"(external_labels:
  severity: high
  "bad-name": x
targets:
  postgres:
    - name: db
      election_key: k
      dsn: "host=127.0.0.1"
  pgbouncer:
    - name: b
      shared: true
      dsn: "host=127.0.0.1"
)";
  ConfigError e2;
  ASSERT_FALSE(LoadConfigString(kBad, "pw.yaml", c, e2));
  all = ::testing::PrintToString(e2.problems);
  EXPECT_THAT(all, HasSubstr("pw.yaml:2:3: external_labels.severity: is an alert's own label"));
  EXPECT_THAT(all, HasSubstr("pw.yaml:3:3: external_labels.bad-name: is not a label name"));
  EXPECT_THAT(all, HasSubstr("pw.yaml:7:21: targets.postgres[0].election_key: only applies with "
                             "shared: true"));
  EXPECT_THAT(all, HasSubstr("targets.pgbouncer[0].shared"));  // PostgreSQL targets only
}

TEST(FleetLabelsTest, ExternalLabelsJoinEveryAlertButPodOnASharedTarget) {
  AlertsConfig cfg = support::TestAlertsConfig();
  cfg.external_labels = {{"namespace", "shop"}, {"pod", "app-2"}, {"kind", "ignored"}};
  cfg.shared_targets = {"db"};
  Observation mine, shared, stale;
  mine.alert.labels = {{"alertname", "X"}, {"target", "pgbouncer-app-2"}, {"kind", "pgbouncer"}};
  shared.alert.labels = {{"alertname", "X"}, {"target", "db"}};
  AddFleetIdentity(mine, cfg);
  AddFleetIdentity(shared, cfg);
  EXPECT_EQ(mine.alert.Label("pod"), "app-2");
  EXPECT_EQ(mine.alert.Label("namespace"), "shop");
  EXPECT_EQ(mine.alert.Label("kind"), "pgbouncer") << "a rule's own label wins";
  EXPECT_EQ(shared.alert.labels.count("pod"), 0u) << "one identity across a takeover";
  EXPECT_EQ(shared.alert.Label("namespace"), "shop");
  shared.alert.locus = "database app";
  mine.alert.locus = "database app";
  AddFleetIdentity(shared, cfg);
  AddFleetIdentity(mine, cfg);
  EXPECT_EQ(shared.alert.locus, "shared db: database app") << "an incident of its own";
  EXPECT_EQ(mine.alert.locus, "database app");
  cfg.rules["sampler_stale"].critical = 1;
  auto obs = EvaluateSamplerStale(100, cfg);
  ASSERT_EQ(obs.size(), 1u);
  EXPECT_EQ(obs[0].alert.Label("pod"), "app-2");
}

TEST(FleetLabelsTest, SlackMessagesNameThePodThatSpoke) {
  Notification n = support::FiringNotification("PoolUtilizationHigh");
  n.external_labels = {{"namespace", "shop"}, {"pod", "app-2"}};
  std::string body = RenderSlack(n, std::chrono::system_clock::now(), 40000);
  auto j = nlohmann::json::parse(body);
  EXPECT_THAT(j["text"].get<std::string>(), HasSubstr("[namespace=shop, pod=app-2]"));
  EXPECT_THAT(body, HasSubstr("From namespace=shop, pod=app-2"));
  n.external_labels.clear();
  EXPECT_THAT(RenderSlack(n, std::chrono::system_clock::now(), 40000), Not(HasSubstr("From ")));
}

/// One scripted election session: answers the lock try from `locked`, delivers `notes`.
class ElectionConn final : public Connection {
 public:
  struct Shared {
    bool locked = true;  // what pg_try_advisory_lock answers
    bool fail_next = false;
    std::vector<std::string> queries;
    std::deque<std::pair<std::string, std::string>> notes;
  };
  explicit ElectionConn(Shared& s) : s_(s) {}
  QueryResult Query(std::string_view sql) override {
    s_.queries.emplace_back(sql);
    if (s_.fail_next || !healthy_) {
      s_.fail_next = false;
      healthy_ = false;
      throw DbError("server closed the connection", DownReason::kOther, "", true);
    }
    if (sql.find("pg_try_advisory_lock") != std::string_view::npos) {
      return support::Rows({"locked"}, {{s_.locked ? "t" : "f"}});
    }
    return {};
  }
  std::vector<std::pair<std::string, std::string>> TakeNotifications() override {
    std::vector<std::pair<std::string, std::string>> out(s_.notes.begin(), s_.notes.end());
    s_.notes.clear();
    return out;
  }
  void SetDeadline(SteadyTime) override {}
  bool Healthy() const override { return healthy_; }
  int BackendPid() const override { return 1; }
  int ServerVersion() const override { return 150000; }
  void Abort() override { healthy_ = false; }

 private:
  Shared& s_;
  bool healthy_ = true;
};

struct ElectionHarness {
  support::FakeClock clock;
  ElectionConn::Shared db;
  int connects = 0;
  bool reachable = true;
  Election election{"db", "db", 1500ms,
                    [this](SteadyTime, const std::atomic<bool>&) -> std::unique_ptr<Connection> {
                      ++connects;
                      if (!reachable) {
                        throw DbError("connection refused", DownReason::kRefused, "", true);
                      }
                      return std::make_unique<ElectionConn>(db);
                    }};
  ElectionRole Check() { return election.Check(clock.Now() + 1s); }
};

TEST(ElectionTest, AStandbyListensOneIntervalThenTakesTheFreeLockAndHeartbeats) {
  ElectionHarness h;
  EXPECT_EQ(h.Check(), ElectionRole::kStandby) << "listens first";
  ASSERT_GE(h.db.queries.size(), 2u);
  EXPECT_EQ(h.db.queries[0], "SET idle_session_timeout = 1500");
  EXPECT_EQ(h.db.queries[1], "LISTEN " + ElectionChannel("db"));
  EXPECT_EQ(h.Check(), ElectionRole::kHolder);
  EXPECT_THAT(h.db.queries.back(),
              HasSubstr("pg_try_advisory_lock(" + std::to_string(ElectionLockKey("db")) + ")"));
  std::size_t before = h.db.queries.size();
  EXPECT_EQ(h.Check(), ElectionRole::kHolder);
  ASSERT_EQ(h.db.queries.size(), before + 1) << "one statement per interval";
  EXPECT_EQ(h.db.queries.back(), "SELECT 1");
  EXPECT_EQ(h.connects, 1);
  EXPECT_EQ(h.election.GetStats().acquired, 1);
}

TEST(ElectionTest, ALockHeldElsewhereKeepsAStandbyOneTryPerInterval) {
  ElectionHarness h;
  h.db.locked = false;
  for (int i = 0; i < 5; ++i) EXPECT_EQ(h.Check(), ElectionRole::kStandby);
  EXPECT_EQ(h.election.GetStats().tries, 4);
  EXPECT_EQ(h.connects, 1) << "one session, kept";
}

TEST(ElectionTest, AHolderThatLosesItsSessionTriesAgainAtOnceAndYieldsToTheNewHolder) {
  ElectionHarness h;
  h.Check();
  ASSERT_EQ(h.Check(), ElectionRole::kHolder);
  h.db.fail_next = true;  // the heartbeat fails: the session (and the lock) is gone
  h.db.locked = false;    // someone else took it meanwhile
  EXPECT_EQ(h.Check(), ElectionRole::kStandby);
  EXPECT_EQ(h.connects, 2);
  EXPECT_EQ(h.election.GetStats().lost, 1);
}

TEST(ElectionTest, TheLastHolderStaysResponsibleWhileTheDatabaseIsUnreachable) {
  ElectionHarness h;
  h.Check();
  ASSERT_EQ(h.Check(), ElectionRole::kHolder);
  h.db.fail_next = true;
  h.reachable = false;
  EXPECT_EQ(h.Check(), ElectionRole::kHolder) << "it reports the target down; nobody else can";
  EXPECT_EQ(h.Check(), ElectionRole::kHolder);
  h.reachable = true;  // back: the last holder tries at once, and wins the free lock
  EXPECT_EQ(h.Check(), ElectionRole::kHolder);
  // A standby that cannot reach the database stays a standby.
  ElectionHarness s;
  s.reachable = false;
  EXPECT_EQ(s.Check(), ElectionRole::kStandby);
  EXPECT_EQ(s.Check(), ElectionRole::kStandby);
}

TEST(ElectionTest, PublishedStateArrivesInChunksAndIsReassembled) {
  ElectionHarness holder;
  holder.Check();
  ASSERT_EQ(holder.Check(), ElectionRole::kHolder);
  std::string state(20000, 'x');
  state.replace(100, 4, "$pw$");  // the dollar-quote tag in the payload: another tag is used
  holder.election.Publish(state, holder.clock.Now() + 1s);
  const std::string& sql = holder.db.queries.back();
  EXPECT_THAT(sql, HasSubstr("pg_notify('" + ElectionChannel("db") + "', $pw0$"))
      << "the tag in the payload is not the quote's";
  // Deliver what the holder sent to a standby, as PostgreSQL would (chunk payloads, in order).
  ElectionHarness standby;
  standby.db.locked = false;
  standby.Check();
  const std::string call = "pg_notify('" + ElectionChannel("db") + "', ";
  std::size_t at = 0;
  int chunks = 0;
  while ((at = sql.find(call, at)) != std::string::npos) {
    std::size_t open = at + call.size();
    std::size_t tag_end = sql.find('$', open + 1);
    std::string tag = sql.substr(open, tag_end - open + 1);
    std::size_t close = sql.find(tag, tag_end + 1);
    standby.db.notes.emplace_back(ElectionChannel("db"),
                                  sql.substr(tag_end + 1, close - tag_end - 1));
    at = close + tag.size();
    ++chunks;
  }
  EXPECT_EQ(chunks, 3) << "under PostgreSQL's 8000-byte payload limit each";
  standby.db.notes.emplace_back("other_channel", "1/1 0 1 ignored");
  standby.Check();
  EXPECT_EQ(standby.election.LastHandoff(), state);
  EXPECT_EQ(standby.election.GetStats().received, 1);
}

// The handoff: what the old holder announced is not announced again by the new one, and the
// resolve it owed is sent by the new one.
struct Replica {
  support::FakeClock& clock;
  AlertsConfig cfg;
  std::unique_ptr<Alerter> alerter;
  Replica(support::FakeClock& c, const std::string& pod) : clock(c) {
    cfg = support::TestAlertsConfig();
    cfg.route.group_wait = 1s;
    cfg.incidents.resolve_after = 2s;
    for (auto& [key, rule] : cfg.rules) {
      rule.for_duration = 1s;
      rule.critical_for.reset();
    }
    cfg.external_labels = {{"namespace", "shop"}, {"pod", pod}};
    cfg.shared_targets = {"db"};
    std::vector<std::unique_ptr<AlertSink>> sinks;
    sinks.push_back(std::make_unique<support::ScriptedSink>("oncall"));
    alerter = std::make_unique<Alerter>(cfg, clock, std::move(sinks));
  }
  /// Notifications queued (the notifier is not started: nothing is delivered).
  std::size_t Queued() { return alerter->notifier().Pending().size(); }
};

Snapshot Busy(const std::string& target, double v) {
  Snapshot s = support::MakeSnapshot({{target, true}, {"pgbouncer-mine", true}});
  support::AddUtilization(s, target, "app", v);
  return s;
}

TEST(FleetHandoffTest, TheNewHolderNeitherAnnouncesAgainNorForgetsTheResolve) {
  support::FakeClock clock;
  Replica old_holder(clock, "app-1"), next(clock, "app-2");
  for (int i = 0; i < 4; ++i) {
    old_holder.alerter->Evaluate(Busy("db", 0.95));
    clock.Advance(1s);
  }
  ASSERT_EQ(old_holder.Queued(), 1u) << "announced once";
  auto state = nlohmann::json::parse(old_holder.alerter->TargetState("db"));
  EXPECT_EQ(state["target"], "db");
  EXPECT_EQ(state["queued"].size(), 1u) << "undelivered: carried, owed";
  state["queued"] = nlohmann::json::array();  // as if delivered before the holder died

  // The standby has its own pod's alert (not handed over, not overwritten).
  Snapshot mine = support::MakeSnapshot({{"db", true}, {"pgbouncer-mine", true}});
  mine.targets[0].role = "standby";
  support::AddUtilization(mine, "pgbouncer-mine", "app", 0.95);
  for (int i = 0; i < 4; ++i) {
    next.alerter->Evaluate(mine);
    clock.Advance(1s);
  }
  ASSERT_EQ(next.Queued(), 1u);
  next.alerter->AdoptTargetState("db", state.dump());
  // The condition still holds under the new holder: nothing new is announced.
  for (int i = 0; i < 10; ++i) {
    Snapshot s = Busy("db", 0.95);
    support::AddUtilization(s, "pgbouncer-mine", "app", 0.95);
    next.alerter->Evaluate(s);
    clock.Advance(1s);
  }
  EXPECT_EQ(next.Queued(), 1u) << "the old holder's incident is not announced again";
  // It clears: exactly one resolve, from the new holder.
  for (int i = 0; i < 6; ++i) {
    Snapshot s = Busy("db", 0.1);
    support::AddUtilization(s, "pgbouncer-mine", "app", 0.95);
    next.alerter->Evaluate(s);
    clock.Advance(1s);
  }
  auto pending = next.alerter->notifier().Pending();
  ASSERT_EQ(pending.size(), 2u);
  ASSERT_FALSE(pending[1].incidents.empty());
  EXPECT_EQ(pending[1].incidents[0].status, "resolved");
  EXPECT_EQ(pending[1].external_labels.at("pod"), "app-2");
  // The standby's own alert is still there, firing.
  bool own = false;
  for (const auto& a : next.alerter->StatusJson()) {
    own = own || a["labels"]["target"] == "pgbouncer-mine";
  }
  EXPECT_TRUE(own);

  // Forgetting (a holder that became a standby) resolves nothing.
  Replica demoted(clock, "app-3");
  for (int i = 0; i < 4; ++i) {
    demoted.alerter->Evaluate(Busy("db", 0.95));
    clock.Advance(1s);
  }
  std::size_t before = demoted.Queued();
  demoted.alerter->AdoptTargetState("db", "");
  Snapshot standby = support::MakeSnapshot({{"db", true}});
  standby.targets[0].role = "standby";
  for (int i = 0; i < 6; ++i) {
    demoted.alerter->Evaluate(standby);
    clock.Advance(1s);
  }
  EXPECT_EQ(demoted.Queued(), before) << "no resolve from a standby";
  EXPECT_TRUE(demoted.alerter->StatusJson().empty());
  EXPECT_NO_THROW(demoted.alerter->AdoptTargetState("db", "{not json"));
}

}  // namespace
}  // namespace poolwatch
