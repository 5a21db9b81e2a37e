#pragma once

#include <memory>

#include "collector.h"

namespace poolwatch {

/// SHOW POOLS: client and server connections per (database, user) pool, with
/// pgbouncer_exporter's metric names. Columns are mapped by name: a column this PgBouncer
/// version lacks is skipped, one we do not know is counted in
/// poolwatch_pgbouncer_unknown_columns{command="pools"}.
std::unique_ptr<Collector> MakePgBouncerPoolsCollector(const CollectorOptions& options);

}  // namespace poolwatch
