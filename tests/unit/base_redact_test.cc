#include "base/redact.h"

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

// The candidates come from the DSN text as written, malformed or not.
TEST(RedactTest, DsnSecretCandidatesCoverWhatLibpqMisparses) {
  auto c = DsnSecretCandidates("host=x password=Pass Words-SecretH user=u");
  EXPECT_THAT(c, ::testing::Contains("Pass Words-SecretH"));
  EXPECT_THAT(c, ::testing::Contains("Words-SecretH"));
  c = DsnSecretCandidates("postgresql://u:Se/cret77@h:1/db");
  EXPECT_THAT(c, ::testing::Contains("Se/cret77"));
  EXPECT_THAT(c, ::testing::Contains("Se"));
  c = DsnSecretCandidates("postgresql://u@h/db?sslmode=require&password=Pa%41b&x=1");
  EXPECT_THAT(c, ::testing::Contains("Pa%41b"));
  EXPECT_THAT(c, ::testing::Contains("PaAb"));
  EXPECT_TRUE(DsnSecretCandidates("host=x user=y").empty());
}

TEST(RedactTest, LibpqErrorRedactMasksQuotedPasswordFragmentsOfAnyLength) {
  const std::string dsn = "postgresql://u:Se/cret77@127.0.0.1:1/db";
  EXPECT_EQ(LibpqErrorRedact("invalid integer value \"Se\" for connection option \"port\"", dsn,
                             {}),
            "invalid integer value \"******\" for connection option \"port\"");
  // A quoted host that is not part of the password stays readable.
  EXPECT_EQ(LibpqErrorRedact("could not translate host name \"db.internal\"", dsn, {}),
            "could not translate host name \"db.internal\"");
  EXPECT_THAT(LibpqErrorRedact("missing \"=\" after \"Words-SecretH\" in connection info string",
                               "host=x password=Pass Words-SecretH", {}),
              Not(HasSubstr("SecretH")));
  // An unencoded '@' in a URI password: libpq takes the host from after the first '@' and
  // quotes it, so the password's tail ("ss", two characters) must not survive.
  EXPECT_EQ(LibpqErrorRedact("could not translate host name \"ss@127.0.0.1\" to address",
                             "postgresql://u:p@ss@127.0.0.1:5432/db", {}),
            "could not translate host name \"******\" to address");
}

TEST(RedactTest, LongerSecretsAreMaskedBeforeTheirPieces) {
  EXPECT_EQ(RedactSecrets("auth failed for Se/cret77", {"Se/", "Se/cret77"}),
            "auth failed for ******");
}

}  // namespace
}  // namespace poolwatch
