#pragma once

#include <cstddef>
#include <vector>

#include "collectors/snapshot.h"

namespace poolwatch {

/// At most this many holders and this many waiting clients are kept per pool.
inline constexpr std::size_t kMaxPoolHolders = 8;

/// The holder chain: for each PgBouncer pool, joins what the sample already read (no extra round
/// trip). SHOW SERVERS rows with a `link` are the server connections in use; `link` is the
/// `ptr` of the SHOW CLIENTS row holding it (address, port, application_name); `remote_pid` is
/// the PostgreSQL backend, matched to a PostgreSQL target's TargetSample::backends by pid *and*
/// by the pool's real database (SHOW DATABASES `database`, so an alias pool `tiny = dbname=
/// postgres` finds its backends in `postgres`). A blocked backend's chain is followed through
/// blocked_by to its root blocker, which is named first (with how many backends it blocks), even
/// when it is not itself a pool's server (a psql session holding the lock directly). A
/// remote_pid with no row keeps the PgBouncer facts and a `note` saying so.
///
/// `samples` and `statuses` are the sampler's parallel vectors (one per target); fills
/// statuses[i].pools of every PgBouncer target that is up. Pure; called once per snapshot, after
/// every target was sampled.
void JoinHolders(const std::vector<TargetSample>& samples, std::vector<TargetStatus>& statuses);

/// Follows blocked_by from `pid` through `backends` to the root blocker (a backend that blocks
/// but waits on nobody). Returns 0 when `pid` is not blocked; stops at a cycle or after 32 hops.
int RootBlockerOf(int pid, const std::vector<Offender>& backends);

/// `offenders` reordered cause first: root blockers (most blocked first), then other holders
/// (blockers, long and idle-in-transaction transactions, oldest first), then victims (blocked
/// backends, waiting clients); each pid once (its first, most causal, role wins).
std::vector<Offender> CauseFirst(std::vector<Offender> offenders);

/// True for an offender that suffers an incident rather than causes it.
bool IsVictim(const Offender& o);

}  // namespace poolwatch
