#include "alerts/notifier.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace poolwatch {

namespace {

using std::chrono::milliseconds;

/// Folds `more` into `into`: one message carrying every alert, the latest state of each.
void Merge(Notification& into, const Notification& more) {
  // Incidents: the latest note of each (a resolved one replaces its firing one still queued).
  for (const auto& i : more.incidents) {
    auto it = std::find_if(into.incidents.begin(), into.incidents.end(),
                           [&](const IncidentNote& x) { return x.id == i.id; });
    if (it == into.incidents.end()) {
      into.incidents.push_back(i);
    } else {
      *it = i;
    }
  }
  for (const auto& a : more.alerts) {
    std::string id = a.Identity();
    auto it = std::find_if(into.alerts.begin(), into.alerts.end(),
                           [&](const Alert& x) { return x.Identity() == id; });
    if (it == into.alerts.end()) {
      into.alerts.push_back(a);
    } else {
      *it = a;
    }
  }
  if (into.group_key != more.group_key) {
    into.group_key += "+" + more.group_key;
    AlertLabels common;
    for (const auto& [k, v] : into.group_labels) {
      auto it = more.group_labels.find(k);
      if (it != more.group_labels.end() && it->second == v) common[k] = v;
    }
    into.group_labels = common;
  }
}

}  // namespace

ReceiverQueue::ReceiverQueue(std::unique_ptr<AlertSink> sink, const DeliveryConfig& cfg,
                             const Clock& clock, std::uint32_t seed)
    : sink_(std::move(sink)), cfg_(cfg), clock_(clock), rng_(seed) {
  for (const char* r : {"delivered", "retried", "failed_permanent"}) stats_.results[r] = 0;
  for (const char* r : {"queue_full", "retry_deadline"}) stats_.dropped[r] = 0;
}

milliseconds ReceiverQueue::Jitter(milliseconds base, double lo, double hi) {
  std::uniform_real_distribution<double> d(lo, hi);
  return milliseconds(static_cast<long long>(static_cast<double>(base.count()) * d(rng_)));
}

void ReceiverQueue::Enqueue(Notification n) {
  std::lock_guard<std::mutex> lock(mutex_);
  Item it;
  it.n = std::move(n);
  it.enqueued = clock_.Now();
  it.next_attempt = it.enqueued;
  it.deadline = it.enqueued + cfg_.retry_deadline;
  queue_.push_back(std::move(it));
  while (queue_.size() > std::max<std::size_t>(1, cfg_.queue_size)) {
    queue_.pop_front();
    stats_.dropped["queue_full"] += 1;
    spdlog::warn("receiver {}: notification queue full, dropped the oldest", sink_->Name());
  }
}

std::optional<SteadyTime> ReceiverQueue::NextDue() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return NextDueLocked();
}

std::optional<SteadyTime> ReceiverQueue::Step() {
  Item item;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    std::optional<SteadyTime> due;
    if (!TakeDue(item, due)) return due;
  }
  SendResult r = sink_->Send(item.n);
  const SteadyTime now = clock_.Now();
  std::lock_guard<std::mutex> lock(mutex_);
  in_flight_.reset();
  if (r.status == SendResult::Status::kRetryable && r.reason == kCancelledReason) {
    // Cut short by a shutdown or reload, not the receiver's fault: back to the front as it was,
    // so it is persisted (or carried over) and sent again.
    queue_.push_front(std::move(item));
    return NextDueLocked();
  }
  if (r.status != SendResult::Status::kDelivered) {
    stats_.failures[r.reason.empty() ? "other" : r.reason] += 1;
  }
  if (sink_->RateLimited() && cfg_.rate_limit_per_second > 0) {
    next_allowed_ =
        std::max(next_allowed_,
                 now + milliseconds(static_cast<long long>(1000.0 / cfg_.rate_limit_per_second)));
  }
  switch (r.status) {
    case SendResult::Status::kDelivered:
      OnDelivered(item, r, now);
      break;
    case SendResult::Status::kPermanent:
      OnPermanent(r);
      break;
    case SendResult::Status::kRetryable:
      OnRetryable(std::move(item), r, now);
      break;
  }
  return NextDueLocked();
}

bool ReceiverQueue::TakeDue(Item& item, std::optional<SteadyTime>& due) {
  due = NextDueLocked();
  if (!due || clock_.Now() < *due) return false;
  item = std::move(queue_.front());
  queue_.pop_front();
  // What queued meanwhile (behind a rate limit, a Retry-After or a slow receiver) goes out as
  // one message rather than a burst.
  if (sink_->Mergeable()) {
    while (!queue_.empty()) {
      Merge(item.n, queue_.front().n);
      queue_.pop_front();
    }
  }
  in_flight_ = item.n;
  return true;
}

void ReceiverQueue::OnDelivered(const Item& item, const SendResult& r, SteadyTime now) {
  stats_.results["delivered"] += 1;
  stats_.last_latency_seconds = std::chrono::duration<double>(now - item.enqueued).count();
  spdlog::debug("receiver {}: delivered {} alert(s)", sink_->Name(), item.n.alerts.size());
  for (const auto& reason : r.partial_failures) stats_.failures[reason] += 1;
  if (!r.partial_failures.empty() && !replicas_failing_) {
    spdlog::warn("receiver {}: delivered, but {} replica(s) failed: {}", sink_->Name(),
                 r.partial_failures.size(), r.detail);
  } else if (r.partial_failures.empty() && replicas_failing_) {
    spdlog::info("receiver {}: every replica accepts again", sink_->Name());
  }
  replicas_failing_ = !r.partial_failures.empty();
  if (item.attempts > 0) {
    spdlog::info("receiver {}: delivered after {} failed attempt(s)", sink_->Name(),
                 item.attempts);
  }
}

void ReceiverQueue::OnPermanent(const SendResult& r) {
  stats_.results["failed_permanent"] += 1;
  stats_.dropped[r.reason.empty() ? "permanent" : r.reason] += 1;
  spdlog::error("receiver {}: permanent delivery failure, not retried: {}", sink_->Name(),
                r.detail);
}

void ReceiverQueue::OnRetryable(Item item, const SendResult& r, SteadyTime now) {
  stats_.results["retried"] += 1;
  item.attempts += 1;
  SteadyTime next;
  if (r.retry_after) {
    // Wait what the server asked, plus jitter so many senders do not return in step.
    next = now + *r.retry_after + milliseconds(100) + Jitter(*r.retry_after, 0.0, 0.2);
    next_allowed_ = std::max(next_allowed_, next);
  } else {
    milliseconds backoff = cfg_.retry_initial;
    for (int i = 1; i < item.attempts && backoff < cfg_.retry_max; ++i) backoff *= 2;
    backoff = std::min(backoff, cfg_.retry_max);
    next = now + Jitter(backoff, 0.8, 1.2);
  }
  if (next > item.deadline) {
    stats_.dropped["retry_deadline"] += 1;
    spdlog::error("receiver {}: gave up after {} attempt(s): {}", sink_->Name(), item.attempts,
                  r.detail);
    return;
  }
  // Log the first failure, every change of its kind, and every tenth attempt.
  if (item.attempts == 1 || r.reason != item.last_reason || item.attempts % 10 == 0) {
    spdlog::warn("receiver {}: delivery failed ({}: {}), retrying", sink_->Name(),
                 r.reason.empty() ? "other" : r.reason, r.detail);
  }
  item.last_reason = r.reason;
  item.next_attempt = next;
  // Anything that queued meanwhile merges into it at the next attempt (if mergeable).
  queue_.push_front(std::move(item));
}

std::optional<SteadyTime> ReceiverQueue::NextDueLocked() const {
  if (queue_.empty()) return std::nullopt;
  return std::max(queue_.front().next_attempt, next_allowed_);
}

ReceiverStats ReceiverQueue::Stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  ReceiverStats s = stats_;
  s.queued = queue_.size() + (in_flight_ ? 1 : 0);
  return s;
}

std::vector<Notification> ReceiverQueue::Pending() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<Notification> out;
  if (in_flight_) out.push_back(*in_flight_);
  for (const auto& it : queue_) out.push_back(it.n);
  return out;
}

bool ReceiverQueue::Idle() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.empty() && !in_flight_;
}

bool ReceiverQueue::InFlight() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return in_flight_.has_value();
}

Notifier::Notifier(std::vector<std::unique_ptr<AlertSink>> sinks, const DeliveryConfig& cfg,
                   const Clock& clock)
    : clock_(clock) {
  for (auto& s : sinks)
    queues_.push_back(std::make_unique<ReceiverQueue>(std::move(s), cfg, clock));
}

Notifier::~Notifier() { Stop(); }

void Notifier::Start() {
  for (auto& q : queues_) {
    ReceiverQueue* qp = q.get();
    threads_.emplace_back([this, qp] { Run(*qp); });
  }
}

void Notifier::Run(ReceiverQueue& q) {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      if (stopping_) return;
      std::optional<SteadyTime> due = q.NextDue();
      if (!due) {
        cv_.wait_for(lock, std::chrono::seconds(1));
        continue;
      }
      // The clock may be injected: wait in short real-time slices and re-check.
      if (clock_.Now() < *due) {
        auto left = *due - clock_.Now();
        cv_.wait_for(lock, std::min<SteadyTime::duration>(left, std::chrono::milliseconds(200)));
        continue;
      }
    }
    try {
      q.Step();
    } catch (const std::exception& e) {
      spdlog::error("receiver {}: notifier error: {}", q.Name(), e.what());
    }
    generation_.fetch_add(1);
  }
}

void Notifier::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

bool Notifier::Drain(std::chrono::milliseconds grace) {
  // Real time, whatever clock_ is: the grace period is a promise to the process supervisor.
  const auto deadline = std::chrono::steady_clock::now() + grace;
  for (;;) {
    bool idle = std::all_of(queues_.begin(), queues_.end(),
                            [](const std::unique_ptr<ReceiverQueue>& q) { return q->Idle(); });
    if (idle) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      cv_.notify_all();  // a queue may be due now
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

bool Notifier::WaitInFlight(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    bool busy = std::any_of(queues_.begin(), queues_.end(),
                            [](const std::unique_ptr<ReceiverQueue>& q) { return q->InFlight(); });
    if (!busy) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void Notifier::Enqueue(Notification n) {
  for (auto& q : queues_) {
    if (q->Name() == n.receiver) {
      q->Enqueue(std::move(n));
      std::lock_guard<std::mutex> lock(mutex_);
      cv_.notify_all();
      return;
    }
  }
}

void Notifier::AddMetrics(MetricSet& m) const {
  for (const auto& q : queues_) {
    ReceiverStats s = q->Stats();
    std::string name(q->Name());
    for (const auto& [result, v] : s.results) {
      m.Counter("poolwatch_notifications_total", "Notification delivery attempts by result.",
                {{"receiver", name}, {"result", result}}, v);
    }
    for (const auto& [reason, v] : s.dropped) {
      m.Counter("poolwatch_notifications_dropped_total",
                "Notifications given up: queue overflow (oldest dropped), retry deadline, or a "
                "permanent failure by reason.",
                {{"receiver", name}, {"reason", reason}}, v);
    }
    for (const auto& [reason, v] : s.failures) {
      m.Counter("poolwatch_notification_failures_total",
                "Failed delivery attempts by reason (timeout, connection_refused, "
                "connection_reset, empty_reply, bad_reply, truncated, unexpected_body, http_NNN, "
                "...), including a failing replica when another one accepted.",
                {{"receiver", name}, {"reason", reason}}, v);
    }
    m.Gauge("poolwatch_notification_latency_seconds",
            "From queueing to delivery of the receiver's last delivered notification.",
            {{"receiver", name}}, s.last_latency_seconds);
    m.Gauge("poolwatch_notifications_queued", "Notifications waiting for delivery.",
            {{"receiver", name}}, static_cast<double>(s.queued));
    q->sink().AddMetrics(m);
  }
}

std::vector<Notification> Notifier::Pending() const {
  std::vector<Notification> out;
  for (const auto& q : queues_) {
    auto p = q->Pending();
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}

}  // namespace poolwatch
