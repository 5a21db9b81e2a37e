#include "collectors/pgbouncer_version.h"

#include <stdexcept>

#include "collectors/pgbouncer_common.h"

namespace poolwatch {
namespace {

class PgBouncerVersionCollector final : public Collector {
 public:
  std::string_view Name() const override { return "pgbouncer_version"; }

  void Collect(Connection& conn, TargetSample& out) override {
    QueryResult r = conn.Query("SHOW VERSION");
    ExportUnknownColumns(r, "version", {"version"}, out);
    std::optional<std::string> version;
    for (int i = 0; i < r.Rows() && !version; ++i)
      version = ParsePgbVersion(r.String(i, "version"));
    for (const auto& n : r.notices) {
      if (!version) version = ParsePgbVersion(n);
    }
    if (!version) throw std::runtime_error("SHOW VERSION answered no version number");
    out.metrics.Gauge("pgbouncer_version_info", "The pgbouncer version info",
                      {{"target", out.target}, {"version", *version}}, 1);
    out.summary["version"] = *version;
  }
};

}  // namespace

std::unique_ptr<Collector> MakePgBouncerVersionCollector(const CollectorOptions&) {
  return std::make_unique<PgBouncerVersionCollector>();
}

}  // namespace poolwatch
