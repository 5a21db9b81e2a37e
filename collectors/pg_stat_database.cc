#include "collectors/pg_stat_database.h"

#include <sstream>

#include "collectors/pg_stat_activity.h"
#include "collectors/sliding_window.h"

namespace poolwatch {
namespace {

// numbackends minus poolwatch's own backends, counted per database from the backend status
// array (pg_stat_get_backend_idset / _pid / _dbid: a lookup by index each, no permission check),
// not from pg_stat_activity, whose every scan costs O(backends^2) on the server
// (pg_stat_get_activity finds each backend's PGPROC by a linear search). Same snapshot as
// numbackends: the statement reads the status array once.
std::string DatabaseQuery(const std::vector<int>& own_pids, bool sessions) {
  std::ostringstream q;
  q << "SELECT s.datid, s.datname, (s.numbackends - coalesce(o.n, 0))::float8 AS numbackends, "
       "s.xact_commit, s.xact_rollback, s.blks_read, s.blks_hit, "
       "s.tup_returned, s.tup_fetched, s.tup_inserted, s.tup_updated, s.tup_deleted, "
       "s.conflicts, s.temp_files, s.temp_bytes, s.deadlocks, s.blk_read_time, s.blk_write_time";
  if (sessions) q << ", s.sessions, s.sessions_abandoned, s.sessions_fatal, s.sessions_killed";
  q << " FROM pg_stat_database s LEFT JOIN (SELECT pg_stat_get_backend_dbid(i) AS datid, "
       "count(*) AS n FROM pg_stat_get_backend_idset() i WHERE pg_stat_get_backend_pid(i) = "
       "pg_backend_pid() OR pg_stat_get_backend_pid(i) = ANY("
    << OwnPidsArray(own_pids)
    << ") GROUP BY 1) o ON o.datid = s.datid WHERE s.datname IS NOT NULL";
  return q.str();
}

struct Column {
  const char* column;
  const char* metric;
  const char* help;
  bool counter;
};

constexpr Column kColumns[] = {
    {"numbackends", "pg_stat_database_numbackends",
     "Number of backends currently connected to this database (poolwatch's own excluded)", false},
    {"xact_commit", "pg_stat_database_xact_commit",
     "Number of transactions in this database that have been committed", true},
    {"xact_rollback", "pg_stat_database_xact_rollback",
     "Number of transactions in this database that have been rolled back", true},
    {"blks_read", "pg_stat_database_blks_read",
     "Number of disk blocks read in this database", true},
    {"blks_hit", "pg_stat_database_blks_hit",
     "Number of times disk blocks were found already in the buffer cache, so that a read was not "
     "necessary (this only includes hits in the PostgreSQL buffer cache, not the operating "
     "system's file system cache)",
     true},
    {"tup_returned", "pg_stat_database_tup_returned",
     "Number of rows returned by queries in this database", true},
    {"tup_fetched", "pg_stat_database_tup_fetched",
     "Number of rows fetched by queries in this database", true},
    {"tup_inserted", "pg_stat_database_tup_inserted",
     "Number of rows inserted by queries in this database", true},
    {"tup_updated", "pg_stat_database_tup_updated",
     "Number of rows updated by queries in this database", true},
    {"tup_deleted", "pg_stat_database_tup_deleted",
     "Number of rows deleted by queries in this database", true},
    {"conflicts", "pg_stat_database_conflicts",
     "Number of queries canceled due to conflicts with recovery in this database. (Conflicts "
     "occur only on standby servers; see pg_stat_database_conflicts for details.)",
     true},
    {"temp_files", "pg_stat_database_temp_files",
     "Number of temporary files created by queries in this database", true},
    {"temp_bytes", "pg_stat_database_temp_bytes",
     "Total amount of data written to temporary files by queries in this database", true},
    {"deadlocks", "pg_stat_database_deadlocks", "Number of deadlocks detected in this database",
     true},
    {"blk_read_time", "pg_stat_database_blk_read_time",
     "Time spent reading data file blocks by backends in this database, in milliseconds", true},
    {"blk_write_time", "pg_stat_database_blk_write_time",
     "Time spent writing data file blocks by backends in this database, in milliseconds", true},
    {"sessions", "pg_stat_database_sessions",
     "Total number of sessions established to this database (PostgreSQL 14+)", true},
    {"sessions_abandoned", "pg_stat_database_sessions_abandoned",
     "Sessions terminated because connection to the client was lost (PostgreSQL 14+)", true},
    {"sessions_fatal", "pg_stat_database_sessions_fatal",
     "Sessions terminated by fatal errors (PostgreSQL 14+)", true},
    {"sessions_killed", "pg_stat_database_sessions_killed",
     "Sessions terminated by operator intervention (PostgreSQL 14+)", true},
};

class PgStatDatabaseCollector final : public Collector {
 public:
  explicit PgStatDatabaseCollector(const CollectorOptions& o)
      : clock_(o.clock),
        rollback_(o.error_window.window.count() / 1000.0, o.error_window.min_events),
        session_(o.error_window.window.count() / 1000.0, o.error_window.min_events) {}

  std::string_view Name() const override { return "pg_stat_database"; }

  void Collect(Connection& conn, TargetSample& out) override {
    const bool sessions = conn.ServerVersion() >= 140000;
    QueryResult r = conn.Query(DatabaseQuery(out.own_pids, sessions));
    const double now = NowSeconds();
    double commits = 0, rollbacks = 0, sess = 0, sess_errors = 0;
    for (int i = 0; i < r.Rows(); ++i) {
      Labels l = {{"target", out.target},
                  {"datid", r.String(i, "datid")},
                  {"datname", r.String(i, "datname")}};
      for (const auto& c : kColumns) {
        auto v = r.Number(i, c.column);
        if (!v) continue;  // an older server without the column
        if (c.counter) {
          out.metrics.Counter(c.metric, c.help, l, *v);
        } else {
          out.metrics.Gauge(c.metric, c.help, l, *v);
        }
      }
      commits += r.Number(i, "xact_commit").value_or(0);
      rollbacks += r.Number(i, "xact_rollback").value_or(0);
      sess += r.Number(i, "sessions").value_or(0);
      // Not sessions_abandoned: a session whose client vanished without a Terminate message is
      // what a pooler's restart or server_lifetime recycle looks like, not an error.
      sess_errors += r.Number(i, "sessions_fatal").value_or(0) +
                     r.Number(i, "sessions_killed").value_or(0);
    }
    rollback_.Observe(now, commits + rollbacks, rollbacks);
    Emit(out, "rollback", rollback_.Current());
    if (sessions) {
      session_.Observe(now, sess, sess_errors);
      Emit(out, "session", session_.Current());
    }
  }

 private:
  double NowSeconds() const {
    auto t = clock_ ? clock_->Now() : std::chrono::steady_clock::now();
    return std::chrono::duration<double>(t.time_since_epoch()).count();
  }

  static void Emit(TargetSample& out, const char* kind, const SlidingWindow::Result& w) {
    Labels l = {{"target", out.target}, {"kind", kind}};
    out.metrics.Gauge("poolwatch_error_ratio", Help("poolwatch_error_ratio"), l, w.ratio);
    out.metrics.Gauge("poolwatch_error_window_events", Help("poolwatch_error_window_events"), l,
                      w.events);
    out.metrics.Gauge("poolwatch_error_window_errors", Help("poolwatch_error_window_errors"), l,
                      w.errors);
  }

  const Clock* clock_;
  SlidingWindow rollback_;
  SlidingWindow session_;
};

}  // namespace

std::unique_ptr<Collector> MakePgStatDatabaseCollector(const CollectorOptions& options) {
  return std::make_unique<PgStatDatabaseCollector>(options);
}

}  // namespace poolwatch
