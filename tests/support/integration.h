#pragma once
// The preamble of every integration test binary (tests/integration/*_test.cc): the one real
// PostgreSQL + PgBouncer stack of the binary, the names the tests use, and the YAML pieces of a
// poolwatch config against that stack. A test file includes this header instead of repeating
// them; what only one binary needs stays in that binary.
//
// The using-declarations below are deliberate in a header: this one is included only by the
// integration test files, each a program of its own, and they all read the same names.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>

#include "tests/support/stack.h"
#include "tests/support/util.h"

namespace poolwatch {
namespace support {

/// The binary's one PgStack, started with `env` (PGB_POOL_SIZE, PGB_MAX_CLIENT_CONN,
/// PG_MAX_CONNECTIONS, PGB_ALIAS) before the first test and stopped after the last. Call it once,
/// at namespace scope, and keep the reference: `PgStack*& stack = support::SharedStack();`. The
/// pointer is null until the environment has started.
PgStack*& SharedStack(std::map<std::string, std::string> env = {});

/// `sampling: {interval: I, timeout: T}` and its newline: the first line of every config here.
std::string SamplingYaml(const std::string& interval = "500ms",
                         const std::string& timeout = "400ms");
/// One entry of a `targets:` list (`postgres:` or `pgbouncer:`), `extra` being more of its
/// (six-space indented) keys.
std::string TargetYaml(const std::string& name, const std::string& dsn,
                       const std::string& extra = "");
/// The target key that makes a lost target come back within a fraction of a second.
inline constexpr const char* kQuickBackoff =
    "      pool: {backoff: {initial: 100ms, max: 200ms}}\n";

}  // namespace support

using support::HttpGet;
using support::MetricValue;
using support::PgStack;
using support::PoolwatchProcess;
using support::Sql;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;  // NOLINT(google-build-using-namespace)

}  // namespace poolwatch
