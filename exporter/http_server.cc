#include "exporter/http_server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <dlfcn.h>
#include <limits.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "alerts/health.h"
#include "base/files.h"
#include "exporter/http_loop.h"
#include "exporter/status_json.h"
#include "exporter/version.h"

#if defined(__SANITIZE_THREAD__)
// Debian's libcivetweb 1.15 formats the Date header of its own error replies (400, 408, 413)
// with gmtime(), whose static buffer two workers can write at once (found by TSan when several
// slow clients time out together). It is inside the library, cannot corrupt more than a Date
// header, and poolwatch never calls gmtime(): suppress exactly that, nothing else.
extern "C" const char* __tsan_default_suppressions() { return "race:gmtime\n"; }
#endif

namespace poolwatch {
namespace {

// How long a worker waits for the next request on a kept-alive connection (CivetWeb's default).
// CivetWeb gives each connection a worker, so an idle keep-alive client holds one of the 16
// workers this long: a tenth of what a slow client can hold one for anyway (the 5 s request
// deadline), and plenty for back-to-back requests (a benchmark, a retry, curl fetching /metrics
// then /status) to reuse the connection. Scrapers polling every few seconds reconnect per scrape,
// which costs them one TCP handshake. Clients that honour "Connection: close" or close after
// their request free the worker at once.
constexpr char kKeepAliveTimeoutMs[] = "500";

std::once_flag g_civet_init;
std::once_flag g_civet_tls_init;
bool g_tls_loaded = false;

// CivetWeb wants the key and the certificate in one PEM file. Rather than write the private key
// to disk, hand it an anonymous in-memory file (memfd) by its /proc/self/fd path; the fd is
// closed once the server has loaded it. Returns -1 with `error` on failure.
int CombinedPemFd(const WebConfig& web, std::string& error) {
  std::string pem;
  for (const auto* f : {&web.key_file, &web.cert_file}) {
    std::string part;
    if (!ReadRegularFile(*f, kMaxPemFileBytes, part, error)) return -1;
    pem += part;
    std::fill(part.begin(), part.end(), '\0');
    if (!pem.empty() && pem.back() != '\n') pem.push_back('\n');
  }
  int fd = memfd_create("poolwatch-tls", MFD_CLOEXEC);
  if (fd < 0) {
    error = "memfd_create: " + std::error_code(errno, std::generic_category()).message();
    return -1;
  }
  std::size_t off = 0;
  while (off < pem.size()) {
    ssize_t n = ::write(fd, pem.data() + off, pem.size() - off);
    if (n <= 0) {
      error = "writing TLS key to memfd: " +
              std::error_code(errno, std::generic_category()).message();
      ::close(fd);
      return -1;
    }
    off += static_cast<std::size_t>(n);
  }
  std::fill(pem.begin(), pem.end(), '\0');
  return fd;
}

// Whether `token` is one of the comma-separated options of a header value (case-insensitive).
bool HeaderHasToken(const char* value, const char* token) {
  const std::size_t len = std::strlen(token);
  for (const char* p = value; *p != '\0';) {
    while (*p == ' ' || *p == '\t' || *p == ',') ++p;
    const char* end = p;
    while (*end != '\0' && *end != ',') ++end;
    const char* last = end;
    while (last > p && (last[-1] == ' ' || last[-1] == '\t')) --last;
    if (static_cast<std::size_t>(last - p) == len && strncasecmp(p, token, len) == 0) return true;
    p = end;
  }
  return false;
}

// The same decision CivetWeb makes after the handler returns (keep-alive is enabled in Start()):
// an explicit Connection header from the client wins, else HTTP/1.1 means keep-alive. The reply
// says what will happen, so a client never waits on a connection the server is about to close.
bool KeepAlive(mg_connection* c) {
  // A request body is never read; CivetWeb hangs up rather than parse what follows it.
  if (mg_get_request_info(c)->content_length > 0) return false;
  const char* conn = mg_get_header(c, "Connection");
  if (conn != nullptr) return HeaderHasToken(conn, "keep-alive");
  const char* version = mg_get_request_info(c)->http_version;
  return version != nullptr && std::strcmp(version, "1.1") == 0;
}

// Header and body go out in one send when they fit a small stack buffer (every reply but
// /metrics and /status); a large body follows its header directly from the snapshot, uncopied.
void Send(mg_connection* c, int code, const char* reason, const char* type,
          std::string_view body, const char* extra_headers = "") {
  const bool keep_alive = KeepAlive(c);
  char buf[2048];
  int n = std::snprintf(buf, sizeof(buf),
                        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                        "Cache-Control: no-store\r\n%sConnection: %s\r\n\r\n",
                        code, reason, type, body.size(), extra_headers,
                        keep_alive ? "keep-alive" : "close");
  if (n < 0 || static_cast<std::size_t>(n) >= sizeof(buf)) {
    mg_printf(c, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                 "Connection: close\r\n\r\n");
    return;
  }
  std::size_t head = static_cast<std::size_t>(n);
  const mg_request_info* ri = mg_get_request_info(c);
  const bool with_body = std::strcmp(ri->request_method, "HEAD") != 0 && !body.empty();
  if (with_body && head + body.size() <= sizeof(buf)) {
    std::copy(body.begin(), body.end(), buf + head);
    mg_write(c, buf, head + body.size());
    return;
  }
  mg_write(c, buf, head);
  if (with_body) mg_write(c, body.data(), body.size());
}

bool AcceptsGzip(mg_connection* c) {
  const char* ae = mg_get_header(c, "Accept-Encoding");
  return ae != nullptr && poolwatch::AcceptsGzip(ae);  // the event loop's parser: q=0 refuses
}

// The liveness and readiness paths answer without credentials even when basic auth is on.
// Kubernetes' kubelet sends no credentials in its probes (a password in a probe's httpHeaders
// would sit readable in the pod spec), and a tcpSocket probe instead cannot tell a stalled
// sampler from a live one. These two paths disclose nothing: their bodies are fixed strings
// about poolwatch's own sampler ("ok", "sampler stalled", "ready", "waiting for the first
// sample"), never a target, a metric or a configuration value. Every other path, /health and /
// included, still answers 401 without credentials.
bool IsUnauthenticatedProbePath(const std::string& uri) {
  return uri == "/healthz" || uri == "/readyz";
}

const char kLanding[] =
    "<!doctype html><html><head><title>poolwatch</title></head><body>"
    "<h1>poolwatch</h1><p>Connection-pool watcher for PostgreSQL and PgBouncer.</p><ul>"
    "<li><a href=\"metrics\">/metrics</a> Prometheus metrics (latest sample)</li>"
    "<li><a href=\"status\">/status</a> targets, reasons and offenders (JSON)</li>"
    "<li><a href=\"health\">/health</a> overall level: ok, degraded (200) or down (503)</li>"
    "<li><a href=\"healthz\">/healthz</a> liveness</li>"
    "<li><a href=\"readyz\">/readyz</a> readiness</li></ul><p>version " POOLWATCH_VERSION
    " (" POOLWATCH_REVISION ")</p></body></html>";

// Loads the OpenSSL 3 compatibility objects for Debian 12's CivetWeb (exporter/tls_compat): their
// SONAMEs are the names CivetWeb dlopens, so its own dlopen then finds them. They live in
// ../lib/poolwatch relative to the executable, in the build tree and after install alike. Never
// unloaded. Harmless with a CivetWeb that loads OpenSSL 3 by itself.
void PreloadTlsCompat() {
  char exe[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) return;
  std::string dir(exe, static_cast<std::size_t>(n));
  dir = dir.substr(0, dir.rfind('/'));
  for (const char* lib : {"libpoolwatch-crypto-compat.so", "libpoolwatch-ssl-compat.so"}) {
    std::string path = dir + "/../lib/poolwatch/" + lib;
    if (::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL) == nullptr) {
      // glibc keeps dlerror()'s message per thread; this runs once, under std::call_once.
      const char* why = ::dlerror();  // NOLINT(concurrency-mt-unsafe)
      spdlog::debug("TLS compatibility object not loaded: {}", why ? why : path);
    }
  }
}

}  // namespace

bool HttpServer::TlsAvailable() {
  // Asking CivetWeb to load OpenSSL is the only reliable test: mg_check_feature() says only that
  // TLS was compiled in. Starting a TLS port after a failed load would crash on the first client.
  std::call_once(g_civet_tls_init, [] {
    if (mg_check_feature(MG_FEATURES_TLS) == 0) return;
    PreloadTlsCompat();
    g_tls_loaded = (mg_init_library(MG_FEATURES_TLS) & MG_FEATURES_TLS) != 0;
  });
  return g_tls_loaded;
}

bool ToCivetPorts(const std::string& address, std::string& out) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos) return false;
  std::string host = address.substr(0, colon);
  std::string port = address.substr(colon + 1);
  if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos ||
      port.size() > 5 || std::stoi(port) > 65535) {
    return false;
  }
  if (host.empty() || host == "0.0.0.0") {
    out = port;
  } else if (host.front() == '[') {
    if (host.back() != ']') return false;
    out = "+" + port;  // CivetWeb: '+' prefix = IPv4 and IPv6; a specific v6 host below
    if (host != "[::]") out = host + ":" + port;
  } else {
    out = host + ":" + port;
  }
  return true;
}

HttpServer::HttpServer(const SnapshotStore& store, HttpState state, WebConfig web)
    : store_(store), state_(std::move(state)), web_(std::move(web)) {}

HttpServer::~HttpServer() { Stop(); }

bool HttpServer::Start(const std::string& address, std::string& error) {
  std::call_once(g_civet_init, [] { mg_init_library(0); });
  std::string ports;
  if (!ToCivetPorts(address, ports)) {
    error = "invalid listen address \"" + address + "\" (want HOST:PORT or :PORT)";
    return false;
  }
  if (!web_.tls() && !web_.auth()) {
    // The event loop: idle, slow and busy clients cost a descriptor each, never a worker.
    auto colon = address.rfind(':');
    std::string host = address.substr(0, colon);
    if (!host.empty() && host.front() == '[') host = host.substr(1, host.size() - 2);
    loop_ = std::make_unique<EventLoopHttp>([this](const LoopRequest& r) { return Route(r); });
    std::string why;
    if (!loop_->Start(host, std::stoi(address.substr(colon + 1)), why)) {
      loop_.reset();
      error = "cannot listen on " + address + ": " + why + " (is the port in use?)";
      return false;
    }
    port_ = loop_->port();
    return true;
  }
  // Bounds (see README "Security and hardening"): a fixed pool of worker threads, a queue of
  // accepted connections in front of it, a whole-request deadline and a request size cap.
  std::vector<const char*> options = {"listening_ports", nullptr,
                                      "num_threads", "16",
                                      "connection_queue", "64",
                                      "listen_backlog", "128",
                                      "request_timeout_ms", "5000",
                                      "enable_keep_alive", "yes",
                                      "keep_alive_timeout_ms", kKeepAliveTimeoutMs,
                                      "tcp_nodelay", "1",
                                      "max_request_size", "16384"};
  int pem_fd = -1;
  std::string pem_path;
  if (web_.tls()) {
    if (!TlsAvailable()) {
      error = "TLS is configured in the web config file, but this system's CivetWeb cannot "
              "provide it (built without TLS, or unable to load the system OpenSSL; on Debian 12 "
              "poolwatch needs its lib/poolwatch/libpoolwatch-{ssl,crypto}-compat.so next to "
              "its bin directory for that). Terminate TLS in front of poolwatch instead";
      return false;
    }
    pem_fd = CombinedPemFd(web_, error);
    if (pem_fd < 0) return false;
    pem_path = "/proc/self/fd/" + std::to_string(pem_fd);
    ports += "s";
    options.insert(options.end(), {"ssl_certificate", pem_path.c_str(),
                                   "ssl_protocol_version", "4",  // TLS 1.2 and newer
                                   "ssl_default_verify_paths", "no"});
  }
  options[1] = ports.c_str();
  options.push_back(nullptr);
  mg_callbacks cb{};
  cb.log_message = [](const mg_connection*, const char* msg) {
    spdlog::debug("http: {}", msg);
    return 1;
  };
  mg_init_data init{};
  init.callbacks = &cb;
  init.configuration_options = options.data();
  mg_error_data err{};
  char errbuf[256] = {0};
  err.text = errbuf;
  err.text_buffer_size = sizeof(errbuf);
  ctx_ = mg_start2(&init, &err);
  if (pem_fd >= 0) ::close(pem_fd);
  if (ctx_ == nullptr) {
    error = "cannot listen on " + address + ": " + (errbuf[0] ? errbuf : "unknown error") +
            " (is the port in use?)";
    return false;
  }
  mg_set_request_handler(ctx_, "/", &HttpServer::Handle, this);
  mg_server_port sp[4];
  int n = mg_get_server_ports(ctx_, 4, sp);
  port_ = n > 0 ? sp[0].port : 0;
  // Where Stop() knocks: the bound host, or loopback for a wildcard address.
  std::string host = address.substr(0, address.rfind(':'));
  if (!host.empty() && host.front() == '[') host = host.substr(1, host.size() - 2);
  wake_v6_ = host.find(':') != std::string::npos;
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  wake_host_ = host;
  return true;
}

void HttpServer::Stop() {
  if (loop_) {
    loop_->Stop();
    loop_.reset();
  }
  if (ctx_ == nullptr) return;
  // CivetWeb's master thread polls the listening socket in 2-second quanta and only then sees the
  // stop flag; knock on our own port meanwhile so shutdown (and SIGTERM) is prompt.
  std::atomic<bool> stopped{false};
  std::thread knocker([this, &stopped] {
    for (int i = 0; i < 100 && !stopped.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      int fd = ::socket(wake_v6_ ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
      if (fd < 0) continue;
      if (wake_v6_) {
        sockaddr_in6 a{};
        a.sin6_family = AF_INET6;
        a.sin6_port = htons(static_cast<uint16_t>(port_));
        inet_pton(AF_INET6, wake_host_.c_str(), &a.sin6_addr);
        (void)::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));  // a knock; may fail
      } else {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<uint16_t>(port_));
        inet_pton(AF_INET, wake_host_.c_str(), &a.sin_addr);
        (void)::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));  // a knock; may fail
      }
      ::close(fd);
    }
  });
  mg_stop(ctx_);
  stopped.store(true);
  knocker.join();
  ctx_ = nullptr;
}

LoopReply HttpServer::Route(const LoopRequest& req) {
  LoopReply r;
  auto text = [&r](int code, const char* reason, std::string body) {
    r.code = code;
    r.reason = reason;
    r.owned = std::move(body);
  };
  if (req.method == "OPTIONS" && req.path == "*") {
    text(200, "OK", "");
    r.extra_headers = "Allow: GET, HEAD\r\n";
    return r;
  }
  if (req.method != "GET" && req.method != "HEAD") {
    text(405, "Method Not Allowed", "method not allowed\n");
    r.extra_headers = "Allow: GET, HEAD\r\n";
    return r;
  }
  const std::string& uri = req.path;
  if (uri == "/metrics") {
    auto snap = store_.Latest();
    if (!snap) {
      text(503, "Service Unavailable", "no sample completed yet\n");
      return r;
    }
    r.type = "text/plain; version=0.0.4; charset=utf-8";
    static const Exposition kNone;
    const Exposition& e = snap->exposition ? *snap->exposition : kNone;
    const std::string& body = req.gzip ? e.gzip : e.text;
    if (req.gzip) r.extra_headers = "Content-Encoding: gzip\r\n";
    r.body = body.data();
    r.body_size = body.size();
    r.keep = snap;  // the snapshot outlives the write
    return r;
  }
  if (uri == "/healthz") {
    bool ok = state_.healthy && state_.healthy();
    text(ok ? 200 : 503, ok ? "OK" : "Service Unavailable", ok ? "ok\n" : "sampler stalled\n");
    return r;
  }
  if (uri == "/readyz") {
    bool ok = state_.ready && state_.ready();
    text(ok ? 200 : 503, ok ? "OK" : "Service Unavailable",
         ok ? "ready\n" : "waiting for the first sample\n");
    return r;
  }
  if (uri == "/health") {
    // The overall level for a load balancer or a human (README "HTTP endpoints"): 200 ok or
    // degraded, 503 down; `?strict` answers 503 for degraded too.
    auto snap = store_.Latest();
    const bool fresh = state_.healthy && state_.healthy();
    const OverallHealth h = JudgeOverallHealth(snap.get(), fresh);
    const int code = h.HttpStatus(req.strict);
    nlohmann::json j = h.Json();
    j["sampler_fresh"] = fresh;
    nlohmann::json targets = nlohmann::json::object();
    if (snap) {
      for (const auto& t : snap->targets) targets[t.name] = t.health;
    }
    j["targets"] = targets;
    text(code, code == 200 ? "OK" : "Service Unavailable", DumpJson(j, 2) + "\n");
    r.type = "application/json";
    return r;
  }
  if (uri == "/status") {
    auto snap = store_.Latest();
    nlohmann::json j =
        snap ? StatusJson(*snap) : nlohmann::json{{"targets", nlohmann::json::array()}};
    j["health"] = JudgeOverallHealth(snap.get(), state_.healthy && state_.healthy()).Json();
    if (state_.alerts) j["alerts"] = state_.alerts();
    if (state_.incidents) j["incidents"] = state_.incidents();
    text(200, "OK", DumpJson(j, 2) + "\n");
    r.type = "application/json";
    return r;
  }
  if (uri == "/") {
    text(200, "OK", kLanding);
    r.type = "text/html; charset=utf-8";
    return r;
  }
  text(404, "Not Found", "not found\n");
  return r;
}

int HttpServer::Handle(mg_connection* conn, void* self) {
  return static_cast<HttpServer*>(self)->Serve(conn);
}

int HttpServer::Serve(mg_connection* c) {
  const mg_request_info* ri = mg_get_request_info(c);
  std::string method = ri->request_method ? ri->request_method : "";
  std::string uri = ri->local_uri ? ri->local_uri : "";
  if (web_.auth() && !IsUnauthenticatedProbePath(uri)) {
    const char* authz = mg_get_header(c, "Authorization");
    if (authz == nullptr || !CheckBasicAuth(web_.users, authz)) {
      Send(c, 401, "Unauthorized", "text/plain", "unauthorized\n",
           "WWW-Authenticate: Basic realm=\"poolwatch\", charset=\"UTF-8\"\r\n");
      return 401;
    }
  }
  // The same routes as the plain-HTTP event loop: one place decides what each path answers.
  LoopRequest req;
  req.method = method;
  req.path = uri;
  req.head = method == "HEAD";
  req.gzip = AcceptsGzip(c);
  req.strict = ri->query_string != nullptr && QueryHasFlag(ri->query_string, "strict");
  const LoopReply r = Route(req);
  const std::string_view body =
      r.body != nullptr ? std::string_view(r.body, r.body_size) : std::string_view(r.owned);
  Send(c, r.code, r.reason.c_str(), r.type.c_str(), body, r.extra_headers.c_str());
  return r.code;
}

}  // namespace poolwatch
