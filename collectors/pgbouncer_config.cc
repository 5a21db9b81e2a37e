#include "collectors/pgbouncer_config.h"

#include "collectors/pgbouncer_common.h"

namespace poolwatch {
namespace {

// `column` is the setting's key (SHOW CONFIG has one row per setting).
constexpr PgbColumnMetric kConfigSettings[] = {
    {"max_client_conn", "pgbouncer_config_max_client_connections",
     "Config maximum number of client connections"},
    {"max_user_connections", "pgbouncer_config_max_user_connections",
     "Config maximum number of server connections per user (0 = unlimited)"},
    {"default_pool_size", "pgbouncer_config_default_pool_size",
     "Config default number of server connections per (database, user) pool"},
};

class PgBouncerConfigCollector final : public Collector {
 public:
  std::string_view Name() const override { return "pgbouncer_config"; }

  void Collect(Connection& conn, TargetSample& out) override {
    QueryResult r = conn.Query("SHOW CONFIG");
    // key, value and changeable are there in every version; newer ones add `default`.
    ExportUnknownColumns(r, "config", {"key", "value", "default", "changeable"}, out);
    Labels t = {{"target", out.target}};
    for (int i = 0; i < r.Rows(); ++i) {
      std::string key = r.String(i, "key");
      if (key == "pool_mode") {
        out.metrics.Gauge("pgbouncer_config_pool_mode_info",
                          "The default pool_mode (always 1; the mode is the label).",
                          {{"target", out.target}, {"pool_mode", r.String(i, "value")}}, 1);
        continue;
      }
      for (const auto& m : kConfigSettings) {
        if (m.column != key) continue;
        if (auto v = r.Number(i, "value")) out.metrics.Gauge(m.metric, m.help, t, *v);
      }
    }
    out.shared_results[std::string(pgb_results::kConfig)] = std::move(r);
  }
};

}  // namespace

std::unique_ptr<Collector> MakePgBouncerConfigCollector(const CollectorOptions&) {
  return std::make_unique<PgBouncerConfigCollector>();
}

}  // namespace poolwatch
