#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "collectors/collector.h"

namespace poolwatch {

/// Client backends from pg_stat_activity, in one query: per database x state counts with a zero
/// row for every pair (as postgres_exporter), the oldest transaction per pair, max_connections and
/// the reserved slots, backends waiting on a lock and blocked ones (pg_blocking_pids) per database,
/// the `postgres` utilization ratio, and the optional allow-listed, capped breakdown by usename /
/// application_name. poolwatch's own backends are excluded everywhere. pg_stat_activity is read
/// once, into a CTE every part uses; with CollectorOptions::activity_feeds_long_transactions the
/// same statement also returns pg_long_transactions' rows (kind "long") and leaves the result in
/// TargetSample::shared_results[kPgActivityFeed].
std::unique_ptr<Collector> MakePgStatActivityCollector(const CollectorOptions& options);

/// The shared_results key of the pg_stat_activity statement's result, for pg_long_transactions.
inline constexpr std::string_view kPgActivityFeed = "pg_stat_activity";

/// `{1,2}`: poolwatch's own backend pids as an int[] parameter's text.
std::string PidsArrayText(const std::vector<int>& own_pids);
/// `'{1,2}'::int[]`: the same as an SQL literal (ints only, so no quoting issue).
std::string OwnPidsArray(const std::vector<int>& own_pids);

}  // namespace poolwatch
