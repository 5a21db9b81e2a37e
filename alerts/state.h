#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "alerts/alert.h"
#include "alerts/alert_config.h"
#include "alerts/rules.h"

namespace poolwatch {

// Persistence (alerts/persist.cc): every reader takes defaults for missing fields, so a state
// file written by an older poolwatch loads.
nlohmann::json OffenderToJson(const Offender& o);
Offender OffenderFromJson(const nlohmann::json& j);
nlohmann::json IncidentNoteToJson(const IncidentNote& n);
IncidentNote IncidentNoteFromJson(const nlohmann::json& j);
nlohmann::json AlertToJson(const Alert& a);
Alert AlertFromJson(const nlohmann::json& j);
nlohmann::json NotificationToJson(const Notification& n);
Notification NotificationFromJson(const nlohmann::json& j);

/// inactive -> pending (`for`) -> firing -> resolved, one record per identity (label set).
/// Hysteresis and keep_firing_for keep a value hovering at the threshold from flapping; alerts
/// of a down target are held (neither re-sent nor resolved); a firing critical inhibits the
/// warning of the same alert. Not thread-safe: owned by the alerter thread.
class AlertStateMachine {
 public:
  /// `eval_interval` is the time between evaluations (sampling.interval). `for` is checked only
  /// when a snapshot arrives, and a snapshot lands a few ms earlier or later each time (sample
  /// durations vary), so a pending alert fires once it has been pending for `for` less half an
  /// interval: otherwise a jitter of 1 ms could cost a whole extra interval of alert latency.
  explicit AlertStateMachine(std::chrono::milliseconds eval_interval = std::chrono::milliseconds(0))
      : for_tolerance_(eval_interval / 2) {}

  /// Applies one evaluation at wall time `now`. Alerts of `down_targets` (but TargetDown) that
  /// were not observed are held; with `hold_all`, every alert not observed is.
  void Update(const std::vector<Observation>& observations,
              const std::set<std::string>& down_targets, WallTime now, bool hold_all = false);
  /// Pending and firing alerts (held and inhibited ones included, flagged).
  std::vector<Alert> Active() const;
  /// Alerts resolved by the updates since the last call.
  std::vector<Alert> TakeResolved();

  nlohmann::json ToJson() const;
  /// Restores records saved by ToJson (resolved-but-unreported ones included).
  void FromJson(const nlohmann::json& j);

 private:
  struct Record {
    Alert alert;
    std::chrono::milliseconds for_duration{0};
    std::chrono::milliseconds keep_firing_for{0};
    WallTime last_active{};
  };
  std::chrono::milliseconds for_tolerance_;
  std::map<std::string, Record> records_;
  std::vector<Alert> resolved_;
};

/// Per-receiver grouping like Alertmanager (group_by, group_wait, group_interval,
/// repeat_interval, resolved notices) for Slack and log receivers, and the keep-alive protocol
/// for Alertmanager receivers (re-send firing every `alertmanager_resend`, resolved for
/// `alertmanager_resolved_resend_for`). Routes by severity. Not thread-safe.
class Dispatcher {
 public:
  explicit Dispatcher(const AlertsConfig& cfg);
  /// Feeds the current active alerts and those resolved since the last call.
  void Update(const std::vector<Alert>& active, const std::vector<Alert>& resolved, WallTime now);
  /// Notifications due at `now` (each group flushed at most once per call).
  std::vector<Notification> Due(WallTime now);
  /// Receivers an alert with this severity goes to.
  std::vector<std::string> ReceiversFor(const std::string& severity) const;

  nlohmann::json ToJson() const;
  void FromJson(const nlohmann::json& j);

 private:
  struct Group {
    std::string receiver;
    AlertLabels group_labels;
    std::map<std::string, Alert> alerts;  // current: firing/pending or resolved-unreported
    std::set<std::string> notified;       // firing identities in the last notification
    WallTime first_seen{};
    WallTime last_flush{};
    bool flushed = false;
  };
  struct AmState {
    std::map<std::string, Alert> alerts;  // firing (held too) and recently resolved
    WallTime last_send{};
    bool dirty = false;
  };
  std::string GroupKey(const std::string& receiver, const Alert& a, AlertLabels& labels) const;

  AlertsConfig cfg_;
  std::map<std::string, ReceiverType> types_;
  std::map<std::string, bool> send_resolved_;
  std::map<std::string, Group> groups_;
  std::map<std::string, AmState> am_;
};

}  // namespace poolwatch
