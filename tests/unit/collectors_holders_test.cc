// The holder chain join (collectors/holders.h) on recorded SHOW SERVERS / SHOW CLIENTS /
// SHOW DATABASES rows (PgBouncer 1.18's columns) and pg_long_transactions backend records.
#include "collectors/holders.h"

#include <gtest/gtest.h>

#include "collectors/pgbouncer_common.h"
#include "tests/support/pgbouncer_fixtures.h"

namespace poolwatch {
namespace {

using support::Project;
using support::Row;

const std::vector<std::string> kServerCols = {
    "type", "user", "database", "state", "addr", "port", "local_addr", "local_port",
    "connect_time", "request_time", "wait", "wait_us", "close_needed", "ptr", "link",
    "remote_pid", "tls", "application_name"};
const std::vector<std::string> kClientCols = kServerCols;
const std::vector<std::string> kDatabaseCols = {"name", "host", "port", "database", "force_user",
                                                "pool_size", "min_pool_size", "reserve_pool",
                                                "pool_mode", "max_connections",
                                                "current_connections", "paused", "disabled"};

Row Server(const std::string& db, const std::string& state, const std::string& ptr,
           const std::string& link, const std::string& pid) {
  return {{"type", "S"},    {"user", "app"},    {"database", db},      {"state", state},
          {"addr", "127.0.0.1"}, {"port", "5432"}, {"ptr", ptr},       {"link", link},
          {"remote_pid", pid},   {"wait", "0"},    {"wait_us", "0"},    {"application_name", ""}};
}

Row Client(const std::string& db, const std::string& state, const std::string& ptr,
           const std::string& port, const std::string& app, const std::string& wait = "0") {
  return {{"type", "C"},      {"user", "app"}, {"database", db},  {"state", state},
          {"addr", "10.0.0.7"}, {"port", port},  {"ptr", ptr},      {"link", ""},
          {"remote_pid", "0"}, {"wait", wait},  {"wait_us", "0"},  {"application_name", app}};
}

Offender Backend(int pid, const std::string& db, const std::string& state, double xact_age,
                 std::vector<int> blocked_by = {}) {
  Offender o;
  o.pid = pid;
  o.datname = db;
  o.usename = "app";
  o.application_name = "from-pg";
  o.client_addr = "127.0.0.1";
  o.state = state;
  o.xact_age_seconds = xact_age;
  o.blocked_by = std::move(blocked_by);
  o.query = "SELECT ?";
  return o;
}

struct Fixture {
  std::vector<TargetSample> samples;
  std::vector<TargetStatus> statuses;
};

/// A PgBouncer target `bouncer` with pool `tiny` (an alias of database postgres, pool_size 2) and
/// a PostgreSQL target `pg`.
Fixture Make(const std::vector<Row>& servers, const std::vector<Row>& clients,
             std::vector<Offender> backends) {
  Fixture f;
  TargetSample b;
  b.target = "bouncer";
  b.kind = TargetKind::kPgBouncer;
  b.shared_results[std::string(pgb_results::kServers)] = Project(kServerCols, servers);
  b.shared_results[std::string(pgb_results::kClients)] = Project(kClientCols, clients);
  b.shared_results[std::string(pgb_results::kDatabases)] = Project(
      kDatabaseCols, {{{"name", "tiny"}, {"host", "127.0.0.1"}, {"port", "5432"},
                       {"database", "postgres"}, {"pool_size", "2"}},
                      {{"name", "app"}, {"host", "127.0.0.1"}, {"port", "5432"},
                       {"database", "app"}, {"pool_size", "20"}}});
  TargetSample pg;
  pg.target = "pg";
  pg.kind = TargetKind::kPostgres;
  pg.backends = std::move(backends);
  f.samples = {std::move(b), std::move(pg)};
  f.statuses.resize(2);
  f.statuses[0].up = f.statuses[1].up = true;
  return f;
}

TEST(HolderJoin, AliasPoolFindsItsBackendsByPidAndRealDatabase) {
  Fixture f = Make(
      {Server("tiny", "active", "0xs1", "0xc1", "4101"), Server("tiny", "active", "0xs2", "0xc2", "4102"),
       Server("tiny", "idle", "0xs3", "", "4103")},
      {Client("tiny", "active", "0xc1", "50001", "report-a"),
       Client("tiny", "active", "0xc2", "50002", "report-b"),
       Client("tiny", "waiting", "0xc3", "50003", "psql", "12"),
       Client("tiny", "waiting", "0xc4", "50004", "psql", "30")},
      {Backend(4101, "postgres", "active", 40), Backend(4102, "postgres", "active", 90)});
  JoinHolders(f.samples, f.statuses);
  ASSERT_EQ(f.statuses[0].pools.size(), 1u);
  const PoolHolders& p = f.statuses[0].pools[0];
  EXPECT_EQ(p.database, "tiny");
  EXPECT_EQ(p.real_database, "postgres");
  EXPECT_EQ(p.pg_target, "pg");
  EXPECT_EQ(p.pool_size, 2);
  EXPECT_EQ(p.servers_in_use, 2);
  EXPECT_EQ(p.waiting_clients, 2);
  EXPECT_DOUBLE_EQ(p.longest_wait_seconds, 30);
  EXPECT_EQ(p.unmatched, 0);
  ASSERT_EQ(p.holders.size(), 2u);
  EXPECT_EQ(p.holders[0].pid, 4102) << "oldest transaction first";
  EXPECT_EQ(p.holders[0].application_name, "report-b") << "the client's, from SHOW CLIENTS";
  EXPECT_EQ(p.holders[0].client_addr, "10.0.0.7:50002");
  EXPECT_EQ(p.holders[0].query, "SELECT ?");
  EXPECT_EQ(p.holders[1].pid, 4101);
  ASSERT_EQ(p.waiting.size(), 2u);
  EXPECT_EQ(p.waiting[0].client_addr, "10.0.0.7:50004") << "longest wait first";
  EXPECT_TRUE(f.statuses[1].pools.empty()) << "PostgreSQL targets have no pools";
}

TEST(HolderJoin, UnmatchedPidFallsBackToTheDatabaseAndSaysSo) {
  Fixture f = Make({Server("tiny", "active", "0xs1", "0xc1", "4999")},
                   {Client("tiny", "active", "0xc1", "50001", "worker")},
                   // Same pid, but in another database: a different PostgreSQL's backend.
                   {Backend(4999, "app", "active", 10)});
  JoinHolders(f.samples, f.statuses);
  ASSERT_EQ(f.statuses[0].pools.size(), 1u);
  const PoolHolders& p = f.statuses[0].pools[0];
  EXPECT_EQ(p.unmatched, 1);
  EXPECT_EQ(p.pg_target, "");
  ASSERT_EQ(p.holders.size(), 1u);
  EXPECT_EQ(p.holders[0].pid, 4999);
  EXPECT_EQ(p.holders[0].datname, "postgres");
  EXPECT_EQ(p.holders[0].application_name, "worker");
  EXPECT_EQ(p.holders[0].state, "server active");
  EXPECT_NE(p.holders[0].note.find("no pg_stat_activity row"), std::string::npos);
  EXPECT_NE(p.holders[0].note.find("database postgres"), std::string::npos);
}

TEST(HolderJoin, ThreeDeepChainNamesTheRootFirstWithWhatItBlocks) {
  // 300 (psql, outside PgBouncer) holds ACCESS EXCLUSIVE; 301 (a pool server) waits on it; 302
  // and 303 (pool servers) wait on 301: 300 <- 301 <- 302, 303.
  Fixture f = Make(
      {Server("app", "active", "0xs1", "0xc1", "301"), Server("app", "active", "0xs2", "0xc2", "302"),
       Server("app", "active", "0xs3", "0xc3", "303")},
      {Client("app", "active", "0xc1", "1", "reader-1"), Client("app", "active", "0xc2", "2", "reader-2"),
       Client("app", "active", "0xc3", "3", "reader-3")},
      {Backend(300, "app", "idle in transaction", 50), Backend(301, "app", "active", 20, {300}),
       Backend(302, "app", "active", 30, {301}), Backend(303, "app", "active", 10, {301})});
  EXPECT_EQ(RootBlockerOf(302, f.samples[1].backends), 300);
  EXPECT_EQ(RootBlockerOf(301, f.samples[1].backends), 300);
  EXPECT_EQ(RootBlockerOf(300, f.samples[1].backends), 0);
  JoinHolders(f.samples, f.statuses);
  ASSERT_EQ(f.statuses[0].pools.size(), 1u);
  const PoolHolders& p = f.statuses[0].pools[0];
  ASSERT_EQ(p.holders.size(), 4u) << "the root joins the pool's holders, once";
  EXPECT_EQ(p.holders[0].pid, 300);
  EXPECT_EQ(p.holders[0].blocks, 3);
  EXPECT_EQ(p.holders[0].category, "blocker");
  std::set<int> pids;
  for (const auto& h : p.holders) {
    EXPECT_TRUE(pids.insert(h.pid).second) << "pid " << h.pid << " twice";
    if (h.pid != 300) {
      EXPECT_EQ(h.root_blocker, 300);
    }
  }
}

TEST(HolderJoin, CycleAndDownTargetsAreSafe) {
  Fixture f = Make({Server("app", "active", "0xs1", "0xc1", "1")}, {},
                   {Backend(1, "app", "active", 5, {2}), Backend(2, "app", "active", 5, {1})});
  EXPECT_NE(RootBlockerOf(1, f.samples[1].backends), 0);  // stops, does not loop
  f.statuses[0].up = false;
  JoinHolders(f.samples, f.statuses);
  EXPECT_TRUE(f.statuses[0].pools.empty()) << "a down PgBouncer's partial results are not joined";
}

TEST(CauseFirst, RootsThenHoldersThenVictimsEachPidOnce) {
  Offender victim = Backend(10, "app", "active", 1, {11});
  victim.category = "blocked";
  Offender root = Backend(11, "app", "idle in transaction", 9);
  root.category = "blocker";
  Offender root_again = root;
  root_again.category = "long_transaction";
  Offender waiting;
  waiting.category = "waiting_client";
  waiting.client_addr = "10.0.0.1:5";
  auto out = CauseFirst({waiting, victim, root_again, root});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].pid, 11);
  EXPECT_EQ(out[0].category, "blocker") << "its most causal role wins";
  EXPECT_EQ(out[1].pid, 10);
  EXPECT_EQ(out[2].category, "waiting_client");
}

}  // namespace
}  // namespace poolwatch
