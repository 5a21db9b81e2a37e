#pragma once

#include <memory>

#include "collectors/collector.h"

namespace poolwatch {

/// SHOW DATABASES: each configured database entry's limits and state as
/// pgbouncer_databases_*{name,host,port,database,force_user,pool_mode}. The pool size is also
/// left for pgbouncer_derived (server utilization).
std::unique_ptr<Collector> MakePgBouncerDatabasesCollector(const CollectorOptions& options);

}  // namespace poolwatch
