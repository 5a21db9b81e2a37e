#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "alerts/alert_config.h"
#include "alerts/incidents.h"
#include "alerts/notifier.h"
#include "alerts/state.h"
#include "base/clock.h"
#include "collectors/snapshot.h"

namespace poolwatch {

/// The alerting pipeline: on every published snapshot, rules -> state machine -> dispatcher
/// (grouping, routing) -> notifier queues (one thread per receiver) -> sinks. Persists alert and
/// notification state atomically to `state_file` so a restart neither re-sends a firing alert as
/// new nor loses a pending resolve.
///
/// Thread-safety: OnSnapshot, AddMetrics and StatusJson may be called from any thread;
/// evaluation runs on the alerter's own thread (or on the caller's in Evaluate/Tick, for tests).
class Alerter {
 public:
  /// Production: its own libcurl client. `clock` must outlive the Alerter.
  Alerter(AlertsConfig cfg, const Clock& clock);
  /// `http` and `clock` must outlive the Alerter.
  Alerter(AlertsConfig cfg, const Clock& clock, HttpClient& http);
  /// For tests: explicit sinks (one per receiver, same names).
  Alerter(AlertsConfig cfg, const Clock& clock, std::vector<std::unique_ptr<AlertSink>> sinks);
  ~Alerter();

  /// Loads the state file (a missing one is a fresh start) and starts the threads.
  void Start();
  /// Stops the threads and writes the state file. A request in flight is cancelled; its
  /// notification stays queued (persisted, or carried over by StateJson on a reload).
  void Stop();
  /// Stop for a configuration reload: no more evaluations, then up to 2 s for a delivery attempt
  /// under way to get its answer (so a message the receiver already has is not cancelled and
  /// sent again by the new configuration), then Stop().
  void StopForReload();
  /// Stop for a process shutdown: first keeps delivering what is queued or being retried for up
  /// to `grace` (alerts.shutdown_grace), then Stop(). Whatever is still undelivered is written
  /// to the state file and sent at the next start; each outcome is logged. Blocks at most about
  /// `grace` plus one second (a cancelled request's abort).
  void Shutdown(std::chrono::milliseconds grace);
  /// Hands a new snapshot to the alerter thread. Never blocks on evaluation or delivery.
  void OnSnapshot(std::shared_ptr<const Snapshot> snap);

  /// Synchronous evaluation of one snapshot, then Tick() (tests and the alerter thread).
  void Evaluate(const Snapshot& snap);
  /// Time-driven work: SamplerStale, due group notifications, state persistence.
  void Tick();
  /// Loads the state file now (Start does it unless `seed` state was given).
  void LoadState();
  /// The whole persisted state as JSON (what the state file holds).
  nlohmann::json StateJson() const;
  /// Restores state from StateJson() (a reload without a state file); call before Start().
  void RestoreState(const nlohmann::json& j);
  /// Writes the state file now (atomically: temp file, fsync, rename).
  bool SaveState();

  /// Fleet handoff (alerts/handoff.cc, exporter/election.h): everything the alerter holds about
  /// one target (its alerts, groups, Alertmanager keep-alive entries, incidents and queued
  /// notifications) as compact ASCII JSON, for the holder of a shared target to publish.
  std::string TargetState(const std::string& target) const;
  /// Replaces everything held about `target` by a TargetState() of another replica ("" or
  /// unreadable: drops it, resolving nothing). A firing alert it carries is not announced
  /// again; a resolve it owes is sent.
  void AdoptTargetState(const std::string& target, const std::string& state);

  /// poolwatch_alerts{alertname,severity,state} and the notifier's metrics.
  void AddMetrics(MetricSet& m) const;
  /// Active alerts for /status.
  nlohmann::json StatusJson() const;
  /// Open incidents for /status (alerts/incidents.h).
  nlohmann::json IncidentsJson() const;
  Notifier& notifier() { return *notifier_; }

 private:
  void Run();
  bool restored_ = false;

  AlertsConfig cfg_;
  const Clock& clock_;
  /// Cancelled on Stop so a hanging receiver cannot delay exit.
  std::unique_ptr<HttpClient> own_http_;
  std::unique_ptr<Notifier> notifier_;
  mutable std::mutex mutex_;  // guards everything below
  std::condition_variable cv_;
  AlertStateMachine machine_;
  Dispatcher dispatcher_;
  IncidentTracker incidents_;
  std::shared_ptr<const Snapshot> pending_snapshot_;
  SteadyTime last_snapshot_{};
  bool have_snapshot_ = false;
  bool dirty_ = false;
  std::uint64_t saved_generation_ = 0;
  bool state_write_failing_ = false;
  double state_write_failures_ = 0;
  std::vector<Alert> active_;  // for metrics and /status
  bool stopping_ = false;  // the evaluation thread ends
  bool stopped_ = false;   // Stop() ran (idempotent)
  std::thread thread_;
};

/// Sends one test notification to every receiver and returns each result (receiver, result).
std::vector<std::pair<std::string, SendResult>> SendTestAlerts(const AlertsConfig& cfg,
                                                               const Clock& clock,
                                                               HttpClient& http);

}  // namespace poolwatch
