#include "alerts/alerter.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

#include "alerts/rules.h"
#include "alerts/sinks.h"
#include "alerts/text.h"
#include "base/files.h"
#include "base/time.h"

namespace poolwatch {

namespace {

using json = nlohmann::json;

std::vector<std::unique_ptr<AlertSink>> MakeSinks(const AlertsConfig& cfg, HttpClient& http,
                                                  const Clock& clock) {
  std::vector<std::unique_ptr<AlertSink>> out;
  for (const auto& r : cfg.receivers) out.push_back(MakeSink(r, http, clock));
  return out;
}

}  // namespace

Alerter::Alerter(AlertsConfig cfg, const Clock& clock, HttpClient& http)
    : Alerter(cfg, clock, MakeSinks(cfg, http, clock)) {}

Alerter::Alerter(AlertsConfig cfg, const Clock& clock)
    : Alerter(cfg, clock, std::vector<std::unique_ptr<AlertSink>>{}) {
  own_http_ = std::make_unique<CurlHttpClient>();
  notifier_ =
      std::make_unique<Notifier>(MakeSinks(cfg_, *own_http_, clock_), cfg_.delivery, clock_);
}

Alerter::Alerter(AlertsConfig cfg, const Clock& clock,
                 std::vector<std::unique_ptr<AlertSink>> sinks)
    : cfg_(std::move(cfg)),
      clock_(clock),
      notifier_(std::make_unique<Notifier>(std::move(sinks), cfg_.delivery, clock)),
      machine_(std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.eval_interval)),
      dispatcher_(cfg_),
      incidents_(cfg_) {
  last_snapshot_ = clock_.Now();
}

Alerter::~Alerter() { Stop(); }

void Alerter::Start() {
  if (!restored_) LoadState();
  notifier_->Start();
  thread_ = std::thread([this] { Run(); });
}

void Alerter::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (own_http_) own_http_->Cancel();  // a borrowed client belongs to its owner
  notifier_->Stop();
  SaveState();
}

void Alerter::StopForReload() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_) return;
    stopping_ = true;  // no more evaluations: nothing new is queued from here on
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (!notifier_->WaitInFlight(std::chrono::seconds(2))) {
    spdlog::warn("reload: a notification still in flight after 2 s is cancelled and kept queued");
  }
  Stop();
}

void Alerter::Shutdown(std::chrono::milliseconds grace) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_) return;
    stopping_ = true;  // no more evaluations: nothing new is queued from here on
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::size_t queued = notifier_->Pending().size();
  if (queued > 0 && grace.count() > 0) {
    spdlog::info("shutdown: delivering {} queued notification(s), for at most {} ms", queued,
                 grace.count());
    if (notifier_->Drain(grace)) {
      spdlog::info("shutdown: every queued notification was delivered");
    }
  }
  Stop();  // cancels what is in flight, joins, saves
  std::size_t left = notifier_->Pending().size();
  if (left == 0) return;
  bool failing;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    failing = state_write_failing_;
  }
  if (cfg_.state_file.empty()) {
    spdlog::warn("shutdown: {} notification(s) undelivered and lost: no alerts.state_file", left);
  } else if (failing) {
    spdlog::error("shutdown: {} notification(s) undelivered and lost: the state file cannot be "
                  "written",
                  left);
  } else {
    spdlog::warn("shutdown: {} notification(s) undelivered after the grace period; saved to the "
                 "state file, sent at the next start",
                 left);
  }
}

void Alerter::OnSnapshot(std::shared_ptr<const Snapshot> snap) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    pending_snapshot_ = std::move(snap);
  }
  cv_.notify_all();
}

void Alerter::Run() {
  for (;;) {
    std::shared_ptr<const Snapshot> snap;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait_for(lock, std::chrono::milliseconds(250),
                   [this] { return stopping_ || pending_snapshot_ != nullptr; });
      if (stopping_) return;
      snap = std::move(pending_snapshot_);
      pending_snapshot_.reset();
    }
    try {
      if (snap) {
        Evaluate(*snap);
      } else {
        Tick();
      }
    } catch (const std::exception& e) {
      spdlog::error("alert evaluation failed: {}", e.what());
    }
  }
}

void Alerter::Evaluate(const Snapshot& snap) {
  RuleOutput out = EvaluateRules(snap, cfg_);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    last_snapshot_ = clock_.Now();
    have_snapshot_ = true;
    WallTime now = clock_.WallNow();
    machine_.Update(out.observations, out.down_targets, now);
    dirty_ = true;
  }
  Tick();
}

void Alerter::Tick() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    WallTime now = clock_.WallNow();
    double age = std::chrono::duration<double>(clock_.Now() - last_snapshot_).count();
    std::vector<Observation> stale = EvaluateSamplerStale(age, cfg_);
    if (!stale.empty()) {
      // No snapshot: every other alert is held (neither resolved nor re-sent) while
      // SamplerStale fires; the next snapshot's evaluation resolves it.
      machine_.Update(stale, {}, now, /*hold_all=*/true);
      dirty_ = true;
    }
    std::vector<Alert> active = machine_.Active();
    std::vector<Alert> resolved = machine_.TakeResolved();
    if (!resolved.empty()) {
      for (const auto& a : resolved) {
        spdlog::info("alert resolved: {} {}", a.Label("alertname"), a.Identity());
      }
    }
    for (const auto& a : active) {
      bool was_firing = false;
      for (const auto& b : active_) {
        was_firing = was_firing || (b.Identity() == a.Identity() && b.state == AlertState::kFiring);
      }
      if (a.state == AlertState::kFiring && !was_firing) {
        spdlog::info("alert firing: {}: {}", a.Label("alertname"), a.summary);
      }
    }
    if (cfg_.incidents.enabled) {
      std::size_t open = incidents_.OpenCount();
      incidents_.Update(active, resolved, now);
      if (incidents_.OpenCount() != open) dirty_ = true;
    }
    dispatcher_.Update(active, resolved, now);
    for (auto& n : dispatcher_.Due(now)) {
      n.external_labels = cfg_.external_labels;
      notifier_->Enqueue(std::move(n));
      dirty_ = true;
    }
    if (cfg_.incidents.enabled) {
      for (auto& n : incidents_.Due(now)) {
        const IncidentNote& i = n.incidents.front();
        spdlog::info("incident {}: {} ({}) -> {}", i.status, i.id, i.severity, n.receiver);
        n.external_labels = cfg_.external_labels;
        notifier_->Enqueue(std::move(n));
        dirty_ = true;
      }
    }
    active_ = std::move(active);
    if (notifier_->Generation() != saved_generation_) dirty_ = true;
  }
  bool save = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    save = dirty_;
  }
  if (save) SaveState();
}

void Alerter::LoadState() {
  if (cfg_.state_file.empty()) return;
  std::string text, error;
  switch (ReadBoundedFile(cfg_.state_file, kMaxStateFileBytes, text, error)) {
    case FileReadStatus::kMissing:
      return;  // first start
    case FileReadStatus::kError:
      // Bounded and never blocking (a FIFO, a device, a huge file): start fresh, say why.
      spdlog::error("alert state file unusable ({}); starting fresh", error);
      return;
    case FileReadStatus::kOk:
      break;
  }
  try {
    RestoreState(json::parse(text));
    spdlog::info("alert state restored from {}: {} active alert(s)", cfg_.state_file,
                 active_.size());
  } catch (const std::exception& e) {
    spdlog::error("alert state file {} is unreadable ({}); starting fresh", cfg_.state_file,
                  e.what());
  }
}

void Alerter::RestoreState(const json& j) {
  std::lock_guard<std::mutex> lock(mutex_);
  machine_.FromJson(j.value("alerts", json::object()));
  dispatcher_.FromJson(j.value("dispatcher", json::object()));
  incidents_.FromJson(j.value("incidents", json::object()));  // absent in an older state file
  if (j.contains("queued")) {
    for (const auto& nj : j["queued"]) notifier_->Enqueue(NotificationFromJson(nj));
  }
  active_ = machine_.Active();
  restored_ = true;
}

json Alerter::StateJson() const {
  json j;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    j["version"] = 1;
    j["alerts"] = machine_.ToJson();
    j["dispatcher"] = dispatcher_.ToJson();
    j["incidents"] = incidents_.ToJson();
  }
  json queued = json::array();
  for (const auto& n : notifier_->Pending()) queued.push_back(NotificationToJson(n));
  j["queued"] = queued;
  return j;
}

bool Alerter::SaveState() {
  if (cfg_.state_file.empty()) return true;
  std::uint64_t gen = notifier_->Generation();
  json j = StateJson();
  std::string error;
  bool ok = WriteAtomically(cfg_.state_file, j.dump(-1, ' ', false, json::error_handler_t::replace),
                            error);
  std::lock_guard<std::mutex> lock(mutex_);
  if (ok) {
    dirty_ = false;
    saved_generation_ = gen;
    if (state_write_failing_) spdlog::info("alert state file writable again");
    state_write_failing_ = false;
  } else {
    state_write_failures_ += 1;
    if (!state_write_failing_) spdlog::error("cannot persist alert state: {}", error);
    state_write_failing_ = true;
  }
  return ok;
}

void Alerter::AddMetrics(MetricSet& m) const {
  std::map<std::tuple<std::string, std::string, std::string>, double> counts;
  for (const auto& [name, sev] : KnownAlertSeverities(cfg_)) {
    counts[{name, sev, "pending"}] = 0;
    counts[{name, sev, "firing"}] = 0;
  }
  double failures;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& a : active_) {
      counts[{a.Label("alertname"), a.Label("severity"), std::string(AlertStateName(a.state))}] +=
          1;
    }
    failures = state_write_failures_;
  }
  for (const auto& [key, v] : counts) {
    m.Gauge("poolwatch_alerts", "Active alerts by name, severity and state (pending, firing).",
            {{"alertname", std::get<0>(key)},
             {"severity", std::get<1>(key)},
             {"state", std::get<2>(key)}},
            v);
  }
  double open_incidents;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    open_incidents = static_cast<double>(incidents_.OpenCount());
  }
  m.Gauge("poolwatch_incidents_open", Help("poolwatch_incidents_open"), {}, open_incidents);
  m.Counter("poolwatch_alerts_state_write_failures_total",
            "Failed writes of alerts.state_file (alerts keep flowing).", {}, failures);
  notifier_->AddMetrics(m);
}

json Alerter::StatusJson() const {
  json out = json::array();
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& a : active_) {
    json j = {{"labels", a.labels},       {"state", std::string(AlertStateName(a.state))},
              {"summary", a.summary},     {"value", a.value},
              {"threshold", a.threshold}, {"active_since", Rfc3339(a.active_since)},
              {"inhibited", a.inhibited}, {"held", a.held}};
    if (a.state == AlertState::kFiring) j["starts_at"] = Rfc3339(a.starts_at);
    out.push_back(std::move(j));
  }
  return out;
}

json Alerter::IncidentsJson() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return incidents_.StatusJson(clock_.WallNow());
}

std::vector<std::pair<std::string, SendResult>> SendTestAlerts(const AlertsConfig& cfg,
                                                               const Clock& clock,
                                                               HttpClient& http) {
  std::vector<std::pair<std::string, SendResult>> out;
  for (const auto& r : cfg.receivers) {
    auto sink = MakeSink(r, http, clock);
    Notification n;
    n.receiver = r.name;
    n.test = true;
    n.created = clock.WallNow();
    n.dashboard_url = cfg.dashboard_url;
    SendResult res = sink->Send(n);
    if (res.status == SendResult::Status::kRetryable && res.retry_after &&
        *res.retry_after <= std::chrono::seconds(5)) {
      std::this_thread::sleep_for(*res.retry_after + std::chrono::milliseconds(100));
      res = sink->Send(n);
    }
    out.emplace_back(r.name, res);
  }
  return out;
}

}  // namespace poolwatch
