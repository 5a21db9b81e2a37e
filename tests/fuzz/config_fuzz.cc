// libFuzzer target: the YAML config parser (LoadConfigString). Any input: a Config or a list of
// problems, never a crash, a hang or an exception; every problem carries the source name.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "exporter/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string yaml(reinterpret_cast<const char*>(data), size);
  poolwatch::Config cfg;
  poolwatch::ConfigError errors;
  bool ok = poolwatch::LoadConfigString(yaml, "fuzz.yaml", cfg, errors);
  if (ok != errors.problems.empty()) std::abort();
  for (const auto& p : errors.problems) {
    if (p.rfind("fuzz.yaml", 0) != 0) std::abort();
  }
  if (ok && cfg.targets.empty()) std::abort();  // "at least one target" is enforced
  return 0;
}
