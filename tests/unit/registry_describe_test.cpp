// Self-describing plugins (hyper-mcp's v1 and v2 interfaces): recognised by their exports when
// plugins.yml lists no functions, described at load (in this process and in a sandbox worker),
// called through call/call_tool, filtered and renamed by listed functions, prefixed on request,
// re-described when they say their lists changed; and the v2 host functions reach the sink.
#include <gtest/gtest.h>

#include <filesystem>
#include <mutex>

#include <boost/json.hpp>

#include "paths.hpp"
#include "registry/describe.hpp"
#include "registry/registry.hpp"
#include "registry_helpers.hpp"
#include "sandbox/sandbox.hpp"

using namespace wasimancer;
using namespace wasimancer::registry;
namespace json = boost::json;

namespace {

std::vector<std::string> tool_names(const PluginVersion& v) {
  std::vector<std::string> out;
  for (const auto& f : *v.tools()) out.push_back(f.tool_name);
  return out;
}

// Calls a tool as tools/call would, and returns its CallToolResult JSON.
json::object call_tool(const PluginVersion& v, const std::string& tool, json::object args = {},
                       host::CallSink* sink = nullptr) {
  for (const auto& f : *v.tools()) {
    if (f.tool_name != tool) continue;
    host::CallOptions o;
    o.sink = sink;
    auto out = v.call(f.function, tool_call_input(f, args), o);
    EXPECT_TRUE(out.ok()) << tool << ": " << (out.error ? out.error->message : "");
    EXPECT_TRUE(f.mcp_output);
    return json::parse(out.output).as_object();
  }
  ADD_FAILURE() << "no tool " << tool;
  return {};
}

std::string text_of(const json::object& result) {
  return std::string(result.at("content").as_array().at(0).as_object().at("text").as_string());
}

class RecordingSink : public host::CallSink {
 public:
  Result<std::string> elicit(std::string_view r) override {
    record("elicit " + std::string(r));
    return std::string(R"({"action":"accept","content":{"ok":true}})");
  }
  Result<std::string> sample(std::string_view r) override {
    record("sample " + std::string(r));
    return std::string(R"({"role":"assistant","content":{"type":"text","text":"4"},"model":"m"})");
  }
  Result<std::string> list_roots() override {
    record("roots");
    return std::string(R"({"roots":[{"uri":"file:///work","name":"work"}]})");
  }
  void notify(std::string_view method, std::string_view params) override {
    record(std::string(method) + " " + std::string(params));
  }
  std::vector<std::string> seen() {
    std::lock_guard l(mu_);
    return seen_;
  }

 private:
  void record(std::string s) {
    std::lock_guard l(mu_);
    seen_.push_back(std::move(s));
  }
  std::mutex mu_;
  std::vector<std::string> seen_;
};

bool contains(const std::vector<std::string>& v, std::string_view prefix) {
  for (const auto& s : v) {
    if (s.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

}  // namespace

TEST(Describe, V1ToolsAreServedWithoutAFunctionList) {
  auto v = test::load_version("mcp_v1", R"({"name": "one"})");
  EXPECT_EQ(v->interface_kind, Interface::V1);
  EXPECT_EQ(tool_names(*v), (std::vector<std::string>{"greet", "grow"}));
  EXPECT_EQ(text_of(call_tool(*v, "greet", json::object{{"name", "Ada"}})), "Hello, Ada!");
  auto schema = tool_input_schema(v->tools()->at(0));
  EXPECT_EQ(json::serialize(schema.at("required")), R"(["name"])");
}

TEST(Describe, AListChangeReDescribesThePlugin) {
  LoadOptions o;
  std::atomic<int> told{0};
  o.on_list_changed = [&](const PluginVersion& v) {
    ++told;
    auto changed = v.redescribe();
    ASSERT_TRUE(changed.ok()) << changed.error().message;
    EXPECT_TRUE(*changed);
  };
  auto v = test::load_version("mcp_v1", R"({"name": "one"})", o);
  EXPECT_EQ(text_of(call_tool(*v, "grow")), "now 1 extra tools");
  EXPECT_EQ(told.load(), 1);
  EXPECT_EQ(tool_names(*v), (std::vector<std::string>{"greet", "grow", "extra_1"}));
  EXPECT_EQ(text_of(call_tool(*v, "extra_1")), "extra 1");

  // The registry republishes: a new snapshot with the new tool.
  Registry reg;
  ASSERT_TRUE(reg.add(v).ok());
  uint64_t before = reg.snapshot()->revision();
  EXPECT_EQ(text_of(call_tool(*v, "grow")), "now 2 extra tools");
  reg.refresh(*v);
  EXPECT_GT(reg.snapshot()->revision(), before);
  EXPECT_NE(reg.snapshot()->find_tool("extra_2"), nullptr);
}

TEST(Describe, FunctionsFilterRenameAndPrefix) {
  auto v = test::load_version("mcp_v1", R"({"name": "one", "functions": [
      {"function": "greet", "displayName": "hello", "description": "my own words"}]})");
  ASSERT_EQ(tool_names(*v), std::vector<std::string>{"hello"});
  EXPECT_EQ(v->tools()->at(0).description, "my own words");
  EXPECT_EQ(text_of(call_tool(*v, "hello", json::object{{"name", "Bo"}})), "Hello, Bo!");

  auto missing = test::try_load_version("mcp_v1", R"({"name": "one", "functions": [{"function": "nope"}]})");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("its tools: greet, grow"), std::string::npos) << missing.error().message;

  auto prefixed = test::load_version("mcp_v1", R"({"name": "one", "prefixTools": true})");
  EXPECT_EQ(tool_names(*prefixed), (std::vector<std::string>{"one-greet", "one-grow"}));
  EXPECT_EQ(text_of(call_tool(*prefixed, "one-greet", json::object{{"name", "Cy"}})), "Hello, Cy!");
}

TEST(Describe, ClashingToolNamesAreRefusedNamingTheOption) {
  Registry reg;
  ASSERT_TRUE(reg.add(test::load_version("mcp_v1", R"({"name": "one"})")).ok());
  auto r = reg.add(test::load_version("mcp_v1", R"({"name": "two"})"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::AlreadyExists);
  EXPECT_NE(r.error().message.find("prefixTools"), std::string::npos) << r.error().message;
  EXPECT_TRUE(reg.add(test::load_version("mcp_v1", R"({"name": "two", "prefixTools": true})")).ok());
}

TEST(Describe, APluginWithoutFunctionsMustDescribeItself) {
  auto r = test::try_load_version("echo", R"({"name": "plain"})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::InvalidArgument);
  EXPECT_NE(r.error().message.find("declares no functions and does not describe itself"), std::string::npos)
      << r.error().message;
}

TEST(Describe, V2ServesToolsPromptsResourcesAndItsHostFunctions) {
  auto v = test::load_version("mcp_v2", R"({"name": "two"})");
  EXPECT_EQ(v->interface_kind, Interface::V2);
  EXPECT_EQ(tool_names(*v), (std::vector<std::string>{"echo_args", "ask", "sample", "roots", "notify", "add_prompt"}));
  auto d = v->description();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->prompts.size(), 1u);
  EXPECT_EQ(d->resources.size(), 1u);
  EXPECT_EQ(d->resource_templates.size(), 1u);
  EXPECT_TRUE(d->completes);
  EXPECT_EQ(text_of(call_tool(*v, "echo_args", json::object{{"x", 1}})), R"({"x":1})");

  RecordingSink sink;
  EXPECT_NE(text_of(call_tool(*v, "ask", {}, &sink)).find("accept"), std::string::npos);
  EXPECT_NE(text_of(call_tool(*v, "sample", {}, &sink)).find("assistant"), std::string::npos);
  EXPECT_NE(text_of(call_tool(*v, "roots", {}, &sink)).find("file:///work"), std::string::npos);
  EXPECT_EQ(text_of(call_tool(*v, "notify", {}, &sink)), "notified");
  auto seen = sink.seen();
  EXPECT_TRUE(contains(seen, "elicit {\"message\":\"Proceed?\""));
  EXPECT_TRUE(contains(seen, "sample {\"messages\""));
  EXPECT_TRUE(contains(seen, "roots"));
  EXPECT_TRUE(contains(seen, "notifications/message {\"level\":\"info\""));
  EXPECT_TRUE(contains(seen, "notifications/progress"));
  EXPECT_TRUE(contains(seen, "notifications/resources/updated {\"uri\":\"mem://readme\"}"));
  // List changes go to the registry (which re-describes and tells every client), not to the caller.
  EXPECT_FALSE(contains(seen, "notifications/tools/list_changed"));
  EXPECT_FALSE(contains(seen, "notifications/resources/list_changed"));
}

TEST(Describe, InASandboxWorkerToo) {
  test::Sandboxed sb;
  LoadOptions& o = sb.options;
  std::atomic<int> told{0};
  o.on_list_changed = [&](const PluginVersion& v) {
    ++told;
    EXPECT_TRUE(v.redescribe().ok());
  };
  auto v = test::load_version("mcp_v1", R"({"name": "one"})", o);
  EXPECT_EQ(v->pool.tier(), "interpreter");
  EXPECT_EQ(tool_names(*v), (std::vector<std::string>{"greet", "grow"}));
  EXPECT_EQ(text_of(call_tool(*v, "grow")), "now 1 extra tools");
  EXPECT_EQ(told.load(), 1);
  EXPECT_EQ(tool_names(*v), (std::vector<std::string>{"greet", "grow", "extra_1"}));

  auto v2 = test::load_version("mcp_v2", R"({"name": "two"})", o);
  RecordingSink sink;
  EXPECT_NE(text_of(call_tool(*v2, "roots", {}, &sink)).find("file:///work"), std::string::npos);
  EXPECT_EQ(text_of(call_tool(*v2, "notify", {}, &sink)), "notified");
  EXPECT_TRUE(contains(sink.seen(), "notifications/resources/updated"));
}

// The hyper-mcp plugins built by their authors (../shared/mcp-plugins), when present.
TEST(Describe, HyperMcpFixtures) {
  std::filesystem::path dir = std::filesystem::path(test::shared_plugins_dir()).parent_path() / "mcp-plugins" / "hyper-mcp";
  if (!std::filesystem::exists(dir / "rstime.wasm")) GTEST_SKIP() << "requires: " << dir.string();
  auto load = [&](const std::string& file, std::string_view spec) {
    auto bytes = read_file(dir / file);
    std::span<const uint8_t> wasm(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size());
    auto v = load_plugin_version(test::spec_of(spec), wasm, dir / file, {});
    if (!v) throw std::runtime_error(v.error().message);
    return *v;
  };
  auto rstime = load("rstime.wasm", R"({"name": "rstime"})");
  EXPECT_EQ(rstime->interface_kind, Interface::V2);
  EXPECT_EQ(tool_names(*rstime), (std::vector<std::string>{"get_time", "parse_time"}));
  EXPECT_EQ(text_of(call_tool(*rstime, "parse_time", json::object{{"time", "Tue, 1 Jul 2003 10:52:37 +0200"}})), "1057049557");
  auto v1 = load("tool_list_changed.wasm", R"({"name": "changes"})");
  EXPECT_EQ(v1->interface_kind, Interface::V1);
  EXPECT_EQ(tool_names(*v1), std::vector<std::string>{"add_tool"});
}
