// Hostile modules against the engine, on the tier under test (WASIMANCER_TIER=native runs the
// native tier): each test is an attack that once worked (issue "The sandbox holds") and must now
// end in a clear error or a trap, with the process intact.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "engine/instrument.hpp"
#include "engine/interp.hpp"
#include "engine/limits.hpp"
#include "engine/module.hpp"
#include "engine/native.hpp"
#include "engine_helpers.hpp"
#include "temp_dir.hpp"
#include "wasm_builder.hpp"
#include "wat.hpp"

using namespace wasimancer;
using namespace wasimancer::engine;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

struct Made {
  std::unique_ptr<Instance> instance;
  std::optional<Trap> trap;
};

Made make(std::shared_ptr<const Module> m, const ImportTable& imports = {}, InstanceLimits limits = {},
          const NativeOptions* native = nullptr) {
  CallControl ctl;
  ctl.deadline = Deadline::after(20s);
  auto r = test::native_tier() ? instantiate_native(m, native ? test::native_code(*m, *native) : test::native_code(*m),
                                                    imports, nullptr, limits, ctl, &test::test_watchdog())
                               : instantiate_interp(m, imports, nullptr, limits, ctl);
  Made out;
  if (auto* t = std::get_if<Trap>(&r)) out.trap = *t;
  else out.instance = std::move(std::get<0>(r));
  return out;
}

CallResult call(Instance& inst, std::string_view name, std::vector<Slot> args = {}) {
  CallControl ctl;
  ctl.deadline = Deadline::after(20s);
  return inst.call(name, args, ctl);
}

std::string trap_message(const CallResult& r) {
  auto* t = std::get_if<Trap>(&r);
  return t ? t->message : std::string("(no trap)");
}

std::vector<Slot> values(const CallResult& r) {
  if (auto* v = std::get_if<std::vector<Slot>>(&r)) return *v;
  ADD_FAILURE() << "trap: " << std::get<Trap>(r).message;
  return {};
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

// Finding: wasm2c copied export names verbatim into C comments, so "*/" and a newline in a name
// added C of the module's choosing to the plugin's library (a constructor calling system()).
TEST(Hostile, NamesNeverReachGeneratedCode) {
  test::TempDir dir;
  const fs::path marker = dir.path() / "pwned";
  const std::string evil_export = fmt::format(
      "ok*/\\0a__attribute__((constructor)) static void pwn(void) {{ system(\\22touch {}\\22); }}\\0a/*", marker.string());
  const std::string evil_module = "env*/\\0a#include </etc/passwd>\\0a/*";
  auto m = test::compile_wat(fmt::format(R"((module
    (import "{}" "x*/ int leak;" (func $h (result i32)))
    (func (export "{}") (result i32) call $h i32.const 1 i32.add)))",
                                         evil_module, evil_export));
  HostFunc host{FuncType{{}, {ValType::I32}}, [](Caller&, std::span<const Slot>, std::span<Slot> r) -> HostResult {
                  r[0] = 41;
                  return std::nullopt;
                }};
  NativeOptions o = test::test_native_options();
  o.cache_dir = dir.path() / "cache";  // a fresh cache: the C is generated here, now
  setenv("WASIMANCER_NATIVE_KEEP_SOURCES", "1", 1);
  Made made = make(m, {&host}, {}, &o);
  unsetenv("WASIMANCER_NATIVE_KEEP_SOURCES");
  ASSERT_TRUE(made.instance) << made.trap->message;
  const std::string name = m->exports()[0].name;
  ASSERT_NE(name.find("*/"), std::string::npos);  // the module really has the hostile name
  EXPECT_EQ(values(call(*made.instance, name)), std::vector<Slot>{42});
  EXPECT_FALSE(fs::exists(marker)) << "code of the module's choosing ran";
  if (test::native_tier()) {
    size_t files = 0;
    for (const auto& e : fs::recursive_directory_iterator(o.cache_dir)) {
      if (!e.is_regular_file() || e.path().extension() == ".so") continue;
      ++files;
      std::string text = read_all(e.path());
      for (const char* bad : {"pwn", "passwd", "leak", "constructor)) static void", "ok*/"}) {
        EXPECT_EQ(text.find(bad), std::string::npos) << e.path() << " contains " << bad;
      }
    }
    EXPECT_GE(files, 3u);  // m.c, m.h, glue.c (kept): the check looked at the generated code
  }
}

// Finding: the native runtime recorded at most 32 value types per signature, so signatures that
// differed only after the 32nd parameter shared a type index and call_indirect accepted either.
TEST(Hostile, SignaturesAreComparedWhole) {
  std::string p32;
  for (int i = 0; i < 32; ++i) p32 += " i32";
  auto m = test::compile_wat(fmt::format(R"((module
    (type $a (func (param{0} i32) (result i32)))
    (type $b (func (param{0} i64) (result i32)))
    (type $c (func (param{0} funcref) (result i32)))
    (table 1 funcref)
    (elem (i32.const 0) $target)
    (func $target (type $a) (local.get 32))
    (func (export "right") (result i32)
      {1} (i32.const 7) (call_indirect (type $a) (i32.const 0)))
    (func (export "wrong_i64") (result i32)
      {1} (i64.const 7) (call_indirect (type $b) (i32.const 0)))
    (func (export "wrong_ref") (result i32)
      {1} (ref.null func) (call_indirect (type $c) (i32.const 0)))))",
                                         p32, [] {
                                           std::string s;
                                           for (int i = 0; i < 32; ++i) s += "(i32.const 0) ";
                                           return s;
                                         }()));
  Made made = make(m);
  ASSERT_TRUE(made.instance) << made.trap->message;
  EXPECT_EQ(values(call(*made.instance, "right")), std::vector<Slot>{7});
  for (const char* f : {"wrong_i64", "wrong_ref"}) {
    auto r = call(*made.instance, f);
    EXPECT_NE(trap_message(r).find("signature"), std::string::npos) << f << ": " << trap_message(r);
  }
}

// Finding: wabt 1.0.32 skips a call_indirect made exactly at its call-stack limit (the callee's
// argument is left as its result), which a module turned into a forged reference. Deep
// recursion, direct or indirect, must end in a "call stack exhausted" trap, never a value.
TEST(Hostile, IndirectRecursionTrapsAtTheStackLimit) {
  auto m = test::compile_wat(R"((module
    (type $t (func (param i32) (result i32)))
    (table 1 funcref)
    (elem (i32.const 0) $count)
    (func $count (type $t)
      (if (result i32) (i32.eqz (local.get 0))
        (then (i32.const 0))
        (else (i32.add (i32.const 1)
                       (call_indirect (type $t) (i32.sub (local.get 0) (i32.const 1)) (i32.const 0))))))
    (func $direct (param i32) (result i32)
      (if (result i32) (i32.eqz (local.get 0))
        (then (i32.const 0))
        (else (i32.add (i32.const 1) (call $direct (i32.sub (local.get 0) (i32.const 1)))))))
    (func (export "count") (param i32) (result i32) (call_indirect (type $t) (local.get 0) (i32.const 0)))
    (func (export "direct") (param i32) (result i32) (call $direct (local.get 0)))))");
  Made made = make(m);
  ASSERT_TRUE(made.instance) << made.trap->message;
  EXPECT_EQ(values(call(*made.instance, "count", {100})), std::vector<Slot>{100});
  for (uint32_t n : {1400u, 1500u, 1501u, 1600u, 1700u, 100000u, 10000000u}) {
    for (const char* f : {"count", "direct"}) {
      auto r = call(*made.instance, f, {n});
      if (auto* v = std::get_if<std::vector<Slot>>(&r)) {
        EXPECT_EQ((*v)[0], n) << f << "(" << n << ") returned a wrong value";  // only right answers
      } else {
        EXPECT_NE(trap_message(r).find("call stack exhausted"), std::string::npos) << f << "(" << n << "): " << trap_message(r);
      }
    }
  }
  // The limit is the same on both tiers (engine/instrument.hpp: 1500 frames of this size).
  EXPECT_TRUE(std::holds_alternative<std::vector<Slot>>(call(*made.instance, "direct", {1400})));
  EXPECT_TRUE(std::holds_alternative<Trap>(call(*made.instance, "direct", {1600})));
  // The instance stays usable after the trap (the stack units are reset).
  EXPECT_EQ(values(call(*made.instance, "count", {10})), std::vector<Slot>{10});
}

// Finding: the rewriting passes recursed once per nesting level: a 300 KB module of 100k nested
// loops killed the server on upload, 1M nested blocks killed `wasimancer call`.
TEST(Hostile, DeepNestingIsRefusedBeforeAnyWork) {
  for (uint8_t op : {uint8_t(0x02), uint8_t(0x03), uint8_t(0x04)}) {
    for (uint32_t depth : {100'000u, 1'000'000u}) {
      auto m = Module::compile(test::nested_module(depth, op));
      ASSERT_FALSE(m.ok()) << depth;
      EXPECT_EQ(m.error().kind, ErrorKind::InvalidModule);
      EXPECT_NE(m.error().message.find("nests blocks more than"), std::string::npos) << m.error().message;
      auto inst = instrument(test::nested_module(depth, op));
      ASSERT_FALSE(inst.ok());
      EXPECT_NE(inst.error().message.find("nests blocks more than"), std::string::npos);
    }
  }
  // At the limit, the module is accepted and runs.
  auto m = Module::compile(test::nested_module(ModuleLimits{}.max_nesting, 0x03));
  ASSERT_TRUE(m.ok()) << m.error().message;
  Made made = make(*m);
  ASSERT_TRUE(made.instance) << made.trap->message;
  EXPECT_TRUE(std::holds_alternative<std::vector<Slot>>(call(*made.instance, "f")));
}

TEST(Hostile, CountsOverTheLimitsAreRefusedNamingTheLimit) {
  auto too_many_locals = Module::compile(test::module_with_body({}, 200'000));
  ASSERT_FALSE(too_many_locals.ok());
  EXPECT_NE(too_many_locals.error().message.find("declares more than 50000 locals"), std::string::npos)
      << too_many_locals.error().message;
  auto big_table = test::wat_to_wasm("(module (table 20000000 funcref))");
  auto t = Module::compile(big_table);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("initial elements"), std::string::npos) << t.error().message;
}

// Finding: the interpreter's value stack was not bounded: a small module with 200k locals per
// frame recursing grew to 6.4 GB. Locals are capped and every frame counts against one budget.
TEST(Hostile, BigFramesRecursingStayWithinTheStackBudget) {
  auto m = test::compile_wat(R"((module
    (func $f (param i32) (result i32)
      (local i64 i64 i64 i64 i64 i64 i64 i64)
      (call $f (i32.add (local.get 0) (i32.const 1))))
    (func (export "many_locals") (result i32) (call $f (i32.const 0)))))");
  Made made = make(m);
  ASSERT_TRUE(made.instance) << made.trap->message;
  EXPECT_NE(trap_message(call(*made.instance, "many_locals")).find("call stack exhausted"), std::string::npos);

  // 40,000 locals: the budget allows only a few dozen such frames.
  auto big = Module::compile(test::module_with_body({0x10, 0x00}, 40'000));  // f: call f
  ASSERT_TRUE(big.ok()) << big.error().message;
  Made b = make(*big);
  ASSERT_TRUE(b.instance) << b.trap->message;
  EXPECT_NE(trap_message(call(*b.instance, "f")).find("call stack exhausted"), std::string::npos);
}

// Finding: tables were not counted: four 10M-entry tables took 950 MB under a 1 MiB memory limit.
TEST(Hostile, TablesAreCappedByTheInstanceLimits) {
  auto m = test::compile_wat(R"((module
    (table $a 5000000 funcref) (table $b 5000000 funcref) (table $c 5000000 funcref) (table $d 5000000 funcref)))");
  InstanceLimits limits;
  limits.max_table_elements = 100'000;
  Made made = make(m, {}, limits);
  ASSERT_TRUE(made.trap);
  EXPECT_EQ(made.trap->kind, ErrorKind::OutOfMemory) << made.trap->message;

  auto g = test::compile_wat(R"((module
    (table $t 10 funcref)
    (func (export "grow") (param i32) (result i32) (table.grow $t (ref.null func) (local.get 0)))
    (func (export "size") (result i32) (table.size $t))))");
  limits.max_table_elements = 1000;
  Made grower = make(g, {}, limits);
  ASSERT_TRUE(grower.instance) << grower.trap->message;
  EXPECT_EQ(values(call(*grower.instance, "grow", {5000})), std::vector<Slot>{0xffffffffu});
  EXPECT_EQ(values(call(*grower.instance, "grow", {990})), std::vector<Slot>{10});
  EXPECT_EQ(values(call(*grower.instance, "size")), std::vector<Slot>{1000});
  EXPECT_EQ(values(call(*grower.instance, "grow", {1})), std::vector<Slot>{0xffffffffu});
}

// Spec: memory.grow past the declared maximum returns -1 (it trapped); past the plugin's limit it
// is Extism's out-of-memory error.
TEST(Hostile, MemoryGrowPastTheDeclaredMaximumReturnsMinusOne) {
  auto m = test::compile_wat(R"((module
    (memory 1 3)
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))))");
  InstanceLimits limits;
  limits.max_memory_pages = 2;
  Made made = make(m, {}, limits);
  ASSERT_TRUE(made.instance) << made.trap->message;
  EXPECT_EQ(values(call(*made.instance, "grow", {5})), std::vector<Slot>{0xffffffffu});
  EXPECT_EQ(values(call(*made.instance, "grow", {65536})), std::vector<Slot>{0xffffffffu});
  EXPECT_EQ(values(call(*made.instance, "grow", {1})), std::vector<Slot>{1});
  auto over = call(*made.instance, "grow", {1});  // within the declared maximum, over the limit
  ASSERT_TRUE(std::holds_alternative<Trap>(over));
  EXPECT_EQ(std::get<Trap>(over).kind, ErrorKind::OutOfMemory);
}

// Finding: a 65,536-page memory wrapped its size to 0 on the native tier. Both tiers hold at most
// 65,535 pages: a larger initial memory cannot start, growth to 65,536 returns -1.
TEST(Hostile, AFourGibibyteMemoryIsRefusedAlikeOnBothTiers) {
  auto full = test::compile_wat(R"((module (memory 65536) (func (export "f"))))");
  Made made = make(full, {}, InstanceLimits{65536, 1000});
  ASSERT_TRUE(made.trap);
  EXPECT_EQ(made.trap->kind, ErrorKind::OutOfMemory) << made.trap->message;
  auto grow = test::compile_wat(R"((module (memory 0)
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))))");
  Made g = make(grow, {}, InstanceLimits{65536, 1000});
  ASSERT_TRUE(g.instance) << g.trap->message;
  EXPECT_EQ(values(call(*g.instance, "grow", {65536})), std::vector<Slot>{0xffffffffu});
}

// Finding: SIMD was accepted by the interpreter and failed the native build. The accepted
// features are one list, checked before anything else, identically on both tiers.
TEST(Hostile, FeaturesOutsideTheAcceptedListAreRefusedByName) {
  auto simd = Module::compile(test::wat_to_wasm(R"((module
    (func (export "f") (result i32) (i32x4.extract_lane 0 (v128.const i32x4 1 2 3 4)))))"));
  ASSERT_FALSE(simd.ok());
  EXPECT_EQ(simd.error().kind, ErrorKind::InvalidModule);
  EXPECT_NE(simd.error().message.find("\"simd\""), std::string::npos) << simd.error().message;
  EXPECT_NE(simd.error().message.find("accepted: mutable-globals"), std::string::npos) << simd.error().message;
}

// Finding: at -O2 the C compiler turned unbounded recursion into a loop, so it ended as a timeout
// instead of a stack trap. The stack units make it a trap at every optimisation level.
TEST(Hostile, UnboundedRecursionIsAStackTrapAtEveryOptimisation) {
  auto m = test::compile_wat(R"((module
    (func $tail (param i32) (result i32) (call $tail (i32.add (local.get 0) (i32.const 1))))
    (func $plain (result i32) (call $plain))
    (func (export "tail") (result i32) (call $tail (i32.const 0)))
    (func (export "plain") (result i32) (call $plain))))");
  for (const char* opt : {"-O0", "-O2"}) {
    NativeOptions o = test::test_native_options();
    o.opt_level = opt;
    Made made = make(m, {}, {}, &o);
    ASSERT_TRUE(made.instance) << made.trap->message;
    for (const char* f : {"tail", "plain"}) {
      auto r = call(*made.instance, f);
      ASSERT_TRUE(std::holds_alternative<Trap>(r)) << f;
      EXPECT_EQ(std::get<Trap>(r).kind, ErrorKind::Trap) << opt << " " << f << ": " << trap_message(r);
      EXPECT_NE(trap_message(r).find("call stack exhausted"), std::string::npos) << opt << " " << f << ": " << trap_message(r);
    }
    if (!test::native_tier()) break;  // the optimisation level is the native tier's
  }
}

// Finding: at -O0 a function whose frame exceeds the stack-check margin overflowed the thread's
// stack (SIGSEGV, the server died). A frame that runs into the guard page is a trap of that call.
TEST(Hostile, AFrameLargerThanTheStackIsATrap) {
  if (!test::native_tier()) GTEST_SKIP() << "native frames only";
  // 50,000 i64 locals, all read: a frame of 400 KB or more at -O0.
  std::vector<uint8_t> body;
  for (uint32_t i = 0; i < 50'000; i += 997) {
    body.push_back(0x20);  // local.get i
    test::leb_u32(body, i);
    body.push_back(0x1a);  // drop
  }
  auto m = Module::compile(test::module_with_body(body, 50'000));
  ASSERT_TRUE(m.ok()) << m.error().message;
  Made made = make(*m);
  ASSERT_TRUE(made.instance) << made.trap->message;
  // On a thread whose stack is smaller than the frame.
  CallResult result = std::vector<Slot>{};
  ASSERT_TRUE(test::run_on_small_stack(384 * 1024, [&] { result = call(*made.instance, "f"); }));
  EXPECT_NE(trap_message(result).find("call stack exhausted"), std::string::npos) << trap_message(result);
  // The same instance still answers on a normal thread.
  EXPECT_TRUE(std::holds_alternative<std::vector<Slot>>(call(*made.instance, "f")));
}
