#include "alerts/incidents.h"

#include <algorithm>
#include <cmath>

#include "alerts/state.h"
#include "alerts/text.h"
#include "base/time.h"
#include "collectors/holders.h"

namespace poolwatch {

namespace {

using json = nlohmann::json;


int SeverityRank(const std::string& s) { return s == "critical" ? 2 : s == "warning" ? 1 : 0; }

/// Which symptom's headline leads: the most telling first.
int HeadlineRank(const std::string& alertname) {
  static const char* kOrder[] = {"TargetDown",      "SamplerStale",   "PoolUtilizationHigh",
                                 "ClientsWaiting",  "LongTransaction", "ConnectionLeak",
                                 "ErrorRateHigh"};
  for (int i = 0; i < 7; ++i) {
    if (alertname == kOrder[i]) return i;
  }
  return 7;
}

std::string PeakName(const std::string& alertname) {
  if (alertname == "PoolUtilizationHigh") return "pool utilization";
  if (alertname == "ClientsWaiting") return "longest client wait";
  if (alertname == "LongTransaction") return "oldest transaction";
  if (alertname == "ConnectionLeak") return "leaked connections";
  if (alertname == "ErrorRateHigh") return "error ratio";
  if (alertname == "SamplerStale") return "sample age";
  return alertname;
}

std::string HostOf(const std::string& addr) {
  auto colon = addr.rfind(':');
  return colon == std::string::npos ? addr : addr.substr(0, colon);
}

}  // namespace

std::string AggregateVictims(const std::vector<Offender>& victims) {
  struct Group {
    std::map<std::string, int> apps;  // "psql from 127.0.0.1" -> count
    int n = 0;
    double longest = 0;
  };
  Group clients, blocked;
  for (const auto& v : victims) {
    Group& g = v.category == "waiting_client" ? clients : blocked;
    std::string key = v.application_name.empty() ? "(no app)" : v.application_name;
    std::string host = HostOf(v.client_addr);
    if (!host.empty()) key += " from " + host;
    g.apps[key] += 1;
    g.n += 1;
    g.longest = std::max(g.longest, v.state_age_seconds);
  }
  auto line = [](const Group& g, const std::string& what) {
    std::vector<std::pair<std::string, int>> apps(g.apps.begin(), g.apps.end());
    std::stable_sort(apps.begin(), apps.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    std::string s = std::to_string(g.n) + " " + what + ": ";
    for (std::size_t i = 0; i < apps.size() && i < 4; ++i) {
      if (i > 0) s += ", ";
      std::string name = apps[i].first;
      auto from = name.find(" from ");
      if (from == std::string::npos) {
        s += name + " x" + std::to_string(apps[i].second);
      } else {
        s += name.substr(0, from) + " x" + std::to_string(apps[i].second) + name.substr(from);
      }
    }
    if (apps.size() > 4) s += ", ...";
    if (g.longest > 0) s += ", longest " + FormatValue(g.longest, "seconds");
    return s;
  };
  std::string out;
  if (clients.n > 0) out = line(clients, "clients waiting");
  if (blocked.n > 0) out += (out.empty() ? "" : "; ") + line(blocked, "backends blocked");
  return out;
}

IncidentTracker::IncidentTracker(const AlertsConfig& cfg) : cfg_(cfg) {
  for (const auto& r : cfg_.receivers) {
    types_[r.name] = r.type;
    send_resolved_[r.name] = r.send_resolved;
  }
}

std::vector<std::string> IncidentTracker::ReceiversFor(const std::string& severity) const {
  auto it = cfg_.route.by_severity.find(severity);
  const auto& list = it != cfg_.route.by_severity.end() ? it->second : cfg_.route.receivers;
  std::vector<std::string> out;
  for (const auto& r : list) {
    auto t = types_.find(r);
    if (t != types_.end() && t->second != ReceiverType::kAlertmanager) out.push_back(r);
  }
  return out;
}

void IncidentTracker::Update(std::vector<Alert>& active, std::vector<Alert>& resolved,
                             WallTime now) {
  std::map<std::string, std::string> open_by_locus;     // locus -> id
  std::map<std::string, std::string> open_by_identity;  // a symptom's identity -> id
  for (const auto& [id, r] : records_) {
    if (!r.open) continue;
    open_by_locus[r.note.locus] = id;
    for (const auto& m : r.members) open_by_identity[m] = id;
  }
  // An alert stays in the incident it joined even when its rule names another locus later (a
  // leak's sessions spread over a second database, an alias pool resolved differently): a
  // changing locus must not open a second incident and resolve the first one falsely.
  auto find_open = [&](const Alert& a) {
    auto m = open_by_identity.find(a.Identity());
    if (m != open_by_identity.end()) return open_by_locus.find(records_.at(m->second).note.locus);
    return open_by_locus.find(a.locus.empty() ? "alert " + a.Identity() : a.locus);
  };
  std::map<std::string, std::vector<const Alert*>> firing;  // id -> its firing symptoms
  std::set<std::string> busy;                               // ids with a symptom firing/pending
  for (auto& a : active) {
    std::string locus = a.locus.empty() ? "alert " + a.Identity() : a.locus;
    auto open = find_open(a);
    if (a.state != AlertState::kFiring) {
      if (open != open_by_locus.end()) {
        busy.insert(open->second);  // pending again: not yet clear
      }
      continue;
    }
    if (open == open_by_locus.end()) {
      Record r;
      r.opened = now;
      r.note.id = locus + "@" + std::to_string(UnixMillis(now));
      r.note.locus = locus;
      r.note.since = a.active_since;
      r.note.severity = a.Label("severity");
      open = open_by_locus.emplace(locus, r.note.id).first;
      records_.emplace(r.note.id, std::move(r));
    }
    a.incident = open->second;
    records_.at(open->second).members.insert(a.Identity());
    busy.insert(open->second);
    firing[open->second].push_back(&a);
  }
  for (auto& a : resolved) {
    auto open = find_open(a);
    if (open != open_by_locus.end()) a.incident = open->second;
  }
  for (auto& [id, r] : records_) {
    if (!r.open) continue;
    if (busy.count(id)) r.last_active = now;
    auto f = firing.find(id);
    if (f != firing.end()) {
      std::vector<const Alert*> symptoms = f->second;
      std::stable_sort(symptoms.begin(), symptoms.end(), [](const Alert* a, const Alert* b) {
        return HeadlineRank(a->Label("alertname")) < HeadlineRank(b->Label("alertname"));
      });
      IncidentNote& n = r.note;
      n.symptoms.clear();
      n.details.clear();
      n.runbooks.clear();
      n.held = false;
      std::vector<Offender> who;
      for (const Alert* a : symptoms) {
        const std::string& name = a->Label("alertname");
        if (std::find(n.alertnames.begin(), n.alertnames.end(), name) == n.alertnames.end()) {
          n.alertnames.push_back(name);
        }
        if (SeverityRank(a->Label("severity")) > SeverityRank(n.severity)) {
          n.severity = a->Label("severity");
        }
        if (!r.announced && a->active_since < n.since) n.since = a->active_since;
        if (a->inhibited) continue;  // its critical twin says it
        n.symptoms.push_back(name + " (" + a->Label("severity") + "): " + a->summary);
        if (!a->detail.empty()) n.details.push_back(a->detail);
        if (!a->runbook_url.empty() &&
            std::find(n.runbooks.begin(), n.runbooks.end(), a->runbook_url) == n.runbooks.end()) {
          n.runbooks.push_back(a->runbook_url);
        }
        n.held = n.held || a->held;
        for (const auto& o : a->offenders) who.push_back(o);
        auto [peak, fresh] = r.peak.emplace(name, a->value);
        if (!fresh) peak->second = std::max(peak->second, a->value);
        r.unit[name] = a->unit;
      }
      if (!symptoms.empty()) n.headline = symptoms.front()->headline.empty()
                                              ? symptoms.front()->summary
                                              : symptoms.front()->headline;
      who = CauseFirst(std::move(who));
      n.held_by.clear();
      std::vector<Offender> victims;
      for (auto& o : who) {
        if (IsVictim(o)) {
          victims.push_back(std::move(o));
        } else {
          n.held_by.push_back(std::move(o));
        }
      }
      n.waiting = AggregateVictims(victims);
    } else if (!busy.count(id) && now - r.last_active >= cfg_.incidents.resolve_after) {
      r.open = false;
      r.note.resolved_at = r.last_active;
    }
  }
}

Notification IncidentTracker::Make(const std::string& receiver, const Record& r,
                                   const std::string& status, WallTime now) const {
  Notification n;
  n.receiver = receiver;
  n.group_key = receiver + "{incident=" + r.note.id + "}";
  n.group_labels = {{"incident", r.note.locus}};
  n.created = now;
  n.dashboard_url = cfg_.dashboard_url;
  n.eval_interval = cfg_.eval_interval;
  IncidentNote note = r.note;
  note.status = status;
  if (status == "resolved") {
    // The past: how long, the peaks; no headline, no who (nothing claims it still holds).
    note.headline.clear();
    note.symptoms.clear();
    note.held_by.clear();
    note.waiting.clear();
    note.details.clear();
    note.held = false;
    for (const auto& name : note.alertnames) {
      auto p = r.peak.find(name);
      if (p == r.peak.end() || name == "TargetDown") continue;
      auto u = r.unit.find(name);
      note.peaks.push_back(PeakName(name) + " " +
                           FormatValue(p->second, u == r.unit.end() ? "" : u->second));
    }
  }
  // The symptoms as alerts, for counts (Notification::Firing) and the log receiver.
  for (const auto& name : note.alertnames) {
    Alert a;
    a.labels = {{"alertname", name}, {"severity", note.severity}};
    a.state = status == "resolved" ? AlertState::kResolved : AlertState::kFiring;
    a.locus = note.locus;
    a.incident = note.id;
    a.starts_at = note.since;
    a.active_since = note.since;
    a.resolved_at = note.resolved_at;
    n.alerts.push_back(std::move(a));
  }
  n.incidents.push_back(std::move(note));
  return n;
}

std::vector<Notification> IncidentTracker::Due(WallTime now) {
  std::vector<Notification> out;
  for (auto it = records_.begin(); it != records_.end();) {
    Record& r = it->second;
    if (!r.open) {
      if (r.announced) {
        for (const auto& rx : r.told) {
          auto sr = send_resolved_.find(rx);
          if (sr != send_resolved_.end() && sr->second) {
            out.push_back(Make(rx, r, "resolved", now));
          }
        }
      }
      it = records_.erase(it);
      continue;
    }
    if (!r.announced) {
      if (now >= r.opened + cfg_.route.group_wait) {
        for (const auto& rx : ReceiversFor(r.note.severity)) {
          out.push_back(Make(rx, r, "firing", now));
          r.told.insert(rx);
        }
        r.announced = true;
        r.announced_severity = r.note.severity;
        r.last_sent = now;
      }
    } else if (!r.escalated && cfg_.incidents.escalation_updates &&
               SeverityRank(r.note.severity) > SeverityRank(r.announced_severity) &&
               now >= r.last_sent + cfg_.route.group_interval) {
      std::set<std::string> to = r.told;
      for (const auto& rx : ReceiversFor(r.note.severity)) to.insert(rx);
      for (const auto& rx : to) out.push_back(Make(rx, r, "escalated", now));
      r.told = to;
      r.escalated = true;
      r.announced_severity = r.note.severity;
      r.last_sent = now;
    } else if (!r.note.held && now >= r.last_sent + cfg_.route.repeat_interval) {
      for (const auto& rx : r.told) out.push_back(Make(rx, r, "reminder", now));
      r.last_sent = now;
    }
    ++it;
  }
  return out;
}

std::size_t IncidentTracker::OpenCount() const {
  return static_cast<std::size_t>(std::count_if(
      records_.begin(), records_.end(), [](const auto& kv) { return kv.second.open; }));
}

json IncidentTracker::StatusJson(WallTime now) const {
  json out = json::array();
  for (const auto& [id, r] : records_) {
    if (!r.open) continue;
    json held = json::array();
    for (const auto& o : r.note.held_by) {
      held.push_back({{"pid", o.pid},
                      {"application_name", o.application_name},
                      {"client_addr", o.client_addr},
                      {"state", o.state},
                      {"xact_age_seconds", o.xact_age_seconds},
                      {"blocks", o.blocks},
                      {"note", o.note}});
    }
    bool clearing = now > r.last_active;
    out.push_back({{"id", id},
                   {"locus", r.note.locus},
                   {"severity", r.note.severity},
                   {"headline", r.note.headline},
                   {"since", Rfc3339(r.note.since)},
                   {"symptoms", r.note.alertnames},
                   {"held_by", held},
                   {"waiting", r.note.waiting},
                   {"announced", r.announced},
                   {"escalated", r.escalated},
                   {"held", r.note.held},
                   {"clearing", clearing}});
  }
  return out;
}

json IncidentTracker::ToJson() const {
  json recs = json::array();
  for (const auto& [id, r] : records_) {
    recs.push_back({{"note", IncidentNoteToJson(r.note)},
                    {"opened_ms", UnixMillis(r.opened)},
                    {"last_active_ms", UnixMillis(r.last_active)},
                    {"open", r.open},
                    {"peak", r.peak},
                    {"unit", r.unit},
                    {"announced", r.announced},
                    {"announced_severity", r.announced_severity},
                    {"escalated", r.escalated},
                    {"last_sent_ms", UnixMillis(r.last_sent)},
                    {"told", r.told}});
  }
  return {{"records", recs}};
}

void IncidentTracker::FromJson(const json& j) {
  records_.clear();
  if (!j.is_object() || !j.contains("records") || !j["records"].is_array()) return;
  for (const auto& rj : j["records"]) {
    if (!rj.is_object()) continue;
    try {
      LoadRecord(rj);
    } catch (const json::exception&) {
      // A malformed record (a hand-edited or truncated state file) is dropped, not fatal.
    }
  }
}

void IncidentTracker::LoadRecord(const json& rj) {
  {
    Record r;
    r.note = IncidentNoteFromJson(rj.value("note", json::object()));
    r.opened = FromUnixMillis(rj.value("opened_ms", 0LL));
    r.last_active = FromUnixMillis(rj.value("last_active_ms", 0LL));
    r.open = rj.value("open", true);
    r.peak = rj.value("peak", std::map<std::string, double>{});
    r.unit = rj.value("unit", std::map<std::string, std::string>{});
    r.announced = rj.value("announced", false);
    r.announced_severity = rj.value("announced_severity", "");
    r.escalated = rj.value("escalated", false);
    r.last_sent = FromUnixMillis(rj.value("last_sent_ms", 0LL));
    r.told = rj.value("told", std::set<std::string>{});
    for (auto it = r.told.begin(); it != r.told.end();) {
      it = types_.count(*it) ? std::next(it) : r.told.erase(it);  // receiver removed
    }
    if (r.note.id.empty()) return;
    records_[r.note.id] = std::move(r);
  }
}

}  // namespace poolwatch
