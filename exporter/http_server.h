#pragma once

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "exporter/snapshot_store.h"
#include "exporter/web_config.h"

struct mg_context;
namespace poolwatch {
class EventLoopHttp;
struct LoopReply;
struct LoopRequest;
}  // namespace poolwatch
struct mg_connection;

namespace poolwatch {

/// What the HTTP handlers need to know beyond the snapshot.
struct HttpState {
  /// True while the sampler thread is alive and has completed a sample recently.
  std::function<bool()> healthy;
  /// True once the first sample completed (whatever the targets' health).
  std::function<bool()> ready;
  /// Active alerts for /status (absent when alerting is off).
  std::function<nlohmann::json()> alerts;
  /// Open incidents for /status (absent when alerting is off).
  std::function<nlohmann::json()> incidents;
};

/// Serves /metrics (the latest snapshot, pre-rendered; never touches a database), /healthz,
/// /readyz, /status and /. Bounded worker threads, request size and timeouts (CivetWeb); with a
/// WebConfig, TLS and/or basic auth on every path.
class HttpServer {
 public:
  HttpServer(const SnapshotStore& store, HttpState state, WebConfig web = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Listens on `address` (":9930", "127.0.0.1:0", "[::1]:9930"). Returns false with a clear
  /// message in `error` when it cannot (port in use, bad address).
  bool Start(const std::string& address, std::string& error);
  void Stop();
  /// Whether TLS can really be served here (CivetWeb compiled with TLS *and* able to load the
  /// system's OpenSSL). Thread-safe; loads OpenSSL once.
  static bool TlsAvailable();
  /// The bound port (useful with port 0).
  int port() const { return port_; }

 private:
  static int Handle(mg_connection* conn, void* self);
  int Serve(mg_connection* conn);
  /// The same endpoints for the event loop (plain HTTP without basic auth).
  LoopReply Route(const LoopRequest& req);

  const SnapshotStore& store_;
  HttpState state_;
  WebConfig web_;
  mg_context* ctx_ = nullptr;
  /// Plain HTTP without basic auth is served by an epoll loop (no worker per connection);
  /// CivetWeb serves TLS and basic auth.
  std::unique_ptr<EventLoopHttp> loop_;
  int port_ = 0;
  std::string wake_host_ = "127.0.0.1";
  bool wake_v6_ = false;
};

/// Converts ":9930" to CivetWeb's listening_ports syntax. Returns false when malformed.
bool ToCivetPorts(const std::string& address, std::string& out);

}  // namespace poolwatch
