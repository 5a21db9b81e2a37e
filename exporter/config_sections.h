#pragma once

// The per-section parsers of the config, shared between config.cc (the top level and the
// targets), config_alerts.cc (`alerts:`) and config_postgres.cc (a PostgreSQL target's collector
// settings). Each reports every problem into `problems` and leaves defaults where a key is absent.

#include <yaml-cpp/yaml.h>

#include "alerts/alert_config.h"
#include "collectors/collector.h"
#include "exporter/config_reader.h"

namespace poolwatch {

/// `alerts:` (config_alerts.cc).
void ParseAlerts(const YAML::Node& node, ConfigProblems& problems, AlertsConfig& out);

/// The PostgreSQL collector settings read from a `targets.postgres[i]` mapping: error_window,
/// error_min_events, long_transactions, offenders, activity_breakdown (config_postgres.cc).
void ParsePostgresCollectorSettings(MapReader& target, ConfigProblems& problems,
                                    CollectorSettings& out);

}  // namespace poolwatch
