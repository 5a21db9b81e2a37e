// Dispatch: per-receiver grouping (Slack and log receivers with incidents off) and the
// Alertmanager keep-alive protocol.
#include "alerts/state.h"
#include "alerts/text.h"
#include "base/time.h"

#include <algorithm>

namespace poolwatch {

namespace {

using json = nlohmann::json;


}  // namespace

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
      if (cfg_.incidents.enabled) continue;  // Slack and log: the IncidentTracker's
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
                      {"first_seen_ms", UnixMillis(g.first_seen)},
                      {"last_flush_ms", UnixMillis(g.last_flush)},
                      {"flushed", g.flushed}});
  }
  json am = json::array();
  for (const auto& [receiver, s] : am_) {
    json alerts = json::array();
    for (const auto& [id, a] : s.alerts) alerts.push_back(AlertToJson(a));
    am.push_back({{"receiver", receiver}, {"alerts", alerts}, {"last_send_ms", UnixMillis(s.last_send)}});
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
      g.first_seen = FromUnixMillis(gj.value("first_seen_ms", 0LL));
      g.last_flush = FromUnixMillis(gj.value("last_flush_ms", 0LL));
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
      s.last_send = FromUnixMillis(aj.value("last_send_ms", 0LL));
      am_[receiver] = std::move(s);
    }
  }
}

}  // namespace poolwatch