#include "logging.h"

#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>

#include "collectors/redact.h"

namespace poolwatch {
namespace {

std::string Timestamp(spdlog::log_clock::time_point tp) {
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(tp);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(tp - secs).count();
  std::time_t t = spdlog::log_clock::to_time_t(tp);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

class RedactingFormatter final : public spdlog::formatter {
 public:
  explicit RedactingFormatter(bool json) : json_(json) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string text = Redact(std::string_view(msg.payload.data(), msg.payload.size()));
    auto level = spdlog::level::to_string_view(msg.level);
    std::string line;
    if (json_) {
      nlohmann::json j = {{"ts", Timestamp(msg.time)},
                          {"level", std::string(level.data(), level.size())},
                          {"msg", text}};
      line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else {
      line = Timestamp(msg.time) + " " + std::string(level.data(), level.size()) + " " + text;
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
