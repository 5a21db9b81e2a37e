#include "base/pattern.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace poolwatch {
namespace {

TEST(PatternTest, GlobMatchesTheWholeName) {
  EXPECT_TRUE(GlobMatch("poolwatch", "poolwatch"));
  EXPECT_FALSE(GlobMatch("poolwatch", "poolwatch2"));
  EXPECT_FALSE(GlobMatch("poolwatch", "Poolwatch")) << "case-sensitive";
  EXPECT_TRUE(GlobMatch("pg_dump*", "pg_dump 16"));
  EXPECT_TRUE(GlobMatch("pg_dump*", "pg_dump")) << "* matches an empty run";
  EXPECT_TRUE(GlobMatch("*-job", "nightly-report-job"));
  EXPECT_FALSE(GlobMatch("*-job", "nightly-report-job2"));
  EXPECT_TRUE(GlobMatch("*backup*", "nightly-backup-job"));
  EXPECT_TRUE(GlobMatch("app-?", "app-1"));
  EXPECT_FALSE(GlobMatch("app-?", "app-12"));
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_FALSE(GlobMatch("", "x"));
  EXPECT_TRUE(GlobMatch("", ""));
}

// Every exclude and allow list goes through MatchesAny: the alert rules' exclude_databases and
// exclude_applications (once prefix-only) take the same globs as the collectors' lists.
TEST(PatternTest, MatchesAnyIsTheListFormOfGlob) {
  const std::vector<std::string> patterns = {"report*", "*-batch", "app"};
  EXPECT_TRUE(MatchesAny("report-nightly", patterns));
  EXPECT_TRUE(MatchesAny("etl-batch", patterns));
  EXPECT_TRUE(MatchesAny("app", patterns));
  EXPECT_FALSE(MatchesAny("app2", patterns)) << "a name without * matches only itself";
  EXPECT_FALSE(MatchesAny("my-report", patterns)) << "report* is a prefix, not a substring";
  EXPECT_FALSE(MatchesAny("anything", {}));
}

}  // namespace
}  // namespace poolwatch
