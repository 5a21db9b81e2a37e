#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "alerts/alert_config.h"
#include "collectors/snapshot.h"

namespace poolwatch {

/// Sets each target's health level in `snap` and exports it as the one-hot
/// `poolwatch_target_health{target,level}` (level healthy | degraded | unhealthy), from the very
/// thresholds the alert rules use (EvaluateRules, without their `for` durations): unhealthy when
/// the target is down or a critical condition holds, degraded when a warning condition holds.
/// Without an `alerts:` section the default thresholds apply. Call before the snapshot is
/// rendered. Pure apart from `snap`; thread-safe.
void AnnotateHealth(Snapshot& snap, const AlertsConfig& cfg);

/// poolwatch's overall health level, for /health, /status and `--once`.
struct OverallHealth {
  std::string level;   // ok | degraded | down
  std::string reason;  // empty when ok; else one line saying why
  /// The HTTP status /health answers: 200 for ok and degraded, 503 for down; with `strict`,
  /// 503 for degraded too.
  int HttpStatus(bool strict) const;
  nlohmann::json Json() const;
};

/// Judges the overall level from the latest snapshot (its targets' levels, set by
/// AnnotateHealth) and whether the sampler is fresh (a sample published within 3 intervals +
/// timeout, what /healthz judges):
///  - down: no sample yet, the sampler stalled, or every target is down (nothing is watched);
///  - degraded: samples are fresh and some target is not healthy (down, or a warning or critical
///    condition of the alert rules holds);
///  - ok: samples are fresh and every target is healthy.
/// `snap` may be null (no sample yet). Pure; thread-safe.
OverallHealth JudgeOverallHealth(const Snapshot* snap, bool sampler_fresh);

}  // namespace poolwatch
