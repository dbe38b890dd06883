// core/rate_limit: the token-bucket RateLimiter and LogThrottle; the default CallSink puts
// plugin log lines through one (the server log grows at a bounded rate however a plugin floods).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <spdlog/sinks/base_sink.h>

#include "core/rate_limit.hpp"
#include "plugin_helpers.hpp"

using namespace wasimancer;
using namespace std::chrono_literals;

namespace {

RateLimiter::Config lines(double per_second, double burst, size_t max_keys = 4096) {
  return RateLimiter::Config{per_second, burst, 1e18, 1e18, max_keys};
}

// Captures what the process logger writes.
class CaptureSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::vector<std::string> lines() {
    std::lock_guard lock(mutex_);
    return lines_;
  }
  uint64_t bytes() {
    std::lock_guard lock(mutex_);
    return bytes_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    lines_.emplace_back(msg.payload.data(), std::min<size_t>(msg.payload.size(), 300));
    bytes_ += msg.payload.size();
  }
  void flush_() override {}

 private:
  std::vector<std::string> lines_;
  uint64_t bytes_ = 0;
};

// Replaces the process logger's sinks with a CaptureSink for its lifetime (the console stays
// quiet: the flood test would print megabytes).
struct Capture {
  std::shared_ptr<CaptureSink> sink = std::make_shared<CaptureSink>();
  std::vector<spdlog::sink_ptr> saved;
  Capture() {
    saved = log().sinks();
    log().sinks() = {sink};
  }
  ~Capture() { log().sinks() = saved; }
};

}  // namespace

TEST(RateLimiter, BurstThenRateThenCountsWhatWasDropped) {
  RateLimiter r(lines(10, 5));
  auto t0 = Clock::now();
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(r.admit("k", 0, t0).allowed) << i;
  for (int i = 0; i < 7; ++i) EXPECT_FALSE(r.admit("k", 0, t0).allowed) << i;
  // 100 ms later one event has refilled: admitted, and it reports the 7 dropped before it.
  auto d = r.admit("k", 0, t0 + 100ms);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.dropped_before, 7u);
  EXPECT_FALSE(r.admit("k", 0, t0 + 100ms).allowed);
  auto d2 = r.admit("k", 0, t0 + 200ms);
  EXPECT_TRUE(d2.allowed);
  EXPECT_EQ(d2.dropped_before, 1u);
  EXPECT_EQ(r.dropped_total(), 8u);
  // Over a long run the admitted count follows the rate, not the demand: 1000 attempts per
  // simulated second for 10 s admit the burst plus 10 per second.
  size_t admitted = 0;
  for (int ms = 1000; ms < 11000; ++ms) {
    if (r.admit("k", 0, t0 + std::chrono::milliseconds(ms)).allowed) ++admitted;
  }
  EXPECT_GE(admitted, 100u);
  EXPECT_LE(admitted, 100u + 5u + 1u);
}

TEST(RateLimiter, KeysAreIndependent) {
  RateLimiter r(lines(1, 2));
  auto t0 = Clock::now();
  EXPECT_TRUE(r.admit("a", 0, t0).allowed);
  EXPECT_TRUE(r.admit("a", 0, t0).allowed);
  EXPECT_FALSE(r.admit("a", 0, t0).allowed);
  EXPECT_TRUE(r.admit("b", 0, t0).allowed);
  EXPECT_TRUE(r.admit("b", 0, t0).allowed);
}

TEST(RateLimiter, BytesAreLimitedToo) {
  RateLimiter r(RateLimiter::Config{1e9, 1e9, 1000, 4000, 16});
  auto t0 = Clock::now();
  EXPECT_TRUE(r.admit("k", 3000, t0).allowed);
  EXPECT_FALSE(r.admit("k", 3000, t0).allowed);
  auto d = r.admit("k", 1000, t0);  // what is left fits
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.dropped_before, 1u);
  EXPECT_EQ(d.dropped_bytes_before, 3000u);
  EXPECT_FALSE(r.admit("k", 1, t0).allowed);
  EXPECT_TRUE(r.admit("k", 2000, t0 + 2s).allowed);
  // An event larger than the burst passes from a full bucket (once), then waits for the refill.
  EXPECT_TRUE(r.admit("big", 1 << 20, t0).allowed);
  EXPECT_FALSE(r.admit("big", 1 << 20, t0 + 1s).allowed);
  EXPECT_TRUE(r.admit("big", 1 << 20, t0 + 5s).allowed);
}

TEST(RateLimiter, KeyCountIsBounded) {
  // 100,000 distinct keys (client addresses, say) cannot grow the table past max_keys; new
  // keys beyond it share one bucket, so they are limited together.
  RateLimiter r(lines(1, 1, 8));
  auto t0 = Clock::now();
  size_t admitted = 0;
  for (int i = 0; i < 100000; ++i) {
    if (r.admit("key-" + std::to_string(i), 0, t0).allowed) ++admitted;
  }
  EXPECT_EQ(admitted, 8u + 1u);
  // Once buckets are full again, their keys are forgotten and new keys get their own again.
  EXPECT_TRUE(r.admit("fresh", 0, t0 + 10s).allowed);
}

TEST(RateLimiter, SafeFromManyThreads) {
  RateLimiter r(lines(0.001, 1000));
  std::vector<std::thread> ts;
  std::atomic<int> admitted{0};
  for (int t = 0; t < 8; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        if (r.admit("shared").allowed) ++admitted;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_GE(admitted.load(), 1000);
  EXPECT_LE(admitted.load(), 1001);
  EXPECT_EQ(r.dropped_total(), 4000u - admitted.load());
}

TEST(LogThrottle, RepeatedLinesAreThrottledWithACount) {
  Capture cap;
  LogThrottle t(lines(1, 3));
  auto t0 = Clock::now();
  for (int i = 0; i < 1000; ++i) t.log("refused", spdlog::level::warn, "connection refused: {} connections", 1024);
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  auto got = cap.sink->lines();
  ASSERT_GE(got.size(), 3u);
  // 3 at once, and at most what refilled (1 a second) while the loop ran.
  EXPECT_LE(got.size(), 3u + static_cast<size_t>(secs) + 1);
  EXPECT_EQ(got[0], "connection refused: 1024 connections");
  EXPECT_GE(t.dropped_total(), 1000u - got.size());
  std::this_thread::sleep_for(1100ms);
  t.log("refused", spdlog::level::warn, "connection refused: {} connections", 1024);
  auto after = cap.sink->lines();
  ASSERT_EQ(after.size(), got.size() + 1);
  EXPECT_NE(after.back().find("similar messages dropped"), std::string::npos) << after.back();
}

// Two "clients" calling a log-flooding plugin through the default CallSink: each call may log
// up to its own limit (1 MiB), but the server log grows by at most the plugin's burst plus its
// rate for the time spent, however many calls are made.
TEST(PluginLogVolume, FloodingPluginIsRateLimitedInTheServerLog) {
  Capture cap;
  host::PluginOptions o;
  o.limits.timeout_ms = 10000;
  auto plugin = test::load_plugin("log", o);
  ASSERT_TRUE(plugin);
  const auto& cfg = host::plugin_log_limiter().config();
  auto t0 = Clock::now();
  std::atomic<int> calls{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 2; ++c) {
    clients.emplace_back([&] {
      auto i = test::make_instance(plugin);
      if (!i) return;
      for (int k = 0; k < 12; ++k) {
        auto r = i->call("log_flood", "");
        if (r.error && r.error->message.find("log limit exceeded") != std::string::npos) ++calls;
      }
    });
  }
  for (auto& t : clients) t.join();
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_EQ(calls.load(), 24);  // every call was stopped by its own limit, as before
  // The plugin produced 24 MiB of log text; the server log took its burst plus its rate.
  uint64_t bound = static_cast<uint64_t>(cfg.burst_bytes + (secs + 1) * cfg.bytes_per_second) + 64 * 1024;
  EXPECT_LE(cap.sink->bytes(), bound) << "in " << secs << " s";
  EXPECT_LT(cap.sink->bytes(), 24u << 20);
  // A later line of the plugin reports what was dropped.
  std::this_thread::sleep_for(1100ms);
  auto i = test::make_instance(plugin);
  ASSERT_TRUE(i);
  (void)i->call("log_all", "");
  bool reported = false;
  std::string tag = "[" + plugin->options().name + "]";
  for (const auto& l : cap.sink->lines()) reported = reported || (l.rfind(tag, 0) == 0 && l.find("log lines") != std::string::npos && l.find("dropped") != std::string::npos);
  EXPECT_TRUE(reported);
}
