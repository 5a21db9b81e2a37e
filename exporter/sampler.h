#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "collectors/collector.h"
#include "collectors/pgbouncer_wait_tracker.h"
#include "collectors/sliding_window.h"
#include "collectors/snapshot.h"
#include "base/files.h"
#include "exporter/config.h"
#include "exporter/election.h"
#include "exporter/probe_pool.h"
#include "exporter/worker_group.h"

namespace poolwatch {

/// Opens a connection for a target (the seam integration tests use the real one, unit tests a
/// fake), bounded by the deadline and given up once `cancel` is true. Throws DbError.
using TargetConnector = std::function<std::unique_ptr<Connection>(
    const TargetConfig&, const Config&, SteadyTime, const std::atomic<bool>& cancel)>;

/// The production connector: libpq, application_name=poolwatch, and for PostgreSQL targets
/// statement_timeout, lock_timeout and idle_in_transaction_session_timeout.
std::unique_ptr<Connection> ConnectTarget(const TargetConfig& target, const Config& config,
                                          SteadyTime deadline, const std::atomic<bool>& cancel);

/// `file`'s current value, re-read if it changed on disk; logs a re-read (info) or a rejected
/// change (error, the previous value kept) naming `what`. Thread-safe.
std::string CurrentSecret(SecretFile& file, const std::string& what);

/// How the election of `shared: true` targets meets the alerter (exporter/app.cc wires them).
/// Called on the target's sampling thread; each may be empty.
struct ElectionHooks {
  /// The announced-alert state of a target, to publish to the standbys (holder, every sample).
  std::function<std::string(const std::string& target)> state_of;
  /// This replica became the holder: adopt the last state the previous holder published.
  std::function<void(const std::string& target, const std::string& state)> adopt;
  /// This replica became a standby: drop the target's alert state without resolving anything
  /// (the new holder owes the resolve).
  std::function<void(const std::string& target)> forget;
};

/// One target: its probe pool, its collectors, and what it looked like last time (for logging
/// transitions rather than every failed sample). Sample() is called by one thread at a time.
class TargetSampler {
 public:
  TargetSampler(const TargetConfig& target, const Config& config, const Clock& clock,
                TargetConnector connector, const ElectionHooks* hooks = nullptr);
  /// Samples the target once, bounded by `deadline`. Never throws.
  TargetSample Sample(SteadyTime deadline, TargetStatus& status);
  /// PgBouncer targets with sampling.fast_interval: one SHOW POOLS through the same probe pool
  /// into the waiting-clients tracker the main sample exports. Never throws. Thread-safe with
  /// Sample() (the probe pool and the tracker are).
  void SampleFast(SteadyTime deadline);
  /// Whether SampleFast applies: a PgBouncer target whose pool has room for a second checkout.
  bool FastCapable() const;
  /// Pool upkeep (idle expiry, leak reclaim, top-up to pool.min), bounded by `deadline`.
  void Maintain(SteadyTime deadline);
  void Close();
  const TargetConfig& config() const { return target_; }

 private:
  // The steps of Sample(), in order.
  /// A shared target's election: true when this replica is a standby (the sample is then done).
  bool StandBy(SteadyTime deadline, TargetSample& s, TargetStatus& status);
  /// Runs the collectors on a probe connection, once more on a fresh one if the pooled one died.
  void RunCollectors(SteadyTime deadline, TargetSample& s, TargetStatus& status,
                     std::map<std::string, double>& durations);
  /// Runs collectors_[next...] on one lease; true when its connection was lost (retry).
  bool RunOnLease(ProbePool::Lease& lease, std::size_t& next, TargetSample& s, TargetStatus& status,
                  std::map<std::string, double>& durations);
  /// `e` lost the session at collectors_[next]: a timeout on a live session runs the
  /// sample out of budget (false, the target stays up); otherwise the target's error, and true
  /// (RunOnLease's "retry").
  bool LostSession(const DbError& e, bool live, ProbePool::Lease& lease, std::size_t& next,
                   TargetStatus& status);
  /// Sends BEGIN / ROLLBACK / COMMIT around a PostgreSQL sample; false (logged) when it failed.
  bool Transaction(Connection& conn, const char* statement);
  /// collectors_[from...] fail this sample: the budget ran out on a live connection (in
  /// collectors_[from]).
  void OutOfBudget(std::size_t from);
  void LogTransition(const TargetStatus& status);
  /// Keeps what a complete sample found (or drops a partial one) and adds the self-metrics.
  void Finish(TargetSample& s, TargetStatus& status,
              const std::map<std::string, double>& durations);
  void AddSelfMetrics(TargetSample& s, const TargetStatus& status);
  /// What to redact from error texts: the configured password and the current password_file's.
  std::vector<std::string> Passwords() const;
  void AddElectionMetrics(TargetSample& s, ElectionRole role);

  TargetConfig target_;
  const Clock& clock_;
  Duration sample_budget_;  // sampling.timeout, for messages
  SlidingWindow probe_window_;  // failed / attempted probe connects and queries
  /// password_file, re-read when Kubernetes (or anyone) replaces it; null without one. Declared
  /// before pool_, whose connector reads it for every new connection.
  std::shared_ptr<SecretFile> password_;
  /// A pointer so that a replica that becomes a standby can drop every probe connection (a
  /// fresh pool replaces it, on the sampling thread; swap_mutex_ orders that with Close()).
  std::unique_ptr<ProbePool> pool_;
  std::mutex swap_mutex_;
  std::function<std::unique_ptr<ProbePool>()> make_pool_;
  std::vector<std::unique_ptr<Collector>> collectors_;
  std::shared_ptr<PoolWaitTracker> wait_tracker_;  // PgBouncer targets only
  std::unique_ptr<Election> election_;              // shared PostgreSQL targets only
  const ElectionHooks* hooks_ = nullptr;
  ElectionRole last_role_ = ElectionRole::kStandby;
  bool first_ = true;
  bool was_up_ = false;
  DownReason last_reason_ = DownReason::kNone;
  std::map<std::string, double> collector_errors_;
  std::map<std::string, double> collector_timeouts_;  // budget spent on a live connection
  bool timing_out_ = false;  // a collector timed out since the last complete sample (logging)
  bool use_transactions_ = true;            // false once BEGIN closed a fresh session (a pooler)
  bool retry_without_transaction_ = false;  // that just happened: retry this sample
  double probe_queries_ = 0;
  double probe_query_failures_ = 0;
  MetricSet::Footprint last_footprint_;  // the last sample's, reserved for the next
};

/// Completes each snapshot before it is rendered: process-wide metrics (build info, reload
/// status, alert state) and each target's health. Called on the sampler thread.
using ExtraMetricsFn = std::function<void(Snapshot&)>;
/// Receives every published snapshot (the alert evaluator, the HTTP server's store).
using PublishFn = std::function<void(std::shared_ptr<const Snapshot>)>;

/// Samples every target each interval, in parallel (one hung target cannot delay the others past
/// sampling.timeout), and publishes an immutable Snapshot. Owns the sampling thread, the fast
/// loop's thread when configured, and one long-lived worker per target beyond the first.
class Sampler {
 public:
  Sampler(const Config& config, const Clock& clock, TargetConnector connector,
          ExtraMetricsFn extra, PublishFn publish, ElectionHooks hooks = {});
  ~Sampler();

  /// Samples all targets once on the calling thread and publishes the result.
  std::shared_ptr<const Snapshot> SampleOnce();
  void Start();
  /// Stops the thread and closes every connection; returns within ~sampling.timeout.
  void Stop();

  /// Steady time of the last completed sample (epoch when none yet). Thread-safe.
  SteadyTime LastCompleted() const;
  /// The configuration's sampling.interval and sampling.timeout (for /healthz). Thread-safe.
  Duration interval() const { return config_.interval; }
  Duration timeout() const { return config_.timeout; }
  std::uint64_t SamplesCompleted() const { return completed_.load(); }

 private:
  void Run();
  void RunFast();  // the fast SHOW POOLS loop (sampling.fast_interval)

  Config config_;
  const Clock& clock_;
  ExtraMetricsFn extra_;
  PublishFn publish_;
  ElectionHooks hooks_;  // before targets_, which point at it
  std::vector<std::unique_ptr<TargetSampler>> targets_;
  std::thread thread_;
  std::thread fast_thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::atomic<std::uint64_t> completed_{0};
  std::atomic<std::int64_t> last_completed_ns_{0};
  std::uint64_t sequence_ = 0;
  std::size_t last_text_bytes_ = 0;  // the last exposition's size, reserved for the next
  // Samples targets 1..n-1 while the sampling thread samples target 0; declared last so its
  // threads are joined before the targets they use are destroyed.
  std::unique_ptr<WorkerGroup> workers_;
  // The same for the fast loop (sampling.fast_interval): one stuck PgBouncer cannot delay the
  // others' fast readings.
  std::unique_ptr<WorkerGroup> fast_workers_;
};

}  // namespace poolwatch
