#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "core/worker_pool.hpp"

using namespace wasimancer;
using namespace std::chrono_literals;

TEST(WorkerPool, RunsEveryTask) {
  std::atomic<int> n{0};
  {
    WorkerPool pool(2);
    for (int i = 0; i < 1000; ++i) pool.post([&] { ++n; });
  }  // the destructor drains the queue
  EXPECT_EQ(n.load(), 1000);
}

TEST(WorkerPool, RunsTasksInParallel) {
  WorkerPool pool(2);
  std::promise<void> a_started, b_started;
  std::promise<void> release;
  auto rel = release.get_future().share();
  pool.post([&] { a_started.set_value(); rel.wait(); });
  pool.post([&] { b_started.set_value(); rel.wait(); });
  EXPECT_EQ(a_started.get_future().wait_for(5s), std::future_status::ready);
  EXPECT_EQ(b_started.get_future().wait_for(5s), std::future_status::ready);
  release.set_value();
}

TEST(WorkerPool, BlockedWorkersDoNotStarveQueuedTasks) {
  // Both workers wait on something outside the pool; a third task must still run.
  WorkerPool pool(2);
  std::promise<void> release;
  auto rel = release.get_future().share();
  std::atomic<int> blocked{0};
  for (int i = 0; i < 2; ++i) {
    pool.post([&] {
      WorkerPool::BlockingScope scope(pool);
      ++blocked;
      rel.wait();
    });
  }
  while (blocked.load() < 2) std::this_thread::sleep_for(1ms);
  std::promise<void> third;
  pool.post([&] { third.set_value(); });
  EXPECT_EQ(third.get_future().wait_for(5s), std::future_status::ready);
  release.set_value();
}
