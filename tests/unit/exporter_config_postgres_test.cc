// The PostgreSQL collector keys of a target (long_transactions, offenders, activity_breakdown,
// error_window, error_min_events).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "exporter/config.h"

namespace poolwatch {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

std::string Target(const std::string& extra) {
  return "targets:\n"
         "  postgres:\n"
         "    - name: main\n"
         "      dsn: \"host=127.0.0.1 dbname=app\"\n" +
         extra;
}

TEST(PgConfigTest, DefaultsWhenAbsent) {
  Config c;
  ConfigError e;
  ASSERT_TRUE(LoadConfigString(Target(""), "pw.yaml", c, e));
  const CollectorSettings& o = c.targets[0].collector_settings;
  EXPECT_EQ(o.error_window.window, 5min);
  EXPECT_EQ(o.error_window.min_events, 20);
  EXPECT_EQ(o.long_transactions.thresholds, std::vector<std::chrono::milliseconds>({60s, 300s}));
  EXPECT_THAT(o.long_transactions.exclude_application_names, Contains("poolwatch"));
  EXPECT_THAT(o.long_transactions.exclude_backend_types, Contains("autovacuum worker"));
  EXPECT_THAT(o.long_transactions.exclude_backend_types, Contains("walsender"));
  EXPECT_EQ(o.offenders.top, 5);
  EXPECT_EQ(o.offenders.query_length, 200);
  EXPECT_TRUE(o.offenders.mask_literals);
  EXPECT_TRUE(o.activity_breakdown.by.empty());
}

TEST(PgConfigTest, EveryKeyIsRead) {
  Config c;
  ConfigError e;
  ASSERT_TRUE(LoadConfigString(
      Target("      error_window: 3s\n"
             "      error_min_events: 5\n"
             "      long_transactions:\n"
             "        threshold: 2m\n"
             "        thresholds: [5m, 30s]\n"
             "        exclude_application_names: [\"pg_dump*\"]\n"
             "        exclude_backend_types: [walsender]\n"
             "      offenders: {top: 3, query_length: 80, mask_literals: false}\n"
             "      activity_breakdown: {by: [application_name], allow: [\"web-*\"], "
             "max_series: 10}\n"),
      "pw.yaml", c, e))
      << ::testing::PrintToString(e.problems);
  const CollectorSettings& o = c.targets[0].collector_settings;
  EXPECT_EQ(o.error_window.window, 3s);
  EXPECT_EQ(o.error_window.min_events, 5);
  EXPECT_EQ(o.long_transactions.threshold, 2min);
  EXPECT_EQ(o.long_transactions.thresholds, std::vector<std::chrono::milliseconds>({30s, 5min}));
  EXPECT_EQ(o.long_transactions.exclude_application_names, std::vector<std::string>({"pg_dump*"}));
  EXPECT_EQ(o.long_transactions.exclude_backend_types, std::vector<std::string>({"walsender"}));
  EXPECT_EQ(o.offenders.top, 3);
  EXPECT_EQ(o.offenders.query_length, 80);
  EXPECT_FALSE(o.offenders.mask_literals);
  EXPECT_EQ(o.activity_breakdown.by, std::vector<std::string>({"application_name"}));
  EXPECT_EQ(o.activity_breakdown.allow, std::vector<std::string>({"web-*"}));
  EXPECT_EQ(o.activity_breakdown.max_series, 10);
}

TEST(PgConfigTest, BadValuesAreReportedWithLineAndColumnAllAtOnce) {
  Config c;
  ConfigError e;
  ASSERT_FALSE(LoadConfigString(Target("      error_window: soon\n"
                                       "      long_transactions:\n"
                                       "        thresholds: [60s, forever]\n"
                                       "        treshold: 5m\n"
                                       "      offenders: {top: -1}\n"
                                       "      activity_breakdown: {by: [datname]}\n"),
                                "pw.yaml", c, e));
  EXPECT_THAT(e.problems, Contains(HasSubstr("pw.yaml:5:21: targets.postgres[0].error_window: "
                                             "invalid duration")));
  EXPECT_THAT(e.problems, Contains(HasSubstr("pw.yaml:7:27: targets.postgres[0].long_transactions."
                                             "thresholds[1]: must be a duration")));
  EXPECT_THAT(e.problems,
              Contains(HasSubstr("pw.yaml:8:9: targets.postgres[0].long_transactions.treshold")));
  EXPECT_THAT(e.problems, Contains(HasSubstr("targets.postgres[0].offenders.top")));
  EXPECT_THAT(e.problems, Contains(HasSubstr("targets.postgres[0].activity_breakdown.by[0]: "
                                             "unknown column \"datname\"")));
  EXPECT_GE(e.problems.size(), 5u);
}

TEST(PgConfigTest, PostgresKeysAreUnknownOnPgBouncerTargets) {
  Config c;
  ConfigError e;
  ASSERT_FALSE(
      LoadConfigString("targets:\n"
                       "  pgbouncer:\n"
                       "    - name: b\n"
                       "      dsn: \"host=127.0.0.1 dbname=pgbouncer\"\n"
                       "      long_transactions: {threshold: 1m}\n",
                       "pw.yaml", c, e));
  EXPECT_THAT(e.problems,
              Contains(HasSubstr("pw.yaml:5:7: targets.pgbouncer[0].long_transactions")));
}

}  // namespace
}  // namespace poolwatch
