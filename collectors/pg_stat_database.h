#pragma once

#include <memory>

#include "collectors/collector.h"

namespace poolwatch {

/// pg_stat_database in one query: numbackends (poolwatch's own backends subtracted),
/// xact_commit, xact_rollback, deadlocks and, on PostgreSQL 14+, sessions, sessions_abandoned,
/// sessions_fatal, sessions_killed (postgres_exporter names, counters without `_total`); and the
/// derived error ratios poolwatch_error_ratio{kind="rollback"} (rollbacks / transactions) and,
/// on 14+, {kind="session"} ((abandoned + fatal + killed) / sessions) over
/// CollectorOptions::error_window (window, min_events), with the window's event and error counts
/// beside them.
std::unique_ptr<Collector> MakePgStatDatabaseCollector(const CollectorOptions& options);

}  // namespace poolwatch
