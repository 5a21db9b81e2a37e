#include "exporter/logging.h"

#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>

#include "base/redact.h"
#include "base/time.h"

namespace poolwatch {
namespace {

class RedactingFormatter final : public spdlog::formatter {
 public:
  explicit RedactingFormatter(bool json) : json_(json) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string text = Redact(std::string_view(msg.payload.data(), msg.payload.size()));
    auto level = spdlog::level::to_string_view(msg.level);
    std::string line;
    if (json_) {
      nlohmann::json j = {{"ts", Rfc3339(msg.time)},
                          {"level", std::string(level.data(), level.size())},
                          {"msg", text}};
      line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else {
      line = Rfc3339(msg.time) + " " + std::string(level.data(), level.size()) + " " + text;
    }
    line.push_back('\n');
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<RedactingFormatter>(json_);
  }

 private:
  bool json_;
};

}  // namespace

bool SetupLogging(const std::string& level, const std::string& format, std::string& error) {
  spdlog::level::level_enum lvl;
  if (level == "debug") {
    lvl = spdlog::level::debug;
  } else if (level == "info") {
    lvl = spdlog::level::info;
  } else if (level == "warn") {
    lvl = spdlog::level::warn;
  } else if (level == "error") {
    lvl = spdlog::level::err;
  } else {
    error = "--log.level must be debug, info, warn or error (got \"" + level + "\")";
    return false;
  }
  if (format != "text" && format != "json") {
    error = "--log.format must be text or json (got \"" + format + "\")";
    return false;
  }
  auto logger = spdlog::stderr_logger_mt("poolwatch");
  logger->set_formatter(std::make_unique<RedactingFormatter>(format == "json"));
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::debug);
  spdlog::set_default_logger(logger);
  return true;
}

}  // namespace poolwatch
