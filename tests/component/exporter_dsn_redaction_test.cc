// libpq quotes part of a malformed DSN in its errors, which can be part of the
// password. The real binary's --check-config, --once (text and JSON), logs, /status and /metrics
// must show none of it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>

#include "tests/support/stack.h"
#include "tests/support/util.h"

namespace poolwatch {
namespace {

using support::HttpGet;
using support::PoolwatchBin;
using support::PoolwatchProcess;
using support::RunCommand;
using support::TempDir;
using support::WaitUntil;
using support::WriteFile;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

struct Case {
  std::string dsn;
  std::vector<std::string> forbidden;  // fragments of the password
};

// Rejected by libpq's parser: --check-config must say so without the quote.
const std::vector<Case>& ParseErrors() {
  static const std::vector<Case> k = {
      {"postgresql://poolwatch@127.0.0.1:1/postgres?password=Pa%zzSecretA",
       {"Pa%zzSecretA", "zzSecretA", "SecretA"}},
      {"host=127.0.0.1 port=1 user=poolwatch password=Pass Words-SecretH",
       {"Words-SecretH", "SecretH"}},
      {"host=127.0.0.1 port=1 password='Unterminated SecretQ", {"SecretQ", "Unterminated"}},
  };
  return k;
}

// Parsed, but an unencoded '@' or '/' in the URI password moves libpq's split: part of the
// password turns up as a host name or a port in the connect error.
const std::vector<Case>& RunTimeErrors() {
  static const std::vector<Case> k = {
      {"postgresql://poolwatch:Secr@tBzq/Xyz9@127.0.0.1:1/postgres", {"tBzq", "Secr", "Xyz9"}},
      {"postgresql://poolwatch:Se/cret77@127.0.0.1:1/postgres", {"\"Se\"", "cret77"}},
      {"postgresql://poolwatch:Pw@@127.0.0.1:1/postgres?password=Qu:ery5ecret",
       {"Qu:ery5ecret", "ery5ecret"}},
  };
  return k;
}

std::string ConfigFor(const std::vector<Case>& cases) {
  std::string y = "sampling: {interval: 300ms, timeout: 200ms}\ntargets:\n  postgres:\n";
  for (std::size_t i = 0; i < cases.size(); ++i) {
    y += "    - name: t" + std::to_string(i) + "\n      dsn: \"" + cases[i].dsn + "\"\n";
  }
  return y;
}

void ExpectNone(const std::string& where, const std::string& text, const std::vector<Case>& cs) {
  for (const auto& c : cs) {
    for (const auto& f : c.forbidden) {
      EXPECT_THAT(text, Not(HasSubstr(f))) << where << " leaks \"" << f << "\" of " << c.dsn;
    }
  }
}

TEST(DsnRedactionTest, CheckConfigNamesTheProblemWithoutThePassword) {
  int leaks_checked = 0;
  for (const Case& c : ParseErrors()) {
    TempDir d;
    WriteFile(d.File("pw.yaml"), ConfigFor({c}));
    std::string out;
    EXPECT_EQ(RunCommand({PoolwatchBin(), "--check-config", "-c", d.File("pw.yaml")}, &out), 2)
        << out;
    EXPECT_THAT(out, HasSubstr("targets.postgres[0].dsn"));
    ExpectNone("--check-config", out, {c});
    leaks_checked += static_cast<int>(c.forbidden.size());
    std::printf("--check-config: %s\n", out.substr(0, out.find('\n')).c_str());
  }
  std::printf("%d password fragments checked in --check-config output: none shown\n",
              leaks_checked);
}

TEST(DsnRedactionTest, OnceLogsStatusAndMetricsShowNoPasswordFragment) {
  TempDir d;
  WriteFile(d.File("pw.yaml"), ConfigFor(RunTimeErrors()));
  for (const char* output : {"text", "json", "prometheus"}) {
    std::string out;
    EXPECT_EQ(RunCommand({PoolwatchBin(), "--once", std::string("--output=") + output, "-c",
                          d.File("pw.yaml")},
                         &out, 20s),
              1)
        << out;
    ExpectNone(std::string("--once --output=") + output, out, RunTimeErrors());
    if (std::string(output) == "text") std::printf("--once:\n%s\n", out.c_str());
    if (std::string(output) == "json") {
      // --once fills each target's health level (it printed "").
      EXPECT_THAT(out, HasSubstr("\"health\": \"unhealthy\""));
      EXPECT_THAT(out, Not(HasSubstr("\"health\": \"\"")));
    }
  }
  PoolwatchProcess pw(ConfigFor(RunTimeErrors()), {"--log.level=debug"});
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();
  ASSERT_TRUE(WaitUntil([&] { return pw.Logs().find("is down") != std::string::npos; }, 5s));
  std::string status = HttpGet(pw.Url("/status")).body;
  EXPECT_THAT(status, HasSubstr("\"error\""));
  ExpectNone("/status", status, RunTimeErrors());
  ExpectNone("/metrics", pw.Metrics(), RunTimeErrors());
  ExpectNone("logs", pw.Logs(), RunTimeErrors());
}

}  // namespace
}  // namespace poolwatch
