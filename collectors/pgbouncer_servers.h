#pragma once

#include <memory>

#include "collectors/collector.h"

namespace poolwatch {

/// SHOW SERVERS, aggregated per pool (never one series per connection):
/// poolwatch_pgbouncer_servers{database,user,state}. The rows (state, link, request_time) are
/// left for pgbouncer_derived's leak detection.
std::unique_ptr<Collector> MakePgBouncerServersCollector(const CollectorOptions& options);

}  // namespace poolwatch
