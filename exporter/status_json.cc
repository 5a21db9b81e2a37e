#include "exporter/status_json.h"

#include <iomanip>
#include <sstream>

#include "base/clock.h"
#include "base/strings.h"

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

nlohmann::json OffenderJson(const Offender& o) {
  nlohmann::json j = {{"category", B(o.category)},
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
                      {"query", B(o.query, kMaxStatusQueryBytes)}};
  if (o.blocks > 0) j["blocks"] = o.blocks;
  if (o.root_blocker != 0) j["root_blocker"] = o.root_blocker;
  if (!o.note.empty()) j["note"] = B(o.note);
  return j;
}

/// The holder chain of a PgBouncer target's pools (collectors/holders.h).
nlohmann::json PoolsJson(const TargetStatus& t) {
  nlohmann::json pools = nlohmann::json::array();
  for (const auto& p : t.pools) {
    nlohmann::json holders = nlohmann::json::array();
    for (const auto& h : p.holders) holders.push_back(OffenderJson(h));
    nlohmann::json waiting = nlohmann::json::array();
    for (const auto& w : p.waiting) waiting.push_back(OffenderJson(w));
    pools.push_back({{"database", B(p.database)},
                     {"user", B(p.user)},
                     {"real_database", B(p.real_database)},
                     {"pg_target", B(p.pg_target)},
                     {"pool_size", p.pool_size},
                     {"servers_in_use", p.servers_in_use},
                     {"waiting_clients", p.waiting_clients},
                     {"longest_wait_seconds", p.longest_wait_seconds},
                     {"unmatched_holders", p.unmatched},
                     {"holders", holders},
                     {"waiting", waiting}});
  }
  return pools;
}

std::string Age(double seconds) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(seconds < 10 ? 1 : 0) << seconds << "s";
  return o.str();
}

}  // namespace

std::string DumpJson(const nlohmann::json& j, int indent) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json StatusJson(const Snapshot& snap) {
  nlohmann::json out;
  out["sequence"] = snap.sequence;
  out["taken_at_unix"] = ToUnixSeconds(snap.taken_at);
  out["external_labels"] = snap.external_labels;
  out["targets"] = nlohmann::json::array();
  for (const auto& t : snap.targets) {
    nlohmann::json j;
    j["name"] = t.name;
    j["kind"] = std::string(TargetKindName(t.kind));
    j["up"] = t.up;
    j["reason"] = std::string(DownReasonName(t.reason));
    j["health"] = t.health;
    j["error"] = B(t.error, kMaxErrorBytes);
    j["last_sample_unix"] = t.last_sample_unix;
    j["sample_duration_seconds"] = t.sample_duration_seconds;
    j["server_version"] = t.server_version;
    j["collectors"] = t.collector_success;
    if (!t.role.empty()) j["role"] = t.role;
    nlohmann::json summary = nlohmann::json::object();
    for (const auto& [k, v] : t.summary) summary[B(k)] = B(v);
    j["summary"] = summary;
    nlohmann::json offs = nlohmann::json::array();
    // A bound on the list too (the collectors rank them; the first ones matter most).
    constexpr std::size_t kMaxOffenders = 100;
    std::size_t shown = 0;
    for (const auto& o : t.offenders) {
      if (++shown > kMaxOffenders) break;
      offs.push_back(OffenderJson(o));
    }
    j["offenders"] = offs;
    if (t.offenders.size() > kMaxOffenders) j["offenders_omitted"] = t.offenders.size() - kMaxOffenders;
    if (t.kind == TargetKind::kPgBouncer) j["pools"] = PoolsJson(t);
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
    o << std::left << std::setw(16) << t.name << std::setw(11) << TargetKindName(t.kind)
      << std::setw(6) << (t.up ? "yes" : "NO") << std::setw(19)
      << (t.up ? std::string("-") : std::string(DownReasonName(t.reason))) << std::setw(12)
      << ms.str() << details << "\n";
    // The holder chain: who holds each busy pool's servers (root blockers first), who waits.
    for (const auto& p : t.pools) {
      o << "  pool " << T(p.database) << "/" << T(p.user);
      if (p.real_database != p.database) o << " (database " << T(p.real_database) << ")";
      o << ": " << p.servers_in_use << "/" << p.pool_size << " servers in use, "
        << p.waiting_clients << " waiting";
      if (p.waiting_clients > 0) o << ", longest " << Age(p.longest_wait_seconds);
      o << "\n";
      for (const auto& h : p.holders) {
        o << "    held by pid " << h.pid;
        if (!h.application_name.empty()) o << " app " << T(h.application_name, 64);
        if (!h.client_addr.empty()) o << " from " << T(h.client_addr, 64);
        o << ", " << T(h.state, 40);
        if (h.xact_age_seconds > 0) o << ", transaction " << Age(h.xact_age_seconds);
        if (h.blocks > 0) o << ", blocks " << h.blocks;
        if (h.root_blocker != 0) o << ", blocked by root pid " << h.root_blocker;
        if (!h.note.empty()) o << " (" << T(h.note, 200) << ")";
        o << "\n";
      }
    }
  }
  return o.str();
}

}  // namespace poolwatch
