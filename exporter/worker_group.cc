#include "exporter/worker_group.h"

#include <spdlog/spdlog.h>

#include <stdexcept>

namespace poolwatch {

WorkerGroup::WorkerGroup(std::size_t workers) {
  threads_.reserve(workers);
  for (std::size_t i = 0; i < workers; ++i) threads_.emplace_back([this, i] { Loop(i); });
}

WorkerGroup::~WorkerGroup() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  start_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void WorkerGroup::RunAll(std::size_t n, const std::function<void(std::size_t)>& job) {
  if (n == 0) return;
  if (n > threads_.size() + 1) throw std::invalid_argument("WorkerGroup: more jobs than workers");
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &job;
    jobs_ = n;
    pending_ = n - 1;
    ++generation_;
  }
  if (n > 1) start_cv_.notify_all();
  job(0);
  std::unique_lock<std::mutex> lock(mutex_);
  done_cv_.wait(lock, [this] { return pending_ == 0; });
  job_ = nullptr;
}

void WorkerGroup::Loop(std::size_t index) {
  std::uint64_t seen = 0;
  for (;;) {
    const std::function<void(std::size_t)>* job = nullptr;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      start_cv_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      // Worker `index` runs job index + 1; in a batch smaller than the group it sits this one out.
      if (index + 1 >= jobs_) continue;
      job = job_;
    }
    try {
      (*job)(index + 1);
    } catch (const std::exception& e) {
      spdlog::error("worker job failed: {}", e.what());
    } catch (...) {
      spdlog::error("worker job failed with a non-standard exception");
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (--pending_ == 0) done_cv_.notify_one();
  }
}

}  // namespace poolwatch
