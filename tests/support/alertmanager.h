#pragma once

#include <memory>
#include <string>

#include "tests/support/util.h"

namespace poolwatch::support {

/// A real Alertmanager (Debian's prometheus-alertmanager) on 127.0.0.1:`port`, with one receiver
/// that notifies nobody: tests read what it holds through /api/v2/alerts. It can be started late
/// and stopped early on the same port (Alertmanager down, then up). Not thread-safe.
class Alertmanager {
 public:
  /// Nothing runs until Start().
  explicit Alertmanager(int port);
  ~Alertmanager();
  Alertmanager(const Alertmanager&) = delete;
  Alertmanager& operator=(const Alertmanager&) = delete;

  void Start();
  /// SIGTERM, then SIGKILL after 10s.
  void Stop();
  /// Waits until /-/ready answers 200.
  bool WaitReady();
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  /// The body of GET /api/v2/alerts ("" when it does not answer).
  std::string Alerts() const;
  std::string Logs() const { return proc_ ? proc_->Stderr() : ""; }

 private:
  TempDir dir_;
  int port_;
  std::unique_ptr<Process> proc_;
};

}  // namespace poolwatch::support
