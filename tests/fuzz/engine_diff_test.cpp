// The differential fuzzer's smoke run (tests/fuzz/engine_diff.hpp) inside `make test`: binaryen
// modules from fixed seeds run on both tiers and must agree. ENGINE_DIFF_SMOKE_MODULES modules
// (default 200), or fewer once ENGINE_DIFF_SMOKE_SECONDS (default 60) have passed, but never
// fewer than ENGINE_DIFF_SMOKE_MIN (default 20): the seeds are fixed, so every run compares a
// prefix of the same sequence, and native builds are cached (WASIMANCER_NATIVE_CACHE) so a second
// run gets further. `make fuzz` runs the long version (tests/fuzz/run.sh).
#include <gtest/gtest.h>

#include <cstdlib>
#include <thread>

#include "engine/module.hpp"
#include "engine_diff.hpp"
#include "engine_helpers.hpp"
#include "core/subprocess.hpp"
#include "wat.hpp"

using namespace wasimancer;
using namespace std::chrono_literals;

namespace {

uint64_t env_or(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

bool have_wasm_opt() { return !find_program("wasm-opt").empty(); }

}  // namespace

// The comparison itself: what must agree does, and what may differ (NaN payloads) does not count.
TEST(EngineDiff, TracesCompareWhatMatters) {
  fuzz::Trace a, b;
  a.events = {"instantiate: ok", "log-i32 i32 7", "call f: i32 1"};
  b.events = a.events;
  EXPECT_EQ(fuzz::compare_traces(a, b), "");
  b.events[1] = "log-i32 i32 8";
  EXPECT_NE(fuzz::compare_traces(a, b).find("event 1"), std::string::npos);
  b.events = a.events;
  b.events.push_back("call g: ()");
  EXPECT_NE(fuzz::compare_traces(a, b).find("only the native"), std::string::npos);
  // A timeout on one side: the call that timed out and what follows are not compared...
  b.events = {"instantiate: ok", "log-i32 i32 7", "call f: timeout"};
  b.timed_out = true;
  EXPECT_EQ(fuzz::compare_traces(a, b), "");
  // ...but what came before it is.
  b.events = {"instantiate: ok", "log-i32 i32 9", "call f: timeout"};
  EXPECT_NE(fuzz::compare_traces(a, b), "");
}

// Both tiers run a module that logs, traps, returns NaNs with different payloads and recurses
// without end: the traces are equal (NaNs as "nan", exhaustion at the same depth).
TEST(EngineDiff, TiersAgreeOnAKnownModule) {
  auto wasm = test::wat_to_wasm(R"((module
    (import "fuzzing-support" "log-i32" (func $log (param i32)))
    (import "fuzzing-support" "log-f32" (func $logf (param f32)))
    (memory (export "memory") 1)
    (global $depth (mut i32) (i32.const 0))
    (func (export "a") (result i32) (call $log (i32.const 7)) (i32.const 42))
    (func (export "b") (result f32) (call $logf (f32.const nan:0x1234)) (f32.div (f32.const 0) (f32.const 0)))
    (func (export "c") (i32.store (i32.const 8) (i32.const 1)) (i32.store (i32.const 65536) (i32.const 1)))
    (func $r (export "d") (global.set $depth (i32.add (global.get $depth) (i32.const 1))) (call $r))
    (func (export "e") (result i32) (global.get $depth))
    (func (export "f") (param i64 f64 funcref) (result i64 f64 i32) (local.get 0) (local.get 1) (ref.is_null (local.get 2)))))");
  auto m = engine::Module::compile(wasm);
  ASSERT_TRUE(m.ok()) << m.error().message;
  auto interp = fuzz::run_tier(wasm, nullptr, 20s);
  auto native = fuzz::run_tier(wasm, test::native_code(**m), 20s);
  EXPECT_EQ(fuzz::compare_traces(interp, native), "");
  // Each call is followed by the memory it left ("memory: N bytes, hash H").
  std::vector<std::string> calls;
  for (const auto& e : interp.events) {
    if (e.rfind("memory: ", 0) != 0) calls.push_back(e);
  }
  ASSERT_EQ(interp.events.size(), 15u);
  ASSERT_EQ(calls.size(), 9u);
  EXPECT_EQ(interp.events[3], interp.events[6]) << "a call that writes nothing leaves the memory as it was";
  EXPECT_EQ(interp.events[3], "memory: 65536 bytes, hash " + interp.events[3].substr(26));
  EXPECT_NE(interp.events[8], interp.events[6]) << "c stored a byte before it trapped";
  EXPECT_EQ(calls[1], "log-i32 i32 7");
  EXPECT_EQ(calls[2], "call a: i32 42");
  EXPECT_EQ(calls[3], "log-f32 f32 nan");
  EXPECT_EQ(calls[4], "call b: f32 nan");
  EXPECT_EQ(calls[5], "call c: trap out of bounds");
  EXPECT_EQ(calls[6], "call d: trap call stack exhausted");
  EXPECT_EQ(calls[8], "call f: i64 0, f64 0x0000000000000000, i32 1");
  // The depth the recursion reached is part of the trace: the same on both tiers (the stack is
  // counted in the same units), and well short of a machine-stack limit.
  EXPECT_EQ(calls[7].rfind("call e: i32 ", 0), 0u) << calls[7];
  EXPECT_GT(std::stoul(calls[7].substr(12)), 100u) << calls[7];
}

// The smoke run: fixed seeds, both tiers, no disagreement.
TEST(EngineDiff, SmokeRunAgrees) {
  if (!have_wasm_opt()) GTEST_SKIP() << "wasm-opt (Debian package binaryen) is not installed";
  fuzz::DiffOptions o;
  o.first_seed = env_or("ENGINE_DIFF_SMOKE_SEED", 1);
  o.count = env_or("ENGINE_DIFF_SMOKE_MODULES", 200);
  o.min_modules = env_or("ENGINE_DIFF_SMOKE_MIN", 20);
  o.budget = std::chrono::seconds(env_or("ENGINE_DIFF_SMOKE_SECONDS", 60));
  o.input_bytes = 1024;
  o.jobs = std::max(2u, std::thread::hardware_concurrency());
  o.work_dir = WASIMANCER_ENGINE_DIFF_DIR;  // BUILD/engine-diff: disagreeing modules are kept there
  o.native = test::test_native_options();
  o.native.nice = 0;  // the test waits for these builds: not after everything else on a busy machine
  o.progress = [](const std::string& line) { std::printf("[engine-diff] %s\n", line.c_str()); };
  auto report = fuzz::run_differential(o);
  for (const auto& f : report.findings) ADD_FAILURE() << f;
  for (const auto& n : report.notes) std::printf("[engine-diff] skipped %s\n", n.c_str());
  EXPECT_GE(report.modules, std::min<uint64_t>(o.min_modules, o.count));
  EXPECT_GE(report.calls, report.modules) << "binaryen's modules export functions: calls were compared";
  // Binaryen makes valid modules and both tiers build them: a skip is worth a look, many are a bug.
  EXPECT_LE(report.skipped * 10, report.modules + report.skipped) << "more than 10% of the modules were skipped";
}
