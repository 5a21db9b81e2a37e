#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace poolwatch {

/// Replaces every invalid UTF-8 sequence with U+FFFD, so any database string serializes as JSON.
std::string SanitizeUtf8(std::string_view s);
/// At most `max_bytes` bytes of valid UTF-8 (cut on a code point boundary), with "..." appended
/// when cut. Sanitizes first.
std::string TruncateUtf8(std::string_view s, std::size_t max_bytes);
/// Escapes Slack's three control characters (& < >) in a value that came from outside.
std::string EscapeSlack(std::string_view s);
/// "1h2m", "3m5s", "42s", "850ms".
std::string HumanDuration(std::chrono::milliseconds d);
/// A value for people: ratios as percent, seconds as durations, counts as integers.
std::string FormatValue(double value, const std::string& unit);
/// "2026-11-22 20:10:00 UTC".
std::string FormatWallTime(std::chrono::system_clock::time_point t);
/// RFC 3339 with milliseconds, UTC ("2026-11-22T20:10:00.000Z"), for Alertmanager and logs.
std::string Rfc3339(std::chrono::system_clock::time_point t);
/// Milliseconds since the Unix epoch, and back: how the state file and incident ids keep times.
long long UnixMillis(std::chrono::system_clock::time_point t);
std::chrono::system_clock::time_point FromUnixMillis(long long ms);
/// Parses Rfc3339 output back (for the state file). Returns false on anything else.
bool ParseRfc3339(const std::string& s, std::chrono::system_clock::time_point& out);

}  // namespace poolwatch
