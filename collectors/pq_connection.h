#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>

#include "collectors/connection.h"

namespace poolwatch {

/// What to connect to. `dsn` is a libpq conninfo string or URI; `params` override or add
/// connection keywords (application_name, options, ...); `password` (from password_file) is
/// passed as a keyword and never formatted into any string.
struct ConnectSpec {
  std::string dsn;
  std::string password;
  std::map<std::string, std::string> params;
  /// Keywords used only when the DSN does not set them (application_name: a DSN may name each
  /// replica, `application_name=poolwatch-${POD_NAME}`).
  std::map<std::string, std::string> defaults;
  /// When set and it becomes true, a connect in progress gives up within ~50 ms (shutdown and
  /// reload must not wait out a login that hangs).
  const std::atomic<bool>* cancel = nullptr;
};

/// Opens a libpq session, bounded by `deadline` on the client side (libpq's own connect_timeout
/// does not cover a server that accepts TCP and never answers). Throws DbError with a redacted
/// message and a classified reason.
std::unique_ptr<Connection> ConnectPq(const ConnectSpec& spec, SteadyTime deadline);

/// Validates a conninfo string or URI without connecting; returns libpq's (redacted) complaint,
/// or an empty string when it parses.
std::string CheckConninfo(const std::string& dsn);

}  // namespace poolwatch
