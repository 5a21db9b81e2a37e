// The suite's 2-minute version of bench/soak: 1s sampling with connection churn and a PgBouncer
// restart every 40s; fails if poolwatch's resident memory, open fds or threads grow.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <iostream>

#include "tests/support/util.h"

namespace poolwatch {
namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
// ASan's quarantine holds freed memory on purpose, so RSS grows in a sanitizer build: judge fds
// and threads only there (the plain build judges RSS too).
constexpr const char* kRssCheck = "SOAK_RSS_CHECK=0";
#else
constexpr const char* kRssCheck = "SOAK_RSS_CHECK=1";
#endif

TEST(SoakIntegration, TwoMinutesOfChurnAndRestartsKeepResourcesFlat) {
  std::string out;
  int rc = support::RunCommand({"/usr/bin/env", "SOAK_RESTART_EVERY=40", "SOAK_RECORD_EVERY=3",
                                kRssCheck, "POOLWATCH_BIN=" + support::PoolwatchBin(), "bash",
                                support::SourceDir() + "/bench/soak", "120"},
                               &out, std::chrono::seconds(200));
  EXPECT_EQ(rc, 0) << out;
  EXPECT_THAT(out, ::testing::HasSubstr("soak: PASS")) << out;
  std::cout << out;
}

}  // namespace
}  // namespace poolwatch
