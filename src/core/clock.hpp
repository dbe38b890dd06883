// core/clock.hpp: monotonic deadlines.
//
// Thread safety: values; Deadline::expired() may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>

namespace wasimancer {

using Clock = std::chrono::steady_clock;

class Deadline {
 public:
  Deadline() = default;  // never expires
  static Deadline after(std::chrono::milliseconds d) { Deadline x; x.at_ = Clock::now() + d; x.set_ = true; return x; }

  bool is_set() const { return set_; }
  bool expired() const { return set_ && Clock::now() >= at_; }
  // Remaining time, clamped at zero; a large value when unset.
  std::chrono::milliseconds remaining() const {
    if (!set_) return std::chrono::hours(24 * 365);
    auto r = std::chrono::duration_cast<std::chrono::milliseconds>(at_ - Clock::now());
    return r.count() < 0 ? std::chrono::milliseconds(0) : r;
  }
  Clock::time_point at() const { return at_; }
  // Moves the deadline later by `d` (for time spent waiting on someone else, e.g. a client).
  void extend(Clock::duration d) {
    if (set_) at_ += d;
  }

 private:
  Clock::time_point at_{};
  bool set_ = false;
};

}  // namespace wasimancer
