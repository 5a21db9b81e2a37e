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
  for (;;) {
    // 1. Reuse an idle connection; 2. open a new one below max; 3. wait for a return.
    if (Slot* idle = ReuseIdleLocked(lock, deadline)) return HandOutLocked(*idle, holder, start);
    if (TotalLocked() < config_.max)
      return HandOutLocked(OpenSlotLocked(lock, deadline), holder, start, /*fresh=*/true);
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && clock_.Now() >= deadline) {
      stats_.acquire_timeouts += 1;
      throw DbError("no probe connection became free in time (all " +
                        std::to_string(config_.max) + " in use)",
                    DownReason::kTimeout, "", false);
    }
  }
}

ProbePool::Slot* ProbePool::ReuseIdleLocked(std::unique_lock<std::mutex>& lock,
                                            SteadyTime deadline) {
  for (;;) {
    if (closed_) throw DbError("probe pool is closed", DownReason::kOther, "", true);
    const SteadyTime now = clock_.Now();
    // Newest first; an expired or unhealthy one is dropped and the scan starts again.
    auto it = std::find_if(slots_.rbegin(), slots_.rend(), [](const Slot& s) { return !s.in_use; });
    if (it == slots_.rend()) return nullptr;
    // The last connection past max_lifetime is renewed by Maintain (make before break): at
    // max_connections a replacement may not be had, and the session we hold is the only view.
    const bool last = slots_.size() == 1 && connecting_ == 0;
    const bool expired = now - it->opened > config_.max_lifetime && !last;
    if (expired || !it->conn->Healthy()) {
      (expired ? stats_.closed_lifetime : stats_.closed_broken) += 1;
      slots_.erase(std::next(it).base());
      cv_.notify_all();
      continue;
    }
    if (health_query_.empty() || now - it->last_used <= config_.health_check_interval) return &*it;
    if (Slot* checked = HealthCheckLocked(lock, it->id, deadline)) return checked;
  }
}

ProbePool::Slot* ProbePool::HealthCheckLocked(std::unique_lock<std::mutex>& lock, std::uint64_t id,
                                              SteadyTime deadline) {
  auto find = [&] {
    return std::find_if(slots_.begin(), slots_.end(), [&](const Slot& x) { return x.id == id; });
  };
  auto it = find();
  it->in_use = true;  // nobody else takes it while the lock is released
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
  it = find();  // slots_ may have changed meanwhile
  if (it == slots_.end()) return nullptr;
  if (!ok) {
    stats_.health_checks_failed += 1;
    slots_.erase(it);
    cv_.notify_all();
    return nullptr;
  }
  return &*it;
}

ProbePool::Slot& ProbePool::OpenSlotLocked(std::unique_lock<std::mutex>& lock,
                                           SteadyTime deadline) {
  if (clock_.Now() < retry_after_) {
    throw DbError(
        stats_.last_error.empty() ? "backing off after connect failure" : stats_.last_error,
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
  return slots_.back();
}

ProbePool::Lease ProbePool::HandOutLocked(Slot& s, const std::string& holder, SteadyTime start,
                                          bool fresh) {
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
