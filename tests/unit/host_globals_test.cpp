// Instance lifecycle (extism-abi.md §2.1, §2.7): guest globals live as long as the instance,
// _initialize runs exactly once, start sections run at instantiation, _start is never called
// implicitly and an explicit _start makes the instance non-reusable. Plugins: globals.wasm,
// start_ok.wasm, exported_start.wasm, version_a.wasm and version_b.wasm (tests/plugins/README.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "plugin_helpers.hpp"

using namespace wasimancer::test;

TEST(HostGlobals, CounterIncrementsOnOneInstance) {
  auto i = make_instance(load_plugin("globals"));
  ASSERT_TRUE(i);
  for (int n = 1; n <= 5; ++n) EXPECT_OUT(i->call("counter", ""), std::to_string(n));
  EXPECT_TRUE(i->reusable());
}

TEST(HostGlobals, CounterRestartsOnANewInstance) {
  auto p = load_plugin("globals");
  auto a = make_instance(p);
  ASSERT_TRUE(a);
  EXPECT_OUT(a->call("counter", ""), "1");
  EXPECT_OUT(a->call("counter", ""), "2");
  auto b = make_instance(p);
  ASSERT_TRUE(b);
  EXPECT_OUT(b->call("counter", ""), "1");
  // The instances are independent.
  EXPECT_OUT(a->call("counter", ""), "3");
  EXPECT_OUT(b->call("counter", ""), "2");
}

TEST(HostGlobals, InitializeRunsExactlyOnce) {
  auto p = load_plugin("globals");
  auto i = make_instance(p);
  ASSERT_TRUE(i);
  // "0": _initialize never ran; "84": it ran twice.
  EXPECT_OUT(i->call("ctor_ran", ""), "42");
  EXPECT_OUT(i->call("counter", ""), "1");
  EXPECT_OUT(i->call("ctor_ran", ""), "42");
  auto j = make_instance(p);
  ASSERT_TRUE(j);
  EXPECT_OUT(j->call("ctor_ran", ""), "42");
}

TEST(HostGlobals, LifecycleExportsAreNotPluginFunctions) {
  auto p = load_plugin("globals");
  ASSERT_TRUE(p);
  auto fns = p->plugin_functions();
  std::sort(fns.begin(), fns.end());
  EXPECT_EQ(fns, (std::vector<std::string>{"counter", "ctor_ran"}));
}

TEST(HostGlobals, StartSectionRunsAtInstantiation) {
  auto i = make_instance(load_plugin("start_ok"));
  ASSERT_TRUE(i);
  // rc 1 would mean the start function did not run.
  EXPECT_OUT(i->call("run", ""), "");
  EXPECT_OUT(i->call("run", ""), "");
}

TEST(HostGlobals, ExportedStartIsNeverCalledImplicitly) {
  auto p = load_plugin("exported_start");
  auto i = make_instance(p);
  ASSERT_TRUE(i);
  EXPECT_OUT(i->call("run", ""), "started=0");
  EXPECT_OUT(i->call("run", ""), "started=0");
  EXPECT_TRUE(i->reusable());
  auto fns = p->plugin_functions();
  EXPECT_EQ(fns, std::vector<std::string>{"run"});
}

TEST(HostGlobals, ExplicitStartMakesTheInstanceNotReusable) {
  auto p = load_plugin("exported_start");
  auto i = make_instance(p);
  ASSERT_TRUE(i);
  EXPECT_OUT(i->call("run", ""), "started=0");
  // An explicit call is allowed: _start is ()->().
  EXPECT_TRUE(p->check_function("_start").ok());
  EXPECT_OUT(i->call("_start", ""), "started");
  // As Extism, the next call must see a fresh instance: the owner discards this one.
  EXPECT_FALSE(i->reusable());
  auto rebuilt = make_instance(p);
  ASSERT_TRUE(rebuilt);
  EXPECT_OUT(rebuilt->call("run", ""), "started=0");
  EXPECT_TRUE(rebuilt->reusable());
}

TEST(HostGlobals, VersionsAreDistinctPlugins) {
  auto ia = make_instance(load_plugin("version_a"));
  auto ib = make_instance(load_plugin("version_b"));
  ASSERT_TRUE(ia && ib);
  EXPECT_OUT(ia->call("whoami", ""), "{\"version\":\"a\"}");
  EXPECT_OUT(ib->call("whoami", ""), "{\"version\":\"b\"}");
  EXPECT_OUT(ia->call("rollDice", "{\"numFaces\":6}"), "A");
  EXPECT_OUT(ib->call("rollDice", ""), "B");
}
