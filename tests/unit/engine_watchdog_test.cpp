// The deadline watchdog: fires calls whose deadline passes or that are cancelled, and does not
// wake up once per registered call (under steady traffic that was two context switches per call).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "engine/watchdog.hpp"

using namespace wasimancer;
using namespace std::chrono_literals;

namespace {

template <class F>
bool wait_for(F f, std::chrono::milliseconds limit = 30s) {
  auto until = Clock::now() + limit;
  while (!f()) {
    if (Clock::now() > until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

}  // namespace

TEST(Watchdog, FiresAtTheDeadline) {
  engine::Watchdog w;
  std::atomic<bool> fired{false};
  auto t0 = Clock::now();
  auto id = w.add(Deadline::after(20ms), nullptr, [&] { fired = true; });
  ASSERT_TRUE(wait_for([&] { return fired.load(); }));
  EXPECT_GE(Clock::now() - t0, 20ms);
  w.remove(id);
}

TEST(Watchdog, FiresOnCancelWhileSleepingTowardsALaterDeadline) {
  engine::Watchdog w;
  std::atomic<bool> never{false};
  // The thread sleeps towards this one's look (up to its longest sleep).
  auto far = w.add(Deadline::after(1h), nullptr, [&] { never = true; });
  std::atomic<bool> cancel{false}, fired{false};
  auto id = w.add(Deadline{}, &cancel, [&] { fired = true; });
  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(fired.load());
  cancel = true;
  ASSERT_TRUE(wait_for([&] { return fired.load(); }));
  EXPECT_FALSE(never.load());
  w.remove(id);
  w.remove(far);
}

// (How soon it fires is not asserted: the thread never sleeps longer than 50 ms, so a missing
// wake-up would only delay it, which a busy machine could too.)
TEST(Watchdog, AShortDeadlineFiresWhileALongOneIsRegistered) {
  engine::Watchdog w;
  std::atomic<bool> far_fired{false};
  auto far = w.add(Deadline::after(1h), nullptr, [&] { far_fired = true; });
  std::this_thread::sleep_for(5ms);  // the thread is asleep for its longest sleep now
  std::atomic<bool> fired{false};
  auto id = w.add(Deadline::after(1ms), nullptr, [&] { fired = true; });
  ASSERT_TRUE(wait_for([&] { return fired.load(); }));
  EXPECT_FALSE(far_fired.load());
  w.remove(id);
  w.remove(far);
}

// Calls one after another, long ones (the server: calls overlap) and short ones with gaps in
// between (a sandbox worker: one call at a time, mostly waiting for the next).
class WatchdogSteady : public ::testing::TestWithParam<std::pair<int, int>> {};

TEST_P(WatchdogSteady, CallsDoNotWakeTheThreadPerCall) {
  const auto [call_us, gap_us] = GetParam();
  engine::Watchdog w;
  w.start();
  std::atomic<bool> cancel{false};
  std::this_thread::sleep_for(10ms);  // the thread settles into its sleep
  const int calls = 400;
  uint64_t before = w.wakeups();
  auto t0 = Clock::now();
  for (int i = 0; i < calls; ++i) {
    auto id = w.add(Deadline::after(30s), &cancel, [] {});
    std::this_thread::sleep_for(std::chrono::microseconds(call_us));  // the call runs
    w.remove(id);
    std::this_thread::sleep_for(std::chrono::microseconds(gap_us));
  }
  double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  uint64_t woke = w.wakeups() - before;
  // The thread looks at most once per cancel poll (5 ms) while calls with a cancel flag are
  // registered, plus its regular sleeps: bounded by the time the loop took, not by the calls.
  EXPECT_LE(woke, static_cast<uint64_t>(ms / 5.0) + 25) << calls << " calls in " << ms << " ms woke the thread " << woke << " times";
  EXPECT_LT(woke, static_cast<uint64_t>(calls / 4));
}

INSTANTIATE_TEST_SUITE_P(Patterns, WatchdogSteady, ::testing::Values(std::pair{200, 50}, std::pair{0, 200}));
