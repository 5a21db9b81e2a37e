#include "alerts/rules.h"

#include <algorithm>
#include <cstdio>

#include "alerts/text.h"
#include "collectors/bounded.h"

namespace poolwatch {

std::map<std::string, RuleConfig> AlertsConfig::DefaultRules() {
  using std::chrono::minutes;
  using std::chrono::seconds;
  std::map<std::string, RuleConfig> r;
  RuleConfig util;
  util.warning = 0.80;
  util.critical = 0.90;
  util.for_duration = minutes(2);
  util.critical_for = minutes(1);
  r["pool_utilization"] = util;
  RuleConfig err;
  err.warning = 0.05;
  err.for_duration = minutes(2);
  r["error_rate"] = err;
  RuleConfig leak;
  leak.warning = 0;
  leak.for_duration = minutes(1);
  leak.hysteresis = 0;
  r["connection_leak"] = leak;
  RuleConfig tx;
  tx.warning = 60;
  tx.critical = 300;
  tx.for_duration = minutes(1);
  r["long_transaction"] = tx;
  RuleConfig wait;
  wait.warning = 5;
  wait.critical = 15;
  wait.for_duration = minutes(1);
  r["clients_waiting"] = wait;
  RuleConfig down;
  down.critical = 0;
  down.for_duration = minutes(1);
  down.hysteresis = 0;
  r["target_down"] = down;
  RuleConfig stale;
  stale.critical = 0;  // 0 = 3 sampling intervals (at least 30s)
  stale.for_duration = AlertDuration(0);
  stale.hysteresis = 0;
  r["sampler_stale"] = stale;
  return r;
}

std::string AlertNameOf(const std::string& rule_key) {
  static const std::map<std::string, std::string> kNames = {
      {"pool_utilization", "PoolUtilizationHigh"},
      {"error_rate", "ErrorRateHigh"},
      {"connection_leak", "ConnectionLeak"},
      {"long_transaction", "LongTransaction"},
      {"clients_waiting", "ClientsWaiting"},
      {"target_down", "TargetDown"},
      {"sampler_stale", "SamplerStale"}};
  auto it = kNames.find(rule_key);
  return it == kNames.end() ? rule_key : it->second;
}

namespace {

std::string LabelOf(const Labels& labels, const std::string& key) {
  for (const auto& [k, v] : labels) {
    if (k == key) return v;
  }
  return "";
}

bool MatchName(const std::string& name, const std::vector<std::string>& patterns) {
  for (const auto& p : patterns) {
    if (!p.empty() && p.back() == '*') {
      if (name.compare(0, p.size() - 1, p, 0, p.size() - 1) == 0) return true;
    } else if (p == name) {
      return true;
    }
  }
  return false;
}

/// The rule as it applies to one series (overrides resolved).
struct Effective {
  bool enabled = true;
  std::optional<double> warning, critical;
  AlertDuration warning_for{0}, critical_for{0};
};

Effective Resolve(const RuleConfig& rule, const std::string& target, const std::string& database,
                  const std::string& user) {
  Effective e;
  e.enabled = rule.enabled;
  e.warning = rule.warning;
  e.critical = rule.critical;
  e.warning_for = rule.for_duration;
  e.critical_for = rule.critical_for.value_or(rule.for_duration);
  for (const auto& o : rule.overrides) {
    if (!o.target.empty() && o.target != target) continue;
    if (!o.database.empty() && o.database != database) continue;
    if (!o.user.empty() && o.user != user) continue;
    if (o.enabled) e.enabled = *o.enabled;
    if (o.warning) e.warning = *o.warning;
    if (o.critical) e.critical = *o.critical;
    if (o.for_duration) e.warning_for = e.critical_for = *o.for_duration;
    break;
  }
  return e;
}

const TargetStatus* FindTarget(const Snapshot& snap, const std::string& name) {
  for (const auto& t : snap.targets) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

/// Whether an offender's database (raw, from pg_stat_activity) is the one a label names. Label
/// values are made valid, control-free and bounded (MetricSet); compare in that form, or a
/// database whose name holds invalid UTF-8 or a control character would never get its who
/// (found by tests/integration/hostile_strings_test.cc).
bool SameDatabase(const std::string& offender_datname, const std::string& label) {
  return offender_datname == label ||
         BoundedUtf8(offender_datname, kMaxLabelValueBytes, true) == label;
}

/// Offenders of `target` in the given categories (any when empty) and database (any when
/// empty), minus excluded application names; `excluded_all` tells whether some matched but every
/// one of them was excluded.
std::vector<Offender> OffendersFor(const Snapshot& snap, const std::string& target,
                                   const std::vector<std::string>& categories,
                                   const std::string& database, const RuleConfig& rule,
                                   bool* excluded_all = nullptr) {
  std::vector<Offender> out;
  std::size_t matched = 0;
  const TargetStatus* t = FindTarget(snap, target);
  if (t != nullptr) {
    for (const auto& o : t->offenders) {
      if (!categories.empty() &&
          std::find(categories.begin(), categories.end(), o.category) == categories.end()) {
        continue;
      }
      if (!database.empty() && !o.datname.empty() && !SameDatabase(o.datname, database)) continue;
      ++matched;
      if (MatchName(o.application_name, rule.exclude_applications)) continue;
      out.push_back(o);
    }
  }
  if (excluded_all != nullptr) *excluded_all = matched > 0 && out.empty();
  return out;
}

/// The clients holding a PgBouncer pool are backends in the PostgreSQL behind it: add the
/// long-running / idle-in-transaction / blocking backends of the pool's database seen on the
/// PostgreSQL targets (poolwatch usually watches one PostgreSQL and the PgBouncer in front of it).
void AddHolders(const Snapshot& snap, const std::string& database, const RuleConfig& rule,
                std::vector<Offender>& out) {
  if (database.empty()) return;
  for (const auto& t : snap.targets) {
    if (t.kind != "postgres") continue;
    for (const auto& o :
         OffendersFor(snap, t.name, {"long_transaction", "idle_in_transaction", "blocker"},
                      database, rule)) {
      if (!SameDatabase(o.datname, database)) continue;
      bool dup = false;
      for (const auto& x : out) dup = dup || (x.pid == o.pid && x.datname == o.datname);
      if (!dup) out.push_back(o);
    }
  }
}

struct SeriesSpec {
  std::string rule_key;
  AlertLabels labels;  // without alertname/severity
  double value = 0;
  std::string unit;
  std::string what;   // "Pool utilization", ...
  std::string where;  // "pool app/app on local"
  std::vector<Offender> offenders;
  std::string detail;
};

void Emit(const SeriesSpec& s, const RuleConfig& rule, const Effective& e, RuleOutput& out) {
  struct Sev {
    const char* name;
    std::optional<double> threshold;
    AlertDuration for_duration;
  };
  for (const Sev& sev :
       {Sev{"warning", e.warning, e.warning_for}, Sev{"critical", e.critical, e.critical_for}}) {
    if (!sev.threshold) continue;
    double threshold = *sev.threshold;
    double clear = threshold * (1.0 - rule.hysteresis);
    bool above = s.value > threshold;
    if (!above && s.value <= clear) continue;
    Observation o;
    o.above = above;
    o.clear_threshold = clear;
    o.for_duration = sev.for_duration;
    o.keep_firing_for = rule.keep_firing_for;
    Alert& a = o.alert;
    a.labels = s.labels;
    for (const auto& [k, v] : rule.labels) a.labels.emplace(k, v);
    a.labels["alertname"] = AlertNameOf(s.rule_key);
    a.labels["severity"] = sev.name;
    a.value = s.value;
    a.threshold = threshold;
    a.unit = s.unit;
    a.summary = s.what + " " + FormatValue(s.value, s.unit) + " (threshold " +
                FormatValue(threshold, s.unit) + ") on " + s.where;
    a.runbook_url = rule.runbook_url;
    a.detail = s.detail;
    a.offenders = s.offenders;
    out.observations.push_back(std::move(o));
  }
}

std::string PoolWhere(const std::string& target, const std::string& database,
                      const std::string& user) {
  std::string w = "target " + target;
  if (!database.empty()) w += ", database " + database;
  if (!user.empty()) w += ", user " + user;
  return w;
}

}  // namespace

RuleOutput EvaluateRules(const Snapshot& snap, const AlertsConfig& cfg) {
  RuleOutput out;
  for (const auto& t : snap.targets) {
    if (!t.up) out.down_targets.insert(t.name);
  }
  const MetricSet& m = snap.metrics;
  auto rule_of = [&](const char* key) -> const RuleConfig* {
    auto it = cfg.rules.find(key);
    return it == cfg.rules.end() || !it->second.enabled ? nullptr : &it->second;
  };

  if (const RuleConfig* rule = rule_of("pool_utilization")) {
    for (const auto& [labels, v] : m.Samples(rule_metrics::kUtilization)) {
      SeriesSpec s;
      s.rule_key = "pool_utilization";
      std::string target = LabelOf(labels, "target"), kind = LabelOf(labels, "kind");
      std::string db = LabelOf(labels, "database"), user = LabelOf(labels, "user");
      if (MatchName(db, rule->exclude_databases) && !db.empty()) continue;
      Effective e = Resolve(*rule, target, db, user);
      if (!e.enabled) continue;
      s.labels = {{"target", target}, {"kind", kind}, {"database", db}, {"user", user}};
      s.value = v;
      s.unit = "ratio";
      s.what = kind == "pgbouncer_server"   ? "Server pool utilization"
               : kind == "pgbouncer_client" ? "Client connection utilization"
                                            : "Connection utilization";
      s.where = PoolWhere(target, db, user) + " (" + kind + ")";
      s.offenders = OffendersFor(snap, target, {}, db, *rule);
      if (kind == "pgbouncer_server") AddHolders(snap, db, *rule, s.offenders);
      Emit(s, *rule, e, out);
    }
  }

  if (const RuleConfig* rule = rule_of("error_rate")) {
    for (const auto& [labels, v] : m.Samples(rule_metrics::kErrorRatio)) {
      std::string target = LabelOf(labels, "target"), kind = LabelOf(labels, "kind");
      auto events = m.Value(rule_metrics::kErrorEvents, {{"target", target}, {"kind", kind}});
      if (!events || *events < rule->min_events) continue;  // too few events to judge
      Effective e = Resolve(*rule, target, "", "");
      if (!e.enabled) continue;
      SeriesSpec s;
      s.rule_key = "error_rate";
      s.labels = {{"target", target}, {"kind", kind}};
      s.value = v;
      s.unit = "ratio";
      s.what = "Error rate (" + kind + ")";
      s.where = "target " + target;
      char buf[96];
      std::snprintf(buf, sizeof buf, "%.0f events in the last %s", *events,
                    HumanDuration(rule->window).c_str());
      s.detail = buf;
      Emit(s, *rule, e, out);
    }
  }

  if (const RuleConfig* rule = rule_of("connection_leak")) {
    for (const auto& [labels, v] : m.Samples(rule_metrics::kLeaks)) {
      std::string target = LabelOf(labels, "target"), kind = LabelOf(labels, "kind");
      Effective e = Resolve(*rule, target, "", "");
      if (!e.enabled) continue;
      SeriesSpec s;
      s.rule_key = "connection_leak";
      s.labels = {{"target", target}, {"kind", kind}};
      s.value = v;
      s.unit = "count";
      s.what = "Leaked connections (" + kind + ")";
      s.where = "target " + target;
      bool excluded_all = false;
      std::vector<std::string> cats;
      if (kind == "idle_in_transaction") cats = {"idle_in_transaction"};
      s.offenders = OffendersFor(snap, target, cats, "", *rule, &excluded_all);
      if (excluded_all) continue;
      Emit(s, *rule, e, out);
    }
  }

  if (const RuleConfig* rule = rule_of("long_transaction")) {
    for (const auto& [labels, v] : m.Samples(rule_metrics::kOldestTx)) {
      std::string target = LabelOf(labels, "target"), db = LabelOf(labels, "datname");
      if (MatchName(db, rule->exclude_databases)) continue;
      Effective e = Resolve(*rule, target, db, "");
      if (!e.enabled) continue;
      SeriesSpec s;
      s.rule_key = "long_transaction";
      s.labels = {{"target", target}, {"database", db}};
      s.value = v;
      s.unit = "seconds";
      s.what = "Oldest transaction";
      s.where = PoolWhere(target, db, "");
      bool excluded_all = false;
      s.offenders =
          OffendersFor(snap, target, {"long_transaction", "idle_in_transaction", "blocker"}, db,
                       *rule, &excluded_all);
      if (excluded_all) continue;
      Emit(s, *rule, e, out);
    }
  }

  if (const RuleConfig* rule = rule_of("clients_waiting")) {
    // The fast-sampling peak sees waits a main sample would miss; fall back to SHOW POOLS' own.
    const char* metric =
        m.Has(rule_metrics::kMaxwaitPeak) ? rule_metrics::kMaxwaitPeak : rule_metrics::kMaxwait;
    for (const auto& [labels, v] : m.Samples(metric)) {
      std::string target = LabelOf(labels, "target"), db = LabelOf(labels, "database");
      std::string user = LabelOf(labels, "user");
      if (MatchName(db, rule->exclude_databases)) continue;
      Effective e = Resolve(*rule, target, db, user);
      if (!e.enabled) continue;
      SeriesSpec s;
      s.rule_key = "clients_waiting";
      s.labels = {{"target", target}, {"database", db}, {"user", user}};
      s.value = v;
      s.unit = "seconds";
      s.what = "Clients waiting for a server connection, longest wait";
      s.where = "pool ";
      s.where.append(db).append("/").append(user).append(" on target ").append(target);
      auto waiting = m.Value("pgbouncer_pools_client_waiting_connections",
                             {{"target", target}, {"database", db}, {"user", user}});
      if (waiting) s.detail = FormatValue(*waiting, "count") + " client(s) waiting now";
      s.offenders = OffendersFor(snap, target, {}, db, *rule);
      AddHolders(snap, db, *rule, s.offenders);
      Emit(s, *rule, e, out);
    }
  }

  if (const RuleConfig* rule = rule_of("target_down")) {
    for (const auto& t : snap.targets) {
      if (t.up) continue;
      Effective e = Resolve(*rule, t.name, "", "");
      if (!e.enabled) continue;
      Observation o;
      o.above = true;
      o.for_duration = e.critical ? e.critical_for : e.warning_for;
      o.keep_firing_for = rule->keep_firing_for;
      Alert& a = o.alert;
      a.labels = {{"target", t.name}, {"kind", t.kind}};
      for (const auto& [k, v] : rule->labels) a.labels.emplace(k, v);
      a.labels["alertname"] = "TargetDown";
      a.labels["severity"] = e.critical ? "critical" : "warning";
      a.value = 1;
      a.unit = "";
      a.summary = "Target " + t.name + " (" + t.kind +
                  ") is unreachable: " + std::string(DownReasonName(t.reason));
      a.detail = t.error;
      a.runbook_url = rule->runbook_url;
      out.observations.push_back(std::move(o));
    }
  }
  return out;
}

std::vector<Observation> EvaluateSamplerStale(double age_seconds, const AlertsConfig& cfg) {
  auto it = cfg.rules.find("sampler_stale");
  if (it == cfg.rules.end() || !it->second.enabled) return {};
  const RuleConfig& rule = it->second;
  double limit = rule.critical.value_or(0);
  if (limit <= 0) {
    limit = std::max(30.0, 3 * std::chrono::duration<double>(cfg.eval_interval).count());
  }
  if (age_seconds <= limit) return {};
  Observation o;
  o.above = true;
  o.for_duration = rule.for_duration;
  o.keep_firing_for = rule.keep_firing_for;
  o.alert.labels = {{"alertname", "SamplerStale"}, {"severity", "critical"}};
  for (const auto& [k, v] : rule.labels) o.alert.labels.emplace(k, v);
  o.alert.value = age_seconds;
  o.alert.threshold = limit;
  o.alert.unit = "seconds";
  o.alert.summary = "No sample completed for " + FormatValue(age_seconds, "seconds") + " (limit " +
                    FormatValue(limit, "seconds") + "): /metrics is stale";
  o.alert.runbook_url = rule.runbook_url;
  return {o};
}

std::vector<std::pair<std::string, std::string>> KnownAlertSeverities(const AlertsConfig& cfg) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [key, rule] : cfg.rules) {
    if (!rule.enabled) continue;
    if (rule.warning) out.emplace_back(AlertNameOf(key), "warning");
    if (rule.critical) out.emplace_back(AlertNameOf(key), "critical");
  }
  return out;
}

}  // namespace poolwatch
