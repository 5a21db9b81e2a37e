#include "pgbouncer_pools.h"

#include <set>
#include <sstream>

namespace poolwatch {
namespace {

struct Column {
  std::string_view column;
  std::string_view metric;
  std::string_view help;
};

// SHOW POOLS columns -> pgbouncer_exporter gauge names (REFERENCE.md section 2).
constexpr Column kPoolColumns[] = {
    {"cl_active", "pgbouncer_pools_client_active_connections",
     "Client connections linked to server connection and able to process queries"},
    {"cl_waiting", "pgbouncer_pools_client_waiting_connections",
     "Client connections waiting on a server connection"},
    {"cl_active_cancel_req", "pgbouncer_pools_client_active_cancel_connections",
     "Client connections that have forwarded query cancellations to the server"},
    {"cl_waiting_cancel_req", "pgbouncer_pools_client_waiting_cancel_connections",
     "Client connections that have not forwarded query cancellations to the server yet"},
    {"sv_active", "pgbouncer_pools_server_active_connections",
     "Server connections linked to a client connection"},
    {"sv_active_cancel", "pgbouncer_pools_server_active_cancel_connections",
     "Server connections currently forwarding a cancel request"},
    {"sv_being_canceled", "pgbouncer_pools_server_being_canceled_connections",
     "Servers that normally could become idle but are waiting to do so until all in-flight "
     "cancel requests have completed"},
    {"sv_idle", "pgbouncer_pools_server_idle_connections",
     "Server connections idle and ready for a client query"},
    {"sv_used", "pgbouncer_pools_server_used_connections",
     "Server connections idle more than server_check_delay, needing server_check_query"},
    {"sv_tested", "pgbouncer_pools_server_testing_connections",
     "Server connections currently running either server_reset_query or server_check_query"},
    {"sv_login", "pgbouncer_pools_server_login_connections",
     "Server connections currently in the process of logging in"},
};

// Columns we read but do not map to a gauge of their own.
const std::set<std::string, std::less<>> kKnownOther = {"database", "user", "maxwait",
                                                        "maxwait_us", "pool_mode",
                                                        "cl_cancel_req", "load_balance_hosts"};

class PgBouncerPoolsCollector final : public Collector {
 public:
  std::string_view Name() const override { return "pgbouncer_pools"; }

  void Collect(Connection& conn, TargetSample& out) override {
    QueryResult r = conn.Query("SHOW POOLS");
    double unknown = 0;
    for (const auto& c : r.Columns()) {
      bool known = kKnownOther.count(c) > 0;
      for (const auto& pc : kPoolColumns) known = known || pc.column == c;
      if (!known) ++unknown;
    }
    out.metrics.Gauge("poolwatch_pgbouncer_unknown_columns",
                      "Columns of a SHOW command this poolwatch does not know (ignored).",
                      {{"target", out.target}, {"command", "pools"}}, unknown);
    double waiting = 0;
    double active = 0;
    double sv_active = 0;
    double sv_idle = 0;
    for (int i = 0; i < r.Rows(); ++i) {
      Labels l = {{"target", out.target},
                  {"database", r.String(i, "database")},
                  {"user", r.String(i, "user")}};
      for (const auto& pc : kPoolColumns) {
        if (auto v = r.Number(i, pc.column)) out.metrics.Gauge(pc.metric, pc.help, l, *v);
      }
      if (auto mw = r.Number(i, "maxwait")) {
        double seconds = *mw + r.Number(i, "maxwait_us").value_or(0) / 1e6;
        out.metrics.Gauge("pgbouncer_pools_client_maxwait_seconds",
                          "Age of oldest unserved client connection, in seconds", l, seconds);
      }
      waiting += r.Number(i, "cl_waiting").value_or(0);
      active += r.Number(i, "cl_active").value_or(0);
      sv_active += r.Number(i, "sv_active").value_or(0);
      sv_idle += r.Number(i, "sv_idle").value_or(0);
    }
    std::ostringstream s;
    s << r.Rows() << " pools; clients active " << active << ", waiting " << waiting
      << "; servers active " << sv_active << ", idle " << sv_idle;
    out.summary["pools"] = s.str();
  }
};

}  // namespace

std::unique_ptr<Collector> MakePgBouncerPoolsCollector(const CollectorOptions&) {
  return std::make_unique<PgBouncerPoolsCollector>();
}

}  // namespace poolwatch
