// registry: PluginManager::rollback (the dashboard's "roll back", POST /rollback-plugin/:name):
// the version an update replaced comes back, files and plugins.yml as an update leaves them.
#include <gtest/gtest.h>

#include <filesystem>
#include <atomic>
#include <set>
#include <thread>

#include <boost/json.hpp>

#include "paths.hpp"
#include "registry/plugin_manager.hpp"
#include "registry/yaml_json.hpp"
#include "registry_helpers.hpp"
#include "temp_dir.hpp"

using namespace wasimancer;
using namespace wasimancer::registry;
using test::call_ok;
using test::slurp;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

struct Fixture {
  test::TempDir tmp;
  Registry registry;
  PluginPaths paths;
  std::unique_ptr<PluginManager> manager;
  Fixture() {
    paths.plugins_dir = tmp.path() / "plugins";
    paths.upload_dir = paths.plugins_dir;
    fs::create_directories(paths.plugins_dir);
    manager = std::make_unique<PluginManager>(registry, paths, LoadOptions{});
  }
  json::value doc() const { return *parse_yaml(slurp(paths.definition_path())); }
  std::set<std::string> files() const {
    std::set<std::string> out;
    // (the manifest of the files the server wrote is there too: not a plugin's file)
    for (const auto& e : fs::directory_iterator(paths.plugins_dir)) {
      if (e.path() != paths.manifest_path()) out.insert(e.path().filename().string());
    }
    return out;
  }
};

UploadRequest upload(const std::string& data, const std::string& file_name, const std::string& plugin) {
  UploadRequest r;
  r.plugin_data = data;
  r.file_name = file_name;
  r.wasm = slurp(test::test_plugin(plugin));
  return r;
}

const char* kV1 = R"({"name": "dice", "version": "1.0.0", "description": "first", "functions": [{"function": "rollDice"}]})";
const char* kV2 = R"({"name": "dice", "version": "2.0.0", "description": "second", "functions": [{"function": "rollDice"}]})";

}  // namespace

TEST(Rollback, RestoresThePreviousVersionAndTogglesBack) {
  Fixture f;
  ASSERT_TRUE(f.manager->load(false).ok());
  ASSERT_TRUE(f.manager->publish(upload(kV1, "dice.wasm", "version_a")).ok());
  // Nothing to roll back to before the first update.
  auto none = f.manager->rollback("dice");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().kind, ErrorKind::NotFound);
  EXPECT_FALSE(f.manager->previous("dice"));

  ASSERT_TRUE(f.manager->update(upload(kV2, "dice.wasm", "version_b")).ok());
  EXPECT_EQ(call_ok(*f.registry.snapshot()->find_plugin("dice"), "rollDice"), "B");
  ASSERT_TRUE(f.manager->previous("dice"));
  EXPECT_EQ(f.manager->previous("dice")->at("version"), json::value("1.0.0"));
  // The update deleted the old file, as always: the previous module is kept in memory.
  EXPECT_EQ(f.files().size(), 2u);

  auto back = f.manager->rollback("dice");
  ASSERT_TRUE(back.ok()) << back.error().message;
  auto v = f.registry.snapshot()->find_plugin("dice");
  EXPECT_EQ(v->spec.version, "1.0.0");
  EXPECT_EQ(v->spec.description, "first");
  EXPECT_EQ(call_ok(*v, "rollDice"), "A");
  EXPECT_EQ(f.doc().at_pointer("/plugins/0/version"), json::value("1.0.0"));
  EXPECT_EQ(f.doc().at("plugins").as_array().size(), 1u);
  // plugins.yml references a file with the first version's bytes; no other wasm file is left.
  std::string path = std::string(f.doc().at_pointer("/plugins/0/path").as_string());
  EXPECT_EQ(slurp(f.paths.plugins_dir / path), slurp(test::test_plugin("version_a")));
  EXPECT_EQ(f.files(), (std::set<std::string>{fs::path(path).filename().string(), "plugins.yml"}));

  // Rolling back again returns to 2.0.0 (the version the rollback replaced).
  ASSERT_TRUE(f.manager->rollback("dice").ok());
  EXPECT_EQ(f.registry.snapshot()->find_plugin("dice")->spec.version, "2.0.0");
  EXPECT_EQ(call_ok(*f.registry.snapshot()->find_plugin("dice"), "rollDice"), "B");

  // A restart loads what plugins.yml says (and keeps no previous version).
  Registry again;
  PluginManager m2(again, f.paths, LoadOptions{});
  ASSERT_TRUE(m2.load(false).ok());
  EXPECT_EQ(again.snapshot()->find_plugin("dice")->spec.version, "2.0.0");
  EXPECT_FALSE(m2.rollback("dice").ok());
}

TEST(Rollback, RemoveForgetsThePreviousVersion) {
  Fixture f;
  ASSERT_TRUE(f.manager->load(false).ok());
  ASSERT_TRUE(f.manager->publish(upload(kV1, "dice.wasm", "version_a")).ok());
  ASSERT_TRUE(f.manager->update(upload(kV2, "dice.wasm", "version_b")).ok());
  ASSERT_TRUE(f.manager->remove("dice").ok());
  auto r = f.manager->rollback("dice");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::NotFound);
  // Published again, it has no previous version.
  ASSERT_TRUE(f.manager->publish(upload(kV2, "dice.wasm", "version_b")).ok());
  EXPECT_FALSE(f.manager->previous("dice"));
}

// ---- the instance pool's figures for /metrics (wasimancer_instance_pool_*) ---------------------

TEST(PoolStats, CountsLeasesAndTheWaitsOfACappedPool) {
  auto v = test::load_version("globals", R"({"name": "g", "functions": [{"function": "counter"}]})", {.max_idle_instances = 1});
  v->pool.set_max_instances(1);
  auto s0 = v->pool.stats();
  EXPECT_EQ(s0.leased, 0u);
  EXPECT_EQ(s0.idle, 1u);  // the instance made at load
  auto lease = v->pool.acquire();  // the warm one: no wait
  ASSERT_TRUE(lease.ok());
  auto s1 = v->pool.stats();
  EXPECT_EQ(s1.leased, 1u);
  EXPECT_EQ(s1.idle, 0u);
  EXPECT_EQ(s1.acquires, s0.acquires + 1);
  EXPECT_EQ(s1.waits, s0.waits);
  // A second call finds the cap reached: it waits for the first one's instance.
  std::atomic<bool> got{false};
  std::thread second([&] {
    auto l = v->pool.acquire();
    got = l.ok();
  });
  // acquire() counts itself and checks the cap under one lock: once counted, it is waiting.
  while (v->pool.stats().acquires < s1.acquires + 1) std::this_thread::yield();
  EXPECT_FALSE(got.load());
  { auto back = std::move(*lease); }
  second.join();
  EXPECT_TRUE(got.load());
  auto s2 = v->pool.stats();
  EXPECT_EQ(s2.waits, s1.waits + 1);
  EXPECT_GT(s2.wait_seconds, s1.wait_seconds);
  EXPECT_EQ(s2.leased, 0u);
  EXPECT_EQ(s2.created, s1.created) << "the instance came back: none was made";
}
