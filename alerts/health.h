#pragma once

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

}  // namespace poolwatch
