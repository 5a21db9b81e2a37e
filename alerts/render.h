#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "alerts/alert.h"

namespace poolwatch {

/// Slack incoming-webhook payload for a notification: `text` (the notification fallback) plus an
/// attachment with a severity colour (danger / warning / good) and one section per alert: what
/// and where, value vs threshold, since when (or how long it lasted), the who from the snapshot's
/// offenders, runbook and dashboard links. Every outside value is redacted (DSN passwords, webhook
/// paths), made valid UTF-8 without control characters, escaped (& < >, never cut inside an
/// escape) and bounded; each section stays under 3000 bytes with the runbook link kept whole, and
/// the whole text under `budget` characters, with "...and N more" when it would not.
/// Pure; thread-safe.
std::string RenderSlack(const Notification& n, WallTime now, std::size_t budget = 3000);

/// Alertmanager v2 `POST /api/v2/alerts` body: firing alerts with endsAt = now + 4 x max(eval
/// interval, 1m), resolved ones with endsAt = their resolve time. Labels carry identity only.
/// Outside values are redacted and valid UTF-8; label values are at most 1024 bytes, summary,
/// description and who at most 1000. Pure; thread-safe.
std::string RenderAlertmanager(const Notification& n, WallTime now);

/// One JSON line for the log receiver.
std::string RenderLogLine(const Notification& n, WallTime now);

}  // namespace poolwatch
