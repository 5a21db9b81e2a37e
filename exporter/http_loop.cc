#include "exporter/http_loop.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <map>
#include <optional>
#include <system_error>
#include <vector>

#include "base/strings.h"

namespace poolwatch {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Header values and list items are trimmed of HTTP's optional whitespace only (RFC 9110 OWS).
std::string TrimOws(std::string_view s) { return Trim(s, kHttpSpace); }

bool HasToken(const std::string& value, const char* token) {
  std::size_t start = 0;
  const std::string v = Lower(value);
  while (start <= v.size()) {
    std::size_t end = v.find(',', start);
    if (end == std::string::npos) end = v.size();
    if (TrimOws(v.substr(start, end - start)) == token) return true;
    start = end + 1;
  }
  return false;
}

struct Conn {
  int fd = -1;
  std::string in;
  std::string out_head;
  LoopReply reply;
  std::size_t out_off = 0;  // over out_head then the body
  bool writing = false;
  bool close_after = false;
  bool mid_request = false;  // bytes of an unfinished request head arrived
  bool peer_closed = false;  // the client sent FIN: answer what it sent before, then close
  SteadyClock::time_point deadline;
  SteadyClock::time_point since;  // accept or last reply: for choosing whom to evict
};

struct Parsed {
  enum class Outcome { kIncomplete, kRequest, kError } outcome = Outcome::kIncomplete;
  LoopRequest req;
  bool keep_alive = false;
  bool has_body = false;
  int error_code = 400;
  std::string error_reason = "Bad Request";
  std::size_t consumed = 0;
};

Parsed Parse(const std::string& in, std::size_t max_head) {
  Parsed p;
  std::size_t end = in.find("\r\n\r\n");
  if (end == std::string::npos) {
    if (in.size() > max_head) {
      p.outcome = Parsed::Outcome::kError;
      p.error_code = 431;
      p.error_reason = "Request Header Fields Too Large";
    }
    return p;
  }
  if (end + 4 > max_head) {
    p.outcome = Parsed::Outcome::kError;
    p.error_code = 431;
    p.error_reason = "Request Header Fields Too Large";
    return p;
  }
  p.consumed = end + 4;
  p.outcome = Parsed::Outcome::kError;  // until proven otherwise
  std::string head = in.substr(0, end);
  for (char c : head) {
    unsigned char u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\r' && c != '\n' && c != '\t') || u == 0x7f) return p;
  }
  std::size_t line_end = head.find("\r\n");
  std::string line = head.substr(0, line_end);
  std::size_t s1 = line.find(' ');
  std::size_t s2 = s1 == std::string::npos ? std::string::npos : line.find(' ', s1 + 1);
  if (s1 == std::string::npos || s2 == std::string::npos || line.find(' ', s2 + 1) != std::string::npos) {
    return p;
  }
  std::string method = line.substr(0, s1);
  std::string target = line.substr(s1 + 1, s2 - s1 - 1);
  std::string version = line.substr(s2 + 1);
  if (method.empty() || target.empty()) return p;
  for (char c : method) {
    if (!std::isupper(static_cast<unsigned char>(c))) return p;
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    p.error_code = 505;
    p.error_reason = "HTTP Version Not Supported";
    return p;
  }
  std::map<std::string, std::vector<std::string>> headers;
  std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    std::size_t e = head.find("\r\n", pos);
    if (e == std::string::npos) e = head.size();
    std::string h = head.substr(pos, e - pos);
    pos = e + 2;
    if (h.empty()) continue;
    if (h[0] == ' ' || h[0] == '\t') return p;  // obsolete line folding
    std::size_t colon = h.find(':');
    if (colon == std::string::npos || colon == 0) return p;
    std::string name = h.substr(0, colon);
    if (name.find_first_of(" \t") != std::string::npos) return p;
    headers[Lower(name)].push_back(TrimOws(h.substr(colon + 1)));
  }
  // Bodies: nobody reads one here. Refuse what could smuggle a second request, and answer the
  // rest without reading the body, closing the connection after.
  auto cl = headers.find("content-length");
  auto te = headers.find("transfer-encoding");
  if (cl != headers.end()) {
    const std::string& first = cl->second.front();
    for (const auto& v : cl->second) {
      if (v != first) return p;  // duplicate, differing
    }
    if (first.empty() || first.find_first_not_of("0123456789") != std::string::npos) return p;
    if (te != headers.end()) return p;  // both: ambiguous framing
    p.has_body = first.find_first_not_of('0') != std::string::npos;
  }
  if (te != headers.end()) p.has_body = true;
  if (version == "HTTP/1.1" && headers.find("host") == headers.end()) {
    // RFC 9112 wants a Host; accept its absence (probes and tests omit it), as CivetWeb did.
  }
  // Request target: origin-form, absolute-form (a proxy's), or `*` for OPTIONS.
  std::string path = target;
  if (target == "*") {
    if (method != "OPTIONS") return p;
  } else if (target[0] != '/') {
    std::size_t scheme = target.find("://");
    if (scheme == std::string::npos) return p;
    std::size_t slash = target.find('/', scheme + 3);
    path = slash == std::string::npos ? "/" : target.substr(slash);
  }
  std::size_t q = path.find('?');
  if (q != std::string::npos) {
    p.req.strict = QueryHasFlag(std::string_view(path).substr(q + 1), "strict");
    path.resize(q);
  }
  p.req.method = method;
  p.req.path = path;
  p.req.head = method == "HEAD";
  auto ae = headers.find("accept-encoding");
  p.req.gzip = ae != headers.end() && AcceptsGzip(ae->second.front());
  auto connection = headers.find("connection");
  if (connection != headers.end()) {
    p.keep_alive = HasToken(connection->second.front(), "keep-alive") ||
                   (version == "HTTP/1.1" && !HasToken(connection->second.front(), "close"));
  } else {
    p.keep_alive = version == "HTTP/1.1";
  }
  if (p.has_body) p.keep_alive = false;
  p.outcome = Parsed::Outcome::kRequest;
  return p;
}


}  // namespace

bool AcceptsGzip(std::string_view accept_encoding) {
  // RFC 9110 12.5.3: a comma-separated list of codings, each with an optional ;q= weight; q=0
  // means "not acceptable". `gzip` (or `x-gzip`) decides; else `*` does; else no.
  std::optional<bool> gzip;
  std::optional<bool> any;
  while (!accept_encoding.empty()) {
    std::size_t comma = accept_encoding.find(',');
    std::string item = Lower(TrimOws(accept_encoding.substr(0, comma)));
    accept_encoding.remove_prefix(comma == std::string_view::npos ? accept_encoding.size()
                                                                  : comma + 1);
    std::size_t semi = item.find(';');
    std::string coding = TrimOws(item.substr(0, semi));
    bool acceptable = true;
    while (semi != std::string::npos) {
      std::size_t next = item.find(';', semi + 1);
      std::string param = TrimOws(
          item.substr(semi + 1, next == std::string::npos ? std::string::npos : next - semi - 1));
      if (param.rfind("q=", 0) == 0) {
        // q is 0 to 1 with up to three decimals: zero when every digit is 0.
        acceptable = param.find_first_not_of("0.", 2) != std::string::npos;
      }
      semi = next;
    }
    if (coding == "gzip" || coding == "x-gzip") gzip = acceptable;
    if (coding == "*") any = acceptable;
  }
  if (gzip) return *gzip;
  return any.value_or(false);
}

bool QueryHasFlag(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    std::size_t eq = part.find('=');
    if (part.substr(0, eq) == name) return true;
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return false;
}

EventLoopHttp::EventLoopHttp(Handler handler, LoopLimits limits)
    : handler_(std::move(handler)), limits_(limits) {}

EventLoopHttp::~EventLoopHttp() { Stop(); }

bool EventLoopHttp::Start(const std::string& host, int port, std::string& error) {
  // Thousands of idle clients are fine here, if the descriptor limit allows: raise the soft
  // limit to the hard one (a no-op when it already is).
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
  // Connections share the process's descriptors with libpq, libcurl and the file reader: keep
  // at most half of them (less 64) for HTTP, and one spare to shed connections at the limit.
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    const long long cap = static_cast<long long>(rl.rlim_cur) / 2 - 64;
    limits_.max_connections =
        static_cast<int>(std::max(16LL, std::min<long long>(limits_.max_connections, cap)));
  }
  // Every descriptor opened here is closed again on a failure, so a failed Start (port in use,
  // a bad address, descriptors exhausted) leaks nothing and Stop() has nothing to undo.
  auto fail = [this, &error](const std::string& why) {
    error = why;
    for (int* fd : {&listen_fd_, &epoll_fd_, &wake_fd_, &spare_fd_}) {
      if (*fd >= 0) ::close(*fd);
      *fd = -1;
    }
    return false;
  };
  auto errno_text = [] { return std::error_code(errno, std::generic_category()).message(); };
  spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  // A numeric address, or a host name such as `localhost` (resolved once, first address; IPv4
  // preferred).
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  {
    sockaddr_in a4{};
    sockaddr_in6 a6{};
    const std::string h = host.empty() ? "0.0.0.0" : host;
    if (inet_pton(AF_INET, h.c_str(), &a4.sin_addr) == 1) {
      a4.sin_family = AF_INET;
      std::memcpy(&addr, &a4, sizeof(a4));
      addr_len = sizeof(a4);
    } else if (inet_pton(AF_INET6, h.c_str(), &a6.sin6_addr) == 1) {
      a6.sin6_family = AF_INET6;
      std::memcpy(&addr, &a6, sizeof(a6));
      addr_len = sizeof(a6);
    } else {
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      addrinfo* res = nullptr;
      if (::getaddrinfo(h.c_str(), nullptr, &hints, &res) != 0 || res == nullptr) {
        return fail("cannot resolve host " + h);
      }
      const addrinfo* pick = res;
      for (const addrinfo* r = res; r != nullptr; r = r->ai_next) {
        if (r->ai_family == AF_INET) {
          pick = r;
          break;
        }
      }
      std::memcpy(&addr, pick->ai_addr, pick->ai_addrlen);
      addr_len = static_cast<socklen_t>(pick->ai_addrlen);
      ::freeaddrinfo(res);
    }
  }
  const bool v6 = addr.ss_family == AF_INET6;
  if (v6) {
    reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port = htons(static_cast<uint16_t>(port));
  } else {
    reinterpret_cast<sockaddr_in*>(&addr)->sin_port = htons(static_cast<uint16_t>(port));
  }
  listen_fd_ = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return fail(errno_text());
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), addr_len) != 0 ||
      ::listen(listen_fd_, 1024) != 0) {
    return fail(errno_text());
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return fail(errno_text());
  }
  port_ = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                   : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return fail("epoll_create1: " + errno_text());
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) return fail("eventfd: " + errno_text());
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listen_fd_;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev) != 0) {
    return fail("epoll_ctl: " + errno_text());
  }
  ev.data.fd = wake_fd_;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0) {
    return fail("epoll_ctl: " + errno_text());
  }
  thread_ = std::thread([this] { Run(); });
  return true;
}

void EventLoopHttp::Stop() {
  if (!thread_.joinable()) return;
  stopping_.store(true);
  std::uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof(one));
  thread_.join();
  ::close(listen_fd_);
  ::close(epoll_fd_);
  ::close(wake_fd_);
  if (spare_fd_ >= 0) ::close(spare_fd_);
  listen_fd_ = epoll_fd_ = wake_fd_ = spare_fd_ = -1;
}

void EventLoopHttp::Run() {
  std::map<int, Conn> conns;
  std::vector<int> ready;  // connections with a buffered request to serve next turn
  auto close_conn = [&](int fd) {
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    conns.erase(fd);
  };
  auto set_events = [&](Conn& c, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = c.fd;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
  };
  // Writes what it can; returns false when the connection is finished (closed).
  auto flush = [&](Conn& c) -> bool {
    const std::size_t head = c.out_head.size();
    const char* body = c.reply.body != nullptr ? c.reply.body : c.reply.owned.data();
    const std::size_t body_size = c.reply.body != nullptr ? c.reply.body_size : c.reply.owned.size();
    const std::size_t total = head + body_size;
    while (c.out_off < total) {
      const char* p = c.out_off < head ? c.out_head.data() + c.out_off : body + (c.out_off - head);
      std::size_t n = c.out_off < head ? head - c.out_off : total - c.out_off;
      ssize_t w = ::send(c.fd, p, n, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        set_events(c, EPOLLOUT);
        return true;
      }
      if (w <= 0) {
        close_conn(c.fd);
        return false;
      }
      c.out_off += static_cast<std::size_t>(w);
    }
    if (c.close_after) {
      close_conn(c.fd);
      return false;
    }
    c.writing = false;
    c.reply = LoopReply();
    c.out_head.clear();
    c.out_off = 0;
    c.since = SteadyClock::now();
    c.mid_request = !c.in.empty();
    c.deadline = SteadyClock::now() +
                 std::chrono::milliseconds(c.mid_request ? limits_.head_timeout_ms
                                                         : limits_.keep_alive_timeout_ms);
    if (c.peer_closed) {
      // Nothing more can arrive: serve what is buffered (no read interest, which a half-closed
      // socket would keep signalling), then close.
      if (c.in.empty()) {
        close_conn(c.fd);
        return false;
      }
      set_events(c, 0);
      ready.push_back(c.fd);
      return true;
    }
    set_events(c, EPOLLIN);
    if (!c.in.empty()) ready.push_back(c.fd);  // pipelined: next turn, after the others
    return true;
  };
  auto respond = [&](Conn& c, LoopReply r, bool keep_alive, bool head_only) {
    c.reply = std::move(r);
    const std::size_t body_size =
        c.reply.body != nullptr ? c.reply.body_size : c.reply.owned.size();
    c.out_head = "HTTP/1.1 " + std::to_string(c.reply.code) + " " + c.reply.reason +
                 "\r\nContent-Type: " + c.reply.type + "\r\nContent-Length: " +
                 std::to_string(body_size) + "\r\nCache-Control: no-store\r\n" +
                 c.reply.extra_headers + "Connection: " + (keep_alive ? "keep-alive" : "close") +
                 "\r\n\r\n";
    if (head_only) {  // HEAD: the GET's headers, Content-Length included; no body
      c.reply.body = nullptr;
      c.reply.owned.clear();
      c.reply.keep.reset();
    }
    c.close_after = !keep_alive;
    c.writing = true;
    c.out_off = 0;
    c.deadline = SteadyClock::now() + std::chrono::milliseconds(limits_.write_timeout_ms);
    flush(c);
  };
  auto error_reply = [&](Conn& c, int code, const std::string& reason) {
    LoopReply r;
    r.code = code;
    r.reason = reason;
    r.owned = reason + "\n";
    c.in.clear();
    respond(c, std::move(r), false, false);
  };
  // Serves at most one request of `c`; returns false when the connection is gone.
  auto serve_one = [&](Conn& c) {
    Parsed p = Parse(c.in, limits_.max_head_bytes);
    if (p.outcome == Parsed::Outcome::kIncomplete) {
      if (c.peer_closed) {  // the rest of this head can never come
        close_conn(c.fd);
        return;
      }
      if (!c.in.empty() && !c.mid_request) {
        c.mid_request = true;
        c.deadline = SteadyClock::now() + std::chrono::milliseconds(limits_.head_timeout_ms);
      }
      return;
    }
    if (p.outcome == Parsed::Outcome::kError) {
      error_reply(c, p.error_code, p.error_reason);
      return;
    }
    c.in.erase(0, p.consumed);
    if (p.has_body) c.in.clear();  // never read, never parsed as a request
    LoopReply r;
    try {
      r = handler_(p.req);
    } catch (const std::exception& e) {
      // A failing handler (out of memory building /status, say) costs this request, not the
      // loop thread that serves every probe and scrape.
      spdlog::error("http: handler failed: {}", e.what());
      r = LoopReply{};
      r.code = 500;
      r.reason = "Internal Server Error";
      r.owned = "internal error\n";
    }
    // An error answer ends the connection: whatever the client does next is not worth a turn.
    if (r.code >= 400) p.keep_alive = false;
    respond(c, std::move(r), p.keep_alive, p.req.head);
  };

  std::vector<epoll_event> events(256);
  while (!stopping_.load()) {
    int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()),
                         ready.empty() ? 100 : 0);
    std::vector<int> turn;
    turn.swap(ready);
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == wake_fd_) continue;
      if (fd == listen_fd_) {
        for (int k = 0; k < 64; ++k) {
          int cfd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (cfd < 0 && (errno == EMFILE || errno == ENFILE) && spare_fd_ >= 0) {
            // Out of descriptors: shed the pending connection through the spare one. Left in
            // the backlog it would keep the listening socket readable and the loop spinning.
            ::close(spare_fd_);
            int drop = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (drop >= 0) ::close(drop);
            spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
            continue;
          }
          if (cfd < 0) break;
          if (static_cast<int>(conns.size()) >= limits_.max_connections) {
            // Full: make room by closing the connection that has done least for longest (idle
            // or mid-head), so a new scraper or probe always gets in. When every connection is
            // a reply being written (clients that do not read), the writer stuck longest goes:
            // the one whose write deadline comes first.
            int victim = -1;
            int writer = -1;
            SteadyClock::time_point oldest = SteadyClock::time_point::max();
            SteadyClock::time_point stuck = SteadyClock::time_point::max();
            for (auto& [vfd, vc] : conns) {
              if (!vc.writing && vc.since < oldest) {
                oldest = vc.since;
                victim = vfd;
              }
              if (vc.writing && vc.deadline < stuck) {
                stuck = vc.deadline;
                writer = vfd;
              }
            }
            if (victim < 0) victim = writer;
            if (victim >= 0) {
              close_conn(victim);
            } else {
              ::close(cfd);
              continue;
            }
          }
          int one = 1;
          ::setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
          Conn c;
          c.fd = cfd;
          c.since = SteadyClock::now();
          c.deadline = c.since + std::chrono::milliseconds(limits_.head_timeout_ms);
          c.mid_request = true;
          conns[cfd] = std::move(c);
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.fd = cfd;
          ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, cfd, &ev);
        }
        continue;
      }
      auto it = conns.find(fd);
      if (it == conns.end()) continue;
      Conn& c = it->second;
      if (c.writing) {
        if (events[i].events & (EPOLLERR | EPOLLHUP)) {
          close_conn(fd);
        } else {
          flush(c);
        }
        continue;
      }
      char buf[4096];
      ssize_t r = ::recv(fd, buf, sizeof(buf), 0);
      if (r == 0 && !c.in.empty()) {
        // FIN after pipelined requests (`printf 'GET ...GET ...' | nc`): they still get answers.
        c.peer_closed = true;
        set_events(c, 0);
        turn.push_back(fd);
        continue;
      }
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        close_conn(fd);
        continue;
      }
      if (r > 0) {
        // Only as much as one head can be: a client cannot make us buffer more.
        if (c.in.size() + static_cast<std::size_t>(r) > limits_.max_head_bytes + 4096) {
          error_reply(c, 431, "Request Header Fields Too Large");
          continue;
        }
        c.in.append(buf, static_cast<std::size_t>(r));
        turn.push_back(fd);
      }
    }
    // One request per connection per turn: a busy keep-alive client waits its turn like anyone.
    std::sort(turn.begin(), turn.end());
    turn.erase(std::unique(turn.begin(), turn.end()), turn.end());
    for (int fd : turn) {
      auto it = conns.find(fd);
      if (it == conns.end() || it->second.writing) continue;
      serve_one(it->second);
    }
    // Deadlines: unfinished heads, idle keep-alive, stuck writes.
    const auto now = SteadyClock::now();
    std::vector<int> expired;
    for (auto& [fd, c] : conns) {
      if (now >= c.deadline) expired.push_back(fd);
    }
    for (int fd : expired) {
      auto it = conns.find(fd);
      if (it == conns.end()) continue;
      if (!it->second.writing && it->second.mid_request && !it->second.in.empty()) {
        error_reply(it->second, 408, "Request Timeout");
        if (conns.count(fd) && conns[fd].writing) continue;  // let the 408 go out
        if (conns.count(fd)) close_conn(fd);
      } else {
        close_conn(fd);
      }
    }
  }
  for (auto& [fd, c] : conns) ::close(fd);
}

}  // namespace poolwatch
