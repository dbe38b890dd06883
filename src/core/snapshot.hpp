// core/snapshot.hpp: an immutable value readers share, swapped whole by writers, with listeners.
//
// Snapshot<T> is what Registry (plugins), the resource and prompt catalogs and the shared store
// hold: readers call get() (one atomic load) and keep the shared_ptr for as long as they like;
// a writer builds the next value and calls set() (one atomic store), so no reader ever sees a
// half-applied change. Writers serialise themselves (each owner has its own write lock); the
// snapshot only makes the swap atomic.
//
// Listeners<Event>: change listeners, each with a token for remove(). notify() calls a copy of the
// list taken under the lock, so listeners run outside it (they may add or remove listeners).
//
// Ownership: a Snapshot owns the current value (shared with readers) and its listeners; whatever
// a listener captures must outlive its registration. Thread safety: every method is safe from
// any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace wasimancer {

template <typename Event>
class Listeners {
 public:
  using Listener = std::function<void(const Event&)>;

  uint64_t add(Listener listener) {
    std::lock_guard lock(mu_);
    list_.emplace_back(next_, std::move(listener));
    return next_++;
  }

  void remove(uint64_t token) {
    std::lock_guard lock(mu_);
    std::erase_if(list_, [token](const auto& l) { return l.first == token; });
  }

  void notify(const Event& event) const {
    std::vector<std::pair<uint64_t, Listener>> copy;
    {
      std::lock_guard lock(mu_);
      copy = list_;
    }
    for (auto& [token, l] : copy) l(event);
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::pair<uint64_t, Listener>> list_;
  uint64_t next_ = 1;
};

// The current value of T, and the listeners of its changes (events of type Event, T by default).
template <typename T, typename Event = T>
class Snapshot {
 public:
  explicit Snapshot(std::shared_ptr<const T> initial = std::make_shared<const T>()) : value_(std::move(initial)) {}

  std::shared_ptr<const T> get() const { return std::atomic_load(&value_); }
  // Swaps in `next` (one atomic store). Does not notify: the owner calls notify() once its own
  // lock allows (listeners must see changes in commit order; see each owner's header).
  void set(std::shared_ptr<const T> next) { std::atomic_store(&value_, std::move(next)); }

  uint64_t on_change(typename Listeners<Event>::Listener listener) { return listeners_.add(std::move(listener)); }
  void remove_listener(uint64_t token) { listeners_.remove(token); }
  void notify(const Event& event) const { listeners_.notify(event); }

 private:
  std::shared_ptr<const T> value_;
  Listeners<Event> listeners_;
};

}  // namespace wasimancer
