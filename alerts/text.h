#pragma once

#include <string>
#include <string_view>

namespace poolwatch {

/// Escapes Slack's three control characters (& < >) in a value that came from outside.
std::string EscapeSlack(std::string_view s);
/// A value for people: ratios as percent, seconds as durations, counts as integers.
std::string FormatValue(double value, const std::string& unit);

}  // namespace poolwatch
