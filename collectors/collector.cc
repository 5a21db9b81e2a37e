#include "collectors/collector.h"

#include <algorithm>
#include <set>

#include "collectors/pg_locks.h"
#include "collectors/pg_long_transactions.h"
#include "collectors/pg_stat_activity.h"
#include "collectors/pg_stat_database.h"
#include "collectors/pgbouncer_clients.h"
#include "collectors/pgbouncer_config.h"
#include "collectors/pgbouncer_databases.h"
#include "collectors/pgbouncer_derived.h"
#include "collectors/pgbouncer_lists.h"
#include "collectors/pgbouncer_pools.h"
#include "collectors/pgbouncer_servers.h"
#include "collectors/pgbouncer_stats.h"
#include "collectors/pgbouncer_version.h"

namespace poolwatch {

std::string_view TargetKindName(TargetKind k) {
  return k == TargetKind::kPostgres ? "postgres" : "pgbouncer";
}

const std::vector<CollectorInfo>& CollectorTable() {
  static const std::vector<CollectorInfo> table = {
      {"pg_stat_activity", TargetKind::kPostgres, true,
       "connections by database and state, max_connections, lock waits, blocked backends",
       &MakePgStatActivityCollector},
      {"pg_long_transactions", TargetKind::kPostgres, true,
       "long transactions, idle-in-transaction leaks, blockers and offenders",
       &MakePgLongTransactionsCollector},
      {"pg_locks", TargetKind::kPostgres, true, "locks by database and mode",
       &MakePgLocksCollector},
      {"pg_stat_database", TargetKind::kPostgres, true,
       "commits, rollbacks, deadlocks, sessions; rollback and session error ratios",
       &MakePgStatDatabaseCollector},
      {"pgbouncer_pools", TargetKind::kPgBouncer, true, "SHOW POOLS: clients and servers per pool",
       &MakePgBouncerPoolsCollector},
      {"pgbouncer_stats", TargetKind::kPgBouncer, true,
       "SHOW STATS_TOTALS (SHOW STATS before 1.8): per-database counters",
       &MakePgBouncerStatsCollector},
      {"pgbouncer_databases", TargetKind::kPgBouncer, true,
       "SHOW DATABASES: pool sizes and limits per database entry",
       &MakePgBouncerDatabasesCollector},
      {"pgbouncer_lists", TargetKind::kPgBouncer, true, "SHOW LISTS: internal object counts",
       &MakePgBouncerListsCollector},
      {"pgbouncer_config", TargetKind::kPgBouncer, true,
       "SHOW CONFIG: max_client_conn, max_user_connections, default_pool_size, pool_mode",
       &MakePgBouncerConfigCollector},
      {"pgbouncer_version", TargetKind::kPgBouncer, true, "SHOW VERSION (row or NOTICE form)",
       &MakePgBouncerVersionCollector},
      {"pgbouncer_servers", TargetKind::kPgBouncer, true,
       "SHOW SERVERS: server connections per pool and state", &MakePgBouncerServersCollector},
      {"pgbouncer_clients", TargetKind::kPgBouncer, true,
       "SHOW CLIENTS: client connections per pool and state, waiting clients as offenders",
       &MakePgBouncerClientsCollector},
      // Last: it reads what the SHOW collectors above left in the sample.
      {"pgbouncer_derived", TargetKind::kPgBouncer, true,
       "utilization and server-leak signals from this sample's SHOW results (no query)",
       &MakePgBouncerDerivedCollector},
  };
  return table;
}

std::vector<std::unique_ptr<Collector>> MakeCollectors(TargetKind kind,
                                                       const std::vector<std::string>& enabled,
                                                       const std::vector<std::string>& disabled,
                                                       const CollectorOptions& options) {
  auto in = [](const std::vector<std::string>& v, std::string_view n) {
    return std::find(v.begin(), v.end(), n) != v.end();
  };
  auto on = [&](const CollectorInfo& info) {
    return (info.enabled_by_default || in(enabled, info.name)) && !in(disabled, info.name);
  };
  CollectorOptions o = options;
  std::set<std::string_view> names;
  for (const auto& info : CollectorTable()) {
    if (info.kind == kind && on(info)) names.insert(info.name);
  }
  o.activity_feeds_long_transactions =
      names.count("pg_stat_activity") > 0 && names.count("pg_long_transactions") > 0;
  std::vector<std::unique_ptr<Collector>> out;
  for (const auto& info : CollectorTable()) {
    if (info.kind == kind && on(info)) out.push_back(info.make(o));
  }
  return out;
}

}  // namespace poolwatch
