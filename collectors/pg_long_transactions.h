#pragma once

#include <memory>

#include "collector.h"

namespace poolwatch {

/// Long transactions, idle-in-transaction leaks, blockers and offenders, from one
/// pg_stat_activity query (every backend type, minus poolwatch's own and the configured
/// exclusions): postgres_exporter's pg_long_running_transactions and its "oldest timestamp"
/// (an age), per database the oldest transaction / idle-in-transaction / active query age and
/// backend_xmin age, counts over several thresholds, poolwatch_connection_leaks{kind=
/// "idle_in_transaction"}, and the offenders (top N by transaction age and by idle-in-transaction
/// age, blockers and blocked backends) in TargetSample::offenders.
std::unique_ptr<Collector> MakePgLongTransactionsCollector(const CollectorOptions& options);

}  // namespace poolwatch
