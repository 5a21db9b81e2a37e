#pragma once

#include <memory>

#include "collectors/collector.h"

namespace poolwatch {

/// SHOW CLIENTS, aggregated per pool (never one series per client):
/// poolwatch_pgbouncer_clients{database,user,state} and
/// poolwatch_pgbouncer_clients_oldest_wait_seconds{database,user}. The *who* of waiting clients
/// (application_name, address, wait) goes into the sample's offenders as `waiting_client`, the
/// longest waits first, at most kMaxWaitingOffenders. The rows are left for pgbouncer_derived.
std::unique_ptr<Collector> MakePgBouncerClientsCollector(const CollectorOptions& options);

inline constexpr int kMaxWaitingOffenders = 10;

}  // namespace poolwatch
