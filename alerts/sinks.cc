#include "alerts/sinks.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <system_error>
#include <iostream>
#include <mutex>

#include "alerts/render.h"
#include "base/strings.h"
#include "collectors/metrics.h"

namespace poolwatch {

namespace {

std::size_t WriteBody(char* data, std::size_t size, std::size_t n, void* user) {
  auto* out = static_cast<std::string*>(user);
  if (out->size() < std::size_t{64} * 1024) out->append(data, size * n);
  return size * n;
}

std::size_t WriteHeader(char* data, std::size_t size, std::size_t n, void* user) {
  auto* out = static_cast<std::map<std::string, std::string>*>(user);
  std::string line(data, size * n);
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string key = line.substr(0, colon);
    for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string v = line.substr(colon + 1);
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) v.erase(0, 1);
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.pop_back();
    (*out)[key] = v;
  }
  return size * n;
}

std::once_flag curl_once;

int Progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<std::atomic<bool>*>(user)->load() ? 1 : 0;  // nonzero aborts
}

/// A short token safe for a metric label: the body's leading [a-z0-9_], else http_NNN.
std::string ReasonToken(long status, const std::string& body) {
  std::string t;
  for (char c : body) {
    if (std::islower(static_cast<unsigned char>(c)) ||
        std::isdigit(static_cast<unsigned char>(c)) || c == '_') {
      t.push_back(c);
      if (t.size() >= 40) break;
    } else {
      break;
    }
  }
  if (t.size() < 3) t = "http_" + std::to_string(status);
  return t;
}

/// The failure class of a libcurl error (and the socket errno behind it) as a metric label.
std::string ErrorKind(CURLcode rc, long os_errno) {
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
      return "timeout";
    case CURLE_COULDNT_CONNECT:
      return os_errno == ECONNREFUSED ? "connection_refused" : "connect_failed";
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return "dns";
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
      return os_errno == ECONNRESET ? "connection_reset"
                                    : (rc == CURLE_SEND_ERROR ? "send_error" : "recv_error");
    case CURLE_GOT_NOTHING:
      return "empty_reply";
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_UNSUPPORTED_PROTOCOL:  // "Received HTTP/0.9 when not allowed": not HTTP
      return "bad_reply";
    case CURLE_PARTIAL_FILE:
      return "truncated";
    case CURLE_ABORTED_BY_CALLBACK:
      return kCancelledReason;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
      return "tls";
    default:
      return "transport";
  }
}

}  // namespace

HttpReply CurlHttpClient::Post(const HttpRequest& req) {
  std::call_once(curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  HttpReply reply;
  if (cancelled_.load()) {
    reply.error = "cancelled (shutting down)";
    reply.error_kind = kCancelledReason;
    return reply;
  }
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) {
    reply.error = "curl_easy_init failed";
    return reply;
  }
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json");
  for (const auto& h : req.headers) headers = curl_slist_append(headers, h.c_str());
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min<long long>(req.timeout.count(), 5000)));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, WriteHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &reply.headers);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "poolwatch");
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, Progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &cancelled_);
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    // curl_easy_strerror names the failure class only, never the URL (the webhook secret); the
    // socket's errno (e.g. "Connection reset by peer") says no more.
    long os_errno = 0;
    curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
    reply.status = 0;
    reply.timed_out = rc == CURLE_OPERATION_TIMEDOUT;
    reply.error = curl_easy_strerror(rc);
    if (os_errno != 0) {
      reply.error += " (" +
                     std::error_code(static_cast<int>(os_errno), std::generic_category()).message() +
                     ")";
    }
    reply.error_kind = ErrorKind(rc, os_errno);
    return reply;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply.status);
  return reply;
}

SendResult ClassifySlackReply(const HttpReply& reply) {
  SendResult r;
  if (reply.status == 0) {
    r.status = SendResult::Status::kRetryable;
    r.reason = !reply.error_kind.empty() ? reply.error_kind
                                         : (reply.timed_out ? "timeout" : "transport");
    r.detail = "transport error: " + reply.error;
    return r;
  }
  std::string body = Trim(reply.body);
  if (reply.status == 200 && body == "ok") {
    r.status = SendResult::Status::kDelivered;
    r.detail = "200 ok";
    return r;
  }
  std::string shown = body.substr(0, 80);
  for (auto& c : shown) {
    if (!std::isprint(static_cast<unsigned char>(c))) c = '?';
  }
  r.detail = "HTTP " + std::to_string(reply.status) + (shown.empty() ? "" : ": " + shown);
  if (reply.status == 429) {
    r.status = SendResult::Status::kRetryable;
    r.reason = "rate_limited";
    long long seconds = 1;
    auto it = reply.headers.find("retry-after");
    if (it != reply.headers.end()) {
      char* end = nullptr;
      long long v = std::strtoll(it->second.c_str(), &end, 10);
      if (end != it->second.c_str() && v >= 0 && v <= 3600) seconds = v;
    }
    r.retry_after = std::chrono::milliseconds(seconds * 1000);
  } else if (reply.status >= 500 || reply.status == 200) {
    // 5xx, or a 200 without `ok` (a proxy page, not Slack): worth another try.
    r.status = SendResult::Status::kRetryable;
    r.reason = reply.status == 200 ? "unexpected_body" : "http_" + std::to_string(reply.status);
  } else {
    r.status = SendResult::Status::kPermanent;
    r.reason = ReasonToken(reply.status, body);
  }
  return r;
}

SlackSink::SlackSink(std::string name, std::string webhook_url, std::chrono::milliseconds timeout,
                     HttpClient& http, const Clock& clock, std::shared_ptr<SecretFile> url_file)
    : name_(std::move(name)),
      url_(std::move(webhook_url)),
      url_file_(std::move(url_file)),
      timeout_(timeout),
      http_(http),
      clock_(clock) {}

void SlackSink::AddMetrics(MetricSet& m) const {
  if (!url_file_) return;
  const Labels secret = {{"owner", name_}, {"key", "webhook_url_file"}};
  m.Counter("poolwatch_secret_file_reloads_total", Help("poolwatch_secret_file_reloads_total"),
            secret, url_file_->reloads());
  m.Counter("poolwatch_secret_file_reload_errors_total",
            Help("poolwatch_secret_file_reload_errors_total"), secret, url_file_->errors());
}

SendResult SlackSink::Send(const Notification& n) {
  HttpRequest req;
  req.url = url_;
  if (url_file_) {
    SecretFile::Result r = url_file_->Get();
    if (r.event == SecretFile::Event::kReloaded) {
      spdlog::info("receiver {}: webhook_url_file changed on disk and was re-read", name_);
    } else if (r.event == SecretFile::Event::kRejected) {
      spdlog::error("receiver {}: webhook_url_file changed on disk but cannot be used; keeping "
                    "the previous URL: {}", name_, r.error);
    }
    req.url = r.value;
  }
  req.body = RenderSlack(n, clock_.WallNow());
  req.timeout = timeout_;
  return ClassifySlackReply(http_.Post(req));
}

AlertmanagerSink::AlertmanagerSink(std::string name, std::vector<std::string> urls,
                                   std::chrono::milliseconds timeout, HttpClient& http,
                                   const Clock& clock)
    : name_(std::move(name)),
      urls_(std::move(urls)),
      timeout_(timeout),
      http_(http),
      clock_(clock) {}

SendResult AlertmanagerSink::Send(const Notification& n) {
  Notification copy = n;
  if (n.test) {
    Alert a;
    a.labels = {{"alertname", "PoolwatchTestAlert"}, {"severity", "none"}};
    a.state = AlertState::kFiring;
    a.summary = "poolwatch test notification: delivery works";
    a.starts_at = clock_.WallNow();
    copy.alerts = {a};
    copy.eval_interval = std::chrono::milliseconds(0);
  }
  std::string body = RenderAlertmanager(copy, clock_.WallNow());
  int ok = 0, retryable = 0;
  bool cancelled = false;
  std::string details, reason;
  std::vector<std::string> failed;  // reason per failed replica
  for (const auto& base : urls_) {
    HttpRequest req;
    std::string url = base;
    while (!url.empty() && url.back() == '/') url.pop_back();
    req.url = url + "/api/v2/alerts";
    req.body = body;
    req.timeout = timeout_;
    HttpReply reply = http_.Post(req);
    std::string d;
    if (reply.status >= 200 && reply.status < 300) {
      ++ok;
      continue;
    }
    if (reply.status == 0) {
      ++retryable;
      d = reply.error;
      reason = !reply.error_kind.empty() ? reply.error_kind
                                         : (reply.timed_out ? "timeout" : "transport");
      cancelled = cancelled || reason == kCancelledReason;
    } else {
      if (reply.status >= 500 || reply.status == 429) ++retryable;
      d = "HTTP " + std::to_string(reply.status);
      reason = "http_" + std::to_string(reply.status);
    }
    failed.push_back(reason);
    details += (details.empty() ? "" : "; ") + std::string("replica ") +
               std::to_string(&base - urls_.data()) + ": " + d;
  }
  SendResult r;
  r.detail = std::to_string(ok) + "/" + std::to_string(urls_.size()) + " replicas accepted" +
             (details.empty() ? "" : " (" + details + ")");
  if (ok > 0) {
    r.status = SendResult::Status::kDelivered;
    r.partial_failures = std::move(failed);
  } else if (retryable > 0) {
    r.status = SendResult::Status::kRetryable;
    r.reason = cancelled ? kCancelledReason : reason;
  } else {
    r.status = SendResult::Status::kPermanent;  // a 400 may still have stored some alerts
    r.reason = reason;
  }
  return r;
}

SendResult LogSink::Send(const Notification& n) {
  static std::mutex out_mutex;
  std::string line = RenderLogLine(n, clock_.WallNow());
  std::lock_guard<std::mutex> lock(out_mutex);
  std::cout << line << "\n" << std::flush;
  SendResult r;
  r.detail = std::cout ? "written to stdout" : "stdout failed";
  r.status = std::cout ? SendResult::Status::kDelivered : SendResult::Status::kPermanent;
  if (!std::cout) r.reason = "stdout";
  return r;
}

std::unique_ptr<AlertSink> MakeSink(const ReceiverConfig& r, HttpClient& http, const Clock& clock) {
  switch (r.type) {
    case ReceiverType::kSlack: {
      std::shared_ptr<SecretFile> file;
      if (!r.webhook_url_file.empty()) {
        file = std::make_shared<SecretFile>(
            r.webhook_url_file, r.webhook_url, "\n\r ", [](const std::string& v) {
              // The same rule as the config check; never quoting the value.
              return v.rfind("http://", 0) == 0 || v.rfind("https://", 0) == 0
                         ? std::string()
                         : std::string("must be an http(s) URL");
            });
      }
      return std::make_unique<SlackSink>(r.name, r.webhook_url, r.timeout, http, clock,
                                         std::move(file));
    }
    case ReceiverType::kAlertmanager:
      return std::make_unique<AlertmanagerSink>(r.name, r.urls, r.timeout, http, clock);
    case ReceiverType::kLog:
      break;
  }
  return std::make_unique<LogSink>(r.name, clock);
}

}  // namespace poolwatch
