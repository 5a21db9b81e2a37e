#include "collectors/redact.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace poolwatch {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(RedactTest, KeyValuePasswordInEveryQuoting) {
  EXPECT_EQ(Redact("host=db password=hunter2 user=u"), "host=db password=****** user=u");
  EXPECT_EQ(Redact("host=db password = 'hunter 2\\'s' user=u"), "host=db password = ****** user=u");
  EXPECT_EQ(Redact("PASSWORD=hunter2"), "PASSWORD=******");
  EXPECT_THAT(Redact("dsn \"host=a password=hunter2\" failed"), Not(HasSubstr("hunter2")));
}

TEST(RedactTest, UriUserinfo) {
  EXPECT_EQ(Redact("postgres://app:hunter2@db:5432/app"), "postgres://app:******@db:5432/app");
  EXPECT_EQ(Redact("postgresql://app:p%40ss@db/app?sslmode=require"),
            "postgresql://app:******@db/app?sslmode=require");
  // libpq reads an unencoded '?' or '#' as part of the password (found by fuzzing).
  EXPECT_EQ(Redact("postgres://app:W#1224@db:5432/x"), "postgres://app:******@db:5432/x");
  EXPECT_EQ(Redact("postgres://app:a?b@db/x"), "postgres://app:******@db/x");
  // A user without a password is left alone.
  EXPECT_EQ(Redact("postgres://app@db/app"), "postgres://app@db/app");
}

TEST(RedactTest, UriQueryPassword) {
  EXPECT_EQ(Redact("postgres://db/app?user=u&password=hunter2&sslmode=disable"),
            "postgres://db/app?user=u&password=******&sslmode=disable");
  EXPECT_EQ(Redact("postgres://db/app?password=hunter2"), "postgres://db/app?password=******");
}

TEST(RedactTest, WordsContainingPasswordAreNotMangled) {
  EXPECT_EQ(Redact("password authentication failed for user \"x\""),
            "password authentication failed for user \"x\"");
  EXPECT_EQ(Redact("no_password=1"), "no_password=1");
}

TEST(RedactTest, SlackWebhookPath) {
  EXPECT_EQ(Redact("POST https://hooks.slack.com/services/T000/B000/XXXX failed"),
            "POST https://hooks.slack.com/services/****** failed");
}

TEST(RedactTest, KnownSecretsAreScrubbedAnywhere) {
  EXPECT_EQ(RedactSecrets("server said: bad hunter2 here", {"hunter2"}),
            "server said: bad ****** here");
  // Too-short secrets are not scrubbed (they would mangle ordinary words).
  EXPECT_EQ(RedactSecrets("a b", {"a"}), "a b");
}

}  // namespace
}  // namespace poolwatch
