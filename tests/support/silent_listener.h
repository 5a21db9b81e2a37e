#pragma once

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace poolwatch::support {

/// Accepts TCP connections on 127.0.0.1 (a free port) and never says a word: a PostgreSQL or
/// PgBouncer whose logins hang. Counts the connections it took and how many the peer still holds.
class SilentListener {
 public:
  SilentListener();
  ~SilentListener();
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;

  int port() const { return port_; }
  int Accepted();
  /// Connections the client still holds open (not closed by the peer).
  int StillOpen();

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex m_;
  std::vector<int> accepted_;
};

}  // namespace poolwatch::support
