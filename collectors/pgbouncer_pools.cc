#include "collectors/pgbouncer_pools.h"

#include <sstream>

#include "collectors/pgbouncer_common.h"

namespace poolwatch {
namespace {

// SHOW POOLS columns -> pgbouncer_exporter gauge names.
constexpr PgbColumnMetric kPoolColumns[] = {
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

// Columns read but not mapped to a gauge of their own (cl_cancel_req: 1.16-1.17 only).
constexpr std::string_view kKnownPoolColumns[] = {"database",          "user",      "maxwait",
                                                  "maxwait_us",        "pool_mode", "cl_cancel_req",
                                                  "load_balance_hosts"};

// maxwait (whole seconds) plus maxwait_us (1.8+), as a float.
std::optional<double> MaxwaitSeconds(const QueryResult& r, int row) {
  auto mw = r.Number(row, "maxwait");
  if (!mw) return std::nullopt;
  return *mw + r.Number(row, "maxwait_us").value_or(0) / 1e6;
}

std::vector<PoolWaitTracker::Reading> Readings(const QueryResult& r) {
  std::vector<PoolWaitTracker::Reading> out;
  out.reserve(r.Rows());
  for (int i = 0; i < r.Rows(); ++i) {
    out.push_back({r.String(i, "database"), r.String(i, "user"),
                   r.Number(i, "cl_waiting").value_or(0), MaxwaitSeconds(r, i),
                   r.Number(i, "sv_active").value_or(0)});
  }
  return out;
}

class PgBouncerPoolsCollector final : public Collector {
 public:
  explicit PgBouncerPoolsCollector(const CollectorOptions& options) : options_(options) {}
  std::string_view Name() const override { return "pgbouncer_pools"; }

  void Collect(Connection& conn, TargetSample& out) override {
    QueryResult r = conn.Query("SHOW POOLS");
    ExportUnknownColumns(r, "pools", kKnownPoolColumns, kPoolColumns, out);
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
      if (auto seconds = MaxwaitSeconds(r, i)) {
        out.metrics.Gauge("pgbouncer_pools_client_maxwait_seconds",
                          "Age of oldest unserved client connection, in seconds", l, *seconds);
      }
      waiting += r.Number(i, "cl_waiting").value_or(0);
      active += r.Number(i, "cl_active").value_or(0);
      sv_active += r.Number(i, "sv_active").value_or(0);
      sv_idle += r.Number(i, "sv_idle").value_or(0);
    }
    if (options_.wait_tracker) ExportWaits(r, out);
    std::ostringstream s;
    s << r.Rows() << " pools; clients active " << active << ", waiting " << waiting
      << "; servers active " << sv_active << ", idle " << sv_idle;
    out.summary["pools"] = s.str();
    out.shared_results[std::string(pgb_results::kPools)] = std::move(r);
  }

 private:
  // The main sample's reading counts like a fast one; then the peaks since the previous main
  // sample are exported and reset.
  void ExportWaits(const QueryResult& r, TargetSample& out) {
    PoolWaitTracker& tracker = *options_.wait_tracker;
    tracker.Observe(CollectorClock(options_).Now(), Readings(r));
    for (const auto& [key, st] : tracker.TakePeaks()) {
      Labels l = {{"target", out.target}, {"database", key.first}, {"user", key.second}};
      out.metrics.Gauge("poolwatch_pgbouncer_waiting_clients_peak",
                        "Most clients waiting at once in the pool since the previous sample "
                        "(fast sampling included).",
                        l, st.peak_waiting);
      out.metrics.Gauge("poolwatch_pgbouncer_maxwait_peak_seconds",
                        "Longest wait of a client in the pool seen since the previous sample "
                        "(fast sampling included).",
                        l, st.peak_maxwait_seconds);
      out.metrics.Counter("poolwatch_pgbouncer_waiting_seconds_total",
                          "Seconds the pool spent with at least one waiting client.", l,
                          st.waiting_seconds_total);
      out.metrics.Gauge("poolwatch_pgbouncer_waiting_clients_window_peak",
                        Help("poolwatch_pgbouncer_waiting_clients_window_peak"), l,
                        st.window_peak_waiting);
      out.metrics.Gauge("poolwatch_pgbouncer_maxwait_window_peak_seconds",
                        Help("poolwatch_pgbouncer_maxwait_window_peak_seconds"), l,
                        st.window_peak_maxwait_seconds);
      out.metrics.Counter("poolwatch_pgbouncer_saturated_seconds_total",
                          Help("poolwatch_pgbouncer_saturated_seconds_total"), l,
                          st.saturated_seconds_total);
    }
  }

  CollectorOptions options_;
};

}  // namespace

std::unique_ptr<Collector> MakePgBouncerPoolsCollector(const CollectorOptions& options) {
  return std::make_unique<PgBouncerPoolsCollector>(options);
}

void SampleFastPools(Connection& conn, PoolWaitTracker& tracker, const Clock& clock) {
  QueryResult r = conn.Query("SHOW POOLS");
  tracker.Observe(clock.Now(), Readings(r));
}

}  // namespace poolwatch
