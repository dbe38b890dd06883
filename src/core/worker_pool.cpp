#include "core/worker_pool.hpp"

#include <thread>

namespace wasimancer {

WorkerPool::WorkerPool(size_t threads) : target_(threads == 0 ? 1 : threads) {
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
  std::thread([this] { run(); }).detach();
}

void WorkerPool::wait_idle() {
  std::unique_lock lock(mu_);
  done_cv_.wait(lock, [this] { return queue_.empty() && running_ == 0; });
}

void WorkerPool::post(std::function<void()> task) {
  std::lock_guard lock(mu_);
  queue_.push_back(std::move(task));
  if (idle_ > 0) {
    work_cv_.notify_one();
  } else if (blocked_ > 0 && threads_ - blocked_ < target_) {
    spawn_locked();  // every normal worker is busy and some are only waiting: add one
  }
}

void WorkerPool::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    if (queue_.empty()) {
      // Too many workers (a blocked one came back): let this one go.
      if (threads_ - blocked_ > target_ || stopping_) break;
      ++idle_;
      work_cv_.wait(lock, [this] { return !queue_.empty() || stopping_ || threads_ - blocked_ > target_; });
      --idle_;
      continue;
    }
    auto task = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    lock.unlock();
    task();
    task = nullptr;
    lock.lock();
    --running_;
    if (queue_.empty() && running_ == 0) done_cv_.notify_all();
  }
  --threads_;
  done_cv_.notify_all();
  work_cv_.notify_all();
}

WorkerPool::BlockingScope::BlockingScope(WorkerPool& pool) : pool_(pool) {
  std::lock_guard lock(pool_.mu_);
  ++pool_.blocked_;
  if (!pool_.queue_.empty() && pool_.idle_ == 0 && pool_.threads_ - pool_.blocked_ < pool_.target_) {
    pool_.spawn_locked();
  }
}

WorkerPool::BlockingScope::~BlockingScope() {
  std::lock_guard lock(pool_.mu_);
  --pool_.blocked_;
  pool_.work_cv_.notify_all();  // an extra worker may now retire
}

}  // namespace wasimancer
