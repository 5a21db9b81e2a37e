#include "collectors/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <limits>
#include <sstream>

#include <prometheus/text_serializer.h>

namespace poolwatch {
namespace {

using ::testing::HasSubstr;

TEST(MetricSetTest, RendersFamiliesWithHelpTypeAndLabels) {
  MetricSet m;
  m.Gauge("pg_up", "up", {{"target", "a"}}, 1);
  m.Counter("poolwatch_x_total", "x", {{"target", "a"}}, 3);
  m.Gauge("pg_up", "up", {{"target", "b"}}, 0);
  std::string text = RenderText(m);
  EXPECT_THAT(text, HasSubstr("# HELP pg_up up\n# TYPE pg_up gauge\npg_up{target=\"a\"} 1\n"
                              "pg_up{target=\"b\"} 0\n"));
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

}  // namespace
}  // namespace poolwatch
