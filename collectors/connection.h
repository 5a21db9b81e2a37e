#pragma once

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace poolwatch {

using SteadyTime = std::chrono::steady_clock::time_point;

/// Why a target is down. Exported as the `reason` label of poolwatch_target_down_reason.
enum class DownReason {
  kNone,
  kAuthFailed,
  kRefused,
  kTimeout,
  kStarting,
  kPermissionDenied,
  kProtocol,
  kTooManyConnections,  // the server is at max_connections (SQLSTATE 53300) or max_client_conn
  kOther,
};
std::string_view DownReasonName(DownReason r);
/// Every reason but kNone, in export order.
const std::vector<DownReason>& AllDownReasons();
/// Classifies a libpq / server error from its SQLSTATE (may be empty) and message.
DownReason ClassifyError(std::string_view sqlstate, std::string_view message);

/// A failed connect or query. The message is already redacted.
class DbError : public std::runtime_error {
 public:
  DbError(const std::string& message, DownReason reason, std::string sqlstate,
          bool connection_lost)
      : std::runtime_error(message),
        reason_(reason),
        sqlstate_(std::move(sqlstate)),
        connection_lost_(connection_lost) {}
  DownReason reason() const { return reason_; }
  const std::string& sqlstate() const { return sqlstate_; }
  /// True when the connection is unusable afterwards (the target, not just one query, failed).
  bool connection_lost() const { return connection_lost_; }

 private:
  DownReason reason_;
  std::string sqlstate_;
  bool connection_lost_;
};

/// A result set copied out of libpq: columns are looked up by name, because PgBouncer adds and
/// renames columns between versions. Cheap to build in fakes.
class QueryResult {
 public:
  QueryResult() = default;
  QueryResult(std::vector<std::string> columns, std::vector<std::vector<std::optional<std::string>>> rows)
      : columns_(std::move(columns)), rows_(std::move(rows)) {}

  int Rows() const { return static_cast<int>(rows_.size()); }
  const std::vector<std::string>& Columns() const { return columns_; }
  /// Index of the column, or -1 when this server version does not have it.
  int Column(std::string_view name) const;
  bool Has(std::string_view name) const { return Column(name) >= 0; }
  /// The cell as text; nullopt for NULL or a missing column.
  std::optional<std::string_view> Text(int row, std::string_view column) const;
  /// The cell as a number; nullopt for NULL, a missing column or text that is not a number.
  std::optional<double> Number(int row, std::string_view column) const;
  /// The cell as text, or `fallback`.
  std::string String(int row, std::string_view column, std::string_view fallback = "") const;

  /// Notices the server sent while answering (old PgBouncer answers SHOW VERSION with one).
  std::vector<std::string> notices;

 private:
  std::vector<std::string> columns_;
  std::vector<std::vector<std::optional<std::string>>> rows_;
};

/// `sql` with each $n replaced by params[n-1] as an SQL literal ('...', quotes doubled) or NULL.
std::string InlineParams(std::string_view sql,
                         const std::vector<std::optional<std::string>>& params);

/// One database session. Used by one thread at a time, except Abort().
class Connection {
 public:
  virtual ~Connection() = default;
  /// Runs `sql` with the simple query protocol, bounded by the current deadline.
  /// Throws DbError; after a timeout the connection is lost (connection_lost() is true).
  virtual QueryResult Query(std::string_view sql) = 0;
  /// Runs `sql`, whose $1..$n are `params` (text; nullopt is NULL), as a prepared statement of
  /// this session: parsed and planned once per session instead of once per call, which is most
  /// of the server's cost of a long statement that returns few rows. The default inlines the
  /// parameters as literals (InlineParams) and calls Query(): fakes and wrappers see the
  /// statement as the server runs it.
  virtual QueryResult QueryPrepared(std::string_view sql,
                                    const std::vector<std::optional<std::string>>& params);
  /// Bounds every following Query() until the next call.
  virtual void SetDeadline(SteadyTime deadline) = 0;
  /// False once the session broke; the pool then discards it.
  virtual bool Healthy() const = 0;
  /// Server backend pid (0 for PgBouncer's admin console, which has none of its own).
  virtual int BackendPid() const = 0;
  /// Server version as libpq reports it (e.g. 150020), or 0.
  virtual int ServerVersion() const = 0;
  /// Thread-safe: makes a call blocked in another thread fail promptly (leak reclaim, shutdown).
  virtual void Abort() = 0;
  /// Asynchronous notifications (LISTEN) received so far, as (channel, payload), oldest first;
  /// reads what the socket holds without blocking. Throws DbError when the session broke.
  virtual std::vector<std::pair<std::string, std::string>> TakeNotifications() { return {}; }
};

}  // namespace poolwatch
