#pragma once

#include <memory>
#include <string>
#include <vector>

#include "collectors/collector.h"

namespace poolwatch {

/// pg_locks_count{datname,mode} as postgres_exporter: lower-case modes, a zero row for every
/// database x mode, in one query; poolwatch's own locks excluded.
std::unique_ptr<Collector> MakePgLocksCollector(const CollectorOptions& options);

/// The lock modes exported, lower-case, in postgres_exporter's order.
const std::vector<std::string>& PgLockModes();

}  // namespace poolwatch
