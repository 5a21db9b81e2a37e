#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/util.h"

namespace poolwatch::support {

/// The answer of one instant query: `result` is `data.result` when `ok`; otherwise `error` says
/// whether the transport, the body or PromQL failed.
struct PromResult {
  bool ok = false;
  std::string error;
  nlohmann::json result = nlohmann::json::array();
};

/// A real Prometheus (Debian's package) on a free loopback port in its own temp dir, scraping and
/// evaluating every second. The configuration is checked by `promtool check config` before it
/// starts. Not thread-safe.
class Prometheus {
 public:
  /// `scrape_configs` is the YAML list under `scrape_configs:` (each line indented by two spaces);
  /// `rules`, when not empty, is a rule file's content that Prometheus loads.
  Prometheus(std::string scrape_configs, std::string rules = "");
  ~Prometheus();
  Prometheus(const Prometheus&) = delete;
  Prometheus& operator=(const Prometheus&) = delete;

  /// Checks the configuration, starts Prometheus and waits (60 s at most) until /-/ready answers.
  /// On failure returns false and says why in `error` (promtool's or Prometheus' output).
  bool Start(std::string* error);
  PromResult Query(const std::string& promql) const;
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string Logs() const { return proc_ ? proc_->Stderr() : ""; }

 private:
  TempDir dir_;
  std::string scrape_configs_;
  std::string rules_;
  int port_ = 0;
  std::unique_ptr<Process> proc_;
};

/// Percent-encodes `s` for a query string (libcurl's escaping).
std::string UrlEncode(const std::string& s);

}  // namespace poolwatch::support
