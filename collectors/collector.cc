#include "collector.h"

#include <algorithm>

#include "pg_locks.h"
#include "pg_long_transactions.h"
#include "pg_stat_activity.h"
#include "pg_stat_database.h"
#include "pgbouncer_pools.h"

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
  std::vector<std::unique_ptr<Collector>> out;
  for (const auto& info : CollectorTable()) {
    if (info.kind != kind) continue;
    bool on = (info.enabled_by_default || in(enabled, info.name)) && !in(disabled, info.name);
    if (on) out.push_back(info.make(options));
  }
  return out;
}

}  // namespace poolwatch
