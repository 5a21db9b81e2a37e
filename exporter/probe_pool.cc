#include "exporter/probe_pool.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "base/time.h"

namespace poolwatch {

ProbePool::Lease& ProbePool::Lease::operator=(Lease&& o) noexcept {
  if (this != &o) {
    Release();
    pool_ = o.pool_;
    conn_ = o.conn_;
    id_ = o.id_;
    fresh_ = o.fresh_;
    o.pool_ = nullptr;
    o.conn_ = nullptr;
  }
  return *this;
}

void ProbePool::Lease::Release() {
  if (pool_ != nullptr && conn_ != nullptr) pool_->Return(id_, conn_->Healthy());
  pool_ = nullptr;
  conn_ = nullptr;
}

ProbePool::ProbePool(std::string target, PoolConfig config, ConnectFn connect, const Clock& clock,
                     std::string health_query)
    : target_(std::move(target)),
      config_(config),
      connect_(std::move(connect)),
      clock_(clock),
      health_query_(std::move(health_query)) {
  stats_.max = config_.max;
}

ProbePool::~ProbePool() { Close(); }

void ProbePool::NoteFailureLocked(const DbError& e) {
  stats_.connects_failed += 1;
  stats_.last_error = e.what();
  stats_.last_error_reason = e.reason();
  backoff_ = backoff_.count() == 0 ? config_.backoff_initial
                                   : std::min<Duration>(backoff_ * 2, config_.backoff_max);
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  auto wait = std::chrono::duration_cast<Duration>(backoff_ * jitter(rng_));
  retry_after_ = clock_.Now() + wait;
}

std::unique_ptr<Connection> ProbePool::OpenLocked(std::unique_lock<std::mutex>& lock,
                                                  SteadyTime deadline, bool leftover) {
  ++connecting_;
  const SteadyTime own_deadline = clock_.Now() + config_.connect_timeout;
  const bool budget_bound = deadline < own_deadline;
  SteadyTime connect_deadline = std::min(deadline, own_deadline);
  lock.unlock();
  std::unique_ptr<Connection> conn;
  try {
    conn = connect_(connect_deadline, cancel_);
  } catch (const DbError& e) {
    lock.lock();
    --connecting_;
    // A background connect (top-up, renewal) that ran out of what was left of the sampling
    // budget before connect_timeout says nothing about the target: not a probe error, no
    // backoff. A refusal, an auth failure or a connect_timeout expiry is one.
    if (!(leftover && budget_bound && e.reason() == DownReason::kTimeout)) NoteFailureLocked(e);
    cv_.notify_all();
    throw;
  }
  lock.lock();
  --connecting_;
  stats_.connects_ok += 1;
  backoff_ = Duration::zero();
  retry_after_ = SteadyTime{};
  return conn;
}

ProbePool::Lease ProbePool::Acquire(const std::string& holder, SteadyTime deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  const SteadyTime start = clock_.Now();
  auto hand_out = [&](Slot& s, bool fresh) {
    s.in_use = true;
    s.leaked = false;
    s.checked_out = clock_.Now();
    s.holder = holder;
    stats_.acquires += 1;
    stats_.acquire_wait_seconds += Seconds(s.checked_out - start);
    Lease l;
    l.pool_ = this;
    l.conn_ = s.conn.get();
    l.id_ = s.id;
    l.fresh_ = fresh;
    return l;
  };
  for (;;) {
    if (closed_) throw DbError("probe pool is closed", DownReason::kOther, "", true);
    SteadyTime now = clock_.Now();
    // 1. Reuse an idle connection, newest first; drop expired or unhealthy ones.
    for (auto it = slots_.rbegin(); it != slots_.rend(); ++it) {
      if (it->in_use) continue;
      // The last connection past max_lifetime is renewed by Maintain (make before break): at
      // max_connections a replacement may not be had, and the session we hold is the only view.
      const bool last = slots_.size() == 1 && connecting_ == 0;
      if ((now - it->opened > config_.max_lifetime && !last) || !it->conn->Healthy()) {
        (now - it->opened > config_.max_lifetime ? stats_.closed_lifetime : stats_.closed_broken) +=
            1;
        slots_.erase(std::next(it).base());
        cv_.notify_all();
        break;  // iterators invalid; rescan
      }
      if (!health_query_.empty() && now - it->last_used > config_.health_check_interval) {
        it->in_use = true;
        std::uint64_t id = it->id;
        Connection* c = it->conn.get();
        lock.unlock();
        bool ok = true;
        try {
          c->SetDeadline(std::min(deadline, clock_.Now() + config_.connect_timeout));
          c->Query(health_query_);
        } catch (const DbError&) {
          ok = false;
        }
        lock.lock();
        auto s = std::find_if(slots_.begin(), slots_.end(), [&](const Slot& x) { return x.id == id; });
        if (s == slots_.end()) break;
        if (!ok) {
          stats_.health_checks_failed += 1;
          slots_.erase(s);
          cv_.notify_all();
          break;
        }
        return hand_out(*s, false);
      }
      return hand_out(*it, false);
    }
    bool any_idle = std::any_of(slots_.begin(), slots_.end(), [](const Slot& s) { return !s.in_use; });
    if (any_idle) continue;  // an idle slot was dropped above; look again
    // 2. Open a new one when below max (and not backing off).
    if (TotalLocked() < config_.max) {
      if (now < retry_after_) {
        throw DbError(stats_.last_error.empty() ? "backing off after connect failure"
                                                : stats_.last_error,
                      stats_.last_error_reason, "", true);
      }
      auto conn = OpenLocked(lock, deadline);
      if (closed_) {
        conn->Abort();
        throw DbError("probe pool is closed", DownReason::kOther, "", true);
      }
      Slot s;
      s.id = next_id_++;
      s.conn = std::move(conn);
      s.opened = s.last_used = clock_.Now();
      slots_.push_back(std::move(s));
      return hand_out(slots_.back(), true);
    }
    // 3. Wait for a return.
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && clock_.Now() >= deadline) {
      stats_.acquire_timeouts += 1;
      throw DbError("no probe connection became free in time (all " +
                        std::to_string(config_.max) + " in use)",
                    DownReason::kTimeout, "", false);
    }
  }
}

void ProbePool::Return(std::uint64_t id, bool healthy) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto s = std::find_if(slots_.begin(), slots_.end(), [&](const Slot& x) { return x.id == id; });
  if (s == slots_.end()) return;
  if (!healthy || s->leaked || closed_) {
    if (!healthy && !s->leaked) stats_.closed_broken += 1;
    slots_.erase(s);
  } else {
    s->in_use = false;
    s->holder.clear();
    s->last_used = clock_.Now();
  }
  cv_.notify_all();
}

void ProbePool::AddIdleLocked(std::unique_ptr<Connection> conn) {
  Slot s;
  s.id = next_id_++;
  s.conn = std::move(conn);
  s.opened = s.last_used = clock_.Now();
  slots_.push_back(std::move(s));
  cv_.notify_all();
}

void ProbePool::Maintain(SteadyTime deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (closed_) return;
  SteadyTime now = clock_.Now();
  std::uint64_t renew = 0;
  for (auto it = slots_.begin(); it != slots_.end();) {
    if (it->in_use) {
      if (!it->leaked && now - it->checked_out > config_.checkout_leak_timeout) {
        it->leaked = true;
        stats_.leaks += 1;
        spdlog::warn(
            "target {}: probe connection held by {} for {:.1f}s (leak_timeout {}); "
            "reclaiming it",
            target_, it->holder, Seconds(now - it->checked_out),
            FormatDuration(config_.checkout_leak_timeout));
        it->conn->Abort();
      }
      ++it;
      continue;
    }
    bool expired = now - it->opened > config_.max_lifetime;
    bool surplus = now - it->last_used > config_.idle_timeout &&
                   static_cast<int>(slots_.size()) > config_.min;
    if (expired && slots_.size() == 1 && connecting_ == 0) {
      renew = it->id;  // the last connection: replaced below only once a new one is open
      ++it;
      continue;
    }
    if (expired || surplus) {
      (expired ? stats_.closed_lifetime : stats_.closed_idle) += 1;
      it = slots_.erase(it);
      continue;
    }
    ++it;
  }
  if (renew != 0 && now >= retry_after_ && now < deadline) {
    try {
      auto conn = OpenLocked(lock, deadline, /*leftover=*/true);
      if (closed_) {
        conn->Abort();
        return;
      }
      auto old = std::find_if(slots_.begin(), slots_.end(),
                              [&](const Slot& x) { return x.id == renew; });
      if (old != slots_.end() && !old->in_use) {
        slots_.erase(old);
        stats_.closed_lifetime += 1;
      }
      AddIdleLocked(std::move(conn));
    } catch (const DbError&) {
      // Kept the old one (at max_connections, say); counted in stats, retried after backoff.
    }
    return;
  }
  // Top up to min (one per call, so Maintain stays short), unless backing off.
  if (TotalLocked() < config_.min && now >= retry_after_ && now < deadline) {
    try {
      auto conn = OpenLocked(lock, deadline, /*leftover=*/true);
      if (closed_) {
        conn->Abort();
        return;
      }
      AddIdleLocked(std::move(conn));
    } catch (const DbError&) {
      // Recorded in stats; the sampler reports the target's state.
    }
  }
}

void ProbePool::Close() {
  std::lock_guard<std::mutex> lock(mutex_);
  closed_ = true;
  cancel_.store(true);
  for (auto it = slots_.begin(); it != slots_.end();) {
    if (it->in_use) {
      it->conn->Abort();
      ++it;
    } else {
      it = slots_.erase(it);
    }
  }
  cv_.notify_all();
}

ProbePoolStats ProbePool::Stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  ProbePoolStats s = stats_;
  s.idle = s.in_use = s.leaked_now = 0;
  for (const auto& slot : slots_) {
    (slot.in_use ? s.in_use : s.idle) += 1;
    if (slot.leaked) s.leaked_now += 1;
  }
  return s;
}

std::vector<int> ProbePool::BackendPids() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<int> pids;
  for (const auto& s : slots_) {
    if (s.conn->BackendPid() > 0) pids.push_back(s.conn->BackendPid());
  }
  return pids;
}

}  // namespace poolwatch
