#pragma once

#include <string>
#include <string_view>

namespace poolwatch {

/// Makes a query text fit for an alert or /status: with `mask_literals`, quoted strings
/// ('...', E'...', $tag$...$tag$) and numbers become `?` (identifiers, "quoted identifiers" and
/// $1 parameters are kept); runs of whitespace become one space; the result is cut to at most
/// `max_chars` UTF-8 characters, ending in "..." when cut. Never throws; any bytes accepted.
std::string SanitizeQuery(std::string_view query, int max_chars, bool mask_literals);

}  // namespace poolwatch
