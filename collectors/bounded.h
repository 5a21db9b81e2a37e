#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace poolwatch {

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

}  // namespace poolwatch
