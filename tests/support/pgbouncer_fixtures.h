// SHOW result sets as each PgBouncer version shapes them, for the column-tolerance tests: the same
// situation (one saturated pool with three waiting clients, one server linked to a client that
// has been silent for two minutes) rendered with the column lists of PgBouncer 1.7, 1.8, 1.12,
// 1.18, 1.24 and 1.25.
//
// Column lists: 1.18 as Debian 12's PgBouncer answers (checked against the real server); the
// others from PgBouncer's changelog and usage docs: 1.8 added
// maxwait_us, wait/wait_us, paused/disabled, SHOW STATS_TOTALS (before: SHOW STATS with
// total_requests); 1.9 close_needed; min_pool_size by 1.12; 1.12 SHOW VERSION as a row (a NOTICE
// before); 1.18 the cancel columns and application_name, SHOW CONFIG's `default`; 1.21
// prepared_statements; 1.23 replication, server_assignment_count; 1.24 reserve_pool ->
// reserve_pool_size, server_lifetime, load_balance_hosts, client connection limits, parse/bind
// counters, id; 1.25 clients in state `idle`, and the server_closed_count / server_lifetime
// totals of the current docs (poolwatch does not export those two: they count as unknown).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tests/support/fakes.h"

namespace poolwatch::support {

using Row = std::map<std::string, std::string>;

/// Projects logical rows (every column any version has) onto one version's column list.
inline QueryResult Project(const std::vector<std::string>& cols, const std::vector<Row>& rows) {
  std::vector<std::vector<std::string>> cells;
  for (const auto& r : rows) {
    std::vector<std::string> line;
    for (const auto& c : cols) {
      auto it = r.find(c);
      line.push_back(it == r.end() ? "\\N" : it->second);
    }
    cells.push_back(std::move(line));
  }
  return Rows(cols, cells);
}

/// What one PgBouncer version answers: SQL -> result; a SHOW it does not know is absent.
struct PgbVersionFixture {
  std::string name;  // "1.18"
  std::map<std::string, QueryResult> answers;
};

// The fake clock's wall time is 2027-01-15 08:00:00 UTC (FakeClock's epoch 1'800'000'000).
inline std::vector<Row> PoolRows() {
  return {
      {{"database", "app"},
       {"user", "app"},
       {"cl_active", "2"},
       {"cl_waiting", "3"},
       {"cl_cancel_req", "0"},
       {"cl_active_cancel_req", "0"},
       {"cl_waiting_cancel_req", "0"},
       {"sv_active", "2"},
       {"sv_active_cancel", "0"},
       {"sv_being_canceled", "0"},
       {"sv_idle", "0"},
       {"sv_used", "0"},
       {"sv_tested", "0"},
       {"sv_login", "0"},
       {"maxwait", "4"},
       {"maxwait_us", "250000"},
       {"pool_mode", "transaction"},
       {"load_balance_hosts", "0"}},
      {{"database", "pgbouncer"},
       {"user", "pgbouncer"},
       {"cl_active", "1"},
       {"cl_waiting", "0"},
       {"cl_cancel_req", "0"},
       {"cl_active_cancel_req", "0"},
       {"cl_waiting_cancel_req", "0"},
       {"sv_active", "0"},
       {"sv_active_cancel", "0"},
       {"sv_being_canceled", "0"},
       {"sv_idle", "0"},
       {"sv_used", "0"},
       {"sv_tested", "0"},
       {"sv_login", "0"},
       {"maxwait", "0"},
       {"maxwait_us", "0"},
       {"pool_mode", "statement"},
       {"load_balance_hosts", "0"}},
  };
}

// SHOW STATS_TOTALS names; the SHOW STATS forms are derived (total_ prefix, renames below).
inline std::vector<Row> StatsRows() {
  return {
      {{"database", "app"},
       {"server_assignment_count", "1100"},
       {"xact_count", "1000"},
       {"query_count", "2500"},
       {"server_closed_count", "7"},
       {"bytes_received", "123456"},
       {"bytes_sent", "654321"},
       {"xact_time", "5000000"},
       {"query_time", "2500000"},
       {"wait_time", "1500000"},
       {"server_lifetime", "90000000"},
       {"client_parse_count", "10"},
       {"server_parse_count", "4"},
       {"bind_count", "12"}},
      {{"database", "pgbouncer"},
       {"server_assignment_count", "0"},
       {"xact_count", "3"},
       {"query_count", "3"},
       {"server_closed_count", "0"},
       {"bytes_received", "0"},
       {"bytes_sent", "0"},
       {"xact_time", "0"},
       {"query_time", "0"},
       {"wait_time", "0"},
       {"server_lifetime", "0"},
       {"client_parse_count", "0"},
       {"server_parse_count", "0"},
       {"bind_count", "0"}},
  };
}

inline std::vector<Row> ShowStatsRows() {
  std::vector<Row> out;
  for (const auto& r : StatsRows()) {
    Row s;
    for (const auto& [k, v] : r) {
      if (k == "database") {
        s[k] = v;
      } else if (k == "bytes_received") {
        s["total_received"] = v;
      } else if (k == "bytes_sent") {
        s["total_sent"] = v;
      } else {
        s["total_" + k] = v;
      }
    }
    s["total_requests"] = r.at("query_count");  // < 1.8
    s["avg_req"] = s["avg_recv"] = s["avg_sent"] = s["avg_query"] = "0";
    s["avg_xact_count"] = s["avg_query_count"] = s["avg_xact_time"] = "0";
    s["avg_query_time"] = s["avg_wait_time"] = "0";
    out.push_back(s);
  }
  return out;
}

inline std::vector<Row> DatabaseRows() {
  return {
      {{"name", "app"},
       {"host", "10.0.0.5"},
       {"port", "5432"},
       {"database", "app"},
       {"force_user", ""},
       {"pool_size", "2"},
       {"min_pool_size", "0"},
       {"reserve_pool", "1"},
       {"reserve_pool_size", "1"},
       {"server_lifetime", "3600"},
       {"pool_mode", ""},
       {"load_balance_hosts", ""},
       {"max_connections", "0"},
       {"current_connections", "2"},
       {"max_client_connections", "0"},
       {"current_client_connections", "5"},
       {"paused", "0"},
       {"disabled", "0"}},
      {{"name", "pgbouncer"},
       {"host", ""},
       {"port", "6432"},
       {"database", "pgbouncer"},
       {"force_user", "pgbouncer"},
       {"pool_size", "2"},
       {"min_pool_size", "0"},
       {"reserve_pool", "0"},
       {"reserve_pool_size", "0"},
       {"server_lifetime", "3600"},
       {"pool_mode", "statement"},
       {"load_balance_hosts", ""},
       {"max_connections", "0"},
       {"current_connections", "0"},
       {"max_client_connections", "0"},
       {"current_client_connections", "1"},
       {"paused", "0"},
       {"disabled", "0"}},
  };
}

inline std::vector<Row> ListRows() {
  std::vector<Row> out;
  for (auto [list, items] :
       std::vector<std::pair<std::string, std::string>>{{"databases", "2"},
                                                        {"users", "3"},
                                                        {"pools", "2"},
                                                        {"free_clients", "44"},
                                                        {"used_clients", "6"},
                                                        {"login_clients", "0"},
                                                        {"free_servers", "0"},
                                                        {"used_servers", "2"},
                                                        {"dns_names", "0"},
                                                        {"dns_zones", "0"},
                                                        {"dns_queries", "0"},
                                                        {"dns_pending", "0"}}) {
    out.push_back({{"list", list}, {"items", items}});
  }
  return out;
}

inline std::vector<Row> ConfigRows() {
  std::vector<Row> out;
  for (auto [key, value] :
       std::vector<std::pair<std::string, std::string>>{{"listen_port", "6432"},
                                                        {"max_client_conn", "100"},
                                                        {"max_user_connections", "0"},
                                                        {"default_pool_size", "20"},
                                                        {"pool_mode", "transaction"}}) {
    out.push_back({{"key", key}, {"value", value}, {"default", value}, {"changeable", "yes"}});
  }
  return out;
}

inline Row Socket(std::string type, std::string user, std::string db, std::string state,
                  std::string port, std::string request_time, std::string wait, std::string wait_us,
                  std::string ptr, std::string link, std::string application_name) {
  return {{"type", type},
          {"user", user},
          {"database", db},
          {"replication", "none"},
          {"state", state},
          {"addr", type == "C" ? "10.1.2.3" : "10.0.0.5"},
          {"port", port},
          {"local_addr", "127.0.0.1"},
          {"local_port", "6432"},
          {"connect_time", "2027-01-15 07:50:00 UTC"},
          {"request_time", request_time},
          {"wait", wait},
          {"wait_us", wait_us},
          {"close_needed", "0"},
          {"ptr", ptr},
          {"link", link},
          {"remote_pid", type == "S" ? "4711" : "0"},
          {"tls", ""},
          {"application_name", application_name},
          {"prepared_statements", "0"},
          {"id", ptr.substr(ptr.size() - 2)}};
}

// Two clients linked to the pool's two servers: one silent for 120 s (a leak past the default
// 60 s), one that sent a request 5 s ago; three waiting clients; the admin console's own client.
inline std::vector<Row> ClientRows(bool idle_state) {
  std::vector<Row> rows = {
      Socket("C", "app", "app", "active", "40001", "2027-01-15 07:58:00 UTC", "0", "0", "0xc01",
             "0x501", "billing-worker"),
      Socket("C", "app", "app", "active", "40002", "2027-01-15 07:59:55 UTC", "0", "0", "0xc02",
             "0x502", "api"),
      Socket("C", "app", "app", "waiting", "40003", "2027-01-15 07:59:56 UTC", "4", "250000",
             "0xc03", "", "report <!channel>"),
      Socket("C", "app", "app", "waiting", "40004", "2027-01-15 07:59:59 UTC", "1", "500000",
             "0xc04", "", "api"),
      Socket("C", "app", "app", "waiting", "40005", "2027-01-15 08:00:00 UTC", "0", "200000",
             "0xc05", "", "api"),
      Socket("C", "stats", "pgbouncer", "active", "40006", "2027-01-15 08:00:00 UTC", "0", "0",
             "0xc06", "", "poolwatch"),
  };
  if (idle_state) {
    rows.push_back(Socket("C", "app", "app", "idle", "40007", "2027-01-15 07:59:00 UTC", "0", "0",
                          "0xc07", "", "api"));
  }
  return rows;
}

inline std::vector<Row> ServerRows() {
  return {
      Socket("S", "app", "app", "active", "5432", "2027-01-15 07:58:00 UTC", "0", "0", "0x501",
             "0xc01", "billing-worker"),
      Socket("S", "app", "app", "active", "5432", "2027-01-15 07:59:55 UTC", "0", "0", "0x502",
             "0xc02", "api"),
  };
}

inline std::vector<std::string> Cols(std::initializer_list<const char*> c) {
  return std::vector<std::string>(c.begin(), c.end());
}

inline QueryResult VersionNotice(const std::string& notice) {
  QueryResult r;
  r.notices.push_back(notice);
  return r;
}

inline std::vector<PgbVersionFixture> PgbVersionFixtures() {
  const auto pools17 = Cols({"database", "user", "cl_active", "cl_waiting", "sv_active", "sv_idle",
                             "sv_used", "sv_tested", "sv_login", "maxwait", "pool_mode"});
  const auto pools18 =
      Cols({"database", "user", "cl_active", "cl_waiting", "sv_active", "sv_idle", "sv_used",
            "sv_tested", "sv_login", "maxwait", "maxwait_us", "pool_mode"});
  const auto pools118 =
      Cols({"database", "user", "cl_active", "cl_waiting", "cl_active_cancel_req",
            "cl_waiting_cancel_req", "sv_active", "sv_active_cancel", "sv_being_canceled",
            "sv_idle", "sv_used", "sv_tested", "sv_login", "maxwait", "maxwait_us", "pool_mode"});
  auto pools124 = pools118;
  pools124.push_back("load_balance_hosts");

  const auto stats17 = Cols({"database", "total_requests", "total_received", "total_sent",
                             "total_query_time", "avg_req", "avg_recv", "avg_sent", "avg_query"});
  const auto totals18 = Cols({"database", "xact_count", "query_count", "bytes_received",
                              "bytes_sent", "xact_time", "query_time", "wait_time"});
  const auto totals124 =
      Cols({"database", "server_assignment_count", "xact_count", "query_count", "bytes_received",
            "bytes_sent", "xact_time", "query_time", "wait_time", "client_parse_count",
            "server_parse_count", "bind_count"});
  const auto totals125 = Cols({"database", "xact_count", "query_count", "server_assignment_count",
                               "server_closed_count", "bytes_received", "bytes_sent", "xact_time",
                               "query_time", "wait_time", "server_lifetime", "client_parse_count",
                               "server_parse_count", "bind_count"});

  const auto dbs17 = Cols({"name", "host", "port", "database", "force_user", "pool_size",
                           "reserve_pool", "pool_mode", "max_connections", "current_connections"});
  const auto dbs18 =
      Cols({"name", "host", "port", "database", "force_user", "pool_size", "reserve_pool",
            "pool_mode", "max_connections", "current_connections", "paused", "disabled"});
  const auto dbs112 = Cols({"name", "host", "port", "database", "force_user", "pool_size",
                            "min_pool_size", "reserve_pool", "pool_mode", "max_connections",
                            "current_connections", "paused", "disabled"});
  const auto dbs124 =
      Cols({"name", "host", "port", "database", "force_user", "pool_size", "min_pool_size",
            "reserve_pool_size", "server_lifetime", "pool_mode", "load_balance_hosts",
            "max_connections", "current_connections", "max_client_connections",
            "current_client_connections", "paused", "disabled"});

  const auto lists = Cols({"list", "items"});
  const auto config3 = Cols({"key", "value", "changeable"});
  const auto config4 = Cols({"key", "value", "default", "changeable"});

  const auto sock17 =
      Cols({"type", "user", "database", "state", "addr", "port", "local_addr", "local_port",
            "connect_time", "request_time", "ptr", "link", "remote_pid", "tls"});
  const auto sock18 =
      Cols({"type", "user", "database", "state", "addr", "port", "local_addr", "local_port",
            "connect_time", "request_time", "wait", "wait_us", "ptr", "link", "remote_pid", "tls"});
  const auto sock112 = Cols({"type", "user", "database", "state", "addr", "port", "local_addr",
                             "local_port", "connect_time", "request_time", "wait", "wait_us",
                             "close_needed", "ptr", "link", "remote_pid", "tls"});
  auto sock118 = sock112;
  sock118.push_back("application_name");
  const auto sock124 = Cols({"type",
                             "user",
                             "database",
                             "replication",
                             "state",
                             "addr",
                             "port",
                             "local_addr",
                             "local_port",
                             "connect_time",
                             "request_time",
                             "wait",
                             "wait_us",
                             "close_needed",
                             "ptr",
                             "link",
                             "remote_pid",
                             "tls",
                             "application_name",
                             "prepared_statements",
                             "id"});

  auto version_row = [](const std::string& v) { return Rows({"version"}, {{"PgBouncer " + v}}); };
  auto make = [&](std::string name, const std::vector<std::string>& pools,
                  const std::vector<std::string>* totals, const std::vector<std::string>& dbs,
                  const std::vector<std::string>& config, QueryResult version,
                  const std::vector<std::string>& sock, bool idle_clients) {
    PgbVersionFixture f;
    f.name = std::move(name);
    f.answers["SHOW POOLS"] = Project(pools, PoolRows());
    if (totals) {
      f.answers["SHOW STATS_TOTALS"] = Project(*totals, StatsRows());
    }
    f.answers["SHOW STATS"] = Project(
        totals ? Cols({"database", "total_xact_count", "total_query_count", "total_received",
                       "total_sent", "total_xact_time", "total_query_time", "total_wait_time",
                       "avg_xact_count", "avg_query_count", "avg_recv", "avg_sent", "avg_xact_time",
                       "avg_query_time", "avg_wait_time"})
               : stats17,
        ShowStatsRows());
    f.answers["SHOW DATABASES"] = Project(dbs, DatabaseRows());
    f.answers["SHOW LISTS"] = Project(lists, ListRows());
    f.answers["SHOW CONFIG"] = Project(config, ConfigRows());
    f.answers["SHOW VERSION"] = std::move(version);
    f.answers["SHOW SERVERS"] = Project(sock, ServerRows());
    f.answers["SHOW CLIENTS"] = Project(sock, ClientRows(idle_clients));
    return f;
  };
  return {
      make("1.7", pools17, nullptr, dbs17, config3,
           VersionNotice("NOTICE:  pgbouncer version 1.7.2"), sock17, false),
      make("1.8", pools18, &totals18, dbs18, config3,
           VersionNotice("NOTICE:  pgbouncer version 1.8.1"), sock18, false),
      make("1.12", pools18, &totals18, dbs112, config3, version_row("1.12.0"), sock112, false),
      make("1.18", pools118, &totals18, dbs112, config4, version_row("1.18.0"), sock118, false),
      make("1.24", pools124, &totals124, dbs124, config4, version_row("1.24.1"), sock124, false),
      make("1.25", pools124, &totals125, dbs124, config4, version_row("1.25.1"), sock124, true),
  };
}

/// A connection answering exactly the fixture's SHOW commands; any other is a server error
/// (what PgBouncer answers to a SHOW it does not know), not a lost connection.
inline std::unique_ptr<FakeConnection> PgbFake(const PgbVersionFixture& f) {
  auto answers = f.answers;
  return std::make_unique<FakeConnection>(std::map<std::string, FakeConnection::Handler>{
      {"", [answers](std::string_view sql) {
         auto it = answers.find(std::string(sql));
         if (it == answers.end()) {
           throw DbError("ERROR:  unsupported SHOW command: " + std::string(sql),
                         DownReason::kOther, "08P01", false);
         }
         return it->second;
       }}});
}

}  // namespace poolwatch::support
