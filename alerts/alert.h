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
  /// The incident locus (alerts/incidents.h): symptoms sharing it are one incident, e.g.
  /// "database app", "target demo-bouncer". Derived by the rule; not part of the identity.
  std::string locus;
  /// This symptom as an incident headline, cause first ("Pool app/app on b saturated: ...").
  std::string headline;
  /// The id of the incident it belongs to while firing (the tracker sets it; "" before).
  std::string incident;

  const std::string& Label(const std::string& key) const;
  std::string Identity() const { return IdentityOf(labels); }
};

/// What a Slack or log receiver is told about one incident (alerts/incidents.h): a plain value,
/// queued and persisted like the rest of a notification.
struct IncidentNote {
  std::string id;
  std::string locus;
  std::string status;    // "firing" | "escalated" | "reminder" | "resolved"
  std::string severity;  // the highest severity it reached
  std::string headline;  // present tense; empty in a resolved note (no claim that it still holds)
  WallTime since{};        // when its first symptom's condition first held: the one "since"
  WallTime resolved_at{};  // when its last symptom cleared
  std::vector<std::string> alertnames;  // every symptom it had, in order of appearance
  std::vector<std::string> symptoms;    // firing: one line per current symptom
  std::vector<Offender> held_by;        // firing: the cause, root blockers first, each pid once
  std::string waiting;                  // firing: the victims, aggregated
  std::vector<std::string> peaks;       // resolved: the peak value of each symptom
  std::vector<std::string> details;     // firing: symptom details (a down target's error)
  std::vector<std::string> runbooks;
  bool held = false;  // a target behind it is down: its state is frozen
};

/// What a sink gets: one group's (or several merged groups') alerts for one receiver.
struct Notification {
  std::string receiver;
  std::string group_key;
  AlertLabels group_labels;
  std::vector<Alert> alerts;  // firing and resolved
  /// Slack and log receivers with incidents on: the incidents this message is about (`alerts`
  /// then holds their symptoms, for counts).
  std::vector<IncidentNote> incidents;
  WallTime created{};
  bool test = false;  // from --send-test-alert
  std::string dashboard_url;
  /// alerts.external_labels of the poolwatch that sent it (Slack shows them: which pod).
  AlertLabels external_labels;
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
  /// The sink's own metrics (a rotated webhook_url_file's reloads); most have none.
  virtual void AddMetrics(MetricSet& /*m*/) const {}
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
