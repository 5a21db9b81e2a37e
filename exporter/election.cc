#include "exporter/election.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <random>

#include "base/redact.h"

namespace poolwatch {
namespace {

// PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; the header takes < 64.
constexpr std::size_t kChunkBytes = 7000;
// A handoff larger than this is not sent (the standbys keep the previous one); a state that big
// means hundreds of alerts on one target.
constexpr std::size_t kMaxHandoffBytes = 1 << 20;

std::string Hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// A dollar-quoted literal whose tag does not occur in `s` (no escaping rules to get wrong).
std::string DollarQuote(const std::string& s) {
  std::string tag = "$pw$";
  for (int i = 0; s.find(tag) != std::string::npos; ++i) tag = "$pw" + std::to_string(i) + "$";
  return tag + s + tag;
}

// A chunk header number (0..9999), or -1.
int ParseSmall(const std::string& s) {
  if (s.empty() || s.size() > 4) return -1;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

}  // namespace

std::int64_t ElectionLockKey(const std::string& election_key) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : "poolwatch:" + election_key) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return static_cast<std::int64_t>(h);
}

std::string ElectionChannel(const std::string& election_key) {
  return "poolwatch_" + Hex64(static_cast<std::uint64_t>(ElectionLockKey(election_key)));
}

Duration ElectionIdleTimeout(const Config& config) {
  return std::max<Duration>(config.interval * 3, std::chrono::seconds(1));
}

const char* ElectionRoleName(ElectionRole r) {
  return r == ElectionRole::kHolder ? "holder" : "standby";
}

Election::Election(std::string target, std::string key, Duration idle_timeout, Connector connect)
    : target_(std::move(target)),
      key_(std::move(key)),
      lock_key_(ElectionLockKey(key_)),
      channel_(ElectionChannel(key_)),
      idle_timeout_(idle_timeout),
      connect_(std::move(connect)) {
  std::random_device rd;
  nonce_ = Hex64((static_cast<std::uint64_t>(rd()) << 32) ^ rd());
}

void Election::Drop() {
  std::unique_ptr<Connection> old;
  std::lock_guard<std::mutex> lock(mutex_);
  old = std::move(conn_);
}

void Election::Receive(Connection& c) {
  for (const auto& [channel, payload] : c.TakeNotifications()) {
    if (channel != channel_) continue;
    // "<nonce>/<seq> <index> <count> <chunk>"
    std::size_t a = payload.find(' ');
    std::size_t b = a == std::string::npos ? a : payload.find(' ', a + 1);
    std::size_t d = b == std::string::npos ? b : payload.find(' ', b + 1);
    if (d == std::string::npos) continue;
    std::string id = payload.substr(0, a);
    int index = ParseSmall(payload.substr(a + 1, b - a - 1));
    int count = ParseSmall(payload.substr(b + 1, d - b - 1));
    if (count <= 0 || index < 0 || index >= count || count > 1000) continue;
    std::lock_guard<std::mutex> lock(mutex_);
    auto& parts = partial_[id];
    parts[index] = payload.substr(d + 1);
    if (static_cast<int>(parts.size()) == count) {
      std::string whole;
      for (const auto& [i, chunk] : parts) whole += chunk;
      handoff_ = std::move(whole);
      stats_.received += 1;
      partial_.clear();  // older incomplete ones are superseded
    } else if (partial_.size() > 4) {
      partial_.erase(partial_.begin() == partial_.find(id) ? std::next(partial_.begin())
                                                           : partial_.begin());
    }
  }
}

void Election::Open(SteadyTime deadline) {
  std::unique_ptr<Connection> fresh = connect_(deadline, cancel_);
  fresh->SetDeadline(deadline);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    conn_ = std::move(fresh);
    stats_.connects += 1;
    stats_.statements += 2;
  }
  try {
    conn_->Query("SET idle_session_timeout = " + std::to_string(idle_timeout_.count()));
  } catch (const DbError& e) {
    if (e.connection_lost()) throw;
    // PostgreSQL < 14: a hung holder is then dropped only when its host or network goes.
    if (!warned_idle_timeout_) {
      spdlog::warn("target {}: election: idle_session_timeout unavailable ({}); a hung holder "
                   "keeps the lock until its connection drops",
                   target_, e.what());
    }
    warned_idle_timeout_ = true;
  }
  conn_->Query("LISTEN " + channel_);
}

bool Election::TryLock() {
  QueryResult r = conn_->Query("SELECT pg_try_advisory_lock(" + std::to_string(lock_key_) +
                               ") AS locked");
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.tries += 1;
    stats_.statements += 1;
  }
  Receive(*conn_);  // what arrived with the answer: the freshest state before taking over
  return r.Rows() == 1 && r.String(0, "locked") == "t";
}

ElectionRole Election::Check(SteadyTime deadline) {
  const ElectionRole before = role_.load();
  try {
    if (holding_) {
      try {
        conn_->SetDeadline(deadline);
        Receive(*conn_);
        conn_->Query("SELECT 1");  // heartbeat: the lock lives as long as this session
        std::lock_guard<std::mutex> lock(mutex_);
        stats_.statements += 1;
        return ElectionRole::kHolder;
      } catch (const std::exception& e) {
        spdlog::warn("target {}: election session lost: {}", target_, Redact(e.what()));
        holding_ = false;
        sticky_ = true;  // until we know whether someone else holds the lock now
        Drop();
      }
    }
    bool fresh = false;
    if (!conn_ || !conn_->Healthy()) {
      Drop();
      Open(deadline);
      fresh = true;
    }
    conn_->SetDeadline(deadline);
    Receive(*conn_);
    // A standby listens for one interval before its first try, so it has heard the holder's
    // latest state before it could take over; the last holder (sticky) tries at once.
    if (fresh && !sticky_) return role_.load();
    if (TryLock()) {
      holding_ = true;
      sticky_ = false;
      role_.store(ElectionRole::kHolder);
      if (before != ElectionRole::kHolder) {
        std::lock_guard<std::mutex> lock(mutex_);
        stats_.acquired += 1;
        spdlog::info("target {}: this replica is now the holder (election key {})", target_,
                     key_);
      }
    } else {
      if (sticky_ || before == ElectionRole::kHolder) {
        std::lock_guard<std::mutex> lock(mutex_);
        stats_.lost += 1;
        spdlog::info("target {}: another replica holds the election; now a standby", target_);
      }
      sticky_ = false;
      role_.store(ElectionRole::kStandby);
    }
  } catch (const std::exception& e) {
    // No session: the database is unreachable from here. The last holder stays responsible
    // (it reports the target down); a standby stays a standby.
    Drop();
    spdlog::debug("target {}: election: {}", target_, Redact(e.what()));
    role_.store(sticky_ ? ElectionRole::kHolder : ElectionRole::kStandby);
  }
  return role_.load();
}

void Election::Publish(const std::string& state, SteadyTime deadline) {
  if (!holding_ || !conn_ || state.size() > kMaxHandoffBytes) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    handoff_ = state;  // our own, should we lose the session and win it back
  }
  std::size_t count = std::max<std::size_t>(1, (state.size() + kChunkBytes - 1) / kChunkBytes);
  std::string id = nonce_ + "/" + std::to_string(++publish_seq_);
  // One statement: the chunks reach the listeners together, in order (one transaction).
  std::string sql = "SELECT 1";
  for (std::size_t i = 0; i < count; ++i) {
    std::string chunk = id + " " + std::to_string(i) + " " + std::to_string(count) + " " +
                        state.substr(i * kChunkBytes, kChunkBytes);
    sql += ", pg_notify('" + channel_ + "', " + DollarQuote(chunk) + ")";
  }
  try {
    conn_->SetDeadline(deadline);
    conn_->Query(sql);
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.published += 1;
    stats_.statements += 1;
  } catch (const std::exception& e) {
    // The next Check's heartbeat finds out whether the session (and the lock) survived.
    spdlog::warn("target {}: election: publishing the alert state failed: {}", target_,
                 Redact(e.what()));
  }
}

std::string Election::LastHandoff() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return handoff_;
}

Election::Stats Election::GetStats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void Election::Close() {
  cancel_.store(true);
  std::lock_guard<std::mutex> lock(mutex_);
  if (conn_) conn_->Abort();
}

}  // namespace poolwatch
