#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "alerts/alert.h"
#include "alerts/alert_config.h"

namespace poolwatch {

/// Folds per-rule alerts into incidents, and decides what Slack and log receivers are told.
///
/// The model: every alert has a locus (Alert::locus, set by its rule: "database app" for the
/// pool(s) in front of a database and the database itself, "target x" for a target, "poolwatch"
/// for poolwatch itself). An incident opens when an alert of a locus with no open incident
/// fires; every alert of that locus that fires while it is open is one of its symptoms. It
/// resolves once none of its symptoms has been firing or pending for
/// `alerts.incidents.resolve_after` (so a symptom that flaps, or a transaction that restarts on a
/// still busy backend, stays in the same incident). A held symptom (its target is down) keeps it
/// open.
///
/// Messages per incident and receiver: one firing message `group_wait` after it opened (symptoms
/// that fire meanwhile are in it), at most one escalation update when it reaches critical after
/// a warning was announced (not before `group_interval` after the firing one; off with
/// `escalation_updates: false`), a reminder every `repeat_interval`, and one resolved message
/// (receivers with send_resolved) in the past tense. An incident that resolves before its firing
/// message was due is never announced, and then not resolved either. Routing: the receivers of
/// its severity (route.by_severity, else route.receivers) that are Slack or log receivers.
///
/// Not thread-safe: owned by the alerter thread.
class IncidentTracker {
 public:
  explicit IncidentTracker(const AlertsConfig& cfg);
  /// Applies the current per-rule alerts (pending and firing) and those resolved since the last
  /// call at `now`; sets Alert::incident on the ones that belong to an open incident.
  void Update(std::vector<Alert>& active, std::vector<Alert>& resolved, WallTime now);
  /// The messages due at `now`, one per receiver and incident (the notifier may merge them).
  std::vector<Notification> Due(WallTime now);
  /// Open incidents for /status.
  nlohmann::json StatusJson(WallTime now) const;
  std::size_t OpenCount() const;

  nlohmann::json ToJson() const;
  void FromJson(const nlohmann::json& j);

 private:
  struct Record {
    IncidentNote note;  // the latest content (status "firing")
    WallTime opened{};
    WallTime last_active{};  // last update with a symptom firing or pending
    bool open = true;
    std::map<std::string, double> peak;       // alertname -> peak value
    std::map<std::string, std::string> unit;  // alertname -> unit
    bool announced = false;
    std::string announced_severity;
    bool escalated = false;
    WallTime last_sent{};
    std::set<std::string> told;  // receivers that got the firing message
    /// Identities of the alerts that joined it: they stay in it whatever locus they name later
    /// (not persisted; after a restart the rules' loci decide again).
    std::set<std::string> members;
  };
  void LoadRecord(const nlohmann::json& rj);
  std::vector<std::string> ReceiversFor(const std::string& severity) const;
  Notification Make(const std::string& receiver, const Record& r, const std::string& status,
                    WallTime now) const;

  AlertsConfig cfg_;
  std::map<std::string, ReceiverType> types_;
  std::map<std::string, bool> send_resolved_;
  std::map<std::string, Record> records_;  // by incident id
};

/// The victims of an incident aggregated into one line: "5 clients: psql x5 from 127.0.0.1,
/// longest 1m09s; 3 backends blocked: psql x3, longest 12s". Empty when there are none.
std::string AggregateVictims(const std::vector<Offender>& victims);

}  // namespace poolwatch
