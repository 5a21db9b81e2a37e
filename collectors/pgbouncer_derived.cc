// Design: collectors run one after another on one connection, each sending one SHOW. Rather than
// have collectors call each other or re-query, each one that reads an input of a derived signal
// leaves its result in TargetSample::shared_results, and this last step computes every derived
// signal in one place from the same sample's results. No extra round trip, one consistent
// instant, and each data collector stays about its own SHOW command.
#include "collectors/pgbouncer_derived.h"

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "collectors/pgbouncer_common.h"

namespace poolwatch {
namespace {

constexpr std::string_view kUtilizationHelp =
    "How full a pool is: in use / capacity (kind: pgbouncer_server, pgbouncer_client, "
    "postgres).";

const QueryResult* Find(const TargetSample& s, std::string_view key) {
  auto it = s.shared_results.find(key);
  return it == s.shared_results.end() ? nullptr : &it->second;
}

std::optional<double> Setting(const QueryResult& config, std::string_view key) {
  for (int i = 0; i < config.Rows(); ++i) {
    if (config.String(i, "key") == key) return config.Number(i, "value");
  }
  return std::nullopt;
}

class PgBouncerDerivedCollector final : public Collector {
 public:
  explicit PgBouncerDerivedCollector(const CollectorOptions& options) : options_(options) {}
  std::string_view Name() const override { return "pgbouncer_derived"; }

  void Collect(Connection&, TargetSample& out) override {
    std::vector<std::string> missing;
    const QueryResult* pools = Find(out, pgb_results::kPools);
    const QueryResult* databases = Find(out, pgb_results::kDatabases);
    const QueryResult* config = Find(out, pgb_results::kConfig);
    const QueryResult* servers = Find(out, pgb_results::kServers);
    const QueryResult* clients = Find(out, pgb_results::kClients);
    if (!pools) missing.push_back("SHOW POOLS (pgbouncer_pools)");
    if (!config) missing.push_back("SHOW CONFIG (pgbouncer_config)");
    if (!servers) missing.push_back("SHOW SERVERS (pgbouncer_servers)");
    if (!clients) missing.push_back("SHOW CLIENTS (pgbouncer_clients)");

    std::optional<double> default_pool_size;
    std::optional<double> max_client_conn;
    if (config) {
      default_pool_size = Setting(*config, "default_pool_size");
      max_client_conn = Setting(*config, "max_client_conn");
    }
    if (pools) ServerUtilization(*pools, databases, default_pool_size, out);
    if (max_client_conn && *max_client_conn > 0 && (clients || pools)) {
      double n = clients ? clients->Rows() : ClientsFromPools(*pools);
      out.metrics.Gauge(
          "poolwatch_pool_utilization_ratio", kUtilizationHelp,
          {{"target", out.target}, {"kind", "pgbouncer_client"}, {"database", ""}, {"user", ""}},
          n / *max_client_conn);
    }
    if (servers && clients) Leaks(*servers, *clients, out);

    if (!missing.empty()) {
      std::string m = "missing input for derived signals:";
      for (const auto& x : missing) m += " " + x;
      throw std::runtime_error(m + " failed or is disabled");
    }
  }

 private:
  static double ClientsFromPools(const QueryResult& pools) {
    double n = 0;
    for (int i = 0; i < pools.Rows(); ++i) {
      for (auto c : {"cl_active", "cl_waiting", "cl_active_cancel_req", "cl_waiting_cancel_req",
                     "cl_cancel_req"}) {
        n += pools.Number(i, c).value_or(0);
      }
    }
    return n;
  }

  // Per (database, user) pool; the admin console's virtual pool has no servers and is skipped.
  void ServerUtilization(const QueryResult& pools, const QueryResult* databases,
                         std::optional<double> default_pool_size, TargetSample& out) {
    std::map<std::string, double> db_size;
    if (databases) {
      for (int i = 0; i < databases->Rows(); ++i) {
        auto size = databases->Number(i, "pool_size");
        if (size && *size > 0) db_size[databases->String(i, "name")] = *size;
      }
    }
    for (int i = 0; i < pools.Rows(); ++i) {
      std::string database = pools.String(i, "database");
      if (database == "pgbouncer") continue;
      auto sv_active = pools.Number(i, "sv_active");
      if (!sv_active) continue;
      std::optional<double> size;
      if (auto it = db_size.find(database); it != db_size.end()) size = it->second;
      if (!size) size = default_pool_size;
      if (!size || *size <= 0) continue;
      out.metrics.Gauge("poolwatch_pool_utilization_ratio", kUtilizationHelp,
                        {{"target", out.target},
                         {"kind", "pgbouncer_server"},
                         {"database", database},
                         {"user", pools.String(i, "user")}},
                        *sv_active / *size);
    }
  }

  void Leaks(const QueryResult& servers, const QueryResult& clients, TargetSample& out) {
    const double now = ToUnixSeconds(CollectorClock(options_).WallNow());
    const double timeout = std::chrono::duration<double>(options_.leak_timeout).count();
    std::map<std::string, double> client_request;  // client ptr -> last request (Unix s)
    for (int i = 0; i < clients.Rows(); ++i) {
      if (auto t = ParsePgbTimestamp(clients.String(i, "request_time"))) {
        client_request[clients.String(i, "ptr")] = *t;
      }
    }
    double leaks = 0;
    for (int i = 0; i < servers.Rows(); ++i) {
      std::string link = servers.String(i, "link");
      if (link.empty()) continue;
      auto it = client_request.find(link);
      // request_time is truncated to the second: the client has certainly been silent only
      // since one second after it, so a busy client is never counted.
      if (it != client_request.end() && now - (it->second + 1) > timeout) leaks += 1;
    }
    out.metrics.Gauge("poolwatch_connection_leaks", Help("poolwatch_connection_leaks"),
                      {{"target", out.target}, {"kind", "pgbouncer_server"}}, leaks);
  }

  CollectorOptions options_;
};

}  // namespace

std::unique_ptr<Collector> MakePgBouncerDerivedCollector(const CollectorOptions& options) {
  return std::make_unique<PgBouncerDerivedCollector>(options);
}

}  // namespace poolwatch
