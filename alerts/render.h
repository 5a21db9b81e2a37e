#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "alerts/alert.h"

namespace poolwatch {

/// Slack incoming-webhook payload for a notification: `text` (the notification fallback) plus an
/// attachment with a severity colour (danger / warning / good) and one section per alert: what
/// and where, value vs threshold, since when (or how long it lasted), the who from the snapshot's
/// offenders, runbook and dashboard links. Every outside value is escaped (& < >) and made valid
/// UTF-8; the whole text stays under `budget` characters, with "...and N more" when it would not.
/// Pure; thread-safe.
std::string RenderSlack(const Notification& n, WallTime now, std::size_t budget = 3000);

/// Alertmanager v2 `POST /api/v2/alerts` body: firing alerts with endsAt = now + 4 x max(eval
/// interval, 1m), resolved ones with endsAt = their resolve time. Labels carry identity only.
std::string RenderAlertmanager(const Notification& n, WallTime now);

/// One JSON line for the log receiver.
std::string RenderLogLine(const Notification& n, WallTime now);

}  // namespace poolwatch
