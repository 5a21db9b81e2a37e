#pragma once

#include <memory>
#include <string>

#include "alerts/alert.h"
#include "alerts/alert_config.h"
#include "base/clock.h"
#include "base/files.h"

namespace poolwatch {

/// Slack incoming webhook: success only on HTTP 200 with body `ok`; 429 is retryable after
/// Retry-After; 5xx and transport errors are retryable; any other 4xx is permanent, its reason
/// the body token (`channel_not_found`). The URL is a secret: it never appears in a result.
class SlackSink final : public AlertSink {
 public:
  /// With `url_file`, the URL is that file's current value at each delivery (a rotated
  /// webhook_url_file is used from the next message on; a bad new file keeps the old URL).
  SlackSink(std::string name, std::string webhook_url, std::chrono::milliseconds timeout,
            HttpClient& http, const Clock& clock, std::shared_ptr<SecretFile> url_file = nullptr);
  std::string_view Name() const override { return name_; }
  SendResult Send(const Notification& n) override;
  bool RateLimited() const override { return true; }
  bool Mergeable() const override { return true; }
  void AddMetrics(MetricSet& m) const override;

 private:
  std::string name_;
  std::string url_;
  std::shared_ptr<SecretFile> url_file_;
  std::chrono::milliseconds timeout_;
  HttpClient& http_;
  const Clock& clock_;
};

/// Alertmanager v2: posts to every URL (replicas, not a load balancer). Delivered when at least
/// one accepted (the keep-alive re-send covers the others a minute later).
class AlertmanagerSink final : public AlertSink {
 public:
  AlertmanagerSink(std::string name, std::vector<std::string> urls,
                   std::chrono::milliseconds timeout, HttpClient& http, const Clock& clock);
  std::string_view Name() const override { return name_; }
  SendResult Send(const Notification& n) override;

 private:
  std::string name_;
  std::vector<std::string> urls_;
  std::chrono::milliseconds timeout_;
  HttpClient& http_;
  const Clock& clock_;
};

/// JSON lines on stdout.
class LogSink final : public AlertSink {
 public:
  LogSink(std::string name, const Clock& clock) : name_(std::move(name)), clock_(clock) {}
  std::string_view Name() const override { return name_; }
  SendResult Send(const Notification& n) override;
  bool Mergeable() const override { return true; }

 private:
  std::string name_;
  const Clock& clock_;
};

/// Classifies a Slack webhook answer (exposed for tests).
SendResult ClassifySlackReply(const HttpReply& reply);

/// Builds the sink of one receiver. `http` and `clock` must outlive it.
std::unique_ptr<AlertSink> MakeSink(const ReceiverConfig& r, HttpClient& http, const Clock& clock);

}  // namespace poolwatch
