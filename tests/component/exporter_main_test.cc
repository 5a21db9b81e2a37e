// The real poolwatch binary: exit codes, --check-config output, signals.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>

#include "tests/support/stack.h"
#include "tests/support/util.h"

namespace poolwatch {
namespace {

using support::PoolwatchBin;
using support::RunCommand;
using support::TempDir;
using support::WriteFile;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

TEST(BinaryTest, CheckConfigAcceptsAGoodFile) {
  TempDir d;
  WriteFile(d.File("pw.yaml"), "targets:\n  postgres:\n    - {name: a, dsn: \"host=127.0.0.1\"}\n");
  std::string out;
  EXPECT_EQ(RunCommand({PoolwatchBin(), "--check-config", "-c", d.File("pw.yaml")}, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("ok (1 target(s))"));
}

TEST(BinaryTest, CheckConfigPrintsEveryProblemWithPositionAndExits2) {
  TempDir d;
  WriteFile(d.File("pw.yaml"), "sampling:\n  interval: soon\n  bogus: 1\ntargets:\n  postgres:\n"
                               "    - {name: a}\n");
  std::string out;
  EXPECT_EQ(RunCommand({PoolwatchBin(), "--check-config", "--config.file=" + d.File("pw.yaml")}, &out),
            2);
  EXPECT_THAT(out, HasSubstr(d.File("pw.yaml") + ":2:13: sampling.interval: invalid duration"));
  EXPECT_THAT(out, HasSubstr(d.File("pw.yaml") + ":3:3: sampling.bogus: unknown key"));
  EXPECT_THAT(out, HasSubstr("targets.postgres[0].dsn: is required"));
  EXPECT_THAT(out, HasSubstr("3 problem(s)"));
}

TEST(BinaryTest, UsageErrorsExit2AndVersionExits0) {
  std::string out;
  EXPECT_EQ(RunCommand({PoolwatchBin(), "--nope"}, &out), 2);
  EXPECT_THAT(out, HasSubstr("unknown flag --nope"));
  EXPECT_EQ(RunCommand({PoolwatchBin(), "--version"}, &out), 0);
  EXPECT_THAT(out, HasSubstr("poolwatch 0."));
  EXPECT_EQ(RunCommand({PoolwatchBin(), "--help"}, &out), 0);
  EXPECT_THAT(out, HasSubstr("--check-config"));
  EXPECT_EQ(RunCommand({PoolwatchBin(), "-c", "/nonexistent.yaml"}, &out), 2);
  EXPECT_THAT(out, HasSubstr("cannot open config file"));
}

TEST(BinaryTest, PortInUseExits1WithAClearMessage) {
  TempDir d;
  WriteFile(d.File("pw.yaml"), "targets:\n  postgres:\n    - {name: a, dsn: \"host=127.0.0.1 port=1\"}\n");
  support::PoolwatchProcess first(
      "targets:\n  postgres:\n    - {name: a, dsn: \"host=127.0.0.1 port=1\"}\n");
  ASSERT_TRUE(first.WaitReady());
  std::string out;
  EXPECT_EQ(RunCommand({PoolwatchBin(), "-c", d.File("pw.yaml"),
                        "--web.listen-address=127.0.0.1:" + std::to_string(first.port())},
                       &out, 10s),
            1);
  EXPECT_THAT(out, HasSubstr("cannot listen on 127.0.0.1:" + std::to_string(first.port())));
}

TEST(BinaryTest, SigtermStopsWithin5Seconds) {
  support::PoolwatchProcess pw(
      "sampling: {interval: 1s, timeout: 1s}\n"
      "targets:\n  postgres:\n    - {name: a, dsn: \"host=127.0.0.1 port=1\"}\n");
  ASSERT_TRUE(pw.WaitReady());
  auto start = std::chrono::steady_clock::now();
  pw.process().Signal(SIGTERM);
  EXPECT_EQ(pw.process().Wait(5s), 0) << pw.Logs();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_THAT(pw.Logs(), HasSubstr("stopped"));
}

TEST(BinaryTest, SighupWithBrokenConfigKeepsRunning) {
  support::PoolwatchProcess pw(
      "sampling: {interval: 200ms, timeout: 200ms}\n"
      "targets:\n  postgres:\n    - {name: a, dsn: \"host=127.0.0.1 port=1\"}\n");
  ASSERT_TRUE(pw.WaitReady());
  WriteFile(pw.config_path(), "targets: {postgres: [{name: a}]}\n");
  pw.process().Signal(SIGHUP);
  ASSERT_TRUE(pw.WaitMetric(
      [](const std::string& m) {
        return support::MetricValue(m, "poolwatch_config_last_reload_successful") == 0;
      },
      5s))
      << pw.Logs();
  EXPECT_TRUE(pw.process().Running());
  EXPECT_THAT(pw.Logs(), HasSubstr("keeping the running configuration"));
  EXPECT_THAT(pw.Logs(), HasSubstr("targets.postgres[0].dsn: is required"));
}

// The harness passes --web.listen-address and the file sets none: a reload keeps the flag's
// address instead of comparing it with the file's default and warning that it "changed".
TEST(BinaryTest, SighupKeepsTheCommandLineListenAddressWithoutAWarning) {
  const std::string config =
      "sampling: {interval: 200ms, timeout: 200ms}\n"
      "targets:\n  postgres:\n    - {name: a, dsn: \"host=127.0.0.1 port=1\"}\n";
  support::PoolwatchProcess pw(config);
  ASSERT_TRUE(pw.WaitReady());
  WriteFile(pw.config_path(), config + "    - {name: b, dsn: \"host=127.0.0.1 port=2\"}\n");
  pw.process().Signal(SIGHUP);
  ASSERT_TRUE(support::WaitUntil(
      [&] { return pw.Logs().find("configuration reloaded") != std::string::npos; }, 5s))
      << pw.Logs();
  EXPECT_THAT(pw.Logs(), Not(HasSubstr("listen_address changed")));
  EXPECT_EQ(support::HttpGet(pw.Url("/healthz")).status, 200) << "still on the flag's port";
}

// A duplicate key is an error with both positions (yaml-cpp keeps one silently),
// and a target name with a newline (from ${ENV}) is refused before it can forge a log line.
TEST(BinaryTest, DuplicateKeysAndForgedTargetNamesAreErrors) {
  TempDir d;
  WriteFile(d.File("dup.yaml"),
            "sampling:\n  interval: 5s\n  interval: 60s\ntargets:\n  postgres:\n"
            "    - {name: a, dsn: \"host=127.0.0.1\", name: b}\n");
  std::string out;
  EXPECT_EQ(RunCommand({PoolwatchBin(), "--check-config", "-c", d.File("dup.yaml")}, &out), 2);
  EXPECT_THAT(out, HasSubstr(d.File("dup.yaml") + ":3:3: sampling.interval: duplicate key (first "
                                                  "at line 2:3)"));
  EXPECT_THAT(out, HasSubstr("targets.postgres[0].name: duplicate key (first at line 6:8)"));
  std::printf("%s", out.c_str());
  WriteFile(d.File("name.yaml"),
            "targets:\n  postgres:\n    - {name: \"${PW_TEST_NAME}\", dsn: \"host=127.0.0.1\"}\n");
  EXPECT_EQ(RunCommand({"/usr/bin/env", "PW_TEST_NAME=main\n2026-01-01 error forged line",
                        PoolwatchBin(), "--check-config", "-c", d.File("name.yaml")},
                       &out),
            2);
  EXPECT_THAT(out, HasSubstr("targets.postgres[0].name: may contain only letters"));
  EXPECT_THAT(out, Not(HasSubstr("forged line"))) << "the bad name is never echoed";
  std::printf("%s", out.c_str());
}

}  // namespace
}  // namespace poolwatch
