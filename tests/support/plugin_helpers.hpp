// tests/support/plugin_helpers.hpp: loading our test plugins (build/plugins/<name>.wasm, built
// from tests/plugins) and checking call outcomes, shared by the host ABI suites. It includes
// host/plugin.hpp, so a suite needs nothing else from the host layer to use it.
//
// Ownership: what the helpers load belongs to the caller (a shared CompiledPlugin, an owned
// PluginInstance, which keeps its CompiledPlugin alive); a PluginTest fixture owns one of each
// for the length of a test. A helper that fails records a test failure and returns null, so the
// caller ASSERTs on what it got and stops there.
// Thread safety: the helpers keep no state and may run on any thread (GoogleTest's assertions
// are thread-safe on POSIX); a PluginTest, like any fixture, belongs to its test's thread.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <ostream>
#include <span>
#include <string>

#include "core/files.hpp"
#include "host/plugin.hpp"
#include "paths.hpp"

namespace wasimancer {

// GoogleTest prints an ErrorKind in a failure message by its name.
inline void PrintTo(ErrorKind kind, std::ostream* os) { *os << to_string(kind); }

}  // namespace wasimancer

namespace wasimancer::test {

// Loads build/plugins/<name>.wasm with `opts`, named `name` (the tier from WASIMANCER_TIER, as
// PluginOptions defaults). The load's own result: for tests of modules the host refuses.
inline Result<std::shared_ptr<const host::CompiledPlugin>> try_load_plugin(const std::string& name,
                                                                           host::PluginOptions opts = {}) {
  auto bytes = read_file(test_plugin(name));
  if (!bytes) return bytes.error();
  opts.name = name;
  std::span<const uint8_t> wasm(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size());
  return host::CompiledPlugin::load(wasm, std::move(opts));
}

// The same, for a load that must succeed (null after a test failure).
inline std::shared_ptr<const host::CompiledPlugin> load_plugin(const std::string& name, host::PluginOptions opts = {}) {
  auto p = try_load_plugin(name, std::move(opts));
  EXPECT_TRUE(p.ok()) << name << ": " << p.error().message;
  return p.ok() ? *p : nullptr;
}

// A new instance of `plugin` (null after a test failure, or when `plugin` is null: a failed
// load_plugin was reported already, so make_instance(load_plugin(...)) needs one ASSERT).
inline std::unique_ptr<host::PluginInstance> make_instance(const std::shared_ptr<const host::CompiledPlugin>& plugin) {
  if (!plugin) return nullptr;
  auto inst = host::PluginInstance::create(plugin);
  EXPECT_TRUE(inst.ok()) << inst.error().message;
  return inst.ok() ? std::move(*inst) : nullptr;
}

// A fixture with one plugin and one instance of it: the suite's SetUp calls load(). A failed
// load is fatal in SetUp, so the test body does not run.
class PluginTest : public ::testing::Test {
 protected:
  void load(const std::string& name, host::PluginOptions opts = {}) {
    plugin = load_plugin(name, std::move(opts));
    ASSERT_TRUE(plugin);
    inst = make_instance(plugin);
    ASSERT_TRUE(inst);
  }
  std::shared_ptr<const host::CompiledPlugin> plugin;
  std::unique_ptr<host::PluginInstance> inst;
};

// Call options that send the call's side effects to `sink` (owned by the caller).
inline host::CallOptions with_sink(host::CallSink* sink) {
  host::CallOptions o;
  o.sink = sink;
  return o;
}

// One line saying what a call did, for failure messages.
inline std::string describe(const host::CallOutcome& r) {
  std::string s = "rc=" + std::to_string(r.rc) + " output=[" + r.output.substr(0, 200) + "]";
  if (r.error) s += " error(" + std::string(to_string(r.error->kind)) + ")=[" + r.error->message + "]";
  return s;
}

}  // namespace wasimancer::test

// The checks of a call's outcome are macros, so that a failure names the line of the test, and
// an ASSERT inside them ends the test. Each prints describe(outcome) with its failures.

// Success with exactly this output.
#define EXPECT_OUT(outcome, expected)                                     \
  do {                                                                    \
    const ::wasimancer::host::CallOutcome& o_ = (outcome);                \
    SCOPED_TRACE(::wasimancer::test::describe(o_));                       \
    EXPECT_TRUE(o_.ok());                                                 \
    EXPECT_EQ(o_.rc, 0);                                                  \
    EXPECT_EQ(o_.output, (expected));                                     \
  } while (0)

// A failed call: an error of this kind, no output, and the further checks given (on `o_`).
#define WM_EXPECT_CALL_ERROR_(outcome, kind_, ...)                        \
  do {                                                                    \
    const ::wasimancer::host::CallOutcome& o_ = (outcome);                \
    SCOPED_TRACE(::wasimancer::test::describe(o_));                       \
    ASSERT_TRUE(o_.error.has_value());                                    \
    EXPECT_EQ(o_.error->kind, ::wasimancer::ErrorKind::kind_);            \
    EXPECT_EQ(o_.output, "");                                             \
    __VA_ARGS__;                                                          \
  } while (0)

// A plugin error with exactly this text.
#define EXPECT_PLUGIN_ERR(outcome, text) \
  WM_EXPECT_CALL_ERROR_(outcome, PluginError, EXPECT_EQ(o_.error->message, (text)))

// A plugin error with exactly this return code and text.
#define EXPECT_PLUGIN_ERR_RC(outcome, rc_expected, text) \
  WM_EXPECT_CALL_ERROR_(outcome, PluginError, EXPECT_EQ(o_.rc, (rc_expected)); EXPECT_EQ(o_.error->message, (text)))

// A host function refused the call: a HostError trap (non-zero rc) whose message contains `text`.
#define EXPECT_HOST_ERR(outcome, text)                   \
  WM_EXPECT_CALL_ERROR_(outcome, HostError, EXPECT_NE(o_.rc, 0); \
                        EXPECT_NE(o_.error->message.find(text), std::string::npos))

// The host stopped the call at its deadline (or on cancellation): "timeout...", as Extism says.
#define EXPECT_TIMEOUT(outcome) WM_EXPECT_CALL_ERROR_(outcome, Timeout, EXPECT_EQ(o_.error->message.rfind("timeout", 0), 0u))

// The call went over its memory limit: "oom...", as Extism says.
#define EXPECT_OOM(outcome) WM_EXPECT_CALL_ERROR_(outcome, OutOfMemory, EXPECT_EQ(o_.error->message.rfind("oom", 0), 0u))
