#include "alerts/text.h"

#include "base/time.h"

#include <cmath>
#include <cstdio>

namespace poolwatch {

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


}  // namespace poolwatch
