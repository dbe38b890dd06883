// core/worker_pool.hpp: the threads that run wasm, apart from the network threads.
//
// A fixed number of workers takes tasks from per-key queues. A task is posted either without a
// key (post(task): admin work and the like; such tasks run in FIFO order, without a cap) or with
// one (post(key, task): a tool call, keyed by its plugin). Fair share:
//   - at most max_per_key() tasks of one key run at once (by default half the workers, at least
//     one), so a plugin hammered with slow or looping calls cannot hold every worker;
//   - queued tasks are served round-robin across keys (the unkeyed queue is one of them), so a
//     key with a long queue does not delay the others by its whole queue.
// With borrowing on (in-process plugins: an extra concurrent call costs no process), a key at its
// cap may still use a worker that no other key's task is waiting for, so one plugin alone can
// keep every worker busy; a task within its key's share that finds every worker taken while some
// run borrowed tasks gets an extra worker at once (which takes no borrowed task and exits when
// done), so borrowing never makes a fair call wait. Nothing is borrowed while the pool has more
// threads than its size, and a blocked task starts a replacement only for a queued task within
// its key's share: borrowed tasks that block cannot make the pool grow with them.
// A task that must wait on something outside the pool (a client answering a sampling request,
// say) wraps the wait in a BlockingScope: while it waits, the pool may start an extra worker so
// queued calls are not starved; extra workers exit once the pool is back to its normal size.
//
// Ownership: the pool owns its threads; the destructor stops accepting work, runs what is queued
// and waits for every worker. Thread safety: post(), size(), wait_idle() and the accessors are
// safe from any thread; a BlockingScope belongs on one of the pool's workers.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace wasimancer {

class WorkerPool {
 public:
  // `max_per_key`: how many tasks of one key may run at once while other keys' tasks wait; 0
  // picks the default share. `borrow`: whether a key may go over it when nothing else waits.
  explicit WorkerPool(size_t threads, size_t max_per_key = 0, bool borrow = false);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // The default cap for `threads` workers and a share in percent (1-100): at least one worker,
  // at most all of them.
  static size_t share_of(size_t threads, unsigned percent);
  static constexpr unsigned kDefaultSharePercent = 50;

  // An unkeyed task: FIFO with the other unkeyed tasks, no cap.
  void post(std::function<void()> task);
  // A task of `key` (e.g. a plugin name): at most max_per_key() of them run at once; keys with
  // queued tasks are served round-robin.
  void post(std::string_view key, std::function<void()> task);

  size_t size() const { return target_; }
  size_t max_per_key() const { return max_per_key_; }
  // Tasks waiting in the queues (not running).
  size_t queued() const;
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
    bool borrowed_;  // the blocked task was taken over its key's share
  };

 private:
  struct Key {
    std::deque<std::function<void()>> tasks;
    size_t running = 0;   // borrowed ones included
    bool capped = true;   // false for the unkeyed queue
    bool in_ring = false;
  };
  // Queues the task; true when the caller must wake a worker (after releasing the lock).
  bool enqueue_locked(const std::string& key, bool capped, std::function<void()> task);
  // The next task a free worker may run (round-robin over keys within their share; with
  // `may_borrow`, then the first key in the ring over its share: *borrowed set), or nullptr.
  Key* next_eligible_locked(std::string* key_out, bool may_borrow, bool* borrowed);
  bool has_eligible_locked() const;  // a task a worker of the normal size may take
  bool has_within_share_locked() const;  // a queued task within its key's share
  bool within_share(const Key& k) const { return !k.capped || k.running < max_per_key_; }
  void spawn_locked();
  void run();

  const size_t target_;
  const size_t max_per_key_;
  const bool borrow_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  std::unordered_map<std::string, Key> keys_;  // keys with queued or running tasks
  std::list<std::string> ring_;                // keys with queued tasks, in service order
  size_t queued_ = 0;
  size_t threads_ = 0;
  size_t idle_ = 0;
  size_t waking_ = 0;  // idle workers signalled that have not woken yet
  size_t blocked_ = 0;
  size_t running_ = 0;
  size_t borrowed_ = 0;  // running tasks taken over their key's share
  size_t borrowed_blocked_ = 0;  // of those, the ones in a BlockingScope
  bool stopping_ = false;
};

}  // namespace wasimancer
