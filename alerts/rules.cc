#include "alerts/rules.h"

#include <algorithm>
#include <cstdio>
#include <optional>

#include "alerts/text.h"
#include "base/pattern.h"
#include "base/strings.h"
#include "base/time.h"
#include "collectors/holders.h"

namespace poolwatch {

namespace {

std::string LabelOf(const Labels& labels, const std::string& key) {
  for (const auto& [k, v] : labels) {
    if (k == key) return v;
  }
  return "";
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
      if (MatchesAny(o.application_name, rule.exclude_applications)) continue;
      out.push_back(o);
    }
  }
  if (excluded_all != nullptr) *excluded_all = matched > 0 && out.empty();
  return out;
}

struct SeriesSpec {
  std::string rule_key;
  std::string target, database, user;  // for overrides
  AlertLabels labels;  // without alertname/severity
  double value = 0;
  std::string unit;
  std::string what;   // "Pool utilization", ...
  std::string where;  // "pool app/app on local"
  std::vector<Offender> offenders;
  std::string detail;
  std::string locus;     // the incident it folds into
  std::string headline;  // cause first
  bool hold = false;     // too little evidence: keep the state
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
    if (!above && s.value <= clear && !s.hold) continue;
    Observation o;
    o.hold = s.hold;
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
    a.locus = s.locus;
    a.headline = s.headline;
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

/// How many backends each root blocker among `offenders` blocks (directly or through others),
/// written into Offender::blocks / root_blocker. The blocker and blocked lists of a target hold
/// the whole chain.
void AnnotateChains(std::vector<Offender>& offs, const std::vector<Offender>& all) {
  std::map<int, int> counts;
  std::set<int> counted;
  for (const auto& o : all) {
    int root = RootBlockerOf(o.pid, all);
    if (root != 0 && counted.insert(o.pid).second) counts[root] += 1;
  }
  for (auto& o : offs) {
    auto it = counts.find(o.pid);
    if (it != counts.end()) o.blocks = std::max(o.blocks, it->second);
    if (o.root_blocker == 0) o.root_blocker = RootBlockerOf(o.pid, all);
  }
}

const PoolHolders* FindPool(const Snapshot& snap, const std::string& target,
                            const std::string& database, const std::string& user) {
  const TargetStatus* t = FindTarget(snap, target);
  if (t == nullptr) return nullptr;
  for (const auto& p : t->pools) {
    if ((p.database == database || SameDatabase(p.database, database)) && p.user == user) {
      return &p;
    }
  }
  return nullptr;
}

/// The database behind a pool (an alias pool names another database), else the pool's name.
std::string RealDatabase(const Snapshot& snap, const std::string& target,
                         const std::string& database, const std::string& user) {
  const PoolHolders* p = FindPool(snap, target, database, user);
  return p != nullptr && !p->real_database.empty() ? p->real_database : database;
}

/// A pool's who, cause first: the holder chain (root blockers, then the clients holding its
/// servers with their backends), then the waiting clients. Without a holder chain (no SHOW
/// SERVERS, or the pool is not busy), the problem backends of the database behind it.
std::vector<Offender> PoolOffenders(const Snapshot& snap, const std::string& target,
                                    const std::string& database, const std::string& user,
                                    const RuleConfig& rule) {
  std::vector<Offender> out;
  const PoolHolders* p = FindPool(snap, target, database, user);
  if (p != nullptr) {
    for (const auto& h : p->holders) {
      if (!MatchesAny(h.application_name, rule.exclude_applications)) out.push_back(h);
    }
    for (const auto& w : p->waiting) {
      if (!MatchesAny(w.application_name, rule.exclude_applications)) out.push_back(w);
    }
  }
  if (p == nullptr || p->holders.empty()) {
    std::string real = p != nullptr ? p->real_database : database;
    for (const auto& t : snap.targets) {
      if (t.kind != TargetKind::kPostgres) continue;
      auto offs = OffendersFor(snap, t.name, {"long_transaction", "idle_in_transaction", "blocker"},
                               real, rule);
      for (auto& o : offs) {
        if (SameDatabase(o.datname, real)) out.push_back(std::move(o));
      }
    }
    if (p == nullptr) {
      for (auto& o : OffendersFor(snap, target, {"waiting_client"}, database, rule)) {
        out.push_back(std::move(o));
      }
    }
  }
  return CauseFirst(std::move(out));
}

std::string Pct(double ratio) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f%%", ratio * 100);
  return buf;
}

std::string PoolHeadline(const Snapshot& snap, const std::string& target,
                         const std::string& database, const std::string& user, double ratio) {
  const PoolHolders* p = FindPool(snap, target, database, user);
  std::string h = "Pool " + database + "/" + user + " on " + target;
  if (p == nullptr) return h + " at " + Pct(ratio);
  bool saturated = p->pool_size > 0 && p->servers_in_use >= p->pool_size;
  h += saturated ? " saturated" : " at " + Pct(ratio);
  h += ": " + std::to_string(p->servers_in_use) + "/" +
       (p->pool_size > 0 ? std::to_string(p->pool_size) : std::string("?")) + " servers busy, " +
       std::to_string(p->waiting_clients) + " clients waiting";
  if (p->waiting_clients > 0) h += ", longest " + FormatValue(p->longest_wait_seconds, "seconds");
  if (p->real_database != database) h += " (database " + p->real_database + ")";
  return h;
}

/// The database's headline: what and where, no pid (the *Held by* list names each pid once).
std::string DatabaseHeadline(const std::string& what, const std::string& target,
                             const std::string& db, const std::vector<Offender>& offs,
                             double value) {
  int roots = 0, blocked = 0;
  for (const auto& o : offs) {
    if (o.blocks > 0) ++roots;
    if (IsVictim(o)) ++blocked;
  }
  if (roots > 0) {
    return "Lock chain in database " + db + " on " + target + ": " + std::to_string(roots) +
           " root blocker(s), " + std::to_string(blocked) + " backend(s) blocked, oldest " +
           "transaction " + FormatValue(value, "seconds");
  }
  return what + " in database " + db + " on " + target + ": oldest " +
         FormatValue(value, "seconds");
}

/// `offs` with the lock chains they root: each is annotated (what it blocks, its root) and the
/// backends blocked behind it are added, so a leak or a long transaction that holds a lock names
/// its victims too.
std::vector<Offender> WithChains(std::vector<Offender> offs, const TargetStatus* t) {
  if (t == nullptr) return offs;
  AnnotateChains(offs, t->offenders);
  std::set<int> roots;
  for (const auto& o : offs) {
    if (o.blocks > 0) roots.insert(o.pid);
  }
  for (const auto& o : t->offenders) {
    if (o.category != "blocked") continue;
    int root = RootBlockerOf(o.pid, t->offenders);
    if (root == 0 || !roots.count(root)) continue;
    Offender v = o;
    v.root_blocker = root;
    offs.push_back(std::move(v));
  }
  return offs;
}

/// One rule of the table below: how a sample of its metric becomes a series (or none).
struct RuleContext {
  const Snapshot& snap;
  const MetricSet& m;
  const RuleConfig& rule;
};
using Describe = std::optional<SeriesSpec> (*)(const RuleContext&, const Labels&, double);

std::optional<SeriesSpec> PoolUtilization(const RuleContext& c, const Labels& labels, double v) {
  SeriesSpec s;
  std::string target = LabelOf(labels, "target"), kind = LabelOf(labels, "kind");
  std::string db = LabelOf(labels, "database"), user = LabelOf(labels, "user");
  if (MatchesAny(db, c.rule.exclude_databases) && !db.empty()) return std::nullopt;
  s.target = target;
  s.database = db;
  s.user = user;
  s.labels = {{"target", target}, {"kind", kind}, {"database", db}, {"user", user}};
  s.value = v;
  s.unit = "ratio";
  s.what = kind == "pgbouncer_server"   ? "Server pool utilization"
           : kind == "pgbouncer_client" ? "Client connection utilization"
                                        : "Connection utilization";
  s.where = PoolWhere(target, db, user) + " (" + kind + ")";
  if (kind == "pgbouncer_server") {
    s.offenders = PoolOffenders(c.snap, target, db, user, c.rule);
    s.locus = "database " + RealDatabase(c.snap, target, db, user);
    s.headline = PoolHeadline(c.snap, target, db, user, v);
  } else {
    s.offenders = CauseFirst(OffendersFor(c.snap, target, {}, db, c.rule));
    s.locus = "target " + target;
    s.headline = s.what + " on " + target + " at " + Pct(v);
  }
  return s;
}

std::optional<SeriesSpec> ErrorRate(const RuleContext& c, const Labels& labels, double v) {
  std::string target = LabelOf(labels, "target"), kind = LabelOf(labels, "kind");
  auto events = c.m.Value(rule_metrics::kErrorEvents, {{"target", target}, {"kind", kind}});
  SeriesSpec s;
  s.target = target;
  s.labels = {{"target", target}, {"kind", kind}};
  s.value = v;
  s.unit = "ratio";
  s.what = "Error rate (" + kind + ")";
  s.where = "target " + target;
  s.locus = "target " + target;
  // Too few events to judge: an open alert neither resolves nor re-fires on noise. An empty
  // window (the traffic stopped) is no evidence of errors at all: the alert resolves, or it
  // would stay firing through every quiet night.
  // The target's own window: the one its ratio was computed over (a target the snapshot does not
  // list has the defaults, as its sampler would).
  const TargetStatus* t = FindTarget(c.snap, target);
  const ErrorWindow w = t != nullptr ? t->error_window : ErrorWindow{};
  s.hold = events && *events > 0 && *events < w.min_events;
  char buf[96];
  std::snprintf(buf, sizeof buf, "%.0f events in the last %s", events.value_or(0),
                HumanDuration(w.window).c_str());
  s.detail = buf;
  s.headline = "Error rate (" + kind + ") on " + target + " at " + Pct(v) + " (" + buf + ")";
  return s;
}

std::optional<SeriesSpec> ConnectionLeak(const RuleContext& c, const Labels& labels, double v) {
  std::string target = LabelOf(labels, "target"), kind = LabelOf(labels, "kind");
  SeriesSpec s;
  s.target = target;
  s.labels = {{"target", target}, {"kind", kind}};
  s.value = v;
  s.unit = "count";
  s.what = "Leaked connections (" + kind + ")";
  s.where = "target " + target;
  bool excluded_all = false;
  std::vector<std::string> cats;
  if (kind == "idle_in_transaction") cats = {"idle_in_transaction"};
  s.offenders = CauseFirst(WithChains(
      OffendersFor(c.snap, target, cats, "", c.rule, &excluded_all), FindTarget(c.snap, target)));
  if (excluded_all) return std::nullopt;
  // The database of the leaked sessions when they share one: the same incident as that
  // database's long transaction.
  std::set<std::string> dbs;
  for (const auto& o : s.offenders) {
    if (!IsVictim(o)) dbs.insert(o.datname);
  }
  s.locus = dbs.size() == 1 && !dbs.begin()->empty() ? "database " + *dbs.begin()
                                                     : "target " + target;
  s.headline = FormatValue(v, "count") + " leaked connection(s) (" + kind + ") on " + target;
  if (dbs.size() == 1 && !dbs.begin()->empty()) s.headline += " in database " + *dbs.begin();
  double oldest = 0;
  for (const auto& o : s.offenders) {
    if (!IsVictim(o)) oldest = std::max(oldest, o.state_age_seconds);
  }
  if (oldest > 0) s.headline += ", idle in transaction up to " + FormatValue(oldest, "seconds");
  return s;
}

std::optional<SeriesSpec> LongTransaction(const RuleContext& c, const Labels& labels, double v) {
  std::string target = LabelOf(labels, "target"), db = LabelOf(labels, "datname");
  if (MatchesAny(db, c.rule.exclude_databases)) return std::nullopt;
  SeriesSpec s;
  s.target = target;
  s.database = db;
  s.labels = {{"target", target}, {"database", db}};
  s.value = v;
  s.unit = "seconds";
  s.what = "Oldest transaction";
  s.where = PoolWhere(target, db, "");
  bool excluded_all = false;
  auto offs = OffendersFor(c.snap, target,
                           {"long_transaction", "idle_in_transaction", "blocker", "blocked"}, db,
                           c.rule, &excluded_all);
  if (excluded_all) return std::nullopt;
  s.offenders = CauseFirst(WithChains(std::move(offs), FindTarget(c.snap, target)));
  s.locus = "database " + db;
  s.headline = DatabaseHeadline("Long transaction", target, db, s.offenders, v);
  return s;
}

std::optional<SeriesSpec> ClientsWaiting(const RuleContext& c, const Labels& labels, double v) {
  std::string target = LabelOf(labels, "target"), db = LabelOf(labels, "database");
  std::string user = LabelOf(labels, "user");
  if (MatchesAny(db, c.rule.exclude_databases)) return std::nullopt;
  SeriesSpec s;
  s.target = target;
  s.database = db;
  s.user = user;
  s.labels = {{"target", target}, {"database", db}, {"user", user}};
  s.value = v;
  s.unit = "seconds";
  s.what = "Clients waiting for a server connection, longest wait";
  s.where = "pool ";
  s.where.append(db).append("/").append(user).append(" on target ").append(target);
  s.offenders = PoolOffenders(c.snap, target, db, user, c.rule);
  s.locus = "database " + RealDatabase(c.snap, target, db, user);
  auto ratio = c.m.Value(rule_metrics::kUtilization, {{"target", target},
                                                      {"kind", "pgbouncer_server"},
                                                      {"database", db},
                                                      {"user", user}});
  s.headline = PoolHeadline(c.snap, target, db, user, ratio.value_or(0));
  return s;
}

/// The metric ClientsWaiting reads: the fast-sampling peak sees waits a main sample would miss;
/// without it, SHOW POOLS' own maxwait.
const char* ClientsWaitingMetric(const MetricSet& m) {
  return m.Has(rule_metrics::kMaxwaitPeak) ? rule_metrics::kMaxwaitPeak : rule_metrics::kMaxwait;
}

/// Every built-in rule in one place: key (the YAML's alerts.rules.<key>), alert name, the metric
/// it reads (the same numbers /metrics shows), its defaults (the public thresholds the README
/// lists; the config keys are RuleConfig's: enabled, warning, critical, for, critical_for,
/// keep_firing_for, hysteresis, labels, runbook_url, exclude_*, overrides) and
/// its incident locus. TargetDown and SamplerStale read the targets and the clock, not a metric.
struct RuleSpec {
  const char* key;
  const char* alertname;
  const char* metric;  // nullptr: see `evaluate`
  const char* locus;   // documentation: which symptoms fold together
  RuleConfig (*defaults)();
  Describe describe;
};

RuleConfig Defaults(std::optional<double> warning, std::optional<double> critical,
                    AlertDuration for_duration, double hysteresis = 0.05,
                    std::optional<AlertDuration> critical_for = std::nullopt) {
  RuleConfig r;
  r.warning = warning;
  r.critical = critical;
  r.for_duration = for_duration;
  r.critical_for = critical_for;
  r.hysteresis = hysteresis;
  return r;
}

using std::chrono::minutes;

const std::vector<RuleSpec>& RuleTable() {
  static const std::vector<RuleSpec> kRules = {
      {"pool_utilization", "PoolUtilizationHigh", rule_metrics::kUtilization,
       "database behind the pool (a PgBouncer server pool); else the target",
       [] { return Defaults(0.80, 0.90, minutes(2), 0.05, minutes(1)); }, PoolUtilization},
      {"error_rate", "ErrorRateHigh", rule_metrics::kErrorRatio, "target",
       [] { return Defaults(0.05, std::nullopt, minutes(2)); }, ErrorRate},
      {"connection_leak", "ConnectionLeak", rule_metrics::kLeaks,
       "database of the leaked sessions when they share one; else the target",
       [] { return Defaults(0.0, std::nullopt, minutes(1), 0); }, ConnectionLeak},
      {"long_transaction", "LongTransaction", rule_metrics::kOldestTx, "database",
       [] { return Defaults(60.0, 300.0, minutes(1)); }, LongTransaction},
      {"clients_waiting", "ClientsWaiting", rule_metrics::kMaxwaitPeak, "database behind the pool",
       [] { return Defaults(5.0, 15.0, minutes(1)); }, ClientsWaiting},
      {"target_down", "TargetDown", nullptr, "target",
       [] { return Defaults(std::nullopt, 0.0, minutes(1), 0); }, nullptr},
      // critical 0 = 3 sampling intervals (at least 30s)
      {"sampler_stale", "SamplerStale", nullptr, "poolwatch itself",
       [] { return Defaults(std::nullopt, 0.0, AlertDuration(0), 0); }, nullptr},
  };
  return kRules;
}

}  // namespace

std::map<std::string, RuleConfig> AlertsConfig::DefaultRules() {
  std::map<std::string, RuleConfig> r;
  for (const auto& spec : RuleTable()) r[spec.key] = spec.defaults();
  return r;
}

std::string AlertNameOf(const std::string& rule_key) {
  for (const auto& spec : RuleTable()) {
    if (rule_key == spec.key) return spec.alertname;
  }
  return rule_key;
}

std::string SharedLocusPrefix(const std::string& target) { return "shared " + target + ": "; }

void AddFleetIdentity(Observation& o, const AlertsConfig& cfg) {
  auto t = o.alert.labels.find("target");
  bool shared = t != o.alert.labels.end() && cfg.shared_targets.count(t->second) > 0;
  if (shared && o.alert.locus.rfind(SharedLocusPrefix(t->second), 0) != 0) {
    o.alert.locus = SharedLocusPrefix(t->second) + o.alert.locus;
  }
  for (const auto& [k, v] : cfg.external_labels) {
    if (shared && (k == "pod" || k == "instance")) continue;
    o.alert.labels.emplace(k, v);  // a rule's own label wins
  }
}

namespace {
RuleOutput EvaluateRulesWithoutExternalLabels(const Snapshot& snap, const AlertsConfig& cfg);
}  // namespace

RuleOutput EvaluateRules(const Snapshot& snap, const AlertsConfig& cfg) {
  RuleOutput out = EvaluateRulesWithoutExternalLabels(snap, cfg);
  for (auto& o : out.observations) AddFleetIdentity(o, cfg);
  return out;
}

namespace {
RuleOutput EvaluateRulesWithoutExternalLabels(const Snapshot& snap, const AlertsConfig& cfg) {
  RuleOutput out;
  for (const auto& t : snap.targets) {
    // A standby's shared target is the holder's business: its alerts are held, never resolved.
    if (!t.up || t.role == "standby") out.down_targets.insert(t.name);
  }
  const MetricSet& m = snap.metrics;
  for (const auto& spec : RuleTable()) {
    auto it = cfg.rules.find(spec.key);
    if (it == cfg.rules.end() || !it->second.enabled || spec.describe == nullptr) continue;
    const RuleConfig& rule = it->second;
    const char* metric = spec.describe == ClientsWaiting ? ClientsWaitingMetric(m) : spec.metric;
    RuleContext ctx{snap, m, rule};
    for (const auto& [labels, v] : m.Samples(metric)) {
      std::optional<SeriesSpec> s = spec.describe(ctx, labels, v);
      if (!s) continue;
      s->rule_key = spec.key;
      Effective e = Resolve(rule, s->target, s->database, s->user);
      if (!e.enabled) continue;
      Emit(*s, rule, e, out);
    }
  }

  auto down = cfg.rules.find("target_down");
  if (down != cfg.rules.end() && down->second.enabled) {
    const RuleConfig* rule = &down->second;
    for (const auto& t : snap.targets) {
      if (t.up) continue;
      Effective e = Resolve(*rule, t.name, "", "");
      if (!e.enabled) continue;
      Observation o;
      o.above = true;
      o.for_duration = e.critical ? e.critical_for : e.warning_for;
      o.keep_firing_for = rule->keep_firing_for;
      Alert& a = o.alert;
      a.labels = {{"target", t.name}, {"kind", std::string(TargetKindName(t.kind))}};
      for (const auto& [k, v] : rule->labels) a.labels.emplace(k, v);
      a.labels["alertname"] = "TargetDown";
      a.labels["severity"] = e.critical ? "critical" : "warning";
      a.value = 1;
      a.unit = "";
      a.summary = "Target " + t.name + " (" + std::string(TargetKindName(t.kind)) +
                  ") is unreachable: " + std::string(DownReasonName(t.reason));
      a.detail = t.error;
      a.runbook_url = rule->runbook_url;
      a.locus = "target " + t.name;
      a.headline = "Target " + t.name + " (" + std::string(TargetKindName(t.kind)) +
                   ") is down: " + std::string(DownReasonName(t.reason));
      out.observations.push_back(std::move(o));
    }
  }
  return out;
}

}  // namespace

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
  o.alert.locus = "poolwatch";
  o.alert.headline = "poolwatch is stale: no sample completed for " +
                     FormatValue(age_seconds, "seconds");
  AddFleetIdentity(o, cfg);
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
