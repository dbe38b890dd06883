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
  // The tasks refer to these, so they are declared before the pool (which joins its workers
  // when destroyed) and outlive every task.
  std::promise<void> a_started, b_started;
  std::promise<void> release;
  auto rel = release.get_future().share();
  WorkerPool pool(2);
  pool.post([&] { a_started.set_value(); rel.wait(); });
  pool.post([&] { b_started.set_value(); rel.wait(); });
  EXPECT_EQ(a_started.get_future().wait_for(5s), std::future_status::ready);
  EXPECT_EQ(b_started.get_future().wait_for(5s), std::future_status::ready);
  release.set_value();
}

TEST(WorkerPool, BlockedWorkersDoNotStarveQueuedTasks) {
  // Both workers wait on something outside the pool; a third task must still run.
  std::promise<void> release;
  auto rel = release.get_future().share();
  std::atomic<int> blocked{0};
  std::promise<void> third;
  WorkerPool pool(2);  // declared last: destroyed (joined) before what its tasks refer to
  for (int i = 0; i < 2; ++i) {
    pool.post([&] {
      WorkerPool::BlockingScope scope(pool);
      ++blocked;
      rel.wait();
    });
  }
  while (blocked.load() < 2) std::this_thread::sleep_for(1ms);
  pool.post([&] { third.set_value(); });
  EXPECT_EQ(third.get_future().wait_for(5s), std::future_status::ready);
  release.set_value();
}
