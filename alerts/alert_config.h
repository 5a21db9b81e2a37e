#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace poolwatch {

/// The `alerts:` section. Parsed and validated by the exporter's config loader (so every config
/// error carries file:line:col); consumed by the alerts library.
struct AlertsConfig {
  bool enabled = false;  // true when the section is present
};

}  // namespace poolwatch
