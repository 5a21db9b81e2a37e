// The process and exporter-health families (exporter/process_metrics.cc).
#include "exporter/process_metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ctime>
#include <vector>

#include "collectors/metrics.h"

namespace poolwatch {
namespace {

TEST(ProcessMetricsTest, ProcessFamiliesFromProcAreDeclaredAndPlausible) {
  MetricSet m;
  AddOsProcessMetrics(m);
  EXPECT_THAT(m.DeclarationProblems(), ::testing::IsEmpty());
  for (const char* f : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                        "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                        "process_start_time_seconds"}) {
    EXPECT_TRUE(m.Has(f)) << f;
  }
  EXPECT_GT(*m.Value("process_resident_memory_bytes"), 1e6);
  EXPECT_GE(*m.Value("process_virtual_memory_bytes"), *m.Value("process_resident_memory_bytes"));
  EXPECT_GE(*m.Value("process_open_fds"), 3);  // stdin, stdout, stderr at least
  EXPECT_GT(*m.Value("process_max_fds"), *m.Value("process_open_fds"));
  const double now = static_cast<double>(std::time(nullptr));
  EXPECT_LE(*m.Value("process_start_time_seconds"), now + 1);
  EXPECT_GT(*m.Value("process_start_time_seconds"), now - 3600) << "this test started recently";
  // The CPU counter grows with work.
  const double before = *m.Value("process_cpu_seconds_total");
  volatile double x = 0;
  for (int i = 0; i < 50000000; ++i) x = x + i * 0.5;
  MetricSet later;
  AddOsProcessMetrics(later);
  EXPECT_GT(*later.Value("process_cpu_seconds_total"), before);
}

TEST(ProcessMetricsTest, ExporterHealthUnderPostgresExporterNamesPerPostgresTarget) {
  std::vector<TargetStatus> targets(3);
  targets[0].name = "main";
  targets[0].kind = TargetKind::kPostgres;
  targets[0].up = true;
  targets[0].sample_duration_seconds = 0.25;
  targets[0].collector_success = {{"pg_locks", true}, {"pg_stat_activity", true}};
  targets[1].name = "replica";
  targets[1].kind = TargetKind::kPostgres;
  targets[1].up = true;
  targets[1].collector_success = {{"pg_locks", false}};
  targets[2].name = "bouncer";
  targets[2].kind = TargetKind::kPgBouncer;
  MetricSet m;
  AddExporterHealthMetrics(targets, m);
  EXPECT_THAT(m.DeclarationProblems(), ::testing::IsEmpty());
  EXPECT_EQ(m.Value("pg_exporter_last_scrape_error", {{"target", "main"}}), 0);
  EXPECT_EQ(m.Value("pg_exporter_last_scrape_duration_seconds", {{"target", "main"}}), 0.25);
  EXPECT_EQ(m.Value("pg_exporter_last_scrape_error", {{"target", "replica"}}), 1)
      << "a failed collector is a scrape error";
  EXPECT_FALSE(m.Value("pg_exporter_last_scrape_error", {{"target", "bouncer"}}));
  targets[0].up = false;
  MetricSet down;
  AddExporterHealthMetrics(targets, down);
  EXPECT_EQ(down.Value("pg_exporter_last_scrape_error", {{"target", "main"}}), 1);
}

}  // namespace
}  // namespace poolwatch
