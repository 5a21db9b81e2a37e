#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "alerts/alerter.h"
#include "base/clock.h"
#include "exporter/config.h"
#include "exporter/http_server.h"
#include "exporter/sampler.h"
#include "exporter/snapshot_store.h"

namespace poolwatch {

/// Wires Config -> Sampler -> SnapshotStore -> HttpServer. Start/Stop/Reload are called from
/// one thread (main's signal loop); the HTTP and sampler threads only read through the store.
class App {
 public:
  App(Config config, const Clock& clock, TargetConnector connector = ConnectTarget);
  ~App();

  /// TLS and basic auth for the HTTP endpoints (`--web.config.file`); call before Start.
  void SetWebConfig(WebConfig web) { web_ = std::move(web); }
  /// `--web.listen-address`: wins over web.listen_address at start and on every reload, so a
  /// reload neither moves the port nor warns that it changed. Call before Start.
  void SetListenAddressOverride(std::string address) { listen_override_ = std::move(address); }
  /// Binds the HTTP port and starts sampling. Returns false with `error` (e.g. port in use).
  bool Start(std::string& error);
  void Stop();
  /// Loads `path` anew. On failure keeps running on the old config, logs every problem and sets
  /// poolwatch_config_last_reload_successful 0. Settings that need a restart are logged.
  bool Reload(const std::string& path);

  int http_port() const { return http_ ? http_->port() : 0; }
  const SnapshotStore& store() const { return store_; }
  std::uint64_t SamplesCompleted() const;

 private:
  void AddProcessMetrics(MetricSet& m);
  /// The election's hand-off to and from the running alerter (exporter/election.h).
  ElectionHooks ElectionHooksFor();
  void StartSampler();
  /// /healthz's verdict: a sample published within 3 intervals + timeout of the running config
  /// (or, before the first one, of Start()). Thread-safe.
  bool Healthy() const;
  /// `carry` is the previous alerter's state (a reload), used when there is no state file.
  void StartAlerter(const nlohmann::json& carry = nullptr);
  /// Stops the alerter and returns its state. `shutdown`: the process is exiting, so queued
  /// notifications first get alerts.shutdown_grace to go out (a reload carries them over).
  nlohmann::json StopAlerter(bool shutdown = false);

  Config config_;
  const Clock& clock_;
  TargetConnector connector_;
  SnapshotStore store_;
  WebConfig web_;
  std::string listen_override_;
  std::unique_ptr<HttpServer> http_;
  mutable std::mutex sampler_mutex_;
  std::unique_ptr<Sampler> sampler_;
  /// Alerting (null when the config has no `alerts:` section). Replaced on reload under
  /// alerter_mutex_; its own threads deliver notifications, never the sampler's.
  mutable std::mutex alerter_mutex_;
  std::shared_ptr<Alerter> alerter_;
  // What /healthz judges by, updated by every publish and every reload, so it follows the
  // running configuration and has no gap while a reload swaps samplers. Read by HTTP threads.
  std::atomic<std::int64_t> last_publish_ns_{0};   // steady clock; 0 before the first sample
  std::atomic<std::int64_t> started_ns_{0};        // steady clock of Start()
  std::atomic<std::int64_t> health_interval_ns_{0};
  std::atomic<std::int64_t> health_timeout_ns_{0};
  std::atomic<bool> reload_ok_{true};
  std::atomic<double> reload_success_unix_{0};
  std::atomic<std::uint64_t> reloads_failed_{0};
};

}  // namespace poolwatch
