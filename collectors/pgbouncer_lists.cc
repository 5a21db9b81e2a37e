#include "collectors/pgbouncer_lists.h"

#include "collectors/pgbouncer_common.h"

namespace poolwatch {
namespace {

// `column` is the list name (SHOW LISTS has one row per list: list, items).
constexpr PgbColumnMetric kLists[] = {
    {"databases", "pgbouncer_databases", "Count of databases"},
    {"users", "pgbouncer_users", "Count of users"},
    {"pools", "pgbouncer_pools", "Count of pools"},
    {"free_clients", "pgbouncer_free_clients", "Count of free clients"},
    {"used_clients", "pgbouncer_used_clients", "Count of used clients"},
    {"login_clients", "pgbouncer_login_clients", "Count of clients in login state"},
    {"free_servers", "pgbouncer_free_servers", "Count of free servers"},
    {"used_servers", "pgbouncer_used_servers", "Count of used servers"},
    {"dns_names", "pgbouncer_cached_dns_names", "Count of DNS names in the cache"},
    {"dns_zones", "pgbouncer_cached_dns_zones", "Count of DNS zones in the cache"},
    {"dns_queries", "pgbouncer_in_flight_dns_queries", "Count of in-flight DNS queries"},
};

class PgBouncerListsCollector final : public Collector {
 public:
  std::string_view Name() const override { return "pgbouncer_lists"; }

  void Collect(Connection& conn, TargetSample& out) override {
    QueryResult r = conn.Query("SHOW LISTS");
    int unknown_lists = 0;
    for (int i = 0; i < r.Rows(); ++i) {
      std::string list = r.String(i, "list");
      const PgbColumnMetric* found = nullptr;
      for (const auto& m : kLists) {
        if (m.column == list) found = &m;
      }
      if (!found) {
        if (list != "dns_pending") ++unknown_lists;  // documented as unused
        continue;
      }
      if (auto v = r.Number(i, "items")) {
        out.metrics.Gauge(found->metric, found->help, {{"target", out.target}}, *v);
      }
    }
    ExportUnknownColumns(r, "lists", {"list", "items"}, out, unknown_lists);
  }
};

}  // namespace

std::unique_ptr<Collector> MakePgBouncerListsCollector(const CollectorOptions&) {
  return std::make_unique<PgBouncerListsCollector>();
}

}  // namespace poolwatch
