#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <regex>
#include <set>
#include <sstream>

#include "collectors/metrics.h"
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

// The store keeps every label of a set in one buffer: merging appends the other set's buffer,
// so each merged series must still read its own labels (into an empty set, into a shared family,
// as a new family), and the rendering must equal one set built in that order.
TEST(MetricSetTest, MergeKeepsEachSeriesLabels) {
  MetricSet first, a, b, c, whole;
  first.Gauge("g", "h", {{"target", "a"}, {"db", "x"}}, 1);
  whole.Gauge("g", "h", {{"target", "a"}, {"db", "x"}}, 1);
  a.Merge(std::move(first));
  b.Gauge("g", "h", {{"target", "b"}, {"db", "a rather long database name"}}, 2);
  b.Counter("c_total", "c", {}, 7);
  whole.Gauge("g", "h", {{"target", "b"}, {"db", "a rather long database name"}}, 2);
  whole.Counter("c_total", "c", {}, 7);
  c.Gauge("g", "h", {{"target", "c"}}, 3);
  c.Gauge("k", "k", {{"target", "c"}, {"user", "u\"1"}}, 4);
  whole.Gauge("g", "h", {{"target", "c"}}, 3);
  whole.Gauge("k", "k", {{"target", "c"}, {"user", "u\"1"}}, 4);
  a.Merge(std::move(b));
  a.Merge(std::move(c));
  EXPECT_EQ(b.SeriesCount(), 0u);
  EXPECT_EQ(c.SeriesCount(), 0u);
  EXPECT_EQ(a.SeriesCount(), 5u);
  EXPECT_EQ(a.Samples("g", {{"target", "b"}}),
            (std::vector<std::pair<Labels, double>>{
                {{{"target", "b"}, {"db", "a rather long database name"}}, 2}}));
  EXPECT_EQ(a.Samples("k"),
            (std::vector<std::pair<Labels, double>>{{{{"target", "c"}, {"user", "u\"1"}}, 4}}));
  EXPECT_EQ(a.Value("c_total"), 7);
  EXPECT_EQ(a.Value("g", {{"db", "x"}}), 1);
  EXPECT_EQ(RenderText(a), RenderText(whole));
}

TEST(MetricSetTest, TheDirectWriterMatchesTheSerializerByteForByte) {
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
  const double values[] = {-std::numeric_limits<double>::infinity(),
                           -0.0,
                           1.0 / 3,
                           1e20,
                           1e-7,
                           12345678901234567.0,
                           0.1,
                           0.30000000000000004,
                           1700000000.123456,
                           123456789012.0,
                           1e16,
                           -2.5,
                           4.25,
                           0};
  for (double v : values) {
    m.Gauge("formats", "every number format", {{"v", std::to_string(v)}, {"nl", "a\nb"}}, v);
  }
  m.Declare("no_help", "", prometheus::MetricType::Counter);
  std::ostringstream all;
  prometheus::TextSerializer().Serialize(all, m.Families());
  EXPECT_EQ(RenderText(m), all.str());
  EXPECT_THAT(RenderText(m), HasSubstr("# TYPE empty_family gauge\n"));
}

namespace {
std::string Gunzip(const std::string& z, std::size_t size) {
  std::string out(size, '\0');
  z_stream zs{};
  EXPECT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(z.data()));
  zs.avail_in = static_cast<uInt>(z.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  inflateEnd(&zs);
  return out;
}
}  // namespace

TEST(MetricSetTest, GzipRoundTrips) {
  std::string text(10000, 'x');
  std::string z = Gzip(text);
  ASSERT_LT(z.size(), text.size());
  EXPECT_EQ(Gunzip(z, text.size()), text);
}

// Gzip starts with an output buffer of an eighth of the input: input that does not compress
// (here pseudo-random bytes) must grow it, and lose nothing.
TEST(MetricSetTest, GzipGrowsItsBufferForIncompressibleInput) {
  std::string text(200000, '\0');
  std::uint32_t x = 2463534242u;
  for (char& c : text) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x & 0xff);
  }
  std::string z = Gzip(text);
  ASSERT_GT(z.size(), text.size() / 8);
  EXPECT_EQ(Gunzip(z, text.size() + 1), text);
  EXPECT_EQ(Gunzip(Gzip(""), 16), "");
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

}  // namespace
}  // namespace poolwatch
