#include "tests/support/slack_receiver.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>

namespace poolwatch::support {

namespace {
std::once_flag g_init;

int LocalPort(int fd, bool peer) {
  sockaddr_in a{};
  socklen_t len = sizeof(a);
  int rc = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len)
                : ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  if (rc != 0 || a.sin_family != AF_INET) return -1;
  return ntohs(a.sin_port);
}

/// Resets the accepted connection from 127.0.0.1:`remote_port` to our `local_port`. CivetWeb
/// does not hand out its sockets, so find it among this process's descriptors; connect() with
/// AF_UNSPEC on an established TCP socket makes Linux send a RST and drop the connection (the
/// descriptor stays valid for CivetWeb to close). Returns false if it was not found.
bool ResetConnection(int local_port, int remote_port) {
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return false;
  bool done = false;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    int fd = std::atoi(e->d_name);
    if (fd == ::dirfd(d)) continue;
    if (LocalPort(fd, false) != local_port || LocalPort(fd, true) != remote_port) continue;
    sockaddr unspec{};
    unspec.sa_family = AF_UNSPEC;
    done = ::connect(fd, &unspec, sizeof(unspec)) == 0;
    break;
  }
  ::closedir(d);
  return done;
}
}  // namespace

SlackReceiver::SlackReceiver() {
  std::call_once(g_init, [] { mg_init_library(0); });
  const char* options[] = {"listening_ports",   "127.0.0.1:0", "num_threads", "16",
                           "enable_keep_alive", "no",          nullptr};
  mg_callbacks cb{};
  cb.log_message = [](const mg_connection*, const char*) { return 1; };
  ctx_ = mg_start(&cb, nullptr, options);
  if (ctx_ == nullptr) throw std::runtime_error("SlackReceiver: cannot start CivetWeb");
  mg_set_request_handler(ctx_, "/", &SlackReceiver::Handle, this);
  mg_server_port sp[2];
  int n = mg_get_server_ports(ctx_, 2, sp);
  port_ = n > 0 ? sp[0].port : 0;
}

SlackReceiver::~SlackReceiver() { Stop(); }

void SlackReceiver::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (ctx_ == nullptr) return;
  std::atomic<bool> done{false};
  std::thread knocker([this, &done] {  // CivetWeb polls its listener in 2s quanta
    for (int i = 0; i < 300 && !done.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      if (fd < 0) continue;
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(port_));
      inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
      ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
      ::close(fd);
    }
  });
  mg_stop(ctx_);
  done.store(true);
  knocker.join();
  ctx_ = nullptr;
}

std::string SlackReceiver::Url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

void SlackReceiver::Script(std::vector<ScriptedAnswer> answers) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& a : answers) script_.push_back(std::move(a));
}

void SlackReceiver::SetDefault(ScriptedAnswer a) {
  std::lock_guard<std::mutex> lock(mutex_);
  default_ = std::move(a);
}

std::vector<ReceivedRequest> SlackReceiver::Requests() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return requests_;
}

std::vector<ReceivedRequest> SlackReceiver::Delivered() const {
  std::vector<ReceivedRequest> out;
  for (auto& r : Requests()) {
    if (r.Delivered()) out.push_back(r);
  }
  return out;
}

bool SlackReceiver::WaitForRequests(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return cv_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
}

bool SlackReceiver::WaitForDelivered(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return cv_.wait_for(lock, timeout, [&] {
    std::size_t d = 0;
    for (const auto& r : requests_) d += r.Delivered() ? 1 : 0;
    return d >= n;
  });
}

int SlackReceiver::Handle(mg_connection* conn, void* self) {
  return static_cast<SlackReceiver*>(self)->Serve(conn);
}

int SlackReceiver::Serve(mg_connection* c) {
  const auto arrival = std::chrono::steady_clock::now();
  const mg_request_info* ri = mg_get_request_info(c);
  std::string body;
  char buf[8192];
  int n;
  while ((n = mg_read(c, buf, sizeof buf)) > 0) body.append(buf, static_cast<std::size_t>(n));
  ScriptedAnswer answer;
  std::size_t index;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!script_.empty()) {
      answer = script_.front();
      script_.pop_front();
    } else {
      answer = default_;
    }
    ReceivedRequest r;
    r.path = ri->local_uri ? ri->local_uri : "";
    r.body = body;
    r.arrival = arrival;
    r.hung = answer.hang.count() > 0;
    r.fault = answer.fault;
    requests_.push_back(std::move(r));
    index = requests_.size() - 1;
  }
  cv_.notify_all();
  if (answer.hang.count() > 0 || answer.delay.count() > 0) {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait_for(lock, answer.hang + answer.delay, [this] { return stopping_; });
  }
  switch (answer.fault) {
    case ScriptedAnswer::Fault::kNone:
      break;
    case ScriptedAnswer::Fault::kReset:
      // (No exception through CivetWeb's C frames: a failure shows as an empty reply instead.)
      if (!ResetConnection(port_, ri->remote_port)) {
        std::fprintf(stderr, "SlackReceiver: cannot find the socket to reset\n");
      }
      return 1;
    case ScriptedAnswer::Fault::kNotHttp: {
      const std::string junk = "SSH-2.0-OpenSSH_9.2\r\nProtocol mismatch.\n";
      mg_write(c, junk.data(), junk.size());
      return 1;
    }
    case ScriptedAnswer::Fault::kTruncated: {
      mg_printf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 64\r\n"
                   "Connection: close\r\n\r\nok");
      return 1;
    }
  }
  std::string headers;
  for (const auto& [k, v] : answer.headers) headers += k + ": " + v + "\r\n";
  mg_printf(c,
            "HTTP/1.1 %d X\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n%s"
            "Connection: close\r\n\r\n",
            answer.status, answer.body.size(), headers.c_str());
  mg_write(c, answer.body.data(), answer.body.size());
  {
    std::lock_guard<std::mutex> lock(mutex_);
    requests_[index].answered_status = answer.status;
    requests_[index].answered_body = answer.body;
  }
  cv_.notify_all();
  return answer.status;
}

std::string SlackMessageText(const std::string& body, bool context) {
  auto j = nlohmann::json::parse(body);
  std::string t = j.value("text", "");
  for (const auto& att : j["attachments"]) {
    for (const auto& b : att["blocks"]) {
      if (b.contains("text")) t += "\n" + b["text"]["text"].get<std::string>();
      if (context && b.contains("elements")) {
        for (const auto& e : b["elements"]) t += "\n" + e.value("text", "");
      }
    }
  }
  return t;
}

int CountWithText(const std::vector<ReceivedRequest>& requests, const std::string& needle,
                  bool context) {
  int n = 0;
  for (const auto& r : requests) {
    n += SlackMessageText(r.body, context).find(needle) != std::string::npos;
  }
  return n;
}

}  // namespace poolwatch::support
