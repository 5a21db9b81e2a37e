#pragma once

#include <string>
#include <vector>

namespace poolwatch {

/// Parsed command line. See `poolwatch --help`.
struct CliOptions {
  std::string config_file;
  std::string listen_address;  // overrides web.listen_address when set
  std::string web_config_file;  // TLS and basic auth for the HTTP endpoints
  std::string log_level = "info";
  std::string log_format = "text";
  std::string output = "text";
  bool check_config = false;
  bool once = false;
  bool send_test_alert = false;
  bool version = false;
  bool help = false;
};

/// Parses argv (without argv[0]). Returns false with `error` on a usage error.
bool ParseCli(const std::vector<std::string>& args, CliOptions& out, std::string& error);
std::string UsageText();

/// The whole program; returns the exit code (0 ok, 1 runtime failure, 2 bad config or usage).
int RunPoolwatch(int argc, char** argv);

}  // namespace poolwatch
