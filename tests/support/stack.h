#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/util.h"

struct pg_conn;

namespace poolwatch::support {

/// A real PostgreSQL 15 + PgBouncer on loopback, started by scripts/pgstack in a temp dir on free
/// ports (as the unprivileged `postgres` account when we are root), torn down on destruction.
class PgStack {
 public:
  /// `env` tunes the stack (PGB_POOL_SIZE, PGB_MAX_CLIENT_CONN, PG_MAX_CONNECTIONS).
  explicit PgStack(std::map<std::string, std::string> env = {});
  ~PgStack();

  int pg_port() const { return pg_port_; }
  int pgb_port() const { return pgb_port_; }
  const std::string& dir() const { return dir_.path(); }
  /// poolwatch's own PostgreSQL role (pg_monitor).
  std::string PgDsn(const std::string& db = "postgres") const;
  /// Superuser, for the tests' own inspection and for inducing conditions.
  std::string SuperDsn(const std::string& db = "postgres") const;
  /// PgBouncer admin console as the stats_users account.
  std::string PgbDsn() const;
  /// An application client through PgBouncer (user app, database app).
  std::string AppViaPgbDsn() const;

  void StopPgBouncer();
  void StartPgBouncer();
  void StopPostgres();
  void StartPostgres();
  /// One more PgBouncer (number `n` >= 2) on a free port in front of the same PostgreSQL, with
  /// the same users and pools (a fleet's per-pod PgBouncers); returns its port.
  int StartExtraPgBouncer(int n);
  void StopExtraPgBouncer(int n);
  /// The admin console of extra PgBouncer `port` as the stats_users account.
  std::string PgbDsnAt(int port) const;

 private:
  void Run(const std::string& cmd, const std::map<std::string, std::string>& env = {},
           const std::vector<std::string>& args = {});
  std::vector<int> extra_;
  TempDir dir_;
  int pg_port_ = 0;
  int pgb_port_ = 0;
};

/// Starts one PgStack for a whole test binary (before its first test) and stops it after the
/// last, publishing it through `*slot`. Register once per binary:
///   PgStack* stack = nullptr;
///   const auto* const kEnv = ::testing::AddGlobalTestEnvironment(
///       new StackEnvironment(&stack, {{"PGB_POOL_SIZE", "2"}}));
class StackEnvironment : public ::testing::Environment {
 public:
  explicit StackEnvironment(PgStack** slot, std::map<std::string, std::string> env = {})
      : slot_(slot), env_(std::move(env)) {}
  void SetUp() override { *slot_ = new PgStack(env_); }
  void TearDown() override {
    delete *slot_;
    *slot_ = nullptr;
  }

 private:
  PgStack** slot_;
  std::map<std::string, std::string> env_;
};

/// A blocking libpq session for tests (not for production code).
class Sql {
 public:
  explicit Sql(const std::string& dsn);
  ~Sql();
  Sql(const Sql&) = delete;
  Sql& operator=(const Sql&) = delete;
  /// Runs `sql`; throws std::runtime_error with the server's message on failure.
  std::vector<std::vector<std::string>> Exec(const std::string& sql);
  /// The first column of the first row.
  std::string Scalar(const std::string& sql);
  /// Sends `sql` without waiting for the result (for statements that block).
  void Send(const std::string& sql);
  int BackendPid() const;

 private:
  pg_conn* conn_ = nullptr;
};

/// A running `poolwatch` binary with a generated config, HTTP on a free loopback port.
class PoolwatchProcess {
 public:
  /// `config_yaml` should not set web.listen_address (it is passed as a flag).
  PoolwatchProcess(const std::string& config_yaml, std::vector<std::string> extra_args = {},
                   std::map<std::string, std::string> env = {});
  ~PoolwatchProcess();
  std::string Url(const std::string& path = "/metrics") const;
  std::string Metrics() const;
  /// Waits until /readyz answers 200.
  bool WaitReady(std::chrono::milliseconds timeout = std::chrono::seconds(15));
  /// Waits until a /metrics sample satisfies `pred`.
  bool WaitMetric(const std::function<bool(const std::string&)>& pred,
                  std::chrono::milliseconds timeout);
  Process& process() { return *proc_; }
  std::string config_path() const { return dir_.File("poolwatch.yaml"); }
  std::string Logs() const { return proc_->Stderr(); }
  int port() const { return port_; }

 private:
  TempDir dir_;
  int port_;
  std::unique_ptr<Process> proc_;
};

}  // namespace poolwatch::support
