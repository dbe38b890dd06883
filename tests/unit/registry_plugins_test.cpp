// registry: Registry (add/replace/remove/check, snapshots, listeners), InstancePool and
// PluginManager (publish/update/remove/load with real files in a temporary directory).
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "core/crypto.hpp"
#include "paths.hpp"
#include "registry/plugin_manager.hpp"
#include "registry/plugin_version.hpp"
#include "registry/registry.hpp"
#include "registry/yaml_json.hpp"
#include "registry_helpers.hpp"
#include "temp_dir.hpp"

using namespace wasimancer;
using namespace wasimancer::registry;
using test::call_ok;
using test::load_version;
using test::slurp;
using test::spit;
using test::TempDir;
using test::try_load_version;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

std::string wasm_bytes(const std::string& name) { return slurp(test::test_plugin(name)); }

// Every file below `dir` (relative path -> content).
std::map<std::string, std::string> tree(const fs::path& dir) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file()) out[fs::relative(it->path(), dir).generic_string()] = slurp(it->path());
  }
  return out;
}

std::vector<std::string> tool_names(const PluginSnapshot& s) {
  std::vector<std::string> out;
  for (const auto& t : s.tools()) out.push_back(t.function->tool_name);
  return out;
}

}  // namespace

// ---- Registry ---------------------------------------------------------------------------------

TEST(Registry, AddFindAndToolOrder) {
  Registry reg;
  auto echo = load_version("echo", R"({"name": "echo", "functions": [{"function": "echo"}, {"function": "upper", "displayName": "shout"}]})");
  auto ver = load_version("version_a", R"({"name": "ver", "functions": [{"function": "whoami"}]})");
  ASSERT_TRUE(reg.add(echo).ok());
  ASSERT_TRUE(reg.add(ver).ok());
  auto snap = reg.snapshot();
  EXPECT_EQ(tool_names(*snap), (std::vector<std::string>{"echo", "shout", "whoami"}));
  const ToolRef* t = snap->find_tool("shout");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->plugin, echo);
  EXPECT_EQ(t->function->function, "upper");
  EXPECT_EQ(call_ok(*t->plugin, t->function->function, "abc"), "ABC");
  EXPECT_EQ(snap->find_plugin("ver"), ver);
  EXPECT_FALSE(snap->find_tool("upper"));
  EXPECT_FALSE(snap->find_plugin("nope"));
  EXPECT_EQ(snap->revision(), 2u);
}

TEST(Registry, RefusesClashesAndUnknownNames) {
  Registry reg;
  ASSERT_TRUE(reg.add(load_version("echo", R"({"name": "echo", "functions": [{"function": "echo"}]})")).ok());
  // The same plugin name.
  auto same = load_version("echo", R"({"name": "echo", "functions": [{"function": "upper"}]})");
  EXPECT_EQ(reg.check_add(same->spec).error().kind, ErrorKind::AlreadyExists);
  EXPECT_EQ(reg.add(same).error().kind, ErrorKind::AlreadyExists);
  // A tool name that another plugin has.
  auto clash = load_version("version_a", R"({"name": "other", "functions": [{"function": "whoami", "displayName": "echo"}]})");
  auto c = reg.check_add(clash->spec);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind, ErrorKind::AlreadyExists);
  EXPECT_NE(c.error().message.find("\"echo\""), std::string::npos) << c.error().message;
  EXPECT_EQ(reg.add(clash).error().kind, ErrorKind::AlreadyExists);
  // Replacing or removing an unknown plugin.
  EXPECT_EQ(reg.check_replace(clash->spec).error().kind, ErrorKind::NotFound);
  EXPECT_EQ(reg.replace(clash).error().kind, ErrorKind::NotFound);
  EXPECT_EQ(reg.remove("other").error().kind, ErrorKind::NotFound);
  // Nothing of that reached the snapshot.
  EXPECT_EQ(reg.snapshot()->plugins().size(), 1u);
  EXPECT_EQ(reg.snapshot()->revision(), 1u);

  // A replacement that takes another plugin's tool name is refused too.
  ASSERT_TRUE(reg.add(load_version("version_a", R"({"name": "ver", "functions": [{"function": "whoami"}]})")).ok());
  auto steal = load_version("version_b", R"({"name": "ver", "functions": [{"function": "whoami", "displayName": "echo"}]})");
  auto r = reg.check_replace(steal->spec);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::AlreadyExists);
  EXPECT_EQ(reg.replace(steal).error().kind, ErrorKind::AlreadyExists);
  // Keeping its own tool names is fine.
  auto own = load_version("version_b", R"({"name": "ver", "functions": [{"function": "whoami"}, {"function": "rollDice"}]})");
  EXPECT_TRUE(reg.check_replace(own->spec).ok());
}

TEST(Registry, ReplaceKeepsPlaceAndOldSnapshotsKeepTheirVersions) {
  Registry reg;
  auto a = load_version("version_a", R"({"name": "dice", "functions": [{"function": "rollDice"}]})");
  auto e = load_version("echo", R"({"name": "echo", "functions": [{"function": "echo"}]})");
  ASSERT_TRUE(reg.add(a).ok());
  ASSERT_TRUE(reg.add(e).ok());
  auto before = reg.snapshot();

  auto b = load_version("version_b", R"({"name": "dice", "functions": [{"function": "rollDice"}, {"function": "whoami"}]})");
  EXPECT_NE(a->serial, b->serial);
  auto replaced = reg.replace(b);
  ASSERT_TRUE(replaced.ok()) << replaced.error().message;
  EXPECT_EQ(*replaced, a);

  auto after = reg.snapshot();
  EXPECT_EQ(after->plugins().front(), b);  // same place
  EXPECT_EQ(tool_names(*after), (std::vector<std::string>{"rollDice", "whoami", "echo"}));
  EXPECT_EQ(call_ok(*after->find_tool("rollDice")->plugin, "rollDice"), "B");

  // The old snapshot is untouched, and its version still works.
  EXPECT_EQ(before->find_plugin("dice"), a);
  EXPECT_EQ(tool_names(*before), (std::vector<std::string>{"rollDice", "echo"}));
  EXPECT_EQ(call_ok(*before->find_tool("rollDice")->plugin, "rollDice"), "A");
  EXPECT_FALSE(before->find_tool("whoami"));
  EXPECT_LT(before->revision(), after->revision());

  auto removed = reg.remove("dice");
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, b);
  EXPECT_EQ(tool_names(*reg.snapshot()), (std::vector<std::string>{"echo"}));
  EXPECT_TRUE(after->find_tool("whoami"));
}

TEST(Registry, ListenersSeeEveryChange) {
  Registry reg;
  std::vector<std::pair<uint64_t, size_t>> seen;  // revision, plugins
  reg.on_change([&](const PluginSnapshot& s) { seen.emplace_back(s.revision(), s.plugins().size()); });
  auto e = load_version("echo", R"({"name": "echo", "functions": [{"function": "echo"}]})");
  ASSERT_TRUE(reg.add(e).ok());
  EXPECT_FALSE(reg.add(e).ok());
  ASSERT_TRUE(reg.replace(load_version("echo", R"({"name": "echo", "functions": [{"function": "upper"}]})")).ok());
  ASSERT_TRUE(reg.remove("echo").ok());
  EXPECT_FALSE(reg.remove("echo").ok());
  EXPECT_EQ(seen, (std::vector<std::pair<uint64_t, size_t>>{{1, 1}, {2, 1}, {3, 0}}));
}

// ---- InstancePool -----------------------------------------------------------------------------

TEST(InstancePool, ConcurrentAcquiresGetDistinctInstances) {
  auto v = load_version("globals", R"({"name": "g", "functions": [{"function": "counter"}]})", {.max_idle_instances = 2});
  constexpr int kThreads = 6;
  std::atomic<int> holding{0};
  std::vector<host::Runner*> seen(kThreads, nullptr);
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      auto lease = v->pool.acquire();
      if (!lease) {
        errors[i] = lease.error().message;
        ++holding;
        return;
      }
      seen[i] = &**lease;
      ++holding;
      while (holding.load() < kThreads) std::this_thread::yield();  // everyone holds one at once
      auto out = (*lease)->call("counter", "");
      if (!out.ok() || out.output != "1") errors[i] = "counter gave " + out.output;  // a fresh instance each
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors) EXPECT_EQ(e, "");
  std::set<host::Runner*> distinct(seen.begin(), seen.end());
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kThreads));
  EXPECT_EQ(distinct.count(nullptr), 0u);
  // At most max_idle stay warm.
  EXPECT_EQ(v->pool.idle(), 2u);
  EXPECT_GE(v->pool.created(), static_cast<size_t>(kThreads));
}

TEST(InstancePool, ReusesIdleInstances) {
  auto v = load_version("globals", R"({"name": "g", "functions": [{"function": "counter"}]})", {.max_idle_instances = 1});
  size_t created = v->pool.created();
  EXPECT_EQ(call_ok(*v, "counter"), "1");
  EXPECT_EQ(call_ok(*v, "counter"), "2");  // the same (warm) instance
  EXPECT_EQ(call_ok(*v, "counter"), "3");
  EXPECT_EQ(v->pool.created(), created);
  EXPECT_EQ(v->pool.idle(), 1u);
}

TEST(InstancePool, NonReusableInstancesAreDropped) {
  auto v = load_version("exported_start", R"({"name": "s", "functions": [{"function": "run"}]})", {.max_idle_instances = 2});
  EXPECT_EQ(v->pool.idle(), 1u);  // the one made at load
  {
    auto lease = v->pool.acquire();
    ASSERT_TRUE(lease.ok());
    EXPECT_EQ(v->pool.idle(), 0u);
    auto out = (*lease)->call("_start", "");
    EXPECT_FALSE((*lease)->reusable());
  }
  EXPECT_EQ(v->pool.idle(), 0u);  // dropped, not returned
  // The next call gets a fresh instance, where _start has not run.
  EXPECT_EQ(call_ok(*v, "run"), "started=0");
  EXPECT_EQ(v->pool.idle(), 1u);
}

TEST(InstancePool, SetFactoryDropsIdleInstancesAndChangesTier) {
  auto v = load_version("globals", R"({"name": "g", "functions": [{"function": "counter"}]})", {.max_idle_instances = 2});
  EXPECT_EQ(v->pool.tier(), "interpreter");
  EXPECT_EQ(call_ok(*v, "counter"), "1");
  auto busy = v->pool.acquire();  // the warm instance, busy across the switch
  ASSERT_TRUE(busy.ok());
  EXPECT_EQ((*busy)->call("counter", "").output, "2");
  auto extra = v->pool.acquire();
  ASSERT_TRUE(extra.ok());
  { auto drop = std::move(*extra); }  // back to idle
  EXPECT_EQ(v->pool.idle(), 1u);

  std::atomic<int> made{0};
  auto plugin = v->plugin;
  v->pool.set_factory(
      [&made, plugin]() -> Result<std::unique_ptr<host::Runner>> {
        ++made;
        auto r = host::PluginInstance::create(plugin);
        if (!r) return r.take_error();
        return std::unique_ptr<host::Runner>(std::move(*r));
      },
      "custom tier");
  EXPECT_EQ(v->pool.tier(), "custom tier");
  EXPECT_EQ(v->pool.idle(), 0u);
  // The busy instance still works for its call, and is not kept afterwards.
  EXPECT_EQ((*busy)->call("counter", "").output, "3");
  { auto done = std::move(*busy); }
  EXPECT_EQ(v->pool.idle(), 0u);
  // New calls are made by the new factory.
  EXPECT_EQ(call_ok(*v, "counter"), "1");
  EXPECT_EQ(made.load(), 1);
  EXPECT_EQ(call_ok(*v, "counter"), "2");
  EXPECT_EQ(made.load(), 1);

  // A failing factory fails the call, cleanly.
  v->pool.set_factory([]() -> Result<std::unique_ptr<host::Runner>> { return Error(ErrorKind::Internal, "no way"); },
                      "broken");
  auto out = v->call("counter", "", {});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.error->message.find("no way"), std::string::npos);
}

TEST(PluginVersion, LoadRefusesMissingExportsAndNamesThem) {
  auto v = try_load_version("echo", R"({"name": "e", "functions": [{"function": "echo"}, {"function": "nope"}]})");
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.error().message.find("nope"), std::string::npos) << v.error().message;
  EXPECT_NE(v.error().message.find("upper"), std::string::npos) << v.error().message;  // lists the exports
}

TEST(PluginVersion, ConfigMergesPluginOverGlobal) {
  LoadOptions opts;
  opts.global_config = {{"WASM_VERSION", "global"}, {"WASM_OTHER", "g2"}};
  auto v = load_version("config_vars", R"({"name": "c", "functions": [{"function": "config"}], "config": {"WASM_VERSION": "mine"}})",
                        opts);
  EXPECT_EQ(call_ok(*v, "config", "WASM_VERSION"), "mine");
  EXPECT_EQ(call_ok(*v, "config", "WASM_OTHER"), "g2");
}

// ---- PluginManager ----------------------------------------------------------------------------

namespace {

struct ManagerFixture {
  TempDir tmp;
  Registry registry;
  PluginPaths paths;
  std::unique_ptr<PluginManager> manager;

  explicit ManagerFixture(bool separate_upload_dir = false) {
    paths.plugins_dir = tmp.path() / "plugins";
    paths.upload_dir = separate_upload_dir ? tmp.path() / "uploads" : paths.plugins_dir;
    fs::create_directories(paths.plugins_dir);
    manager = std::make_unique<PluginManager>(registry, paths, LoadOptions{});
  }
  fs::path yml() const { return paths.definition_path(); }
  json::value doc() const {
    auto d = parse_yaml(slurp(yml()));
    if (!d) throw std::runtime_error(d.error().message);
    return *d;
  }
};

UploadRequest upload(const std::string& data, const std::string& file_name, const std::string& plugin,
                     std::optional<std::string> dir = std::nullopt) {
  UploadRequest r;
  r.plugin_data = data;
  r.file_name = file_name;
  r.wasm = wasm_bytes(plugin);
  r.dir = std::move(dir);
  return r;
}

const char* kEcho = R"({"name": "echo", "version": "1.0.0", "functions": [{"function": "echo"}]})";
const char* kDice = R"({"name": "dice", "version": "1.0.0", "functions": [{"function": "rollDice"}]})";

}  // namespace

TEST(PluginManager, PublishStoresFileAndRecordsRelativePath) {
  ManagerFixture f;
  ASSERT_TRUE(f.manager->load(false).ok());
  auto r = f.manager->publish(upload(kEcho, "echo.wasm", "echo"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  fs::path stored = f.paths.plugins_dir / "echo.wasm";
  EXPECT_EQ(fs::path(r->file_path), stored);
  EXPECT_EQ(slurp(stored), wasm_bytes("echo"));
  EXPECT_FALSE(r->note.has_value());
  EXPECT_EQ(r->metadata.at("path"), json::value("./echo.wasm"));
  json::value doc = f.doc();
  ASSERT_EQ(doc.at("plugins").as_array().size(), 1u);
  EXPECT_EQ(doc.at_pointer("/plugins/0/path"), json::value("./echo.wasm"));
  EXPECT_EQ(doc.at_pointer("/plugins/0/version"), json::value("1.0.0"));  // stays a string
  auto v = f.registry.snapshot()->find_plugin("echo");
  ASSERT_TRUE(v);
  EXPECT_EQ(v, r->version);
  EXPECT_EQ(call_ok(*v, "echo", "hi"), "hi");
  EXPECT_EQ(v->sha256, sha256_hex(wasm_bytes("echo")));

  // Reloading plugins.yml in a new manager finds the same plugin.
  Registry again;
  PluginManager m2(again, f.paths, LoadOptions{});
  auto problems = m2.load(false);
  ASSERT_TRUE(problems.ok()) << problems.error().message;
  EXPECT_TRUE(problems->empty());
  ASSERT_TRUE(again.snapshot()->find_tool("echo"));
  EXPECT_EQ(again.snapshot()->find_plugin("echo")->sha256, v->sha256);
}

TEST(PluginManager, PathInPluginDataIsReplacedWithANote) {
  ManagerFixture f;
  ASSERT_TRUE(f.manager->load(false).ok());
  auto r = f.manager->publish(
      upload(R"({"name": "echo", "path": "./somewhere/else.wasm", "functions": [{"function": "echo"}]})", "echo.wasm", "echo"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->note.has_value());
  EXPECT_NE(r->note->find("./somewhere/else.wasm"), std::string::npos) << *r->note;
  EXPECT_NE(r->note->find("./echo.wasm"), std::string::npos) << *r->note;
  EXPECT_EQ(f.doc().at_pointer("/plugins/0/path"), json::value("./echo.wasm"));
  EXPECT_FALSE(fs::exists(f.paths.plugins_dir / "somewhere"));

  // The same path as where it goes: no note.
  auto r2 = f.manager->publish(
      upload(R"({"name": "dice", "path": "./version_a.wasm", "functions": [{"function": "rollDice"}]})", "version_a.wasm", "version_a"));
  ASSERT_TRUE(r2.ok()) << r2.error().message;
  EXPECT_FALSE(r2->note.has_value()) << *r2->note;
}

TEST(PluginManager, DirAndSeparateUploadDir) {
  ManagerFixture f(true);
  ASSERT_TRUE(f.manager->load(false).ok());
  auto r = f.manager->publish(upload(kEcho, "echo.wasm", "echo"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(fs::exists(f.tmp.path() / "uploads" / "echo.wasm"));
  EXPECT_EQ(f.doc().at_pointer("/plugins/0/path"), json::value("../uploads/echo.wasm"));

  std::string sub = (f.paths.plugins_dir / "sub" / "dir").string();
  auto r2 = f.manager->publish(upload(kDice, "dice.wasm", "version_a", sub));
  ASSERT_TRUE(r2.ok()) << r2.error().message;
  EXPECT_TRUE(fs::exists(f.paths.plugins_dir / "sub" / "dir" / "dice.wasm"));
  EXPECT_EQ(f.doc().at_pointer("/plugins/1/path"), json::value("./sub/dir/dice.wasm"));

  // Both load again from plugins.yml.
  Registry again;
  PluginManager m2(again, f.paths, LoadOptions{});
  ASSERT_TRUE(m2.load(false).ok());
  EXPECT_EQ(call_ok(*again.snapshot()->find_plugin("dice"), "rollDice"), "A");
  EXPECT_EQ(call_ok(*again.snapshot()->find_plugin("echo"), "echo", "x"), "x");
}

TEST(PluginManager, UpdateWritesHashNamedFileAndDeletesOld) {
  ManagerFixture f;
  ASSERT_TRUE(f.manager->load(false).ok());
  ASSERT_TRUE(f.manager->publish(upload(kDice, "dice.wasm", "version_a")).ok());
  auto old_version = f.registry.snapshot()->find_plugin("dice");
  ASSERT_TRUE(old_version);

  auto r = f.manager->update(upload(R"({"name": "dice", "version": "2.0.0", "functions": [{"function": "rollDice"}]})",
                                    "dice.wasm", "version_b"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  std::string sha = sha256_hex(wasm_bytes("version_b"));
  std::string expected_name = "dice-" + sha.substr(0, 12) + ".wasm";
  EXPECT_EQ(fs::path(r->file_path).filename().string(), expected_name);
  EXPECT_TRUE(fs::exists(f.paths.plugins_dir / expected_name));
  EXPECT_FALSE(fs::exists(f.paths.plugins_dir / "dice.wasm"));  // the old file is gone
  EXPECT_EQ(f.doc().at_pointer("/plugins/0/path"), json::value("./" + expected_name));
  EXPECT_EQ(f.doc().at_pointer("/plugins/0/version"), json::value("2.0.0"));
  EXPECT_EQ(f.doc().at("plugins").as_array().size(), 1u);
  EXPECT_EQ(call_ok(*f.registry.snapshot()->find_plugin("dice"), "rollDice"), "B");
  // A call holding the old version still runs it.
  EXPECT_EQ(call_ok(*old_version, "rollDice"), "A");

  // A second update: the original name is free again, so it is used, and the hash-named one goes.
  auto r2 = f.manager->update(upload(kDice, "dice.wasm", "version_a"));
  ASSERT_TRUE(r2.ok()) << r2.error().message;
  EXPECT_EQ(fs::path(r2->file_path).filename().string(), "dice.wasm");
  EXPECT_FALSE(fs::exists(f.paths.plugins_dir / expected_name));
  std::set<std::string> files;
  for (auto& [name, content] : tree(f.paths.plugins_dir)) files.insert(name);
  // (and the manifest of the files the server wrote: dice.wasm only, now)
  EXPECT_EQ(files, (std::set<std::string>{".plugins.yml.files", "dice.wasm", "plugins.yml"}));
  auto manifest = json::parse(slurp(f.paths.manifest_path()));
  ASSERT_EQ(manifest.at("files").as_array().size(), 1u);
  EXPECT_EQ(manifest.at_pointer("/files/0/path"), json::value("dice.wasm"));
}

TEST(PluginManager, RefusedUploadsChangeNothing) {
  ManagerFixture f;
  spit(f.yml(), "# hand written\nowner: me\nplugins: []\n");
  ASSERT_TRUE(f.manager->load(false).ok());
  ASSERT_TRUE(f.manager->publish(upload(kEcho, "echo.wasm", "echo")).ok());
  ASSERT_TRUE(f.manager->publish(upload(kDice, "dice.wasm", "version_a")).ok());
  auto before = tree(f.tmp.path());
  auto snap = f.registry.snapshot();

  struct Case {
    std::string what;
    UploadRequest req;
    bool update;
    ErrorKind kind;
  };
  std::vector<Case> cases;
  cases.push_back({"duplicate plugin name", upload(kEcho, "echo2.wasm", "echo"), false, ErrorKind::AlreadyExists});
  cases.push_back({"tool name of another plugin",
                   upload(R"({"name": "e2", "functions": [{"function": "upper", "displayName": "echo"}]})", "e2.wasm", "echo"),
                   false, ErrorKind::AlreadyExists});
  cases.push_back({"update of an unknown plugin", upload(R"({"name": "ghost", "functions": [{"function": "echo"}]})", "g.wasm", "echo"),
                   true, ErrorKind::NotFound});
  cases.push_back({"update taking another's tool name",
                   upload(R"({"name": "dice", "functions": [{"function": "rollDice", "displayName": "echo"}]})", "dice.wasm",
                          "version_b"),
                   true, ErrorKind::AlreadyExists});
  cases.push_back({"missing export", upload(R"({"name": "n", "functions": [{"function": "nope"}]})", "n.wasm", "echo"), false,
                   ErrorKind::InvalidModule});
  UploadRequest garbage = upload(R"({"name": "g", "functions": [{"function": "f"}]})", "g.wasm", "echo");
  garbage.wasm = "this is not wasm";
  cases.push_back({"not wasm", garbage, false, ErrorKind::InvalidModule});
  cases.push_back({"start section traps", upload(R"({"name": "st", "functions": [{"function": "run"}]})", "st.wasm", "start_trap"),
                   false, ErrorKind::InvalidModule});
  UploadRequest empty = upload(R"({"name": "em", "functions": [{"function": "f"}]})", "em.wasm", "echo");
  empty.wasm.clear();
  cases.push_back({"empty file", empty, false, ErrorKind::InvalidArgument});
  cases.push_back({"bad JSON", upload("{not json", "x.wasm", "echo"), false, ErrorKind::InvalidArgument});
  // No functions, and the module does not describe itself: refused when it is loaded.
  cases.push_back({"bad spec", upload(R"({"name": "x"})", "x.wasm", "echo"), false, ErrorKind::InvalidModule});
  cases.push_back({"path in file name", upload(R"({"name": "x", "functions": [{"function": "echo"}]})", "../x.wasm", "echo"), false,
                   ErrorKind::InvalidArgument});
  cases.push_back({"not .wasm", upload(R"({"name": "x", "functions": [{"function": "echo"}]})", "x.txt", "echo"), false,
                   ErrorKind::InvalidArgument});
  cases.push_back({"dir outside",
                   upload(R"({"name": "x", "functions": [{"function": "echo"}]})", "x.wasm", "echo", f.tmp.path().string()), false,
                   ErrorKind::InvalidArgument});
  cases.push_back({"dir escaping with ..",
                   upload(R"({"name": "x", "functions": [{"function": "echo"}]})", "x.wasm", "echo",
                          (f.paths.plugins_dir / ".." / "evil").string()),
                   false, ErrorKind::InvalidArgument});
  cases.push_back({"dir is a file",
                   upload(R"({"name": "x", "functions": [{"function": "echo"}]})", "x.wasm", "echo",
                          (f.paths.plugins_dir / "echo.wasm").string()),
                   false, ErrorKind::InvalidArgument});

  for (auto& c : cases) {
    SCOPED_TRACE(c.what);
    auto r = c.update ? f.manager->update(c.req) : f.manager->publish(c.req);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, c.kind) << r.error().message;
    EXPECT_EQ(tree(f.tmp.path()), before);
    EXPECT_EQ(f.registry.snapshot(), snap);
  }
  EXPECT_EQ(f.doc().at("owner"), json::value("me"));  // kept by the earlier rewrites
}

TEST(PluginManager, NeverOverwritesOrDeletesAFileAnotherEntryUses) {
  ManagerFixture f;
  fs::copy_file(test::test_plugin("echo"), f.paths.plugins_dir / "echo.wasm");
  spit(f.yml(), R"(plugins:
  - name: one
    path: ./echo.wasm
    functions:
      - function: echo
  - name: two
    path: ./echo.wasm
    functions:
      - function: upper
)");
  ASSERT_TRUE(f.manager->load(false).ok());
  std::string echo_bytes = slurp(f.paths.plugins_dir / "echo.wasm");

  // A new plugin uploaded under a name the YAML already references gets a name of its own.
  auto p = f.manager->publish(upload(kDice, "echo.wasm", "version_a"));
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_NE(fs::path(p->file_path).filename().string(), "echo.wasm");
  EXPECT_EQ(slurp(f.paths.plugins_dir / "echo.wasm"), echo_bytes);
  EXPECT_EQ(slurp(p->file_path), wasm_bytes("version_a"));

  // Updating "one" moves it to a new file; "two" still uses echo.wasm, so it stays.
  auto u = f.manager->update(upload(R"({"name": "one", "functions": [{"function": "echo"}]})", "echo.wasm", "echo"));
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_TRUE(fs::exists(f.paths.plugins_dir / "echo.wasm"));
  // Removing "one" deletes its own file only.
  ASSERT_TRUE(f.manager->remove("one").ok());
  EXPECT_FALSE(fs::exists(u->file_path));
  EXPECT_TRUE(fs::exists(f.paths.plugins_dir / "echo.wasm"));

  // What is on disk still loads.
  Registry again;
  PluginManager m2(again, f.paths, LoadOptions{});
  auto r = m2.load(false);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(tool_names(*again.snapshot()), (std::vector<std::string>{"upper", "rollDice"}));
  EXPECT_EQ(call_ok(*again.snapshot()->find_plugin("dice"), "rollDice"), "A");
}

TEST(PluginManager, RemoveDeletesEntryAndFile) {
  ManagerFixture f;
  ASSERT_TRUE(f.manager->load(false).ok());
  ASSERT_TRUE(f.manager->publish(upload(kEcho, "echo.wasm", "echo")).ok());
  ASSERT_TRUE(f.manager->publish(upload(kDice, "dice.wasm", "version_a")).ok());
  auto r = f.manager->remove("echo");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)->spec.name, "echo");
  EXPECT_FALSE(fs::exists(f.paths.plugins_dir / "echo.wasm"));
  EXPECT_TRUE(fs::exists(f.paths.plugins_dir / "dice.wasm"));
  EXPECT_FALSE(f.registry.snapshot()->find_plugin("echo"));
  json::value doc = f.doc();
  ASSERT_EQ(doc.at("plugins").as_array().size(), 1u);
  EXPECT_EQ(doc.at_pointer("/plugins/0/name"), json::value("dice"));
  auto again = f.manager->remove("echo");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind, ErrorKind::NotFound);
}

TEST(PluginManager, LoadMissingFileMeansNoPlugins) {
  ManagerFixture f;
  auto r = f.manager->load(false);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->empty());
  EXPECT_TRUE(f.registry.snapshot()->plugins().empty());
  EXPECT_FALSE(fs::exists(f.yml()));
}

TEST(PluginManager, LoadWithBrokenEntries) {
  ManagerFixture f;
  fs::copy_file(test::test_plugin("echo"), f.paths.plugins_dir / "echo.wasm");
  fs::create_directories(f.paths.plugins_dir / "dice");
  fs::copy_file(test::test_plugin("version_a"), f.paths.plugins_dir / "dice" / "a.wasm");
  spit(f.yml(), R"(team: wasm
plugins:
  - name: echo
    path: ./echo.wasm
    functions:
      - function: echo
  - name: no functions
    path: ./echo.wasm
  - name: missing file
    path: ./not-there.wasm
    functions:
      - function: echo
  - name: dice
    path: /dice/a.wasm
    version: 1.0.0
    functions:
      - displayName: roll dice
        function: rollDice
  - name: echo
    path: ./echo.wasm
    functions:
      - function: upper
  - name: bad export
    path: ./echo.wasm
    functions:
      - function: does_not_exist
)");
  // Without skip_broken: the first problem fails the load; nothing is published.
  auto strict = f.manager->load(false);
  ASSERT_FALSE(strict.ok());
  EXPECT_EQ(strict.error().kind, ErrorKind::InvalidArgument);
  const std::string& msg = strict.error().message;
  EXPECT_NE(msg.find("plugins.yml"), std::string::npos) << msg;
  // The entries are read first (a missing file), then loaded (no functions): the first problem.
  EXPECT_NE(msg.find("entry 3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not-there.wasm"), std::string::npos) << msg;
  EXPECT_TRUE(f.registry.snapshot()->plugins().empty());

  // With skip_broken: each problem reported with file, entry and reason; the good ones load.
  Registry reg2;
  PluginManager m2(reg2, f.paths, LoadOptions{});
  auto lenient = m2.load(true);
  ASSERT_TRUE(lenient.ok()) << lenient.error().message;
  ASSERT_EQ(lenient->size(), 4u);
  auto has = [&](std::string_view where, std::string_view reason) {
    for (const auto& p : *lenient) {
      if (p.where.find(where) == std::string::npos) continue;
      EXPECT_NE(p.where.find("plugins.yml"), std::string::npos) << p.where;
      EXPECT_NE(p.reason.find(reason), std::string::npos) << p.reason;
      return;
    }
    ADD_FAILURE() << "no problem reported for " << where;
  };
  has("entry 2 (\"no functions\")", "declares no functions and does not describe itself");
  has("entry 3 (\"missing file\")", "not-there.wasm");
  has("entry 5 (\"echo\")", "defined twice");
  has("entry 6 (\"bad export\")", "does_not_exist");
  auto snap = reg2.snapshot();
  EXPECT_EQ(tool_names(*snap), (std::vector<std::string>{"echo", "roll dice"}));
  EXPECT_EQ(call_ok(*snap->find_tool("roll dice")->plugin, "rollDice"), "A");

  // A later publish rewrites plugins.yml but keeps every entry and unknown key.
  auto r = m2.publish(upload(R"({"name": "more", "functions": [{"function": "whoami"}]})", "more.wasm", "version_b"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  json::value doc = f.doc();
  EXPECT_EQ(doc.at("team"), json::value("wasm"));
  EXPECT_EQ(doc.at("plugins").as_array().size(), 7u);
  EXPECT_EQ(doc.at_pointer("/plugins/3/version"), json::value("1.0.0"));
}

TEST(PluginManager, LoadRejectsMalformedDocuments) {
  ManagerFixture f;
  spit(f.yml(), "plugins:\n  - name: x\n   bad indent: [\n");
  auto r = f.manager->load(true);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("plugins.yml"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("line"), std::string::npos) << r.error().message;

  spit(f.yml(), "plugins: {name: x}\n");
  auto r2 = f.manager->load(true);
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.error().message.find("\"plugins\" must be a list"), std::string::npos) << r2.error().message;

  spit(f.yml(), "- just\n- a list\n");
  auto r3 = f.manager->load(true);
  ASSERT_FALSE(r3.ok());
  EXPECT_NE(r3.error().message.find("map"), std::string::npos) << r3.error().message;
}

TEST(PluginManager, PlainWasmFileNames) {
  for (const char* ok : {"echo.wasm", "a.wasm", "roll-dice_v1.2.wasm", "A1.wasm"}) EXPECT_TRUE(is_plain_wasm_file_name(ok)) << ok;
  EXPECT_TRUE(is_plain_wasm_file_name(std::string(123, 'x') + ".wasm"));   // 128
  EXPECT_FALSE(is_plain_wasm_file_name(std::string(124, 'x') + ".wasm"));  // 129
  for (const char* bad : {"", ".wasm", ".hidden.wasm", "-x.wasm", "x.WASM", "x.wasm.txt", "x", "wasm", "a b.wasm", "a/b.wasm",
                          "..\\x.wasm", "a..b.wasm", "ü.wasm", "x.wasm\n", "a\\b.wasm"}) {
    EXPECT_FALSE(is_plain_wasm_file_name(bad)) << bad;
  }
}

// ---- Files: links, files the server did not write, orphans --------------------------------------

namespace {

std::set<std::string> names_in(const fs::path& dir) {
  std::set<std::string> out;
  for (auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

}  // namespace

// An upload over a planted link is not written through it, and removing the plugin does not
// delete what the link points to (nor the link).
TEST(PluginManager, PlantedSymlinksAreNeverWrittenOrDeletedThrough) {
  ManagerFixture f;
  fs::create_directories(f.tmp.path() / "outside");
  fs::path victim = f.tmp.path() / "outside" / "victim.wasm";
  spit(victim, "precious");
  fs::create_symlink(victim, f.paths.plugins_dir / "echo.wasm");
  fs::create_symlink(f.tmp.path() / "outside" / "absent.wasm", f.paths.plugins_dir / "dangling.wasm");
  ASSERT_TRUE(f.manager->load(false).ok());

  auto r = f.manager->publish(upload(kEcho, "echo.wasm", "echo"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_NE(fs::path(r->file_path).filename().string(), "echo.wasm");  // a name of its own
  EXPECT_EQ(slurp(r->file_path), wasm_bytes("echo"));
  EXPECT_TRUE(fs::is_symlink(f.paths.plugins_dir / "echo.wasm"));
  EXPECT_EQ(slurp(victim), "precious");
  EXPECT_EQ(f.doc().at_pointer("/plugins/0/path"), json::value("./" + fs::path(r->file_path).filename().string()));

  auto d = f.manager->publish(upload(kDice, "dangling.wasm", "version_a"));
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_NE(fs::path(d->file_path).filename().string(), "dangling.wasm");
  EXPECT_FALSE(fs::exists(f.tmp.path() / "outside" / "absent.wasm"));  // not created through the link

  ASSERT_TRUE(f.manager->remove("echo").ok());
  ASSERT_TRUE(f.manager->remove("dice").ok());
  EXPECT_EQ(slurp(victim), "precious");
  EXPECT_TRUE(fs::is_symlink(f.paths.plugins_dir / "echo.wasm"));
  EXPECT_TRUE(fs::is_symlink(f.paths.plugins_dir / "dangling.wasm"));
  EXPECT_EQ(names_in(f.paths.plugins_dir), (std::set<std::string>{".plugins.yml.files", "dangling.wasm", "echo.wasm", "plugins.yml"}));
  EXPECT_EQ(names_in(f.tmp.path() / "outside"), (std::set<std::string>{"victim.wasm"}));
}

// plugins.yml (hand-written) may reference files anywhere, through links too: they load, and
// removing or updating the plugin never deletes anything outside PLUGINS_PATH / UPLOAD_PATH
// or through a link.
TEST(PluginManager, RemoveAndUpdateNeverDeleteOutsideTheFoldersOrThroughLinks) {
  ManagerFixture f;
  fs::create_directories(f.tmp.path() / "outside");
  fs::path outside_file = f.tmp.path() / "outside" / "echo.wasm";
  fs::copy_file(test::test_plugin("echo"), outside_file);
  fs::copy_file(test::test_plugin("version_a"), f.tmp.path() / "outside" / "a.wasm");
  fs::create_symlink(f.tmp.path() / "outside" / "a.wasm", f.paths.plugins_dir / "linked.wasm");
  fs::create_symlink(f.tmp.path() / "outside", f.paths.plugins_dir / "linkdir");
  fs::copy_file(test::test_plugin("version_b"), f.tmp.path() / "outside" / "b.wasm");
  spit(f.yml(), R"(plugins:
  - name: far
    path: ../outside/echo.wasm
    functions:
      - function: echo
  - name: linked
    path: ./linked.wasm
    functions:
      - function: rollDice
  - name: viadir
    path: ./linkdir/b.wasm
    functions:
      - function: whoami
)");
  auto loaded = f.manager->load(false);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  ASSERT_TRUE(f.manager->remove("far").ok());
  ASSERT_TRUE(f.manager->remove("linked").ok());
  auto u = f.manager->update(upload(R"({"name": "viadir", "functions": [{"function": "whoami"}]})", "b.wasm", "version_b"));
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_TRUE(fs::exists(outside_file));
  EXPECT_TRUE(fs::is_symlink(f.paths.plugins_dir / "linked.wasm"));
  EXPECT_TRUE(fs::exists(f.tmp.path() / "outside" / "a.wasm"));
  EXPECT_TRUE(fs::exists(f.tmp.path() / "outside" / "b.wasm"));
  EXPECT_EQ(names_in(f.tmp.path() / "outside"), (std::set<std::string>{"a.wasm", "b.wasm", "echo.wasm"}));
}

TEST(PluginManager, DirThroughALinkIsRefused) {
  ManagerFixture f;
  fs::create_directories(f.paths.plugins_dir / "real");
  fs::create_symlink(f.paths.plugins_dir / "real", f.paths.plugins_dir / "inside-link");  // even pointing inside
  ASSERT_TRUE(f.manager->load(false).ok());
  for (std::string dir : {(f.paths.plugins_dir / "inside-link").string(), (f.paths.plugins_dir / "inside-link" / "sub").string()}) {
    auto r = f.manager->publish(upload(kEcho, "echo.wasm", "echo", dir));
    ASSERT_FALSE(r.ok()) << dir;
    EXPECT_EQ(r.error().kind, ErrorKind::InvalidArgument);
    EXPECT_NE(r.error().message.find("symbolic link"), std::string::npos) << r.error().message;
  }
  EXPECT_TRUE(fs::is_empty(f.paths.plugins_dir / "real"));
}

// A long ?dir= used to answer 500 (ENAMETOOLONG deep in the file system calls).
TEST(PluginManager, LongDirIsAnInvalidArgument) {
  ManagerFixture f;
  ASSERT_TRUE(f.manager->load(false).ok());
  std::vector<std::string> dirs = {(f.paths.plugins_dir / std::string(300, 'd')).string(),
                                   (f.paths.plugins_dir / std::string(5000, 'd')).string(), std::string(100000, 'x')};
  std::string deep = f.paths.plugins_dir.string();
  while (deep.size() < 5000) deep += "/abc";
  dirs.push_back(deep);
  for (const auto& dir : dirs) {
    auto r = f.manager->publish(upload(kEcho, "echo.wasm", "echo", dir));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, ErrorKind::InvalidArgument) << r.error().message;
    EXPECT_LT(r.error().message.size(), 400u);
  }
  EXPECT_EQ(names_in(f.paths.plugins_dir), std::set<std::string>{});
}

// An update cut short after the new file got its name but before plugins.yml was committed
// leaves that file unreferenced: the next start deletes it (it is recorded as ours). Files the
// server did not write are never deleted, referenced or not.
TEST(PluginManager, StartDeletesOrphansTheServerWroteAndNothingElse) {
  ManagerFixture f;
  spit(f.paths.plugins_dir / "users-own.wasm", "not referenced, not ours");
  spit(f.paths.plugins_dir / "notes.txt", "hello");
  ASSERT_TRUE(f.manager->load(false).ok());
  ASSERT_TRUE(f.manager->publish(upload(kDice, "dice.wasm", "version_a")).ok());
  std::string committed = slurp(f.yml());

  // The state a kill -9 between "wasm-renamed" and "yaml-renamed" leaves: the new file stored
  // and recorded, plugins.yml still the old one.
  auto u = f.manager->update(upload(R"({"name": "dice", "version": "2.0.0", "functions": [{"function": "rollDice"}]})",
                                    "dice.wasm", "version_b"));
  ASSERT_TRUE(u.ok()) << u.error().message;
  fs::path orphan = u->file_path;
  ASSERT_TRUE(fs::exists(orphan));
  // The update deleted dice.wasm and committed plugins.yml: put both back as they were.
  spit(f.paths.plugins_dir / "dice.wasm", wasm_bytes("version_a"));
  spit(f.yml(), committed);
  ASSERT_TRUE(fs::exists(orphan));

  Registry reg;
  PluginManager restarted(reg, f.paths, LoadOptions{});
  auto r = restarted.load(false);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(fs::exists(orphan)) << "the orphan of the interrupted update is still there";
  EXPECT_EQ(call_ok(*reg.snapshot()->find_plugin("dice"), "rollDice"), "A");
  EXPECT_EQ(names_in(f.paths.plugins_dir),
            (std::set<std::string>{".plugins.yml.files", "dice.wasm", "notes.txt", "plugins.yml", "users-own.wasm"}));

  // A recorded file replaced by someone else's (another inode) is not ours any more: kept. So is
  // a recorded file whose content changed.
  ASSERT_TRUE(restarted.update(upload(R"({"name": "dice", "functions": [{"function": "rollDice"}]})", "dice.wasm", "version_b")).ok());
  std::string after_update = slurp(f.yml());
  ASSERT_TRUE(restarted.remove("dice").ok());
  auto v = restarted.publish(upload(kDice, "mine.wasm", "version_a"));
  ASSERT_TRUE(v.ok()) << v.error().message;
  ASSERT_TRUE(restarted.remove("dice").ok());
  EXPECT_FALSE(fs::exists(v->file_path));
  // Now forge the crash states by hand: records for files that are not the ones written.
  auto w1 = restarted.publish(upload(kDice, "replaced.wasm", "version_a"));
  auto w2 = restarted.publish(upload(R"({"name": "other", "functions": [{"function": "echo"}]})", "edited.wasm", "echo"));
  ASSERT_TRUE(w1.ok() && w2.ok());
  spit(f.yml(), "plugins: []\n");                            // nothing references them any more
  fs::remove(w1->file_path);
  spit(w1->file_path, "someone else's file, same name");      // a new inode
  {
    std::string bytes = slurp(w2->file_path);
    bytes[bytes.size() - 1] ^= 1;
    std::ofstream(w2->file_path, std::ios::binary | std::ios::trunc) << bytes;  // same inode, other content
  }
  Registry reg2;
  PluginManager again(reg2, f.paths, LoadOptions{});
  ASSERT_TRUE(again.load(false).ok());
  EXPECT_TRUE(fs::exists(w1->file_path));
  EXPECT_TRUE(fs::exists(w2->file_path));
  EXPECT_TRUE(fs::exists(f.paths.plugins_dir / "users-own.wasm"));
  (void)after_update;
}

// ---- Names ------------------------------------------------------------------------------------

TEST(PluginManager, NamesFollowOneRule) {
  ManagerFixture f;
  ASSERT_TRUE(f.manager->load(false).ok());
  auto data = [](const std::string& name_json, const std::string& tool = "echo") {
    return R"({"name": )" + name_json + R"(, "functions": [{"function": "echo", "displayName": ")" + tool + R"("}]})";
  };
  struct Case {
    std::string what, data, expect;
  };
  std::vector<Case> cases = {
      {"number", data("123"), "must be a string"},
      {"float", data("1.5"), "must be a string"},
      {"boolean", data("true"), "must be a string"},
      {"object", data("{}"), "must be a string"},
      {"empty", data("\"\""), "is empty"},
      {"too long", data("\"" + std::string(129, 'n') + "\""), "longer than 128"},
      {"100,000 characters", data("\"" + std::string(100000, 'n') + "\""), "longer than 128"},
      {"slash", data("\"a/b\""), "'/'"},
      {"newline", data("\"a\\nb\""), "control character U+000A"},
      {"NUL", data("\"a\\u0000b\""), "control character U+0000"},
      {"C1 control", data("\"a\\u0085b\""), "control character U+0085"},
      {"DEL", data("\"a\\u007fb\""), "control character U+007F"},
      {"tool with slash", data("\"ok\"", "a/b"), "tool name"},
      {"tool too long", data("\"ok\"", std::string(200, 't')), "tool name"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    auto r = f.manager->publish(upload(c.data, "x.wasm", "echo"));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, ErrorKind::InvalidArgument);
    EXPECT_NE(r.error().message.find(c.expect), std::string::npos) << r.error().message;
    EXPECT_LT(r.error().message.size(), 600u);  // the name is shortened in the message
    if (c.expect != "must be a string") EXPECT_NE(r.error().message.find("1 to 128 characters"), std::string::npos) << r.error().message;
  }
  EXPECT_TRUE(f.registry.snapshot()->plugins().empty());
  EXPECT_FALSE(fs::exists(f.yml()));
  // 128 characters of any script, spaces and punctuation are fine.
  std::string long_ok;
  for (int i = 0; i < 64; ++i) long_ok += "é";
  long_ok += std::string(64, 'x');
  for (std::string ok : {std::string("say hello"), std::string("dé-jà vu: (1)"), long_ok}) {
    auto r = f.manager->publish(upload(data(json::serialize(json::value(ok)), ok), "x.wasm", "echo"));
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_TRUE(f.manager->remove(ok).ok());
  }
}

// A plugins.yml written by hand may say "name: 123": it is the plugin "123", and updating or
// removing it reaches plugins.yml (it used to come back after a restart).
TEST(PluginManager, NumericNameInYamlIsItsText) {
  ManagerFixture f;
  fs::copy_file(test::test_plugin("version_a"), f.paths.plugins_dir / "n.wasm");
  spit(f.yml(), "plugins:\n  - name: 123\n    path: ./n.wasm\n    functions:\n      - function: rollDice\n");
  ASSERT_TRUE(f.manager->load(false).ok());
  ASSERT_TRUE(f.registry.snapshot()->find_plugin("123"));
  auto u = f.manager->update(upload(R"({"name": "123", "version": "2", "functions": [{"function": "rollDice"}]})", "n.wasm", "version_b"));
  ASSERT_TRUE(u.ok()) << u.error().message;
  ASSERT_EQ(f.doc().at("plugins").as_array().size(), 1u);
  EXPECT_EQ(f.doc().at_pointer("/plugins/0/name"), json::value("123"));
  EXPECT_EQ(f.doc().at_pointer("/plugins/0/version"), json::value("2"));
  {
    Registry reg;
    PluginManager m(reg, f.paths, LoadOptions{});
    ASSERT_TRUE(m.load(false).ok());
    EXPECT_EQ(call_ok(*reg.snapshot()->find_plugin("123"), "rollDice"), "B");
  }
  ASSERT_TRUE(f.manager->remove("123").ok());
  EXPECT_TRUE(f.doc().at("plugins").as_array().empty());
  Registry reg;
  PluginManager m(reg, f.paths, LoadOptions{});
  ASSERT_TRUE(m.load(false).ok());
  EXPECT_TRUE(reg.snapshot()->plugins().empty());
}
