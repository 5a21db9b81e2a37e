#include "collectors/pgbouncer_databases.h"

#include <map>
#include <string>

#include "collectors/pgbouncer_common.h"
#include "collectors/pgbouncer_wait_tracker.h"

namespace poolwatch {
namespace {

// reserve_pool was renamed reserve_pool_size in 1.24; both feed the same metric.
constexpr PgbColumnMetric kDatabaseColumns[] = {
    {"pool_size", "pgbouncer_databases_pool_size", "Maximum number of server connections"},
    {"reserve_pool", "pgbouncer_databases_reserve_pool",
     "Maximum number of additional connections for this database"},
    {"reserve_pool_size", "pgbouncer_databases_reserve_pool",
     "Maximum number of additional connections for this database"},
    {"max_connections", "pgbouncer_databases_max_connections",
     "Maximum number of allowed server connections for this database"},
    {"current_connections", "pgbouncer_databases_current_connections",
     "Current number of server connections for this database"},
    {"max_client_connections", "pgbouncer_databases_max_client_connections",
     "Maximum number of allowed client connections for this database (1.24+)"},
    {"current_client_connections", "pgbouncer_databases_current_client_connections",
     "Current number of client connections for this database (1.24+)"},
    {"paused", "pgbouncer_databases_paused", "1 if this database is currently paused, else 0"},
    {"disabled", "pgbouncer_databases_disabled",
     "1 if this database is currently disabled, else 0"},
};

constexpr std::string_view kLabelColumns[] = {"name",     "host",       "port",
                                              "database", "force_user", "pool_mode"};
constexpr std::string_view kKnownDatabaseColumns[] = {"min_pool_size", "server_lifetime",
                                                      "load_balance_hosts"};

class PgBouncerDatabasesCollector final : public Collector {
 public:
  explicit PgBouncerDatabasesCollector(const CollectorOptions& options) : options_(options) {}
  std::string_view Name() const override { return "pgbouncer_databases"; }

  void Collect(Connection& conn, TargetSample& out) override {
    QueryResult r = conn.Query("SHOW DATABASES");
    ExportUnknownColumns(
        r, "databases",
        [](std::string_view c) {
          for (auto k : kLabelColumns) {
            if (k == c) return true;
          }
          for (auto k : kKnownDatabaseColumns) {
            if (k == c) return true;
          }
          for (const auto& m : kDatabaseColumns) {
            if (m.column == c) return true;
          }
          return false;
        },
        out);
    if (options_.wait_tracker) {
      // The pool sizes saturation is judged by (the pools collector and the fast loop read).
      std::map<std::string, double> sizes;
      for (int i = 0; i < r.Rows(); ++i) {
        if (auto v = r.Number(i, "pool_size")) sizes[r.String(i, "name")] = *v;
      }
      options_.wait_tracker->SetPoolSizes(std::move(sizes));
    }
    for (int i = 0; i < r.Rows(); ++i) {
      Labels l = {{"target", out.target}};
      for (auto c : kLabelColumns) l.emplace_back(std::string(c), r.String(i, c));
      for (const auto& m : kDatabaseColumns) {
        if (auto v = r.Number(i, m.column)) out.metrics.Gauge(m.metric, m.help, l, *v);
      }
    }
    out.shared_results[std::string(pgb_results::kDatabases)] = std::move(r);
  }

 private:
  CollectorOptions options_;
};

}  // namespace

std::unique_ptr<Collector> MakePgBouncerDatabasesCollector(const CollectorOptions& options) {
  return std::make_unique<PgBouncerDatabasesCollector>(options);
}

}  // namespace poolwatch
