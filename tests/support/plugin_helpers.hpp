// tests/support/plugin_helpers.hpp: loading our test plugins and checking call outcomes, shared
// by the host ABI suites.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <span>
#include <string>

#include "core/files.hpp"
#include "host/plugin.hpp"
#include "paths.hpp"

namespace wasimancer::test {

// Loads build/plugins/<name>.wasm (tier from WASIMANCER_TIER, as PluginOptions defaults).
inline std::shared_ptr<const host::CompiledPlugin> load_plugin(const std::string& name, host::PluginOptions opts = {}) {
  auto bytes = read_file(test_plugin(name));
  EXPECT_TRUE(bytes.ok()) << test_plugin(name);
  if (!bytes.ok()) return nullptr;
  const std::string& b = *bytes;
  opts.name = name;
  auto p = host::CompiledPlugin::load(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(b.data()), b.size()), opts);
  EXPECT_TRUE(p.ok()) << name << ": " << p.error().message;
  return p.ok() ? *p : nullptr;
}

inline std::unique_ptr<host::PluginInstance> make_instance(const std::shared_ptr<const host::CompiledPlugin>& plugin) {
  if (!plugin) return nullptr;
  auto inst = host::PluginInstance::create(plugin);
  EXPECT_TRUE(inst.ok()) << inst.error().message;
  return inst.ok() ? std::move(*inst) : nullptr;
}

inline std::string describe(const host::CallOutcome& r) {
  std::string s = "rc=" + std::to_string(r.rc) + " output=[" + r.output.substr(0, 200) + "]";
  if (r.error) s += " error(" + std::string(to_string(r.error->kind)) + ")=[" + r.error->message + "]";
  return s;
}

}  // namespace wasimancer::test

// Success with exactly this output.
#define EXPECT_OUT(outcome, expected)                                           \
  do {                                                                          \
    const ::wasimancer::host::CallOutcome& o_ = (outcome);                      \
    EXPECT_TRUE(o_.ok()) << ::wasimancer::test::describe(o_);                   \
    EXPECT_EQ(o_.rc, 0) << ::wasimancer::test::describe(o_);                    \
    EXPECT_EQ(o_.output, (expected)) << ::wasimancer::test::describe(o_);       \
  } while (0)

// A plugin error with exactly this text and no output.
#define EXPECT_PLUGIN_ERR(outcome, text)                                                           \
  do {                                                                                             \
    const ::wasimancer::host::CallOutcome& o_ = (outcome);                                         \
    ASSERT_TRUE(o_.error.has_value()) << ::wasimancer::test::describe(o_);                         \
    EXPECT_EQ(o_.error->kind, ::wasimancer::ErrorKind::PluginError) << ::wasimancer::test::describe(o_); \
    EXPECT_EQ(o_.error->message, (text)) << ::wasimancer::test::describe(o_);                      \
    EXPECT_EQ(o_.output, "") << ::wasimancer::test::describe(o_);                                  \
  } while (0)
