#include "exporter/app.h"

#include <spdlog/spdlog.h>

#include "alerts/health.h"
#include "base/time.h"
#include "exporter/process_metrics.h"
#include "exporter/version.h"

namespace poolwatch {

App::App(Config config, const Clock& clock, TargetConnector connector)
    : config_(std::move(config)), clock_(clock), connector_(std::move(connector)) {
  reload_success_unix_.store(ToUnixSeconds(clock_.WallNow()));
}

App::~App() { Stop(); }

void App::AddProcessMetrics(MetricSet& m) {
  m.Gauge("poolwatch_build_info", "poolwatch's version and git revision.",
          {{"version", POOLWATCH_VERSION}, {"revision", POOLWATCH_REVISION}}, 1);
  m.Gauge("poolwatch_config_last_reload_successful",
          "1 when the last configuration (re)load succeeded.", {}, reload_ok_.load() ? 1 : 0);
  m.Gauge("poolwatch_config_last_reload_success_timestamp_seconds",
          "Unix time of the last successful configuration load.", {},
          reload_success_unix_.load());
  m.Counter("poolwatch_config_reload_failures_total", "Configuration reloads that failed.", {},
            static_cast<double>(reloads_failed_.load()));
  std::shared_ptr<Alerter> alerter;
  {
    std::lock_guard<std::mutex> lock(alerter_mutex_);
    alerter = alerter_;
  }
  if (alerter) alerter->AddMetrics(m);
}

void App::StartAlerter(const nlohmann::json& carry) {
  if (!config_.alerts.enabled) return;
  auto a = std::make_shared<Alerter>(config_.alerts, clock_);
  if (config_.alerts.state_file.empty() && carry.is_object()) a->RestoreState(carry);
  a->Start();
  std::lock_guard<std::mutex> lock(alerter_mutex_);
  alerter_ = std::move(a);
}

nlohmann::json App::StopAlerter(bool shutdown) {
  std::shared_ptr<Alerter> a;
  {
    std::lock_guard<std::mutex> lock(alerter_mutex_);
    a = std::move(alerter_);
  }
  if (!a) return nullptr;
  if (shutdown) {
    a->Shutdown(config_.alerts.shutdown_grace);
  } else {
    a->StopForReload();
  }
  return a->StateJson();
}

void App::StartSampler() {
  health_interval_ns_.store(std::chrono::nanoseconds(config_.interval).count());
  health_timeout_ns_.store(std::chrono::nanoseconds(config_.timeout).count());
  std::lock_guard<std::mutex> lock(sampler_mutex_);
  // The callbacks run on the sampler's thread: they take copies, never config_ (which Reload
  // replaces).
  sampler_ = std::make_unique<Sampler>(
      config_, clock_, connector_, [this, alerts = config_.alerts](Snapshot& s) {
        AddProcessMetrics(s.metrics);
        AddOsProcessMetrics(s.metrics);
        AddExporterHealthMetrics(s.targets, s.metrics);
        AnnotateHealth(s, alerts);
      },
      [this](std::shared_ptr<const Snapshot> s) {
        store_.Publish(s);
        last_publish_ns_.store(clock_.Now().time_since_epoch().count());
        std::shared_ptr<Alerter> alerter;
        {
          std::lock_guard<std::mutex> alerter_lock(alerter_mutex_);
          alerter = alerter_;
        }
        if (alerter) alerter->OnSnapshot(std::move(s));  // evaluated on the alerter's thread
      },
      ElectionHooksFor());
  sampler_->Start();
}

ElectionHooks App::ElectionHooksFor() {
  auto current = [this] {
    std::lock_guard<std::mutex> lock(alerter_mutex_);
    return alerter_;
  };
  ElectionHooks h;
  h.state_of = [current](const std::string& target) {
    std::shared_ptr<Alerter> a = current();
    return a ? a->TargetState(target) : std::string();
  };
  h.adopt = [current](const std::string& target, const std::string& state) {
    // Nothing heard (a lone replica after a reload or a restart with its state file): what this
    // alerter holds about the target stands.
    if (state.empty()) return;
    if (std::shared_ptr<Alerter> a = current()) a->AdoptTargetState(target, state);
  };
  h.forget = [current](const std::string& target) {
    if (std::shared_ptr<Alerter> a = current()) a->AdoptTargetState(target, "");
  };
  return h;
}

std::uint64_t App::SamplesCompleted() const {
  std::lock_guard<std::mutex> lock(sampler_mutex_);
  return sampler_ ? sampler_->SamplesCompleted() : 0;
}

bool App::Healthy() const {
  // Alive if a sample was published within 3 intervals + timeout of the configuration running
  // now; before the first one, counted from Start(). A reload keeps the last publish time, so
  // swapping samplers is no gap, and a reloaded interval takes effect at once.
  const std::int64_t last = last_publish_ns_.load();
  const std::int64_t since = last != 0 ? last : started_ns_.load();
  const std::int64_t now = clock_.Now().time_since_epoch().count();
  return now - since <= health_interval_ns_.load() * 3 + health_timeout_ns_.load();
}

bool App::Start(std::string& error) {
  HttpState state;
  started_ns_.store(clock_.Now().time_since_epoch().count());
  health_interval_ns_.store(std::chrono::nanoseconds(config_.interval).count());
  health_timeout_ns_.store(std::chrono::nanoseconds(config_.timeout).count());
  state.ready = [this] { return store_.Latest() != nullptr; };
  state.healthy = [this] { return Healthy(); };
  state.alerts = [this]() -> nlohmann::json {
    std::lock_guard<std::mutex> lock(alerter_mutex_);
    return alerter_ ? alerter_->StatusJson() : nlohmann::json::array();
  };
  state.incidents = [this]() -> nlohmann::json {
    std::lock_guard<std::mutex> lock(alerter_mutex_);
    return alerter_ ? alerter_->IncidentsJson() : nlohmann::json::array();
  };
  http_ = std::make_unique<HttpServer>(store_, state, web_);
  if (!http_->Start(config_.listen_address, error)) {
    http_.reset();
    return false;
  }
  StartAlerter();
  StartSampler();
  spdlog::info("poolwatch {} listening on {} (port {}), sampling {} target(s) every {}",
               POOLWATCH_VERSION, config_.listen_address, http_->port(), config_.targets.size(),
               FormatDuration(config_.interval));
  return true;
}

void App::Stop() {
  std::unique_ptr<Sampler> s;
  {
    std::lock_guard<std::mutex> lock(sampler_mutex_);
    s = std::move(sampler_);
  }
  if (s) s->Stop();
  StopAlerter(/*shutdown=*/true);
  if (http_) http_->Stop();
}

bool App::Reload(const std::string& path) {
  Config fresh;
  ConfigError errors;
  if (!LoadConfigFile(path, fresh, errors)) {
    reload_ok_.store(false);
    reloads_failed_.fetch_add(1);
    spdlog::error("config reload failed; keeping the running configuration:");
    for (const auto& p : errors.problems) spdlog::error("  {}", p);
    return false;
  }
  if (!listen_override_.empty()) fresh.listen_address = listen_override_;
  if (fresh.listen_address != config_.listen_address) {
    spdlog::warn("web.listen_address changed to {}; it takes effect only after a restart",
                 fresh.listen_address);
    fresh.listen_address = config_.listen_address;
  }
  std::unique_ptr<Sampler> old;
  {
    std::lock_guard<std::mutex> lock(sampler_mutex_);
    old = std::move(sampler_);
  }
  if (old) old->Stop();
  nlohmann::json alert_state = StopAlerter();  // persisted too; the new one restores it
  config_ = std::move(fresh);
  reload_ok_.store(true);
  reload_success_unix_.store(ToUnixSeconds(clock_.WallNow()));
  StartAlerter(alert_state);
  StartSampler();
  spdlog::info("configuration reloaded from {}: {} target(s)", path, config_.targets.size());
  return true;
}

}  // namespace poolwatch
