#include "collectors/pgbouncer_clients.h"

#include <algorithm>
#include <map>
#include <utility>

#include "collectors/pgbouncer_common.h"

namespace poolwatch {
namespace {

// Client connection states (idle: 1.25+); each pool gets a row for every one of them.
constexpr std::string_view kClientStates[] = {"active", "waiting", "idle", "active_cancel_req",
                                              "waiting_cancel_req"};

class PgBouncerClientsCollector final : public Collector {
 public:
  explicit PgBouncerClientsCollector(const CollectorOptions& options) : options_(options) {}
  std::string_view Name() const override { return "pgbouncer_clients"; }

  void Collect(Connection& conn, TargetSample& out) override {
    QueryResult r = conn.Query("SHOW CLIENTS");
    ExportUnknownColumns(r, "clients", kPgbSocketColumns, std::initializer_list<PgbColumnMetric>{},
                         out);
    const double now = ToUnixSeconds(CollectorClock(options_).WallNow());
    struct Pool {
      std::map<std::string, double> states;
      double oldest_wait = 0;
    };
    std::map<std::pair<std::string, std::string>, Pool> pools;
    std::vector<Offender> waiting;
    for (int i = 0; i < r.Rows(); ++i) {
      std::string state = r.String(i, "state");
      Pool& p = pools[{r.String(i, "database"), r.String(i, "user")}];
      p.states[state] += 1;
      if (state != "waiting") continue;
      // wait/wait_us (1.8+) is the current wait; before that, the age of the request.
      double wait = 0;
      if (auto w = r.Number(i, "wait")) {
        wait = *w + r.Number(i, "wait_us").value_or(0) / 1e6;
      } else if (auto t = ParsePgbTimestamp(r.String(i, "request_time"))) {
        wait = std::max(0.0, now - *t);
      }
      p.oldest_wait = std::max(p.oldest_wait, wait);
      Offender o;
      o.category = "waiting_client";
      o.pid = static_cast<int>(r.Number(i, "remote_pid").value_or(0));
      o.datname = r.String(i, "database");
      o.usename = r.String(i, "user");
      o.application_name = r.String(i, "application_name");
      o.client_addr = r.String(i, "addr");
      if (auto port = r.Text(i, "port"); port && !port->empty()) {
        o.client_addr += ":" + std::string(*port);
      }
      o.state = state;
      o.state_age_seconds = wait;
      waiting.push_back(std::move(o));
    }
    for (auto& [pool, p] : pools) {
      Labels base = {{"target", out.target}, {"database", pool.first}, {"user", pool.second}};
      for (auto s : kClientStates) p.states.emplace(std::string(s), 0);
      for (const auto& [state, n] : p.states) {
        Labels l = base;
        l.emplace_back("state", state);
        out.metrics.Gauge("poolwatch_pgbouncer_clients",
                          "Client connections per pool and state (SHOW CLIENTS).", l, n);
      }
      out.metrics.Gauge("poolwatch_pgbouncer_clients_oldest_wait_seconds",
                        "How long the pool's longest-waiting client has waited (0: none waits).",
                        base, p.oldest_wait);
    }
    std::stable_sort(waiting.begin(), waiting.end(), [](const Offender& a, const Offender& b) {
      return a.state_age_seconds > b.state_age_seconds;
    });
    if (waiting.size() > static_cast<std::size_t>(kMaxWaitingOffenders)) {
      waiting.resize(kMaxWaitingOffenders);
    }
    for (auto& o : waiting) out.offenders.push_back(std::move(o));
    out.shared_results[std::string(pgb_results::kClients)] = std::move(r);
  }

 private:
  CollectorOptions options_;
};

}  // namespace

std::unique_ptr<Collector> MakePgBouncerClientsCollector(const CollectorOptions& options) {
  return std::make_unique<PgBouncerClientsCollector>(options);
}

}  // namespace poolwatch
