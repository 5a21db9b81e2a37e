#include "alerts/health.h"

#include <map>

#include "alerts/rules.h"

namespace poolwatch {

void AnnotateHealth(Snapshot& snap, const AlertsConfig& cfg) {
  enum Level { kHealthy = 0, kDegraded = 1, kUnhealthy = 2 };
  std::map<std::string, int> level;
  for (const auto& t : snap.targets) level[t.name] = t.up ? kHealthy : kUnhealthy;
  RuleOutput out = EvaluateRules(snap, cfg);
  for (const auto& o : out.observations) {
    if (!o.above) continue;
    auto it = level.find(o.alert.Label("target"));
    if (it == level.end()) continue;
    int l = o.alert.Label("severity") == "critical" ? kUnhealthy : kDegraded;
    if (l > it->second) it->second = l;
  }
  static const char* const kNames[] = {"healthy", "degraded", "unhealthy"};
  for (auto& t : snap.targets) {
    int l = level[t.name];
    t.health = kNames[l];
    // A standby knows nothing of a shared target's health: the holder exports it, once.
    if (t.role == "standby") {
      t.health = "standby";
      continue;
    }
    for (int i = 0; i < 3; ++i) {
      snap.metrics.Gauge("poolwatch_target_health",
                         "The target's health level (one-hot), from the alert rules' thresholds.",
                         {{"target", t.name}, {"level", kNames[i]}}, i == l ? 1 : 0);
    }
  }
}

int OverallHealth::HttpStatus(bool strict) const {
  if (level == "ok") return 200;
  if (level == "degraded") return strict ? 503 : 200;
  return 503;
}

nlohmann::json OverallHealth::Json() const { return {{"level", level}, {"reason", reason}}; }

OverallHealth JudgeOverallHealth(const Snapshot* snap, bool sampler_fresh) {
  if (snap == nullptr) return {"down", "no sample completed yet"};
  if (!sampler_fresh) {
    return {"down", "sampler stalled: no sample published within 3 intervals + timeout"};
  }
  std::string down;
  std::string not_healthy;
  std::size_t n_down = 0;
  for (const auto& t : snap->targets) {
    if (!t.up) {
      ++n_down;
      down += (down.empty() ? "" : ", ") + t.name + " (" + std::string(DownReasonName(t.reason)) +
              ")";
    } else if (t.health != "healthy") {
      not_healthy += (not_healthy.empty() ? "" : ", ") + t.name + " (" + t.health + ")";
    }
  }
  if (!snap->targets.empty() && n_down == snap->targets.size()) {
    return {"down", "every target is down: " + down};
  }
  if (n_down == 0 && not_healthy.empty()) return {"ok", ""};
  std::string why;
  if (!down.empty()) why = "down: " + down;
  if (!not_healthy.empty()) why += (why.empty() ? "" : "; ") + std::string("not healthy: ") + not_healthy;
  return {"degraded", why};
}

}  // namespace poolwatch
