// The fleet handoff of one target's alert state between replicas (exporter/election.h): the
// holder of a shared target publishes TargetState(); the replica that takes over adopts it.
// Works on the persisted JSON forms, so it carries exactly what a restart from the state file
// carries.
#include <spdlog/spdlog.h>

#include "alerts/alerter.h"
#include "alerts/rules.h"
#include "alerts/state.h"

namespace poolwatch {
namespace {

using json = nlohmann::json;

bool OfTarget(const json& alert, const std::string& target) {
  if (!alert.is_object() || !alert.contains("labels") || !alert["labels"].is_object()) return false;
  return alert["labels"].value("target", "") == target;
}

// Alerts of `target` from an array of alert JSON (or, with keep, the others).
json Filter(const json& arr, const std::string& target, bool keep_others,
            const char* field = nullptr) {
  json out = json::array();
  if (!arr.is_array()) return out;
  for (const auto& e : arr) {
    const json& a = field ? e.value(field, json::object()) : e;
    if (OfTarget(a, target) != keep_others) out.push_back(e);
  }
  return out;
}

bool GroupOfTarget(const json& g, const std::string& target) {
  if (g.contains("group_labels") && g["group_labels"].is_object() &&
      g["group_labels"].value("target", "") == target) {
    return true;
  }
  const json alerts = g.value("alerts", json::array());
  if (!alerts.is_array() || alerts.empty()) return false;
  for (const auto& a : alerts) {
    if (!OfTarget(a, target)) return false;
  }
  return true;
}

// A shared target's incidents have loci of their own (AddFleetIdentity).
bool LocusOfTarget(const std::string& locus, const std::string& target) {
  return locus.rfind(SharedLocusPrefix(target), 0) == 0;
}

bool NotificationOfTarget(const json& n, const std::string& target) {
  const json labels = n.value("group_labels", json::object());
  if (labels.is_object() && labels.contains("incident")) {
    return LocusOfTarget(labels.value("incident", ""), target);
  }
  return GroupOfTarget(n, target);
}

json SplitIncidents(const json& incidents, const std::string& target, bool keep_others) {
  json out = json::array();
  for (const auto& r : incidents.value("records", json::array())) {
    std::string locus = r.value("note", json::object()).value("locus", "");
    if (LocusOfTarget(locus, target) != keep_others) out.push_back(r);
  }
  return {{"records", out}};
}

}  // namespace

std::string Alerter::TargetState(const std::string& target) const {
  json full = StateJson();
  const json machine = full.value("alerts", json::object());
  json out;
  out["version"] = 1;
  out["target"] = target;
  out["alerts"] = {{"records", Filter(machine.value("records", json::array()), target, false,
                                      "alert")},
                   {"resolved", Filter(machine.value("resolved", json::array()), target, false)}};
  const json disp = full.value("dispatcher", json::object());
  json groups = json::array();
  for (const auto& g : disp.value("groups", json::array())) {
    if (GroupOfTarget(g, target)) groups.push_back(g);
  }
  json am = json::array();
  for (const auto& r : disp.value("alertmanager", json::array())) {
    json e = r;
    e["alerts"] = Filter(r.value("alerts", json::array()), target, false);
    am.push_back(std::move(e));
  }
  out["dispatcher"] = {{"groups", groups}, {"alertmanager", am}};
  out["incidents"] = SplitIncidents(full.value("incidents", json::object()), target, false);
  json queued = json::array();
  for (const auto& n : full.value("queued", json::array())) {
    if (NotificationOfTarget(n, target)) queued.push_back(n);
  }
  out["queued"] = queued;
  // ASCII only: the payload goes through NOTIFY in the server's encoding, in fixed-size chunks.
  return out.dump(-1, ' ', true, json::error_handler_t::replace);
}

void Alerter::AdoptTargetState(const std::string& target, const std::string& state) {
  json in = json::object();
  if (!state.empty()) {
    try {
      in = json::parse(state);
    } catch (const json::exception& e) {
      spdlog::warn("target {}: the handed-over alert state is unreadable ({}); starting fresh",
                   target, e.what());
      in = json::object();
    }
    if (!in.is_object() || in.value("target", "") != target) in = json::object();
  }
  std::lock_guard<std::mutex> lock(mutex_);
  json machine = machine_.ToJson();
  json disp = dispatcher_.ToJson();
  json incidents = incidents_.ToJson();

  json records = Filter(machine.value("records", json::array()), target, true, "alert");
  json resolved = Filter(machine.value("resolved", json::array()), target, true);
  const json in_machine = in.value("alerts", json::object());
  for (const auto& r : in_machine.value("records", json::array())) records.push_back(r);
  for (const auto& a : in_machine.value("resolved", json::array())) resolved.push_back(a);

  json groups = json::array();
  for (const auto& g : disp.value("groups", json::array())) {
    if (!GroupOfTarget(g, target)) groups.push_back(g);
  }
  const json in_disp = in.value("dispatcher", json::object());
  for (const auto& g : in_disp.value("groups", json::array())) groups.push_back(g);
  json am = disp.value("alertmanager", json::array());
  for (auto& r : am) r["alerts"] = Filter(r.value("alerts", json::array()), target, true);
  for (const auto& ir : in_disp.value("alertmanager", json::array())) {
    bool merged = false;
    for (auto& r : am) {
      if (r.value("receiver", "") != ir.value("receiver", "")) continue;
      for (const auto& a : ir.value("alerts", json::array())) r["alerts"].push_back(a);
      merged = true;
    }
    if (!merged) am.push_back(ir);
  }
  json inc = SplitIncidents(incidents, target, true);
  for (const auto& r : in.value("incidents", json::object()).value("records", json::array())) {
    inc["records"].push_back(r);
  }
  try {
    machine_.FromJson({{"records", records}, {"resolved", resolved}});
    dispatcher_.FromJson({{"groups", groups}, {"alertmanager", am}});
    incidents_.FromJson(inc);
    for (const auto& nj : in.value("queued", json::array())) {
      notifier_->Enqueue(NotificationFromJson(nj));
    }
  } catch (const json::exception& e) {
    spdlog::warn("target {}: adopting the handed-over alert state failed: {}", target, e.what());
  }
  active_ = machine_.Active();
  dirty_ = true;
  std::size_t n = in_machine.value("records", json::array()).size();
  if (!state.empty()) {
    spdlog::info("target {}: adopted the previous holder's alert state ({} alert(s))", target, n);
  }
}

}  // namespace poolwatch
