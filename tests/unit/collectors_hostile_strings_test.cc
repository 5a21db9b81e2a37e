// Database strings of every shape (control characters, invalid UTF-8, 100 KB, Slack-like
// control sequences) reaching labels, /status JSON and --once text: escaped, valid and bounded.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/strings.h"
#include "collectors/collector.h"
#include "collectors/metrics.h"
#include "exporter/status_json.h"
#include "tests/support/fakes.h"

namespace poolwatch {
namespace {

using support::FakeConnection;
using support::Rows;
using ::testing::HasSubstr;
using ::testing::Not;

bool ValidUtf8(const std::string& s) {
  try {
    auto parsed = nlohmann::json::parse(nlohmann::json(s).dump());  // dump throws on bad UTF-8
    return parsed.is_string();
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

const std::vector<std::string>& HostileStrings() {
  static const std::vector<std::string> v = {
      std::string("nul\0byte", 8),
      "ctl\x01\x07\x1b[31mred\x1b[0m\r\nnext line\ttab\x7f",
      "bad utf8 \xff\xfe \xc3\x28 \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x82",
      std::string(100 * 1024, 'x'),
      std::string(100 * 1024, '\xe2'),
      "<!channel> <!here> <@U123|boss> *bold* `code` ```block``` &amp; <http://evil|click>",
      "quote\" backslash\\ brace} equals= comma,",
      "ok \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",  // valid multi-byte stays
  };
  return v;
}

TEST(BoundedUtf8Test, ValidBoundedAndKeepsGoodText) {
  EXPECT_EQ(BoundedUtf8("plain", 10, true), "plain");
  EXPECT_EQ(BoundedUtf8("ok \xc3\xa9\xe2\x82\xac", 100, true), "ok \xc3\xa9\xe2\x82\xac");
  EXPECT_EQ(BoundedUtf8("a\xff" "b", 100, false), "a\xef\xbf\xbd" "b");
  EXPECT_EQ(BoundedUtf8("a\tb", 100, true), "a\xef\xbf\xbd" "b");
  EXPECT_EQ(BoundedUtf8("a\nb", 100, true), "a\nb");
  EXPECT_EQ(BoundedUtf8("a\nb", 100, false), "a\nb");
  EXPECT_EQ(BoundedUtf8("abcdefghij", 8, true), "abcde...");
  // Never cuts inside a character.
  std::string euros;
  for (int i = 0; i < 10; ++i) euros += "\xe2\x82\xac";
  std::string cut = BoundedUtf8(euros, 10, true);
  EXPECT_LE(cut.size(), 10u);
  EXPECT_TRUE(ValidUtf8(cut)) << cut;
  EXPECT_EQ(cut, "\xe2\x82\xac\xe2\x82\xac...");
  for (const auto& s : HostileStrings()) {
    for (std::size_t max : {0u, 1u, 3u, 4u, 7u, 256u, 4096u}) {
      std::string out = BoundedUtf8(s, max, true);
      EXPECT_LE(out.size(), std::max<std::size_t>(max, 0));
      EXPECT_TRUE(ValidUtf8(out));
      for (unsigned char c : out) EXPECT_FALSE((c < 0x20 && c != '\n') || c == 0x7f);
    }
  }
}

TEST(HostileStringsTest, PgBouncerNamesReachLabelsEscapedValidAndBounded) {
  for (const auto& evil : HostileStrings()) {
    FakeConnection conn({{"SHOW POOLS", [&](std::string_view) {
                            return Rows({"database", "user", "cl_active", "cl_waiting"},
                                        {{evil, evil, "1", "2"}});
                          }}});
    TargetSample out;
    out.target = "t";
    auto collectors = MakeCollectors(TargetKind::kPgBouncer, {}, {}, {});
    for (auto& c : collectors) {
      try {
        c->Collect(conn, out);
      } catch (const std::exception&) {  // collectors scripted for other queries, and the
        // derived step, which refuses to compute without their results (as in the Sampler)
      }
    }
    std::string text = RenderText(out.metrics);
    EXPECT_TRUE(ValidUtf8(text)) << "exposition must be UTF-8";
    // Every sample line is one line: no raw newline or control character from the database.
    for (unsigned char c : text) EXPECT_FALSE((c < 0x20 && c != '\n') || c == 0x7f);
    std::size_t longest = 0;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= text.size(); ++i) {
      if (i == text.size() || text[i] == '\n') {
        longest = std::max(longest, i - start);
        start = i + 1;
      }
    }
    EXPECT_LT(longest, 2 * kMaxLabelValueBytes * 6 + 200) << "labels are bounded";
    EXPECT_EQ(out.metrics.Samples("pgbouncer_pools_client_waiting_connections", {}).size(), 1u);
    EXPECT_EQ(out.metrics.Samples("pgbouncer_pools_client_waiting_connections", {})[0].second, 2);
  }
}

TEST(HostileStringsTest, StatusJsonAndOnceTextAreValidAndBounded) {
  Snapshot snap;
  for (const auto& evil : HostileStrings()) {
    TargetStatus t;
    t.name = "t";
    t.kind = TargetKind::kPostgres;
    t.up = false;
    t.error = evil;
    t.summary["pools"] = evil;
    Offender o;
    o.category = "long_transaction";
    o.query = evil;
    o.application_name = evil;
    o.usename = evil;
    t.offenders.assign(150, o);
    snap.targets.push_back(t);
  }
  std::string json = DumpJson(StatusJson(snap), 2);
  nlohmann::json parsed = nlohmann::json::parse(json);  // valid JSON, valid UTF-8
  EXPECT_LT(json.size(), 20u * 1024 * 1024);
  for (const auto& t : parsed["targets"]) {
    EXPECT_LE(t["error"].get<std::string>().size(), kMaxErrorBytes);
    EXPECT_LE(t["summary"]["pools"].get<std::string>().size(), kMaxStatusFieldBytes);
    EXPECT_EQ(t["offenders"].size(), 100u);
    EXPECT_EQ(t["offenders_omitted"], 50);
    for (const auto& o : t["offenders"]) {
      EXPECT_LE(o["query"].get<std::string>().size(), kMaxStatusQueryBytes);
      EXPECT_LE(o["usename"].get<std::string>().size(), kMaxStatusFieldBytes);
    }
  }
  // Control characters in JSON are escaped, never raw.
  for (unsigned char c : json) EXPECT_FALSE(c < 0x20 && c != '\n');
  // Slack-like sequences pass through as inert text (the alert renderers escape for Slack).
  EXPECT_THAT(json, HasSubstr("<!channel>"));
  std::string text = StatusText(snap);
  EXPECT_TRUE(ValidUtf8(text));
  for (unsigned char c : text) EXPECT_FALSE((c < 0x20 && c != '\n') || c == 0x7f) << int(c);
  EXPECT_THAT(text, Not(HasSubstr("\x1b[31m")));
  EXPECT_LT(text.size(), HostileStrings().size() * (kMaxErrorBytes + 200));
}

}  // namespace
}  // namespace poolwatch
