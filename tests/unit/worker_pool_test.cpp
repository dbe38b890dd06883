#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/worker_pool.hpp"

using namespace wasimancer;
using namespace std::chrono_literals;

namespace {

// How many of a set of tasks run at once, and the most that ever did.
struct Concurrency {
  std::atomic<int> now{0}, peak{0};
  void enter() {
    int n = ++now;
    int p = peak.load();
    while (n > p && !peak.compare_exchange_weak(p, n)) {}
  }
  void leave() { --now; }
};

// Threads of this process named "wm-worker" (core/thread_name.hpp).
int worker_threads() {
  int n = 0;
  for (const auto& t : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(t.path() / "comm");
    std::string name;
    std::getline(comm, name);
    n += name == "wm-worker";
  }
  return n;
}

// `n` tasks of one key ("hog"), each `each` long (waiting in a BlockingScope when `blocking`),
// run to the end by a pool of `threads` with that share: how many ran, the most at once, and the
// most worker threads any of them saw.
struct HogRun {
  int done = 0, peak = 0, most_threads = 0;
};
HogRun hog_run(size_t threads, size_t share, bool borrow, int n, std::chrono::milliseconds each, bool blocking = false) {
  // The workers of pools gone before have ended (they are detached: they leave a moment later).
  for (int i = 0; i < 500 && worker_threads() > 0; ++i) std::this_thread::sleep_for(10ms);
  Concurrency running;
  std::atomic<int> done{0}, most_threads{0};
  {
    WorkerPool pool(threads, share, borrow);
    for (int i = 0; i < n; ++i) {
      pool.post("hog", [&] {
        std::optional<WorkerPool::BlockingScope> waiting;
        if (blocking) waiting.emplace(pool);
        running.enter();
        int t = worker_threads();
        int m = most_threads.load();
        while (t > m && !most_threads.compare_exchange_weak(m, t)) {}
        std::this_thread::sleep_for(each);
        running.leave();
        ++done;
      });
    }
  }
  return {done.load(), running.peak.load(), most_threads.load()};
}

}  // namespace

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

// ---- Fair share: keyed tasks (one key per plugin) --------------------------------------------

TEST(WorkerPool, DefaultShareIsHalfTheWorkersAtLeastOne) {
  EXPECT_EQ(WorkerPool(1).max_per_key(), 1u);
  EXPECT_EQ(WorkerPool(2).max_per_key(), 1u);
  EXPECT_EQ(WorkerPool(4).max_per_key(), 2u);
  EXPECT_EQ(WorkerPool(3, 3).max_per_key(), 3u);
  EXPECT_EQ(WorkerPool::share_of(8, 25), 2u);
  EXPECT_EQ(WorkerPool::share_of(8, 100), 8u);
  EXPECT_EQ(WorkerPool::share_of(8, 0), 1u);
  EXPECT_EQ(WorkerPool::share_of(2, 1), 1u);
  EXPECT_EQ(WorkerPool::share_of(16, 200), 16u);
}

TEST(WorkerPool, OneKeyNeverHoldsMoreThanItsShare) {
  HogRun run = hog_run(4, 2, false, 40, 2ms);
  EXPECT_EQ(run.done, 40);
  EXPECT_EQ(run.peak, 2);
}

// The scenario of issue 15: a plugin hammered with calls that take long (they loop until their
// timeout) and a well-behaved plugin. The well-behaved calls must not wait behind the slow ones:
// each must start well before one slow call could have ended (a figure of this run: the slow
// task's length), however many slow calls are queued.
namespace {

// With `borrow`, the slow key also takes the worker the quick key leaves free: returns the most
// slow calls that ran at once.
int slow_key_does_not_delay_other_keys(bool borrow) {
  constexpr auto kSlow = 600ms;
  std::atomic<bool> stop{false};
  std::vector<double> waits_ms;
  std::mutex mu;
  std::atomic<int> slow_done{0};
  Concurrency slow_running;
  WorkerPool pool(2, 0, borrow);  // one slot per key: the default share of 2 workers
  // Two "clients" keep 3 slow calls queued at all times.
  std::atomic<int> slow_queued{0};
  std::function<void()> slow = [&] {
    --slow_queued;
    slow_running.enter();
    std::this_thread::sleep_for(kSlow);
    slow_running.leave();
    ++slow_done;
  };
  for (int i = 0; i < 3; ++i) {
    ++slow_queued;
    pool.post("looping", slow);
  }
  std::thread feeder([&] {
    while (!stop) {
      while (slow_queued.load() < 3) {
        ++slow_queued;
        pool.post("looping", slow);
      }
      std::this_thread::sleep_for(5ms);
    }
  });
  // Quick calls for longer than a few slow ones take.
  auto until = std::chrono::steady_clock::now() + 3 * kSlow;
  while (std::chrono::steady_clock::now() < until || waits_ms.size() < 20) {
    std::promise<void> ran;
    auto posted = std::chrono::steady_clock::now();
    pool.post("quick", [&] { ran.set_value(); });
    ran.get_future().wait();
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - posted).count();
    std::lock_guard lock(mu);
    waits_ms.push_back(ms);
    std::this_thread::sleep_for(20ms);
  }
  int slow_during = slow_done.load();
  stop = true;
  feeder.join();
  std::sort(waits_ms.begin(), waits_ms.end());
  double slow_ms = std::chrono::duration<double, std::milli>(kSlow).count();
  EXPECT_LT(waits_ms.back(), slow_ms / 2) << "the slowest quick call waited " << waits_ms.back() << " ms";
  EXPECT_GE(slow_during, 2);  // the slow key kept its worker busy meanwhile
  pool.wait_idle();
  return slow_running.peak.load();
}

}  // namespace

TEST(WorkerPool, SlowKeyDoesNotDelayOtherKeys) {
  EXPECT_EQ(slow_key_does_not_delay_other_keys(false), 1);
}

// Borrowing: the slow key uses both workers when nothing else waits, and a quick call that finds
// them both taken gets an extra worker at once (the same bound as without borrowing).
TEST(WorkerPool, BorrowingNeverDelaysAFairCall) {
  EXPECT_EQ(slow_key_does_not_delay_other_keys(true), 2);
  // The extra workers left once there was nothing for them (the pool above is gone: no worker).
  for (int i = 0; i < 500 && worker_threads() > 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(worker_threads(), 0);
}

TEST(WorkerPool, ALoneKeyBorrowsEveryFreeWorker) {
  HogRun run = hog_run(4, 2, true, 40, 2ms);
  EXPECT_EQ(run.done, 40);
  EXPECT_EQ(run.peak, 4);
  EXPECT_LE(run.most_threads, 4);  // no extra worker is started to borrow
}

// While a key borrows, the extra workers started for fair calls leave again: the pool is back to
// its size once the burst is over.
TEST(WorkerPool, ExtraWorkersLeaveAfterTheFairCalls) {
  std::atomic<bool> release{false};
  std::atomic<int> hog_running{0};
  WorkerPool pool(2, 1, true);
  struct Release {
    std::atomic<bool>& flag;
    ~Release() { flag = true; }
  } release_at_end{release};
  for (int i = 0; i < 4; ++i) {
    pool.post("hog", [&] {
      ++hog_running;
      while (!release) std::this_thread::sleep_for(1ms);
    });
  }
  for (int i = 0; i < 2000 && hog_running.load() < 2; ++i) std::this_thread::sleep_for(1ms);
  ASSERT_EQ(hog_running.load(), 2);  // both workers: one within the share, one borrowed
  std::promise<void> ran;
  pool.post("fair", [&] { ran.set_value(); });
  EXPECT_EQ(ran.get_future().wait_for(5s), std::future_status::ready) << "the fair call waited behind a borrowed worker";
  release = true;
  pool.wait_idle();
  for (int i = 0; i < 500 && worker_threads() > 2; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(worker_threads(), 2);
}

TEST(WorkerPool, QueuedKeysAreServedRoundRobin) {
  // One worker; 30 tasks of "a" queued before 3 of "b" and 3 unkeyed ones: b's and the unkeyed
  // ones run interleaved with a's, not after all of them.
  std::vector<std::string> order;
  std::mutex mu;
  std::promise<void> release;
  auto rel = release.get_future().share();
  {
    WorkerPool pool(1);
    pool.post("gate", [&] { rel.wait(); });
    auto rec = [&](std::string k) {
      return [&, k] {
        std::lock_guard lock(mu);
        order.push_back(k);
      };
    };
    for (int i = 0; i < 30; ++i) pool.post("a", rec("a"));
    for (int i = 0; i < 3; ++i) pool.post("b", rec("b"));
    for (int i = 0; i < 3; ++i) pool.post(rec("-"));
    release.set_value();
  }
  ASSERT_EQ(order.size(), 36u);
  auto last_of = [&](const std::string& k) { return std::find(order.rbegin(), order.rend(), k).base() - order.begin(); };
  EXPECT_LE(last_of("b"), 10);
  EXPECT_LE(last_of("-"), 10);
}

TEST(WorkerPool, UnkeyedTasksKeepFifoAndAreNotCapped) {
  std::promise<void> a, b;
  std::promise<void> release;
  auto rel = release.get_future().share();
  WorkerPool pool(2, 1);
  pool.post([&] { a.set_value(); rel.wait(); });
  pool.post([&] { b.set_value(); rel.wait(); });
  EXPECT_EQ(a.get_future().wait_for(5s), std::future_status::ready);
  EXPECT_EQ(b.get_future().wait_for(5s), std::future_status::ready);  // both run at once
  release.set_value();
  std::vector<int> order;
  std::mutex mu;
  {
    WorkerPool one(1);
    for (int i = 0; i < 50; ++i) {
      one.post([&, i] {
        std::lock_guard lock(mu);
        order.push_back(i);
      });
    }
  }
  for (int i = 0; i < 50; ++i) EXPECT_EQ(order[i], i);
}

TEST(WorkerPool, CappedTasksStillRunWhenWorkersBlock) {
  // A key at its cap whose task blocks (waiting on a client) does not stop other keys: the pool
  // adds a worker for them; and the blocked key's queued tasks run once it returns.
  std::promise<void> release;
  auto rel = release.get_future().share();
  std::atomic<int> blocked{0};
  std::atomic<int> others{0}, mine{0};
  {
    WorkerPool pool(2);
    for (int i = 0; i < 2; ++i) {
      pool.post(i == 0 ? "p" : "q", [&] {
        WorkerPool::BlockingScope scope(pool);
        ++blocked;
        rel.wait();
      });
    }
    while (blocked.load() < 2) std::this_thread::sleep_for(1ms);
    std::promise<void> ran;
    pool.post("r", [&] { ++others; ran.set_value(); });
    EXPECT_EQ(ran.get_future().wait_for(5s), std::future_status::ready);
    pool.post("p", [&] { ++mine; });
    release.set_value();
  }
  EXPECT_EQ(others.load(), 1);
  EXPECT_EQ(mine.load(), 1);
}

// Wake-ups are signalled after the lock is released and counted (an idle worker already woken
// is not woken twice): posts from several threads, one at a time with the pool going idle in
// between, and in bursts, must never leave a task queued with every worker asleep.
TEST(WorkerPool, NoTaskIsLeftQueuedWhileWorkersSleep) {
  for (size_t threads : {1u, 2u, 4u}) {
    WorkerPool pool(threads);
    std::atomic<int> done{0};
    constexpr int kPosters = 4, kEach = 3000;
    std::vector<std::thread> posters;
    for (int p = 0; p < kPosters; ++p) {
      posters.emplace_back([&, p] {
        for (int i = 0; i < kEach; ++i) {
          std::promise<void> ran;
          auto f = ran.get_future();
          bool wait_each = (i % 3) != 0;  // a third in bursts, the rest one at a time
          pool.post(p % 2 ? "a" : "b", [&, wait_each] {
            ++done;
            if (wait_each) ran.set_value();
          });
          if (wait_each) {
            ASSERT_EQ(f.wait_for(30s), std::future_status::ready) << "a task stayed queued (" << threads << " workers)";
          } else {
            // the promise must outlive the task: wait for it by counting instead
            while (pool.queued() > 64) std::this_thread::yield();
          }
        }
      });
    }
    for (auto& t : posters) t.join();
    auto until = std::chrono::steady_clock::now() + 30s;
    while (done.load() < kPosters * kEach && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(1ms);
    EXPECT_EQ(done.load(), kPosters * kEach) << threads << " workers";
  }
}

// Borrowed calls that block (a client that does not answer a sampling request) hold what they
// borrowed and no more: the pool does not start a worker for each of them.
TEST(WorkerPool, BlockedBorrowedCallsDoNotMultiplyWorkers) {
  HogRun run = hog_run(2, 1, true, 60, 5ms, /*blocking=*/true);
  EXPECT_EQ(run.done, 60);
  EXPECT_LE(run.peak, 2);  // its share (1) and one borrowed worker
  EXPECT_LE(run.most_threads, 2);
}

// Fair calls while a plugin's borrowed and own calls both block: extra workers for them, but no
// more than the pool's size at once (a blocked borrowed call was once counted twice, once as
// blocked and once as borrowed, and let 3 run on a pool of 2).
TEST(WorkerPool, FairCallsBesideBlockedBorrowedOnesKeepThePoolsSize) {
  std::atomic<bool> release{false};
  std::atomic<int> hogs{0}, fair_done{0};
  Concurrency fair_running;
  WorkerPool pool(2, 1, true);
  // Released before the pool is destroyed, even when an assertion returns early.
  struct Release {
    std::atomic<bool>& flag;
    ~Release() { flag = true; }
  } release_at_end{release};
  for (int i = 0; i < 6; ++i) {
    pool.post("hog", [&] {
      WorkerPool::BlockingScope waiting(pool);
      ++hogs;
      while (!release) std::this_thread::sleep_for(1ms);
    });
  }
  for (int i = 0; i < 2000 && hogs.load() < 2; ++i) std::this_thread::sleep_for(1ms);
  ASSERT_EQ(hogs.load(), 2);  // one within its share, one borrowed, both blocked
  for (int i = 0; i < 12; ++i) {
    pool.post("fair" + std::to_string(i), [&] {
      fair_running.enter();
      std::this_thread::sleep_for(30ms);
      fair_running.leave();
      ++fair_done;
    });
  }
  for (int i = 0; i < 5000 && fair_done.load() < 12; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(fair_done.load(), 12);  // they ran while the hog's calls stayed blocked
  EXPECT_EQ(fair_running.peak.load(), 2);
  EXPECT_EQ(hogs.load(), 2);  // and no worker borrowed another hog call meanwhile
  release = true;
  pool.wait_idle();
}
