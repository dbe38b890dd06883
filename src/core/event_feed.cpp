#include "core/event_feed.hpp"

#include <fmt/format.h>

namespace wasimancer::events {

void Feed::publish(std::string_view type, std::string json) {
  std::lock_guard lock(mu_);
  uint64_t id = next_id_++;
  std::string chunk = fmt::format("id: {}\nevent: {}\ndata: {}\n\n", id, type, json);
  for (auto it = subs_.begin(); it != subs_.end();) {
    if (it->second(chunk)) {
      ++it;
    } else {
      it = subs_.erase(it);
    }
  }
  subscribers_.store(subs_.size(), std::memory_order_relaxed);
  history_.push_back(Event{id, std::move(chunk)});
  if (history_.size() > kHistory) history_.pop_front();
}

uint64_t Feed::subscribe(Push push, uint64_t after) {
  std::lock_guard lock(mu_);
  if (subs_.size() >= kMaxSubscribers) return 0;
  for (const auto& e : history_) {
    if (e.id > after && !push(e.chunk)) return 0;
  }
  uint64_t token = next_token_++;
  subs_[token] = std::move(push);
  subscribers_.store(subs_.size(), std::memory_order_relaxed);
  return token;
}

void Feed::unsubscribe(uint64_t token) {
  std::lock_guard lock(mu_);
  subs_.erase(token);
  subscribers_.store(subs_.size(), std::memory_order_relaxed);
}

uint64_t Feed::last_id() const {
  std::lock_guard lock(mu_);
  return next_id_ - 1;
}

Feed& feed() {
  static Feed* f = new Feed();
  return *f;
}

}  // namespace wasimancer::events
