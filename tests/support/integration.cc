#include "tests/support/integration.h"

#include <utility>

namespace poolwatch::support {

PgStack*& SharedStack(std::map<std::string, std::string> env) {
  static PgStack* stack = nullptr;
  static const auto* const kEnv =
      ::testing::AddGlobalTestEnvironment(new StackEnvironment(&stack, std::move(env)));
  (void)kEnv;
  return stack;
}

std::string SamplingYaml(const std::string& interval, const std::string& timeout) {
  return "sampling: {interval: " + interval + ", timeout: " + timeout + "}\n";
}

std::string TargetYaml(const std::string& name, const std::string& dsn, const std::string& extra) {
  return "    - name: " + name + "\n      dsn: \"" + dsn + "\"\n" + extra;
}

}  // namespace poolwatch::support
