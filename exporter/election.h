#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "base/clock.h"
#include "collectors/connection.h"
#include "exporter/config.h"

namespace poolwatch {

/// The advisory lock key of an election: FNV-1a 64 of "poolwatch:" + election_key, as the
/// signed bigint pg_try_advisory_lock(bigint) takes. Equal in every replica for the same key.
std::int64_t ElectionLockKey(const std::string& election_key);
/// The LISTEN/NOTIFY channel of an election: "poolwatch_" + 16 hex digits of the lock key (an
/// identifier that needs no quoting).
std::string ElectionChannel(const std::string& election_key);
/// The server-side idle_session_timeout set on the election session: a holder that stops
/// answering (SIGSTOP, a hung process whose kernel still acknowledges TCP keepalives) loses its
/// lock this long after its last heartbeat. 3 x sampling.interval, at least 1 s.
Duration ElectionIdleTimeout(const Config& config);

enum class ElectionRole { kStandby, kHolder };
const char* ElectionRoleName(ElectionRole r);

/// One replica's side of the election for one `shared: true` PostgreSQL target.
///
/// It keeps one dedicated session (never a probe-pool one, which the pool recycles) on which it
/// holds the session-level lock `pg_try_advisory_lock(ElectionLockKey(key))` while it is the
/// holder, and LISTENs on ElectionChannel(key) while it is a standby. Each Check() (once per
/// sampling interval) costs one statement: the holder's heartbeat `SELECT 1`, a standby's try.
/// The session sets idle_session_timeout (ElectionIdleTimeout) so that a holder that hangs with
/// its connection open is dropped by PostgreSQL itself; a holder that dies (kill -9) is dropped at
/// once (the kernel closes its socket); a lost host by TCP keepalives. No write privilege is
/// needed: advisory locks and NOTIFY take none.
///
/// Handoff: the holder Publish()es its announced-alert state for the target (NOTIFY, in chunks
/// under PostgreSQL's 8000-byte payload limit); standbys keep the last complete one, and the
/// replica that takes over adopts it (exporter/app.cc) so it neither announces again what was
/// announced nor forgets the resolve that is owed.
///
/// Thread-safety: Check, Publish and Close are called by the target's sampler thread; role(),
/// Stats() and LastHandoff() from any thread.
class Election {
 public:
  using Connector =
      std::function<std::unique_ptr<Connection>(SteadyTime, const std::atomic<bool>& cancel)>;
  Election(std::string target, std::string key, Duration idle_timeout, Connector connect);

  /// Keeps or seeks the lock, bounded by `deadline`; returns the role for this sample. Never
  /// throws: a failed session makes this replica a standby until the next Check.
  ElectionRole Check(SteadyTime deadline);
  /// Holder only: NOTIFYs `state` (any text) to the standbys. Never throws.
  void Publish(const std::string& state, SteadyTime deadline);
  /// The last complete state a holder published (or this replica's own last one), "" if none.
  std::string LastHandoff() const;
  ElectionRole role() const { return role_.load(); }
  void Close();

  struct Stats {
    double tries = 0;         // pg_try_advisory_lock calls
    double acquired = 0;      // standby -> holder
    double lost = 0;          // holder -> standby (session lost)
    double statements = 0;    // every statement on the election session
    double connects = 0;
    double published = 0;    // handoff states sent
    double received = 0;     // complete handoff states received
  };
  Stats GetStats() const;

 private:
  void Drop();
  void Open(SteadyTime deadline);
  bool TryLock();
  void Receive(Connection& c);

  std::string target_;
  std::string key_;
  std::int64_t lock_key_;
  std::string channel_;
  Duration idle_timeout_;
  Connector connect_;
  std::atomic<bool> cancel_{false};
  std::unique_ptr<Connection> conn_;
  std::atomic<ElectionRole> role_{ElectionRole::kStandby};
  bool holding_ = false;  // the lock is held on conn_
  bool sticky_ = false;   // lost the session as holder, not yet known whether another holds it
  std::uint64_t publish_seq_ = 0;
  std::string nonce_;  // this replica's id in chunk headers
  mutable std::mutex mutex_;  // guards below
  std::string handoff_;
  std::map<std::string, std::map<int, std::string>> partial_;  // "nonce/seq" -> chunk index
  Stats stats_;
  bool warned_idle_timeout_ = false;
};

}  // namespace poolwatch
