// core/worker_pool.hpp: the threads that run wasm, apart from the network threads.
//
// A fixed number of workers takes tasks from one FIFO queue. A task that must wait on something
// outside the pool (a client answering a sampling request, say) wraps the wait in a
// BlockingScope: while it waits, the pool may start an extra worker so queued calls are not
// starved; extra workers exit once the pool is back to its normal size.
//
// Ownership: the pool owns its threads; the destructor stops accepting work, runs what is queued
// and waits for every worker. Thread safety: post(), size() and wait_idle() are safe from any
// thread; a BlockingScope belongs on one of the pool's workers.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>

namespace wasimancer {

class WorkerPool {
 public:
  explicit WorkerPool(size_t threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void post(std::function<void()> task);
  size_t size() const { return target_; }
  // Blocks until the queue is empty and no task is running (shutdown: nothing left in flight).
  void wait_idle();

  // Marks the calling worker as blocked for the scope's lifetime. Use it only on one of this
  // pool's own workers (the accounting assumes every blocked thread is one of them).
  class BlockingScope {
   public:
    explicit BlockingScope(WorkerPool& pool);
    ~BlockingScope();
    BlockingScope(const BlockingScope&) = delete;
    BlockingScope& operator=(const BlockingScope&) = delete;

   private:
    WorkerPool& pool_;
  };

 private:
  void spawn_locked();
  void run();

  const size_t target_;
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  std::deque<std::function<void()>> queue_;
  size_t threads_ = 0;
  size_t idle_ = 0;
  size_t blocked_ = 0;
  size_t running_ = 0;
  bool stopping_ = false;
};

}  // namespace wasimancer
