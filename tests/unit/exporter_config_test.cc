#include "exporter/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "base/time.h"
#include "tests/support/util.h"

namespace poolwatch {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::HasSubstr;

constexpr char kGood[] = R"(web:
  listen_address: ":9930"
sampling:
  interval: 5s
  timeout: 3s
targets:
  postgres:
    - name: main
      dsn: "host=127.0.0.1 port=5432 dbname=app user=poolwatch"
      pool: {min: 1, max: 2, connect_timeout: 5s, idle_timeout: 5m, max_lifetime: 1h,
             leak_timeout: 60s, backoff: {initial: 1s, max: 60s}}
  pgbouncer:
    - name: local
      dsn: "host=127.0.0.1 port=6432 dbname=pgbouncer user=stats"
)";

ConfigError MustFail(const std::string& yaml) {
  Config c;
  ConfigError e;
  EXPECT_FALSE(LoadConfigString(yaml, "pw.yaml", c, e)) << yaml;
  return e;
}

TEST(ConfigTest, GoodExampleParsesWithEveryValue) {
  Config c;
  ConfigError e;
  ASSERT_TRUE(LoadConfigString(kGood, "pw.yaml", c, e)) << ::testing::PrintToString(e.problems);
  EXPECT_EQ(c.listen_address, ":9930");
  EXPECT_EQ(c.interval, std::chrono::seconds(5));
  EXPECT_EQ(c.timeout, std::chrono::seconds(3));
  ASSERT_EQ(c.targets.size(), 2u);
  EXPECT_EQ(c.targets[0].name, "main");
  EXPECT_EQ(c.targets[0].kind, TargetKind::kPostgres);
  EXPECT_EQ(c.targets[0].pool.max, 2);
  EXPECT_EQ(c.targets[0].pool.idle_timeout, std::chrono::minutes(5));
  EXPECT_EQ(c.targets[0].pool.backoff_max, std::chrono::seconds(60));
  EXPECT_EQ(c.targets[1].name, "local");
  EXPECT_EQ(c.targets[1].kind, TargetKind::kPgBouncer);
}

TEST(ConfigTest, UnknownKeyIsAnErrorWithLineAndColumn) {
  auto e = MustFail(std::string(kGood) + "samplng:\n  interval: 5s\n");
  ASSERT_EQ(e.problems.size(), 1u);
  EXPECT_EQ(e.problems[0], "pw.yaml:15:1: samplng: unknown key");
}

TEST(ConfigTest, NestedUnknownKeyNamesTheFullPath) {
  auto e = MustFail(R"(targets:
  postgres:
    - name: a
      dsn: "host=x"
      pool: {maxx: 3}
)");
  ASSERT_EQ(e.problems.size(), 1u);
  EXPECT_EQ(e.problems[0], "pw.yaml:5:14: targets.postgres[0].pool.maxx: unknown key");
}

// MapReader::Section / Claim: an empty section is known and keeps its defaults; a section that is
// not a mapping, and an unknown key inside one, are errors with their position.
TEST(ConfigTest, EmptySectionsKeepTheirDefaultsAndBadOnesAreNamed) {
  Config c;
  ConfigError e;
  ASSERT_TRUE(LoadConfigString(R"(web:
sampling: ~
compatibility:
targets:
  postgres:
    - name: a
      dsn: "host=x"
      pool:
      collectors: ~
alerts:
  route: {by_severity: }
  incidents:
  delivery: ~
)",
                               "pw.yaml", c, e))
      << ::testing::PrintToString(e.problems);
  const Config defaults;
  EXPECT_EQ(c.interval, defaults.interval);
  EXPECT_EQ(c.legacy_stats_names, defaults.legacy_stats_names);
  ASSERT_EQ(c.targets.size(), 1u);
  EXPECT_EQ(c.targets[0].pool.max, PoolConfig{}.max);
  EXPECT_TRUE(c.alerts.enabled);

  auto bad = MustFail(R"(sampling: 5s
targets:
  postgres:
    - name: a
      dsn: "host=x"
      pool: {backoff: {initial: 1s, maxx: 2s}}
)");
  ASSERT_EQ(bad.problems.size(), 2u) << ::testing::PrintToString(bad.problems);
  EXPECT_EQ(bad.problems[0], "pw.yaml:1:11: sampling: must be a mapping");
  EXPECT_EQ(bad.problems[1], "pw.yaml:6:37: targets.postgres[0].pool.backoff.maxx: unknown key");
}

TEST(ConfigTest, WrongTypeBadDurationAndMissingDsnAreAllReportedAtOnce) {
  auto e = MustFail(R"(sampling:
  interval: fast
targets:
  postgres:
    - name: a
      pool: {max: many}
)");
  EXPECT_THAT(e.problems,
              Contains(AllOf(HasSubstr("pw.yaml:2:13: sampling.interval:"),
                             HasSubstr("invalid duration \"fast\""))));
  EXPECT_THAT(e.problems, Contains(AllOf(HasSubstr("pw.yaml:6:19: targets.postgres[0].pool.max:"),
                                         HasSubstr("must be an integer"))));
  EXPECT_THAT(e.problems,
              Contains(AllOf(HasSubstr("targets.postgres[0].dsn"), HasSubstr("is required"))));
  EXPECT_EQ(e.problems.size(), 3u) << ::testing::PrintToString(e.problems);
}

TEST(ConfigTest, BareNumberIsNotADuration) {
  auto e = MustFail(std::string(kGood).replace(std::string(kGood).find("interval: 5s"), 12,
                                               "interval: 5"));
  ASSERT_EQ(e.problems.size(), 1u);
  EXPECT_THAT(e.problems[0], HasSubstr("sampling.interval: invalid duration \"5\""));
}

TEST(ConfigTest, SyntaxErrorHasPosition) {
  auto e = MustFail("targets:\n  postgres: [\n");
  ASSERT_EQ(e.problems.size(), 1u);
  EXPECT_THAT(e.problems[0], ::testing::MatchesRegex("pw\\.yaml:[0-9]+:[0-9]+: \\(syntax\\): .*"));
}

TEST(ConfigTest, NoTargetsIsAnError) {
  auto e = MustFail("sampling: {interval: 5s}\n");
  EXPECT_THAT(e.problems, Contains(HasSubstr("at least one postgres or pgbouncer target")));
}

TEST(ConfigTest, DuplicateTargetNamesAndBadDsnAreErrors) {
  auto e = MustFail(R"(targets:
  postgres:
    - {name: a, dsn: "host=x"}
  pgbouncer:
    - {name: a, dsn: "host=y nonsense_option=1"}
)");
  EXPECT_THAT(e.problems, Contains(HasSubstr("targets.pgbouncer[0].name: duplicate target name")));
  EXPECT_THAT(e.problems, Contains(HasSubstr("targets.pgbouncer[0].dsn: invalid connection option")));
}

TEST(ConfigTest, EnvExpansionAndMissingVariable) {
  setenv("PW_TEST_HOST", "10.1.2.3", 1);
  Config c;
  ConfigError e;
  ASSERT_TRUE(LoadConfigString(
      "targets:\n  postgres:\n    - {name: a, dsn: \"host=${PW_TEST_HOST} user=x\"}\n", "pw.yaml",
      c, e));
  EXPECT_EQ(c.targets[0].dsn, "host=10.1.2.3 user=x");
  auto e2 = MustFail("targets:\n  postgres:\n    - {name: a, dsn: \"host=${PW_NOT_SET_EVER}\"}\n");
  ASSERT_EQ(e2.problems.size(), 1u);
  EXPECT_THAT(e2.problems[0], HasSubstr("pw.yaml:3:22: targets.postgres[0].dsn: environment "
                                        "variable PW_NOT_SET_EVER is not set"));
}

TEST(ConfigTest, PasswordFileIsReadAndUnreadableFileIsAnError) {
  support::TempDir dir;
  support::WriteFile(dir.File("pw"), "s3cret\n");
  Config c;
  ConfigError e;
  ASSERT_TRUE(LoadConfigString("targets:\n  postgres:\n    - {name: a, dsn: \"host=x\", "
                               "password_file: " + dir.File("pw") + "}\n",
                               "pw.yaml", c, e));
  EXPECT_EQ(c.targets[0].password, "s3cret");
  EXPECT_EQ(c.Secrets(), std::vector<std::string>{"s3cret"});
  auto e2 = MustFail("targets:\n  postgres:\n    - {name: a, dsn: \"host=x\", password_file: "
                     "/nonexistent/pw}\n");
  EXPECT_THAT(e2.problems, Contains(HasSubstr("password_file: cannot read file /nonexistent/pw")));
}

TEST(ConfigTest, PoolMinAboveMaxAndTimeoutAboveIntervalAreErrors) {
  auto e = MustFail(R"(sampling: {interval: 2s, timeout: 3s}
targets:
  postgres:
    - {name: a, dsn: "host=x", pool: {min: 3, max: 2}}
)");
  EXPECT_THAT(e.problems, Contains(HasSubstr("sampling.timeout: must not exceed")));
  EXPECT_THAT(e.problems, Contains(HasSubstr("pool.min: must not exceed pool.max (2)")));
}

TEST(ConfigTest, UnknownCollectorIsAnErrorAndKnownOneCanBeDisabled) {
  auto e = MustFail(R"(targets:
  postgres:
    - {name: a, dsn: "host=x", collectors: {pg_stat_activty: true}}
)");
  EXPECT_THAT(e.problems, Contains(HasSubstr("collectors.pg_stat_activty: unknown collector")));
  Config c;
  ConfigError e2;
  ASSERT_TRUE(LoadConfigString(
      "targets:\n  postgres:\n    - {name: a, dsn: \"host=x\", collectors: {pg_stat_activity: "
      "false}}\n",
      "pw.yaml", c, e2));
  EXPECT_EQ(c.targets[0].collectors_disabled, std::vector<std::string>{"pg_stat_activity"});
}

TEST(DurationTest, ParsesUnitsAndCombinations) {
  Duration d;
  ASSERT_TRUE(ParseDuration("500ms", d));
  EXPECT_EQ(d.count(), 500);
  ASSERT_TRUE(ParseDuration("1h30m", d));
  EXPECT_EQ(d, std::chrono::minutes(90));
  ASSERT_TRUE(ParseDuration("2m", d));
  EXPECT_EQ(d, std::chrono::seconds(120));
  EXPECT_FALSE(ParseDuration("5", d));
  EXPECT_FALSE(ParseDuration("5 s", d));
  EXPECT_FALSE(ParseDuration("-5s", d));
  EXPECT_FALSE(ParseDuration("s", d));
  EXPECT_EQ(FormatDuration(std::chrono::seconds(90)), "1m30s");
  EXPECT_EQ(FormatDuration(std::chrono::milliseconds(250)), "250ms");
}

}  // namespace
}  // namespace poolwatch
