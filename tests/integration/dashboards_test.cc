// Live verification of dashboards/: a real Prometheus scrapes a real poolwatch watching
// the real PostgreSQL + PgBouncer under a small induced load. Every panel query of both Grafana
// dashboards (variables substituted) must parse and return series through Prometheus' HTTP API,
// and the shipped alert rules, loaded into Prometheus, must fire on an induced saturation.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "tests/support/prometheus.h"
#include "tests/support/stack.h"
#include "tests/support/util.h"

namespace poolwatch {
namespace {

using nlohmann::json;
using support::HttpGet;
using support::PgStack;
using support::PoolwatchProcess;
using support::Process;
using support::Prometheus;
using support::PromResult;
using support::ReadFile;
using support::SourceDir;
using support::Sql;
using support::WaitUntil;
using namespace std::chrono_literals;

constexpr char kJob[] = "poolwatch";
// A pod of a fleet, as kube-prometheus-stack labels it (the namespace and pod variables).
constexpr char kNamespace[] = "shop";
constexpr char kPod[] = "app-7f9c-2";

/// The `for:` of every rule in the shipped file, shortened so the test need not wait minutes;
/// thresholds and expressions stay exactly as shipped.
std::string ShortForRules(const std::string& shipped) {
  return std::regex_replace(shipped, std::regex(R"(\n(\s+)for: [0-9]+[smh]\n)"), "\n$1for: 2s\n");
}

/// The environment: PostgreSQL + PgBouncer (pool_size 2), poolwatch sampling every 500ms, a
/// Prometheus scraping it every second and evaluating the rules every second, and a background
/// client running queries and transactions through PgBouncer.
class LiveStack : public ::testing::Environment {
 public:
  void SetUp() override {
    stack = std::make_unique<PgStack>(std::map<std::string, std::string>{{"PGB_POOL_SIZE", "2"}});
    StartPoolwatch();
    StartLoad();
    StartPrometheus();
  }
  void TearDown() override {
    stop_load = true;
    if (load.joinable()) load.join();
    prometheus.reset();
    poolwatch.reset();
    stack.reset();
  }

  PromResult Query(const std::string& promql) const { return prometheus->Query(promql); }

  std::unique_ptr<PgStack> stack;
  std::unique_ptr<PoolwatchProcess> poolwatch;
  std::unique_ptr<Prometheus> prometheus;
  std::string instance;
  std::string poolwatch_config;
  std::atomic<bool> stop_load{false};
  std::atomic<long> load_queries{0};
  std::thread load;

 private:
  void StartPoolwatch() {
    const std::string base =
        "targets:\n"
        "  postgres:\n"
        "    - name: main\n"
        "      dsn: \"" + stack->PgDsn() + "\"\n"
        "  pgbouncer:\n"
        "    - name: local\n"
        "      dsn: \"" + stack->PgbDsn() + "\"\n";
    // Fast PgBouncer sampling and the alerting section (a log receiver) make every family the
    // panels read appear.
    poolwatch_config = "sampling: {interval: 500ms, timeout: 400ms, fast_interval: 100ms}\n" +
                       base +
                       "alerts:\n"
                       "  receivers:\n"
                       "    - name: stdout\n"
                       "      log: {}\n"
                       "  route: {receivers: [stdout], group_wait: 1s}\n";
    poolwatch = std::make_unique<PoolwatchProcess>(poolwatch_config);
    ASSERT_TRUE(poolwatch->WaitReady()) << poolwatch->Logs();
    instance = "127.0.0.1:" + std::to_string(poolwatch->port());
  }

  void StartLoad() {
    load = std::thread([this] {
      try {
        Sql app(stack->AppViaPgbDsn());
        while (!stop_load) {
          app.Exec("SELECT count(*) FROM pg_class");
          app.Exec("BEGIN");
          app.Exec("SELECT 1");
          app.Exec("COMMIT");
          ++load_queries;
          std::this_thread::sleep_for(20ms);
        }
      } catch (const std::exception& e) {
        std::cerr << "[dashboards] load client stopped: " << e.what() << "\n";
      }
    });
  }

  void StartPrometheus() {
    const std::string shipped = ReadFile(SourceDir() + "/dashboards/poolwatch-rules.yaml");
    const std::string rules = ShortForRules(shipped);
    ASSERT_NE(rules, shipped) << "no `for:` was shortened; did the rule file's layout change?";
    prometheus = std::make_unique<Prometheus>(
        "  - job_name: " + std::string(kJob) + "\n"
        "    static_configs: [{targets: ['" + instance + "'],\n"
        "                      labels: {namespace: " + kNamespace + ", pod: " + kPod + "}}]\n",
        rules);
    std::string error;
    ASSERT_TRUE(prometheus->Start(&error)) << error;
  }
};

LiveStack* live = nullptr;
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(live = new LiveStack);

/// Holds the `app` pool of PgBouncer (pool_size 2) saturated: two transactions keep both server
/// connections, and a third client waits for one.
class Saturation {
 public:
  Saturation()
      : a_(live->stack->AppViaPgbDsn()),
        b_(live->stack->AppViaPgbDsn()),
        waiting_(live->stack->AppViaPgbDsn()) {
    for (Sql* s : {&a_, &b_}) {
      s->Exec("BEGIN");
      s->Exec("SELECT 1");
    }
    waiting_.Send("SELECT 1");
  }
  ~Saturation() {
    for (Sql* s : {&a_, &b_}) {
      try {
        s->Exec("ROLLBACK");
      } catch (...) {
      }
    }
  }

 private:
  Sql a_, b_, waiting_;
};

/// Waits until Prometheus has scraped poolwatch successfully a few times.
void WaitForScrapes() {
  ASSERT_TRUE(WaitUntil(
      [] {
        auto q = live->Query(std::string("count_over_time(up{job=\"") + kJob + "\"}[1m]) >= 4 and "
                             "up{job=\"" + kJob + "\"} == 1");
        return q.ok && !q.result.empty();
      },
      60s))
      << live->prometheus->Logs();
}

bool AlertFiring(const std::string& selector) {
  auto q = live->Query("ALERTS{alertstate=\"firing\"," + selector + "}");
  return q.ok && !q.result.empty();
}

TEST(DashboardsLive, ShippedRulesLoadAndUtilizationRuleFiresOnInducedSaturation) {
  WaitForScrapes();
  // Prometheus loaded every rule of the shipped file and evaluates them without errors.
  auto r = HttpGet(live->prometheus->Url() + "/api/v1/rules");
  ASSERT_EQ(r.status, 200) << r.body;
  json rules = json::parse(r.body);
  int alerting = 0;
  for (const auto& g : rules["data"]["groups"]) {
    for (const auto& rule : g["rules"]) {
      EXPECT_EQ(rule.value("health", ""), "ok") << rule.dump();
      if (rule.value("type", "") == "alerting") ++alerting;
    }
  }
  EXPECT_EQ(alerting, 10) << r.body;

  const std::string pool = "alertname=\"PoolUtilizationHigh\",target=\"local\",database=\"app\"";
  EXPECT_FALSE(AlertFiring(pool)) << "fires before the pool is saturated";
  {
    Saturation saturated;
    EXPECT_TRUE(WaitUntil([&] { return AlertFiring(pool + ",severity=\"critical\""); }, 60s))
        << "PoolUtilizationHigh (critical) never fired; utilization in Prometheus: "
        << live->Query("poolwatch_pool_utilization_ratio").result.dump() << "\npoolwatch:\n"
        << live->poolwatch->Metrics().substr(0, 4000);
    EXPECT_TRUE(AlertFiring(pool + ",severity=\"warning\",kind=\"pgbouncer_server\""));
  }
  // Released: the alert resolves (no longer firing) once utilization drops.
  EXPECT_TRUE(WaitUntil([&] { return !AlertFiring(pool); }, 30s));
}

struct PanelQuery {
  std::string where;  // "file / panel title / refId"
  std::string expr;
};

std::vector<PanelQuery> PanelQueries(const std::string& file,
                                     const std::map<std::string, std::string>& vars,
                                     std::vector<std::string>* problems) {
  json d = json::parse(ReadFile(SourceDir() + "/dashboards/" + file));
  std::vector<PanelQuery> out;
  const std::regex var(R"(\$\{?(\w+)\}?)");
  for (const auto& p : d["panels"]) {
    if (p.value("type", "") == "row") continue;
    for (const auto& t : p["targets"]) {
      std::string expr = t.value("expr", "");
      std::string substituted;
      auto begin = std::sregex_iterator(expr.begin(), expr.end(), var);
      std::size_t last = 0;
      for (auto it = begin; it != std::sregex_iterator(); ++it) {
        substituted += expr.substr(last, it->position() - last);
        auto v = vars.find((*it)[1]);
        if (v == vars.end()) {
          problems->push_back(file + " / " + p.value("title", "") + ": unknown variable " +
                              it->str());
          substituted += it->str();
        } else {
          substituted += v->second;
        }
        last = it->position() + it->length();
      }
      substituted += expr.substr(last);
      out.push_back({file + " / " + p.value("title", "") + " / " + t.value("refId", ""),
                     substituted});
    }
  }
  return out;
}

/// Runs the dashboard's `label_values(...)` variable queries through Prometheus and checks that
/// each offers the value the panel check substitutes.
void CheckVariables(const std::string& file, const std::map<std::string, std::string>& vars,
                    std::vector<std::string>* failures) {
  json d = json::parse(ReadFile(SourceDir() + "/dashboards/" + file));
  const std::regex lv(R"(^label_values\((.*),\s*(\w+)\)$)");
  for (const auto& v : d["templating"]["list"]) {
    if (v.value("type", "") != "query") continue;
    const std::string name = v.value("name", "");
    std::smatch m;
    std::string def = v.value("definition", "");
    if (!std::regex_match(def, m, lv)) {
      failures->push_back(file + " variable " + name + ": not label_values(expr, label): " + def);
      continue;
    }
    std::string expr = m[1];
    for (const auto& [k, val] : vars) {
      expr = std::regex_replace(expr, std::regex("\\$" + k + "\\b"), val);
    }
    auto q = live->Query("group by (" + std::string(m[2]) + ") (" + expr + ")");
    std::vector<std::string> values;
    for (const auto& s : q.result) values.push_back(s["metric"].value(std::string(m[2]), ""));
    std::string want = vars.at(name);
    bool offered = false;
    for (const auto& val : values) {
      if (std::regex_match(val, std::regex(want))) offered = true;
    }
    if (!q.ok || !offered) {
      failures->push_back(file + " variable " + name + " (" + def + "): " +
                          (q.ok ? "does not offer " + want + ", offers " + json(values).dump()
                                : q.error));
    }
  }
}

TEST(DashboardsLive, EveryPanelQueryReturnsSeries) {
  WaitForScrapes();
  // The saturated pool gives the waiting-client, utilization and alert panels something to show;
  // the background client gives the SHOW STATS rates theirs.
  Saturation saturated;
  ASSERT_TRUE(WaitUntil([] {
    auto q = live->Query(
        "pgbouncer_pools_server_active_connections{target=\"local\",database=\"app\"} == 2 and "
        "pgbouncer_pools_client_waiting_connections{target=\"local\",database=\"app\"} >= 1");
    return q.ok && !q.result.empty();
  }, 30s)) << "Prometheus never saw the saturation; panels would be checked idle";
  // Let the alert rules catch up so the alert panels have something to show. Not asserted here
  // (the test above does): a panel that shows nothing is reported below by name.
  WaitUntil([] { return AlertFiring("alertname=\"PoolUtilizationHigh\",target=\"local\""); },
            20s);
  std::this_thread::sleep_for(3s);  // a few more scrapes while saturated
  ASSERT_GT(live->load_queries.load(), 10);

  // What Grafana would send: $__rate_interval is at least four scrape intervals.
  const std::map<std::string, std::string> overview_vars = {
      {"__rate_interval", "15s"}, {"datasource", "prometheus"}, {"job", kJob},
      {"namespace", kNamespace}, {"pod", kPod},
      {"instance", live->instance}, {"target", "(main|local)"}, {"database", "app"}};
  const std::map<std::string, std::string> pool_vars = {
      {"__rate_interval", "15s"}, {"datasource", "prometheus"}, {"job", kJob},
      {"namespace", kNamespace}, {"pod", kPod},
      {"instance", live->instance}, {"target", "local"}, {"database", "app"}, {"user", "app"}};

  std::vector<std::string> failures;
  std::vector<PanelQuery> queries = PanelQueries("poolwatch-overview.json", overview_vars,
                                                 &failures);
  auto more = PanelQueries("poolwatch-pool.json", pool_vars, &failures);
  queries.insert(queries.end(), more.begin(), more.end());
  ASSERT_GT(queries.size(), 40u);
  for (const auto& pq : queries) {
    auto q = live->Query(pq.expr);
    if (!q.ok) {
      failures.push_back(pq.where + ": does not run: " + q.error + "\n    " + pq.expr);
    } else if (q.result.empty()) {
      failures.push_back(pq.where + ": no series\n    " + pq.expr);
    }
  }
  CheckVariables("poolwatch-overview.json", overview_vars, &failures);
  CheckVariables("poolwatch-pool.json", pool_vars, &failures);

  std::string report;
  for (const auto& f : failures) report += "  " + f + "\n";
  EXPECT_TRUE(failures.empty()) << failures.size() << " of " << queries.size()
                                << " panel queries (and variables) failed:\n" << report
                                << "poolwatch config:\n" << live->poolwatch_config;
}

}  // namespace
}  // namespace poolwatch
