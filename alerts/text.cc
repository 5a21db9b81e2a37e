#include "alerts/text.h"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <iomanip>
#include <sstream>

namespace poolwatch {

std::string SanitizeUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    unsigned char c = p[i];
    std::size_t len = 0;
    unsigned int cp = 0;
    if (c < 0x80) {
      len = 1;
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    }
    bool ok = len > 0 && i + len <= n;
    for (std::size_t k = 1; ok && k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) {
        ok = false;
      } else {
        cp = (cp << 6) | (p[i + k] & 0x3F);
      }
    }
    if (ok) {
      // Overlong forms, surrogates and values past U+10FFFF are invalid too.
      if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
          (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
        ok = false;
      }
    }
    if (!ok) {
      out += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    out.append(s.substr(i, len));
    i += len;
  }
  return out;
}

std::string TruncateUtf8(std::string_view s, std::size_t max_bytes) {
  std::string clean = SanitizeUtf8(s);
  if (clean.size() <= max_bytes) return clean;
  std::size_t cut = max_bytes >= 3 ? max_bytes - 3 : 0;
  while (cut > 0 && (static_cast<unsigned char>(clean[cut]) & 0xC0) == 0x80) --cut;
  return clean.substr(0, cut) + "...";
}

std::string EscapeSlack(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

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

std::string FormatValue(double value, const std::string& unit) {
  // NaN, infinities and ages past ~292 million years would make the conversion to milliseconds
  // below undefined behaviour (tests/fuzz/slack_fuzz.cc feeds such values).
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  if (unit == "ratio") {
    std::snprintf(buf, sizeof buf, std::fabs(value) < 1e7 ? "%.1f%%" : "%.3g%%", value * 100);
  } else if (unit == "seconds") {
    if (value < 10) {
      std::snprintf(buf, sizeof buf, std::fabs(value) < 1e9 ? "%.1fs" : "%.3gs", value);
    } else if (value < 1e12) {
      return HumanDuration(std::chrono::milliseconds(static_cast<long long>(value * 1000)));
    } else {
      std::snprintf(buf, sizeof buf, "%.3gs", value);
    }
  } else if (std::floor(value) == value && std::fabs(value) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", value);
  } else {
    std::snprintf(buf, sizeof buf, "%.3g", value);
  }
  return buf;
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
