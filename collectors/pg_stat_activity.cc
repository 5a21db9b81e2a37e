#include "collectors/pg_stat_activity.h"

#include <algorithm>
#include <map>
#include <optional>
#include <sstream>
#include <utility>

#include "base/pattern.h"
#include "collectors/pg_long_transactions.h"
#include "collectors/sql_mask.h"

namespace poolwatch {

std::string PidsArrayText(const std::vector<int>& own_pids) {
  std::ostringstream pids;
  pids << "{";
  for (std::size_t i = 0; i < own_pids.size(); ++i) pids << (i ? "," : "") << own_pids[i];
  pids << "}";
  return pids.str();
}

std::string OwnPidsArray(const std::vector<int>& own_pids) {
  return "'" + PidsArrayText(own_pids) + "'::int[]";
}

namespace {

constexpr char kOther[] = "other";

// The server parameters exported as pg_settings_<name>[_bytes|_seconds], postgres_exporter's
// names: the ones a connection, lock or memory panel divides by or shows. Only numeric and bool
// parameters (postgres_exporter skips enum and string ones too).
constexpr const char* kWatchedSettings[] = {
    "max_connections",
    "superuser_reserved_connections",
    "max_locks_per_transaction",
    "max_pred_locks_per_transaction",
    "max_prepared_transactions",
    "max_worker_processes",
    "max_parallel_workers",
    "max_parallel_workers_per_gather",
    "max_wal_senders",
    "max_replication_slots",
    "shared_buffers",
    "effective_cache_size",
    "work_mem",
    "maintenance_work_mem",
    "max_wal_size",
    "min_wal_size",
    "random_page_cost",
    "seq_page_cost",
    "autovacuum_max_workers",
    "autovacuum_vacuum_threshold",
    "autovacuum_analyze_threshold",
    "autovacuum_vacuum_scale_factor",
    "autovacuum_analyze_scale_factor",
    "statement_timeout",
    "lock_timeout",
    "idle_in_transaction_session_timeout",
    "deadlock_timeout",
    "transaction_read_only",
};

std::string SettingNames() {
  std::string out;
  for (const char* n : kWatchedSettings) out += std::string(out.empty() ? "'" : ", '") + n + "'";
  return out;
}

// pg_settings' `unit` as postgres_exporter converts it: a factor to bytes or seconds and the
// metric suffix; {1, ""} when the parameter has no unit.
std::pair<double, const char*> SettingUnit(const std::string& unit) {
  static const std::map<std::string, std::pair<double, const char*>> units = {
      {"B", {1, "_bytes"}},
      {"kB", {1024, "_bytes"}},
      {"8kB", {8192, "_bytes"}},
      {"16kB", {16384, "_bytes"}},
      {"MB", {1048576, "_bytes"}},
      {"16MB", {16777216, "_bytes"}},
      {"GB", {1073741824, "_bytes"}},
      {"ms", {0.001, "_seconds"}},
      {"s", {1, "_seconds"}},
      {"min", {60, "_seconds"}},
      {"h", {3600, "_seconds"}},
      {"d", {86400, "_seconds"}},
  };
  auto it = units.find(unit);
  return it == units.end() ? std::pair<double, const char*>{1, ""} : it->second;
}

// "15.4.0" from server_version_num 150004 (postgres_exporter's short_version, a semver).
std::string ShortVersion(const std::string& num) {
  long v = 0;
  try {
    v = std::stol(num);
  } catch (const std::exception&) {
    return "";
  }
  std::ostringstream out;
  if (v >= 100000) {
    out << v / 10000 << "." << v % 10000 << ".0";
  } else {
    out << v / 10000 << "." << (v / 100) % 100 << "." << v % 100;
  }
  return out.str();
}

// What the session's parameters depend on besides SET (which poolwatch never sends): the last
// configuration reload this backend processed and whether the server is in recovery
// (transaction_read_only). The collector keeps the pg_settings rows of a backend and re-reads
// them only when this changes.
constexpr char kSettingsKey[] = "pg_conf_load_time()::text || ' ' || pg_is_in_recovery()::text";

// The long rows' columns, NULL in every other part (typed: UNION ALL resolves types branch by
// branch).
constexpr char kNoLongColumns[] =
    ", NULL::name AS db, NULL::int AS pid, NULL::name AS usename, NULL::text AS application_name, "
    "NULL::text AS client_addr, NULL::text AS backend_type, NULL::text AS wait_event_type, "
    "NULL::text AS wait_event, NULL::float8 AS xact_age, NULL::float8 AS state_age, "
    "NULL::float8 AS query_age, NULL::float8 AS xmin_age, NULL::int[] AS blocked_by, "
    "NULL::bool AS blocker, NULL::text AS query";

// One round trip, one scan of pg_stat_activity: the CTE `a` (every backend but poolwatch's own;
// referenced several times, so PostgreSQL 12+ materializes it, and older versions always do)
// feeds every part. It calls pg_stat_get_activity(NULL), the function under the pg_stat_activity
// view, without the view's per-backend joins to pg_database and pg_authid: the parts aggregate by
// datid / usesysid first and join the names to the few groups (the "long" rows join theirs). On
// PostgreSQL 15 at 1000 backends that saves a quarter of the statement's execution.
// `a` is read as few times as it can be, because each pass over its rows costs about as much as
// a small statement at 2000 backends: `g` groups it once by (database, state, client backend or
// not) for the state grid, the totals and the lock counts; `l0` keeps the rows the long parts
// need (kLongTxRowFilter, `lf`: the only rows whose query text is copied), `b` the pids blocking
// one of them, and `a` is read again only when something is blocked (for blockers that are
// otherwise idle, e.g. holding a session-level advisory lock).
// Rows by `kind`: "state" (database x state grid with zero rows), "setting"
// (kWatchedSettings: key = name, state = unit), "static" (state = version(), key =
// server_version_num, count = postmaster start time), "total" (client backends; value = backends
// in a database this role may not inspect: without pg_read_all_stats even their backend_type is
// NULL), "lock" (per database: count = client backends waiting on a lock, value = blocked by
// another backend), the optional breakdowns "usename" / "application_name" (key x state), and
// with `long_query_chars` > 0 pg_long_transactions' rows ("long": its columns, see
// pg_long_transactions.h, `db` from the FULL JOIN with the database list). pg_blocking_pids() is
// only called for backends that wait on a lock, once each, so it costs nothing when nothing waits.
// The text depends on the configuration and on whether the settings are cached (`gated`), not
// on the sample: own pids are $1 (int[]) and the cached settings key $2, so the statement is
// prepared once per session (its parse and plan cost about a millisecond at every sample).
std::string ActivityQuery(const std::vector<std::string>& by, int long_query_chars, bool gated) {
  const bool with_long = long_query_chars > 0;
  const std::string pad = with_long ? kNoLongColumns : "";
  const std::string lf = std::string("(") + kLongTxRowFilter + ")";
  constexpr char kClient[] = "backend_type = 'client backend'";
  std::ostringstream q;
  q << "WITH a AS (SELECT " << LongTxSourceColumns(with_long ? long_query_chars : 0, lf.c_str())
    << ", " << lf
    << " AS lf FROM pg_stat_get_activity(NULL) WHERE pid <> pg_backend_pid() AND NOT (pid = ANY("
    << "$1::int[]))), "
    << "g AS (SELECT datid, state, " << kClient
    << " AS client, count(*) AS n, max(extract(epoch FROM now() - xact_start)) AS age, "
       "count(*) FILTER (WHERE wait_event_type = 'Lock') AS waiting, "
       "count(*) FILTER (WHERE cardinality(blocked_by) > 0) AS blocked, "
       "count(*) FILTER (WHERE backend_type IS NULL AND datid IS NOT NULL) AS invisible "
       "FROM a GROUP BY 1, 2, 3)";
  if (with_long) {
    q << ", l0 AS (SELECT * FROM a WHERE lf), b AS (SELECT DISTINCT unnest(blocked_by) AS pid "
         "FROM l0), la AS (SELECT * FROM l0 UNION ALL SELECT * FROM a WHERE NOT lf AND "
         "EXISTS (SELECT 1 FROM b) AND pid IN (SELECT pid FROM b))";
  }
  q << " SELECT 'state' AS kind, d.datname, s.state, NULL::text AS key, "
       "coalesce(g.n, 0)::float8 AS count, coalesce(g.age, 0)::float8 AS value"
    << pad
    << " FROM pg_database d CROSS JOIN (VALUES ('active'), ('idle'), ('idle in transaction'), "
       "('idle in transaction (aborted)'), ('fastpath function call'), ('disabled')) s(state) "
       "LEFT JOIN g ON g.datid = d.oid AND g.state = s.state AND g.client "
       "UNION ALL SELECT 'setting', NULL, unit, name, CASE WHEN vartype = 'bool' THEN "
       "(setting = 'on')::int::float8 ELSE setting::float8 END, 0"
    << pad << " FROM pg_settings WHERE vartype IN ('bool', 'integer', 'real') AND name IN ("
    << SettingNames() << ")";
  if (gated) {
    // An InitPlan, so a one-time filter: pg_settings (every parameter, formatted: a millisecond
    // a sample) is not read at all while the key ($2, a value this server returned) is unchanged.
    q << " AND (SELECT " << kSettingsKey << ") IS DISTINCT FROM $2::text";
  }
  q << " UNION ALL SELECT 'static', NULL, version(), current_setting('server_version_num'), "
       "extract(epoch FROM pg_postmaster_start_time())::float8, 0"
    << pad << " UNION ALL SELECT 'conf', NULL, NULL, " << kSettingsKey << ", 0, 0" << pad
    << " UNION ALL SELECT 'total', NULL, NULL, NULL, coalesce(sum(n) FILTER (WHERE client), "
       "0)::float8, coalesce(sum(invisible), 0)::float8"
    << pad
    << " FROM g UNION ALL SELECT 'lock', d.datname, NULL, NULL, coalesce(k.waiting, 0)::float8, "
       "coalesce(k.blocked, 0)::float8"
    << pad
    << " FROM pg_database d LEFT JOIN (SELECT datid, sum(waiting) AS waiting, sum(blocked) AS "
       "blocked FROM g WHERE client GROUP BY datid) k ON k.datid = d.oid";
  for (const auto& col : by) {
    // `col` is one of two fixed column names (validated by the config loader and again here).
    if (col == "usename") {
      q << " UNION ALL SELECT 'usename', NULL, coalesce(state, ''), coalesce(usename, ''), "
           "sum(n)::float8, 0"
        << pad
        << " FROM (SELECT r.rolname AS usename, u.state, u.n FROM (SELECT usesysid, state, "
           "count(*) AS n FROM a WHERE "
        << kClient
        << " GROUP BY 1, 2) u LEFT JOIN pg_roles r ON r.oid = u.usesysid) x GROUP BY 3, 4";
    } else if (col == "application_name") {
      q << " UNION ALL SELECT 'application_name', NULL, coalesce(state, ''), "
           "coalesce(application_name, ''), count(*)::float8, 0"
        << pad << " FROM a WHERE " << kClient << " GROUP BY 3, 4";
    }
  }
  if (with_long) {
    q << " UNION ALL SELECT 'long', l.datname, l.state, NULL, NULL, NULL, d.datname, "
      << LongTxColumns("l")
      << " FROM (SELECT datname FROM pg_database) d FULL JOIN (SELECT la.*, ld.datname, "
         "r.rolname AS usename FROM la LEFT JOIN pg_database ld ON ld.oid = la.datid "
         "LEFT JOIN pg_roles r ON r.oid = la.usesysid) l ON l.datname = d.datname";
  }
  return q.str();
}

class PgStatActivityCollector final : public Collector {
 public:
  explicit PgStatActivityCollector(const CollectorOptions& o)
      : opts_(o.activity_breakdown),
        long_query_chars_(o.activity_feeds_long_transactions ? LongTxQueryChars(o.offenders)
                                                             : 0) {}

  std::string_view Name() const override { return "pg_stat_activity"; }

  void Collect(Connection& conn, TargetSample& out) override {
    const int pid = conn.BackendPid();
    const bool cached = pid != 0 && pid == settings_pid_ && !settings_key_.empty();
    std::vector<std::optional<std::string>> params = {PidsArrayText(out.own_pids)};
    if (cached) params.emplace_back(settings_key_);
    QueryResult r = conn.QueryPrepared(ActivityQuery(opts_.by, long_query_chars_, cached), params);
    std::vector<Setting> settings;
    std::string key;
    double total = 0;
    double invisible = 0;
    double max_conn = 0;
    double reserved = 0;
    std::map<std::string, double> by_state;
    // family -> (value, state) -> count
    std::map<std::string, std::map<std::pair<std::string, std::string>, double>> breakdown;
    const Labels t = {{"target", out.target}};
    for (int i = 0; i < r.Rows(); ++i) {
      const std::string kind = r.String(i, "kind");
      const std::string datname = r.String(i, "datname");
      const std::string state = r.String(i, "state");
      const std::string r_key = r.String(i, "key");
      const double count = r.Number(i, "count").value_or(0);
      const double value = r.Number(i, "value").value_or(0);
      if (kind == "setting") {
        settings.push_back({r_key, state, count});
      } else if (kind == "conf") {
        key = r_key;
      } else if (kind == "static") {
        out.metrics.Gauge("pg_static", "Version string as reported by postgres",
                          {{"target", out.target},
                           {"version", state},
                           {"short_version", ShortVersion(r_key)}},
                          1);
        out.metrics.Gauge("pg_postmaster_start_time_seconds",
                          "Time at which postmaster started", t, count);
      } else if (kind == "total") {
        total = count;
        invisible = value;
      } else if (kind == "state") {
        Labels l = {{"target", out.target}, {"datname", datname}, {"state", state}};
        out.metrics.Gauge("pg_stat_activity_count", "number of connections in this state", l,
                          count);
        out.metrics.Gauge("pg_stat_activity_max_tx_duration",
                          "max duration in seconds any active transaction has been running", l,
                          value);
        by_state[state] += count;
      } else if (kind == "lock") {
        Labels l = {{"target", out.target}, {"datname", datname}};
        out.metrics.Gauge("poolwatch_pg_lock_waiting_backends",
                          "Client backends waiting on a heavyweight lock.", l, count);
        out.metrics.Gauge("poolwatch_pg_blocked_backends",
                          "Client backends blocked by another backend (pg_blocking_pids).", l,
                          value);
      } else if (kind == "usename" || kind == "application_name") {
        breakdown[kind][{r_key, state}] += count;
      }
    }
    if (!settings.empty() || !cached || key != settings_key_) {
      // Read this sample (first sample on this backend, or the key changed): keep them.
      settings_ = std::move(settings);
      settings_pid_ = pid;
      settings_key_ = key;
    }
    for (const auto& st : settings_) {
      if (st.name == "max_connections") max_conn = st.value;
      if (st.name == "superuser_reserved_connections") reserved = st.value;
      const auto [factor, suffix] = SettingUnit(st.unit);
      out.metrics.Gauge("pg_settings_" + st.name + suffix, "Server Parameter: " + st.name, t,
                        st.value * factor);
    }
    out.metrics.Gauge("poolwatch_pg_client_backends",
                      "Client backends connected, poolwatch's own excluded.", t, total);
    out.metrics.Gauge("poolwatch_pg_invisible_backends",
                      "Backends in a database this role may not inspect (grant pg_monitor).", t,
                      invisible);
    const double usable = max_conn - reserved;
    out.metrics.Gauge(
        "poolwatch_pool_utilization_ratio", Help("poolwatch_pool_utilization_ratio"),
        {{"target", out.target}, {"kind", "postgres"}, {"database", ""}, {"user", ""}},
        usable > 0 ? total / usable : 0);
    for (const auto& col : opts_.by) EmitBreakdown(col, breakdown[col], out);

    std::ostringstream s;
    s << total << "/" << usable << " (active " << by_state["active"] << ", idle "
      << by_state["idle"] << ", idle in tx " << by_state["idle in transaction"] << ")";
    out.summary["connections"] = s.str();
    if (long_query_chars_ > 0) {
      out.shared_results.insert_or_assign(std::string(kPgActivityFeed), std::move(r));
    }
  }

 private:
  bool Allowed(const std::string& v) const {
    if (opts_.allow.empty()) return true;
    return std::any_of(opts_.allow.begin(), opts_.allow.end(),
                       [&](const std::string& p) { return GlobMatch(p, v); });
  }

  void EmitBreakdown(const std::string& col,
                     const std::map<std::pair<std::string, std::string>, double>& rows,
                     TargetSample& out) {
    const std::string family = "poolwatch_pg_backends_by_" + col;
    // Values outside the allow-list are folded into "other" before the cap applies.
    std::map<std::pair<std::string, std::string>, double> folded;
    for (const auto& [k, v] : rows) {
      folded[{Allowed(k.first) ? k.first : kOther, k.second}] += v;
    }
    std::vector<std::pair<std::pair<std::string, std::string>, double>> series(folded.begin(),
                                                                               folded.end());
    // Keep the biggest series when over the cap.
    std::stable_sort(series.begin(), series.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    const std::size_t cap = static_cast<std::size_t>(std::max(0, opts_.max_series));
    double dropped = 0;
    out.metrics.Declare(family, "Client backends by " + col + " and state (allow-listed, capped).",
                        prometheus::MetricType::Gauge);
    for (std::size_t i = 0; i < series.size(); ++i) {
      if (i >= cap) {
        ++dropped;
        continue;
      }
      out.metrics.Gauge(
          family, "Client backends by " + col + " and state (allow-listed, capped).",
          {{"target", out.target}, {col, series[i].first.first}, {"state", series[i].first.second}},
          series[i].second);
    }
    dropped_[family] += dropped;
    out.metrics.Counter("poolwatch_dropped_series_total",
                        "Series left out because a family reached its series cap.",
                        {{"target", out.target}, {"family", family}}, dropped_[family]);
  }

  struct Setting {
    std::string name;
    std::string unit;
    double value = 0;
  };

  ActivityBreakdownOptions opts_;
  // The pg_settings rows last read, on which backend, under which kSettingsKey value.
  std::vector<Setting> settings_;
  int settings_pid_ = 0;
  std::string settings_key_;
  int long_query_chars_;  // > 0: the statement also reads pg_long_transactions' rows
  std::map<std::string, double> dropped_;
};

}  // namespace

std::unique_ptr<Collector> MakePgStatActivityCollector(const CollectorOptions& options) {
  return std::make_unique<PgStatActivityCollector>(options);
}

}  // namespace poolwatch
