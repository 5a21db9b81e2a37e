#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "collectors/connection.h"
#include "collectors/metrics.h"

namespace poolwatch {

/// Parsed once from the config section a target is listed under (`targets.postgres` /
/// `targets.pgbouncer`); the name is only for labels, logs and /status.
enum class TargetKind { kPostgres, kPgBouncer };
std::string_view TargetKindName(TargetKind k);

/// A backend (PostgreSQL) or client (PgBouncer) worth naming in an alert: the *who*.
/// Kept out of metric labels on purpose (cardinality); shown in /status and alert messages.
struct Offender {
  std::string category;  // "long_transaction" | "idle_in_transaction" | "blocker" | "blocked" | "waiting_client"
  int pid = 0;
  std::string datname;
  std::string usename;
  std::string application_name;
  std::string client_addr;
  std::string state;
  std::string wait_event;
  double xact_age_seconds = 0;
  double state_age_seconds = 0;
  std::vector<int> blocked_by;
  std::string query;  // truncated, literals masked unless configured otherwise
  /// Holder chain (collectors/holders.h): how many backends this one blocks, directly or through
  /// others (set on root blockers); the root of the chain a blocked backend waits on (0: none);
  /// and, when a PgBouncer server's remote_pid had no pg_stat_activity row, why the holder is
  /// only known from PgBouncer (the message says so).
  int blocks = 0;
  int root_blocker = 0;
  std::string note;
};

/// A PgBouncer pool's server connections in use, joined to the clients holding them and to their
/// PostgreSQL backends (collectors/holders.h). Bounded: at most kMaxPoolHolders holders and
/// waiting clients each; the counts are exact.
struct PoolHolders {
  std::string target;         // the PgBouncer target
  std::string database;       // the pool's name
  std::string user;
  std::string real_database;  // the database it connects to (SHOW DATABASES), "" when unknown
  std::string pg_target;      // the PostgreSQL target whose backends matched, "" when none did
  int pool_size = 0;          // SHOW DATABASES pool_size (0: unknown)
  int servers_in_use = 0;     // server connections linked to a client
  int waiting_clients = 0;
  double longest_wait_seconds = 0;
  int unmatched = 0;               // holders whose remote_pid has no pg_stat_activity row
  std::vector<Offender> holders;   // root blockers first, then by transaction age; each pid once
  std::vector<Offender> waiting;   // waiting clients, longest wait first
};

/// What one target's sample produced. Built by the Sampler and its Collectors on one thread.
struct TargetSample {
  std::string target;
  TargetKind kind = TargetKind::kPostgres;
  std::vector<int> own_pids;  // poolwatch's own backends, excluded from every count
  MetricSet metrics;
  std::vector<Offender> offenders;
  /// Short human-readable facts for `--once --output=text` (e.g. "connections" -> "5/100").
  std::map<std::string, std::string> summary;
  /// Result sets a collector leaves for a later step of the same sample, by key (the PgBouncer
  /// SHOW results pgbouncer_derived reads; see pgbouncer_common.h).
  std::map<std::string, QueryResult, std::less<>> shared_results;
  /// PostgreSQL only: a compact record of every backend pg_long_transactions read (in a
  /// transaction, holding an xmin, waiting on or holding a lock), uncut, for the holder chain
  /// join done once every target is sampled. Bounded by max_connections.
  std::vector<Offender> backends;
};

/// The error-ratio window of a target (`targets.*.error_window`, `error_min_events`): the ratio
/// is computed over it (collectors/sliding_window.h), and the ErrorRateHigh rule reads it back from
/// TargetStatus, so the alert names the window the ratio used. The defaults live here only.
struct ErrorWindow {
  std::chrono::milliseconds window = std::chrono::minutes(5);
  /// Fewer denominator events in the window: the ratio is 0 and an open alert is held.
  int min_events = 20;
};

/// A target's health as of the last sample.
struct TargetStatus {
  std::string name;
  TargetKind kind = TargetKind::kPostgres;
  bool up = false;
  DownReason reason = DownReason::kNone;
  std::string health;  // healthy | degraded | unhealthy (set before publishing)
  std::string error;  // redacted
  double last_sample_unix = 0;
  double sample_duration_seconds = 0;
  int server_version = 0;
  std::map<std::string, bool> collector_success;
  std::map<std::string, std::string> summary;
  std::vector<Offender> offenders;
  /// `shared: true` targets: "holder" or "standby" (exporter/election.h); "" otherwise.
  std::string role;
  /// PgBouncer only: the holder chain of each pool with a server in use or a client waiting.
  std::vector<PoolHolders> pools;
  /// The window the target's error ratios were computed over (its config, copied every sample).
  ErrorWindow error_window;
};

/// Everything poolwatch knows at one instant. Immutable once published (shared_ptr<const>):
/// The alert evaluator reads the whole; /metrics and /status read a copy without `metrics`
/// (exporter/snapshot_store.h, whose Served() copies each field: a new field goes there too) that
/// shares the exposition.
struct Snapshot {
  std::uint64_t sequence = 0;
  std::chrono::system_clock::time_point taken_at;
  MetricSet metrics;
  std::vector<TargetStatus> targets;
  /// The configuration's external_labels (for /status).
  std::map<std::string, std::string> external_labels;
  /// The rendered exposition (null until rendered: then /metrics serves an empty body).
  std::shared_ptr<const Exposition> exposition;
};

}  // namespace poolwatch
