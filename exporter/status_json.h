#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "collectors/snapshot.h"

namespace poolwatch {

/// The /status document (and `--once --output=json`): each target's state, reason, last sample
/// time and duration, summary, and offenders. Every string is valid UTF-8 (invalid bytes are
/// replaced) and bounded.
nlohmann::json StatusJson(const Snapshot& snap);
/// Serializes JSON so that invalid UTF-8 from the database can never make it throw.
std::string DumpJson(const nlohmann::json& j, int indent = -1);

/// `--once --output=text`: a table a person reads at a terminal.
std::string StatusText(const Snapshot& snap);

}  // namespace poolwatch
