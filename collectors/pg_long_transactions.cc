#include "collectors/pg_long_transactions.h"

#include <algorithm>
#include <map>
#include <sstream>

#include "base/pattern.h"
#include "base/time.h"
#include "collectors/pg_stat_activity.h"
#include "collectors/sql_mask.h"

namespace poolwatch {

int LongTxQueryChars(const OffenderOptions& offenders) {
  return std::max(1024, offenders.query_length * 4);
}

std::string LongTxSourceColumns(int query_chars, const char* query_only_if) {
  std::string query = "NULL::text AS query";
  if (query_chars > 0) {
    query = "left(query, " + std::to_string(query_chars) + ")";
    if (query_only_if)
      query = "CASE WHEN " + std::string(query_only_if) + " THEN " + query + " END";
    query += " AS query";
  }
  return "pid, datid, usesysid, application_name, client_addr, state, backend_type, "
         "wait_event_type, wait_event, xact_start, state_change, query_start, backend_xmin, "
         "CASE WHEN wait_event_type = 'Lock' THEN pg_blocking_pids(pid) END AS blocked_by, " +
         query;
}

std::string LongTxColumns(const std::string& rel) {
  const std::string r = rel + ".";
  return r + "pid, " + r + "usename, " + r + "application_name, host(" + r +
         "client_addr) AS client_addr, " + r + "backend_type, " + r + "wait_event_type, " + r +
         "wait_event, extract(epoch FROM now() - " + r +
         "xact_start)::float8 AS xact_age, extract(epoch FROM now() - " + r +
         "state_change)::float8 AS state_age, extract(epoch FROM now() - " + r +
         "query_start)::float8 AS query_age, age(" + r + "backend_xmin)::float8 AS xmin_age, " +
         r + "blocked_by, " + r + "pid IN (SELECT pid FROM b) AS blocker, " + r + "query";
}

namespace {

// Every backend in a transaction, holding an xmin, waiting on a lock or blocking one, joined to
// the database list (FULL JOIN) so that every database gets its series even when quiet. The
// blockers come from pg_locks (a backend waits on a heavyweight lock, wait_event_type 'Lock',
// exactly when it has an ungranted pg_locks row), so pg_stat_activity is scanned once.
std::string LongTxQuery(const std::vector<int>& own_pids, int query_chars) {
  std::ostringstream q;
  q << "WITH b AS (SELECT DISTINCT unnest(pg_blocking_pids(pid)) AS pid FROM pg_locks "
       "WHERE NOT granted), "
       "s AS (SELECT datname, usename, "
    << LongTxSourceColumns(query_chars)
    << " FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND NOT (pid = ANY("
    << OwnPidsArray(own_pids) << ")) AND (" << kLongTxRowFilter << " OR pid IN (SELECT pid FROM b)"
    << ")) SELECT d.datname AS db, s.datname, s.state, " << LongTxColumns("s")
    << " FROM (SELECT datname FROM pg_database) d FULL JOIN s ON s.datname = d.datname";
  return q.str();
}

std::vector<int> ParseIntArray(std::string_view text) {
  std::vector<int> out;
  int cur = 0;
  bool in = false;
  for (char c : text) {
    if (c >= '0' && c <= '9') {
      cur = cur * 10 + (c - '0');
      in = true;
    } else {
      if (in) out.push_back(cur);
      cur = 0;
      in = false;
    }
  }
  if (in) out.push_back(cur);
  return out;
}

struct DbAges {
  double oldest_xact = 0;
  double oldest_idle_in_xact = 0;
  double oldest_active = 0;
  double oldest_xmin = 0;
};

class PgLongTransactionsCollector final : public Collector {
 public:
  explicit PgLongTransactionsCollector(const CollectorOptions& o)
      : lt_(o.long_transactions),
        off_(o.offenders),
        leak_timeout_(o.leak_timeout),
        feed_(o.activity_feeds_long_transactions) {}

  std::string_view Name() const override { return "pg_long_transactions"; }

  void Collect(Connection& conn, TargetSample& out) override {
    auto fed = feed_ ? out.shared_results.find(kPgActivityFeed) : out.shared_results.end();
    if (fed != out.shared_results.end()) {
      const QueryResult r = std::move(fed->second);
      out.shared_results.erase(fed);
      Read(r, "long", out);
    } else {
      Read(conn.Query(LongTxQuery(out.own_pids, LongTxQueryChars(off_))), nullptr, out);
    }
  }

 private:
  /// What one sample's rows add up to.
  struct Tally {
    std::map<std::string, DbAges> dbs;
    std::vector<double> over;  // per lt_.thresholds
    double compat_count = 0;   // postgres_exporter's pg_long_running_transactions
    double compat_oldest = 0;
    double leaks = 0;
    std::vector<Offender> long_tx, idle_tx, blockers, blocked;
  };

  // Reads `r`'s rows, or only those of `kind` (the pg_stat_activity collector's statement).
  void Read(const QueryResult& r, const char* kind, TargetSample& out) {
    Tally t;
    t.over.assign(lt_.thresholds.size(), 0);
    for (int i = 0; i < r.Rows(); ++i) {
      if (kind != nullptr && r.Text(i, "kind") != kind) continue;
      Count(r, i, t, out);
    }
    Export(t, out);
    Summarize(t, out);
    AddOffenders(std::move(t), out);
  }

  /// One row: a database (every database has a row) and, when it has one, a backend.
  void Count(const QueryResult& r, int i, Tally& t, TargetSample& out) const {
    if (auto db = r.Text(i, "db")) t.dbs[std::string(*db)];
    auto pid = r.Number(i, "pid");
    if (!pid) return;  // a database with no such backend
    if (Excluded(r.String(i, "backend_type"), r.String(i, "application_name"))) return;
    const std::string datname = r.String(i, "datname");
    const std::string state = r.String(i, "state");
    const auto xact_age = r.Number(i, "xact_age");
    const double state_age = r.Number(i, "state_age").value_or(0);
    const bool idle_in_tx = state.rfind("idle in transaction", 0) == 0;
    DbAges* ages = datname.empty() ? nullptr : &t.dbs[datname];
    if (xact_age) {
      for (std::size_t k = 0; k < lt_.thresholds.size(); ++k) {
        if (*xact_age > Seconds(lt_.thresholds[k])) ++t.over[k];
      }
      if (*xact_age > Seconds(lt_.threshold) && state != "idle") {
        ++t.compat_count;
        t.compat_oldest = std::max(t.compat_oldest, *xact_age);
      }
      if (ages) ages->oldest_xact = std::max(ages->oldest_xact, *xact_age);
    }
    if (idle_in_tx) {
      if (ages) ages->oldest_idle_in_xact = std::max(ages->oldest_idle_in_xact, state_age);
      if (state_age > Seconds(leak_timeout_)) ++t.leaks;
    }
    if (state == "active" && ages) {
      ages->oldest_active = std::max(ages->oldest_active, r.Number(i, "query_age").value_or(0));
    }
    if (auto xmin = r.Number(i, "xmin_age"); xmin && ages) {
      ages->oldest_xmin = std::max(ages->oldest_xmin, *xmin);
    }

    Offender o = MakeOffender(r, i);
    o.pid = static_cast<int>(*pid);
    out.backends.push_back(o);  // for the holder chain (collectors/holders.h)
    if (xact_age) t.long_tx.push_back(o);
    if (idle_in_tx) t.idle_tx.push_back(o);
    if (r.String(i, "blocker") == "t") t.blockers.push_back(o);
    if (!o.blocked_by.empty()) t.blocked.push_back(o);
  }

  void Export(const Tally& t, TargetSample& out) const {
    const Labels target = {{"target", out.target}};
    auto& m = out.metrics;
    m.Gauge("pg_long_running_transactions",
            "Current number of long running transactions (over long_transactions.threshold).",
            target, t.compat_count);
    m.Gauge("pg_long_running_transactions_oldest_timestamp_seconds",
            "The current maximum transaction age in seconds (an age, despite the name).", target,
            t.compat_oldest);
    for (std::size_t k = 0; k < lt_.thresholds.size(); ++k) {
      m.Gauge("poolwatch_pg_transactions_over_threshold",
              "Transactions open longer than the threshold (exclusions applied).",
              {{"target", out.target}, {"threshold", DurationLabel(lt_.thresholds[k])}}, t.over[k]);
    }
    for (const auto& [db, a] : t.dbs) {
      Labels l = {{"target", out.target}, {"datname", db}};
      m.Gauge("poolwatch_pg_oldest_transaction_age_seconds",
              "Age of the oldest open transaction (0 when none).", l, a.oldest_xact);
      m.Gauge("poolwatch_pg_oldest_idle_in_transaction_age_seconds",
              "How long the longest idle-in-transaction backend has been idle (0 when none).", l,
              a.oldest_idle_in_xact);
      m.Gauge("poolwatch_pg_oldest_active_query_age_seconds",
              "Age of the oldest running query (0 when none).", l, a.oldest_active);
      m.Gauge("poolwatch_pg_oldest_xmin_age_transactions",
              "Age in transactions of the oldest backend_xmin (what holds back vacuum).", l,
              a.oldest_xmin);
    }
    m.Gauge("poolwatch_connection_leaks", Help("poolwatch_connection_leaks"),
            {{"target", out.target}, {"kind", "idle_in_transaction"}}, t.leaks);
  }

  void Summarize(const Tally& t, TargetSample& out) const {
    std::ostringstream s;
    s << t.compat_count << " over " << DurationLabel(lt_.threshold) << ", " << t.leaks
      << " idle in tx over " << DurationLabel(leak_timeout_) << ", " << t.blocked.size()
      << " blocked";
    out.summary["long transactions"] = s.str();
  }

  void AddOffenders(Tally t, TargetSample& out) const {
    AddTop(std::move(t.long_tx), "long_transaction", &Offender::xact_age_seconds, out);
    AddTop(std::move(t.idle_tx), "idle_in_transaction", &Offender::state_age_seconds, out);
    // Every blocker and blocked backend (a blocking chain is short; its whole is the story).
    for (auto& o : t.blockers) {
      o.category = "blocker";
      out.offenders.push_back(std::move(o));
    }
    for (auto& o : t.blocked) {
      o.category = "blocked";
      out.offenders.push_back(std::move(o));
    }
  }

  bool Excluded(const std::string& backend_type, const std::string& app) const {
    for (const auto& b : lt_.exclude_backend_types) {
      if (b == backend_type) return true;
    }
    for (const auto& p : lt_.exclude_application_names) {
      if (GlobMatch(p, app)) return true;
    }
    return false;
  }

  Offender MakeOffender(const QueryResult& r, int i) const {
    Offender o;
    o.datname = r.String(i, "datname");
    o.usename = r.String(i, "usename");
    o.application_name = r.String(i, "application_name");
    o.client_addr = r.String(i, "client_addr");
    o.state = r.String(i, "state");
    std::string wt = r.String(i, "wait_event_type");
    std::string we = r.String(i, "wait_event");
    o.wait_event = wt.empty() ? we : wt + ":" + we;
    o.xact_age_seconds = r.Number(i, "xact_age").value_or(0);
    o.state_age_seconds = r.Number(i, "state_age").value_or(0);
    o.blocked_by = ParseIntArray(r.String(i, "blocked_by"));
    o.query = SanitizeQuery(r.String(i, "query"), off_.query_length, off_.mask_literals);
    return o;
  }

  void AddTop(std::vector<Offender> v, const char* category, double Offender::*age,
              TargetSample& out) const {
    std::stable_sort(v.begin(), v.end(),
                     [age](const Offender& a, const Offender& b) { return a.*age > b.*age; });
    const std::size_t n = std::min(v.size(), static_cast<std::size_t>(std::max(0, off_.top)));
    for (std::size_t k = 0; k < n; ++k) {
      v[k].category = category;
      out.offenders.push_back(std::move(v[k]));
    }
  }

  LongTransactionOptions lt_;
  OffenderOptions off_;
  std::chrono::milliseconds leak_timeout_;
  bool feed_;
};

}  // namespace

std::unique_ptr<Collector> MakePgLongTransactionsCollector(const CollectorOptions& options) {
  return std::make_unique<PgLongTransactionsCollector>(options);
}

}  // namespace poolwatch
