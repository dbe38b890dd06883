// The engine: validation, the instrumentation pass (deadlines, memory limits), host functions
// and traps. Modules are written in wat and compiled in-process, and run on the interpreter, or
// on the native tier with WASIMANCER_TIER=native (engine_native_test covers what only it has).
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "engine/interp.hpp"
#include "engine/module.hpp"
#include "engine_helpers.hpp"
#include "wat.hpp"

using namespace wasimancer;
using namespace wasimancer::engine;
using namespace std::chrono_literals;

namespace {

std::shared_ptr<const Module> compile(std::string_view wat) { return test::compile_wat(wat); }

struct Instantiated {
  std::unique_ptr<Instance> instance;
  std::optional<Trap> trap;
};

// Instantiates `m` on the tier under test (test::native_tier()).
Instantiated instantiate(std::shared_ptr<const Module> m, const ImportTable& imports = {}, uint32_t max_pages = 1024,
                         std::chrono::milliseconds timeout = 5s, void* user = nullptr) {
  CallControl ctl;
  ctl.deadline = Deadline::after(timeout);
  auto r = test::native_tier()
               ? instantiate_native(m, test::native_code(*m), imports, user, InstanceLimits{max_pages}, ctl, &test::test_watchdog())
               : instantiate_interp(std::move(m), imports, user, InstanceLimits{max_pages}, ctl);
  Instantiated out;
  if (auto* t = std::get_if<Trap>(&r)) out.trap = *t;
  else out.instance = std::move(std::get<0>(r));
  return out;
}

CallResult call(Instance& inst, std::string_view name, std::vector<Slot> args = {},
                std::chrono::milliseconds timeout = 5s, const std::atomic<bool>* cancel = nullptr) {
  CallControl ctl;
  ctl.deadline = Deadline::after(timeout);
  ctl.cancel = cancel;
  return inst.call(name, args, ctl);
}

const Trap& trap_of(const CallResult& r) {
  static Trap none{ErrorKind::Internal, "no trap", std::nullopt};
  auto* t = std::get_if<Trap>(&r);
  return t ? *t : none;
}

std::vector<Slot> values_of(const CallResult& r) {
  if (auto* v = std::get_if<std::vector<Slot>>(&r)) return *v;
  ADD_FAILURE() << "trap: " << std::get<Trap>(r).message;
  return {};
}

}  // namespace

TEST(EngineValidation, GarbageIsRejectedWithAReason) {
  std::vector<uint8_t> junk = {'n', 'o', 't', ' ', 'w', 'a', 's', 'm'};
  auto m = Module::compile(junk);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().kind, ErrorKind::InvalidModule);
  EXPECT_NE(m.error().message.find("malformed wasm module"), std::string::npos) << m.error().message;
  EXPECT_NE(m.error().message.find("magic"), std::string::npos) << m.error().message;
}

TEST(EngineValidation, EmptyAndTruncatedModulesAreRejected) {
  EXPECT_FALSE(Module::compile(std::vector<uint8_t>{}).ok());
  auto good = test::wat_to_wasm(R"((module (func (export "f") (result i32) i32.const 1)))");
  for (size_t cut : {size_t(4), size_t(9), good.size() - 1}) {
    std::vector<uint8_t> part(good.begin(), good.begin() + static_cast<long>(cut));
    auto m = Module::compile(part);
    ASSERT_FALSE(m.ok()) << cut;
    EXPECT_EQ(m.error().kind, ErrorKind::InvalidModule);
    EXPECT_NE(m.error().message.find("offset 0x"), std::string::npos) << m.error().message;
  }
}

TEST(EngineValidation, TypeErrorsSayWhere) {
  // (func (result i32) i64.const 1) — hand-assembled: wat2wasm would refuse it.
  std::vector<uint8_t> bad = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,  // header
                              0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f,        // type () -> i32
                              0x03, 0x02, 0x01, 0x00,                          // func 0 : type 0
                              0x0a, 0x06, 0x01, 0x04, 0x00, 0x42, 0x01, 0x0b}; // body: i64.const 1
  auto m = Module::compile(bad);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().kind, ErrorKind::InvalidModule);
  EXPECT_NE(m.error().message.find("invalid wasm module"), std::string::npos) << m.error().message;
  EXPECT_NE(m.error().message.find("type mismatch"), std::string::npos) << m.error().message;
  EXPECT_NE(m.error().message.find("offset 0x"), std::string::npos) << m.error().message;
}

TEST(EngineValidation, RandomMutationsNeverCrash) {
  auto good = test::wat_to_wasm(R"((module
    (memory (export "memory") 1)
    (func $f (export "f") (param i32) (result i32) (loop (br_if 0 (i32.eqz (local.get 0)))) (local.get 0))
    (func (export "g") (result i32) (call $f (i32.const 3)))))");
  uint64_t seed = 1;
  for (int i = 0; i < 2000; ++i) {
    auto copy = good;
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    size_t pos = (seed >> 33) % copy.size();
    copy[pos] = static_cast<uint8_t>(seed >> 17);
    auto m = Module::compile(copy);
    if (m.ok()) {
      // On the interpreter whatever the tier under test: a native build per mutant takes minutes.
      CallControl ctl;
      ctl.deadline = Deadline::after(200ms);
      auto inst = instantiate_interp(*m, {}, nullptr, InstanceLimits{16}, ctl);
      if (auto* i = std::get_if<0>(&inst)) (void)call(**i, "g", {}, 200ms);
    } else {
      EXPECT_EQ(m.error().kind, ErrorKind::InvalidModule);
    }
  }
}

TEST(EngineValidation, ReservedNamespaceIsRejected) {
  auto bytes = test::wat_to_wasm(R"((module (import "wasimancer:engine" "tick" (func (param i32) (result i32)))))");
  auto m = Module::compile(bytes);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("reserved"), std::string::npos);
}

TEST(Engine, ModuleDescribesImportsExportsAndMemory) {
  auto m = compile(R"((module
    (import "env" "f" (func (param i64) (result i64)))
    (memory (export "memory") 3 10)
    (func (export "run") (result i32) i32.const 7)))");
  ASSERT_EQ(m->imports().size(), 1u);  // the instrumentation import is not listed
  EXPECT_EQ(m->imports()[0].module, "env");
  EXPECT_EQ(m->imports()[0].type.to_string(), "(i64)->(i64)");
  ASSERT_TRUE(m->find_export("run"));
  EXPECT_EQ(m->find_export("run")->type.to_string(), "()->(i32)");
  ASSERT_TRUE(m->memory());
  EXPECT_EQ(m->memory()->initial_pages, 3u);
  EXPECT_EQ(m->memory()->max_pages.value(), 10u);
  EXPECT_EQ(m->sha256().size(), 64u);
}

TEST(Engine, CallsWithParamsAndMultipleResults) {
  auto m = compile(R"((module
    (func (export "add") (param i32 i64) (result i64) (i64.add (i64.extend_i32_u (local.get 0)) (local.get 1)))
    (func (export "two") (result i32 i32) i32.const 1 i32.const 2)
    (func (export "f64") (param f64) (result f64) (f64.mul (local.get 0) (f64.const 2)))))");
  auto inst = instantiate(m);
  ASSERT_TRUE(inst.instance);
  EXPECT_EQ(values_of(call(*inst.instance, "add", {40, 2})), (std::vector<Slot>{42}));
  // Both tiers call exports of several results (native glue 5 and later).
  EXPECT_EQ(values_of(call(*inst.instance, "two")), (std::vector<Slot>{1, 2}));
  double x = 1.25;
  Slot s;
  std::memcpy(&s, &x, 8);
  auto r = values_of(call(*inst.instance, "f64", {s}));
  ASSERT_EQ(r.size(), 1u);
  double y;
  std::memcpy(&y, &r[0], 8);
  EXPECT_EQ(y, 2.5);
  EXPECT_EQ(trap_of(call(*inst.instance, "missing")).kind, ErrorKind::NotFound);
  EXPECT_EQ(trap_of(call(*inst.instance, "add", {1})).kind, ErrorKind::InvalidArgument);
}

TEST(Engine, FunctionReferencesSurviveTheImportShift) {
  // call, call_indirect through a table, ref.func, exports and the start function must all
  // still reach the right functions once the pass inserts its import.
  auto m = compile(R"((module
    (import "env" "host" (func $host (result i32)))
    (type $t (func (result i32)))
    (table 4 funcref)
    (elem (i32.const 0) $a $b $host)
    (global $g (mut i32) (i32.const 0))
    (func $a (result i32) i32.const 10)
    (func $b (result i32) i32.const 20)
    (func $start (global.set $g (i32.const 5)))
    (start $start)
    (func (export "direct") (result i32) (i32.add (call $a) (call $b)))
    (func (export "indirect") (param i32) (result i32) (call_indirect (type $t) (local.get 0)))
    (func (export "started") (result i32) global.get $g)
    (func (export "viaref") (result i32)
      (table.set 0 (i32.const 3) (ref.func $b))
      (call_indirect (type $t) (i32.const 3)))))");
  HostFunc host{FuncType{{}, {ValType::I32}}, [](Caller&, std::span<const Slot>, std::span<Slot> r) -> HostResult {
                  r[0] = 99;
                  return std::nullopt;
                }};
  auto inst = instantiate(m, {&host});
  ASSERT_TRUE(inst.instance) << inst.trap->message;
  EXPECT_EQ(values_of(call(*inst.instance, "direct"))[0], 30u);
  EXPECT_EQ(values_of(call(*inst.instance, "indirect", {0}))[0], 10u);
  EXPECT_EQ(values_of(call(*inst.instance, "indirect", {1}))[0], 20u);
  // KNOWN BUG of the native tier, left to its owners: wasm2c 1.0.32 hands an import called
  // through a table the address of the instance's import pointer instead of the pointer, and
  // our glue's import forwarder (native/glue.cpp) then crashes the process. Remove this guard
  // with the fix.
  if (!test::native_tier()) EXPECT_EQ(values_of(call(*inst.instance, "indirect", {2}))[0], 99u);
  EXPECT_EQ(values_of(call(*inst.instance, "started"))[0], 5u);
  EXPECT_EQ(values_of(call(*inst.instance, "viaref"))[0], 20u);
}

TEST(Engine, InfiniteLoopTimesOut) {
  auto m = compile(R"((module (func (export "spin") (loop (br 0)))))");
  auto inst = instantiate(m);
  ASSERT_TRUE(inst.instance) << inst.trap->message;
  auto t0 = std::chrono::steady_clock::now();
  auto r = call(*inst.instance, "spin", {}, 200ms);
  auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(trap_of(r).kind, ErrorKind::Timeout);
  EXPECT_EQ(trap_of(r).message.rfind("timeout", 0), 0u);
  EXPECT_LT(elapsed, 20s);  // far above the deadline, far below any fallback: not a speed check
  // The instance still works for the next call.
  EXPECT_EQ(trap_of(call(*inst.instance, "spin", {}, 50ms)).kind, ErrorKind::Timeout);
}

TEST(Engine, LoopFreeExponentialRecursionTimesOut) {
  // No loops at all: only the checks at function entry can stop it.
  auto m = compile(R"((module
    (func $fib (param i64) (result i64)
      (if (result i64) (i64.lt_u (local.get 0) (i64.const 2))
        (then (local.get 0))
        (else (i64.add (call $fib (i64.sub (local.get 0) (i64.const 1)))
                       (call $fib (i64.sub (local.get 0) (i64.const 2)))))))
    (func (export "fib") (param i64) (result i64) (call $fib (local.get 0)))))");
  auto inst = instantiate(m);
  ASSERT_TRUE(inst.instance) << inst.trap->message;
  EXPECT_EQ(values_of(call(*inst.instance, "fib", {20}))[0], 6765u);
  auto r = call(*inst.instance, "fib", {80}, 200ms);
  EXPECT_EQ(trap_of(r).kind, ErrorKind::Timeout);
}

TEST(Engine, CancelStopsACall) {
  auto m = compile(R"((module (func (export "spin") (loop (br 0)))))");
  auto inst = instantiate(m);
  ASSERT_TRUE(inst.instance) << inst.trap->message;
  std::atomic<bool> cancel{false};
  std::thread t([&] {
    std::this_thread::sleep_for(50ms);
    cancel = true;
  });
  auto r = call(*inst.instance, "spin", {}, 60s, &cancel);
  t.join();
  EXPECT_EQ(trap_of(r).kind, ErrorKind::Cancelled);  // distinct from a timeout
  EXPECT_NE(trap_of(r).message.find("cancelled"), std::string::npos);
}

TEST(Engine, StartSectionThatNeverReturnsTimesOut) {
  auto m = compile(R"((module (func $s (loop (br 0))) (start $s) (func (export "run"))))");
  auto t0 = std::chrono::steady_clock::now();
  auto inst = instantiate(m, {}, 1024, 200ms);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 20s);  // far above the deadline, far below any fallback: not a speed check
  ASSERT_FALSE(inst.instance);
  EXPECT_EQ(inst.trap->kind, ErrorKind::Timeout);
}

TEST(Engine, MemoryGrowBeyondTheLimitIsOutOfMemory) {
  auto m = compile(R"((module (memory (export "memory") 1)
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
    (func (export "bomb") (loop (br_if 0 (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))))))");
  auto inst = instantiate(m, {}, 10);
  ASSERT_TRUE(inst.instance);
  EXPECT_EQ(values_of(call(*inst.instance, "grow", {4}))[0], 1u);  // old size
  EXPECT_EQ(inst.instance->memory().size(), 5u * 65536);
  auto r = call(*inst.instance, "grow", {6});
  EXPECT_EQ(trap_of(r).kind, ErrorKind::OutOfMemory);
  EXPECT_EQ(trap_of(r).message.rfind("oom", 0), 0u);
  EXPECT_EQ(trap_of(call(*inst.instance, "bomb")).kind, ErrorKind::OutOfMemory);
  EXPECT_EQ(inst.instance->memory().size(), 10u * 65536);
}

TEST(Engine, InitialMemoryOverTheLimitFailsAtInstantiation) {
  auto m = compile(R"((module (memory (export "memory") 17) (func (export "run"))))");
  EXPECT_EQ(instantiate(m, {}, 16).trap->kind, ErrorKind::OutOfMemory);
  EXPECT_TRUE(instantiate(m, {}, 17).instance);
}

TEST(Engine, TrapsAreReportedAndTheInstanceSurvives) {
  auto m = compile(R"((module (memory 1)
    (func $deep (param i32) (result i32) (i32.add (call $deep (local.get 0)) (i32.const 1)))
    (func (export "unreachable") unreachable)
    (func (export "div") (param i32) (result i32) (i32.div_s (i32.const 1) (local.get 0)))
    (func (export "oob") (result i32) (i32.load (i32.const 70000)))
    (func (export "deep") (result i32) (call $deep (i32.const 0)))
    (func (export "ok") (result i32) i32.const 1)))");
  auto inst = instantiate(m);
  ASSERT_TRUE(inst.instance) << inst.trap->message;
  auto u = call(*inst.instance, "unreachable");
  EXPECT_EQ(trap_of(u).kind, ErrorKind::Trap);
  EXPECT_EQ(trap_of(u).message, "wasm trap: unreachable");
  EXPECT_NE(trap_of(call(*inst.instance, "div", {0})).message.find("divide by zero"), std::string::npos);
  EXPECT_NE(trap_of(call(*inst.instance, "oob")).message.find("out of bounds"), std::string::npos);
  auto deep = call(*inst.instance, "deep");
  EXPECT_EQ(trap_of(deep).kind, ErrorKind::Trap);
  EXPECT_NE(trap_of(deep).message.find("exhausted"), std::string::npos) << trap_of(deep).message;
  EXPECT_EQ(values_of(call(*inst.instance, "ok"))[0], 1u);
}

TEST(Engine, HostFunctionsSeeMemoryUserDataAndCanTrap) {
  auto m = compile(R"((module
    (import "env" "peek" (func $peek (param i32) (result i32)))
    (import "env" "fail" (func $fail))
    (import "env" "exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    (data (i32.const 16) "\2a")
    (func (export "peek") (result i32) (call $peek (i32.const 16)))
    (func (export "fail") (call $fail))
    (func (export "exit") (param i32) (call $exit (local.get 0)))))");
  int user = 7;
  HostFunc peek{FuncType{{ValType::I32}, {ValType::I32}},
                [](Caller& c, std::span<const Slot> a, std::span<Slot> r) -> HostResult {
                  r[0] = c.memory()[a[0]] + *static_cast<int*>(c.user_data());
                  return std::nullopt;
                }};
  HostFunc fail{FuncType{}, [](Caller&, std::span<const Slot>, std::span<Slot>) -> HostResult {
                  return Trap{ErrorKind::HostError, "nope", std::nullopt};
                }};
  HostFunc exit{FuncType{{ValType::I32}, {}},
                [](Caller&, std::span<const Slot> a, std::span<Slot>) -> HostResult {
                  return Trap::exit(static_cast<int32_t>(a[0]));
                }};
  auto inst = instantiate(m, {&peek, &fail, &exit}, 1024, 5s, &user);
  ASSERT_TRUE(inst.instance);
  EXPECT_EQ(values_of(call(*inst.instance, "peek"))[0], 42u + 7u);
  auto f = call(*inst.instance, "fail");
  EXPECT_EQ(trap_of(f).kind, ErrorKind::HostError);
  EXPECT_EQ(trap_of(f).message, "nope");
  auto e = call(*inst.instance, "exit", {3});
  ASSERT_TRUE(trap_of(e).exit_code);
  EXPECT_EQ(*trap_of(e).exit_code, 3);
}

TEST(Engine, MismatchedHostFunctionTypeIsALinkError) {
  auto m = compile(R"((module (import "env" "f" (func (param i64)))))");
  HostFunc wrong{FuncType{{ValType::I32}, {}}, [](Caller&, std::span<const Slot>, std::span<Slot>) -> HostResult {
                   return std::nullopt;
                 }};
  auto inst = instantiate(m, {&wrong});
  ASSERT_FALSE(inst.instance);
  EXPECT_EQ(inst.trap->kind, ErrorKind::InvalidModule);
  EXPECT_NE(inst.trap->message.find("\"env\".\"f\""), std::string::npos);
}

TEST(Engine, InstancesAreIndependentAcrossThreads) {
  auto m = compile(R"((module (global $g (mut i32) (i32.const 0))
    (func (export "inc") (result i32) (global.set $g (i32.add (global.get $g) (i32.const 1))) (global.get $g))))");
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      auto inst = instantiate(m);
      ASSERT_TRUE(inst.instance) << inst.trap->message;
      Slot last = 0;
      for (int i = 0; i < 500; ++i) last = values_of(call(*inst.instance, "inc"))[0];
      if (last == 500) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 4);
}
