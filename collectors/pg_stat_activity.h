#pragma once

#include <memory>

#include "collector.h"

namespace poolwatch {

/// Connections by database and state from pg_stat_activity, in one query, with a zero row for
/// every database x state (as postgres_exporter), plus max_connections and the reserved slots.
std::unique_ptr<Collector> MakePgStatActivityCollector(const CollectorOptions& options);

/// The states postgres_exporter exports, in its order.
const std::vector<std::string>& PgActivityStates();

}  // namespace poolwatch
