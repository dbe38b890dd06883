// registry/native_tier: background builds move a version's pool to native code, calls keep
// giving the same answers, a broken compiler leaves the version on the interpreter with the
// reason, and a disabled tier says so. Builds use -O0/-O1 to stay quick. Every test has a fresh
// cache of its own (about 0.5 s of compiling): with a cache shared across runs, schedule() would
// find the code already built and the background builds would never run.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "registry/native_tier.hpp"
#include "registry/plugin_version.hpp"
#include "registry_helpers.hpp"
#include "temp_dir.hpp"

using namespace wasimancer;
using namespace wasimancer::registry;
using test::call_ok;
using test::load_version;
using test::TempDir;
namespace fs = std::filesystem;

namespace {

NativeTierConfig quick_config(const fs::path& cache) {
  NativeTierConfig c;
  c.quick.cache_dir = cache;
  c.quick.opt_level = "-O0";
  c.optimised.cache_dir = cache;
  c.optimised.opt_level = "-O1";
  c.quick.timeout = c.optimised.timeout = std::chrono::seconds(120);
  return c;
}

std::string instance_tier(const PluginVersion& v) {
  auto lease = v.pool.acquire();
  if (!lease) return "error: " + lease.error().message;
  return std::string((*lease)->tier_name());
}

}  // namespace

TEST(NativeTierRegistry, ScheduleMovesPoolToNative) {
  TempDir tmp;
  NativeTier tier(quick_config(tmp.path()));
  auto v = load_version("echo", R"({"name": "echo", "functions": [{"function": "echo"}, {"function": "upper"}]})");
  EXPECT_EQ(v->pool.tier(), "interpreter");
  EXPECT_EQ(call_ok(*v, "upper", "before"), "BEFORE");

  tier.schedule(v);
  tier.wait_idle();
  std::string t(v->pool.tier());
  EXPECT_NE(t.find("native"), std::string::npos) << t << " / status: " << v->native_status();
  EXPECT_NE(t.find("-O1"), std::string::npos) << t;  // ends on the "optimised" build
  EXPECT_EQ(v->native_status(), t);
  EXPECT_NE(instance_tier(*v).find("native"), std::string::npos) << instance_tier(*v);

  // Same answers on the native tier.
  EXPECT_EQ(call_ok(*v, "echo", "hello native"), "hello native");
  EXPECT_EQ(call_ok(*v, "upper", "hello_World!"), "HELLO_WORLD!");
  std::string big(100000, 'q');
  EXPECT_EQ(call_ok(*v, "echo", big), big);

  // A second version of the same module now starts on the cached optimised code at once.
  auto v2 = load_version("echo", R"({"name": "echo2", "functions": [{"function": "echo"}]})", {.native = &tier});
  EXPECT_NE(v2->pool.tier().find("native"), std::string::npos) << v2->pool.tier();
  EXPECT_NE(instance_tier(*v2).find("native"), std::string::npos);
  EXPECT_EQ(call_ok(*v2, "echo", "cached"), "cached");
  // Scheduling it again changes nothing.
  std::string before(v2->pool.tier());
  tier.schedule(v2);
  tier.wait_idle();
  EXPECT_EQ(v2->pool.tier(), before);
}

TEST(NativeTierRegistry, QuickOnlyWhenLevelsAreEqual) {
  TempDir tmp;
  NativeTierConfig c = quick_config(tmp.path());
  c.optimised.opt_level = "-O0";
  NativeTier tier(c);
  auto v = load_version("version_a", R"({"name": "a", "functions": [{"function": "whoami"}, {"function": "rollDice"}]})");
  tier.schedule(v);
  tier.wait_idle();
  EXPECT_NE(v->pool.tier().find("native"), std::string::npos) << v->native_status();
  EXPECT_NE(v->pool.tier().find("-O0"), std::string::npos) << v->pool.tier();
  EXPECT_EQ(call_ok(*v, "whoami"), R"({"version":"a"})");
  EXPECT_EQ(call_ok(*v, "rollDice"), "A");
}

TEST(NativeTierRegistry, BrokenCompilerStaysOnInterpreterWithReason) {
  TempDir tmp;
  NativeTierConfig c = quick_config(tmp.path());
  c.quick.compiler = c.optimised.compiler = "/nonexistent/cc";
  NativeTier tier(c);
  auto v = load_version("echo", R"({"name": "echo", "functions": [{"function": "echo"}]})", {.native = &tier});
  EXPECT_EQ(v->pool.tier(), "interpreter");
  tier.schedule(v);
  tier.wait_idle();
  EXPECT_EQ(v->pool.tier(), "interpreter");
  std::string status = v->native_status();
  EXPECT_NE(status.find("interpreter"), std::string::npos) << status;
  EXPECT_NE(status.find("failed"), std::string::npos) << status;
  EXPECT_NE(status.find("/nonexistent/cc"), std::string::npos) << status;
  EXPECT_EQ(instance_tier(*v).find("native"), std::string::npos) << instance_tier(*v);
  EXPECT_EQ(call_ok(*v, "echo", "still works"), "still works");
}

TEST(NativeTierRegistry, DisabledTierSaysSo) {
  TempDir tmp;
  NativeTierConfig c = quick_config(tmp.path());
  c.enabled = false;
  NativeTier tier(c);
  auto v = load_version("echo", R"({"name": "echo", "functions": [{"function": "echo"}]})", {.native = &tier});
  tier.schedule(v);
  tier.wait_idle();
  EXPECT_EQ(v->pool.tier(), "interpreter");
  EXPECT_NE(v->native_status().find("disabled"), std::string::npos) << v->native_status();
  EXPECT_EQ(call_ok(*v, "echo", "x"), "x");
  EXPECT_TRUE(fs::is_empty(tmp.path()));  // nothing was built
}
