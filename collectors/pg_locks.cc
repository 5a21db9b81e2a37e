#include "collectors/pg_locks.h"

#include <sstream>

#include "collectors/pg_stat_activity.h"

namespace poolwatch {

const std::vector<std::string>& PgLockModes() {
  static const std::vector<std::string> modes = {
      "accesssharelock", "rowsharelock",          "rowexclusivelock", "shareupdateexclusivelock",
      "sharelock",       "sharerowexclusivelock", "exclusivelock",    "accessexclusivelock",
      "sireadlock"};
  return modes;
}

namespace {

std::string LocksQuery(const std::vector<int>& own_pids) {
  std::ostringstream q;
  q << "SELECT d.datname, m.mode, count(l.mode)::float8 AS count "
       "FROM pg_database d CROSS JOIN (VALUES ";
  const auto& modes = PgLockModes();
  for (std::size_t i = 0; i < modes.size(); ++i) q << (i ? ", " : "") << "('" << modes[i] << "')";
  q << ") m(mode) LEFT JOIN pg_locks l ON l.database = d.oid AND lower(l.mode) = m.mode "
       "AND coalesce(l.pid, 0) <> pg_backend_pid() AND NOT (coalesce(l.pid, 0) = ANY("
    << OwnPidsArray(own_pids) << ")) GROUP BY d.datname, m.mode";
  return q.str();
}

class PgLocksCollector final : public Collector {
 public:
  std::string_view Name() const override { return "pg_locks"; }

  void Collect(Connection& conn, TargetSample& out) override {
    QueryResult r = conn.Query(LocksQuery(out.own_pids));
    for (int i = 0; i < r.Rows(); ++i) {
      out.metrics.Gauge("pg_locks_count", "Number of locks",
                        {{"target", out.target},
                         {"datname", r.String(i, "datname")},
                         {"mode", r.String(i, "mode")}},
                        r.Number(i, "count").value_or(0));
    }
  }
};

}  // namespace

std::unique_ptr<Collector> MakePgLocksCollector(const CollectorOptions&) {
  return std::make_unique<PgLocksCollector>();
}

}  // namespace poolwatch
