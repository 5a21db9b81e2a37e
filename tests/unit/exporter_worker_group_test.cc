#include "exporter/worker_group.h"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace poolwatch {
namespace {

int ProcessThreads() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
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

TEST(WorkerGroupTest, ThreadCountStaysFixedAcrossManyBatches) {
  const int before = ProcessThreads();
  WorkerGroup group(2);
  EXPECT_EQ(ProcessThreads(), before + 2);
  std::atomic<int> total{0};
  for (int batch = 0; batch < 200; ++batch) {
    group.RunAll(3, [&](std::size_t) { total.fetch_add(1); });
    ASSERT_EQ(ProcessThreads(), before + 2) << "batch " << batch;
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
