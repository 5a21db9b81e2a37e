#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "alerts/alert.h"
#include "alerts/alert_config.h"
#include "base/clock.h"
#include "collectors/metrics.h"

namespace poolwatch {

/// Counters of one receiver, for /metrics.
struct ReceiverStats {
  std::map<std::string, double> results;  // delivered | retried | failed_permanent
  std::map<std::string, double> dropped;  // queue_full | retry_deadline | <4xx reason>
  /// Failed attempts by reason (timeout, connection_reset, bad_reply, http_500, ...), a failing
  /// replica of a delivered Alertmanager notification included.
  std::map<std::string, double> failures;
  double last_latency_seconds = 0;
  std::size_t queued = 0;
};

/// One receiver's bounded queue with its delivery policy: per-webhook rate limit, 429 ->
/// Retry-After plus jitter and merge of what queued meanwhile, capped exponential backoff with
/// jitter for 5xx/transport errors within a deadline, permanent failures dropped and counted.
/// Step() does at most one delivery attempt, so tests drive it with a FakeClock. Thread-safe:
/// Enqueue from any thread, Step from one thread at a time.
class ReceiverQueue {
 public:
  ReceiverQueue(std::unique_ptr<AlertSink> sink, const DeliveryConfig& cfg, const Clock& clock,
                std::uint32_t seed = std::random_device{}());

  /// Queues `n`; when full, drops the oldest (counted as queue_full).
  void Enqueue(Notification n);
  /// Attempts the front notification if it is due. Returns when the next attempt is due, or
  /// nullopt when the queue is empty.
  std::optional<SteadyTime> Step();
  /// When the next attempt is due (nullopt: nothing queued).
  std::optional<SteadyTime> NextDue() const;

  ReceiverStats Stats() const;
  std::string_view Name() const { return sink_->Name(); }
  const AlertSink& sink() const { return *sink_; }
  /// Undelivered notifications, for the state file: the one in flight (if any) first, then
  /// the queue. A notification in flight counts until its answer arrives, so a crash meanwhile
  /// re-sends it after the restart rather than losing it.
  std::vector<Notification> Pending() const;
  /// Nothing queued and nothing in flight.
  bool Idle() const;
  /// A delivery attempt is under way.
  bool InFlight() const;

 private:
  struct Item {
    Notification n;
    SteadyTime enqueued{};
    SteadyTime next_attempt{};
    SteadyTime deadline{};
    int attempts = 0;
    std::string last_reason;  // of the last failed attempt: log when it changes
  };
  std::chrono::milliseconds Jitter(std::chrono::milliseconds base, double lo, double hi);
  // The steps of Step(). All but Send run under mutex_.
  /// Takes the front item into `item` (merging what queued behind it when the sink allows) if it
  /// is due and returns true; otherwise `due` says when it will be (nullopt: the queue is empty).
  bool TakeDue(Item& item, std::optional<SteadyTime>& due);
  void OnDelivered(const Item& item, const SendResult& r, SteadyTime now);
  void OnPermanent(const SendResult& r);
  /// Schedules the next attempt (Retry-After or capped exponential backoff, with jitter), or
  /// drops the item past its deadline.
  void OnRetryable(Item item, const SendResult& r, SteadyTime now);
  std::optional<SteadyTime> NextDueLocked() const;

  std::unique_ptr<AlertSink> sink_;
  DeliveryConfig cfg_;
  const Clock& clock_;
  mutable std::mutex mutex_;
  std::deque<Item> queue_;
  std::optional<Notification> in_flight_;
  bool replicas_failing_ = false;  // some replicas failed on the last delivery (logged once)
  SteadyTime next_allowed_{};  // rate limit / Retry-After
  std::mt19937 rng_;
  ReceiverStats stats_;
};

/// Owns one ReceiverQueue and one thread per receiver, so a hanging receiver delays only itself
/// and never sampling, /metrics or the other receivers.
class Notifier {
 public:
  Notifier(std::vector<std::unique_ptr<AlertSink>> sinks, const DeliveryConfig& cfg,
           const Clock& clock);
  ~Notifier();
  void Start();
  /// Stops the threads; an in-flight request finishes or times out first (cancel the HTTP
  /// client to cut it short: the notification then stays queued).
  void Stop();
  /// Keeps delivering (retries and backoff as usual) until every queue is empty with nothing in
  /// flight, or `grace` has passed. Returns true when nothing is left. Meant for shutdown, before
  /// Stop(); the threads must have been started. Thread-safe.
  bool Drain(std::chrono::milliseconds grace);
  /// Waits until no delivery attempt is under way, or `limit` has passed; returns true in the
  /// first case. A reload calls it before cancelling: an attempt whose answer is on its way is
  /// then recorded as delivered instead of being cancelled and sent again. Thread-safe.
  bool WaitInFlight(std::chrono::milliseconds limit);
  /// Routes `n` to its receiver's queue (unknown receivers are ignored).
  void Enqueue(Notification n);
  void AddMetrics(MetricSet& m) const;
  std::vector<Notification> Pending() const;
  /// Bumped after every attempt, so the owner knows to persist state.
  std::uint64_t Generation() const { return generation_.load(); }

 private:
  void Run(ReceiverQueue& q);

  const Clock& clock_;
  std::vector<std::unique_ptr<ReceiverQueue>> queues_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::atomic<std::uint64_t> generation_{0};
};

}  // namespace poolwatch
