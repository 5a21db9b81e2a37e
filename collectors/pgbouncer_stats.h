#pragma once

#include <memory>

#include "collectors/collector.h"

namespace poolwatch {

/// SHOW STATS_TOTALS (PgBouncer 1.8+), falling back to SHOW STATS's total_* columns on older
/// versions: per-database counters as pgbouncer_stats_totals_* (pgbouncer_exporter v0.11+
/// names), microseconds converted to seconds. With options.legacy_stats_names (the default), also
/// the seven pre-v0.11 pgbouncer_stats_* names (Grafana's pgbouncer-mixin reads them).
std::unique_ptr<Collector> MakePgBouncerStatsCollector(const CollectorOptions& options);

}  // namespace poolwatch
