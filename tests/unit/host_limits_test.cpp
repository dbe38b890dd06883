// Timeouts, cancellation and memory limits (extism-abi.md §2.5, §4) through hostile.wasm,
// start_loop.wasm and big_initial_memory.wasm (tests/plugins/README.md). Timing assertions are
// only generous upper bounds.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "plugin_helpers.hpp"

using namespace wasimancer;
using namespace wasimancer::host;
using namespace wasimancer::test;
using namespace std::chrono_literals;

namespace {

bool is_decimal(const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; }

PluginOptions pages(uint32_t max_pages) {
  PluginOptions o;
  o.limits.max_pages = max_pages;
  return o;
}

using Clock = std::chrono::steady_clock;

}  // namespace

// ---- timeouts -------------------------------------------------------------------------------------

TEST(HostLimits, InfiniteLoopTimesOutThroughCallOptions) {
  auto i = make_instance(load_plugin("hostile"));
  ASSERT_TRUE(i);
  CallOptions co;
  co.timeout = 200ms;
  auto t0 = Clock::now();
  auto r = i->call("infinite_loop", "", co);
  auto took = Clock::now() - t0;
  EXPECT_TIMEOUT(r);
  EXPECT_GE(took, 150ms);
  EXPECT_LT(took, 20s);  // far above the deadline, far below any fallback: not a speed check
  EXPECT_FALSE(i->reusable());
}

TEST(HostLimits, InfiniteLoopTimesOutThroughPluginLimits) {
  PluginOptions o;
  o.limits.timeout_ms = 200;
  auto p = load_plugin("hostile", o);
  auto i = make_instance(p);
  ASSERT_TRUE(i);
  auto t0 = Clock::now();
  auto r = i->call("infinite_loop", "");
  EXPECT_LT(Clock::now() - t0, 20s);  // far above the deadline, far below any fallback: not a speed check
  EXPECT_TIMEOUT(r);
  EXPECT_FALSE(i->reusable());
  // A fresh instance of the same plugin is fine.
  auto fresh = make_instance(p);
  ASSERT_TRUE(fresh);
  EXPECT_OUT(fresh->call("memory_pages", ""), "2");
}

TEST(HostLimits, CallTimeoutOverridesThePluginLimit) {
  PluginOptions o;
  o.limits.timeout_ms = 60000;
  auto i = make_instance(load_plugin("hostile", o));
  ASSERT_TRUE(i);
  CallOptions co;
  co.timeout = 200ms;
  auto t0 = Clock::now();
  auto r = i->call("infinite_loop", "", co);
  EXPECT_LT(Clock::now() - t0, 20s);  // far above the deadline, far below any fallback: not a speed check
  EXPECT_TIMEOUT(r);
}

TEST(HostLimits, ExponentialRecursionTimesOut) {
  auto i = make_instance(load_plugin("hostile"));
  ASSERT_TRUE(i);
  CallOptions co;
  co.timeout = 200ms;
  auto t0 = Clock::now();
  auto r = i->call("exp_recursion", "", co);
  EXPECT_LT(Clock::now() - t0, 20s);  // far above the deadline, far below any fallback: not a speed check
  EXPECT_TIMEOUT(r);
  EXPECT_FALSE(i->reusable());
}

TEST(HostLimits, CancelStopsTheCall) {
  auto i = make_instance(load_plugin("hostile"));
  ASSERT_TRUE(i);
  std::atomic<bool> cancel{false};
  std::thread canceller([&] {
    std::this_thread::sleep_for(100ms);
    cancel = true;
  });
  CallOptions co;
  co.cancel = &cancel;
  auto t0 = Clock::now();
  auto r = i->call("infinite_loop", "", co);
  canceller.join();
  EXPECT_LT(Clock::now() - t0, 20s);  // far above the deadline, far below any fallback: not a speed check
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->kind, ErrorKind::Cancelled) << describe(r);
  EXPECT_NE(r.error->message.find("cancel"), std::string::npos) << describe(r);
  EXPECT_FALSE(i->reusable());
}

TEST(HostLimits, StartSectionLoopTimesOutAtCreate) {
  PluginOptions o;
  o.limits.timeout_ms = 200;
  auto p = load_plugin("start_loop", o);
  ASSERT_TRUE(p);
  auto t0 = Clock::now();
  auto i = PluginInstance::create(p);
  EXPECT_LT(Clock::now() - t0, 20s);  // far above the deadline, far below any fallback: not a speed check
  ASSERT_FALSE(i.ok());
  EXPECT_EQ(i.error().kind, ErrorKind::Timeout) << i.error().message;
  EXPECT_NE(i.error().message.find("timeout"), std::string::npos) << i.error().message;
}

// ---- memory -----------------------------------------------------------------------------------------

TEST(HostLimits, MemoryPagesAndGrowOnce) {
  auto p = load_plugin("hostile");
  auto i = make_instance(p);
  ASSERT_TRUE(i);
  EXPECT_OUT(i->call("memory_pages", ""), "2");
  EXPECT_OUT(i->call("grow_once", "1"), "2");
  EXPECT_OUT(i->call("memory_pages", ""), "3");
  EXPECT_OUT(i->call("grow_once", "0"), "3");
  EXPECT_TRUE(i->reusable());
  auto fresh = make_instance(p);
  ASSERT_TRUE(fresh);
  EXPECT_OUT(fresh->call("memory_pages", ""), "2");
}

TEST(HostLimits, GrowUpToTheLimitThenOom) {
  // max_pages is the growth budget after instantiation (as Extism's ResourceLimiter, whose budget
  // is reset once the instance exists: extism-abi.md §4; plugin.cpp PluginInstance::create).
  // hostile.wasm starts with 2 pages, so max_pages 16 allows 16 more and not one page beyond.
  auto p = load_plugin("hostile", pages(16));
  auto i = make_instance(p);
  ASSERT_TRUE(i);
  EXPECT_OUT(i->call("grow_once", "10"), "2");
  EXPECT_OUT(i->call("grow_once", "6"), "12");
  EXPECT_OUT(i->call("memory_pages", ""), "18");
  EXPECT_OOM(i->call("grow_once", "1"));
  EXPECT_FALSE(i->reusable());

  auto j = make_instance(p);
  ASSERT_TRUE(j);
  EXPECT_OOM(j->call("grow_once", "17"));
  EXPECT_FALSE(j->reusable());

  // The budget belongs to the instance: a new one starts with the full budget again.
  auto k = make_instance(p);
  ASSERT_TRUE(k);
  EXPECT_OUT(k->call("grow_once", "16"), "2");
}

TEST(HostLimits, MemoryBombHitsOom) {
  auto i = make_instance(load_plugin("hostile", pages(16)));
  ASSERT_TRUE(i);
  auto t0 = Clock::now();
  auto r = i->call("memory_bomb", "");
  EXPECT_LT(Clock::now() - t0, 20s);  // far above the deadline, far below any fallback: not a speed check
  EXPECT_OOM(r);
  EXPECT_FALSE(i->reusable());
}

TEST(HostLimits, BigInitialMemoryOverTheLimitFailsAtCreate) {
  auto p = load_plugin("big_initial_memory", pages(16));
  ASSERT_TRUE(p);
  auto i = PluginInstance::create(p);
  ASSERT_FALSE(i.ok());
  EXPECT_EQ(i.error().kind, ErrorKind::OutOfMemory) << i.error().message;
  EXPECT_NE(i.error().message.find("oom"), std::string::npos) << i.error().message;
  EXPECT_NE(i.error().message.find("200"), std::string::npos) << i.error().message;
}

TEST(HostLimits, BigInitialMemoryUnderTheLimitWorks) {
  for (uint32_t max : {200u, 256u}) {
    SCOPED_TRACE(max);
    auto i = make_instance(load_plugin("big_initial_memory", pages(max)));
    ASSERT_TRUE(i);
    EXPECT_OUT(i->call("run", ""), "");
  }
  auto just_below = load_plugin("big_initial_memory", pages(199));
  ASSERT_TRUE(just_below);
  auto i = PluginInstance::create(just_below);
  ASSERT_FALSE(i.ok());
  EXPECT_EQ(i.error().kind, ErrorKind::OutOfMemory) << i.error().message;
}

// ---- kernel memory --------------------------------------------------------------------------------

TEST(HostLimits, KernelBombStopsAtTheKernelLimit) {
  for (uint32_t max : {16u, 64u}) {
    SCOPED_TRACE(max);
    auto i = make_instance(load_plugin("hostile", pages(max)));
    ASSERT_TRUE(i);
    auto r = i->call("kernel_bomb", "");
    if (r.ok()) {
      ASSERT_TRUE(is_decimal(r.output)) << describe(r);
      uint64_t count = std::stoull(r.output);
      uint64_t cap_mib = uint64_t(max) * 65536 / (1 << 20);
      EXPECT_LE(count, cap_mib);
      EXPECT_GE(count + 1, cap_mib);
    } else {
      EXPECT_OOM(r);
    }
    // Every call starts with an empty kernel: the same count again.
    auto again = i->call("kernel_bomb", "");
    EXPECT_EQ(again.ok(), r.ok());
    EXPECT_EQ(again.output, r.output);
  }
}

TEST(HostLimits, HugeOutputIsReturnedOrOom) {
  auto i = make_instance(load_plugin("hostile", pages(64)));  // 4 MiB of kernel memory
  ASSERT_TRUE(i);
  auto r = i->call("huge_output", "");
  if (r.ok()) {
    uint64_t n = r.output.size();
    EXPECT_GT(n, 0u);
    EXPECT_EQ(n & (n - 1), 0u) << n << " is not a power of two";
    EXPECT_LE(n, 4u << 20);
  } else {
    EXPECT_OOM(r);
  }
  // The instance still works (or was marked for rebuilding).
  if (i->reusable()) EXPECT_OUT(i->call("memory_pages", ""), "2");
}

TEST(HostLimits, HugeOutputSizeIsAPowerOfTwo) {
  auto i = make_instance(load_plugin("hostile", pages(64)));
  ASSERT_TRUE(i);
  auto r = i->call("huge_output_size", "");
  if (r.ok()) {
    ASSERT_TRUE(is_decimal(r.output)) << describe(r);
    uint64_t n = std::stoull(r.output);
    EXPECT_GT(n, 0u);
    EXPECT_EQ(n & (n - 1), 0u) << n;
    EXPECT_LE(n, 4u << 20);
    EXPECT_GE(n, 1u << 20);  // a bump allocator reaches at least a quarter of the arena
  } else {
    EXPECT_OOM(r);
  }
}

TEST(HostLimits, OutOfRangeOutputIsAClearError) {
  auto i = make_instance(load_plugin("hostile"));
  ASSERT_TRUE(i);
  // output_set(1, 1<<40): Extism's kernel silently ignores it, js-sdk throws (ABI §1). Issue #2
  // asks for a clear error for a huge output_set, so the call fails and says why.
  EXPECT_HOST_ERR(i->call("output_oob", ""), "outside the plugin's kernel memory");
  EXPECT_TRUE(i->reusable());
  EXPECT_OUT(i->call("memory_pages", ""), "2");
}

TEST(HostLimits, OutOfRangeErrorIsIgnored) {
  auto i = make_instance(load_plugin("hostile"));
  ASSERT_TRUE(i);
  EXPECT_OUT(i->call("error_oob", ""), "");
  EXPECT_OUT(i->call("error_oob", "again"), "");
}

TEST(HostLimits, InputLargerThanTheKernelLimitIsAClearOom) {
  auto i = make_instance(load_plugin("hostile", pages(16)));  // 1 MiB of kernel memory
  ASSERT_TRUE(i);
  std::string input((1 << 20) + 1, 'i');
  auto r = i->call("memory_pages", input);
  EXPECT_OOM(r);
  EXPECT_NE(r.error->message.find("input"), std::string::npos) << describe(r);
  EXPECT_NE(r.error->message.find(std::to_string(input.size())), std::string::npos) << describe(r);
  // Nothing ran, so the instance is intact.
  EXPECT_OUT(i->call("memory_pages", "small"), "2");
}
