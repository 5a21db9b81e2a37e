#include "exporter/sampler.h"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <utility>

#include "base/redact.h"
#include "base/time.h"
#include "collectors/holders.h"
#include "collectors/pgbouncer_pools.h"
#include "collectors/pq_connection.h"

namespace poolwatch {
namespace {

// `connector` for `target` with the current contents of its password_file, if it has one: a
// rotated file is used from the next connection on; open sessions, authenticated already, keep
// working.
ConnectFn WithCurrentPassword(TargetConnector connector, const TargetConfig& target,
                              const Config& config, std::shared_ptr<SecretFile> pw) {
  return [connector, target, config, pw](SteadyTime d, const std::atomic<bool>& cancel) {
    if (!pw) return connector(target, config, d, cancel);
    TargetConfig t = target;
    t.password = CurrentSecret(*pw, "password_file of target " + target.name);
    return connector(t, config, d, cancel);
  };
}

long long Millis(Duration d) { return static_cast<long long>(d.count()); }

}  // namespace

std::string CurrentSecret(SecretFile& file, const std::string& what) {
  SecretFile::Result r = file.Get();
  if (r.event == SecretFile::Event::kReloaded) {
    spdlog::info("{} changed on disk and was re-read; new connections use it", what);
  } else if (r.event == SecretFile::Event::kRejected) {
    spdlog::error("{} changed on disk but cannot be used; keeping the previous value: {}", what,
                  r.error);
  }
  return r.value;
}

std::unique_ptr<Connection> ConnectTarget(const TargetConfig& target, const Config& config,
                                          SteadyTime deadline, const std::atomic<bool>& cancel) {
  ConnectSpec spec;
  spec.cancel = &cancel;
  spec.dsn = target.dsn;
  spec.password = target.password;
  spec.defaults["application_name"] = "poolwatch";  // unless the DSN names the replica
  // TCP keepalives on every probe session: a peer that vanished (node lost, network cut) is
  // noticed by both ends in keepalives_idle + keepalives_interval x keepalives_count = 25 s,
  // so a dead holder's advisory lock (exporter/election.h) is released in bounded time.
  spec.defaults["keepalives"] = "1";
  spec.defaults["keepalives_idle"] = "10";
  spec.defaults["keepalives_interval"] = "5";
  spec.defaults["keepalives_count"] = "3";
  if (target.kind == TargetKind::kPostgres) {
    // Server-side guards, so a query we gave up on does not linger on the server either.
    long long stmt = Millis(config.timeout);
    spec.params["options"] = "-c statement_timeout=" + std::to_string(stmt) +
                             " -c lock_timeout=" + std::to_string(std::max(1LL, stmt / 2)) +
                             " -c idle_in_transaction_session_timeout=" +
                             std::to_string(Millis(config.interval) * 4);
  }
  return ConnectPq(spec, deadline);
}

TargetSampler::TargetSampler(const TargetConfig& target, const Config& config, const Clock& clock,
                             TargetConnector connector, const ElectionHooks* hooks)
    : target_(target),
      clock_(clock),
      sample_budget_(config.timeout),
      probe_window_(
          std::chrono::duration<double>(target.collector_settings.error_window.window).count(),
          target.collector_settings.error_window.min_events),
      password_(target.password_file.empty()
                    ? nullptr
                    : std::make_shared<SecretFile>(target.password_file, target.password, "\n\r")),
      make_pool_([connector, target, config, &clock, pw = password_] {
        return std::make_unique<ProbePool>(
            target.name, target.pool, WithCurrentPassword(connector, target, config, pw),
            clock, target.kind == TargetKind::kPostgres ? "SELECT 1" : "SHOW VERSION");
      }) {
  pool_ = make_pool_();
  CollectorSettings settings = target.collector_settings;
  settings.legacy_stats_names = config.legacy_stats_names;
  CollectorWiring wiring;
  wiring.clock = &clock_;
  if (target.kind == TargetKind::kPgBouncer) {
    wait_tracker_ = std::make_shared<PoolWaitTracker>(config.peak_window);
    wiring.wait_tracker = wait_tracker_;
  }
  const CollectorOptions opts(settings, std::move(wiring));
  collectors_ = MakeCollectors(target.kind, target.collectors_enabled,
                               target.collectors_disabled, opts);
  if (target.shared && target.kind == TargetKind::kPostgres) {
    hooks_ = hooks;
    election_ =
        std::make_unique<Election>(target.name, target.election_key, ElectionIdleTimeout(config),
                                   WithCurrentPassword(connector, target, config, password_));
  }
}

std::vector<std::string> TargetSampler::Passwords() const {
  if (!password_) return {target_.password};
  return {target_.password, password_->Get().value};
}

TargetSample TargetSampler::Sample(SteadyTime deadline, TargetStatus& status) {
  const SteadyTime start = clock_.Now();
  // One stat(2) per sample: a rotated password_file is logged (and counted) when it changes, not
  // only at the next connect.
  if (password_) CurrentSecret(*password_, "password_file of target " + target_.name);
  TargetSample s;
  s.target = target_.name;
  s.kind = target_.kind;
  s.metrics.Reserve(last_footprint_);
  status.name = s.target;
  status.kind = s.kind;
  status.error_window = target_.collector_settings.error_window;
  status.up = false;
  status.reason = DownReason::kNone;
  const bool standby = election_ && StandBy(deadline, s, status);
  std::map<std::string, double> durations;
  if (!standby) RunCollectors(deadline, s, status, durations);
  status.sample_duration_seconds = Seconds(clock_.Now() - start);
  status.last_sample_unix = ToUnixSeconds(clock_.WallNow());
  if (!standby) {
    LogTransition(status);
    Finish(s, status, durations);
  }
  last_footprint_ = s.metrics.Size();
  return s;
}

bool TargetSampler::StandBy(SteadyTime deadline, TargetSample& s, TargetStatus& status) {
  // Only the holder samples a shared target; the election costs one statement here.
  ElectionRole role = election_->Check(deadline);
  if (role != last_role_ && hooks_ != nullptr) {
    if (role == ElectionRole::kHolder && hooks_->adopt) {
      hooks_->adopt(target_.name, election_->LastHandoff());
    } else if (role == ElectionRole::kStandby && hooks_->forget) {
      hooks_->forget(target_.name);
    }
  }
  last_role_ = role;
  status.role = ElectionRoleName(role);
  if (role == ElectionRole::kHolder) {
    if (hooks_ != nullptr && hooks_->state_of) {
      election_->Publish(hooks_->state_of(target_.name), deadline);
    }
    return false;
  }
  // Nothing is known wrong: the holder speaks for the target. No pg_* series, so dashboards and
  // alerts see the holder's numbers once, not once per replica.
  status.up = true;
  if (pool_->Stats().idle + pool_->Stats().in_use > 0) {  // was the holder: let go
    std::unique_ptr<ProbePool> fresh = make_pool_();
    std::lock_guard<std::mutex> lock(swap_mutex_);
    pool_->Close();
    std::swap(pool_, fresh);
  }
  AddElectionMetrics(s, role);
  return true;
}

void TargetSampler::RunCollectors(SteadyTime deadline, TargetSample& s, TargetStatus& status,
                                  std::map<std::string, double>& durations) {
  for (const auto& c : collectors_) status.collector_success[std::string(c->Name())] = false;
  std::size_t next = 0;  // first collector not yet run in this sample
  // A pooled connection can have died since the last sample (PgBouncer restarted): then retry
  // once on a fresh one instead of reporting the target down.
  for (int attempt = 0; attempt < 2; ++attempt) {
    ProbePool::Lease lease;
    try {
      lease = pool_->Acquire("sampler", deadline);
    } catch (const DbError& e) {
      status.reason = e.reason();
      status.error = e.what();
      return;
    } catch (const std::exception& e) {
      status.reason = DownReason::kOther;
      status.error = RedactSecrets(e.what(), Passwords());
      return;
    }
    lease->SetDeadline(deadline);
    status.server_version = lease->ServerVersion();
    s.own_pids = pool_->BackendPids();
    if (!RunOnLease(lease, next, s, status, durations)) {
      if (next == collectors_.size()) {
        bool all = true;
        for (const auto& [n, ok] : status.collector_success) all = all && ok;
        if (all) timing_out_ = false;
      }
      status.up = true;
      status.reason = DownReason::kNone;
      status.error.clear();
      return;
    }
    bool retry = (!lease.fresh() || std::exchange(retry_without_transaction_, false)) &&
                 status.reason != DownReason::kTimeout && clock_.Now() < deadline;
    if (!retry) return;
  }
}

bool TargetSampler::RunOnLease(ProbePool::Lease& lease, std::size_t& next, TargetSample& s,
                               TargetStatus& status, std::map<std::string, double>& durations) {
  // The connection answered in this sample (it was just opened, or a collector succeeded on it):
  // running out of budget on it is then that collector's failure, not the target's.
  bool live = lease.fresh();
  // A PostgreSQL target's collectors run in one transaction: the server then reads its
  // backend-status array (megabytes at 2000 backends, most of a sample's cost) once per sample
  // instead of once per statement, and every collector sees the same instant. Not READ ONLY:
  // pg_settings would then report transaction_read_only = on.
  // Also with one collector: preparing a statement (pg_stat_activity's) outside a transaction
  // block would be a transaction of its own.
  bool in_tx = false;
  if (target_.kind == TargetKind::kPostgres && use_transactions_ && next < collectors_.size()) {
    try {
      lease->Query("BEGIN");
      in_tx = true;
    } catch (const DbError& e) {
      if (e.connection_lost()) {  // counted as the first collector's statement would have been
        probe_queries_ += 1;
        probe_query_failures_ += 1;
      }
      if (e.connection_lost() && e.reason() != DownReason::kTimeout && lease.fresh()) {
        // A session just opened that BEGIN closed: a pooler in statement mode (PgBouncer's
        // pool_mode=statement disconnects a client that opens a transaction block). This
        // target's samples then run without one, starting again on a fresh session now.
        use_transactions_ = false;
        retry_without_transaction_ = true;
        spdlog::warn(
            "target {}: the server closed the session at BEGIN (a pooler in statement mode?); "
            "sampling without a transaction from now on",
            target_.name);
        status.reason = e.reason();
        status.error = e.what();
        return true;
      }
      // Anything else: as the first collector's statement would have failed, or, when the
      // session is fine, this sample without a transaction.
      if (e.connection_lost()) {
        return LostSession(e, live, lease, next, status);
      }
      spdlog::debug("target {}: BEGIN failed: {}", target_.name, e.what());
    } catch (const std::exception& e) {
      spdlog::debug("target {}: BEGIN failed: {}", target_.name,
                    RedactSecrets(e.what(), Passwords()));
    }
  }
  for (; next < collectors_.size(); ++next) {
    auto& c = collectors_[next];
    std::string name(c->Name());
    SteadyTime t0 = clock_.Now();
    probe_queries_ += 1;
    try {
      c->Collect(*lease, s);
      status.collector_success[name] = true;
      live = true;
    } catch (const DbError& e) {
      probe_query_failures_ += 1;
      if (e.connection_lost()) {
        durations[name] = Seconds(clock_.Now() - t0);
        return LostSession(e, live, lease, next, status);
      }
      collector_errors_[name] += 1;
      spdlog::debug("target {}: collector {} failed: {}", target_.name, name, e.what());
      // The failed statement aborted the transaction: the next collectors get a new one.
      if (in_tx) in_tx = Transaction(*lease, "ROLLBACK") && Transaction(*lease, "BEGIN");
    } catch (const std::exception& e) {
      probe_query_failures_ += 1;
      collector_errors_[name] += 1;
      spdlog::debug("target {}: collector {} failed: {}", target_.name, name,
                    RedactSecrets(e.what(), Passwords()));
    }
    durations[name] = Seconds(clock_.Now() - t0);
  }
  if (in_tx) Transaction(*lease, "COMMIT");
  return false;
}

bool TargetSampler::LostSession(const DbError& e, bool live, ProbePool::Lease& lease,
                                std::size_t& next, TargetStatus& status) {
  if (live && e.reason() == DownReason::kTimeout && !lease->Healthy()) {
    OutOfBudget(next);
    next = collectors_.size();
    return false;
  }
  status.reason = e.reason();
  status.error = e.what();
  return true;
}

bool TargetSampler::Transaction(Connection& conn, const char* statement) {
  try {
    conn.Query(statement);
    return true;
  } catch (const std::exception& e) {
    // Not fatal: the collectors then run in a transaction each (a lost connection shows up in
    // the next one).
    spdlog::debug("target {}: {} failed: {}", target_.name, statement,
                  RedactSecrets(e.what(), Passwords()));
    return false;
  }
}

void TargetSampler::OutOfBudget(std::size_t from) {
  // A slow sample is not a dead target. The session is dropped (a timed-out query may still
  // answer later); the rest of this sample's collectors have no budget left and fail with it.
  for (std::size_t k = from; k < collectors_.size(); ++k) {
    std::string n(collectors_[k]->Name());
    collector_errors_[n] += 1;
    collector_timeouts_[n] += 1;
  }
  if (!timing_out_) {
    spdlog::warn(
        "target {}: collector {} ran out of the sampling budget ({}) on a live "
        "connection; the target stays up, {} collector(s) failed this sample",
        target_.name, collectors_[from]->Name(), FormatDuration(sample_budget_),
        collectors_.size() - from);
  }
  timing_out_ = true;
}

void TargetSampler::LogTransition(const TargetStatus& status) {
  // Transitions, not every failed sample.
  if (status.up && (!was_up_ || first_)) {
    if (!first_) spdlog::info("target {} ({}) is back up", target_.name, TargetKindName(status.kind));
  } else if (!status.up && (was_up_ || first_ || status.reason != last_reason_)) {
    spdlog::warn("target {} ({}) is down: {}: {}", target_.name, TargetKindName(status.kind),
                 DownReasonName(status.reason), status.error);
  }
  first_ = false;
  was_up_ = status.up;
  last_reason_ = status.reason;
}

void TargetSampler::Finish(TargetSample& s, TargetStatus& status,
                           const std::map<std::string, double>& durations) {
  if (status.up) {
    status.summary = s.summary;
    status.offenders = s.offenders;
  } else {
    // Whatever a half-finished sample collected would be a partial truth: drop it.
    s.metrics = MetricSet();
    s.offenders.clear();
    s.summary.clear();
    status.summary.clear();
    status.offenders.clear();
  }
  for (const auto& [name, d] : durations) {
    s.metrics.Gauge("poolwatch_collector_duration_seconds",
                    "How long the collector took in the last sample.",
                    {{"target", target_.name}, {"collector", name}}, d);
  }
  AddSelfMetrics(s, status);
  if (election_) AddElectionMetrics(s, last_role_);
}

void TargetSampler::AddElectionMetrics(TargetSample& s, ElectionRole role) {
  const std::string& t = target_.name;
  for (ElectionRole r : {ElectionRole::kHolder, ElectionRole::kStandby}) {
    s.metrics.Gauge("poolwatch_target_role", Help("poolwatch_target_role"),
                    {{"target", t}, {"role", ElectionRoleName(r)}}, role == r ? 1 : 0);
  }
  Election::Stats e = election_->GetStats();
  s.metrics.Counter("poolwatch_election_statements_total",
                    Help("poolwatch_election_statements_total"), {{"target", t}}, e.statements);
  s.metrics.Counter("poolwatch_election_acquired_total", Help("poolwatch_election_acquired_total"),
                    {{"target", t}}, e.acquired);
  s.metrics.Counter("poolwatch_election_handoffs_received_total",
                    Help("poolwatch_election_handoffs_received_total"), {{"target", t}},
                    e.received);
}

void TargetSampler::Maintain(SteadyTime deadline) {
  if (election_ && last_role_ == ElectionRole::kStandby) return;  // a standby holds no probes
  pool_->Maintain(deadline);
}

void TargetSampler::Close() {
  if (election_) election_->Close();
  std::lock_guard<std::mutex> lock(swap_mutex_);
  pool_->Close();
}

bool TargetSampler::FastCapable() const {
  return target_.kind == TargetKind::kPgBouncer && target_.pool.max >= 2;
}

void TargetSampler::SampleFast(SteadyTime deadline) {
  if (!FastCapable() || !wait_tracker_) return;
  try {
    ProbePool::Lease lease = pool_->Acquire("fast_sampler", deadline);
    lease->SetDeadline(deadline);
    SampleFastPools(*lease, *wait_tracker_, clock_);
  } catch (const std::exception& e) {
    // The main sample reports the target's health; a missed fast reading only loses detail.
    spdlog::debug("target {}: fast SHOW POOLS failed: {}", target_.name,
                  RedactSecrets(e.what(), Passwords()));
  }
}

void TargetSampler::AddSelfMetrics(TargetSample& s, const TargetStatus& status) {
  const std::string& t = target_.name;
  const std::string kind(TargetKindName(s.kind));
  auto& m = s.metrics;
  if (target_.kind == TargetKind::kPostgres) {
    m.Gauge("pg_up", "Whether the last sample of the PostgreSQL target succeeded.",
            {{"target", t}}, status.up ? 1 : 0);
  } else {
    m.Gauge("pgbouncer_up", "Whether the last sample of the PgBouncer target succeeded.",
            {{"target", t}}, status.up ? 1 : 0);
  }
  m.Gauge("poolwatch_target_up", "1 when the target answered its last sample, 0 when not.",
          {{"target", t}, {"kind", kind}}, status.up ? 1 : 0);
  for (DownReason r : AllDownReasons()) {
    m.Gauge("poolwatch_target_down_reason",
            "Why the target is down (1 for the current reason, all 0 when up).",
            {{"target", t}, {"kind", kind}, {"reason", std::string(DownReasonName(r))}},
            !status.up && status.reason == r ? 1 : 0);
  }
  m.Gauge("poolwatch_last_sample_timestamp_seconds",
          "Unix time the target's last sample finished.", {{"target", t}},
          status.last_sample_unix);
  m.Gauge("poolwatch_sample_duration_seconds", "How long the target's last sample took.",
          {{"target", t}}, status.sample_duration_seconds);
  for (const auto& [name, ok] : status.collector_success) {
    m.Gauge("poolwatch_collector_success", "1 when the collector succeeded in the last sample.",
            {{"target", t}, {"collector", name}}, ok ? 1 : 0);
    m.Counter("poolwatch_collector_errors_total",
              "Collector failures on a reachable target (the target stays up).",
              {{"target", t}, {"collector", name}}, collector_errors_[name]);
    m.Counter("poolwatch_collector_timeouts_total", Help("poolwatch_collector_timeouts_total"),
              {{"target", t}, {"collector", name}}, collector_timeouts_[name]);
  }
  ProbePoolStats p = pool_->Stats();
  m.Gauge("poolwatch_probe_pool_connections", "poolwatch's own connections to the target.",
          {{"target", t}, {"state", "idle"}}, p.idle);
  m.Gauge("poolwatch_probe_pool_connections", "poolwatch's own connections to the target.",
          {{"target", t}, {"state", "in_use"}}, p.in_use);
  m.Gauge("poolwatch_probe_pool_max_connections", "The probe pool's configured maximum.",
          {{"target", t}}, p.max);
  m.Counter("poolwatch_probe_pool_connects_total", "Connection attempts by result.",
            {{"target", t}, {"result", "success"}}, p.connects_ok);
  m.Counter("poolwatch_probe_pool_connects_total", "Connection attempts by result.",
            {{"target", t}, {"result", "failure"}}, p.connects_failed);
  m.Counter("poolwatch_probe_pool_acquires_total", "Checkouts from the probe pool.",
            {{"target", t}}, p.acquires);
  m.Counter("poolwatch_probe_pool_acquire_wait_seconds_total",
            "Time spent waiting to check a connection out.", {{"target", t}},
            p.acquire_wait_seconds);
  m.Counter("poolwatch_probe_pool_acquire_timeouts_total",
            "Checkouts that found no free connection in time.", {{"target", t}},
            p.acquire_timeouts);
  m.Counter("poolwatch_probe_pool_leaks_total",
            "Checkouts held longer than pool.leak_timeout (reclaimed).", {{"target", t}}, p.leaks);
  for (const auto& [reason, v] : std::vector<std::pair<const char*, double>>{
           {"idle", p.closed_idle}, {"lifetime", p.closed_lifetime}, {"broken", p.closed_broken}}) {
    m.Counter("poolwatch_probe_pool_closed_total", "Connections closed by the pool, by reason.",
              {{"target", t}, {"reason", reason}}, v);
  }
  m.Counter("poolwatch_probe_pool_health_check_failures_total",
            "Idle connections that failed their health check.", {{"target", t}},
            p.health_checks_failed);
  if (password_) {
    const Labels secret = {{"owner", t}, {"key", "password_file"}};
    m.Counter("poolwatch_secret_file_reloads_total", Help("poolwatch_secret_file_reloads_total"),
              secret, password_->reloads());
    m.Counter("poolwatch_secret_file_reload_errors_total",
              Help("poolwatch_secret_file_reload_errors_total"), secret, password_->errors());
  }

  // Our own connection attempts and queries through the target, as an error ratio over the
  // target's error window: the sidecar's view of "can an application get in?".
  probe_window_.Observe(std::chrono::duration<double>(clock_.Now().time_since_epoch()).count(),
                        p.connects_ok + p.connects_failed + probe_queries_,
                        p.connects_failed + probe_query_failures_);
  SlidingWindow::Result r = probe_window_.Current();
  Labels probe = {{"target", t}, {"kind", "probe"}};
  m.Gauge("poolwatch_error_ratio", Help("poolwatch_error_ratio"), probe, r.ratio);
  m.Gauge("poolwatch_error_window_events", Help("poolwatch_error_window_events"), probe,
          r.events);
  m.Gauge("poolwatch_error_window_errors", Help("poolwatch_error_window_errors"), probe,
          r.errors);
  m.Gauge("poolwatch_connection_leaks", Help("poolwatch_connection_leaks"),
          {{"target", t}, {"kind", "probe_pool"}}, p.leaked_now);
}

Sampler::Sampler(const Config& config, const Clock& clock, TargetConnector connector,
                 ExtraMetricsFn extra, PublishFn publish, ElectionHooks hooks)
    : config_(config),
      clock_(clock),
      extra_(std::move(extra)),
      publish_(std::move(publish)),
      hooks_(std::move(hooks)) {
  for (const auto& t : config_.targets) {
    targets_.push_back(std::make_unique<TargetSampler>(t, config_, clock_, connector, &hooks_));
  }
  workers_ = std::make_unique<WorkerGroup>(targets_.empty() ? 0 : targets_.size() - 1);
}

Sampler::~Sampler() { Stop(); }

std::shared_ptr<const Snapshot> Sampler::SampleOnce() {
  const SteadyTime deadline = clock_.Now() + config_.timeout;
  std::vector<TargetStatus> statuses(targets_.size());
  std::vector<TargetSample> samples(targets_.size());
  // Everything one target needs (its sample, then its pool's upkeep and top-up connects) runs on
  // that target's worker within the same budget: a target whose logins hang costs the others
  // nothing.
  workers_->RunAll(targets_.size(), [this, deadline, &samples, &statuses](std::size_t i) {
    samples[i] = targets_[i]->Sample(deadline, statuses[i]);
    targets_[i]->Maintain(deadline);
  });
  {
    // Stop() closed the pools under this sample: what it saw ("probe pool is closed") is about
    // poolwatch, not the targets. Publish nothing (a reload's successor samples at once).
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) {
      auto empty = std::make_shared<Snapshot>();
      empty->targets = std::move(statuses);
      return empty;
    }
  }
  // The holder chain joins PgBouncer's SHOW results to PostgreSQL's backends: across targets,
  // so only once every target is sampled (no extra round trip).
  JoinHolders(samples, statuses);
  auto snap = std::make_shared<Snapshot>();
  snap->taken_at = clock_.WallNow();
  for (auto& s : samples) snap->metrics.Merge(std::move(s.metrics));
  snap->targets = std::move(statuses);
  snap->external_labels = config_.external_labels;
  if (extra_) extra_(*snap);
  snap->sequence = ++sequence_;
  snap->exposition = Expose(RenderText(snap->metrics, last_text_bytes_ + last_text_bytes_ / 16));
  last_text_bytes_ = snap->exposition->text.size();
  std::shared_ptr<const Snapshot> out = std::move(snap);
  completed_.fetch_add(1);
  last_completed_ns_.store(clock_.Now().time_since_epoch().count());
  if (publish_) publish_(out);
  return out;
}

SteadyTime Sampler::LastCompleted() const {
  return SteadyTime(SteadyTime::duration(last_completed_ns_.load()));
}

void Sampler::Start() {
  // spdlog creates its registry on first use, inside its (uninstrumented) shared library: create
  // it here, before the sampling threads can log, so that first use is ordered for TSan too.
  spdlog::default_logger_raw();
  thread_ = std::thread([this] { Run(); });
  if (config_.fast_interval.count() <= 0) return;
  bool any = false;
  for (const auto& t : targets_) {
    if (t->config().kind != TargetKind::kPgBouncer) continue;
    if (t->FastCapable()) {
      any = true;
    } else {
      spdlog::warn("target {}: sampling.fast_interval needs pool.max >= 2; fast sampling is off "
                   "for it", t->config().name);
    }
  }
  if (!any) return;
  fast_workers_ = std::make_unique<WorkerGroup>(targets_.size() - 1);
  fast_thread_ = std::thread([this] { RunFast(); });
}

// A second loop on its own thread, so a slow main sample does not delay the fast readings. It
// checks out a second connection of the same bounded probe pool (pool.max holds), and reads only
// SHOW POOLS: peaks and waiting time the main sample then exports.
void Sampler::RunFast() {
  SteadyTime next = clock_.Now() + config_.fast_interval;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      if (cv_.wait_until(lock, next, [this] { return stopping_; })) return;
    }
    const SteadyTime deadline = clock_.Now() + std::min<Duration>(config_.fast_interval,
                                                                  config_.timeout);
    fast_workers_->RunAll(targets_.size(),
                          [this, deadline](std::size_t i) { targets_[i]->SampleFast(deadline); });
    next += config_.fast_interval;
    SteadyTime now = clock_.Now();
    if (next < now) next = now;
  }
}

void Sampler::Run() {
  SteadyTime next = clock_.Now();
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      if (cv_.wait_until(lock, next, [this] { return stopping_; })) return;
    }
    try {
      SampleOnce();
#if defined(__GLIBC__)
      // A sample builds the next snapshot while the last one is still served, then drops the
      // older one and the query results; glibc keeps those freed pages resident. Hand them
      // back: a few hundred page faults next sample, against MBs held between samples.
      malloc_trim(0);
#endif
    } catch (const std::exception& e) {
      spdlog::error("sampling failed: {}", Redact(e.what()));
    }
    next += config_.interval;
    SteadyTime now = clock_.Now();
    if (next < now) next = now;  // fell behind: do not try to catch up in a burst
  }
}

void Sampler::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : targets_) t->Close();
  if (thread_.joinable()) thread_.join();
  if (fast_thread_.joinable()) fast_thread_.join();
}

}  // namespace poolwatch
