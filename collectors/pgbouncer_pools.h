#pragma once

#include <memory>

#include "collectors/collector.h"
#include "collectors/pgbouncer_wait_tracker.h"

namespace poolwatch {

/// SHOW POOLS: client and server connections per (database, user) pool, with
/// pgbouncer_exporter's metric names. Columns are mapped by name: a column this PgBouncer
/// version lacks is skipped, one we do not know is counted in
/// poolwatch_pgbouncer_unknown_columns{command="pools"}. Feeds options.wait_tracker (when set)
/// and exports its peaks and waiting-seconds counter; leaves the result for pgbouncer_derived.
std::unique_ptr<Collector> MakePgBouncerPoolsCollector(const CollectorOptions& options);

/// The fast loop's reading (sampling.fast_interval): one SHOW POOLS into `tracker`, dated
/// clock.Now() once it answered. Throws DbError like a collector.
void SampleFastPools(Connection& conn, PoolWaitTracker& tracker, const Clock& clock);

}  // namespace poolwatch
