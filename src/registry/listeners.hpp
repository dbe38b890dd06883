// registry/listeners.hpp: the change listeners of Registry and the catalogs.
//
// Each listener gets a token for remove(). notify() calls a copy of the list taken under the
// lock, so listeners run outside it (they may add or remove listeners).
// Ownership: owns the callbacks; whatever they capture must outlive their registration.
// Thread safety: every method is safe from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <utility>
#include <vector>

namespace wasimancer::registry {

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

}  // namespace wasimancer::registry
