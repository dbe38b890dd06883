// Start-up without a worker per plugin: a module a sandbox worker described once is known to the
// native tier's cache, so loading plugins.yml again (a restart) publishes it without starting a
// worker; the first call starts one. Admin publishes always start one (a module that cannot start
// is refused at once).
#include <gtest/gtest.h>

#include "paths.hpp"
#include "registry/native_tier.hpp"
#include "registry_helpers.hpp"
#include "sandbox/sandbox.hpp"
#include "temp_dir.hpp"

using namespace wasimancer;
using namespace wasimancer::registry;

TEST(Deferred, AKnownModuleStartsItsWorkerAtTheFirstCall) {
  test::TempDir cache;
  NativeTierConfig nc;
  nc.enabled = false;
  nc.quick.cache_dir = cache.path();
  nc.optimised.cache_dir = cache.path();
  NativeTier native(nc);
  test::Sandboxed isolated;
  sandbox::Sandbox& sb = isolated.sandbox;
  LoadOptions& o = isolated.options;
  o.native = &native;
  o.defer_workers = true;
  const char* spec = R"({"name": "e", "functions": [{"function": "upper"}]})";

  // Never seen: described by a worker (started now), and remembered.
  auto first = test::load_version("echo", spec, o);
  EXPECT_EQ(sb.workers_started(), 1u);
  ASSERT_TRUE(native.known_module(first->plugin->info().sha256).has_value());

  // Seen: no worker until the first call.
  auto again = test::load_version("echo", spec, o);
  EXPECT_EQ(sb.workers_started(), 1u);
  EXPECT_EQ(again->plugin->plugin_functions(), first->plugin->plugin_functions());
  EXPECT_EQ(test::call_ok(*again, "upper", "abc"), "ABC");
  EXPECT_EQ(sb.workers_started(), 2u);

  // An admin publish (defer_workers off) starts its worker at once.
  o.defer_workers = false;
  auto published = test::load_version("echo", spec, o);
  EXPECT_EQ(sb.workers_started(), 3u);

  // A wrong function is still refused without a worker.
  o.defer_workers = true;
  auto bad = test::try_load_version("echo", R"({"name": "e", "functions": [{"function": "nope"}]})", o);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(sb.workers_started(), 3u);
}
