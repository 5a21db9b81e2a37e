// Drop-in compatibility: the third-party dashboards and alert rules written for
// postgres_exporter and pgbouncer_exporter, run unchanged against poolwatch. A real Prometheus
// scrapes a real poolwatch watching the real PostgreSQL + PgBouncer under a little load; every
// panel query (Grafana JSON `targets[].expr`, template variables substituted) and every rule
// expression (rule YAML `expr`) of every artefact in ../shared/compat (relative to the source
// dir) must parse, and every in-scope one must return data. Queries whose metrics are outside a
// connection-pool sidecar's scope are classified from the metric names they use (kOutOfScope)
// and reported, not judged. The figure per artefact is printed.
//
// The artefacts are third-party files that are not part of the repository: without the folder
// the test skips and says so.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "collectors/metrics.h"
#include "tests/support/prometheus.h"
#include "tests/support/stack.h"
#include "tests/support/util.h"

namespace poolwatch {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using support::HttpGet;
using support::PgStack;
using support::PoolwatchProcess;
using support::Process;
using support::Prometheus;
using support::PromResult;
using support::ReadFile;
using support::RunCommand;
using support::SourceDir;
using support::Sql;
using support::WaitUntil;
using support::WriteFile;
using namespace std::chrono_literals;

constexpr char kJob[] = "poolwatch";
// The deployment labels the Grafana libraries group by; a relabel step adds them in a real
// deployment (README, "Compatibility"), here the scrape config's static labels.
constexpr char kCluster[] = "compat";

std::string CompatDir() { return SourceDir() + "/../shared/compat"; }

/// Metric families outside poolwatch's scope, by name prefix: what the README's compatibility
/// section lists. A query using any of them is reported as out of scope.
const std::vector<std::pair<std::string, std::string>> kOutOfScope = {
    {"pg_stat_bgwriter_", "bgwriter/checkpointer"},
    {"pg_stat_checkpointer_", "bgwriter/checkpointer"},
    {"pg_stat_user_tables_", "per-table statistics"},
    {"pg_statio_user_tables_", "per-table statistics"},
    {"pg_stat_user_indexes_", "per-table statistics"},
    {"pg_statio_user_indexes_", "per-table statistics"},
    {"pg_general_index_info_", "per-table statistics"},
    {"pg_replication_", "replication/WAL"},
    {"pg_stat_replication_", "replication/WAL"},
    {"pg_stat_archiver_", "replication/WAL"},
    {"pg_stat_wal_", "replication/WAL"},
    {"pg_wal_", "replication/WAL"},
    {"pg_database_size", "database sizes"},
    {"pg_bloat_", "bloat"},
    {"pg_stat_statements_", "pg_stat_statements"},
    // awesome-prometheus-alerts' PostgreSQL rules read columns of custom queries.yaml entries
    // that postgres_exporter does not ship: not a reference name.
    {"pg_txid_current", "custom queries.yaml (not a postgres_exporter name)"},
    {"pg_stat_ssl_", "custom queries.yaml (not a postgres_exporter name)"},
    // The awesome-prometheus-alerts PgBouncer file is written for spreaker's exporter, whose
    // log-scraping counter has no counterpart in SHOW output.
    {"pgbouncer_errors_count", "spreaker pgbouncer exporter (log counter)"},
};

/// In-scope queries known to return nothing against postgres_exporter/pgbouncer_exporter too,
/// by "artefact / title": named with the reason instead of failing the test.
const std::map<std::string, std::string> kUpstreamBroken = {
    {"grafana-jsonnet-libs/postgres-observ-lib/prometheus_rules_out/prometheus_alerts.yaml / "
     "PostgreSQLBlockedQueries",
     "asks pg_locks_count for mode=\"ExclusiveLock\" and a `granted` label; postgres_exporter's "
     "labels are datname and a lower-case mode"},
    {"awesome-prometheus-alerts/postgres-exporter.yml / PostgresqlTooManyLocksAcquired",
     "divides sum by (instance) by unaggregated pg_settings_* series, whose label sets (job, "
     "server) never match"},
    {"grafana-jsonnet-libs/postgres-observ-lib/prometheus_rules_out/prometheus_alerts.yaml / "
     "PostgreSQLHighConnectionUsage",
     "divides sum by (instance) by an unaggregated pg_settings_max_connections: the label sets "
     "never match"},
};

/// PostgreSQL + PgBouncer, poolwatch sampling every 500ms, Prometheus scraping it every second,
/// and a client running queries and transactions through PgBouncer.
class CompatStack : public ::testing::Environment {
 public:
  void SetUp() override {
    stack = std::make_unique<PgStack>();
    poolwatch = std::make_unique<PoolwatchProcess>(
        "sampling: {interval: 500ms, timeout: 400ms}\n"
        "targets:\n"
        "  postgres:\n"
        "    - name: main\n"
        "      dsn: \"" + stack->PgDsn() + "\"\n"
        "  pgbouncer:\n"
        "    - name: local\n"
        "      dsn: \"" + stack->PgbDsn() + "\"\n"
        // The alerting families are served too (checked against the family table below).
        "alerts:\n"
        "  receivers:\n"
        "    - name: stdout\n"
        "      log: {}\n"
        "  route: {receivers: [stdout], group_wait: 1s}\n");
    ASSERT_TRUE(poolwatch->WaitReady()) << poolwatch->Logs();
    instance = "127.0.0.1:" + std::to_string(poolwatch->port());
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
        std::cerr << "[compat] load client stopped: " << e.what() << "\n";
      }
    });
    // An application session that holds a relation lock in a long statement: the "active
    // sessions" and "locks" panels have something to show.
    holder = std::make_unique<Sql>(stack->SuperDsn("postgres"));
    holder->Exec("BEGIN");
    holder->Exec("SELECT count(*) FROM pg_class");
    holder->Send("SELECT pg_sleep(120)");
    prometheus = std::make_unique<Prometheus>(
        "  - job_name: " + std::string(kJob) + "\n"
        "    static_configs:\n"
        "      - targets: ['" + instance + "']\n"
        "        labels: {cluster: " + kCluster + ", pgbouncer_cluster: " + kCluster + "}\n");
    std::string error;
    ASSERT_TRUE(prometheus->Start(&error)) << error;
  }
  void TearDown() override {
    stop_load = true;
    if (load.joinable()) load.join();
    prometheus.reset();
    poolwatch.reset();
    holder.reset();
    stack.reset();
  }

  PromResult Query(const std::string& promql) const { return prometheus->Query(promql); }

  std::unique_ptr<PgStack> stack;
  std::unique_ptr<PoolwatchProcess> poolwatch;
  std::unique_ptr<Prometheus> prometheus;
  std::unique_ptr<Sql> holder;
  std::string instance;
  std::atomic<bool> stop_load{false};
  std::atomic<long> load_queries{0};
  std::thread load;
};

CompatStack* live = nullptr;
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(live = new CompatStack);

struct ArtefactQuery {
  std::string artefact;  // path under ../shared/compat
  std::string where;     // panel title / refId, or rule name
  std::string expr;      // variables substituted
  bool rule = false;
};

/// What Grafana would send for each template variable: the values of this deployment, a
/// matching regex for multi-value and "All" variables, 15s (four scrape intervals) for the
/// interval variables. 9628's $namespace and $release are Kubernetes labels poolwatch's series
/// do not have: empty, which in PromQL matches a missing label.
std::string VariableValue(const std::string& name) {
  static const std::map<std::string, std::string> values = {
      {"__rate_interval", "15s"}, {"__interval", "15s"}, {"interval", "15s"},
      {"__range", "1m"}, {"job", kJob}, {"cluster", kCluster}, {"pgbouncer_cluster", kCluster},
      {"namespace", ""}, {"release", ""}, {"topk", "10"}, {"top_database_count", "4"},
      {"settingsFilter", ""}, {"datasource", "prometheus"},
      {"prometheus_datasource", "prometheus"}, {"DS_PROMETHEUS", "prometheus"}};
  if (name == "instance") return live->instance;
  auto it = values.find(name);
  return it == values.end() ? ".*" : it->second;  // datname, database, db, mode: "All"
}

std::string Substitute(const std::string& expr) {
  static const std::regex var(R"(\$\{(\w+)(?::\w+)?\}|\$(\w+))");
  std::string out;
  std::size_t last = 0;
  for (auto it = std::sregex_iterator(expr.begin(), expr.end(), var);
       it != std::sregex_iterator(); ++it) {
    out += expr.substr(last, it->position() - last);
    out += VariableValue((*it)[1].matched ? (*it)[1].str() : (*it)[2].str());
    last = it->position() + it->length();
  }
  return out + expr.substr(last);
}

bool IsLoki(const json& datasource) {
  std::string s = datasource.dump();
  std::transform(s.begin(), s.end(), s.begin(), ::tolower);
  return s.find("loki") != std::string::npos;
}

// Every `targets[].expr` of a Grafana dashboard, panels nested in rows (old `rows[].panels` and
// collapsed row panels) included; Loki targets are left out.
void GrafanaQueries(const json& node, const std::string& artefact, const json& datasource,
                    std::vector<ArtefactQuery>* out) {
  if (node.is_array()) {
    for (const auto& n : node) GrafanaQueries(n, artefact, datasource, out);
    return;
  }
  if (!node.is_object()) return;
  const json ds = node.contains("datasource") ? node["datasource"] : datasource;
  if (node.contains("targets") && node["targets"].is_array()) {
    for (const auto& t : node["targets"]) {
      if (!t.is_object() || !t.contains("expr") || !t["expr"].is_string()) continue;
      if (IsLoki(t.contains("datasource") ? t["datasource"] : ds)) continue;
      const std::string expr = t["expr"];
      if (expr.empty()) continue;
      out->push_back({artefact, node.value("title", "") + " / " + t.value("refId", ""),
                      Substitute(expr), false});
    }
  }
  for (const char* key : {"panels", "rows"}) {
    if (node.contains(key)) GrafanaQueries(node[key], artefact, ds, out);
  }
}

void RuleQueries(const YAML::Node& doc, const std::string& artefact,
                 std::vector<ArtefactQuery>* out) {
  for (const auto& g : doc["groups"]) {
    for (const auto& r : g["rules"]) {
      if (!r["expr"]) continue;
      const std::string name = r["alert"] ? r["alert"].as<std::string>()
                                          : r["record"].as<std::string>("");
      out->push_back({artefact, name, r["expr"].as<std::string>(), true});
    }
  }
}

std::vector<ArtefactQuery> AllQueries(std::vector<std::string>* artefacts) {
  std::vector<ArtefactQuery> out;
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(CompatDir())) {
    if (e.is_regular_file()) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& p : files) {
    const std::string rel = fs::relative(p, CompatDir()).string();
    const std::string ext = p.extension().string();
    const std::size_t before = out.size();
    if (ext == ".json") {
      GrafanaQueries(json::parse(ReadFile(p.string())), rel, json(), &out);
    } else if (ext == ".yaml" || ext == ".yml") {
      RuleQueries(YAML::LoadFile(p.string()), rel, &out);
    } else {
      continue;
    }
    if (out.size() > before) artefacts->push_back(rel);
  }
  return out;
}

/// The metric selectors of a query: `name{matchers}` or a bare `{__name__=~"..."}` block, with
/// matchers as written. Label names, function names, keywords and strings are not metrics.
std::vector<std::string> Selectors(const std::string& expr, std::set<std::string>* names) {
  static const std::set<std::string> keywords = {
      "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
      "unless", "offset", "inf", "nan", "e",
      // aggregation operators, which may take `by (...)` before their parenthesis
      "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
      "bottomk", "topk", "quantile"};
  std::vector<std::string> out;
  std::size_t i = 0;
  auto ident = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
                                   c == ':'; };
  while (i < expr.size()) {
    char c = expr[i];
    if (c == '"' || c == '\'' || c == '`') {  // a string literal
      std::size_t j = i + 1;
      while (j < expr.size() && expr[j] != c) j += expr[j] == '\\' ? 2 : 1;
      i = j + 1;
      continue;
    }
    if (c == '[') {  // a range or subquery
      i = expr.find(']', i);
      i = i == std::string::npos ? expr.size() : i + 1;
      continue;
    }
    if (c == '{') {  // a bare matcher block
      std::size_t j = expr.find('}', i);
      if (j == std::string::npos) break;
      const std::string block = expr.substr(i, j - i + 1);
      std::smatch m;
      if (std::regex_search(block, m, std::regex(R"re(__name__\s*=~?\s*"([^"]*)")re"))) {
        names->insert(m[1]);
        out.push_back(block);
      }
      i = j + 1;
      continue;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      std::size_t j = i;
      while (j < expr.size() && ident(expr[j])) ++j;
      std::string word = expr.substr(i, j - i);
      std::string lower = word;
      std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
      if (keywords.count(lower)) word = lower;  // PromQL keywords are case-insensitive
      std::size_t k = j;
      while (k < expr.size() && std::isspace(static_cast<unsigned char>(expr[k]))) ++k;
      const bool call = k < expr.size() && expr[k] == '(';
      if (call || keywords.count(word)) {
        if (call && (word == "by" || word == "without" || word == "on" || word == "ignoring" ||
                     word == "group_left" || word == "group_right")) {
          i = expr.find(')', k);  // a label list
          i = i == std::string::npos ? expr.size() : i + 1;
          continue;
        }
        i = j;
        continue;
      }
      std::string sel = word;
      if (k < expr.size() && expr[k] == '{') {
        std::size_t e = expr.find('}', k);
        if (e == std::string::npos) e = expr.size() - 1;
        sel += expr.substr(k, e - k + 1);
        j = e + 1;
      }
      names->insert(word);
      out.push_back(sel);
      i = j;
      continue;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {  // a number or a duration
      while (i < expr.size() && (ident(expr[i]) || expr[i] == '.')) ++i;
      continue;
    }
    ++i;
  }
  return out;
}

/// The operands of a query's top-level `and`s (outside parentheses, braces and strings).
std::vector<std::string> TopLevelAnd(const std::string& expr) {
  std::vector<std::string> parts;
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < expr.size(); ++i) {
    const char c = expr[i];
    if (c == '"' || c == '\'' || c == '`') {
      std::size_t j = i + 1;
      while (j < expr.size() && expr[j] != c) j += expr[j] == '\\' ? 2 : 1;
      i = j;
    } else if (c == '(' || c == '{' || c == '[') {
      ++depth;
    } else if (c == ')' || c == '}' || c == ']') {
      --depth;
    } else if (depth == 0 && expr.compare(i, 5, " and ") == 0) {
      parts.push_back(expr.substr(start, i - start));
      start = i + 5;
      i += 4;
    }
  }
  parts.push_back(expr.substr(start));
  for (auto& p : parts) {
    const auto b = p.find_first_not_of(" \n\t");
    const auto e = p.find_last_not_of(" \n\t");
    p = b == std::string::npos ? "" : p.substr(b, e - b + 1);
  }
  return parts;
}

/// The out-of-scope family a query uses, or "" when it uses none.
std::string OutOfScope(const std::set<std::string>& names) {
  for (const auto& n : names) {
    for (const auto& [prefix, family] : kOutOfScope) {
      if (n.rfind(prefix, 0) == 0) return family;
    }
  }
  return "";
}

struct Tally {
  int total = 0;
  int out_of_scope = 0;
  int in_scope = 0;
  int with_data = 0;
  int upstream_broken = 0;
};

TEST(CompatLive, EveryInScopeQueryOfEveryArtefactReturnsData) {
  if (!fs::is_directory(CompatDir())) {
    GTEST_SKIP() << "no third-party artefacts at " << CompatDir()
                 << " (a plain clone has none; see README, \"Compatibility\")";
  }
  // A few scrapes, and enough load for the rate() panels to see a rise.
  ASSERT_TRUE(WaitUntil(
      [] {
        auto q = live->Query(std::string("count_over_time(up{job=\"") + kJob +
                             "\"}[1m]) >= 5 and up{job=\"" + kJob + "\"} == 1");
        return q.ok && !q.result.empty();
      },
      60s))
      << live->prometheus->Logs();
  ASSERT_GT(live->load_queries.load(), 10) << "the load client is not running";

  std::vector<std::string> artefacts;
  const std::vector<ArtefactQuery> queries = AllQueries(&artefacts);
  ASSERT_GE(artefacts.size(), 10u) << "fewer artefacts than SOURCES.md lists";

  std::map<std::string, Tally> tally;
  std::map<std::string, int> out_of_scope_by_family;
  std::vector<std::string> failures;   // each fails the test
  std::vector<std::string> named;      // upstream-broken, reported
  for (const auto& q : queries) {
    Tally& t = tally[q.artefact];
    ++t.total;
    std::set<std::string> names;
    std::vector<std::string> selectors = Selectors(q.expr, &names);
    const std::string where = q.artefact + " / " + q.where;
    PromResult whole = live->Query(q.expr);
    if (!whole.ok) {
      failures.push_back(where + ": does not run: " + whole.error + "\n      " + q.expr);
      continue;
    }
    const std::string family = OutOfScope(names);
    if (!family.empty()) {
      ++t.out_of_scope;
      ++out_of_scope_by_family[family];
      continue;
    }
    ++t.in_scope;
    // A panel must show something. A rule expression is a condition that is rightly empty while
    // nothing is wrong: each of its selectors must return series (the rule can fire).
    std::string missing;
    if (q.rule) {
      // `condition > threshold`: the condition must return series (a threshold that is not met
      // right now is fine). Otherwise every selector must.
      // `a > x and b > y` is judged as its two conditions.
      static const std::regex threshold(R"(^([\s\S]*\S)\s*(>=|<=|==|!=|>|<)\s*(bool\s+)?[-+0-9.e\s*/()]+$)");
      std::smatch m;
      bool judged = false;
      for (const std::string& part : TopLevelAnd(q.expr)) {
        if (!std::regex_match(part, m, threshold) || !live->Query(m[1]).ok) {
          judged = false;
          break;
        }
        judged = true;
        if (live->Query(m[1]).result.empty()) {
          missing += (missing.empty() ? "" : "; ") + ("condition " + std::string(m[1]));
        }
      }
      if (judged) {
        selectors.clear();
      } else {
        missing.clear();
      }
      for (const auto& s : selectors) {
        auto r = live->Query(s);
        if (!r.ok || r.result.empty()) missing += (missing.empty() ? "" : ", ") + s;
      }
      if (selectors.empty() && !judged) {
        missing = "(no selector found)";
      }
    } else if (whole.result.empty()) {
      missing = "the query";
    }
    if (missing.empty()) {
      ++t.with_data;
      continue;
    }
    auto known = kUpstreamBroken.find(where);
    if (known != kUpstreamBroken.end()) {
      ++t.upstream_broken;
      named.push_back(where + ": " + known->second);
    } else {
      failures.push_back(where + ": no data from " + missing + "\n      " + q.expr);
    }
  }

  std::ostringstream report;
  report << "[compat] in-scope queries returning data, per artefact:\n";
  for (const auto& a : artefacts) {
    const Tally& t = tally[a];
    const double pct = t.in_scope ? 100.0 * t.with_data / t.in_scope : 100.0;
    report << "  " << std::fixed << std::setprecision(1) << std::setw(5) << pct << "%  "
           << t.with_data << "/" << t.in_scope << " in scope, "
           << (t.in_scope > t.upstream_broken
                   ? 100.0 * t.with_data / (t.in_scope - t.upstream_broken)
                   : 100.0)
           << "% without the upstream-broken ones (" << t.total << " queries, "
           << t.out_of_scope << " out of scope, " << t.upstream_broken
           << " broken upstream)  " << a << "\n";
  }
  report << "[compat] out of scope by family:";
  for (const auto& [f, n] : out_of_scope_by_family) report << " " << f << " " << n << ";";
  report << "\n";
  for (const auto& n : named) report << "[compat] named, broken upstream: " << n << "\n";
  std::cout << report.str();
  for (const auto& a : artefacts) {
    const Tally& t = tally[a];
    if (t.in_scope == 0) continue;
    // Queries that return nothing against the reference exporters too are named above and
    // left out of the figure the target applies to.
    const int judged = t.in_scope - t.upstream_broken;
    if (judged > 0) {
      EXPECT_GE(100.0 * t.with_data / judged, 95.0) << a;
    }
  }
  std::string list;
  for (const auto& f : failures) list += "  " + f + "\n";
  EXPECT_TRUE(failures.empty()) << failures.size() << " of " << queries.size()
                                << " queries failed:\n" << list;
}

// Every family a live poolwatch serves (targets, sampler, process, alerting) is declared in
// MetricFamilies(), with the table's HELP, type and label names: one declaration per family.
TEST(CompatLive, EveryServedFamilyIsDeclaredOnceInTheFamilyTable) {
  ASSERT_TRUE(live->poolwatch->WaitMetric(
      [](const std::string& m) { return m.find("\npg_static{") != std::string::npos; }, 10s));
  std::istringstream in(live->poolwatch->Metrics());
  std::set<std::string> families;
  std::vector<std::string> problems;
  const std::regex help(R"(# HELP (\S+) (.*))");
  const std::regex type(R"(# TYPE (\S+) (\S+))");
  const std::regex label(R"re(([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*")re");
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_match(line, m, help)) {
      const FamilyDesc* d = FindFamily(m[1].str());
      if (!d) {
        problems.push_back(m[1].str() + ": not declared");
      } else if (m[2].str() != d->help) {
        problems.push_back(m[1].str() + ": HELP differs from the table: " + m[2].str());
      }
      if (!families.insert(m[1].str()).second) problems.push_back(m[1].str() + ": HELP twice");
    } else if (std::regex_match(line, m, type)) {
      const FamilyDesc* d = FindFamily(m[1].str());
      const char* want = d && d->type == prometheus::MetricType::Counter ? "counter" : "gauge";
      if (d && m[2].str() != want) problems.push_back(m[1].str() + ": TYPE " + m[2].str());
    } else if (!line.empty() && line[0] != '#') {
      const std::string name = line.substr(0, line.find_first_of("{ "));
      const FamilyDesc* d = FindFamily(name);
      if (!d) continue;  // reported at its HELP line
      std::vector<std::string> labels;
      const std::string block = line.substr(0, line.rfind(' '));
      for (auto it = std::sregex_iterator(block.begin(), block.end(), label);
           it != std::sregex_iterator(); ++it) {
        labels.push_back((*it)[1]);
      }
      if (labels != d->labels) problems.push_back("labels differ from the table: " + line);
    }
  }
  EXPECT_GT(families.size(), 100u);
  std::string list;
  for (const auto& p : problems) list += "  " + p + "\n";
  EXPECT_TRUE(problems.empty()) << list;
}

}  // namespace
}  // namespace poolwatch
