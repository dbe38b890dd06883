// WASI command modules (`kind: command`): a plain wasm32-wasi program is a tool. Its arguments
// JSON is its stdin (and argv when the function declares `argv`), stdout is the result, a non-zero
// exit or stderr output an error; every run gets a fresh instance (its globals start over), in
// this process and in a sandbox worker (which keeps the module compiled and instantiates again).
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "paths.hpp"
#include "registry/describe.hpp"
#include "registry/plugin_spec.hpp"
#include "registry_helpers.hpp"
#include "sandbox/sandbox.hpp"

using namespace wasimancer;
using namespace wasimancer::registry;
namespace json = boost::json;

namespace {

const FunctionSpec& tool(const PluginVersion& v, std::string_view name) {
  for (const auto& f : *v.tools()) {
    if (f.tool_name == name) return f;
  }
  throw std::runtime_error("no tool " + std::string(name));
}

// Runs `name` as tools/call does: the arguments JSON on stdin, argv from the templates.
host::CallOutcome run(const PluginVersion& v, std::string_view name, json::object args = {}) {
  const FunctionSpec& f = tool(v, name);
  host::CallOptions o;
  o.argv = tool_argv(f, args);
  return v.call(f.function, tool_call_input(f, args), o);
}

std::string run_ok(const PluginVersion& v, std::string_view name, json::object args = {}) {
  auto out = run(v, name, std::move(args));
  EXPECT_TRUE(out.ok()) << name << ": " << (out.error ? out.error->message : "");
  return out.output;
}

constexpr const char* kTools = R"({"name": "wc", "kind": "command", "timeoutMs": 2000, "functions": [
    {"displayName": "count", "argv": ["count"]},
    {"displayName": "args", "argv": ["args", "{a}", "x{b}y", "{missing}"]},
    {"displayName": "fail", "argv": ["fail"]},
    {"displayName": "state", "argv": ["state"]},
    {"displayName": "loop", "argv": ["loop"]}]})";
// Output is bounded by the plugin's memory limit (maxPages: 2 MiB here).
constexpr const char* kSpam = R"({"name": "wc", "kind": "command", "maxPages": 32,
    "functions": [{"displayName": "spam", "argv": ["spam"]}, {"displayName": "state", "argv": ["state"]}]})";

void check_spam(const PluginVersion& v) {
  auto spammed = run(v, "spam");
  ASSERT_FALSE(spammed.ok());
  EXPECT_EQ(spammed.error->kind, ErrorKind::OutOfMemory) << spammed.error->message;
  EXPECT_NE(spammed.error->message.find("wrote more than 2097152 bytes to stdout"), std::string::npos) << spammed.error->message;
  EXPECT_EQ(run_ok(v, "state"), "1\n");
}

void check_tools(const PluginVersion& v) {
  EXPECT_EQ(run_ok(v, "count", json::object{{"text", "a b"}}), "0 2 14\n");  // stdin: {"text":"a b"}
  EXPECT_EQ(run_ok(v, "args", json::object{{"a", "A"}, {"b", 2}}), "wc\nargs\nA\nx2y\n\n");
  auto failed = run(v, "fail");
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error->kind, ErrorKind::PluginError);
  EXPECT_EQ(failed.error->message, "the command exited with code 3: no such mode: fail");
  // Each run starts from a fresh instance: the global counter is 1 every time.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(run_ok(v, "state"), "1\n");
  auto looped = run(v, "loop");
  ASSERT_FALSE(looped.ok());
  EXPECT_EQ(looped.error->kind, ErrorKind::Timeout) << looped.error->message;
  // Still usable after a timeout.
  EXPECT_EQ(run_ok(v, "state"), "1\n");
}

}  // namespace

TEST(Command, WithoutFunctionsItIsOneToolNamedAfterThePlugin) {
  auto v = test::load_version("wc_command", R"({"name": "shout", "kind": "command", "description": "Upper-cases"})");
  ASSERT_EQ(v->tools()->size(), 1u);
  EXPECT_EQ(v->tools()->at(0).tool_name, "shout");
  EXPECT_EQ(v->tools()->at(0).description, "Upper-cases");
  EXPECT_EQ(run_ok(*v, "shout", json::object{{"text", "hi there"}}), R"({"TEXT":"HI THERE"})");
}

TEST(Command, ArgvStdinExitCodesAndFreshInstances) {
  check_tools(*test::load_version("wc_command", kTools));
  check_spam(*test::load_version("wc_command", kSpam));
}

TEST(Command, InASandboxWorkerToo) {
  test::Sandboxed sb;
  auto v = test::load_version("wc_command", kTools, sb.options);
  EXPECT_EQ(run_ok(*v, "state"), "1\n");
  uint64_t started = sb.sandbox.workers_started();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(run_ok(*v, "state"), "1\n");
  EXPECT_EQ(sb.sandbox.workers_started(), started) << "a command's run is instantiated again in its worker, not in a new one";
  check_tools(*v);
  check_spam(*test::load_version("wc_command", kSpam, sb.options));
}

TEST(Command, SpecErrorsAreClear) {
  auto bad = [](std::string_view spec) {
    auto r = parse_plugin_spec(json::parse(spec));
    EXPECT_FALSE(r.ok()) << spec;
    return r.ok() ? std::string() : r.error().message;
  };
  EXPECT_NE(bad(R"({"name": "x", "path": "x.wasm", "kind": "program"})").find(R"("kind" must be "extism" or "command")"),
            std::string::npos);
  EXPECT_NE(bad(R"({"name": "x", "path": "x.wasm", "kind": "command", "functions": [{"function": "run"}]})")
                .find(R"(a command's functions run its "_start")"),
            std::string::npos);
  EXPECT_NE(bad(R"({"name": "x", "path": "x.wasm", "functions": [{"function": "run", "argv": ["a"]}]})")
                .find(R"("argv" is for plugins of kind command)"),
            std::string::npos);
  EXPECT_NE(bad(R"({"name": "x", "path": "x.wasm", "kind": "command", "functions": [{"argv": "a"}]})")
                .find(R"("argv" must be a list of strings)"),
            std::string::npos);
}

TEST(Command, AnExtismPluginIsNotACommand) {
  // echo has no _start: as a command it is refused at load, naming what is missing.
  auto r = test::try_load_version("echo", R"({"name": "e", "kind": "command"})");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("_start"), std::string::npos) << r.error().message;
}
