#pragma once
// Shared helpers for the alerting unit and component tests: snapshots built by hand, a scripted
// sink.

#include <deque>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "alerts/alert.h"
#include "alerts/alert_config.h"
#include "collectors/snapshot.h"

namespace poolwatch::support {

/// A snapshot with the given targets up (or down) and nothing else.
inline Snapshot MakeSnapshot(const std::vector<std::pair<std::string, bool>>& targets) {
  Snapshot s;
  for (const auto& [name, up] : targets) {
    TargetStatus t;
    t.name = name;
    t.kind = TargetKind::kPgBouncer;
    t.up = up;
    if (!up) {
      t.reason = DownReason::kRefused;
      t.error = "connection refused";
    }
    s.targets.push_back(t);
  }
  return s;
}

/// A one-alert firing notification for receiver "oncall", grouped under `name`.
inline Notification FiringNotification(const std::string& name) {
  Notification n;
  n.receiver = "oncall";
  n.group_key = name;
  Alert a;
  a.labels = {{"alertname", name}, {"severity", "warning"}};
  a.state = AlertState::kFiring;
  n.alerts.push_back(a);
  return n;
}

inline void AddUtilization(Snapshot& s, const std::string& target, const std::string& db,
                           double v) {
  s.metrics.Gauge(
      "poolwatch_pool_utilization_ratio", "u",
      {{"target", target}, {"kind", "pgbouncer_server"}, {"database", db}, {"user", "app"}}, v);
}

/// A sink answering from a script (then delivered), recording what it was sent.
class ScriptedSink final : public AlertSink {
 public:
  explicit ScriptedSink(std::string name, bool rate_limited = true, bool mergeable = true)
      : name_(std::move(name)), rate_limited_(rate_limited), mergeable_(mergeable) {}
  std::string_view Name() const override { return name_; }
  SendResult Send(const Notification& n) override {
    std::lock_guard<std::mutex> lock(mutex_);
    sent.push_back(n);
    if (script.empty()) return SendResult{SendResult::Status::kDelivered, "ok", "", {}};
    SendResult r = script.front();
    script.pop_front();
    return r;
  }
  bool RateLimited() const override { return rate_limited_; }
  bool Mergeable() const override { return mergeable_; }

  std::deque<SendResult> script;
  std::vector<Notification> sent;

 private:
  std::mutex mutex_;
  std::string name_;
  bool rate_limited_;
  bool mergeable_;
};

inline SendResult Retryable(std::string reason = "http_500") {
  return SendResult{SendResult::Status::kRetryable, "HTTP 500", std::move(reason), {}};
}
inline SendResult RateLimitedFor(int seconds) {
  return SendResult{SendResult::Status::kRetryable, "HTTP 429", "rate_limited",
                    std::chrono::milliseconds(seconds * 1000)};
}
inline SendResult Permanent(std::string reason) {
  return SendResult{SendResult::Status::kPermanent, "HTTP 404: " + reason, std::move(reason), {}};
}

/// A Slack receiver `name` posting to `webhook_url`: a SlackReceiver's Url() in the tests that
/// deliver, an address nobody listens on where a scripted sink or a fake HTTP client answers.
inline ReceiverConfig SlackTestConfig(std::string webhook_url, std::string name = "oncall") {
  ReceiverConfig r;
  r.name = std::move(name);
  r.type = ReceiverType::kSlack;
  r.webhook_url = std::move(webhook_url);
  return r;
}

/// Alert config with one slack-like receiver "oncall", short grouping timers.
inline AlertsConfig TestAlertsConfig() {
  AlertsConfig c;
  c.enabled = true;
  c.rules = AlertsConfig::DefaultRules();
  c.receivers.push_back(SlackTestConfig("http://127.0.0.1:1/hook"));
  c.route.receivers = {"oncall"};
  c.route.group_wait = std::chrono::seconds(30);
  c.route.group_interval = std::chrono::minutes(5);
  c.route.repeat_interval = std::chrono::hours(4);
  return c;
}

/// TestAlertsConfig() for the restart tests: state saved to `state_file`, a down target fires and
/// is sent at once (for 0s, group_wait 0s), changes go out every second and an incident resolves
/// with its last symptom.
inline AlertsConfig RestartTestConfig(std::string state_file) {
  AlertsConfig c = TestAlertsConfig();
  c.state_file = std::move(state_file);
  c.route.group_wait = std::chrono::seconds(0);
  c.route.group_interval = std::chrono::seconds(1);
  c.incidents.resolve_after = std::chrono::seconds(0);
  c.rules["target_down"].for_duration = std::chrono::seconds(0);
  return c;
}

}  // namespace poolwatch::support
