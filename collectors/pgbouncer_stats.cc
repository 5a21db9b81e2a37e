#include "collectors/pgbouncer_stats.h"

#include <string>

#include "collectors/pgbouncer_common.h"

namespace poolwatch {
namespace {

constexpr double kMicros = 1e-6;

// SHOW STATS_TOTALS columns; `metric` is the suffix after pgbouncer_stats_totals_ (or, for the
// legacy names, pgbouncer_stats_).
constexpr PgbColumnMetric kTotalsColumns[] = {
    {"query_count", "queries_pooled_total", "Total number of SQL queries pooled"},
    {"query_time", "queries_duration_seconds_total",
     "Total seconds spent by pgbouncer when actively connected to PostgreSQL, executing queries",
     kMicros},
    {"bytes_received", "received_bytes_total",
     "Total volume in bytes of network traffic received by pgbouncer"},
    {"bytes_sent", "sent_bytes_total",
     "Total volume in bytes of network traffic sent by pgbouncer"},
    {"wait_time", "client_wait_seconds_total",
     "Time spent by clients waiting for a server, in seconds", kMicros},
    {"xact_count", "sql_transactions_pooled_total", "Total number of SQL transactions pooled"},
    {"xact_time", "server_in_transaction_seconds_total",
     "Total seconds spent by pgbouncer when connected to PostgreSQL in a transaction, either idle "
     "in transaction or executing queries",
     kMicros},
    {"server_assignment_count", "server_assignments_total",
     "Total times a server was assigned to a client (1.23+)"},
    {"client_parse_count", "client_parses_total",
     "Total prepared statement Parse messages received from clients (1.24+)"},
    {"server_parse_count", "server_parses_total",
     "Total prepared statement Parse messages sent by pgbouncer to PostgreSQL (1.24+)"},
    {"bind_count", "binds_total",
     "Total prepared statements readied for execution with a Bind message (1.24+)"},
};

// The same counters under SHOW STATS's names (the fallback). PgBouncer < 1.8 has
// total_requests (SQL requests pooled) where later versions have total_query_count.
constexpr PgbColumnMetric kStatsColumns[] = {
    {"total_query_count", "queries_pooled_total", "Total number of SQL queries pooled"},
    {"total_requests", "queries_pooled_total", "Total number of SQL queries pooled"},
    {"total_query_time", "queries_duration_seconds_total",
     "Total seconds spent by pgbouncer when actively connected to PostgreSQL, executing queries",
     kMicros},
    {"total_received", "received_bytes_total",
     "Total volume in bytes of network traffic received by pgbouncer"},
    {"total_sent", "sent_bytes_total",
     "Total volume in bytes of network traffic sent by pgbouncer"},
    {"total_wait_time", "client_wait_seconds_total",
     "Time spent by clients waiting for a server, in seconds", kMicros},
    {"total_xact_count", "sql_transactions_pooled_total",
     "Total number of SQL transactions pooled"},
    {"total_xact_time", "server_in_transaction_seconds_total",
     "Total seconds spent by pgbouncer when connected to PostgreSQL in a transaction, either idle "
     "in transaction or executing queries",
     kMicros},
    {"total_server_assignment_count", "server_assignments_total",
     "Total times a server was assigned to a client (1.23+)"},
    {"total_client_parse_count", "client_parses_total",
     "Total prepared statement Parse messages received from clients (1.24+)"},
    {"total_server_parse_count", "server_parses_total",
     "Total prepared statement Parse messages sent by pgbouncer to PostgreSQL (1.24+)"},
    {"total_bind_count", "binds_total",
     "Total prepared statements readied for execution with a Bind message (1.24+)"},
};

// The counters pgbouncer_exporter had before v0.11 renamed them to pgbouncer_stats_totals_*
// (the names Grafana's pgbouncer-mixin reads); later columns never had a pgbouncer_stats_ name.
bool HasLegacyName(std::string_view metric) {
  for (std::string_view m : {"queries_pooled_total", "queries_duration_seconds_total",
                             "received_bytes_total", "sent_bytes_total",
                             "client_wait_seconds_total", "sql_transactions_pooled_total",
                             "server_in_transaction_seconds_total"}) {
    if (m == metric) return true;
  }
  return false;
}

// SHOW STATS's averages: known, not exported (rate() of the totals gives them).
bool IsAverage(std::string_view c) { return c.substr(0, 4) == "avg_"; }

class PgBouncerStatsCollector final : public Collector {
 public:
  explicit PgBouncerStatsCollector(const CollectorOptions& options) : options_(options) {}
  std::string_view Name() const override { return "pgbouncer_stats"; }

  void Collect(Connection& conn, TargetSample& out) override {
    if (!use_show_stats_) {
      try {
        QueryResult r = conn.Query("SHOW STATS_TOTALS");
        Export(r, "stats_totals", kTotalsColumns, out);
        return;
      } catch (const DbError& e) {
        if (e.connection_lost()) throw;
        // PgBouncer < 1.8 has no SHOW STATS_TOTALS; remember, so it is asked once.
        use_show_stats_ = true;
      }
    }
    QueryResult r = conn.Query("SHOW STATS");
    Export(r, "stats", kStatsColumns, out);
  }

 private:
  template <typename Table>
  void Export(const QueryResult& r, std::string_view command, const Table& columns,
              TargetSample& out) {
    ExportUnknownColumns(
        r, command,
        [&](std::string_view c) {
          if (c == "database" || IsAverage(c)) return true;
          for (const PgbColumnMetric& m : columns) {
            if (m.column == c) return true;
          }
          return false;
        },
        out);
    for (int i = 0; i < r.Rows(); ++i) {
      Labels l = {{"target", out.target}, {"database", r.String(i, "database")}};
      for (const PgbColumnMetric& m : columns) {
        auto v = r.Number(i, m.column);
        if (!v) continue;
        out.metrics.Counter("pgbouncer_stats_totals_" + std::string(m.metric), m.help, l,
                            *v * m.scale);
        if (options_.legacy_stats_names && HasLegacyName(m.metric)) {
          out.metrics.Counter("pgbouncer_stats_" + std::string(m.metric), m.help, l, *v * m.scale);
        }
      }
    }
  }

  CollectorOptions options_;
  bool use_show_stats_ = false;
};

}  // namespace

std::unique_ptr<Collector> MakePgBouncerStatsCollector(const CollectorOptions& options) {
  return std::make_unique<PgBouncerStatsCollector>(options);
}

}  // namespace poolwatch
