// Persistence: alerts, offenders, incident notes and notifications as JSON (the state file and
// the notifier's queue). Every field is read with a default, so an older state file loads.
#include "alerts/state.h"
#include "alerts/text.h"
#include "base/time.h"

#include <algorithm>

namespace poolwatch {

namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;


}  // namespace

json OffenderToJson(const Offender& o) {
  return {{"category", o.category},
          {"pid", o.pid},
          {"datname", o.datname},
          {"usename", o.usename},
          {"application_name", o.application_name},
          {"client_addr", o.client_addr},
          {"state", o.state},
          {"wait_event", o.wait_event},
          {"xact_age_seconds", o.xact_age_seconds},
          {"state_age_seconds", o.state_age_seconds},
          {"blocked_by", o.blocked_by},
          {"query", o.query},
          {"blocks", o.blocks},
          {"root_blocker", o.root_blocker},
          {"note", o.note}};
}

Offender OffenderFromJson(const json& j) {
  Offender o;
  o.category = j.value("category", "");
  o.pid = j.value("pid", 0);
  o.datname = j.value("datname", "");
  o.usename = j.value("usename", "");
  o.application_name = j.value("application_name", "");
  o.client_addr = j.value("client_addr", "");
  o.state = j.value("state", "");
  o.wait_event = j.value("wait_event", "");
  o.xact_age_seconds = j.value("xact_age_seconds", 0.0);
  o.state_age_seconds = j.value("state_age_seconds", 0.0);
  o.blocked_by = j.value("blocked_by", std::vector<int>{});
  o.query = j.value("query", "");
  o.blocks = j.value("blocks", 0);
  o.root_blocker = j.value("root_blocker", 0);
  o.note = j.value("note", "");
  return o;
}

namespace {

AlertState StateFromName(const std::string& s) {
  if (s == "pending") return AlertState::kPending;
  if (s == "firing") return AlertState::kFiring;
  if (s == "resolved") return AlertState::kResolved;
  return AlertState::kInactive;
}

}  // namespace

std::string IdentityOf(const AlertLabels& labels) {
  std::string out;
  for (const auto& [k, v] : labels) {
    if (!out.empty()) out += ',';
    out.append(k).append("=").append(v);
  }
  return out;
}

std::string_view AlertStateName(AlertState s) {
  switch (s) {
    case AlertState::kPending:
      return "pending";
    case AlertState::kFiring:
      return "firing";
    case AlertState::kResolved:
      return "resolved";
    default:
      return "inactive";
  }
}

const std::string& Alert::Label(const std::string& key) const {
  static const std::string kEmpty;
  auto it = labels.find(key);
  return it == labels.end() ? kEmpty : it->second;
}

std::size_t Notification::Firing() const {
  return static_cast<std::size_t>(std::count_if(
      alerts.begin(), alerts.end(), [](const Alert& a) { return a.state == AlertState::kFiring; }));
}
std::size_t Notification::Resolved() const {
  return static_cast<std::size_t>(std::count_if(alerts.begin(), alerts.end(), [](const Alert& a) {
    return a.state == AlertState::kResolved;
  }));
}

json AlertToJson(const Alert& a) {
  json offs = json::array();
  for (const auto& o : a.offenders) offs.push_back(OffenderToJson(o));
  return {{"labels", a.labels},
          {"state", std::string(AlertStateName(a.state))},
          {"summary", a.summary},
          {"value", a.value},
          {"threshold", a.threshold},
          {"unit", a.unit},
          {"active_since_ms", UnixMillis(a.active_since)},
          {"starts_at_ms", UnixMillis(a.starts_at)},
          {"resolved_at_ms", UnixMillis(a.resolved_at)},
          {"runbook_url", a.runbook_url},
          {"detail", a.detail},
          {"offenders", offs},
          {"inhibited", a.inhibited},
          {"held", a.held},
          {"locus", a.locus},
          {"headline", a.headline},
          {"incident", a.incident}};
}

Alert AlertFromJson(const json& j) {
  Alert a;
  a.labels = j.value("labels", AlertLabels{});
  a.state = StateFromName(j.value("state", ""));
  a.summary = j.value("summary", "");
  a.value = j.value("value", 0.0);
  a.threshold = j.value("threshold", 0.0);
  a.unit = j.value("unit", "");
  a.active_since = FromUnixMillis(j.value("active_since_ms", 0LL));
  a.starts_at = FromUnixMillis(j.value("starts_at_ms", 0LL));
  a.resolved_at = FromUnixMillis(j.value("resolved_at_ms", 0LL));
  a.runbook_url = j.value("runbook_url", "");
  a.detail = j.value("detail", "");
  if (j.contains("offenders")) {
    for (const auto& o : j["offenders"]) a.offenders.push_back(OffenderFromJson(o));
  }
  a.inhibited = j.value("inhibited", false);
  a.held = j.value("held", false);
  a.locus = j.value("locus", "");
  a.headline = j.value("headline", "");
  a.incident = j.value("incident", "");
  return a;
}

json IncidentNoteToJson(const IncidentNote& n) {
  json held = json::array();
  for (const auto& o : n.held_by) held.push_back(OffenderToJson(o));
  return {{"id", n.id},
          {"locus", n.locus},
          {"status", n.status},
          {"severity", n.severity},
          {"headline", n.headline},
          {"since_ms", UnixMillis(n.since)},
          {"resolved_at_ms", UnixMillis(n.resolved_at)},
          {"alertnames", n.alertnames},
          {"symptoms", n.symptoms},
          {"held_by", held},
          {"waiting", n.waiting},
          {"peaks", n.peaks},
          {"details", n.details},
          {"runbooks", n.runbooks},
          {"held", n.held}};
}

IncidentNote IncidentNoteFromJson(const json& j) {
  IncidentNote n;
  if (!j.is_object()) return n;
  n.id = j.value("id", "");
  n.locus = j.value("locus", "");
  n.status = j.value("status", "firing");
  n.severity = j.value("severity", "warning");
  n.headline = j.value("headline", "");
  n.since = FromUnixMillis(j.value("since_ms", 0LL));
  n.resolved_at = FromUnixMillis(j.value("resolved_at_ms", 0LL));
  n.alertnames = j.value("alertnames", std::vector<std::string>{});
  n.symptoms = j.value("symptoms", std::vector<std::string>{});
  if (j.contains("held_by") && j["held_by"].is_array()) {
    for (const auto& o : j["held_by"]) n.held_by.push_back(OffenderFromJson(o));
  }
  n.waiting = j.value("waiting", "");
  n.peaks = j.value("peaks", std::vector<std::string>{});
  n.details = j.value("details", std::vector<std::string>{});
  n.runbooks = j.value("runbooks", std::vector<std::string>{});
  n.held = j.value("held", false);
  return n;
}

json NotificationToJson(const Notification& n) {
  json alerts = json::array();
  for (const auto& a : n.alerts) alerts.push_back(AlertToJson(a));
  json incidents = json::array();
  for (const auto& i : n.incidents) incidents.push_back(IncidentNoteToJson(i));
  return {{"incidents", incidents},
          {"receiver", n.receiver},
          {"group_key", n.group_key},
          {"group_labels", n.group_labels},
          {"alerts", alerts},
          {"created_ms", UnixMillis(n.created)},
          {"dashboard_url", n.dashboard_url},
          {"external_labels", n.external_labels},
          {"eval_interval_ms", n.eval_interval.count()}};
}

Notification NotificationFromJson(const json& j) {
  Notification n;
  n.receiver = j.value("receiver", "");
  n.group_key = j.value("group_key", "");
  n.group_labels = j.value("group_labels", AlertLabels{});
  if (j.contains("alerts")) {
    for (const auto& a : j["alerts"]) n.alerts.push_back(AlertFromJson(a));
  }
  if (j.contains("incidents") && j["incidents"].is_array()) {
    for (const auto& i : j["incidents"]) n.incidents.push_back(IncidentNoteFromJson(i));
  }
  n.created = FromUnixMillis(j.value("created_ms", 0LL));
  n.dashboard_url = j.value("dashboard_url", "");
  n.external_labels = j.value("external_labels", AlertLabels{});
  n.eval_interval = milliseconds(j.value("eval_interval_ms", 60'000LL));
  return n;
}

}  // namespace poolwatch
