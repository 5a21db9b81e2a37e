// The only file that touches libpq handles.
#include "collectors/pq_connection.h"

#include <libpq-fe.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/redact.h"
#include "base/strings.h"

namespace poolwatch {
namespace {

using PgConnPtr = std::unique_ptr<PGconn, decltype(&PQfinish)>;
using PgResultPtr = std::unique_ptr<PGresult, decltype(&PQclear)>;

int MillisLeft(SteadyTime deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return left.count() <= 0 ? 0 : static_cast<int>(left.count());
}

// Waits for `events` on `fd` until the deadline. Returns false on timeout.
bool WaitSocket(int fd, short events, SteadyTime deadline) {
  for (;;) {
    int ms = MillisLeft(deadline);
    if (ms == 0) return false;
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, ms);
    if (rc > 0) return true;
    if (rc == 0) return false;
    if (errno != EINTR) return true;  // let libpq see and report the error
  }
}

// WaitSocket for a connect: also gives up (returns false with `*cancelled` set) within ~50 ms
// of `cancel` becoming true.
bool WaitConnect(int fd, short events, SteadyTime deadline, const std::atomic<bool>* cancel,
                 bool* cancelled) {
  if (cancel == nullptr) return WaitSocket(fd, events, deadline);
  for (;;) {
    if (cancel->load()) {
      *cancelled = true;
      return false;
    }
    SteadyTime slice = std::min(deadline, std::chrono::steady_clock::now() +
                                              std::chrono::milliseconds(50));
    if (WaitSocket(fd, events, slice)) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
  }
}

void CollectNotice(void* arg, const char* message) {
  auto* sink = static_cast<std::vector<std::string>*>(arg);
  if (sink->size() < 16) sink->push_back(OneLine(message));
}

class PqConnection final : public Connection {
 public:
  PqConnection(PgConnPtr conn, std::vector<std::string> secrets)
      : conn_(std::move(conn)), secrets_(std::move(secrets)) {
    fd_.store(PQsocket(conn_.get()));
    PQsetNoticeProcessor(conn_.get(), &CollectNotice, &notices_);
    pid_ = PQbackendPID(conn_.get());
    version_ = PQserverVersion(conn_.get());
    deadline_ = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  }

  QueryResult Query(std::string_view sql) override {
    std::string q(sql);
    return Run([&] { return PQsendQuery(conn_.get(), q.c_str()); });
  }

  QueryResult QueryPrepared(std::string_view sql,
                            const std::vector<std::optional<std::string>>& params) override {
    std::string q(sql);
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
    const int n = static_cast<int>(values.size());
    if (!prepare_) {  // unnamed: parsed and planned per call, but always on one server
      return Run([&] {
        return PQsendQueryParams(conn_.get(), q.c_str(), n, nullptr, values.data(), nullptr,
                                 nullptr, 0);
      });
    }
    // Named after the text: behind a pooler that shares servers between sessions, a name
    // another session prepared is then the same statement, never a different one.
    std::uint64_t h = 14695981039346656037ULL;  // FNV-1a
    for (unsigned char c : q) h = (h ^ c) * 1099511628211ULL;
    char name[32];
    std::snprintf(name, sizeof name, "poolwatch_%016llx", static_cast<unsigned long long>(h));
    try {
      // A handful per session (one per distinct statement text), so never deallocated.
      if (prepared_.count(name) == 0) {
        Run([&] { return PQsendPrepare(conn_.get(), name, q.c_str(), n, nullptr); });
        prepared_.insert(name);
      }
      return Run([&] {
        return PQsendQueryPrepared(conn_.get(), name, n, values.data(), nullptr, nullptr, 0);
      });
    } catch (const DbError& e) {
      // The statement is gone (26000) or already there (42P05, prepared by another session):
      // only a pooler in transaction mode (PgBouncer before 1.21, or without
      // max_prepared_statements) does that, sending this session's calls to servers other
      // sessions used. This sample's call fails (its transaction is aborted); the session then
      // stops preparing.
      if (e.sqlstate() == "26000" || e.sqlstate() == "42P05") {
        prepared_.clear();
        prepare_ = false;
      }
      throw;
    }
  }

  std::vector<std::pair<std::string, std::string>> TakeNotifications() override {
    if (!healthy_) throw DbError("connection is closed", DownReason::kOther, "", true);
    // Reads whatever arrived without blocking; a peer that closed the session shows up here.
    if (!PQconsumeInput(conn_.get())) Fail("", "");
    std::vector<std::pair<std::string, std::string>> out;
    while (PGnotify* n = PQnotifies(conn_.get())) {
      out.emplace_back(n->relname ? n->relname : "", n->extra ? n->extra : "");
      PQfreemem(n);
    }
    return out;
  }

  void SetDeadline(SteadyTime deadline) override { deadline_ = deadline; }
  bool Healthy() const override {
    return healthy_ && PQstatus(conn_.get()) == CONNECTION_OK && !aborted_.load();
  }
  int BackendPid() const override { return pid_; }
  int ServerVersion() const override { return version_; }
  void Abort() override {
    aborted_.store(true);
    int fd = fd_.load();
    if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
  }

 private:
  // Sends with `send` (a PQsend* call) and waits for its results, bounded by the deadline.
  template <typename Send>
  QueryResult Run(Send send) {
    if (!healthy_) throw DbError("connection is closed", DownReason::kOther, "", true);
    notices_.clear();
    if (!send()) Fail("", "");
    // Flush what libpq could not write at once.
    for (;;) {
      int f = PQflush(conn_.get());
      if (f == 0) break;
      if (f < 0) Fail("", "");
      if (!WaitSocket(PQsocket(conn_.get()), POLLOUT | POLLIN, deadline_)) Timeout();
    }
    PgResultPtr last(nullptr, &PQclear);
    for (;;) {
      while (PQisBusy(conn_.get())) {
        if (!WaitSocket(PQsocket(conn_.get()), POLLIN, deadline_)) Timeout();
        if (!PQconsumeInput(conn_.get())) Fail("", "");
      }
      PGresult* r = PQgetResult(conn_.get());
      if (r == nullptr) break;
      last.reset(r);
      ExecStatusType st = PQresultStatus(r);
      if (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE || st == PGRES_NONFATAL_ERROR) {
        const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        std::string sqlstate = state ? state : "";
        std::string msg = OneLine(PQresultErrorMessage(r));
        // Drain the remaining results so the session stays usable.
        while (PGresult* rest = PQgetResult(conn_.get())) {
          PQclear(rest);
          if (PQisBusy(conn_.get()) && !WaitSocket(PQsocket(conn_.get()), POLLIN, deadline_)) {
            Timeout();
          }
        }
        Fail(sqlstate, msg);
      }
    }
    if (PQstatus(conn_.get()) != CONNECTION_OK) Fail("", "");
    QueryResult out = Convert(last.get());
    out.notices = notices_;
    return out;
  }

  static QueryResult Convert(PGresult* r) {
    if (r == nullptr || PQresultStatus(r) != PGRES_TUPLES_OK) return {};
    int nf = PQnfields(r);
    int nt = PQntuples(r);
    std::vector<std::string> cols;
    cols.reserve(nf);
    for (int c = 0; c < nf; ++c) cols.emplace_back(PQfname(r, c));
    std::vector<std::vector<std::optional<std::string>>> rows(nt);
    for (int t = 0; t < nt; ++t) {
      rows[t].reserve(nf);
      for (int c = 0; c < nf; ++c) {
        if (PQgetisnull(r, t, c)) {
          rows[t].emplace_back(std::nullopt);
        } else {
          rows[t].emplace_back(std::string(PQgetvalue(r, t, c), PQgetlength(r, t, c)));
        }
      }
    }
    return QueryResult(std::move(cols), std::move(rows));
  }

  [[noreturn]] void Timeout() {
    healthy_ = false;  // the server may still answer later: never reuse this session
    throw DbError("query timed out", DownReason::kTimeout, "57014", true);
  }

  [[noreturn]] void Fail(const std::string& sqlstate, std::string msg) {
    bool lost = PQstatus(conn_.get()) != CONNECTION_OK || aborted_.load();
    if (msg.empty()) msg = OneLine(PQerrorMessage(conn_.get()));
    if (lost) healthy_ = false;
    if (aborted_.load()) msg = "connection aborted (" + msg + ")";
    throw DbError(RedactSecrets(msg, secrets_), ClassifyError(sqlstate, msg), sqlstate, lost);
  }

  PgConnPtr conn_;
  std::vector<std::string> secrets_;
  std::vector<std::string> notices_;
  std::atomic<int> fd_{-1};
  std::atomic<bool> aborted_{false};
  bool healthy_ = true;
  std::set<std::string> prepared_;  // names of this session's prepared statements
  bool prepare_ = true;
  int pid_ = 0;
  int version_ = 0;
  SteadyTime deadline_;
};

}  // namespace

std::string CheckConninfo(const std::string& dsn) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(dsn.c_str(), &err);
  std::string out;
  if (opts == nullptr) {
    out = err ? OneLine(err) : "invalid connection string";
    if (err) PQfreemem(err);
    // libpq quotes the token it choked on, which may be part of the password.
    return LibpqErrorRedact(out, dsn, {});
  }
  PQconninfoFree(opts);
  return "";
}

std::unique_ptr<Connection> ConnectPq(const ConnectSpec& spec, SteadyTime deadline) {
  std::vector<std::string> secrets;
  if (!spec.password.empty()) secrets.push_back(spec.password);

  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(spec.dsn.c_str(), &err);
  if (opts == nullptr) {
    std::string msg = err ? OneLine(err) : "invalid connection string";
    if (err) PQfreemem(err);
    throw DbError(LibpqErrorRedact(msg, spec.dsn, secrets), DownReason::kOther, "", true);
  }
  std::map<std::string, std::string> kv;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val != nullptr && o->val[0] != '\0') kv[o->keyword] = o->val;
    if (std::string_view(o->keyword) == "password" && o->val && o->val[0]) {
      secrets.emplace_back(o->val);
    }
  }
  PQconninfoFree(opts);
  for (const auto& [k, v] : spec.params) kv[k] = v;
  for (const auto& [k, v] : spec.defaults) kv.emplace(k, v);
  if (!spec.password.empty()) kv["password"] = spec.password;
  // libpq's default gssencmode=prefer initialises Kerberos on every connect (credential cache
  // lookup, krb5.conf) even when nobody uses GSSAPI: 0.6 MB of RSS (BENCHMARKS.md). Off unless
  // the DSN or the environment asks for GSSAPI.
  if (kv.count("gssencmode") == 0 && kv.count("krbsrvname") == 0 && kv.count("gsslib") == 0 &&
      std::getenv("PGGSSENCMODE") == nullptr) {  // NOLINT(concurrency-mt-unsafe): read-only env
    kv["gssencmode"] = "disable";
  }

  std::vector<const char*> keys;
  std::vector<const char*> vals;
  for (const auto& [k, v] : kv) {
    keys.push_back(k.c_str());
    vals.push_back(v.c_str());
  }
  keys.push_back(nullptr);
  vals.push_back(nullptr);

  PgConnPtr conn(PQconnectStartParams(keys.data(), vals.data(), 0), &PQfinish);
  if (!conn) throw DbError("out of memory", DownReason::kOther, "", true);
  // An unencoded '@' or '/' in a URI password moves libpq's split: part of the password then
  // shows up as a host name or port in its errors. Scrub against every candidate from the DSN.
  for (auto& c : DsnSecretCandidates(spec.dsn)) secrets.push_back(std::move(c));
  if (PQstatus(conn.get()) == CONNECTION_BAD) {
    std::string msg = OneLine(PQerrorMessage(conn.get()));
    throw DbError(LibpqErrorRedact(msg, spec.dsn, secrets), ClassifyError("", msg), "", true);
  }
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  for (;;) {
    if (st == PGRES_POLLING_OK) break;
    if (st == PGRES_POLLING_FAILED) {
      std::string msg = OneLine(PQerrorMessage(conn.get()));
      throw DbError(LibpqErrorRedact(msg, spec.dsn, secrets), ClassifyError("", msg), "", true);
    }
    short ev = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    bool cancelled = false;
    if (!WaitConnect(PQsocket(conn.get()), ev, deadline, spec.cancel, &cancelled)) {
      if (cancelled) throw DbError("connect cancelled", DownReason::kOther, "", true);
      throw DbError("connect timed out", DownReason::kTimeout, "", true);
    }
    st = PQconnectPoll(conn.get());
  }
  return std::make_unique<PqConnection>(std::move(conn), std::move(secrets));
}

}  // namespace poolwatch
