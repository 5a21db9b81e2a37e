#pragma once

#include <memory>
#include <mutex>

#include "collectors/snapshot.h"

namespace poolwatch {

/// Holds the latest published snapshot as HTTP serves it: the rendered text, its gzip and the
/// targets' statuses, without the MetricSet they were rendered from (the alert evaluator's
/// alone, which drops it once evaluated). Thread-safe; readers get a
/// shared_ptr<const> and never block the sampler for longer than a pointer copy.
class SnapshotStore {
 public:
  void Publish(const std::shared_ptr<const Snapshot>& s) {
    std::shared_ptr<const Snapshot> served = s ? Served(*s) : nullptr;
    std::lock_guard<std::mutex> lock(mutex_);
    latest_ = std::move(served);
  }
  /// Everything of `s` but its metrics; the exposition is shared, not copied.
  static std::shared_ptr<const Snapshot> Served(const Snapshot& s) {
    auto out = std::make_shared<Snapshot>();
    out->sequence = s.sequence;
    out->taken_at = s.taken_at;
    out->targets = s.targets;
    out->external_labels = s.external_labels;
    out->exposition = s.exposition;
    return out;
  }
  std::shared_ptr<const Snapshot> Latest() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return latest_;
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Snapshot> latest_;
};

}  // namespace poolwatch
