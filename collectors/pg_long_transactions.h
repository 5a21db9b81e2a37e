#pragma once

#include <memory>
#include <string>

#include "collectors/collector.h"

namespace poolwatch {

/// Long transactions, idle-in-transaction leaks, blockers and offenders, from one
/// pg_stat_activity read (every backend type, minus poolwatch's own and the configured
/// exclusions): postgres_exporter's pg_long_running_transactions and its "oldest timestamp"
/// (an age), per database the oldest transaction / idle-in-transaction / active query age and
/// backend_xmin age, counts over several thresholds, poolwatch_connection_leaks{kind=
/// "idle_in_transaction"}, and the offenders (top N by transaction age and by idle-in-transaction
/// age, blockers and blocked backends) in TargetSample::offenders. The read is the "long" rows the
/// pg_stat_activity collector left in the sample when it ran this sample with
/// activity_feeds_long_transactions, else its own query (one scan of pg_stat_activity and one of
/// pg_locks for the blockers).
std::unique_ptr<Collector> MakePgLongTransactionsCollector(const CollectorOptions& options);

/// How much query text it reads (several times what it keeps, so that masking has enough).
int LongTxQueryChars(const OffenderOptions& offenders);

/// The SQL pieces of its per-backend read, shared with the pg_stat_activity collector, whose one
/// statement reads these rows too when both collectors are on (one scan of pg_stat_activity per
/// sample; CollectorOptions::activity_feeds_long_transactions):
/// - LongTxSourceColumns(): the select list over pg_stat_activity or pg_stat_get_activity(NULL)
///   (their common columns: no datname or usename, which the view joins; `blocked_by`: the
///   pg_blocking_pids of a backend waiting on a lock, else NULL; `query` cut to `query_chars`, or
///   NULL when 0);
/// - kLongTxRowFilter: which backends it keeps for what their own row says (in a transaction,
///   holding an xmin, waiting on a lock); it also keeps the backends that block one of those
///   (the relation `b` of blocking pids);
/// - LongTxColumns(rel): its output columns over `rel` (the source columns plus usename), in
///   this order and without `datname` and `state`: pid, usename, application_name, client_addr,
///   backend_type, wait_event_type, wait_event, xact_age, state_age, query_age, xmin_age,
///   blocked_by, blocker, query.
/// `query_only_if`: a condition; the query text is then cut only for the rows that meet it (NULL
/// for the others), so a scan that keeps every backend does not copy every backend's text.
std::string LongTxSourceColumns(int query_chars, const char* query_only_if = nullptr);
inline constexpr char kLongTxRowFilter[] =
    "xact_start IS NOT NULL OR backend_xmin IS NOT NULL OR wait_event_type = 'Lock'";
std::string LongTxColumns(const std::string& rel);

}  // namespace poolwatch
