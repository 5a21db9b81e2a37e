#include "collectors/holders.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "collectors/pgbouncer_common.h"

namespace poolwatch {

namespace {

const QueryResult* Shared(const TargetSample& s, std::string_view key) {
  auto it = s.shared_results.find(key);
  return it == s.shared_results.end() ? nullptr : &it->second;
}

std::string AddrPort(const QueryResult& r, int i) {
  std::string a = r.String(i, "addr");
  std::string port = r.String(i, "port");
  if (!port.empty() && port != "0") a += ":" + port;
  return a;
}

const Offender* FindBackend(const std::vector<Offender>& backends, int pid) {
  for (const auto& b : backends) {
    if (b.pid == pid) return &b;
  }
  return nullptr;
}

/// Root blockers of `backends` with how many backends wait on each (directly or not).
std::map<int, int> BlockCounts(const std::vector<Offender>& backends) {
  std::map<int, int> counts;
  for (const auto& b : backends) {
    int root = RootBlockerOf(b.pid, backends);
    if (root != 0) counts[root] += 1;
  }
  return counts;
}

}  // namespace

bool IsVictim(const Offender& o) {
  // A backend that waits on a lock and blocks nobody suffers, whatever else it is (its own
  // transaction ages while it waits); a pool's holder still holds its server, so it is not.
  return o.category == "waiting_client" || o.category == "blocked" ||
         (!o.blocked_by.empty() && o.blocks == 0 && o.category != "holder");
}

int RootBlockerOf(int pid, const std::vector<Offender>& backends) {
  const Offender* cur = FindBackend(backends, pid);
  if (cur == nullptr || cur->blocked_by.empty()) return 0;
  std::set<int> seen = {pid};
  int root = 0;
  for (int hop = 0; hop < 32 && cur != nullptr && !cur->blocked_by.empty(); ++hop) {
    int next = cur->blocked_by.front();
    if (!seen.insert(next).second) break;  // a cycle (a deadlock about to be broken)
    root = next;
    cur = FindBackend(backends, next);
  }
  return root;
}

std::vector<Offender> CauseFirst(std::vector<Offender> offenders) {
  auto rank = [](const Offender& o) {
    if (IsVictim(o)) return o.category == "waiting_client" ? 5 : 4;
    if (o.blocks > 0 || (o.category == "blocker" && o.blocked_by.empty())) return 0;
    if (o.category == "blocker") return 1;
    if (o.category == "holder" || o.category == "long_transaction") return 2;
    return 3;  // idle_in_transaction and anything else
  };
  std::stable_sort(offenders.begin(), offenders.end(), [&](const Offender& a, const Offender& b) {
    int ra = rank(a), rb = rank(b);
    if (ra != rb) return ra < rb;
    if (a.blocks != b.blocks) return a.blocks > b.blocks;
    return a.xact_age_seconds > b.xact_age_seconds;
  });
  std::vector<Offender> out;
  std::set<int> pids;
  std::set<std::string> clients;  // waiting clients have no pid: one line per address
  for (auto& o : offenders) {
    if (o.pid != 0) {
      if (!pids.insert(o.pid).second) continue;
    } else if (!o.client_addr.empty() && !clients.insert(o.client_addr).second) {
      continue;
    }
    out.push_back(std::move(o));
  }
  return out;
}

void JoinHolders(const std::vector<TargetSample>& samples, std::vector<TargetStatus>& statuses) {
  // Every PostgreSQL target's backends, with the root blockers counted once per target.
  struct Pg {
    const TargetSample* sample;
    std::map<int, int> blocks;
  };
  std::vector<Pg> pgs;
  for (std::size_t i = 0; i < samples.size() && i < statuses.size(); ++i) {
    if (samples[i].kind == TargetKind::kPostgres && statuses[i].up) {
      pgs.push_back({&samples[i], BlockCounts(samples[i].backends)});
    }
  }
  for (std::size_t i = 0; i < samples.size() && i < statuses.size(); ++i) {
    const TargetSample& s = samples[i];
    if (s.kind != TargetKind::kPgBouncer || !statuses[i].up) continue;
    const QueryResult* servers = Shared(s, pgb_results::kServers);
    const QueryResult* clients = Shared(s, pgb_results::kClients);
    const QueryResult* databases = Shared(s, pgb_results::kDatabases);
    if (servers == nullptr) continue;
    std::map<std::string, int> client_row;  // ptr -> row
    if (clients != nullptr) {
      for (int c = 0; c < clients->Rows(); ++c) client_row[clients->String(c, "ptr")] = c;
    }
    std::map<std::pair<std::string, std::string>, PoolHolders> pools;
    auto pool_of = [&](const std::string& db, const std::string& user) -> PoolHolders& {
      PoolHolders& p = pools[{db, user}];
      if (p.target.empty()) {
        p.target = s.target;
        p.database = db;
        p.user = user;
        if (databases != nullptr) {
          for (int d = 0; d < databases->Rows(); ++d) {
            if (databases->String(d, "name") != db) continue;
            p.real_database = databases->String(d, "database", db);
            p.pool_size = static_cast<int>(databases->Number(d, "pool_size").value_or(0));
          }
        }
        if (p.real_database.empty()) p.real_database = db;
      }
      return p;
    };
    for (int r = 0; r < servers->Rows(); ++r) {
      std::string link = servers->String(r, "link");
      if (link.empty() || link == "(nil)") continue;  // not in use
      PoolHolders& p = pool_of(servers->String(r, "database"), servers->String(r, "user"));
      p.servers_in_use += 1;
      int pid = static_cast<int>(servers->Number(r, "remote_pid").value_or(0));
      Offender h;
      const Offender* backend = nullptr;
      const Pg* pg = nullptr;
      for (const auto& cand : pgs) {
        const Offender* b = FindBackend(cand.sample->backends, pid);
        if (b != nullptr && (b->datname.empty() || b->datname == p.real_database)) {
          backend = b;
          pg = &cand;
          break;
        }
      }
      if (backend != nullptr) {
        h = *backend;
        p.pg_target = pg->sample->target;
        auto bl = pg->blocks.find(pid);
        h.blocks = bl == pg->blocks.end() ? 0 : bl->second;
        h.root_blocker = RootBlockerOf(pid, pg->sample->backends);
      } else {
        h.pid = pid;
        h.datname = p.real_database;
        h.usename = servers->String(r, "user");
        h.state = "server " + servers->String(r, "state");
        h.note = "pid " + std::to_string(pid) +
                 " has no pg_stat_activity row on a PostgreSQL target (not in a transaction, or "
                 "its PostgreSQL is not watched): database " +
                 p.real_database;
        p.unmatched += 1;
      }
      h.category = "holder";
      auto c = client_row.find(link);
      if (c != client_row.end()) {
        h.client_addr = AddrPort(*clients, c->second);
        std::string app = clients->String(c->second, "application_name");
        if (!app.empty()) h.application_name = app;
      }
      p.holders.push_back(std::move(h));
      // The root of a blocked holder's chain holds the pool too, through its lock.
      if (pg != nullptr && p.holders.back().root_blocker != 0) {
        int root = p.holders.back().root_blocker;
        if (const Offender* rb = FindBackend(pg->sample->backends, root)) {
          Offender o = *rb;
          o.category = "blocker";
          auto bl = pg->blocks.find(root);
          o.blocks = bl == pg->blocks.end() ? 0 : bl->second;
          p.holders.push_back(std::move(o));
        }
      }
    }
    if (clients != nullptr) {
      for (int c = 0; c < clients->Rows(); ++c) {
        if (clients->String(c, "state") != "waiting") continue;
        PoolHolders& p = pool_of(clients->String(c, "database"), clients->String(c, "user"));
        double wait = clients->Number(c, "wait").value_or(0) +
                      clients->Number(c, "wait_us").value_or(0) / 1e6;
        p.waiting_clients += 1;
        p.longest_wait_seconds = std::max(p.longest_wait_seconds, wait);
        Offender w;
        w.category = "waiting_client";
        w.datname = p.real_database;
        w.usename = clients->String(c, "user");
        w.application_name = clients->String(c, "application_name");
        w.client_addr = AddrPort(*clients, c);
        w.state = "waiting";
        w.state_age_seconds = wait;
        p.waiting.push_back(std::move(w));
      }
    }
    for (auto& [key, p] : pools) {
      p.holders = CauseFirst(std::move(p.holders));
      // A holder that is blocked is a victim of its root too: after the root, in age order.
      if (p.holders.size() > kMaxPoolHolders) p.holders.resize(kMaxPoolHolders);
      std::stable_sort(p.waiting.begin(), p.waiting.end(), [](const Offender& a, const Offender& b) {
        return a.state_age_seconds > b.state_age_seconds;
      });
      if (p.waiting.size() > kMaxPoolHolders) p.waiting.resize(kMaxPoolHolders);
      statuses[i].pools.push_back(std::move(p));
    }
  }
}

}  // namespace poolwatch
