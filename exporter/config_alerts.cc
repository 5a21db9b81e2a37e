// Parsing of the `alerts:` section (issue 4 fills in the rules, receivers and routing).
#include "alerts/alert_config.h"
#include "config_reader.h"

namespace poolwatch {

void ParseAlerts(const YAML::Node& node, ConfigProblems& problems, AlertsConfig& out) {
  MapReader r(node, "alerts", problems);
  if (!r.Valid()) return;
  out.enabled = true;
  r.Finish();
}

}  // namespace poolwatch
