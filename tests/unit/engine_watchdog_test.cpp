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

// (The thread sleeps towards the hour-long deadline: a missing wake-up would leave the short one
// unfired until wait_for gives up.)
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

TEST(Watchdog, AnIdleWatchdogDoesNotWake) {
  engine::Watchdog w;
  w.start();
  std::this_thread::sleep_for(10ms);  // the thread settles into its sleep
  const uint64_t before = w.wakeups();
  std::this_thread::sleep_for(300ms);  // nothing registered, no cancel poll lingering
  EXPECT_EQ(w.wakeups(), before);  // the old thread looked every 50 ms
  // ...and a call registered afterwards is still watched.
  std::atomic<bool> fired{false};
  auto id = w.add(Deadline::after(1ms), nullptr, [&] { fired = true; });
  ASSERT_TRUE(wait_for([&] { return fired.load(); }));
  w.remove(id);
}

// A call whose deadline passed while it waited on its client is re-armed with a later deadline
// (the wait is not counted): that deadline must be watched again, though the thread, with only
// a fired call registered, sleeps without a timeout.
TEST(Watchdog, AReArmedCallIsWatchedAgain) {
  engine::Watchdog w;
  std::atomic<int> fired{0};
  auto id = w.add(Deadline::after(5ms), nullptr, [&] { ++fired; });
  ASSERT_TRUE(wait_for([&] { return fired.load() == 1; }));
  std::this_thread::sleep_for(20ms);  // nothing left to watch: the thread sleeps until woken
  bool rearmed = false;
  w.update(id, Deadline::after(10ms), [&] { rearmed = true; });
  EXPECT_TRUE(rearmed);
  ASSERT_TRUE(wait_for([&] { return fired.load() == 2; }));
  w.remove(id);
}

TEST(Watchdog, ADeadlineMovedEarlierFires) {
  engine::Watchdog w;
  std::atomic<bool> fired{false};
  auto id = w.add(Deadline::after(1h), nullptr, [&] { fired = true; });
  std::this_thread::sleep_for(10ms);  // the thread sleeps towards the hour
  w.update(id, Deadline::after(5ms), [] {});
  ASSERT_TRUE(wait_for([&] { return fired.load(); }));
  w.remove(id);
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
