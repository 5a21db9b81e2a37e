#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace poolwatch {

/// Removes passwords from any text that may contain a connection string, in every form libpq
/// accepts: key/value `password=...` (quoted or not), URI userinfo `postgres://user:pw@host`, and
/// URI query `?password=...` / `&password=...`. Also redacts Slack webhook paths
/// (`hooks.slack.com/services/...`). Pure; thread-safe.
std::string Redact(std::string_view text);

/// Redact() plus every literal occurrence of each known secret (a password read from a file, a
/// webhook URL): the last line of defence for messages we did not write ourselves.
std::string RedactSecrets(std::string_view text, const std::vector<std::string>& secrets);

}  // namespace poolwatch
