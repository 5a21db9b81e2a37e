#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace poolwatch {

// Strings from outside (a database, a client, a file) made safe to keep and show: valid UTF-8,
// bounded, on one line where it matters. Pure functions; thread-safe.

/// Caps on strings that come from a database (names, queries, server messages) before they reach
/// a label, /status or a log line. A hostile or broken server cannot make poolwatch's output
/// unbounded or invalid.
inline constexpr std::size_t kMaxLabelValueBytes = 256;
inline constexpr std::size_t kMaxStatusFieldBytes = 1024;
inline constexpr std::size_t kMaxStatusQueryBytes = 4096;
inline constexpr std::size_t kMaxErrorBytes = 2048;

/// Returns `text` as valid UTF-8 of at most `max_bytes` bytes: each invalid byte becomes U+FFFD,
/// and when `replace_controls` each C0 control character but newline, and DEL, does too
/// (newlines are escaped by every output format). Truncation happens on
/// a character boundary and ends with "..." so a cut value is recognisable. Pure; thread-safe.
std::string BoundedUtf8(std::string_view text, std::size_t max_bytes, bool replace_controls);
/// BoundedUtf8(text, ...) appended to `out`, without a string of its own in the common case
/// (plain ASCII that fits).
void AppendBoundedUtf8(std::string& out, std::string_view text, std::size_t max_bytes,
                       bool replace_controls);

/// Every invalid UTF-8 byte replaced by U+FFFD, so any database string serializes as JSON.
inline std::string SanitizeUtf8(std::string_view s) {
  return BoundedUtf8(s, std::string_view::npos, false);
}
/// At most `max_bytes` bytes of valid UTF-8, cut on a character boundary and ending in "..."
/// when cut.
inline std::string TruncateUtf8(std::string_view s, std::size_t max_bytes) {
  return BoundedUtf8(s, max_bytes, false);
}

/// Whitespace in the C locale's sense: space, tab, CR, LF, VT, FF.
inline constexpr std::string_view kAsciiSpace = " \t\r\n\v\f";
/// HTTP's optional whitespace (RFC 9110 OWS): space and horizontal tab only.
inline constexpr std::string_view kHttpSpace = " \t";
/// `s` without leading and trailing characters from `space` (by default ASCII whitespace).
std::string Trim(std::string_view s, std::string_view space = kAsciiSpace);
/// One line: every run of newlines, tabs and carriage returns becomes one space, trailing
/// spaces go (libpq's messages span lines; a log line or a label must not).
std::string OneLine(std::string_view s);

}  // namespace poolwatch
