#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "alerts/alert_config.h"
#include "base/time.h"
#include "collectors/collector.h"

namespace poolwatch {

using Duration = std::chrono::milliseconds;

/// Parses "500ms", "5s", "2m", "1h30m". Returns false on anything else (a bare number too).
bool ParseDuration(std::string_view text, Duration& out);

/// The probe pool of one target (defaults are the documented ones).
struct PoolConfig {
  int min = 1;
  int max = 2;
  Duration connect_timeout = std::chrono::seconds(5);
  Duration idle_timeout = std::chrono::minutes(5);
  Duration max_lifetime = std::chrono::hours(1);
  /// `pool.leak_timeout`: a probe connection checked out of this pool longer than this is
  /// counted and reclaimed (poolwatch_probe_pool_leaks_total). Not the target's `leak_timeout`
  /// (the idle-in-transaction threshold, CollectorSettings::leak_timeout).
  Duration checkout_leak_timeout = std::chrono::seconds(60);
  Duration health_check_interval = std::chrono::seconds(30);
  Duration backoff_initial = std::chrono::seconds(1);
  Duration backoff_max = std::chrono::seconds(60);
};

struct TargetConfig {
  std::string name;
  TargetKind kind = TargetKind::kPostgres;
  std::string dsn;
  std::string password;  // from password_file or `password` (env-expanded); never logged
  std::string password_file;
  PoolConfig pool;
  /// Collector settings: `leak_timeout` (CollectorSettings::leak_timeout, the only copy of it)
  /// and, for PostgreSQL, long_transactions, offenders, activity_breakdown, error_window and
  /// error_min_events (see config_postgres.cc).
  CollectorSettings collector_settings;
  std::vector<std::string> collectors_enabled;
  std::vector<std::string> collectors_disabled;
  /// PostgreSQL targets only: every replica watching this database elects one holder (an
  /// advisory lock, exporter/election.h); only the holder samples, exports and alerts on it.
  bool shared = false;
  /// The election's identity, equal in every replica (default: the target name after ${ENV}
  /// expansion). The advisory lock key is a 64-bit hash of it.
  std::string election_key;
};

/// The whole validated configuration. Immutable after Load; a reload builds a new one.
struct Config {
  std::string source;  // file path, for messages
  std::string listen_address = ":9930";
  Duration interval = std::chrono::seconds(5);
  Duration timeout = std::chrono::seconds(3);
  Duration fast_interval = Duration::zero();  // 0 = off
  Duration peak_window = std::chrono::seconds(60);  // window peaks reach back this far
  bool legacy_stats_names = true;  // pgbouncer-mixin dashboards read the pre-v0.11 names
  std::vector<TargetConfig> targets;
  AlertsConfig alerts;
  /// `external_labels:`: added to every alert (Slack text, Alertmanager labels) and to /status;
  /// typically namespace and pod from the downward API. Also copied into alerts.external_labels.
  std::map<std::string, std::string> external_labels;

  /// Every secret the config holds (passwords, webhook URLs), for last-resort redaction.
  std::vector<std::string> Secrets() const;
};

/// Every problem found, each formatted `file:line:col: key.path: message`.
struct ConfigError {
  std::vector<std::string> problems;
};

/// Parses and validates in one pass. Returns false and fills `errors` with every problem found
/// (never only the first). Reads password files and ${ENV} references as it goes.
bool LoadConfigFile(const std::string& path, Config& out, ConfigError& errors);
bool LoadConfigString(const std::string& yaml, const std::string& source, Config& out,
                      ConfigError& errors);

}  // namespace poolwatch
