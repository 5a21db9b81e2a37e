#include "tests/support/stack.h"

#include <algorithm>

#include <libpq-fe.h>
#include <signal.h>

#include <stdexcept>

namespace poolwatch::support {

PgStack::PgStack(std::map<std::string, std::string> env) {
  Run("start", env);
  std::string e = ReadFile(dir_.File("stack.env"));
  auto get = [&](const std::string& key) {
    auto p = e.find(key + "=");
    if (p == std::string::npos) throw std::runtime_error("stack.env lacks " + key);
    return std::stoi(e.substr(p + key.size() + 1));
  };
  pg_port_ = get("PG_PORT");
  pgb_port_ = get("PGB_PORT");
}

PgStack::~PgStack() {
  for (int n : std::vector<int>(extra_)) {
    try {
      StopExtraPgBouncer(n);
    } catch (...) {
    }
  }
  try {
    Run("stop");
  } catch (...) {
  }
}

int PgStack::StartExtraPgBouncer(int n) {
  int port = FreePort();
  Run("start-extra-pgbouncer", {}, {std::to_string(n), std::to_string(port)});
  extra_.push_back(n);
  return port;
}

void PgStack::StopExtraPgBouncer(int n) {
  Run("stop-extra-pgbouncer", {}, {std::to_string(n)});
  extra_.erase(std::remove(extra_.begin(), extra_.end(), n), extra_.end());
}

std::string PgStack::PgbDsnAt(int port) const {
  return "host=127.0.0.1 port=" + std::to_string(port) +
         " dbname=pgbouncer user=stats password=statspass";
}

void PgStack::Run(const std::string& cmd, const std::map<std::string, std::string>& env,
                  const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/env"};
  for (const auto& [k, v] : env) argv.push_back(k + "=" + v);
  argv.push_back(SourceDir() + "/scripts/pgstack");
  argv.push_back(cmd);
  argv.push_back(dir_.path());
  for (const auto& a : args) argv.push_back(a);
  std::string out;
  int rc = RunCommand(argv, &out, std::chrono::seconds(120));
  if (rc != 0) throw std::runtime_error("pgstack " + cmd + " failed (" + std::to_string(rc) + "): " + out);
}

std::string PgStack::PgDsn(const std::string& db) const {
  return "host=127.0.0.1 port=" + std::to_string(pg_port_) + " dbname=" + db + " user=poolwatch";
}
std::string PgStack::SuperDsn(const std::string& db) const {
  return "host=127.0.0.1 port=" + std::to_string(pg_port_) + " dbname=" + db + " user=postgres";
}
std::string PgStack::PgbDsn() const {
  return "host=127.0.0.1 port=" + std::to_string(pgb_port_) +
         " dbname=pgbouncer user=stats password=statspass";
}
std::string PgStack::AppViaPgbDsn() const {
  return "host=127.0.0.1 port=" + std::to_string(pgb_port_) +
         " dbname=app user=app password=apppass";
}
void PgStack::StopPgBouncer() { Run("stop-pgbouncer"); }
void PgStack::StartPgBouncer() { Run("start-pgbouncer"); }
void PgStack::StopPostgres() { Run("stop-postgres"); }
void PgStack::StartPostgres() { Run("start-postgres"); }

Sql::Sql(const std::string& dsn) {
  conn_ = PQconnectdb((dsn + " connect_timeout=10").c_str());
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(conn_);
    PQfinish(conn_);
    conn_ = nullptr;
    throw std::runtime_error("test connect failed: " + msg);
  }
}

Sql::~Sql() {
  if (conn_) PQfinish(conn_);
}

std::vector<std::vector<std::string>> Sql::Exec(const std::string& sql) {
  // Drain a result left by Send().
  while (PGresult* r = PQgetResult(conn_)) PQclear(r);
  PGresult* r = PQexec(conn_, sql.c_str());
  ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    std::string msg = PQresultErrorMessage(r);
    PQclear(r);
    throw std::runtime_error("test query failed: " + msg + " in: " + sql);
  }
  std::vector<std::vector<std::string>> rows;
  for (int i = 0; i < PQntuples(r); ++i) {
    std::vector<std::string> row;
    for (int c = 0; c < PQnfields(r); ++c) row.emplace_back(PQgetvalue(r, i, c));
    rows.push_back(std::move(row));
  }
  PQclear(r);
  return rows;
}

std::string Sql::Scalar(const std::string& sql) {
  auto rows = Exec(sql);
  if (rows.empty() || rows[0].empty()) throw std::runtime_error("no rows from: " + sql);
  return rows[0][0];
}

void Sql::Send(const std::string& sql) {
  if (!PQsendQuery(conn_, sql.c_str())) {
    throw std::runtime_error(std::string("send failed: ") + PQerrorMessage(conn_));
  }
}

int Sql::BackendPid() const { return PQbackendPID(conn_); }

PoolwatchProcess::PoolwatchProcess(const std::string& config_yaml,
                                   std::vector<std::string> extra_args,
                                   std::map<std::string, std::string> env)
    : port_(FreePort()) {
  WriteFile(config_path(), config_yaml);
  std::vector<std::string> argv = {PoolwatchBin(), "--config.file=" + config_path(),
                                   "--web.listen-address=127.0.0.1:" + std::to_string(port_)};
  for (auto& a : extra_args) argv.push_back(a);
  proc_ = std::make_unique<Process>(argv, env);
}

PoolwatchProcess::~PoolwatchProcess() {
  if (proc_ && proc_->Running()) {
    proc_->Signal(SIGTERM);
    if (proc_->Wait(std::chrono::seconds(10)) < 0) proc_->Signal(SIGKILL);
  }
}

std::string PoolwatchProcess::Url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

std::string PoolwatchProcess::Metrics() const {
  auto r = HttpGet(Url("/metrics"));
  return r.status == 200 ? r.body : "";
}

bool PoolwatchProcess::WaitReady(std::chrono::milliseconds timeout) {
  return WaitUntil([&] { return HttpGet(Url("/readyz"), {}, 1000).status == 200; }, timeout);
}

bool PoolwatchProcess::WaitMetric(const std::function<bool(const std::string&)>& pred,
                                  std::chrono::milliseconds timeout) {
  return WaitUntil([&] { return pred(Metrics()); }, timeout);
}

}  // namespace poolwatch::support
