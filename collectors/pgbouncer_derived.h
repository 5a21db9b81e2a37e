#pragma once

#include <memory>

#include "collectors/collector.h"

namespace poolwatch {

/// The signals alerts are built on, derived from this sample's SHOW results (it runs last and
/// sends no query of its own):
/// - poolwatch_pool_utilization_ratio{kind="pgbouncer_server",database,user}: sv_active / the
///   pool's effective size (pool_size from SHOW DATABASES for the pool's database, else
///   default_pool_size from SHOW CONFIG);
/// - poolwatch_pool_utilization_ratio{kind="pgbouncer_client"}: client connections (SHOW CLIENTS
///   rows, else the pools' cl_* sums) / max_client_conn;
/// - poolwatch_connection_leaks{kind="pgbouncer_server"}: server connections linked to a client
///   whose last request (request_time) is older than options.leak_timeout.
/// What it can derive it exports; when an input is missing (its collector failed or is off) it
/// then throws, naming it, so poolwatch_collector_success{collector="pgbouncer_derived"} is 0.
std::unique_ptr<Collector> MakePgBouncerDerivedCollector(const CollectorOptions& options);

}  // namespace poolwatch
