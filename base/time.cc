#include "base/time.h"

#include <cstdio>
#include <ctime>
#include <sstream>

namespace poolwatch {

std::string HumanDuration(std::chrono::milliseconds d) {
  long long ms = d.count();
  if (ms < 0) ms = 0;
  if (ms < 1000) return std::to_string(ms) + "ms";
  long long s = ms / 1000;
  std::string out;
  if (s >= 86400) {
    out += std::to_string(s / 86400) + "d";
    s %= 86400;
    if (s >= 3600) out += std::to_string(s / 3600) + "h";
    return out;
  }
  if (s >= 3600) {
    out += std::to_string(s / 3600) + "h";
    s %= 3600;
    if (s >= 60) out += std::to_string(s / 60) + "m";
    return out;
  }
  if (s >= 60) {
    out += std::to_string(s / 60) + "m";
    s %= 60;
  }
  if (s > 0 || out.empty()) out += std::to_string(s) + "s";
  return out;
}

std::string FormatDuration(std::chrono::milliseconds d) {
  long long ms = d.count();
  if (ms == 0) return "0s";
  std::ostringstream o;
  if (ms % 1000 != 0) {
    o << ms << "ms";
    return o.str();
  }
  long long s = ms / 1000;
  if (s >= 3600) o << s / 3600 << "h";
  if (s % 3600 >= 60) o << (s % 3600) / 60 << "m";
  if (s % 60) o << s % 60 << "s";
  return o.str();
}

std::string DurationLabel(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

namespace {
std::tm UtcTm(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return tm;
}
}  // namespace

long long UnixMillis(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::chrono::system_clock::time_point FromUnixMillis(long long ms) {
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
}

std::string FormatWallTime(std::chrono::system_clock::time_point t) {
  std::tm tm = UtcTm(t);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string Rfc3339(std::chrono::system_clock::time_point t) {
  std::tm tm = UtcTm(t);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
  if (ms < 0) ms += 1000;
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[80];
  std::snprintf(out, sizeof out, "%s.%03lldZ", buf, static_cast<long long>(ms));
  return out;
}

bool ParseRfc3339(const std::string& s, std::chrono::system_clock::time_point& out) {
  std::tm tm{};
  int ms = 0;
  // The conversion count is checked and every width bounded, so sscanf cannot mislead here.
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ",  // NOLINT(cert-err34-c)
                  &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7) {
    return false;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::time_t tt = timegm(&tm);
  out = std::chrono::system_clock::from_time_t(tt) + std::chrono::milliseconds(ms);
  return true;
}

}  // namespace poolwatch
