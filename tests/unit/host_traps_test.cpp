// Traps and their precedence (extism-abi.md §2.5, §2.7), and modules the host must reject at
// load time or at instantiation: traps.wasm, deep_recursion.wasm, start_trap.wasm,
// multi_result.wasm, params.wasm, bad_import.wasm, user_import.wasm, memory_import.wasm and
// wrong_sig.wasm (tests/plugins/README.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "plugin_helpers.hpp"

using namespace wasimancer;
using namespace wasimancer::host;
using namespace wasimancer::test;

namespace {

bool contains_any(const std::string& s, const std::vector<std::string>& needles) {
  return std::any_of(needles.begin(), needles.end(), [&](const std::string& n) { return s.find(n) != std::string::npos; });
}

// A trap without an error: kind Trap, rc 134, "wasm trap: <engine text>".
void expect_trap(const CallOutcome& r, const std::vector<std::string>& hints) {
  ASSERT_TRUE(r.error.has_value()) << describe(r);
  EXPECT_EQ(r.error->kind, ErrorKind::Trap) << describe(r);
  EXPECT_EQ(r.rc, 134) << describe(r);
  EXPECT_EQ(r.error->message.rfind("wasm trap: ", 0), 0u) << describe(r);
  EXPECT_TRUE(contains_any(r.error->message, hints)) << describe(r);
  EXPECT_EQ(r.output, "") << describe(r);
}

struct TrapCase {
  const char* fn;
  std::vector<std::string> hints;
};

const std::vector<TrapCase>& trap_cases() {
  static const std::vector<TrapCase> cases = {
      {"unreachable", {"unreachable"}},
      {"div_zero", {"integer divide by zero"}},
      {"oob_memory", {"out of bounds memory access"}},
      {"stack_overflow", {"call stack exhausted", "stack overflow", "out of bounds memory access"}},
      {"null_call", {"uninitialized", "indirect call to null"}},
  };
  return cases;
}

}  // namespace

// ---- traps.wasm -----------------------------------------------------------------------------------

TEST(HostTraps, EachTrapThenTheInstanceStillWorks) {
  auto i = make_instance(load_plugin("traps"));
  ASSERT_TRUE(i);
  for (const auto& c : trap_cases()) {
    SCOPED_TRACE(c.fn);
    expect_trap(i->call(c.fn, "input"), c.hints);
    // Traps do not re-instantiate, and the instance must survive.
    EXPECT_TRUE(i->reusable());
    EXPECT_OUT(i->call("after_trap_ok", ""), "ok");
  }
}

TEST(HostTraps, EachTrapOnAFreshInstance) {
  auto p = load_plugin("traps");
  ASSERT_TRUE(p);
  for (const auto& c : trap_cases()) {
    SCOPED_TRACE(c.fn);
    auto i = make_instance(p);
    ASSERT_TRUE(i);
    expect_trap(i->call(c.fn, ""), c.hints);
    // The same trap again: the state left by the first one does not change the outcome.
    expect_trap(i->call(c.fn, ""), c.hints);
    EXPECT_OUT(i->call("after_trap_ok", ""), "ok");
  }
}

TEST(HostTraps, ErrorWinsOverTrap) {
  auto i = make_instance(load_plugin("traps"));
  ASSERT_TRUE(i);
  EXPECT_PLUGIN_ERR_RC(i->call("error_then_trap", ""), 134, "error before trap");
  EXPECT_OUT(i->call("after_trap_ok", ""), "ok");
  // The error does not carry over to the next trap.
  expect_trap(i->call("unreachable", ""), {"unreachable"});
}

TEST(HostTraps, DeepRecursionExhaustsTheCallStack) {
  auto i = make_instance(load_plugin("deep_recursion"));
  ASSERT_TRUE(i);
  expect_trap(i->call("run", ""), {"call stack exhausted", "stack overflow", "stack"});
  EXPECT_TRUE(i->reusable());
  expect_trap(i->call("run", ""), {"call stack exhausted", "stack overflow", "stack"});
}

TEST(HostTraps, StartFunctionTrapFailsInstantiation) {
  auto p = load_plugin("start_trap");
  ASSERT_TRUE(p);
  auto i = PluginInstance::create(p);
  ASSERT_FALSE(i.ok());
  EXPECT_EQ(i.error().kind, ErrorKind::Trap) << i.error().message;
  EXPECT_NE(i.error().message.find("unreachable"), std::string::npos) << i.error().message;
}

// ---- exports that are not plugin functions -------------------------------------------------------

TEST(HostTraps, MultiResultExportIsNotCallable) {
  auto p = load_plugin("multi_result");
  ASSERT_TRUE(p);
  auto chk = p->check_function("two");
  ASSERT_FALSE(chk.ok());
  EXPECT_EQ(chk.error().kind, ErrorKind::InvalidArgument);
  EXPECT_NE(chk.error().message.find("two"), std::string::npos) << chk.error().message;
  auto i = make_instance(p);
  ASSERT_TRUE(i);
  auto r = i->call("two", "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->kind, ErrorKind::InvalidArgument) << describe(r);
  EXPECT_OUT(i->call("run", ""), "");
  auto fns = p->plugin_functions();
  EXPECT_EQ(std::count(fns.begin(), fns.end(), "two"), 0);
  EXPECT_EQ(std::count(fns.begin(), fns.end(), "run"), 1);
}

TEST(HostTraps, ExportsWithParamsOrI64ResultAreNotCallable) {
  auto p = load_plugin("params");
  auto i = make_instance(p);
  ASSERT_TRUE(i);
  for (const char* fn : {"takes_arg", "returns_i64"}) {
    SCOPED_TRACE(fn);
    auto chk = p->check_function(fn);
    ASSERT_FALSE(chk.ok());
    EXPECT_EQ(chk.error().kind, ErrorKind::InvalidArgument);
    EXPECT_NE(chk.error().message.find(fn), std::string::npos) << chk.error().message;
    auto r = i->call(fn, "");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error->kind, ErrorKind::InvalidArgument) << describe(r);
  }
  EXPECT_OUT(i->call("run", ""), "");
  auto fns = p->plugin_functions();
  EXPECT_EQ(fns, std::vector<std::string>{"run"});
  EXPECT_FALSE(p->check_function("memory").ok());
}

// ---- modules rejected at load -----------------------------------------------------------------

void expect_load_error(const std::string& name, const std::vector<std::string>& must_contain) {
  SCOPED_TRACE(name);
  auto p = try_load_plugin(name);
  ASSERT_FALSE(p.ok()) << name << " loaded";
  EXPECT_EQ(p.error().kind, ErrorKind::InvalidModule) << p.error().message;
  for (const auto& s : must_contain) EXPECT_NE(p.error().message.find(s), std::string::npos) << p.error().message;
}

TEST(HostTraps, UnknownEnvImportIsRejected) {
  expect_load_error("bad_import", {"extism:host/env", "not_a_function"});
}

TEST(HostTraps, UserHostFunctionIsRejected) { expect_load_error("user_import", {"extism:host/user", "hello_world"}); }

TEST(HostTraps, MemoryImportIsRejected) { expect_load_error("memory_import", {"\"env\"", "\"memory\""}); }

TEST(HostTraps, WrongImportSignatureIsRejected) { expect_load_error("wrong_sig", {"extism:host/env", "alloc"}); }

TEST(HostTraps, RejectedImportsNameOnlyTheBadOnes) {
  // user_import also imports input_offset, input_length and output_set, which are fine.
  auto p = try_load_plugin("user_import");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().message.find("output_set"), std::string::npos) << p.error().message;
  EXPECT_EQ(p.error().message.find("input_length"), std::string::npos) << p.error().message;
}

TEST(HostTraps, GarbageIsNotAModule) {
  const std::string junk("\0asm\x01\0\0\0garbage", 15);
  auto p = CompiledPlugin::load(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(junk.data()), junk.size()), {});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().kind, ErrorKind::InvalidModule) << p.error().message;
  auto empty = CompiledPlugin::load(std::span<const uint8_t>(), {});
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().kind, ErrorKind::InvalidModule) << empty.error().message;
}
