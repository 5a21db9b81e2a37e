// The per-rule state machine: inactive -> pending -> firing -> resolved.
#include "alerts/state.h"
#include "alerts/text.h"
#include "base/time.h"

#include <algorithm>

namespace poolwatch {

namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;


}  // namespace

void AlertStateMachine::Update(const std::vector<Observation>& observations,
                               const std::set<std::string>& down_targets, WallTime now,
                               bool hold_all) {
  std::set<std::string> seen;
  for (const auto& o : observations) {
    std::string id = o.alert.Identity();
    auto it = records_.find(id);
    if (o.hold) {
      if (it != records_.end()) seen.insert(id);  // neither fires nor resolves on noise
      continue;
    }
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
                    {"last_active_ms", UnixMillis(r.last_active)}});
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
      r.last_active = FromUnixMillis(rj.value("last_active_ms", 0LL));
      records_[r.alert.Identity()] = std::move(r);
    }
  }
  if (j.contains("resolved")) {
    for (const auto& a : j["resolved"]) resolved_.push_back(AlertFromJson(a));
  }
}
}  // namespace poolwatch
