#include "pg_stat_activity.h"

#include <sstream>

namespace poolwatch {
namespace {

// One round trip: per database x state counts and oldest transaction, excluding our own
// backends, plus the connection limits as extra rows (datname NULL).
std::string ActivityQuery(const std::vector<int>& own_pids) {
  std::ostringstream pids;
  pids << "'{";
  for (std::size_t i = 0; i < own_pids.size(); ++i) pids << (i ? "," : "") << own_pids[i];
  pids << "}'::int[]";
  std::ostringstream q;
  q << "WITH a AS (SELECT datname, state, xact_start FROM pg_stat_activity "
       "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND NOT (pid = ANY("
    << pids.str()
    << "))) "
       "SELECT d.datname, s.state, count(a.state)::float8 AS count, "
       "coalesce(max(extract(epoch FROM now() - a.xact_start)), 0)::float8 AS max_tx_duration "
       "FROM pg_database d CROSS JOIN (VALUES ('active'), ('idle'), ('idle in transaction'), "
       "('idle in transaction (aborted)'), ('fastpath function call'), ('disabled')) s(state) "
       "LEFT JOIN a ON a.datname = d.datname AND a.state = s.state "
       "GROUP BY d.datname, s.state "
       "UNION ALL SELECT NULL, name, setting::float8, 0 FROM pg_settings "
       "WHERE name IN ('max_connections', 'superuser_reserved_connections') "
       "UNION ALL SELECT NULL, 'total', count(*)::float8, 0 FROM a";
  return q.str();
}

class PgStatActivityCollector final : public Collector {
 public:
  std::string_view Name() const override { return "pg_stat_activity"; }

  void Collect(Connection& conn, TargetSample& out) override {
    QueryResult r = conn.Query(ActivityQuery(out.own_pids));
    double total = 0;
    double max_conn = 0;
    double reserved = 0;
    std::map<std::string, double> by_state;
    for (int i = 0; i < r.Rows(); ++i) {
      auto datname = r.Text(i, "datname");
      std::string state = r.String(i, "state");
      double count = r.Number(i, "count").value_or(0);
      if (!datname) {
        if (state == "max_connections") max_conn = count;
        if (state == "superuser_reserved_connections") reserved = count;
        if (state == "total") total = count;
        continue;
      }
      Labels l = {{"target", out.target}, {"datname", std::string(*datname)}, {"state", state}};
      out.metrics.Gauge("pg_stat_activity_count", "number of connections in this state", l,
                        count);
      out.metrics.Gauge("pg_stat_activity_max_tx_duration",
                        "max duration in seconds any active transaction has been running", l,
                        r.Number(i, "max_tx_duration").value_or(0));
      by_state[state] += count;
    }
    Labels t = {{"target", out.target}};
    out.metrics.Gauge("pg_settings_max_connections",
                      "Sets the maximum number of concurrent connections.", t, max_conn);
    out.metrics.Gauge("pg_settings_superuser_reserved_connections",
                      "Sets the number of connection slots reserved for superusers.", t, reserved);
    out.metrics.Gauge("poolwatch_pg_client_backends",
                      "Client backends connected, poolwatch's own excluded.", t, total);
    std::ostringstream s;
    s << total << "/" << (max_conn - reserved) << " (active " << by_state["active"] << ", idle "
      << by_state["idle"] << ", idle in tx " << by_state["idle in transaction"] << ")";
    out.summary["connections"] = s.str();
  }
};

}  // namespace

const std::vector<std::string>& PgActivityStates() {
  static const std::vector<std::string> states = {
      "active", "idle", "idle in transaction", "idle in transaction (aborted)",
      "fastpath function call", "disabled"};
  return states;
}

std::unique_ptr<Collector> MakePgStatActivityCollector(const CollectorOptions&) {
  return std::make_unique<PgStatActivityCollector>();
}

}  // namespace poolwatch
