#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "base/clock.h"
#include "collectors/connection.h"
#include "exporter/config.h"

namespace poolwatch {

/// Opens one connection to the target, bounded by the deadline, giving up early once `cancel`
/// is true (the pool is closing). Throws DbError.
using ConnectFn =
    std::function<std::unique_ptr<Connection>(SteadyTime deadline, const std::atomic<bool>& cancel)>;

/// Counters and gauges of one pool, for poolwatch_probe_pool_* metrics.
struct ProbePoolStats {
  int idle = 0;
  int in_use = 0;
  int max = 0;
  double connects_ok = 0;
  double connects_failed = 0;
  double acquires = 0;
  double acquire_timeouts = 0;
  double acquire_wait_seconds = 0;
  double leaks = 0;  // checkouts held past leak_timeout (each counted once, then reclaimed)
  int leaked_now = 0;
  double closed_idle = 0;
  double closed_lifetime = 0;
  double closed_broken = 0;
  double health_checks_failed = 0;
  DownReason last_error_reason = DownReason::kNone;
  std::string last_error;
};

/// poolwatch's own small, bounded pool of persistent connections to one target.
///
/// Thread-safe. Never holds more than `max` connections (idle + in use + being opened),
/// whatever happens: a leaked checkout is reclaimed by aborting its socket, and its slot is
/// freed only when the holder lets go, so the bound holds even then.
class ProbePool {
 public:
  /// A checked-out connection; returns it to the pool when destroyed.
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& o) noexcept { *this = std::move(o); }
    Lease& operator=(Lease&& o) noexcept;
    ~Lease() { Release(); }
    Connection* operator->() const { return conn_; }
    Connection& operator*() const { return *conn_; }
    explicit operator bool() const { return conn_ != nullptr; }
    /// True when this connection was opened for this checkout (not reused from idle).
    bool fresh() const { return fresh_; }
    void Release();

   private:
    friend class ProbePool;
    ProbePool* pool_ = nullptr;
    Connection* conn_ = nullptr;
    std::uint64_t id_ = 0;
    bool fresh_ = false;
  };

  ProbePool(std::string target, PoolConfig config, ConnectFn connect, const Clock& clock,
            std::string health_query);
  ~ProbePool();
  ProbePool(const ProbePool&) = delete;
  ProbePool& operator=(const ProbePool&) = delete;

  /// Hands out an idle connection (health-checked when idle for long), opens a new one when below
  /// max, or waits until `deadline`. `holder` names the caller in leak reports.
  /// Throws DbError: the connect error, kTimeout when none became free, or the last connect
  /// error while backing off.
  Lease Acquire(const std::string& holder, SteadyTime deadline);

  /// Closes idle connections past idle_timeout (down to min) or max_lifetime, reclaims leaked
  /// checkouts, and tops up to `min` when not backing off. The top-up connect is bounded by
  /// `deadline` (the caller's sampling budget) as well as connect_timeout, and skipped when the
  /// budget is spent. Call periodically, from the target's own worker.
  void Maintain(SteadyTime deadline);

  /// Aborts every connection (idle and in use), cancels connects in progress and stops handing
  /// out new ones.
  void Close();

  ProbePoolStats Stats() const;
  /// Backend pids of every open connection, to exclude poolwatch from its own counts.
  std::vector<int> BackendPids() const;

 private:
  struct Slot {
    std::uint64_t id;
    std::unique_ptr<Connection> conn;
    SteadyTime opened;
    SteadyTime last_used;
    SteadyTime checked_out;
    std::string holder;
    bool in_use = false;
    bool leaked = false;
  };

  void Return(std::uint64_t id, bool healthy);
  // The steps of Acquire().
  /// An idle connection fit to hand out, newest first, after dropping expired and broken ones
  /// (and a health check when it was idle long); null when none is idle. Throws when closed.
  Slot* ReuseIdleLocked(std::unique_lock<std::mutex>& lock, SteadyTime deadline);
  /// Runs the health query on slot `id` without the lock; null when it failed (the slot is
  /// dropped) or the slot went away meanwhile.
  Slot* HealthCheckLocked(std::unique_lock<std::mutex>& lock, std::uint64_t id,
                          SteadyTime deadline);
  /// Opens a connection into a new slot (throws while backing off after a connect failure).
  Slot& OpenSlotLocked(std::unique_lock<std::mutex>& lock, SteadyTime deadline);
  Lease HandOutLocked(Slot& s, const std::string& holder, SteadyTime start, bool fresh = false);
  /// `leftover`: a background connect on what is left of a sample's budget (Maintain); its
  /// running out of that budget is not counted as a connect failure.
  std::unique_ptr<Connection> OpenLocked(std::unique_lock<std::mutex>& lock, SteadyTime deadline,
                                         bool leftover = false);
  void NoteFailureLocked(const DbError& e);
  /// A freshly opened connection joins the pool idle; a waiting Acquire is woken.
  void AddIdleLocked(std::unique_ptr<Connection> conn);
  int TotalLocked() const { return static_cast<int>(slots_.size()) + connecting_; }

  const std::string target_;
  const PoolConfig config_;
  const ConnectFn connect_;
  const Clock& clock_;
  const std::string health_query_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<Slot> slots_;
  int connecting_ = 0;
  bool closed_ = false;
  std::atomic<bool> cancel_{false};  // set by Close(); connects in progress give up
  std::uint64_t next_id_ = 1;
  // Backoff after connect failures.
  SteadyTime retry_after_{};
  Duration backoff_{};
  std::mt19937 rng_{std::random_device{}()};
  ProbePoolStats stats_;
};

}  // namespace poolwatch
