#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "collectors/snapshot.h"

namespace poolwatch {

using WallTime = std::chrono::system_clock::time_point;
/// An alert's identity: its label set (alertname, severity, target, database, user, kind and any
/// static rule labels). Never a value or a timestamp.
using AlertLabels = std::map<std::string, std::string>;

/// "alertname=X,severity=Y,..." in key order: the identity as one string.
std::string IdentityOf(const AlertLabels& labels);

enum class AlertState { kInactive, kPending, kFiring, kResolved };
std::string_view AlertStateName(AlertState s);

/// One alert as the notifier and the renderers see it. A plain value: copied into
/// notifications and the state file.
struct Alert {
  AlertLabels labels;
  AlertState state = AlertState::kInactive;
  std::string summary;  // one line: what is wrong, where
  double value = 0;     // the last value seen
  double threshold = 0;
  std::string unit;         // "ratio" | "seconds" | "count" | ""
  WallTime active_since{};  // condition first held (pending start)
  WallTime starts_at{};     // became firing
  WallTime resolved_at{};   // became resolved
  std::string runbook_url;
  std::string detail;               // extra text (e.g. a down target's redacted error)
  std::vector<Offender> offenders;  // the who, from the snapshot
  bool inhibited = false;           // a firing critical of the same alert exists
  bool held = false;                // its target is down: neither re-sent nor resolved

  const std::string& Label(const std::string& key) const;
  std::string Identity() const { return IdentityOf(labels); }
};

/// What a sink gets: one group's (or several merged groups') alerts for one receiver.
struct Notification {
  std::string receiver;
  std::string group_key;
  AlertLabels group_labels;
  std::vector<Alert> alerts;  // firing and resolved
  WallTime created{};
  bool test = false;  // from --send-test-alert
  std::string dashboard_url;
  /// Alertmanager only: the eval interval for endsAt = now + 4 x max(interval, 1m).
  std::chrono::milliseconds eval_interval{60'000};

  std::size_t Firing() const;
  std::size_t Resolved() const;
};

/// Outcome of one delivery attempt. Failures are values: the notifier needs the retry decision
/// as data. `reason` is a short token for metrics (e.g. "channel_not_found", "http_500",
/// "timeout"); `detail` is for logs and never contains a secret.
struct SendResult {
  enum class Status { kDelivered, kRetryable, kPermanent } status = Status::kDelivered;
  std::string detail;
  std::string reason;
  std::optional<std::chrono::milliseconds> retry_after;  // from a 429's Retry-After
  /// Delivered, but these replicas failed (Alertmanager with several URLs): their reasons.
  std::vector<std::string> partial_failures = {};
};

/// SendResult::reason of an attempt cut short by HttpClient::Cancel (shutdown or reload): not a
/// failure of the receiver; the notification stays queued (and is persisted).
inline constexpr const char* kCancelledReason = "cancelled";

/// Somewhere alerts go. Send() is called by one notifier thread at a time and may block up to
/// the receiver's timeout; it never throws for delivery failures.
class AlertSink {
 public:
  virtual ~AlertSink() = default;
  virtual std::string_view Name() const = 0;
  virtual SendResult Send(const Notification& n) = 0;
  /// True for sinks that get each notification at most once per second (Slack webhooks).
  virtual bool RateLimited() const { return false; }
  /// True when queued notifications may be merged into one message (Slack, log).
  virtual bool Mergeable() const { return false; }
};

/// An outgoing HTTP request and its answer: the seam between sinks and libcurl.
struct HttpRequest {
  std::string url;
  std::string body;
  std::vector<std::string> headers;
  std::chrono::milliseconds timeout{10'000};
};
struct HttpReply {
  long status = 0;  // 0 = transport failure (see error)
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string error;                           // transport error, without the URL
  bool timed_out = false;
  /// A short token for a transport failure, safe as a metric label: timeout, connection_refused,
  /// connection_reset, empty_reply, bad_reply (not HTTP), truncated, dns, tls, cancelled,
  /// transport (anything else). Empty when an HTTP answer arrived.
  std::string error_kind;
};

/// Posts HTTP requests. Thread-safe.
class HttpClient {
 public:
  virtual ~HttpClient() = default;
  virtual HttpReply Post(const HttpRequest& req) = 0;
  /// Makes requests in flight (and later ones) fail fast, for a prompt shutdown.
  virtual void Cancel() {}
};

/// The libcurl client (no signals, no redirects, bounded by req.timeout).
class CurlHttpClient final : public HttpClient {
 public:
  HttpReply Post(const HttpRequest& req) override;
  void Cancel() override { cancelled_.store(true); }

 private:
  std::atomic<bool> cancelled_{false};
};

}  // namespace poolwatch
