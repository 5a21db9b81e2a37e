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

}  // namespace poolwatch
