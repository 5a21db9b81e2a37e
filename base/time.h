#pragma once

#include <chrono>
#include <string>

// Durations and wall times as poolwatch writes and reads them: for people (messages), for the
// configuration's syntax, for label values, for logs and Alertmanager (RFC 3339), and for the
// state file (Unix milliseconds). Pure functions; thread-safe.
namespace poolwatch {

/// A duration in seconds, as a double (self-metrics, ratios, messages).
template <class Rep, class Period>
double Seconds(std::chrono::duration<Rep, Period> d) {
  return std::chrono::duration<double>(d).count();
}

/// For people, two units at most: "1h2m", "3m5s", "42s", "850ms", "2d3h".
std::string HumanDuration(std::chrono::milliseconds d);
/// In the configuration's own syntax, exact: "1h30m", "90s" -> "1m30s", "1500ms", "0s".
std::string FormatDuration(std::chrono::milliseconds d);
/// A label value: whole seconds as "300s", anything else as "1500ms" (never re-scaled to
/// minutes, so a series keeps its label across versions).
std::string DurationLabel(std::chrono::milliseconds d);
/// "2026-11-22 20:10:00 UTC".
std::string FormatWallTime(std::chrono::system_clock::time_point t);
/// RFC 3339 with milliseconds, UTC ("2026-11-22T20:10:00.000Z"), for Alertmanager and logs.
std::string Rfc3339(std::chrono::system_clock::time_point t);
/// Parses Rfc3339 output back (for the state file). Returns false on anything else.
bool ParseRfc3339(const std::string& s, std::chrono::system_clock::time_point& out);
/// Milliseconds since the Unix epoch, and back: how the state file and incident ids keep times.
long long UnixMillis(std::chrono::system_clock::time_point t);
std::chrono::system_clock::time_point FromUnixMillis(long long ms);

}  // namespace poolwatch
