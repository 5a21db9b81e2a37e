#include "alerts/state.h"

#include <algorithm>

namespace poolwatch {

namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;

long long Ms(WallTime t) {
  return std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
}
WallTime FromMs(long long ms) { return WallTime(milliseconds(ms)); }

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
          {"query", o.query}};
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
  return o;
}

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
          {"active_since_ms", Ms(a.active_since)},
          {"starts_at_ms", Ms(a.starts_at)},
          {"resolved_at_ms", Ms(a.resolved_at)},
          {"runbook_url", a.runbook_url},
          {"detail", a.detail},
          {"offenders", offs},
          {"inhibited", a.inhibited},
          {"held", a.held}};
}

Alert AlertFromJson(const json& j) {
  Alert a;
  a.labels = j.value("labels", AlertLabels{});
  a.state = StateFromName(j.value("state", ""));
  a.summary = j.value("summary", "");
  a.value = j.value("value", 0.0);
  a.threshold = j.value("threshold", 0.0);
  a.unit = j.value("unit", "");
  a.active_since = FromMs(j.value("active_since_ms", 0LL));
  a.starts_at = FromMs(j.value("starts_at_ms", 0LL));
  a.resolved_at = FromMs(j.value("resolved_at_ms", 0LL));
  a.runbook_url = j.value("runbook_url", "");
  a.detail = j.value("detail", "");
  if (j.contains("offenders")) {
    for (const auto& o : j["offenders"]) a.offenders.push_back(OffenderFromJson(o));
  }
  a.inhibited = j.value("inhibited", false);
  a.held = j.value("held", false);
  return a;
}

json NotificationToJson(const Notification& n) {
  json alerts = json::array();
  for (const auto& a : n.alerts) alerts.push_back(AlertToJson(a));
  return {{"receiver", n.receiver},
          {"group_key", n.group_key},
          {"group_labels", n.group_labels},
          {"alerts", alerts},
          {"created_ms", Ms(n.created)},
          {"dashboard_url", n.dashboard_url},
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
  n.created = FromMs(j.value("created_ms", 0LL));
  n.dashboard_url = j.value("dashboard_url", "");
  n.eval_interval = milliseconds(j.value("eval_interval_ms", 60'000LL));
  return n;
}

// ---------------------------------------------------------------------------------------------
// AlertStateMachine

void AlertStateMachine::Update(const std::vector<Observation>& observations,
                               const std::set<std::string>& down_targets, WallTime now,
                               bool hold_all) {
  std::set<std::string> seen;
  for (const auto& o : observations) {
    std::string id = o.alert.Identity();
    auto it = records_.find(id);
    if (it == records_.end()) {
      if (!o.above) continue;  // near the threshold, but nothing to keep alive
      Record r;
      r.alert = o.alert;
      r.alert.state = AlertState::kPending;
      r.alert.active_since = now;
      it = records_.emplace(id, std::move(r)).first;
    }
    Record& r = it->second;
    bool firing = r.alert.state == AlertState::kFiring;
    bool active = o.above || (firing && o.alert.value > o.clear_threshold);
    if (!active) continue;
    seen.insert(id);
    // Values, text and the who follow the latest snapshot; identity and times stay.
    AlertState state = r.alert.state;
    WallTime since = r.alert.active_since, starts = r.alert.starts_at;
    r.alert = o.alert;
    r.alert.state = state;
    r.alert.active_since = since;
    r.alert.starts_at = starts;
    r.alert.held = false;
    r.for_duration = o.for_duration;
    r.keep_firing_for = o.keep_firing_for;
    if (o.above) r.last_active = now;
    if (r.alert.state == AlertState::kPending &&
        (r.for_duration.count() == 0 ||
         (now > r.alert.active_since &&  // pending for at least one evaluation, as Prometheus
          now - r.alert.active_since + for_tolerance_ >= r.for_duration))) {
      r.alert.state = AlertState::kFiring;
      r.alert.starts_at = now;
    }
  }
  for (auto it = records_.begin(); it != records_.end();) {
    Record& r = it->second;
    if (seen.count(it->first)) {
      ++it;
      continue;
    }
    const std::string& target = r.alert.Label("target");
    if (hold_all || (!target.empty() && down_targets.count(target) &&
                     r.alert.Label("alertname") != "TargetDown")) {
      // A dead database is never a silent "resolved": hold the alert as it was.
      r.alert.held = true;
      ++it;
      continue;
    }
    if (r.alert.state == AlertState::kFiring && now - r.last_active < r.keep_firing_for) {
      ++it;
      continue;
    }
    if (r.alert.state == AlertState::kFiring) {
      Alert done = r.alert;
      done.state = AlertState::kResolved;
      done.resolved_at = now;
      done.held = false;
      done.inhibited = false;
      resolved_.push_back(std::move(done));
    }
    it = records_.erase(it);
  }
  // A firing critical inhibits the warning of the same alert (same labels but severity).
  std::set<std::string> critical;
  for (const auto& [id, r] : records_) {
    if (r.alert.state != AlertState::kFiring || r.alert.Label("severity") != "critical") continue;
    AlertLabels l = r.alert.labels;
    l.erase("severity");
    critical.insert(IdentityOf(l));
  }
  for (auto& [id, r] : records_) {
    AlertLabels l = r.alert.labels;
    l.erase("severity");
    r.alert.inhibited = r.alert.Label("severity") == "warning" && critical.count(IdentityOf(l)) > 0;
  }
}

std::vector<Alert> AlertStateMachine::Active() const {
  std::vector<Alert> out;
  for (const auto& [id, r] : records_) out.push_back(r.alert);
  return out;
}

std::vector<Alert> AlertStateMachine::TakeResolved() {
  std::vector<Alert> out;
  out.swap(resolved_);
  return out;
}

json AlertStateMachine::ToJson() const {
  json recs = json::array();
  for (const auto& [id, r] : records_) {
    recs.push_back({{"alert", AlertToJson(r.alert)},
                    {"for_ms", r.for_duration.count()},
                    {"keep_firing_for_ms", r.keep_firing_for.count()},
                    {"last_active_ms", Ms(r.last_active)}});
  }
  json resolved = json::array();
  for (const auto& a : resolved_) resolved.push_back(AlertToJson(a));
  return {{"records", recs}, {"resolved", resolved}};
}

void AlertStateMachine::FromJson(const json& j) {
  records_.clear();
  resolved_.clear();
  if (j.contains("records")) {
    for (const auto& rj : j["records"]) {
      Record r;
      r.alert = AlertFromJson(rj.at("alert"));
      r.for_duration = milliseconds(rj.value("for_ms", 0LL));
      r.keep_firing_for = milliseconds(rj.value("keep_firing_for_ms", 0LL));
      r.last_active = FromMs(rj.value("last_active_ms", 0LL));
      records_[r.alert.Identity()] = std::move(r);
    }
  }
  if (j.contains("resolved")) {
    for (const auto& a : j["resolved"]) resolved_.push_back(AlertFromJson(a));
  }
}

// ---------------------------------------------------------------------------------------------
// Dispatcher

Dispatcher::Dispatcher(const AlertsConfig& cfg) : cfg_(cfg) {
  for (const auto& r : cfg_.receivers) {
    types_[r.name] = r.type;
    send_resolved_[r.name] = r.send_resolved;
  }
}

std::vector<std::string> Dispatcher::ReceiversFor(const std::string& severity) const {
  auto it = cfg_.route.by_severity.find(severity);
  if (it != cfg_.route.by_severity.end()) return it->second;
  return cfg_.route.receivers;
}

std::string Dispatcher::GroupKey(const std::string& receiver, const Alert& a,
                                 AlertLabels& labels) const {
  labels.clear();
  for (const auto& key : cfg_.route.group_by) {
    if (key == "...") {  // Alertmanager's "group by every label"
      labels = a.labels;
      break;
    }
    labels[key] = a.Label(key);
  }
  return receiver + "{" + IdentityOf(labels) + "}";
}

void Dispatcher::Update(const std::vector<Alert>& active, const std::vector<Alert>& resolved,
                        WallTime now) {
  std::set<std::string> live;  // group key + identity of every alert still present
  auto route = [&](const Alert& a, bool is_resolved) {
    for (const auto& receiver : ReceiversFor(a.Label("severity"))) {
      auto type = types_.find(receiver);
      if (type == types_.end()) continue;
      std::string id = a.Identity();
      if (type->second == ReceiverType::kAlertmanager) {
        if (a.inhibited && !is_resolved) continue;
        AmState& am = am_[receiver];
        auto it = am.alerts.find(id);
        if (it == am.alerts.end() || it->second.state != a.state) am.dirty = true;
        if (is_resolved && it == am.alerts.end()) continue;  // AM never saw it firing
        am.alerts[id] = a;
        live.insert(std::string(receiver).append("\n").append(id));
        continue;
      }
      AlertLabels gl;
      std::string key = GroupKey(receiver, a, gl);
      auto g = groups_.find(key);
      if (g == groups_.end()) {
        if (is_resolved) continue;  // never notified in a live group: nothing to resolve
        Group fresh;
        fresh.receiver = receiver;
        fresh.group_labels = gl;
        fresh.first_seen = now;
        g = groups_.emplace(key, std::move(fresh)).first;
      }
      g->second.alerts[id] = a;
      live.insert(std::string(key).append("\n").append(id));
    }
  };
  for (const auto& a : active) {
    if (a.state == AlertState::kFiring) route(a, false);
  }
  for (const auto& a : resolved) route(a, true);

  // Alerts that vanished without a resolve (a config change): forget them quietly. Resolved ones
  // not yet reported stay until flushed.
  for (auto g = groups_.begin(); g != groups_.end();) {
    for (auto it = g->second.alerts.begin(); it != g->second.alerts.end();) {
      bool keep =
          it->second.state == AlertState::kResolved || live.count(g->first + "\n" + it->first);
      it = keep ? std::next(it) : g->second.alerts.erase(it);
    }
    g = g->second.alerts.empty() ? groups_.erase(g) : std::next(g);
  }
  for (auto& [receiver, am] : am_) {
    for (auto it = am.alerts.begin(); it != am.alerts.end();) {
      bool keep =
          it->second.state == AlertState::kResolved || live.count(receiver + "\n" + it->first);
      it = keep ? std::next(it) : am.alerts.erase(it);
    }
  }
}

std::vector<Notification> Dispatcher::Due(WallTime now) {
  std::vector<Notification> out;
  for (auto g = groups_.begin(); g != groups_.end();) {
    Group& grp = g->second;
    std::vector<Alert> visible, resolved;
    std::set<std::string> quiet;  // firing but held or inhibited: keep their notified status
    for (const auto& [id, a] : grp.alerts) {
      if (a.state == AlertState::kResolved) {
        if (grp.notified.count(id)) resolved.push_back(a);
      } else if (a.held || a.inhibited) {
        quiet.insert(id);
      } else {
        visible.push_back(a);
      }
    }
    bool news = !resolved.empty();
    for (const auto& a : visible) news = news || !grp.notified.count(a.Identity());
    bool flush = false;
    if (!grp.flushed) {
      flush = !visible.empty() && now >= grp.first_seen + cfg_.route.group_wait;
    } else if ((news && now >= grp.last_flush + cfg_.route.group_interval) ||
               (!visible.empty() && now >= grp.last_flush + cfg_.route.repeat_interval)) {
      // Something new after group_interval, or the same again after repeat_interval.
      flush = true;
    }
    if (flush) {
      Notification n;
      n.receiver = grp.receiver;
      n.group_key = g->first;
      n.group_labels = grp.group_labels;
      n.created = now;
      n.dashboard_url = cfg_.dashboard_url;
      n.eval_interval = cfg_.eval_interval;
      n.alerts = visible;
      if (send_resolved_[grp.receiver]) {
        n.alerts.insert(n.alerts.end(), resolved.begin(), resolved.end());
      }
      std::set<std::string> notified;
      for (const auto& a : visible) notified.insert(a.Identity());
      for (const auto& id : quiet) {
        if (grp.notified.count(id)) notified.insert(id);
      }
      grp.notified = std::move(notified);
      grp.last_flush = now;
      grp.flushed = true;
      if (!n.alerts.empty()) out.push_back(std::move(n));
    }
    // Resolved alerts are done once reported (or when they were never reported at all).
    if (flush || !grp.flushed) {
      for (auto it = grp.alerts.begin(); it != grp.alerts.end();) {
        it = it->second.state == AlertState::kResolved ? grp.alerts.erase(it) : std::next(it);
      }
    } else {
      for (auto it = grp.alerts.begin(); it != grp.alerts.end();) {
        bool drop = it->second.state == AlertState::kResolved && !grp.notified.count(it->first);
        it = drop ? grp.alerts.erase(it) : std::next(it);
      }
    }
    g = grp.alerts.empty() ? groups_.erase(g) : std::next(g);
  }
  for (auto& [receiver, am] : am_) {
    for (auto it = am.alerts.begin(); it != am.alerts.end();) {
      bool expired = it->second.state == AlertState::kResolved &&
                     now - it->second.resolved_at > cfg_.delivery.alertmanager_resolved_resend_for;
      it = expired ? am.alerts.erase(it) : std::next(it);
    }
    if (am.alerts.empty()) continue;
    if (!am.dirty && now - am.last_send < cfg_.delivery.alertmanager_resend) continue;
    Notification n;
    n.receiver = receiver;
    n.group_key = receiver + "{}";
    n.created = now;
    n.dashboard_url = cfg_.dashboard_url;
    n.eval_interval = cfg_.eval_interval;
    for (const auto& [id, a] : am.alerts) n.alerts.push_back(a);
    am.last_send = now;
    am.dirty = false;
    out.push_back(std::move(n));
  }
  return out;
}

json Dispatcher::ToJson() const {
  json groups = json::array();
  for (const auto& [key, g] : groups_) {
    json alerts = json::array();
    for (const auto& [id, a] : g.alerts) alerts.push_back(AlertToJson(a));
    groups.push_back({{"key", key},
                      {"receiver", g.receiver},
                      {"group_labels", g.group_labels},
                      {"alerts", alerts},
                      {"notified", g.notified},
                      {"first_seen_ms", Ms(g.first_seen)},
                      {"last_flush_ms", Ms(g.last_flush)},
                      {"flushed", g.flushed}});
  }
  json am = json::array();
  for (const auto& [receiver, s] : am_) {
    json alerts = json::array();
    for (const auto& [id, a] : s.alerts) alerts.push_back(AlertToJson(a));
    am.push_back({{"receiver", receiver}, {"alerts", alerts}, {"last_send_ms", Ms(s.last_send)}});
  }
  return {{"groups", groups}, {"alertmanager", am}};
}

void Dispatcher::FromJson(const json& j) {
  groups_.clear();
  am_.clear();
  if (j.contains("groups")) {
    for (const auto& gj : j["groups"]) {
      Group g;
      g.receiver = gj.value("receiver", "");
      if (!types_.count(g.receiver)) continue;  // receiver no longer configured
      g.group_labels = gj.value("group_labels", AlertLabels{});
      for (const auto& aj : gj["alerts"]) {
        Alert a = AlertFromJson(aj);
        g.alerts[a.Identity()] = a;
      }
      g.notified = gj.value("notified", std::set<std::string>{});
      g.first_seen = FromMs(gj.value("first_seen_ms", 0LL));
      g.last_flush = FromMs(gj.value("last_flush_ms", 0LL));
      g.flushed = gj.value("flushed", false);
      groups_[gj.value("key", "")] = std::move(g);
    }
  }
  if (j.contains("alertmanager")) {
    for (const auto& aj : j["alertmanager"]) {
      std::string receiver = aj.value("receiver", "");
      if (!types_.count(receiver)) continue;
      AmState s;
      for (const auto& a : aj["alerts"]) {
        Alert alert = AlertFromJson(a);
        s.alerts[alert.Identity()] = alert;
      }
      s.last_send = FromMs(aj.value("last_send_ms", 0LL));
      am_[receiver] = std::move(s);
    }
  }
}

}  // namespace poolwatch
