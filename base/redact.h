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

/// Everything in a connection string (well-formed or not) that may be a password: the value
/// after `password=` up to the next `key=` (an unquoted space in it makes libpq read the rest as
/// keywords), a URI's userinfo password up to the *last* `@` (an unencoded `@` or `/` in it moves
/// the split), a URI `password=` query value, each percent-decoded too, and their pieces split at
/// the characters libpq splits on. libpq quotes such fragments in its parse and host/port errors;
/// LibpqErrorRedact() scrubs them. Pure; thread-safe.
std::vector<std::string> DsnSecretCandidates(std::string_view dsn);

/// For libpq's own error text about `dsn`: RedactSecrets() with DsnSecretCandidates(dsn) and
/// `secrets`, and every double-quoted fragment that is part of a candidate (however short)
/// replaced by the mask. Pure; thread-safe.
std::string LibpqErrorRedact(std::string_view text, std::string_view dsn,
                             const std::vector<std::string>& secrets);

}  // namespace poolwatch
