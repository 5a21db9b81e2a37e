#include "collectors/sql_mask.h"

#include <gtest/gtest.h>

namespace poolwatch {
namespace {

TEST(SqlMaskTest, LiteralsBecomeQuestionMarks) {
  EXPECT_EQ(SanitizeQuery("SELECT * FROM users WHERE email = 'a@b.c' AND id = 42", 200, true),
            "SELECT * FROM users WHERE email = ? AND id = ?");
  EXPECT_EQ(SanitizeQuery("select 'it''s', E'a\\'b', 1.5e-3, $$body$$, $f$x$f$", 200, true),
            "select ?, ?, ?, ?, ?");
}

TEST(SqlMaskTest, IdentifiersAndParametersAreKept) {
  EXPECT_EQ(SanitizeQuery("SELECT t1.col2, \"Weird 9\" FROM t1 WHERE a = $1", 200, true),
            "SELECT t1.col2, \"Weird 9\" FROM t1 WHERE a = $1");
}

TEST(SqlMaskTest, MaskingCanBeTurnedOff) {
  EXPECT_EQ(SanitizeQuery("SELECT 'secret', 7", 200, false), "SELECT 'secret', 7");
}

TEST(SqlMaskTest, UnterminatedStringsAreMaskedToTheEnd) {
  EXPECT_EQ(SanitizeQuery("SELECT 'password123", 200, true), "SELECT ?");
  EXPECT_EQ(SanitizeQuery("SELECT $tag$ never closed", 200, true), "SELECT ?");
}

TEST(SqlMaskTest, WhitespaceCollapsesAndLengthIsBounded) {
  EXPECT_EQ(SanitizeQuery("SELECT\n\t  a\n  FROM b  ", 200, true), "SELECT a FROM b");
  std::string long_query = "SELECT " + std::string(500, 'x');
  std::string out = SanitizeQuery(long_query, 200, true);
  EXPECT_EQ(out.size(), 200u);
  EXPECT_EQ(out.substr(197), "...");
}

TEST(SqlMaskTest, TruncationNeverSplitsAUtf8Character) {
  std::string q;
  for (int i = 0; i < 50; ++i) q += "\xC3\xA9";  // 50 x 'é', 100 bytes
  std::string out = SanitizeQuery(q, 10, true);
  EXPECT_EQ(out, std::string("\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9") + "...");
}

}  // namespace
}  // namespace poolwatch
