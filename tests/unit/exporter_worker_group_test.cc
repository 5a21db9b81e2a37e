#include "exporter/worker_group.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace poolwatch {
namespace {

// The ids of this process's threads.
std::set<std::string> ProcessTasks() {
  std::set<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    out.insert(e.path().filename().string());
  }
  return out;
}

// Threads that exist now and did not in `before`.
std::set<std::string> NewTasks(const std::set<std::string>& before) {
  std::set<std::string> out;
  for (const auto& t : ProcessTasks()) {
    if (before.count(t) == 0) out.insert(t);
  }
  return out;
}

TEST(WorkerGroupTest, RunsEveryJobOnceInParallelWithTheCallerTakingTheFirst) {
  WorkerGroup group(3);
  std::vector<std::thread::id> ran_on(4);
  std::vector<int> runs(4, 0);
  group.RunAll(4, [&](std::size_t i) {
    ran_on[i] = std::this_thread::get_id();
    ++runs[i];
  });
  EXPECT_EQ(runs, (std::vector<int>{1, 1, 1, 1}));
  EXPECT_EQ(ran_on[0], std::this_thread::get_id());
  EXPECT_EQ(std::set<std::thread::id>(ran_on.begin(), ran_on.end()).size(), 4u);
}

TEST(WorkerGroupTest, ABlockedJobDoesNotSerializeTheOthers) {
  // Job 1 waits until job 2 has run: only possible if they run at the same time.
  WorkerGroup group(2);
  std::atomic<bool> second_ran{false};
  bool first_saw_second = false;
  group.RunAll(3, [&](std::size_t i) {
    if (i == 2) second_ran = true;
    if (i == 1) {
      for (int spin = 0; spin < 5000 && !second_ran; ++spin) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      first_saw_second = second_ran;
    }
  });
  EXPECT_TRUE(first_saw_second);
}

// By thread id, not by count: a thread an earlier test left exiting must not count.
TEST(WorkerGroupTest, ThreadCountStaysFixedAcrossManyBatches) {
  const std::set<std::string> before = ProcessTasks();
  WorkerGroup group(2);
  const std::set<std::string> workers = NewTasks(before);
  EXPECT_EQ(workers.size(), 2u);
  std::atomic<int> total{0};
  for (int batch = 0; batch < 200; ++batch) {
    group.RunAll(3, [&](std::size_t) { total.fetch_add(1); });
    ASSERT_EQ(NewTasks(before), workers) << "batch " << batch;
  }
  EXPECT_EQ(total.load(), 600);
}

TEST(WorkerGroupTest, SmallerBatchesAndThrowingJobsStillComplete) {
  WorkerGroup group(3);
  std::atomic<int> total{0};
  group.RunAll(2, [&](std::size_t) { total.fetch_add(1); });
  EXPECT_EQ(total.load(), 2);
  group.RunAll(4, [&](std::size_t i) {
    total.fetch_add(1);
    if (i == 3) throw std::runtime_error("boom");
  });
  EXPECT_EQ(total.load(), 6);
  group.RunAll(1, [&](std::size_t) { total.fetch_add(1); });
  EXPECT_EQ(total.load(), 7);
  EXPECT_THROW(group.RunAll(5, [](std::size_t) {}), std::invalid_argument);
}

TEST(WorkerGroupTest, NoWorkersRunsOnTheCaller) {
  WorkerGroup group(0);
  int runs = 0;
  group.RunAll(1, [&](std::size_t) { ++runs; });
  EXPECT_EQ(runs, 1);
}

}  // namespace
}  // namespace poolwatch
