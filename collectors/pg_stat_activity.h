#pragma once

#include <memory>
#include <string>
#include <vector>

#include "collector.h"

namespace poolwatch {

/// Client backends from pg_stat_activity, in one query: per database x state counts with a zero
/// row for every pair (as postgres_exporter), the oldest transaction per pair, max_connections and
/// the reserved slots, backends waiting on a lock and blocked ones (pg_blocking_pids) per database,
/// the `postgres` utilization ratio, and the optional allow-listed, capped breakdown by usename /
/// application_name. poolwatch's own backends are excluded everywhere.
std::unique_ptr<Collector> MakePgStatActivityCollector(const CollectorOptions& options);

/// The states postgres_exporter exports, in its order.
const std::vector<std::string>& PgActivityStates();

/// `'{1,2}'::int[]`: poolwatch's own backend pids as an SQL literal (ints only, so no quoting
/// issue).
std::string OwnPidsArray(const std::vector<int>& own_pids);

}  // namespace poolwatch
