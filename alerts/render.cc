#include "alerts/render.h"

#include <algorithm>

#include "alerts/text.h"
#include "base/redact.h"
#include "base/strings.h"
#include "base/time.h"

namespace poolwatch {

namespace {

using json = nlohmann::json;

constexpr std::size_t kMaxOffenders = 5;
constexpr std::size_t kMaxQuery = 200;
constexpr std::size_t kMaxValue = 120;
constexpr std::size_t kMaxDetail = 400;
constexpr std::size_t kMaxAlertText = 2900;  // Slack: a section text under 3001 characters
constexpr std::size_t kMaxAnnotation = 1000;
constexpr std::size_t kMaxAlertmanagerLabel = 1024;

/// Outside text with passwords and webhook paths masked. The collectors redact first; this is the
/// last line of defence for every string a renderer sends out. Only the first `max` + 4 KiB are
/// looked at: nothing past `max` is sent, and Redact stays cheap on a 100 KB query.
std::string Redacted(std::string_view s, std::size_t max) {
  return Redact(s.substr(0, std::min(s.size(), max + 4096)));
}

/// Cuts already-escaped mrkdwn to at most `max` bytes, never inside a UTF-8 character or an
/// &amp; / &lt; / &gt; escape (a cut escape would show as "&am" and leave a stray '&'), with
/// "..." when cut.
std::string CutEscaped(std::string s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t cut = max >= 3 ? max - 3 : 0;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  std::size_t amp = s.rfind('&', cut == 0 ? 0 : cut - 1);
  if (amp != std::string::npos && cut - amp < 5 && s.find(';', amp) >= cut) cut = amp;
  s.resize(cut);
  return s + "...";
}

/// An outside value, made safe for Slack mrkdwn: redacted, valid UTF-8, control characters
/// (and, unless `multiline`, newlines) replaced, & < > escaped, at most `max` bytes escaped.
std::string Safe(std::string_view s, std::size_t max = kMaxValue, bool multiline = false) {
  std::string v = BoundedUtf8(Redacted(s, max), max, /*replace_controls=*/true);
  if (!multiline) std::replace(v.begin(), v.end(), '\n', ' ');
  return CutEscaped(EscapeSlack(v), max);
}

std::string Code(std::string_view s, std::size_t max = kMaxValue) {
  std::string v = BoundedUtf8(Redacted(s, max), max, /*replace_controls=*/true);
  std::replace(v.begin(), v.end(), '`', '\'');
  std::replace(v.begin(), v.end(), '\n', ' ');
  return "`" + CutEscaped(EscapeSlack(v), max) + "`";
}

std::string OffenderLine(const Offender& o) {
  std::string line = "• ";
  if (o.pid != 0) line += "pid " + std::to_string(o.pid);
  if (!o.usename.empty()) line += " user " + Code(o.usename);
  if (!o.datname.empty()) line += " db " + Code(o.datname);
  if (!o.application_name.empty()) line += " app " + Code(o.application_name);
  if (!o.client_addr.empty()) line += " from " + Safe(o.client_addr, 64);
  if (!o.state.empty()) line += ", " + Safe(o.state, 40);
  if (o.xact_age_seconds > 0) line += ", transaction " + FormatValue(o.xact_age_seconds, "seconds");
  if (o.state_age_seconds > 0) line += ", in state " + FormatValue(o.state_age_seconds, "seconds");
  if (!o.wait_event.empty()) line += ", waiting on " + Safe(o.wait_event, 60);
  if (!o.blocked_by.empty()) {
    line += ", blocked by pid";
    for (std::size_t i = 0; i < o.blocked_by.size() && i < 5; ++i) {
      line += " " + std::to_string(o.blocked_by[i]);
    }
  }
  if (o.blocks > 0) {
    line += ", blocks " + std::to_string(o.blocks) + " backend(s)";
  } else if (o.category == "blocker") {
    line += " (blocker)";
  }
  if (!o.note.empty()) line += " (" + Safe(o.note, 200) + ")";
  if (!o.query.empty()) line += ": " + Code(o.query, kMaxQuery);
  return line;
}

/// One incident as a Slack section, cause first: headline, since, *Held by* (root blockers
/// first, each pid once), *Waiting* (aggregated), the symptoms. A resolved one is in the past
/// tense: how long it lasted and its peaks, nothing that claims it still holds.
std::string IncidentText(const IncidentNote& i, WallTime now) {
  std::string names;
  for (const auto& n : i.alertnames) names += (names.empty() ? "" : ", ") + n;
  bool critical = i.severity == "critical";
  std::string t;
  if (i.status == "resolved") {
    t = ":large_green_circle: *RESOLVED* " + Safe(i.locus) + ": " + Safe(names, 200) + "\n";
    auto lasted = std::chrono::duration_cast<std::chrono::milliseconds>(i.resolved_at - i.since);
    t += "It lasted " + HumanDuration(lasted) + ", from " + FormatWallTime(i.since) + " to " +
         FormatWallTime(i.resolved_at) + ".";
    if (!i.peaks.empty()) {
      t += " Peak:";
      for (std::size_t k = 0; k < i.peaks.size(); ++k) t += (k ? ", " : " ") + Safe(i.peaks[k]);
      t += ".";
    }
    t += "\n";
  } else {
    std::string what = i.status == "escalated" ? "ESCALATED to critical"
                       : i.status == "reminder" ? "STILL FIRING"
                                                : "FIRING";
    t = std::string(critical ? ":red_circle: " : ":warning: ") + "*" + what + "* (" +
        Safe(i.severity) + ") " + Safe(i.headline, 300) + "\n";
    auto ago = std::chrono::duration_cast<std::chrono::milliseconds>(now - i.since);
    t += "Since " + FormatWallTime(i.since) + " (" + HumanDuration(ago) + " ago), " +
         Safe(i.locus) + ": " + Safe(names, 200);
    if (i.held) t += ", held: its target is down";
    t += "\n";
    if (!i.held_by.empty()) {
      t += "*Held by:*\n";
      for (std::size_t k = 0; k < i.held_by.size() && k < kMaxOffenders; ++k) {
        t += OffenderLine(i.held_by[k]) + "\n";
      }
      if (i.held_by.size() > kMaxOffenders) {
        t += "...and " + std::to_string(i.held_by.size() - kMaxOffenders) + " more\n";
      }
    }
    if (!i.waiting.empty()) t += "*Waiting:* " + Safe(i.waiting, 400) + "\n";
    for (const auto& d : i.details) t += Safe(d, kMaxDetail, /*multiline=*/true) + "\n";
    if (!i.symptoms.empty()) {
      t += "*Symptoms:*\n";
      for (const auto& s : i.symptoms) t += "• " + Safe(s, 300) + "\n";
    }
  }
  std::string links;
  for (const auto& r : i.runbooks) {
    if (links.size() > 600) break;
    links += "<" + Safe(r, 300) + "|Runbook>\n";
  }
  return CutEscaped(std::move(t), kMaxAlertText - links.size()) + links;
}

bool Critical(const Alert& a) { return a.Label("severity") == "critical"; }

std::string AlertText(const Alert& a, WallTime now) {
  bool resolved = a.state == AlertState::kResolved;
  std::string t = std::string(resolved      ? ":large_green_circle: "
                              : Critical(a) ? ":red_circle: "
                                            : ":warning: ") +
                  "*" + Safe(a.Label("alertname")) + "* (" + Safe(a.Label("severity")) + ") " +
                  (resolved ? "RESOLVED" : "FIRING") + "\n";
  t += Safe(a.summary, 300) + "\n";
  if (resolved) {
    auto lasted =
        std::chrono::duration_cast<std::chrono::milliseconds>(a.resolved_at - a.starts_at);
    t += "Resolved at " + FormatWallTime(a.resolved_at) + ", lasted " + HumanDuration(lasted) +
         " (since " + FormatWallTime(a.starts_at) + ")\n";
  } else {
    auto ago = std::chrono::duration_cast<std::chrono::milliseconds>(now - a.active_since);
    t += "Since " + FormatWallTime(a.active_since) + " (" + HumanDuration(ago) + " ago)";
    if (a.held) t += ", held: its target is down";
    t += "\n";
  }
  if (!a.detail.empty()) t += Safe(a.detail, kMaxDetail, /*multiline=*/true) + "\n";
  if (!a.offenders.empty()) {
    t += "*Who:*\n";
    for (std::size_t i = 0; i < a.offenders.size() && i < kMaxOffenders; ++i) {
      t += OffenderLine(a.offenders[i]) + "\n";
    }
    if (a.offenders.size() > kMaxOffenders) {
      t += "...and " + std::to_string(a.offenders.size() - kMaxOffenders) + " more\n";
    }
  }
  // The runbook link goes last and whole: a cut link would leave a stray '<' and lose the link.
  std::string link = a.runbook_url.empty() ? "" : "<" + Safe(a.runbook_url, 300) + "|Runbook>\n";
  return CutEscaped(std::move(t), kMaxAlertText - link.size()) + link;
}

std::vector<Alert> Sorted(const Notification& n) {
  std::vector<Alert> v = n.alerts;
  std::stable_sort(v.begin(), v.end(), [](const Alert& a, const Alert& b) {
    auto rank = [](const Alert& x) {
      return (x.state == AlertState::kResolved ? 2 : 0) + (Critical(x) ? 0 : 1);
    };
    return rank(a) < rank(b);
  });
  return v;
}

json Section(const std::string& text) {
  return {{"type", "section"}, {"text", {{"type", "mrkdwn"}, {"text", text}}}};
}

}  // namespace

namespace {

/// alerts.external_labels as "namespace=shop, pod=app-2" (empty when none): which replica spoke.
std::string FromLabels(const Notification& n) {
  std::string out;
  for (const auto& [k, v] : n.external_labels) {
    if (!out.empty()) out += ", ";
    out.append(k).append("=").append(v);
  }
  return out.empty() ? out : Safe(out, 300);
}

void AddFromContext(const Notification& n, json& blocks) {
  std::string from = FromLabels(n);
  if (from.empty()) return;
  blocks.push_back({{"type", "context"},
                    {"elements", json::array({{{"type", "mrkdwn"}, {"text", "From " + from}}})}});
}

std::string RenderIncidents(const Notification& n, WallTime now, std::size_t budget) {
  std::size_t firing = 0, resolved = 0;
  bool any_critical = false;
  std::string names;
  for (const auto& i : n.incidents) {
    if (i.status == "resolved") {
      ++resolved;
    } else {
      ++firing;
      any_critical = any_critical || i.severity == "critical";
    }
    for (const auto& a : i.alertnames) {
      if (names.find(a) == std::string::npos) names += (names.empty() ? "" : ", ") + a;
    }
  }
  std::string title;
  if (firing > 0) title += "[FIRING:" + std::to_string(firing) + "]";
  if (resolved > 0) {
    title += std::string(title.empty() ? "" : " ") + "[RESOLVED:" + std::to_string(resolved) + "]";
  }
  std::string lead = n.incidents.size() == 1 && !n.incidents[0].headline.empty()
                         ? n.incidents[0].headline
                         : (n.incidents.size() == 1 ? n.incidents[0].locus : names);
  std::string fallback = title + " " + Safe(lead, 200) +
                         (n.incidents.size() == 1 ? " (" + Safe(names, 200) + ")" : "");
  if (!n.external_labels.empty()) fallback += " [" + FromLabels(n) + "]";
  json blocks = json::array();
  // One incident: its section leads with the headline already; several: a title first.
  if (n.incidents.size() > 1) blocks.push_back(Section("*" + fallback + "*"));
  std::size_t used = fallback.size() * 2 + 200;
  std::size_t shown = 0;
  for (const auto& i : n.incidents) {
    std::string t = IncidentText(i, now);
    if (used + t.size() > budget || blocks.size() >= 45) break;
    used += t.size();
    blocks.push_back(Section(t));
    ++shown;
  }
  if (shown < n.incidents.size()) {
    blocks.push_back(Section("...and " + std::to_string(n.incidents.size() - shown) + " more"));
  }
  AddFromContext(n, blocks);
  if (!n.dashboard_url.empty()) {
    blocks.push_back(
        {{"type", "context"},
         {"elements",
          json::array({{{"type", "mrkdwn"},
                        {"text", "<" + Safe(n.dashboard_url, 300) + "|Dashboard>"}}})}});
  }
  std::string color = firing == 0 ? "good" : any_critical ? "danger" : "warning";
  json msg;
  msg["text"] = fallback;
  msg["attachments"] = json::array({{{"color", color}, {"blocks", blocks}}});
  return msg.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

std::string RenderSlack(const Notification& n, WallTime now, std::size_t budget) {
  if (!n.test && !n.incidents.empty()) return RenderIncidents(n, now, budget);
  json msg;
  if (n.test) {
    std::string text = ":white_check_mark: poolwatch test notification for receiver " +
                       Code(n.receiver) + ": delivery works (sent " + FormatWallTime(now) + ").";
    msg["text"] = text;
    msg["attachments"] =
        json::array({{{"color", "good"}, {"blocks", json::array({Section(text)})}}});
    return msg.dump(-1, ' ', false, json::error_handler_t::replace);
  }
  std::size_t firing = n.Firing(), resolved = n.Resolved();
  bool any_critical = false;
  for (const auto& a : n.alerts)
    any_critical = any_critical || (a.state == AlertState::kFiring && Critical(a));
  std::string color = firing == 0 ? "good" : any_critical ? "danger" : "warning";

  std::string title;
  if (firing > 0) title += "[FIRING:" + std::to_string(firing) + "]";
  if (resolved > 0)
    title += std::string(title.empty() ? "" : " ") + "[RESOLVED:" + std::to_string(resolved) + "]";
  std::string names;
  std::vector<std::string> seen;
  for (const auto& a : n.alerts) {
    const std::string& an = a.Label("alertname");
    if (std::find(seen.begin(), seen.end(), an) != seen.end()) continue;
    seen.push_back(an);
    names += (names.empty() ? "" : ", ") + an;
  }
  std::string where;
  for (const auto& [k, v] : n.group_labels) {
    if (k == "alertname" || v.empty()) continue;
    if (!where.empty()) where += ", ";
    where.append(k).append("=").append(v);
  }
  std::string fallback =
      title + " " + Safe(names, 200) + (where.empty() ? "" : " " + Safe(where, 200));
  if (!n.external_labels.empty()) fallback += " [" + FromLabels(n) + "]";

  json blocks = json::array();
  blocks.push_back(Section("*" + fallback + "*"));
  std::size_t used = fallback.size() * 2 + 200;  // text, header, links
  std::vector<Alert> alerts = Sorted(n);
  std::size_t shown = 0;
  for (const auto& a : alerts) {
    std::string t = AlertText(a, now);
    if (used + t.size() > budget || blocks.size() >= 45) break;
    used += t.size();
    blocks.push_back(Section(t));
    ++shown;
  }
  if (shown < alerts.size()) {
    blocks.push_back(Section("...and " + std::to_string(alerts.size() - shown) + " more"));
  }
  AddFromContext(n, blocks);
  if (!n.dashboard_url.empty()) {
    blocks.push_back(
        {{"type", "context"},
         {"elements",
          json::array({{{"type", "mrkdwn"},
                        {"text", "<" + Safe(n.dashboard_url, 300) + "|Dashboard>"}}})}});
  }
  msg["text"] = fallback;
  msg["attachments"] = json::array({{{"color", color}, {"blocks", blocks}}});
  return msg.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string RenderAlertmanager(const Notification& n, WallTime now) {
  json arr = json::array();
  auto interval = std::max(n.eval_interval, std::chrono::milliseconds(60'000));
  for (const auto& a : n.alerts) {
    json labels = json::object();
    for (const auto& [k, v] : a.labels) {
      if (!v.empty()) {
        labels[k] = BoundedUtf8(Redacted(v, kMaxAlertmanagerLabel), kMaxAlertmanagerLabel, false);
      }
    }
    auto annotation = [](std::string_view s) {
      return TruncateUtf8(Redacted(s, kMaxAnnotation), kMaxAnnotation);
    };
    json ann = {{"summary", annotation(a.summary)}};
    if (!a.detail.empty()) ann["description"] = annotation(a.detail);
    if (!a.runbook_url.empty()) ann["runbook_url"] = a.runbook_url;
    if (!n.dashboard_url.empty()) ann["dashboard_url"] = n.dashboard_url;
    if (!a.offenders.empty()) {
      std::string who;
      for (std::size_t i = 0; i < a.offenders.size() && i < kMaxOffenders; ++i) {
        const Offender& o = a.offenders[i];
        // Each field bounded first, so five 100 KB names cost no more than five short ones.
        auto f = [](const std::string& v) {
          return BoundedUtf8(Redacted(v, kMaxValue), kMaxValue, true);
        };
        who += (who.empty() ? "" : "; ") + std::string("pid ") + std::to_string(o.pid) + " " +
               f(o.usename) + " " + f(o.application_name) + " " + f(o.client_addr) + " " +
               f(o.state);
      }
      ann["who"] = annotation(who);
    }
    ann["value"] = FormatValue(a.value, a.unit);
    // The incident as annotations, not labels: labels are the alert's identity, and an
    // incident id changes with each new incident (README, Alerting).
    if (!a.incident.empty()) ann["incident"] = annotation(a.incident);
    if (!a.locus.empty()) ann["incident_locus"] = annotation(a.locus);
    WallTime starts = a.starts_at.time_since_epoch().count() != 0 ? a.starts_at : now;
    WallTime ends = a.state == AlertState::kResolved ? a.resolved_at : now + 4 * interval;
    json item = {{"labels", labels},
                 {"annotations", ann},
                 {"startsAt", Rfc3339(starts)},
                 {"endsAt", Rfc3339(ends)}};
    if (!n.dashboard_url.empty()) item["generatorURL"] = n.dashboard_url;
    arr.push_back(std::move(item));
  }
  return arr.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string RenderLogLine(const Notification& n, WallTime now) {
  json alerts = json::array();
  for (const auto& a : n.alerts) {
    json offs = json::array();
    for (const auto& o : a.offenders) {
      offs.push_back({{"pid", o.pid},
                      {"usename", o.usename},
                      {"application_name", o.application_name},
                      {"client_addr", o.client_addr},
                      {"state", o.state},
                      {"xact_age_seconds", o.xact_age_seconds},
                      {"query", TruncateUtf8(o.query, kMaxQuery)}});
    }
    alerts.push_back(
        {{"labels", a.labels},
         {"status", std::string(AlertStateName(a.state))},
         {"summary", a.summary},
         {"value", a.value},
         {"threshold", a.threshold},
         {"startsAt", Rfc3339(a.starts_at)},
         {"resolvedAt", a.state == AlertState::kResolved ? Rfc3339(a.resolved_at) : ""},
         {"detail", a.detail},
         {"offenders", offs}});
  }
  json incidents = json::array();
  for (const auto& i : n.incidents) {
    json held = json::array();
    for (const auto& o : i.held_by) {
      held.push_back({{"pid", o.pid},
                      {"application_name", o.application_name},
                      {"client_addr", o.client_addr},
                      {"state", o.state},
                      {"xact_age_seconds", o.xact_age_seconds},
                      {"blocks", o.blocks},
                      {"note", o.note},
                      {"query", TruncateUtf8(o.query, kMaxQuery)}});
    }
    incidents.push_back({{"id", i.id},
                         {"locus", i.locus},
                         {"status", i.status},
                         {"severity", i.severity},
                         {"headline", i.headline},
                         {"since", Rfc3339(i.since)},
                         {"resolvedAt", i.status == "resolved" ? Rfc3339(i.resolved_at) : ""},
                         {"symptoms", i.alertnames},
                         {"held_by", held},
                         {"waiting", i.waiting},
                         {"peaks", i.peaks}});
  }
  json line = {{"ts", Rfc3339(now)},
               {"msg", n.test              ? "test notification"
                       : n.incidents.empty() ? "alert notification"
                                             : "incident notification"},
               {"incidents", incidents},
               {"receiver", n.receiver},
               {"group", n.group_labels},
               {"alerts", alerts}};
  return line.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace poolwatch
