// The native tier (wasm2c + the system C compiler): the same behaviour as the interpreter for
// deadlines (loops, loop-free recursion, start sections, loops that only call), stack
// exhaustion, cancellation, memory limits, host calls, and concurrent instances.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "core/crypto.hpp"
#include "engine/native.hpp"
#include "engine_helpers.hpp"

using namespace wasimancer;
using namespace wasimancer::engine;
using namespace std::chrono_literals;

namespace {

struct Built {
  std::shared_ptr<const Module> module;
  std::shared_ptr<const NativeCode> code;
};

// The module `wat` describes and its quick native build (throws, failing the test, if either fails).
Built build(std::string_view wat) {
  auto m = test::compile_wat(wat);
  return {m, test::native_code(*m)};
}

std::variant<std::unique_ptr<Instance>, Trap> make(const Built& b, const ImportTable& imports = {}, uint32_t pages = 1024,
                                                    std::chrono::milliseconds timeout = 5s) {
  CallControl ctl;
  ctl.deadline = Deadline::after(timeout);
  return instantiate_native(b.module, b.code, imports, nullptr, InstanceLimits{pages}, ctl, &test::test_watchdog());
}

CallResult call(Instance& i, std::string_view name, std::vector<Slot> args = {}, std::chrono::milliseconds timeout = 5s,
                const std::atomic<bool>* cancel = nullptr) {
  CallControl ctl;
  ctl.deadline = Deadline::after(timeout);
  ctl.cancel = cancel;
  return i.call(name, args, ctl);
}

const Trap* trap(const CallResult& r) { return std::get_if<Trap>(&r); }

}  // namespace

TEST(NativeTier, CallsAndResults) {
  auto b = build(R"((module
    (func (export "add") (param i32 i64) (result i64) (i64.add (i64.extend_i32_u (local.get 0)) (local.get 1)))
    (func (export "f") (param f64) (result f64) (f64.mul (local.get 0) (f64.const 2)))))");
  auto r = make(b);
  ASSERT_TRUE(std::holds_alternative<std::unique_ptr<Instance>>(r));
  auto& inst = *std::get<0>(r);
  EXPECT_NE(inst.tier_name().find("native"), std::string_view::npos);
  auto v = call(inst, "add", {40, 2});
  ASSERT_FALSE(trap(v));
  EXPECT_EQ(std::get<0>(v)[0], 42u);
  double x = 1.25;
  Slot s;
  std::memcpy(&s, &x, 8);
  auto f = call(inst, "f", {s});
  ASSERT_FALSE(trap(f));
  double y;
  std::memcpy(&y, &std::get<0>(f)[0], 8);
  EXPECT_EQ(y, 2.5);
  EXPECT_EQ(trap(call(inst, "missing"))->kind, ErrorKind::NotFound);
}

TEST(NativeTier, InfiniteLoopTimesOut) {
  auto b = build(R"((module (func (export "spin") (loop (br 0)))))");
  auto r = make(b);
  auto& inst = *std::get<0>(r);
  auto t0 = std::chrono::steady_clock::now();
  auto res = call(inst, "spin", {}, 200ms);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 20s);  // far above the deadline, far below any fallback: not a speed check
  ASSERT_TRUE(trap(res));
  EXPECT_EQ(trap(res)->kind, ErrorKind::Timeout);
  EXPECT_EQ(trap(call(inst, "spin", {}, 50ms))->kind, ErrorKind::Timeout);  // usable again
}

TEST(NativeTier, LoopFreeRecursionTimesOutThroughTheWatchdog) {
  auto b = build(R"((module
    (func $fib (param i64) (result i64)
      (if (result i64) (i64.lt_u (local.get 0) (i64.const 2))
        (then (local.get 0))
        (else (i64.add (call $fib (i64.sub (local.get 0) (i64.const 1)))
                       (call $fib (i64.sub (local.get 0) (i64.const 2)))))))
    (func (export "fib") (param i64) (result i64) (call $fib (local.get 0)))))");
  auto r = make(b);
  auto& inst = *std::get<0>(r);
  auto ok = call(inst, "fib", {20});
  ASSERT_FALSE(trap(ok));
  EXPECT_EQ(std::get<0>(ok)[0], 6765u);
  auto t0 = std::chrono::steady_clock::now();
  auto res = call(inst, "fib", {90}, 200ms);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 20s);  // far above the deadline, far below any fallback: not a speed check
  ASSERT_TRUE(trap(res));
  EXPECT_EQ(trap(res)->kind, ErrorKind::Timeout);
  // The interrupt does not leak into the next call.
  auto again = call(inst, "fib", {10});
  ASSERT_FALSE(trap(again)) << trap(again)->message;
  EXPECT_EQ(std::get<0>(again)[0], 55u);
}

TEST(NativeTier, LoopThatOnlyCallsTimesOut) {
  // The loop has no counter of its own on this tier: the callee's entry check stops it.
  auto b = build(R"((module
    (func $leaf (result i32) (i32.const 1))
    (func (export "spin") (loop (drop (call $leaf)) (br 0)))))");
  auto r = make(b);
  auto res = call(*std::get<0>(r), "spin", {}, 200ms);
  ASSERT_TRUE(trap(res));
  EXPECT_EQ(trap(res)->kind, ErrorKind::Timeout);
}

TEST(NativeTier, CancelStopsRecursionAndLoops) {
  auto b = build(R"((module
    (func $r (param i64) (result i64)
      (if (result i64) (i64.eqz (local.get 0)) (then (i64.const 0))
        (else (i64.add (call $r (i64.sub (local.get 0) (i64.const 1))) (call $r (i64.sub (local.get 0) (i64.const 1)))))))
    (func (export "rec") (result i64) (call $r (i64.const 60)))
    (func (export "spin") (loop (br 0)))))");
  auto r = make(b);
  auto& inst = *std::get<0>(r);
  for (const char* fn : {"rec", "spin"}) {
    std::atomic<bool> cancel{false};
    std::thread t([&] {
      std::this_thread::sleep_for(50ms);
      cancel = true;
    });
    auto res = call(inst, fn, {}, 60s, &cancel);
    t.join();
    ASSERT_TRUE(trap(res)) << fn;
    EXPECT_EQ(trap(res)->kind, ErrorKind::Cancelled) << fn;
    EXPECT_NE(trap(res)->message.find("cancelled"), std::string::npos) << fn << ": " << trap(res)->message;
  }
}

TEST(NativeTier, StackExhaustionIsATrap) {
  auto b = build(R"((module
    (func $deep (param i32) (result i32) (i32.add (call $deep (local.get 0)) (i32.const 1)))
    (func (export "deep") (result i32) (call $deep (i32.const 0)))
    (func (export "ok") (result i32) (i32.const 7))))");
  auto r = make(b);
  auto& inst = *std::get<0>(r);
  auto res = call(inst, "deep");
  ASSERT_TRUE(trap(res));
  EXPECT_EQ(trap(res)->kind, ErrorKind::Trap);
  EXPECT_NE(trap(res)->message.find("exhausted"), std::string::npos) << trap(res)->message;
  auto ok = call(inst, "ok");
  ASSERT_FALSE(trap(ok));
  EXPECT_EQ(std::get<0>(ok)[0], 7u);
}

TEST(NativeTier, StartSectionThatNeverReturnsTimesOut) {
  auto b = build(R"((module (func $s (loop (br 0))) (start $s) (func (export "run"))))");
  auto r = make(b, {}, 1024, 200ms);
  ASSERT_TRUE(std::holds_alternative<Trap>(r));
  EXPECT_EQ(std::get<Trap>(r).kind, ErrorKind::Timeout);
}

TEST(NativeTier, MemoryLimitIsOutOfMemory) {
  auto b = build(R"((module (memory (export "memory") 1)
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
    (func (export "poke") (param i32) (i32.store8 (local.get 0) (i32.const 9)))))");
  auto r = make(b, {}, 10);
  auto& inst = *std::get<0>(r);
  auto g = call(inst, "grow", {4});
  ASSERT_FALSE(trap(g));
  EXPECT_EQ(std::get<0>(g)[0], 1u);
  EXPECT_EQ(inst.memory().size(), 5u * 65536);
  ASSERT_FALSE(trap(call(inst, "poke", {5 * 65536 - 1})));
  EXPECT_EQ(inst.memory()[5 * 65536 - 1], 9);
  auto oob = call(inst, "poke", {5 * 65536});
  ASSERT_TRUE(trap(oob));
  EXPECT_NE(trap(oob)->message.find("out of bounds"), std::string::npos);
  auto big = call(inst, "grow", {6});
  ASSERT_TRUE(trap(big));
  EXPECT_EQ(trap(big)->kind, ErrorKind::OutOfMemory);
  auto too_big = build(R"((module (memory (export "memory") 17) (func (export "run"))))");
  auto r2 = make(too_big, {}, 16);
  ASSERT_TRUE(std::holds_alternative<Trap>(r2));
  EXPECT_EQ(std::get<Trap>(r2).kind, ErrorKind::OutOfMemory);
}

TEST(NativeTier, HostFunctionsTrapsExitsAndDeadlineExtension) {
  auto b = build(R"((module
    (import "env" "wait" (func $wait (param i32)))
    (import "env" "fail" (func $fail))
    (import "env" "exit" (func $exit (param i32)))
    (func $r (param i64) (result i64)
      (if (result i64) (i64.eqz (local.get 0)) (then (i64.const 0))
        (else (i64.add (call $r (i64.sub (local.get 0) (i64.const 1))) (i64.const 1)))))
    (func (export "wait_then_work") (param i32) (result i64) (call $wait (local.get 0)) (call $r (i64.const 100)))
    (func (export "fail") (call $fail))
    (func (export "exit") (param i32) (call $exit (local.get 0)))))");
  // A host function that sleeps and tells the engine not to count its wait (as sampling does).
  HostFunc wait{FuncType{{ValType::I32}, {}}, [](Caller& c, std::span<const Slot> a, std::span<Slot>) -> HostResult {
                  auto* ctl = static_cast<CallControl*>(c.user_data());
                  auto t0 = Clock::now();
                  std::this_thread::sleep_for(std::chrono::milliseconds(a[0]));
                  ctl->deadline.extend(Clock::now() - t0);
                  return std::nullopt;
                }};
  HostFunc fail{FuncType{}, [](Caller&, std::span<const Slot>, std::span<Slot>) -> HostResult {
                  return Trap{ErrorKind::HostError, "refused", std::nullopt};
                }};
  HostFunc exit{FuncType{{ValType::I32}, {}}, [](Caller&, std::span<const Slot> a, std::span<Slot>) -> HostResult {
                  return Trap::exit(static_cast<int32_t>(a[0]));
                }};
  CallControl ctl;
  ctl.deadline = Deadline::after(5s);
  auto r = instantiate_native(b.module, b.code, {&wait, &fail, &exit}, &ctl, InstanceLimits{1024}, ctl, &test::test_watchdog());
  ASSERT_TRUE(std::holds_alternative<std::unique_ptr<Instance>>(r));
  auto& inst = *std::get<0>(r);
  ctl.deadline = Deadline::after(150ms);
  auto res = inst.call("wait_then_work", std::vector<Slot>{400}, ctl);
  ASSERT_FALSE(trap(res)) << trap(res)->message;
  EXPECT_EQ(std::get<0>(res)[0], 100u);
  ctl.deadline = Deadline::after(5s);
  auto f = inst.call("fail", {}, ctl);
  ASSERT_TRUE(trap(f));
  EXPECT_EQ(trap(f)->kind, ErrorKind::HostError);
  EXPECT_EQ(trap(f)->message, "refused");
  auto e = inst.call("exit", std::vector<Slot>{3}, ctl);
  ASSERT_TRUE(trap(e));
  ASSERT_TRUE(trap(e)->exit_code);
  EXPECT_EQ(*trap(e)->exit_code, 3);
}

TEST(NativeTier, InstancesRunConcurrently) {
  auto b = build(R"((module (global $g (mut i32) (i32.const 0))
    (func (export "inc") (result i32) (global.set $g (i32.add (global.get $g) (i32.const 1))) (global.get $g))
    (func (export "spin") (loop (br 0)))))");
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto r = make(b);
      auto& inst = *std::get<0>(r);
      if (t == 0) {
        // One thread times out while the others count: timeouts stay per instance.
        auto res = call(inst, "spin", {}, 100ms);
        if (trap(res) && trap(res)->kind == ErrorKind::Timeout) ++ok;
        return;
      }
      Slot last = 0;
      for (int i = 0; i < 1000; ++i) {
        auto v = call(inst, "inc");
        if (trap(v)) return;
        last = std::get<0>(v)[0];
      }
      if (last == 1000) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 4);
}

TEST(NativeTier, BuildsAreCachedAndFailuresAreReported) {
  auto wat = R"((module (func (export "x") (result i32) (i32.const 5))))";
  NativeOptions o = test::test_native_options();
  o.cache_dir = std::filesystem::temp_directory_path() / ("wm-native-" + random_token(6));
  auto m = test::compile_wat(wat);
  EXPECT_FALSE(native_cached(m->info(), o));
  ASSERT_TRUE(load_native(*m, o).ok());
  EXPECT_TRUE(native_cached(m->info(), o));
  NativeOptions bad = o;
  bad.compiler = "/nonexistent/cc";
  bad.cache_dir = o.cache_dir / "other";
  auto r = load_native(*m, bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("/nonexistent/cc"), std::string::npos) << r.error().message;
  std::filesystem::remove_all(o.cache_dir);
}
