// registry: the storage seam (core/snapshot.hpp, registry/store.hpp). Snapshot and listeners;
// YamlFileStore (load, commit, a refusing edit commits nothing); the catalogs and PluginManager
// over a shared store (an in-memory stand-in for PostgreSQL that another "replica" also writes):
// changes made elsewhere meanwhile give Conflict/NotFound and nothing changes; reconcile/apply
// serve exactly what the store holds and tell listeners what changed.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "core/crypto.hpp"
#include "core/snapshot.hpp"
#include "paths.hpp"
#include "registry/catalog.hpp"
#include "registry/plugin_manager.hpp"
#include "registry/store.hpp"
#include "registry_helpers.hpp"
#include "temp_dir.hpp"

using namespace wasimancer;
using namespace wasimancer::registry;
using test::slurp;
using test::TempDir;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

// A shared store in memory: a document, a revision, blobs. `other` edits it as another replica
// would (outside this process's catalogs).
class MemoryStore : public DocumentStore {
 public:
  struct State {
    json::value doc = json::object{};
    uint64_t revision = 0;
    std::map<std::string, std::string> blobs;
    int commits = 0;
  };
  explicit MemoryStore(std::shared_ptr<State> s) : s_(std::move(s)) {}
  std::string where() const override { return "memory"; }
  bool shared() const override { return true; }
  Result<std::optional<json::value>> load() override { return std::optional<json::value>(s_->doc); }
  Result<uint64_t> commit(const Edit& edit, const std::vector<Blob>& blobs, std::optional<uint64_t> if_revision) override {
    if (if_revision && *if_revision != s_->revision) return Error(ErrorKind::Conflict, "stale If-Match");
    json::value next = s_->doc;
    if (auto r = edit(next); !r) return r.take_error();
    for (const auto& b : blobs) s_->blobs[b.sha256] = b.bytes;
    s_->doc = std::move(next);
    ++s_->commits;
    return ++s_->revision;
  }
  Result<std::string> blob(std::string_view sha) override {
    auto it = s_->blobs.find(std::string(sha));
    if (it == s_->blobs.end()) return Error(ErrorKind::NotFound, "no blob");
    return it->second;
  }

 private:
  std::shared_ptr<State> s_;
};

json::value parse(std::string_view text) { return json::parse(text); }

}  // namespace

TEST(Snapshot, SwapsWholeValuesAndNotifiesListeners) {
  Snapshot<std::vector<int>, int> s(std::make_shared<const std::vector<int>>(std::vector<int>{1}));
  auto before = s.get();
  std::vector<int> heard;
  uint64_t token = s.on_change([&](const int& e) { heard.push_back(e); });
  s.set(std::make_shared<const std::vector<int>>(std::vector<int>{1, 2}));
  s.notify(2);
  EXPECT_EQ(before->size(), 1u);  // a reader's snapshot never changes
  EXPECT_EQ(s.get()->size(), 2u);
  s.remove_listener(token);
  s.notify(3);
  EXPECT_EQ(heard, std::vector<int>{2});
}

TEST(YamlFileStore, LoadCommitAndRefusedEdit) {
  TempDir dir;
  YamlFileStore store(dir.path() / "sub" / "things.yml");
  auto missing = store.load();
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  auto r = store.commit([](json::value& doc) -> Result<void> {
    doc.as_object()["things"] = json::array{json::object{{"name", "a"}}};
    return {};
  });
  ASSERT_TRUE(r.ok()) << r.error().message;
  auto refused = store.commit([](json::value& doc) -> Result<void> {
    doc.as_object()["things"] = json::array{};
    return Error(ErrorKind::Conflict, "no");
  });
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::Conflict);
  YamlFileStore again(dir.path() / "sub" / "things.yml");
  auto doc = again.load();
  ASSERT_TRUE(doc.ok() && doc->has_value());
  EXPECT_EQ(json::serialize(**doc), R"({"things":[{"name":"a"}]})");
}

TEST(SharedCatalog, ChangesElsewhereConflictAndNothingChanges) {
  auto state = std::make_shared<MemoryStore::State>();
  PromptCatalog prompts(std::make_unique<MemoryStore>(state));
  ASSERT_TRUE(prompts.load(false).ok());
  ASSERT_TRUE(prompts.add(parse(R"({"name":"p","messages":[{"role":"user","text":"v1"}]})")).ok());
  EXPECT_EQ(state->revision, 1u);
  // Another replica adds "q" and changes "p"; this catalog has not reconciled yet.
  state->doc = parse(R"({"prompts":{"predefined":[{"name":"p","messages":[{"role":"user","text":"v2"}]},
                                                 {"name":"q","messages":[{"role":"user","text":"q"}]}]}})");
  state->revision = 2;
  auto add = prompts.add(parse(R"({"name":"q","messages":[{"role":"user","text":"mine"}]})"));
  ASSERT_FALSE(add.ok());
  EXPECT_EQ(add.error().kind, ErrorKind::Conflict);
  auto upd = prompts.update("p", parse(R"({"messages":[{"role":"user","text":"v3"}]})"));
  ASSERT_FALSE(upd.ok());
  EXPECT_EQ(upd.error().kind, ErrorKind::Conflict);
  EXPECT_EQ(state->revision, 2u);
  EXPECT_NE(json::serialize(state->doc).find("v2"), std::string::npos);  // the other replica's change stands

  // Reconcile: the catalog serves the store's document; listeners hear what changed.
  std::vector<std::pair<int, std::string>> heard;
  prompts.on_change([&](const CatalogChange& c) { heard.push_back({int(c.kind), c.name}); });
  prompts.apply(state->doc, state->revision);
  auto snap = prompts.snapshot();
  ASSERT_EQ(snap->items.size(), 2u);
  EXPECT_EQ(snap->revision, 2u);
  EXPECT_EQ(heard, (std::vector<std::pair<int, std::string>>{{CatalogChange::Updated, "p"}, {CatalogChange::Added, "q"}}));
  // Now an update based on what is served succeeds; an older revision is never applied.
  ASSERT_TRUE(prompts.update("p", parse(R"({"messages":[{"role":"user","text":"v3"}]})")).ok());
  prompts.apply(parse(R"({"prompts":{"predefined":[]}})"), 1);
  EXPECT_EQ(prompts.snapshot()->items.size(), 2u);
  // A removal: gone from the store and from what is served.
  ASSERT_TRUE(prompts.remove("q").ok());
  EXPECT_EQ(prompts.snapshot()->items.size(), 1u);
  EXPECT_EQ(json::serialize(state->doc).find("\"q\""), std::string::npos);
}

TEST(SharedPlugins, PublishStoresBytesAndOtherReplicasReconcile) {
  auto state = std::make_shared<MemoryStore::State>();
  Registry reg_a, reg_b;
  PluginManager a(reg_a, PluginPaths{}, LoadOptions{}, std::make_unique<MemoryStore>(state));
  PluginManager b(reg_b, PluginPaths{}, LoadOptions{}, std::make_unique<MemoryStore>(state));
  ASSERT_TRUE(a.load(false).ok());
  ASSERT_TRUE(b.load(false).ok());
  std::string va = slurp(test::test_plugin("version_a")), vb = slurp(test::test_plugin("version_b"));
  std::string data = R"({"name":"who","version":"1.0.0","functions":[{"function":"whoami","arguments":[]}]})";
  auto pub = a.publish(UploadRequest{data, "who.wasm", va, std::nullopt, std::nullopt});
  ASSERT_TRUE(pub.ok()) << pub.error().message;
  EXPECT_EQ(pub->revision, 1u);
  EXPECT_EQ(state->blobs.count(sha256_hex(va)), 1u);
  EXPECT_EQ(a.served_revision(), 1u);
  ASSERT_NE(reg_a.snapshot()->find_tool("whoami"), nullptr);
  EXPECT_EQ(reg_b.snapshot()->find_tool("whoami"), nullptr);  // not yet reconciled
  b.reconcile(state->doc, state->revision);
  const ToolRef* t = reg_b.snapshot()->find_tool("whoami");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(test::call_ok(*t->plugin, "whoami"), R"({"version":"a"})");
  auto kept = reg_b.snapshot()->find_plugin("who");

  // Both replicas update from revision 1: the first wins, the second gets Conflict.
  ASSERT_TRUE(a.update(UploadRequest{data, "who.wasm", vb, std::nullopt, std::nullopt}).ok());
  auto lost = b.update(UploadRequest{data, "who.wasm", va, std::nullopt, std::nullopt});
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.error().kind, ErrorKind::Conflict);
  EXPECT_EQ(state->revision, 2u);
  EXPECT_EQ(reg_b.snapshot()->find_plugin("who"), kept);  // b still serves what it had
  // A stale If-Match is refused too.
  auto stale = a.update(UploadRequest{data, "who.wasm", va, std::nullopt, 1});
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().kind, ErrorKind::Conflict);

  b.reconcile(state->doc, state->revision);
  EXPECT_EQ(test::call_ok(*reg_b.snapshot()->find_tool("whoami")->plugin, "whoami"), R"({"version":"b"})");
  // Reconciling the same revision again keeps the loaded version (no reload).
  auto served = reg_b.snapshot()->find_plugin("who");
  b.reconcile(state->doc, state->revision + 0);
  EXPECT_EQ(reg_b.snapshot()->find_plugin("who"), served);

  // A removal through b reaches a on reconcile; an entry whose bytes are missing is not served.
  ASSERT_TRUE(b.remove("who").ok());
  a.reconcile(state->doc, state->revision);
  EXPECT_EQ(reg_a.snapshot()->plugins().size(), 0u);
  state->doc = parse(R"({"plugins":[{"name":"ghost","functions":[{"function":"whoami"}],"wasmSha256":"00"}]})");
  state->revision++;
  a.reconcile(state->doc, state->revision);
  EXPECT_EQ(reg_a.snapshot()->plugins().size(), 0u);
  EXPECT_EQ(a.served_revision(), state->revision);
}
