#include "tests/support/silent_listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace poolwatch::support {

SilentListener::SilentListener() {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::listen(fd_, 64) != 0) {
    if (fd_ >= 0) ::close(fd_);
    throw std::runtime_error("SilentListener: cannot listen on 127.0.0.1");
  }
  socklen_t len = sizeof(a);
  getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  thread_ = std::thread([this] {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      std::lock_guard<std::mutex> l(m_);
      accepted_.push_back(c);
    }
  });
}

SilentListener::~SilentListener() {
  stop_ = true;
  thread_.join();
  for (int c : accepted_) ::close(c);
  ::close(fd_);
}

int SilentListener::Accepted() {
  std::lock_guard<std::mutex> l(m_);
  return static_cast<int>(accepted_.size());
}

int SilentListener::StillOpen() {
  std::lock_guard<std::mutex> l(m_);
  int open = 0;
  for (int c : accepted_) {
    pollfd p{c, POLLIN | POLLRDHUP, 0};
    int r = ::poll(&p, 1, 0);
    char b;
    bool closed = r > 0 && ((p.revents & (POLLRDHUP | POLLHUP | POLLERR)) ||
                            ::recv(c, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0);
    open += closed ? 0 : 1;
  }
  return open;
}

}  // namespace poolwatch::support
