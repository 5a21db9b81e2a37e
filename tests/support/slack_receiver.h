#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

struct mg_context;
struct mg_connection;

namespace poolwatch::support {

/// One scripted answer of the Slack-like receiver.
struct ScriptedAnswer {
  /// Answers that are not HTTP answers at all.
  enum class Fault {
    kNone,
    kReset,      // reads the request, then resets the connection (RST, no reply)
    kNotHttp,    // replies bytes that are not HTTP, then closes
    kTruncated,  // "200 OK" promising 64 bytes of body, sends 2, then closes
  };
  int status = 200;
  std::string body = "ok";
  std::map<std::string, std::string> headers;  // e.g. {"Retry-After", "2"}
  /// Hold the request this long before answering (a hanging receiver); cut short by Stop().
  std::chrono::milliseconds hang{0};
  /// Answer normally, but only after this long (a slow receiver that works); cut short by Stop().
  std::chrono::milliseconds delay{0};
  Fault fault = Fault::kNone;

  static ScriptedAnswer Ok() { return {}; }
  static ScriptedAnswer Error(int status, std::string body) {
    ScriptedAnswer a;
    a.status = status;
    a.body = std::move(body);
    return a;
  }
  static ScriptedAnswer RateLimited(int retry_after_s) {
    ScriptedAnswer a = Error(429, "rate_limited");
    a.headers = {{"Retry-After", std::to_string(retry_after_s)}};
    return a;
  }
  static ScriptedAnswer Hang(std::chrono::milliseconds d) {
    ScriptedAnswer a;
    a.hang = d;
    return a;
  }
  static ScriptedAnswer Slow(std::chrono::milliseconds d) {
    ScriptedAnswer a;
    a.delay = d;
    return a;
  }
  static ScriptedAnswer Faulty(Fault f) {
    ScriptedAnswer a;
    a.fault = f;
    return a;
  }
};

/// A request as it arrived.
struct ReceivedRequest {
  std::string path;
  std::string body;
  std::chrono::steady_clock::time_point arrival;
  int answered_status = 0;
  std::string answered_body;
  bool hung = false;  // held by a Hang answer (the client has likely given up)
  ScriptedAnswer::Fault fault = ScriptedAnswer::Fault::kNone;  // answered with a fault
  bool Delivered() const { return !hung && answered_status == 200 && answered_body == "ok"; }
};

/// A Slack message body as a reader sees it: its `text`, then each attachment block's text and,
/// with `context`, each context element's text, one per line.
std::string SlackMessageText(const std::string& body, bool context = false);
/// How many of `requests` carry `needle` in their SlackMessageText(body, context).
int CountWithText(const std::vector<ReceivedRequest>& requests, const std::string& needle,
                  bool context = false);

/// A local HTTP server that behaves like a Slack incoming webhook (CivetWeb on 127.0.0.1, a free
/// port): answers from a script (200 ok, 400 invalid_payload, 404 channel_not_found, 429 with
/// Retry-After, 500, hang, slow, connection reset, not HTTP, truncated), then the default answer; records every request with its arrival
/// time. Any path is accepted (so one receiver can stand for several webhooks). Thread-safe.
class SlackReceiver {
 public:
  SlackReceiver();
  ~SlackReceiver();
  SlackReceiver(const SlackReceiver&) = delete;
  SlackReceiver& operator=(const SlackReceiver&) = delete;

  int port() const { return port_; }
  std::string Url(const std::string& path = "/services/T000/B000/secret") const;
  /// Answers consumed in order by the next requests; after them, the default.
  void Script(std::vector<ScriptedAnswer> answers);
  void SetDefault(ScriptedAnswer a);
  std::vector<ReceivedRequest> Requests() const;
  /// Requests answered 200 ok.
  std::vector<ReceivedRequest> Delivered() const;
  /// Waits until at least `n` requests arrived (answered or not).
  bool WaitForRequests(std::size_t n, std::chrono::milliseconds timeout) const;
  bool WaitForDelivered(std::size_t n, std::chrono::milliseconds timeout) const;
  void Stop();

 private:
  static int Handle(mg_connection* conn, void* self);
  int Serve(mg_connection* conn);

  mg_context* ctx_ = nullptr;
  int port_ = 0;
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  std::deque<ScriptedAnswer> script_;
  ScriptedAnswer default_;
  std::vector<ReceivedRequest> requests_;
  bool stopping_ = false;
};

}  // namespace poolwatch::support
