#pragma once

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "alerts/alert.h"
#include "alerts/alert_config.h"
#include "collectors/snapshot.h"

namespace poolwatch {

/// The metric families the built-in rules read: the same numbers /metrics shows, each declared
/// once in MetricFamilies() (collectors/metric_families.cc); alerts_rule_families_test checks that
/// every one of them is declared there with the labels the rules select on.
namespace rule_metrics {
inline constexpr const char* kUtilization = "poolwatch_pool_utilization_ratio";
inline constexpr const char* kErrorRatio = "poolwatch_error_ratio";
inline constexpr const char* kErrorEvents = "poolwatch_error_window_events";
inline constexpr const char* kLeaks = "poolwatch_connection_leaks";
inline constexpr const char* kOldestTx = "poolwatch_pg_oldest_transaction_age_seconds";
inline constexpr const char* kMaxwaitPeak = "poolwatch_pgbouncer_maxwait_peak_seconds";
inline constexpr const char* kMaxwait = "pgbouncer_pools_client_maxwait_seconds";
}  // namespace rule_metrics

/// One series of one rule at one severity, near or above its threshold. `above` says the
/// condition holds; a firing alert also stays active while value > clear_threshold (hysteresis).
struct Observation {
  Alert alert;  // labels, summary, value, threshold, unit, runbook, detail, offenders
  bool above = false;
  double clear_threshold = 0;
  std::chrono::milliseconds for_duration{0};
  std::chrono::milliseconds keep_firing_for{0};
  /// Too little evidence to judge (an error ratio over too few events): an alert that exists
  /// keeps its state, neither firing nor resolving on noise; none is created.
  bool hold = false;
};

/// What one snapshot says.
struct RuleOutput {
  std::vector<Observation> observations;
  std::set<std::string> down_targets;  // their other alerts are held
};

/// Evaluates every enabled built-in rule (but SamplerStale, which needs no snapshot) on one
/// snapshot. Pure; thread-safe.
RuleOutput EvaluateRules(const Snapshot& snap, const AlertsConfig& cfg);

/// The SamplerStale observation: no snapshot for `age` (> the rule's threshold in seconds, by
/// default 3 sampling intervals). Empty when the rule is disabled or the age is fine.
std::vector<Observation> EvaluateSamplerStale(double age_seconds, const AlertsConfig& cfg);

/// Adds alerts.external_labels to an observation's labels (a rule's own label wins; `pod` and
/// `instance` are left out on alerts of a shared target), and gives an alert of a shared target
/// its own incident locus, SharedLocusPrefix(target) + locus: the fleet's incident about the
/// shared database never folds with the holder pod's own symptoms, so it is the same incident
/// whichever pod holds, and can be handed over whole. EvaluateRules and EvaluateSamplerStale
/// call it.
void AddFleetIdentity(Observation& o, const AlertsConfig& cfg);
/// "shared db: " for target db.
std::string SharedLocusPrefix(const std::string& target);

/// Every (alertname, severity) the built-in rules can produce, for zero-valued metrics.
std::vector<std::pair<std::string, std::string>> KnownAlertSeverities(const AlertsConfig& cfg);

/// Rule key ("pool_utilization") -> alertname ("PoolUtilizationHigh").
std::string AlertNameOf(const std::string& rule_key);

}  // namespace poolwatch
