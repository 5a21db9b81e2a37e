#pragma once

#include <memory>
#include <mutex>

#include "collectors/snapshot.h"

namespace poolwatch {

/// Holds the latest published snapshot. Thread-safe; readers get a shared_ptr<const> and never
/// block the sampler for longer than a pointer copy.
class SnapshotStore {
 public:
  void Publish(std::shared_ptr<const Snapshot> s) {
    std::lock_guard<std::mutex> lock(mutex_);
    latest_ = std::move(s);
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
