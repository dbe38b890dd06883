// transport/async_queue.hpp: a queue that any thread pushes to and one coroutine pops from.
//
// The coroutine waits on a timer that push() cancels through the owner's event loop, which one
// thread runs, so the timer is only ever touched on that thread. Ownership: shared between the
// producer(s) and the consuming coroutine. Thread safety: push/close from any thread; pop only
// on the loop.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>

#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>

namespace wasimancer::transport {

template <typename T>
class AsyncQueue : public std::enable_shared_from_this<AsyncQueue<T>> {
 public:
  // The consumer's event loop, run by one thread: what it runs is serialised without a strand.
  using Executor = boost::asio::io_context::executor_type;

  explicit AsyncQueue(Executor ex) : ex_(ex), timer_(ex) {}

  // False if the queue is closed (the item is dropped).
  bool push(T item) {
    {
      std::lock_guard lock(mu_);
      if (closed_) return false;
      items_.push_back(std::move(item));
    }
    wake();
    return true;
  }

  void close() {
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
      closed_ = true;
    }
    wake();
  }

  bool closed() const {
    std::lock_guard lock(mu_);
    return closed_;
  }

  enum class Status { Item, Closed, Timeout };

  // Waits for an item, the close, or `timeout`.
  boost::asio::awaitable<Status> pop(T& out, std::chrono::steady_clock::duration timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      {
        std::lock_guard lock(mu_);
        if (!items_.empty()) {
          out = std::move(items_.front());
          items_.pop_front();
          co_return Status::Item;
        }
        if (closed_) co_return Status::Closed;
      }
      if (std::chrono::steady_clock::now() >= until) co_return Status::Timeout;
      timer_.expires_at(until);
      co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
  }

 private:
  void wake() {
    boost::asio::post(ex_, [self = this->shared_from_this()] { self->timer_.cancel(); });
  }

  Executor ex_;
  boost::asio::steady_timer timer_;
  mutable std::mutex mu_;
  std::deque<T> items_;
  bool closed_ = false;
};

}  // namespace wasimancer::transport
