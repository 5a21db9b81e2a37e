#include "status_json.h"

#include <iomanip>
#include <sstream>

#include "collectors/clock.h"

namespace poolwatch {

std::string DumpJson(const nlohmann::json& j, int indent) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json StatusJson(const Snapshot& snap) {
  nlohmann::json out;
  out["sequence"] = snap.sequence;
  out["taken_at_unix"] = ToUnixSeconds(snap.taken_at);
  out["targets"] = nlohmann::json::array();
  for (const auto& t : snap.targets) {
    nlohmann::json j;
    j["name"] = t.name;
    j["kind"] = t.kind;
    j["up"] = t.up;
    j["reason"] = std::string(DownReasonName(t.reason));
    j["health"] = t.health;
    j["error"] = t.error;
    j["last_sample_unix"] = t.last_sample_unix;
    j["sample_duration_seconds"] = t.sample_duration_seconds;
    j["server_version"] = t.server_version;
    j["collectors"] = t.collector_success;
    j["summary"] = t.summary;
    nlohmann::json offs = nlohmann::json::array();
    for (const auto& o : t.offenders) {
      offs.push_back({{"category", o.category},
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
                      {"query", o.query}});
    }
    j["offenders"] = offs;
    out["targets"].push_back(std::move(j));
  }
  return out;
}

std::string StatusText(const Snapshot& snap) {
  std::ostringstream o;
  o << std::left << std::setw(16) << "TARGET" << std::setw(11) << "KIND" << std::setw(6) << "UP"
    << std::setw(19) << "REASON" << std::setw(12) << "SAMPLE_MS" << "DETAILS\n";
  for (const auto& t : snap.targets) {
    std::ostringstream ms;
    ms << std::fixed << std::setprecision(1) << t.sample_duration_seconds * 1000;
    std::string details;
    for (const auto& [k, v] : t.summary) details += (details.empty() ? "" : "; ") + k + ": " + v;
    if (!t.up) details = t.error;
    o << std::left << std::setw(16) << t.name << std::setw(11) << t.kind << std::setw(6)
      << (t.up ? "yes" : "NO") << std::setw(19)
      << (t.up ? std::string("-") : std::string(DownReasonName(t.reason))) << std::setw(12)
      << ms.str() << details << "\n";
  }
  return o.str();
}

}  // namespace poolwatch
