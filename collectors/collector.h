#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "collectors/connection.h"
#include "collectors/snapshot.h"

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

/// Long-transaction settings of a PostgreSQL target (`long_transactions:`).
struct LongTransactionOptions {
  /// Threshold of the postgres_exporter-compatible pg_long_running_transactions.
  std::chrono::milliseconds threshold = std::chrono::minutes(5);
  /// poolwatch_pg_transactions_over_threshold{threshold} is exported for each of these.
  std::vector<std::chrono::milliseconds> thresholds = {std::chrono::seconds(60),
                                                       std::chrono::seconds(300)};
  /// application_name glob patterns (`*` wildcard) left out of long-transaction counts and ages.
  std::vector<std::string> exclude_application_names = {"poolwatch"};
  /// pg_stat_activity.backend_type values left out likewise (parallel workers share their
  /// leader's transaction, which is counted once through the leader).
  std::vector<std::string> exclude_backend_types = {"autovacuum worker", "autovacuum launcher",
                                                    "walsender", "parallel worker"};
};

/// How offenders (the *who* of an incident) are kept (`offenders:`).
struct OffenderOptions {
  int top = 5;              // per category (long_transaction, idle_in_transaction)
  int query_length = 200;   // characters kept of the query text
  bool mask_literals = true;  // quoted strings and numbers become `?`
};

/// Optional pg_stat_activity breakdown by user / application (`activity_breakdown:`).
struct ActivityBreakdownOptions {
  std::vector<std::string> by;     // subset of {"usename", "application_name"}; empty = off
  std::vector<std::string> allow;  // glob patterns; values not allowed are folded into "other"
  int max_series = 100;            // per family; the rest is dropped and counted
};

/// What a target's configuration says about its collectors (TargetConfig::collector_settings).
struct CollectorSettings {
  /// Whether to also emit pgbouncer_exporter's pre-v0.11 `pgbouncer_stats_*` names (the
  /// configuration's `compatibility.legacy_pgbouncer_stats_names`, the same for every target).
  bool legacy_stats_names = true;
  /// The target's `leak_timeout` (parsed straight into here; no other copy). PostgreSQL: backends
  /// idle in transaction longer than this count as leaks. PgBouncer: a server linked to a client
  /// silent for longer than this is a leak. (`pool.leak_timeout`, the probe-checkout limit, is
  /// PoolConfig::checkout_leak_timeout.)
  std::chrono::milliseconds leak_timeout = std::chrono::seconds(60);
  /// Error-ratio sliding window and the fewest denominator events for a non-zero ratio.
  ErrorWindow error_window;
  LongTransactionOptions long_transactions;
  OffenderOptions offenders;
  ActivityBreakdownOptions activity_breakdown;
};

/// What the running process hands the collectors: not configuration, set by the Sampler and by
/// MakeCollectors().
struct CollectorWiring {
  /// Time source for windows and timestamp comparisons (never null when built by the Sampler;
  /// null = the system clock). Not owned; outlives the collectors.
  const Clock* clock = nullptr;
  /// PostgreSQL: the pg_stat_activity collector's one statement also reads pg_long_transactions'
  /// rows and leaves them in the sample (TargetSample::shared_results[kPgActivityFeed]), so that
  /// pg_stat_activity is scanned once per sample (it costs O(backends^2) on the server). Set by
  /// MakeCollectors() when both collectors are on; pg_long_transactions falls back to its own
  /// query whenever the rows are not there (the first collector failed, or is off).
  bool activity_feeds_long_transactions = false;
  /// PgBouncer: waiting-client peaks and waiting seconds, shared by the main sample's
  /// pgbouncer_pools collector and the fast SHOW POOLS loop. nullptr = not tracked.
  std::shared_ptr<PoolWaitTracker> wait_tracker;
};

/// What each collector is built with (and keeps a copy of): the settings and the wiring.
struct CollectorOptions : CollectorSettings, CollectorWiring {
  CollectorOptions() = default;
  CollectorOptions(const CollectorSettings& s, CollectorWiring w)
      : CollectorSettings(s), CollectorWiring(std::move(w)) {}
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
