#pragma once

#include <memory>

#include "collectors/collector.h"

namespace poolwatch {

/// SHOW VERSION: pgbouncer_version_info{version} 1. PgBouncer 1.12+ answers with a row
/// ("PgBouncer 1.18.0"), older versions with a NOTICE ("pgbouncer version 1.7.2"); both are
/// read. Throws when neither carries a version number.
std::unique_ptr<Collector> MakePgBouncerVersionCollector(const CollectorOptions& options);

}  // namespace poolwatch
