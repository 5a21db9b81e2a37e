#include "collectors/connection.h"

#include <cerrno>
#include <cstdlib>

namespace poolwatch {

std::string_view DownReasonName(DownReason r) {
  switch (r) {
    case DownReason::kNone: return "";
    case DownReason::kAuthFailed: return "auth_failed";
    case DownReason::kRefused: return "refused";
    case DownReason::kTimeout: return "timeout";
    case DownReason::kStarting: return "starting";
    case DownReason::kPermissionDenied: return "permission_denied";
    case DownReason::kProtocol: return "protocol";
    case DownReason::kTooManyConnections: return "too_many_connections";
    case DownReason::kOther: return "other";
  }
  return "other";
}

const std::vector<DownReason>& AllDownReasons() {
  static const std::vector<DownReason> all = {
      DownReason::kAuthFailed, DownReason::kRefused,          DownReason::kTimeout,
      DownReason::kStarting,   DownReason::kPermissionDenied, DownReason::kProtocol,
      DownReason::kTooManyConnections, DownReason::kOther};
  return all;
}

DownReason ClassifyError(std::string_view sqlstate, std::string_view msg) {
  auto has = [&](std::string_view s) { return msg.find(s) != std::string_view::npos; };
  if (sqlstate == "28P01" || sqlstate == "28000" || has("password authentication failed") ||
      has("no pg_hba.conf entry") || has("SASL authentication failed") ||
      has("no password supplied") || has("password is required") || has("no such user") ||
      has("authentication failed")) {
    return DownReason::kAuthFailed;
  }
  if (sqlstate == "42501" || has("permission denied") || has("not allowed")) {
    return DownReason::kPermissionDenied;
  }
  // PostgreSQL at max_connections: "sorry, too many clients already", or "remaining connection
  // slots are reserved for ..." (superuser_reserved_connections, PG16's reserved_connections);
  // PgBouncer at max_client_conn: "no more connections allowed (max_client_conn)".
  if (sqlstate == "53300" || has("too many clients") ||
      has("remaining connection slots are reserved") || has("no more connections allowed") ||
      has("too many connections")) {
    return DownReason::kTooManyConnections;
  }
  if (sqlstate == "57P03" || has("starting up") || has("shutting down") ||
      has("in recovery mode") || has("pgbouncer is shutting down") ||
      has("pgbouncer cannot connect to server")) {
    return DownReason::kStarting;
  }
  if (has("Connection refused") || has("No such file or directory") ||
      has("could not connect to server")) {
    return DownReason::kRefused;
  }
  if (has("timeout expired") || has("timed out") || sqlstate == "57014") {
    return DownReason::kTimeout;
  }
  if (sqlstate == "08P01" || has("protocol") || has("lost synchronization") ||
      has("unexpected message") || has("invalid message")) {
    return DownReason::kProtocol;
  }
  return DownReason::kOther;
}

int QueryResult::Column(std::string_view name) const {
  for (std::size_t i = 0; i < columns_.size(); ++i) {
    if (columns_[i] == name) return static_cast<int>(i);
  }
  return -1;
}

std::optional<std::string_view> QueryResult::Text(int row, std::string_view column) const {
  int c = Column(column);
  if (c < 0 || row < 0 || row >= Rows()) return std::nullopt;
  const auto& cell = rows_[row][c];
  if (!cell) return std::nullopt;
  return std::string_view(*cell);
}

std::optional<double> QueryResult::Number(int row, std::string_view column) const {
  auto t = Text(row, column);
  if (!t || t->empty()) return std::nullopt;
  std::string s(*t);
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || *end != '\0' || errno == ERANGE) return std::nullopt;
  return v;
}

std::string QueryResult::String(int row, std::string_view column, std::string_view fallback) const {
  auto t = Text(row, column);
  return t ? std::string(*t) : std::string(fallback);
}

std::string InlineParams(std::string_view sql,
                         const std::vector<std::optional<std::string>>& params) {
  std::string out;
  out.reserve(sql.size());
  for (std::size_t i = 0; i < sql.size(); ++i) {
    std::size_t j = i + 1;
    while (sql[i] == '$' && j < sql.size() && sql[j] >= '0' && sql[j] <= '9') ++j;
    if (j == i + 1) {
      out += sql[i];
      continue;
    }
    const std::size_t n = std::stoul(std::string(sql.substr(i + 1, j - i - 1)));
    if (n == 0 || n > params.size()) {
      out.append(sql.substr(i, j - i));  // not ours: left as written
    } else if (!params[n - 1]) {
      out += "NULL";
    } else {
      out += '\'';
      for (char c : *params[n - 1]) out.append(c == '\'' ? 2 : 1, c);
      out += '\'';
    }
    i = j - 1;
  }
  return out;
}

QueryResult Connection::QueryPrepared(std::string_view sql,
                                      const std::vector<std::optional<std::string>>& params) {
  return Query(InlineParams(sql, params));
}

}  // namespace poolwatch
