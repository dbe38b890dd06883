#include "core/worker_pool.hpp"

#include <algorithm>
#include <thread>

#include "core/thread_name.hpp"

namespace wasimancer {

namespace {
// The unkeyed queue's key: keyed posts use names that are never empty (registry/names.hpp), and
// an empty key passed to post(key, ...) is treated as unkeyed too.
const std::string kUnkeyed;
// Whether the task this worker thread runs was taken over its key's share (for BlockingScope).
thread_local bool t_borrowed = false;
}  // namespace

size_t WorkerPool::share_of(size_t threads, unsigned percent) {
  percent = std::clamp(percent, 1u, 100u);
  return std::clamp<size_t>(threads * percent / 100, 1, std::max<size_t>(1, threads));
}

WorkerPool::WorkerPool(size_t threads, size_t max_per_key, bool borrow)
    : target_(threads == 0 ? 1 : threads),
      max_per_key_(max_per_key == 0 ? share_of(target_, kDefaultSharePercent) : max_per_key),
      borrow_(borrow) {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < target_; ++i) spawn_locked();
}

WorkerPool::~WorkerPool() {
  std::unique_lock lock(mu_);
  stopping_ = true;
  work_cv_.notify_all();
  done_cv_.wait(lock, [this] { return threads_ == 0; });
}

void WorkerPool::spawn_locked() {
  ++threads_;
  named_thread("wm-worker", [this] { run(); }).detach();
}

size_t WorkerPool::queued() const {
  std::lock_guard lock(mu_);
  return queued_;
}

void WorkerPool::wait_idle() {
  std::unique_lock lock(mu_);
  done_cv_.wait(lock, [this] { return queued_ == 0 && running_ == 0; });
}

// The wake-up is signalled after the lock is released: a worker woken while the poster still
// holds the lock would only block on it again (two more futex calls per post).
void WorkerPool::post(std::function<void()> task) {
  std::unique_lock lock(mu_);
  bool wake = enqueue_locked(kUnkeyed, false, std::move(task));
  lock.unlock();
  if (wake) work_cv_.notify_one();
}

void WorkerPool::post(std::string_view key, std::function<void()> task) {
  std::unique_lock lock(mu_);
  bool wake = enqueue_locked(std::string(key), !key.empty(), std::move(task));
  lock.unlock();
  if (wake) work_cv_.notify_one();
}

bool WorkerPool::enqueue_locked(const std::string& key, bool capped, std::function<void()> task) {
  Key& k = keys_[key];
  k.capped = capped;
  k.tasks.push_back(std::move(task));
  ++queued_;
  if (!k.in_ring) {
    ring_.push_back(key);
    k.in_ring = true;
  }
  const bool within = within_share(k);
  // Over its share and not borrowing: a worker takes it when one of its key's tasks ends.
  if (!within && !borrow_) return false;
  // Wake an idle worker, unless one was already woken for a task it has not taken yet.
  if (idle_ > waking_) {
    ++waking_;
    return true;
  }
  if (!within) return false;  // borrowing only takes a worker that is free
  if (idle_ == 0 && blocked_ > 0 && threads_ - blocked_ < target_) {
    spawn_locked();  // every normal worker is busy and some are only waiting: add one
  } else if (borrowed_ > borrowed_blocked_ && threads_ - blocked_ < target_ + (borrowed_ - borrowed_blocked_)) {
    // Every worker is busy and some only on borrowed time: one for this call. (A blocked
    // borrowed task is already left out through blocked_.)
    spawn_locked();
  }
  return false;
}

bool WorkerPool::has_eligible_locked() const {
  return (borrow_ && !ring_.empty()) || has_within_share_locked();  // borrowing: any queued task
}

bool WorkerPool::has_within_share_locked() const {
  for (const auto& name : ring_) {
    if (within_share(keys_.at(name))) return true;
  }
  return false;
}

WorkerPool::Key* WorkerPool::next_eligible_locked(std::string* key_out, bool may_borrow, bool* borrowed) {
  *borrowed = false;
  auto take = [&](std::list<std::string>::iterator it) {
    Key& k = keys_.at(*it);
    *key_out = *it;
    // Served: to the back of the ring if it has more, out of it otherwise.
    ring_.erase(it);
    if (k.tasks.size() > 1) ring_.push_back(*key_out);
    else k.in_ring = false;
    return &k;
  };
  for (auto it = ring_.begin(); it != ring_.end(); ++it) {
    if (within_share(keys_.at(*it))) return take(it);
  }
  if (may_borrow && borrow_ && !ring_.empty()) {
    *borrowed = true;
    return take(ring_.begin());
  }
  return nullptr;
}

void WorkerPool::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    std::string key;
    bool borrowed = false;
    // No task is borrowed while the pool has more threads than its size (extra workers started
    // for a blocked task or a fair call are there for calls within their share, and leave when
    // there is none): a plugin whose borrowed calls block cannot make the pool grow with them.
    Key* k = next_eligible_locked(&key, threads_ <= target_, &borrowed);
    if (!k) {
      // Too many workers (a blocked one came back): let this one go. When stopping, stay while
      // queued tasks remain (they wait for their key's running tasks to end).
      if (threads_ - blocked_ > target_ || (stopping_ && queued_ == 0)) break;
      // Every return from wait() counts as the wake-up a poster asked for (a spurious one only
      // makes a later post wake one more worker than needed); the top of the loop re-checks.
      ++idle_;
      work_cv_.wait(lock);
      --idle_;
      if (waking_ > 0) --waking_;
      continue;
    }
    auto task = std::move(k->tasks.front());
    k->tasks.pop_front();
    --queued_;
    ++k->running;
    ++running_;
    if (borrowed) ++borrowed_;
    // More runnable work than this worker: wake one more (which does the same in turn). Done
    // here rather than when a task ends, where the ending worker takes the next task itself.
    bool wake_another = idle_ > waking_ && queued_ > 0 && has_eligible_locked();
    if (wake_another) ++waking_;
    lock.unlock();
    if (wake_another) work_cv_.notify_one();
    t_borrowed = borrowed;
    task();
    t_borrowed = false;
    task = nullptr;
    lock.lock();
    --running_;
    if (borrowed) --borrowed_;
    auto it = keys_.find(key);
    if (--it->second.running == 0 && it->second.tasks.empty()) keys_.erase(it);
    // A task of this key may run now: this worker takes the next eligible task at the top of the
    // loop (and wakes another if more than one is runnable), so no wake-up here.
    if (queued_ == 0 && running_ == 0) done_cv_.notify_all();
  }
  --threads_;
  done_cv_.notify_all();
  work_cv_.notify_all();
}

WorkerPool::BlockingScope::BlockingScope(WorkerPool& pool) : pool_(pool), borrowed_(t_borrowed) {
  std::lock_guard lock(pool_.mu_);
  ++pool_.blocked_;
  if (borrowed_) ++pool_.borrowed_blocked_;
  // A worker for the queued calls within their share. Not for borrowing: a plugin whose borrowed
  // calls block would otherwise get a new worker for each (one thread per call in flight).
  if (pool_.has_within_share_locked() && pool_.idle_ == 0 && pool_.threads_ - pool_.blocked_ < pool_.target_) {
    pool_.spawn_locked();
  }
}

WorkerPool::BlockingScope::~BlockingScope() {
  std::lock_guard lock(pool_.mu_);
  --pool_.blocked_;
  if (borrowed_) --pool_.borrowed_blocked_;
  pool_.work_cv_.notify_all();  // an extra worker may now retire
}

}  // namespace wasimancer
