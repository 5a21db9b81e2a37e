#pragma once

#include <string>

namespace poolwatch {

/// Configures the default spdlog logger on stderr: level debug|info|warn|error, format
/// text|json. Every message passes through Redact() first, so no DSN password form reaches a
/// log line even from a message we did not write. Returns false on a bad level or format.
bool SetupLogging(const std::string& level, const std::string& format, std::string& error);

}  // namespace poolwatch
