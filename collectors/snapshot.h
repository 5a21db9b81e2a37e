#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "connection.h"
#include "metrics.h"

namespace poolwatch {

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
};

/// What one target's sample produced. Built by the Sampler and its Collectors on one thread.
struct TargetSample {
  std::string target;
  std::string kind;  // "postgres" | "pgbouncer"
  std::vector<int> own_pids;  // poolwatch's own backends, excluded from every count
  MetricSet metrics;
  std::vector<Offender> offenders;
  /// Short human-readable facts for `--once --output=text` (e.g. "connections" -> "5/100").
  std::map<std::string, std::string> summary;
  /// Result sets a collector leaves for a later step of the same sample, by key (the PgBouncer
  /// SHOW results pgbouncer_derived reads; see pgbouncer_common.h).
  std::map<std::string, QueryResult, std::less<>> shared_results;
};

/// A target's health as of the last sample.
struct TargetStatus {
  std::string name;
  std::string kind;
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
};

/// Everything poolwatch knows at one instant. Immutable once published (shared_ptr<const>):
/// /metrics, /status and the alert evaluator all read the same one.
struct Snapshot {
  std::uint64_t sequence = 0;
  std::chrono::system_clock::time_point taken_at;
  MetricSet metrics;
  std::vector<TargetStatus> targets;
  std::string text;       // rendered exposition
  std::string text_gzip;  // the same, gzip-compressed
};

}  // namespace poolwatch
