#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "clock.h"
#include "connection.h"
#include "snapshot.h"

namespace poolwatch {

class PoolWaitTracker;

/// Reads one data source into a target's sample. Called only by the Sampler, one thread at a
/// time per instance. Throws (DbError or std::exception) on failure; the Sampler records it as
/// poolwatch_collector_success{collector=Name()} 0 and goes on with the next collector.
class Collector {
 public:
  virtual ~Collector() = default;
  /// Config key and `collector` label.
  virtual std::string_view Name() const = 0;
  virtual void Collect(Connection& conn, TargetSample& out) = 0;
};

enum class TargetKind { kPostgres, kPgBouncer };
std::string_view TargetKindName(TargetKind k);

/// Options collectors read; filled from the target's config.
struct CollectorOptions {
  /// Whether to also emit pgbouncer_exporter's pre-v0.11 `pgbouncer_stats_*` names.
  bool legacy_stats_names = false;
  /// Time for collectors that compare timestamps (not owned; nullptr = the system clock).
  const Clock* clock = nullptr;
  /// PgBouncer: a server linked to a client silent for longer than this is a leak.
  std::chrono::milliseconds leak_timeout{60000};
  /// PgBouncer: waiting-client peaks and waiting seconds, shared by the main sample's
  /// pgbouncer_pools collector and the fast SHOW POOLS loop. nullptr = not tracked.
  std::shared_ptr<PoolWaitTracker> wait_tracker;
};

/// A row of the explicit collector table.
struct CollectorInfo {
  std::string_view name;
  TargetKind kind;
  bool enabled_by_default;
  std::string_view help;
  std::unique_ptr<Collector> (*make)(const CollectorOptions&);
};

/// The collector table: every collector poolwatch has, in sampling order. Explicit, not static
/// self-registration (a static library drops object files nothing references).
const std::vector<CollectorInfo>& CollectorTable();

/// Makes the collectors for a target of `kind`: the defaults, minus `disabled`, plus `enabled`.
std::vector<std::unique_ptr<Collector>> MakeCollectors(TargetKind kind,
                                                       const std::vector<std::string>& enabled,
                                                       const std::vector<std::string>& disabled,
                                                       const CollectorOptions& options);

}  // namespace poolwatch
