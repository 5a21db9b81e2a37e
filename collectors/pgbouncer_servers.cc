#include "collectors/pgbouncer_servers.h"

#include <map>
#include <utility>

#include "collectors/pgbouncer_common.h"

namespace poolwatch {
namespace {

// Server connection states; each pool gets a (possibly zero) row for every one of them.
constexpr std::string_view kServerStates[] = {"active", "idle",          "used",          "tested",
                                              "new",    "active_cancel", "being_canceled"};

class PgBouncerServersCollector final : public Collector {
 public:
  std::string_view Name() const override { return "pgbouncer_servers"; }

  void Collect(Connection& conn, TargetSample& out) override {
    QueryResult r = conn.Query("SHOW SERVERS");
    ExportUnknownColumns(r, "servers", kPgbSocketColumns, std::initializer_list<PgbColumnMetric>{},
                         out);
    std::map<std::pair<std::string, std::string>, std::map<std::string, double>> pools;
    for (int i = 0; i < r.Rows(); ++i) {
      auto& states = pools[{r.String(i, "database"), r.String(i, "user")}];
      states[r.String(i, "state")] += 1;
    }
    for (auto& [pool, states] : pools) {
      for (auto s : kServerStates) states.emplace(std::string(s), 0);
      for (const auto& [state, n] : states) {
        out.metrics.Gauge("poolwatch_pgbouncer_servers",
                          "Server connections per pool and state (SHOW SERVERS).",
                          {{"target", out.target},
                           {"database", pool.first},
                           {"user", pool.second},
                           {"state", state}},
                          n);
      }
    }
    out.shared_results[std::string(pgb_results::kServers)] = std::move(r);
  }
};

}  // namespace

std::unique_ptr<Collector> MakePgBouncerServersCollector(const CollectorOptions&) {
  return std::make_unique<PgBouncerServersCollector>();
}

}  // namespace poolwatch
