#pragma once

#include <vector>

#include "collectors/metrics.h"
#include "collectors/snapshot.h"

namespace poolwatch {

/// Adds the `process_*` families that client_golang's process collector serves for
/// postgres_exporter and pgbouncer_exporter (CPU seconds, resident and virtual memory, open and
/// maximum file descriptors, start time), read from /proc/self. Called once per sample, so the
/// values are as of that sample, like every other series of the snapshot. A /proc file that
/// cannot be read leaves its families out (and the rest in): never a made-up value.
void AddOsProcessMetrics(MetricSet& m);

/// Adds postgres_exporter's own health families per PostgreSQL target, from the statuses of the
/// sample just taken: `pg_exporter_last_scrape_error` (1 when the target was down or a collector
/// failed) and `pg_exporter_last_scrape_duration_seconds`.
void AddExporterHealthMetrics(const std::vector<TargetStatus>& targets, MetricSet& m);

}  // namespace poolwatch
