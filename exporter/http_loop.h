#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

namespace poolwatch {

/// One parsed request (the head only: poolwatch's endpoints take no body).
struct LoopRequest {
  std::string method;
  std::string path;  // origin-form path without the query; "*" for `OPTIONS *`
  bool head = false;
  bool gzip = false;  // Accept-Encoding allows gzip
  bool strict = false;  // the query has a `strict` parameter (/health)
};

/// Whether an Accept-Encoding value allows gzip (a `gzip;q=0` or `*;q=0` refuses it).
bool AcceptsGzip(std::string_view accept_encoding);

/// Whether an URL query string ("a=1&strict") has parameter `name` (bare or with a value).
bool QueryHasFlag(std::string_view query, std::string_view name);

/// A reply; `body` points into `keep` (a snapshot) or into `owned`.
struct LoopReply {
  int code = 200;
  std::string reason = "OK";
  std::string type = "text/plain";
  std::string extra_headers;  // each ending in \r\n
  std::string owned;
  std::shared_ptr<const void> keep;
  const char* body = nullptr;  // null: `owned`
  std::size_t body_size = 0;
};

/// Limits of the event loop (README "What is bounded").
struct LoopLimits {
  std::size_t max_head_bytes = std::size_t{16} * 1024;
  int head_timeout_ms = 3000;        // from the first byte of a request to its blank line
  int keep_alive_timeout_ms = 2000;  // idle between requests on a kept-alive connection
  int write_timeout_ms = 10000;      // the whole reply to a slow reader
  int max_connections = 4096;        // beyond it the oldest idle or unfinished one is closed
};

/// A single-threaded epoll HTTP/1.1 server for plain HTTP: every connection costs a few hundred
/// bytes, not a worker, so idle, slow (slowloris, trickled bodies) and busy keep-alive clients
/// cannot starve a scraper or a liveness probe. Each connection gets at most one request per
/// loop turn (fair across keep-alive clients); request heads have a deadline and a size cap; a
/// request announcing a body is answered and closed without reading it; duplicate or invalid
/// Content-Length and Content-Length with Transfer-Encoding are refused and closed;
/// absolute-form targets and `OPTIONS *` are answered.
class EventLoopHttp {
 public:
  using Handler = std::function<LoopReply(const LoopRequest&)>;
  EventLoopHttp(Handler handler, LoopLimits limits = {});
  ~EventLoopHttp();
  EventLoopHttp(const EventLoopHttp&) = delete;
  EventLoopHttp& operator=(const EventLoopHttp&) = delete;

  /// Binds `host` ("" or "0.0.0.0" for all IPv4, "::" or a v6 literal for IPv6) and `port` and
  /// starts the loop thread. Returns false with `error`.
  bool Start(const std::string& host, int port, std::string& error);
  void Stop();
  int port() const { return port_; }

 private:
  void Run();

  Handler handler_;
  LoopLimits limits_;
  int listen_fd_ = -1;
  int spare_fd_ = -1;  // closed to accept and drop a connection when descriptors run out
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace poolwatch
