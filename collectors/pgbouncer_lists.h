#pragma once

#include <memory>

#include "collectors/collector.h"

namespace poolwatch {

/// SHOW LISTS: PgBouncer's internal object counts (one row per list) as pgbouncer_exporter's
/// pgbouncer_databases, pgbouncer_users, pgbouncer_pools, pgbouncer_free_clients, ... gauges.
/// A list poolwatch does not know counts as an unknown column of command="lists".
std::unique_ptr<Collector> MakePgBouncerListsCollector(const CollectorOptions& options);

}  // namespace poolwatch
