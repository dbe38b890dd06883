// Native calls that nest: a host function that calls another native instance (as the spec runner
// links `register`ed modules). Found while running the spec suite's linking files: the inner
// call cleared the thread's stack guard on return, so a frame of the outer call that then ran
// into the guard page killed the process (SIGSEGV) instead of trapping that call.
#include <gtest/gtest.h>

#include <string>

#include "engine/native.hpp"
#include "engine_helpers.hpp"

using namespace wasimancer;
using namespace wasimancer::engine;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<Instance> instantiate(const std::shared_ptr<const Module>& m, const ImportTable& imports) {
  CallControl ctl;
  ctl.deadline = Deadline::after(60s);
  auto r = instantiate_native(m, test::native_code(*m), imports, nullptr, InstanceLimits{}, ctl, &test::test_watchdog());
  if (auto* t = std::get_if<Trap>(&r)) throw std::runtime_error(t->message);
  return std::move(std::get<0>(r));
}

}  // namespace

TEST(NativeNesting, TheStackGuardSurvivesANestedCall) {
  if (!test::native_tier()) GTEST_SKIP() << "native frames only (WASIMANCER_TIER=native)";
  auto inner = test::compile_wat(R"((module (func (export "g") (result i32) (i32.const 7))))");
  // $big has 50,000 i64 locals, some read: a frame of 400 KB or more at -O0, larger than the
  // thread's whole stack below, so it runs into the guard page after the nested call returned.
  std::string locals;
  for (int i = 0; i < 50'000; ++i) locals += " i64";
  std::string reads;
  for (int i = 0; i < 50'000; i += 997) reads += "(drop (local.get " + std::to_string(i) + "))";
  auto outer = test::compile_wat(R"((module
    (import "inner" "g" (func $g (result i32)))
    (global $seen (mut i32) (i32.const 0))
    (func $big (local)" + locals + ")" + reads + R"()
    (func (export "f") (global.set $seen (call $g)) (call $big))
    (func (export "seen") (result i32) (global.get $seen))))");
  auto g = instantiate(inner, {});
  HostFunc forward;
  forward.type.results = {ValType::I32};
  forward.fn = [&](Caller&, std::span<const Slot>, std::span<Slot> results) -> HostResult {
    CallControl ctl;
    ctl.deadline = Deadline::after(60s);
    auto r = g->call("g", {}, ctl);
    if (auto* t = std::get_if<Trap>(&r)) return *t;
    results[0] = std::get<0>(r)[0];
    return std::nullopt;
  };
  auto f = instantiate(outer, {&forward});
  CallResult result = std::vector<Slot>{};
  ASSERT_TRUE(test::run_on_small_stack(384 * 1024, [&] {
    CallControl ctl;
    ctl.deadline = Deadline::after(60s);
    result = f->call("f", {}, ctl);
  }));
  auto* trap = std::get_if<Trap>(&result);
  ASSERT_TRUE(trap) << "the call returned";
  EXPECT_NE(trap->message.find("call stack exhausted"), std::string::npos) << trap->message;
  // The nested call did run, and both instances still answer.
  CallControl ctl;
  ctl.deadline = Deadline::after(60s);
  auto seen = f->call("seen", {}, ctl);
  ASSERT_TRUE(std::holds_alternative<std::vector<Slot>>(seen));
  EXPECT_EQ(std::get<0>(seen)[0], 7u);
}
