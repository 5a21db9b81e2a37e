#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace poolwatch {

using AlertDuration = std::chrono::milliseconds;

/// A per-series override of a rule: every set field matches (empty = any) and the first matching
/// override wins. `user` is PgBouncer's pool user, so target+database+user names a pool.
struct RuleOverride {
  std::string target;
  std::string database;
  std::string user;
  std::optional<bool> enabled;
  std::optional<double> warning;
  std::optional<double> critical;
  std::optional<AlertDuration> for_duration;
};

/// One built-in rule. Thresholds are in the rule's unit (a ratio, or seconds for durations);
/// an unset warning/critical means that severity does not exist for the rule.
struct RuleConfig {
  bool enabled = true;
  std::optional<double> warning;
  std::optional<double> critical;
  AlertDuration for_duration{60'000};
  /// `for` of the critical severity when it differs (pool_utilization: warning 2m, critical 1m).
  std::optional<AlertDuration> critical_for;
  /// A firing alert stays firing this long after its condition last held (anti-flapping).
  AlertDuration keep_firing_for{0};
  /// A firing alert clears only once the value is at or below threshold x (1 - hysteresis).
  double hysteresis = 0.05;
  /// Extra static labels (part of the alert identity) and the runbook link.
  std::map<std::string, std::string> labels;
  std::string runbook_url;
  std::vector<std::string> exclude_databases;     // exact names, or prefixes ending in '*'
  std::vector<std::string> exclude_applications;  // offenders with these names are not the who
  std::vector<RuleOverride> overrides;
};

enum class ReceiverType { kSlack, kAlertmanager, kLog };

/// One receiver (`alerts.receivers[]`). The Slack webhook URL is a secret: never logged, never in
/// /status or errors.
struct ReceiverConfig {
  std::string name;
  ReceiverType type = ReceiverType::kLog;
  std::string webhook_url;  // slack: from webhook_url_file or webhook_url (${ENV})
  std::string webhook_url_file;  // slack: re-read when it changes on disk (empty: none)
  bool send_resolved = true;
  std::vector<std::string> urls;  // alertmanager
  AlertDuration timeout{10'000};  // per HTTP request
};

/// `alerts.route`: which receivers get which severity, and Alertmanager-style grouping.
struct RouteConfig {
  std::vector<std::string> receivers;                           // default
  std::map<std::string, std::vector<std::string>> by_severity;  // severity -> receivers
  std::vector<std::string> group_by{"alertname", "target"};
  AlertDuration group_wait{30'000};
  AlertDuration group_interval{300'000};
  AlertDuration repeat_interval{4 * 3'600'000};
};

/// `alerts.delivery`: how the notifier treats every HTTP receiver.
struct DeliveryConfig {
  double rate_limit_per_second = 1.0;  // per Slack webhook
  std::size_t queue_size = 100;        // per receiver; overflow drops the oldest
  AlertDuration retry_initial{1'000};  // 5xx / transport backoff, doubling, +-20% jitter
  AlertDuration retry_max{60'000};
  AlertDuration retry_deadline{600'000};  // a notification given up after this is dropped
  AlertDuration alertmanager_resend{60'000};
  AlertDuration alertmanager_resolved_resend_for{900'000};
};

/// `alerts.incidents`: how symptoms fold into incidents for Slack and log receivers.
struct IncidentConfig {
  /// false: Slack and log receivers get per-rule groups as Alertmanager does (the old model).
  bool enabled = true;
  /// An incident resolves once every symptom has stayed clear this long (a transaction that
  /// restarts on a busy backend, or a flapping symptom, stays the same incident).
  AlertDuration resolve_after{60'000};
  /// One update when an incident escalates from warning to critical (at most one).
  bool escalation_updates = true;
};

/// The `alerts:` section. Parsed and validated by the exporter's config loader (so every config
/// error carries file:line:col); consumed by the alerts library. Rule keys: pool_utilization,
/// error_rate, connection_leak, long_transaction, clients_waiting, target_down, sampler_stale.
struct AlertsConfig {
  bool enabled = false;  // true when the section is present
  std::string state_file;
  std::string dashboard_url;  // a link in messages, and Alertmanager's generatorURL
  /// Every built-in rule with its documented defaults, also without an `alerts:` section (the
  /// health level uses the same thresholds); the loader overrides from the YAML.
  std::map<std::string, RuleConfig> rules = DefaultRules();
  std::vector<ReceiverConfig> receivers;
  RouteConfig route;
  DeliveryConfig delivery;
  IncidentConfig incidents;
  /// On SIGTERM/SIGINT, how long queued and retried notifications are still delivered before
  /// poolwatch exits; what remains goes to state_file for the next start. 0: exit at once.
  AlertDuration shutdown_grace{5'000};
  /// The top-level `external_labels:`, added to every alert's labels (but `pod` and `instance`
  /// on alerts of a shared target: they name a replica, and a shared target's alert keeps one
  /// identity across a takeover) and shown in Slack messages. Copied in by the loader.
  std::map<std::string, std::string> external_labels;
  /// Names of the `shared: true` targets (exporter/election.h), copied in by the loader.
  std::set<std::string> shared_targets;
  /// sampling.interval, copied in by the loader (Alertmanager endsAt, SamplerStale default).
  AlertDuration eval_interval{5'000};

  /// The defaults of every built-in rule (the thresholds the README documents), keyed as in the
  /// YAML.
  static std::map<std::string, RuleConfig> DefaultRules();
};

}  // namespace poolwatch
