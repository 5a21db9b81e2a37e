#include "status_json.h"

#include <iomanip>
#include <sstream>

#include "collectors/bounded.h"
#include "collectors/clock.h"

namespace poolwatch {
namespace {

// Database strings reach /status and --once output valid and bounded (JSON escapes the rest).
std::string B(const std::string& s, std::size_t max = kMaxStatusFieldBytes) {
  return BoundedUtf8(s, max, false);
}

// For terminals: no control characters (no escape sequences from a database in `--once`).
std::string T(const std::string& s, std::size_t max = kMaxStatusFieldBytes) {
  return BoundedUtf8(s, max, true);
}

}  // namespace

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
    j["error"] = B(t.error, kMaxErrorBytes);
    j["last_sample_unix"] = t.last_sample_unix;
    j["sample_duration_seconds"] = t.sample_duration_seconds;
    j["server_version"] = t.server_version;
    j["collectors"] = t.collector_success;
    nlohmann::json summary = nlohmann::json::object();
    for (const auto& [k, v] : t.summary) summary[B(k)] = B(v);
    j["summary"] = summary;
    nlohmann::json offs = nlohmann::json::array();
    // A bound on the list too (the collectors rank them; the first ones matter most).
    constexpr std::size_t kMaxOffenders = 100;
    std::size_t shown = 0;
    for (const auto& o : t.offenders) {
      if (++shown > kMaxOffenders) break;
      offs.push_back({{"category", B(o.category)},
                      {"pid", o.pid},
                      {"datname", B(o.datname)},
                      {"usename", B(o.usename)},
                      {"application_name", B(o.application_name)},
                      {"client_addr", B(o.client_addr)},
                      {"state", B(o.state)},
                      {"wait_event", B(o.wait_event)},
                      {"xact_age_seconds", o.xact_age_seconds},
                      {"state_age_seconds", o.state_age_seconds},
                      {"blocked_by", o.blocked_by},
                      {"query", B(o.query, kMaxStatusQueryBytes)}});
    }
    j["offenders"] = offs;
    if (t.offenders.size() > kMaxOffenders) j["offenders_omitted"] = t.offenders.size() - kMaxOffenders;
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
    for (const auto& [k, v] : t.summary) {
      details += (details.empty() ? "" : "; ") + T(k) + ": " + T(v);
    }
    if (!t.up) details = T(t.error, kMaxErrorBytes);
    o << std::left << std::setw(16) << t.name << std::setw(11) << t.kind << std::setw(6)
      << (t.up ? "yes" : "NO") << std::setw(19)
      << (t.up ? std::string("-") : std::string(DownReasonName(t.reason))) << std::setw(12)
      << ms.str() << details << "\n";
  }
  return o.str();
}

}  // namespace poolwatch
