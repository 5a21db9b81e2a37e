#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace poolwatch {

/// The HTTP endpoints' security settings, read from a Prometheus exporter-toolkit style web
/// config file (`--web.config.file`):
///
///   tls_server_config: {cert_file: PATH, key_file: PATH}
///   basic_auth_users: {NAME: BCRYPT_HASH, ...}
///
/// Read once at start (not reloaded by SIGHUP). Immutable afterwards; safe to read from any thread.
struct WebConfig {
  std::string cert_file;  // PEM certificate (chain); TLS is on when set
  std::string key_file;   // PEM private key
  /// User name -> bcrypt hash ($2a$, $2b$ or $2y$). Empty = no authentication.
  std::map<std::string, std::string> users;

  bool tls() const { return !cert_file.empty(); }
  bool auth() const { return !users.empty(); }
};

/// Parses and validates a web config file. Returns false and fills `problems` with every problem
/// (`file:line:col: key.path: message`); unknown keys are errors. Never throws.
bool LoadWebConfigFile(const std::string& path, WebConfig& out, std::vector<std::string>& problems);
bool LoadWebConfigString(const std::string& yaml, const std::string& source, WebConfig& out,
                         std::vector<std::string>& problems);

/// Checks an `Authorization` header value (`Basic base64(user:password)`) against `users`.
/// The bcrypt check runs even for an unknown user (against a dummy hash), and hashes are compared
/// in constant time, so timing does not reveal which user names exist. Thread-safe.
bool CheckBasicAuth(const std::map<std::string, std::string>& users, std::string_view header);

/// Decodes standard base64 (with or without padding). Returns false on any invalid character.
bool Base64Decode(std::string_view in, std::string& out);

}  // namespace poolwatch
