#pragma once

#include <memory>

#include "collectors/collector.h"

namespace poolwatch {

/// SHOW CONFIG: max_client_conn, max_user_connections and default_pool_size as
/// pgbouncer_config_* gauges, and pool_mode as pgbouncer_config_pool_mode_info{pool_mode} 1.
/// The result is left for pgbouncer_derived (client utilization, the default pool size).
std::unique_ptr<Collector> MakePgBouncerConfigCollector(const CollectorOptions& options);

}  // namespace poolwatch
