#pragma once

#include <chrono>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "collectors/collector.h"
#include "collectors/connection.h"
#include "collectors/snapshot.h"

namespace poolwatch {

/// One SHOW column exported as one metric. `scale` converts the column's unit to the metric's
/// base unit (1e-6 for PgBouncer's microseconds).
struct PgbColumnMetric {
  std::string_view column;
  std::string_view metric;
  std::string_view help;
  double scale = 1;
};

/// Exports poolwatch_pgbouncer_unknown_columns{target,command} = the number of columns of `r`
/// for which `is_known` is false, plus `extra_unknown` (e.g. SHOW LISTS rows we do not know).
/// Every PgBouncer collector calls it, so a column a newer PgBouncer adds is counted (and
/// ignored) instead of breaking anything. Not thread-safe (writes `out`).
void ExportUnknownColumns(const QueryResult& r, std::string_view command,
                          const std::function<bool(std::string_view)>& is_known, TargetSample& out,
                          int extra_unknown = 0);

/// The usual case: a column is known when it is in `known` (strings) or is the `column` of a
/// row of `mapped` (a table of PgbColumnMetric).
template <typename Known, typename Table>
void ExportUnknownColumns(const QueryResult& r, std::string_view command, const Known& known,
                          const Table& mapped, TargetSample& out, int extra_unknown = 0) {
  ExportUnknownColumns(
      r, command,
      [&](std::string_view c) {
        for (std::string_view k : known) {
          if (k == c) return true;
        }
        for (const PgbColumnMetric& m : mapped) {
          if (m.column == c) return true;
        }
        return false;
      },
      out, extra_unknown);
}

/// Known columns only, as a braced list: ExportUnknownColumns(r, "lists", {"list", "items"}, out).
inline void ExportUnknownColumns(const QueryResult& r, std::string_view command,
                                 std::initializer_list<std::string_view> known, TargetSample& out,
                                 int extra_unknown = 0) {
  ExportUnknownColumns(r, command, known, std::initializer_list<PgbColumnMetric>{}, out,
                       extra_unknown);
}

/// The clock collectors read (the injected one, or the system clock when none was given).
const Clock& CollectorClock(const CollectorOptions& options);

/// Parses PgBouncer's timestamps ("2026-11-22 20:06:19 UTC", older versions without the zone)
/// into Unix seconds. A UTC/GMT suffix is read as UTC; anything else as poolwatch's local time
/// (PgBouncer prints its own local time, so both are assumed to share a time zone).
std::optional<double> ParsePgbTimestamp(std::string_view text);

/// The version number in SHOW VERSION's row ("PgBouncer 1.18.0") or NOTICE
/// ("pgbouncer version 1.7.2"): the first token that starts with a digit and has a dot.
std::optional<std::string> ParsePgbVersion(std::string_view text);

/// The columns SHOW CLIENTS and SHOW SERVERS share (1.7: up to tls; 1.8 wait, wait_us; 1.9
/// close_needed; 1.18 application_name; 1.21 prepared_statements; 1.23 replication; 1.24 id).
inline constexpr std::string_view kPgbSocketColumns[] = {"type",
                                                         "user",
                                                         "database",
                                                         "replication",
                                                         "state",
                                                         "addr",
                                                         "port",
                                                         "local_addr",
                                                         "local_port",
                                                         "connect_time",
                                                         "request_time",
                                                         "wait",
                                                         "wait_us",
                                                         "close_needed",
                                                         "ptr",
                                                         "link",
                                                         "remote_pid",
                                                         "tls",
                                                         "application_name",
                                                         "prepared_statements",
                                                         "id"};

/// Result sets PgBouncer collectors leave in TargetSample::shared_results, for pgbouncer_derived.
namespace pgb_results {
inline constexpr std::string_view kPools = "pgbouncer/pools";
inline constexpr std::string_view kDatabases = "pgbouncer/databases";
inline constexpr std::string_view kConfig = "pgbouncer/config";
inline constexpr std::string_view kServers = "pgbouncer/servers";
inline constexpr std::string_view kClients = "pgbouncer/clients";
}  // namespace pgb_results

}  // namespace poolwatch
