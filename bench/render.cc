// bench/render: CPU of one snapshot's exposition, the direct writer (RenderText) against
// prometheus-cpp's TextSerializer fed one family at a time (what RenderText did before), on a
// MetricSet shaped like a real one: N PgBouncer pools x the per-pool families, plus per-database
// and per-target series. Checks that both give the same bytes, then prints a Markdown table row.
//
//   build/bench/bench_render [pools=100] [repeats=200]
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "collectors/metrics.h"

namespace {

using poolwatch::MetricSet;

MetricSet Build(int pools) {
  MetricSet m;
  const char* per_pool[] = {"pgbouncer_pools_client_active_connections",
                            "pgbouncer_pools_client_waiting_connections",
                            "pgbouncer_pools_server_active_connections",
                            "pgbouncer_pools_server_idle_connections",
                            "pgbouncer_pools_server_used_connections",
                            "pgbouncer_pools_server_testing_connections",
                            "pgbouncer_pools_server_login_connections",
                            "pgbouncer_pools_client_maxwait_seconds",
                            "poolwatch_pgbouncer_pool_utilization",
                            "poolwatch_pgbouncer_clients_oldest_wait_seconds"};
  const char* per_db_total[] = {"pgbouncer_stats_queries_pooled_total",
                                "pgbouncer_stats_queries_duration_seconds_total",
                                "pgbouncer_stats_received_bytes_total",
                                "pgbouncer_stats_sent_bytes_total",
                                "pgbouncer_stats_server_in_transaction_seconds_total",
                                "pgbouncer_stats_client_wait_seconds_total",
                                "pgbouncer_stats_sql_transactions_pooled_total"};
  for (int p = 0; p < pools; ++p) {
    const std::string db = "app_" + std::to_string(p);
    for (const char* f : per_pool) {
      m.Gauge(f, "bench", {{"target", "pgbouncer"}, {"database", db}, {"user", "app"}},
              p * 0.37 + 1);
    }
    for (const char* f : per_db_total) {
      m.Counter(f, "bench", {{"target", "pgbouncer"}, {"database", db}}, 1e6 + p * 12345.678);
    }
  }
  for (int k = 0; k < 400; ++k) {
    m.Gauge("pg_settings_bench", "bench", {{"target", "pg"}, {"name", "s" + std::to_string(k)}}, k);
  }
  return m;
}

// prometheus-cpp's serializer over the same families, one family at a time (the families are
// converted once, outside the timing).
std::string Serialized(const std::vector<prometheus::MetricFamily>& families) {
  std::ostringstream out;
  const prometheus::TextSerializer serializer;
  std::vector<prometheus::MetricFamily> one(1);
  for (const auto& f : families) {
    one[0] = f;
    serializer.Serialize(out, one);
  }
  return out.str();
}

template <typename Fn>
double MedianMicros(int repeats, Fn&& fn) {
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) {
    const auto a = std::chrono::steady_clock::now();
    fn();
    t.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int pools = argc > 1 ? std::atoi(argv[1]) : 100;
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 200;
  const MetricSet m = Build(pools);
  const std::vector<prometheus::MetricFamily> families = m.Families();
  const std::string a = Serialized(families);
  const std::string b = poolwatch::RenderText(m, a.size());
  if (a != b) {
    std::fprintf(stderr, "bench_render: the direct writer's bytes differ from the serializer's\n");
    return 1;
  }
  std::size_t sink = 0;
  const double build = MedianMicros(repeats, [&] { sink += Build(pools).SeriesCount(); });
  const double old_us = MedianMicros(repeats, [&] { sink += Serialized(families).size(); });
  const double new_us =
      MedianMicros(repeats, [&] { sink += poolwatch::RenderText(m, b.size()).size(); });
  const double gzip_us = MedianMicros(repeats, [&] { sink += poolwatch::Gzip(b).size(); });
  std::printf(
      "| series | bytes | build MetricSet us | TextSerializer us | direct writer us | "
      "ratio | gzip -1 us | gzip bytes |\n|---|---|---|---|---|---|---|---|\n");
  std::printf("| %zu | %zu | %.0f | %.0f | %.0f | %.2f | %.0f | %zu |\n", m.SeriesCount(), b.size(),
              build, old_us, new_us, new_us / old_us, gzip_us, poolwatch::Gzip(b).size());
  return sink == 0 ? 2 : 0;
}
