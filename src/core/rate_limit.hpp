// core/rate_limit.hpp: a token-bucket rate limiter per key, and a throttled log line.
//
// RateLimiter: each key (a plugin name, "refused connection", a client address...) has two
// buckets, one counting events (lines) and one counting bytes; each starts full (the burst) and
// refills at its rate. admit() takes one event of `bytes` from the key's buckets if both hold
// enough, and otherwise counts the event as dropped. The next admitted event reports how many
// were dropped before it (so the caller writes one "N messages dropped" line instead of N
// lines). The number of keys is bounded (max_keys): keys whose buckets are full again are
// forgotten first (forgetting them changes nothing); beyond that, new keys share one bucket.
//
// LogThrottle: a log line that may repeat without bound (a refused connection, an evicted
// session), written through a RateLimiter with one key per call site.
//
// Ownership: values own their state. Thread safety: admit() and the LogThrottle methods are
// safe from any thread (one mutex per limiter).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include <fmt/format.h>

#include "core/clock.hpp"
#include "core/log.hpp"

namespace wasimancer {

class RateLimiter {
 public:
  struct Config {
    double events_per_second = 100;  // sustained rate of events
    double burst_events = 1000;      // events admitted at once from a full bucket
    double bytes_per_second = 64 * 1024;
    double burst_bytes = 1024 * 1024;
    size_t max_keys = 4096;
  };
  struct Decision {
    bool allowed = false;
    uint64_t dropped_before = 0;        // events of this key dropped since its last admitted one
    uint64_t dropped_bytes_before = 0;  // their bytes
  };

  RateLimiter() : RateLimiter(Config{}) {}
  explicit RateLimiter(Config config) : config_(config) {}

  // One event of `bytes` for `key`, at `now` (tests pass their own clock).
  Decision admit(std::string_view key, uint64_t bytes = 0, Clock::time_point now = Clock::now());

  // Events dropped so far, over every key.
  uint64_t dropped_total() const;
  const Config& config() const { return config_; }

 private:
  struct Bucket {
    double events = 0;
    double bytes = 0;
    Clock::time_point last{};
    uint64_t dropped = 0;
    uint64_t dropped_bytes = 0;
  };
  void refill(Bucket& b, Clock::time_point now) const;
  bool is_full(const Bucket& b) const;

  const Config config_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
  Bucket overflow_;  // shared by new keys when max_keys are in use
  bool overflow_started_ = false;
  uint64_t dropped_total_ = 0;
};

class LogThrottle {
 public:
  // Defaults: 10 lines at once, then one every 6 s per call site (10 a minute).
  LogThrottle()
      : LogThrottle(RateLimiter::Config{
            .events_per_second = 1.0 / 6, .burst_events = 10, .bytes_per_second = 1e18, .burst_bytes = 1e18, .max_keys = 64}) {}
  explicit LogThrottle(RateLimiter::Config config) : limiter_(config) {}

  // Writes the line unless this call site (`key`) is over its rate; the first line after some
  // were dropped says how many.
  template <typename... Args>
  void log(std::string_view key, spdlog::level::level_enum level, fmt::format_string<Args...> format, Args&&... args) {
    auto d = limiter_.admit(key);
    if (!d.allowed) return;
    std::string line = fmt::format(format, std::forward<Args>(args)...);
    if (d.dropped_before > 0) {
      wasimancer::log().log(level, "{} ({} similar messages dropped)", line, d.dropped_before);
    } else {
      wasimancer::log().log(level, "{}", line);
    }
  }

  uint64_t dropped_total() const { return limiter_.dropped_total(); }

 private:
  RateLimiter limiter_;
};

}  // namespace wasimancer
