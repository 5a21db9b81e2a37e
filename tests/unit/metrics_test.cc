#include "collectors/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <ctime>
#include <filesystem>
#include <limits>
#include <regex>
#include <set>
#include <sstream>

#include <prometheus/text_serializer.h>

#include "exporter/process_metrics.h"
#include "tests/support/util.h"

namespace poolwatch {
namespace {

using ::testing::HasSubstr;

TEST(MetricSetTest, RendersFamiliesWithHelpTypeAndLabels) {
  MetricSet m;
  m.Gauge("test_up", "up", {{"target", "a"}}, 1);
  m.Counter("poolwatch_x_total", "x", {{"target", "a"}}, 3);
  m.Gauge("test_up", "up", {{"target", "b"}}, 0);
  std::string text = RenderText(m);
  EXPECT_THAT(text, HasSubstr("# HELP test_up up\n# TYPE test_up gauge\ntest_up{target=\"a\"} 1\n"
                              "test_up{target=\"b\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE poolwatch_x_total counter\npoolwatch_x_total{target=\"a\"} 3"));
}

TEST(MetricSetTest, LabelValuesAreEscaped) {
  MetricSet m;
  m.Gauge("g", "h", {{"app", "a\"b\\c\nd"}}, 1);
  EXPECT_THAT(RenderText(m), HasSubstr("g{app=\"a\\\"b\\\\c\\nd\"} 1"));
}

TEST(MetricSetTest, MergeAndLookup) {
  MetricSet a, b;
  a.Gauge("g", "h", {{"target", "a"}, {"db", "x"}}, 1);
  b.Gauge("g", "h", {{"target", "b"}, {"db", "x"}}, 2);
  a.Merge(std::move(b));
  EXPECT_EQ(a.SeriesCount(), 2u);
  EXPECT_EQ(a.Value("g", {{"target", "b"}}), 2);
  EXPECT_EQ(a.Samples("g", {{"db", "x"}}).size(), 2u);
  EXPECT_FALSE(a.Value("g", {{"target", "c"}}).has_value());
}

TEST(MetricSetTest, RenderingFamilyByFamilyMatchesTheSerializerOverAllFamilies) {
  MetricSet m;
  m.Declare("empty_family", "declared, no samples", prometheus::MetricType::Gauge);
  for (int i = 0; i < 50; ++i) {
    m.Gauge("pool_gauge", "a gauge", {{"target", "t"}, {"pool", "p" + std::to_string(i)}},
            i * 0.1);
    m.Counter("pool_total", "a counter", {{"target", "t"}, {"pool", "p" + std::to_string(i)}},
              1e12 + i);
  }
  m.Gauge("odd_values", "odd", {{"k", "inf"}}, std::numeric_limits<double>::infinity());
  m.Gauge("odd_values", "odd", {{"k", "nan"}}, std::nan(""));
  m.Gauge("odd_values", "odd", {{"k", "tiny\"quoted\\"}}, 1.5e-300);
  m.Gauge("no_labels", "none", {}, -3);
  std::ostringstream all;
  prometheus::TextSerializer().Serialize(all, m.Families());
  EXPECT_EQ(RenderText(m), all.str());
  EXPECT_THAT(RenderText(m), HasSubstr("# TYPE empty_family gauge\n"));
}

TEST(MetricSetTest, GzipRoundTrips) {
  std::string text(10000, 'x');
  std::string z = Gzip(text);
  ASSERT_LT(z.size(), text.size());
  std::string out(text.size(), '\0');
  z_stream zs{};
  ASSERT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);
  zs.next_in = reinterpret_cast<Bytef*>(z.data());
  zs.avail_in = static_cast<uInt>(z.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&zs, Z_FINISH), Z_STREAM_END);
  inflateEnd(&zs);
  EXPECT_EQ(out, text);
}

// ---- Every family declared once: MetricFamilies() decides name, type, HELP, labels.

TEST(MetricFamiliesTest, TableIsSortedUniqueAndWellFormed) {
  const auto& table = MetricFamilies();
  ASSERT_GT(table.size(), 100u);
  const std::regex name("[a-zA-Z_:][a-zA-Z0-9_:]*");
  const std::regex label("[a-zA-Z_][a-zA-Z0-9_]*");
  for (std::size_t i = 0; i < table.size(); ++i) {
    const FamilyDesc& d = table[i];
    SCOPED_TRACE(d.name);
    if (i > 0) {
      EXPECT_LT(table[i - 1].name, d.name) << "unsorted or declared twice";
    }
    EXPECT_TRUE(std::regex_match(d.name, name));
    EXPECT_FALSE(d.help.empty());
    EXPECT_TRUE(d.type == prometheus::MetricType::Gauge ||
                d.type == prometheus::MetricType::Counter);
    // postgres_exporter's pg_stat_database_* counters keep its names, without _total.
    const bool total = d.name.size() > 6 && d.name.substr(d.name.size() - 6) == "_total";
    if (d.type == prometheus::MetricType::Counter) {
      EXPECT_TRUE(total || d.name.rfind("pg_stat_database_", 0) == 0);
    } else {
      EXPECT_FALSE(total) << "a gauge named like a counter";
    }
    std::set<std::string> seen;
    for (const auto& l : d.labels) {
      EXPECT_TRUE(std::regex_match(l, label)) << l;
      EXPECT_TRUE(seen.insert(l).second) << "label twice: " << l;
    }
    EXPECT_EQ(FindFamily(d.name), &d);
    EXPECT_EQ(Help(d.name), d.help);
  }
  EXPECT_EQ(FindFamily("no_such_family"), nullptr);
  EXPECT_EQ(Help("no_such_family"), "");
}

TEST(MetricFamiliesTest, TheTableDecidesHelpAndTypeWhateverTheEmitterPasses) {
  const std::string leaks = "poolwatch_connection_leaks";
  MetricSet a;
  a.Gauge(leaks, "a stale text", {{"target", "t"}, {"kind", "probe_pool"}}, 1);
  MetricSet b;
  b.Gauge(leaks, Help(leaks), {{"target", "t"}, {"kind", "idle_in_transaction"}}, 2);
  EXPECT_THAT(b.DeclarationProblems(), ::testing::IsEmpty());
  a.Merge(std::move(b));
  const std::string text = RenderText(a);
  EXPECT_THAT(text, HasSubstr("# HELP " + leaks + " " + std::string(Help(leaks)) + "\n"));
  EXPECT_EQ(text.find("# HELP " + leaks), text.rfind("# HELP " + leaks)) << "one HELP line";
  EXPECT_THAT(a.DeclarationProblems(),
              ::testing::ElementsAre(leaks + ": emitted with another HELP: a stale text"));

  // Another type than declared: served as declared, and recorded.
  MetricSet c;
  c.Counter("pg_up", Help("pg_up"), {{"target", "t"}}, 1);
  EXPECT_THAT(RenderText(c), HasSubstr("# TYPE pg_up gauge\npg_up{target=\"t\"} 1\n"));
  EXPECT_THAT(c.DeclarationProblems(),
              ::testing::ElementsAre("pg_up: emitted as another type than declared"));
  // Undeclared: served as the emitter says, and recorded.
  MetricSet d;
  d.Gauge("test_undeclared", "x", {}, 1);
  EXPECT_THAT(RenderText(d), HasSubstr("# HELP test_undeclared x\n"));
  EXPECT_THAT(d.DeclarationProblems(),
              ::testing::ElementsAre("test_undeclared: not declared in MetricFamilies()"));
}

// The label names of one exposition line (`name{a="x",b="y"} 1`), in order.
std::vector<std::string> LabelNames(const std::string& line) {
  std::vector<std::string> out;
  std::size_t i = line.find('{');
  if (i == std::string::npos || line.find(' ') < i) return out;
  ++i;
  while (i < line.size() && line[i] != '}') {
    const std::size_t eq = line.find('=', i);
    out.push_back(line.substr(i, eq - i));
    i = eq + 2;  // past ="
    while (i < line.size() && line[i] != '"') i += line[i] == '\\' ? 2 : 1;
    i += 1;  // past the closing quote
    if (i < line.size() && line[i] == ',') ++i;
  }
  return out;
}

std::string Unescape(const std::string& help) {
  std::string out;
  for (std::size_t i = 0; i < help.size(); ++i) {
    if (help[i] == '\\' && i + 1 < help.size()) {
      out += help[i + 1] == 'n' ? '\n' : help[i + 1];
      ++i;
    } else {
      out += help[i];
    }
  }
  return out;
}

TEST(MetricFamiliesTest, GoldenFilesAgreeWithTheTable) {
  int files = 0;
  for (const auto& e :
       std::filesystem::directory_iterator(support::SourceDir() + "/tests/unit/golden")) {
    if (e.path().extension() != ".prom") continue;
    ++files;
    SCOPED_TRACE(e.path().filename().string());
    std::istringstream in(support::ReadFile(e.path().string()));
    for (std::string line; std::getline(in, line);) {
      std::smatch m;
      if (std::regex_match(line, m, std::regex(R"(# HELP (\S+) (.*))"))) {
        const FamilyDesc* d = FindFamily(m[1].str());
        ASSERT_NE(d, nullptr) << m[1] << " is not declared in MetricFamilies()";
        EXPECT_EQ(Unescape(m[2]), d->help) << m[1];
      } else if (std::regex_match(line, m, std::regex(R"(# TYPE (\S+) (\S+))"))) {
        const FamilyDesc* d = FindFamily(m[1].str());
        ASSERT_NE(d, nullptr) << m[1];
        EXPECT_EQ(m[2], d->type == prometheus::MetricType::Counter ? "counter" : "gauge") << m[1];
      } else if (!line.empty() && line[0] != '#') {
        const std::string name = line.substr(0, line.find_first_of("{ "));
        const FamilyDesc* d = FindFamily(name);
        ASSERT_NE(d, nullptr) << name;
        EXPECT_EQ(LabelNames(line), d->labels) << line;
      }
    }
  }
  EXPECT_GE(files, 7);
}

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
