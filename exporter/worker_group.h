#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace poolwatch {

/// A fixed set of long-lived threads that run one batch of jobs at a time. The sampler samples its
/// targets in parallel every interval; starting a thread per target per sample would make the
/// process's thread count (and the soak check of it) depend on when one looks, and costs a clone
/// per target per tick. Threads start in the constructor and are joined by the destructor.
class WorkerGroup {
 public:
  /// `workers` threads; RunAll can then run up to workers + 1 jobs at once.
  explicit WorkerGroup(std::size_t workers);
  ~WorkerGroup();
  WorkerGroup(const WorkerGroup&) = delete;
  WorkerGroup& operator=(const WorkerGroup&) = delete;

  /// Runs job(0) .. job(n - 1) and returns when all have returned: job(0) on the calling thread,
  /// the others on the workers. n must be at most workers + 1. Jobs must not throw (an escaping
  /// exception from a worker's job is swallowed so the batch still completes). Calls of RunAll
  /// must not overlap (the sampler calls it from one thread at a time).
  void RunAll(std::size_t n, const std::function<void(std::size_t)>& job);

  std::size_t workers() const { return threads_.size(); }

 private:
  void Loop(std::size_t index);

  std::mutex mutex_;
  std::condition_variable start_cv_;
  std::condition_variable done_cv_;
  const std::function<void(std::size_t)>* job_ = nullptr;  // guarded by mutex_
  std::size_t jobs_ = 0;          // jobs in the current batch, guarded by mutex_
  std::size_t pending_ = 0;       // worker jobs not yet finished, guarded by mutex_
  std::uint64_t generation_ = 0;  // bumped per batch, guarded by mutex_
  bool stopping_ = false;         // guarded by mutex_
  std::vector<std::thread> threads_;
};

}  // namespace poolwatch
