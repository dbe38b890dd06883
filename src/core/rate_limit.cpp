#include "core/rate_limit.hpp"

#include <algorithm>

namespace wasimancer {

void RateLimiter::refill(Bucket& b, Clock::time_point now) const {
  if (now <= b.last) return;
  double secs = std::chrono::duration<double>(now - b.last).count();
  b.events = std::min(config_.burst_events, b.events + secs * config_.events_per_second);
  b.bytes = std::min(config_.burst_bytes, b.bytes + secs * config_.bytes_per_second);
  b.last = now;
}

bool RateLimiter::is_full(const Bucket& b) const {
  return b.dropped == 0 && b.events >= config_.burst_events && b.bytes >= config_.burst_bytes;
}

RateLimiter::Decision RateLimiter::admit(std::string_view key, uint64_t bytes, Clock::time_point now) {
  std::lock_guard lock(mu_);
  Bucket* b = nullptr;
  auto it = buckets_.find(std::string(key));
  if (it != buckets_.end()) {
    b = &it->second;
  } else {
    if (buckets_.size() >= config_.max_keys) {
      // Forget the keys that are back to a full bucket: a new bucket is the same.
      for (auto i = buckets_.begin(); i != buckets_.end();) {
        refill(i->second, now);
        i = is_full(i->second) ? buckets_.erase(i) : std::next(i);
      }
    }
    if (buckets_.size() < config_.max_keys) {
      Bucket fresh{config_.burst_events, config_.burst_bytes, now, 0, 0};
      b = &buckets_.emplace(std::string(key), fresh).first->second;
    } else {
      if (!overflow_started_) {
        overflow_ = Bucket{config_.burst_events, config_.burst_bytes, now, 0, 0};
        overflow_started_ = true;
      }
      b = &overflow_;
    }
  }
  refill(*b, now);
  // An event larger than the byte burst could never pass: it passes when the bucket is full,
  // leaving it empty (so such events are limited by time, not refused for ever).
  double need_bytes = std::min(static_cast<double>(bytes), config_.burst_bytes);
  Decision d;
  if (b->events >= 1 && b->bytes >= need_bytes) {
    b->events -= 1;
    b->bytes -= need_bytes;
    d.allowed = true;
    d.dropped_before = b->dropped;
    d.dropped_bytes_before = b->dropped_bytes;
    b->dropped = 0;
    b->dropped_bytes = 0;
  } else {
    b->dropped += 1;
    b->dropped_bytes += bytes;
    dropped_total_ += 1;
  }
  return d;
}

uint64_t RateLimiter::dropped_total() const {
  std::lock_guard lock(mu_);
  return dropped_total_;
}

}  // namespace wasimancer
