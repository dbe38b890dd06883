// mcp/server: the MCP methods driven through mcp::Server directly (no HTTP): initialize,
// tools/list pagination, tools/call results and errors, argument validation per protocol
// version, cancellation, and debounced list_changed notifications.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "core/crypto.hpp"
#include "core/worker_pool.hpp"
#include "mcp/protocol.hpp"
#include "mcp/server.hpp"
#include "paths.hpp"
#include "recording_outbound.hpp"
#include "registry/catalog.hpp"
#include "registry/plugin_manager.hpp"
#include "registry/registry.hpp"
#include "temp_dir.hpp"

using namespace wasimancer;
using namespace wasimancer::mcp;
using namespace std::chrono_literals;
using test::RecordingOutbound;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

const char* kPluginsYml = R"(plugins:
  - name: echo
    path: ./echo.wasm
    version: 1.0.0
    functions:
      - function: echo
        arguments:
          - name: text
            type: string
      - function: upper
        displayName: shout
        title: Shout
        arguments:
          - name: text
            type: string
      - function: fail
        arguments:
          - name: text
            type: string
  - name: dice
    path: ./version_a.wasm
    functions:
      - function: rollDice
        arguments:
          - name: numFaces
            type: integer
  - name: hostile
    path: ./hostile.wasm
    timeoutMs: 60000
    functions:
      - function: infinite_loop
)";

struct ServerFixture {
  test::TempDir tmp;
  registry::Registry plugins;
  registry::ResourceCatalog resources{std::nullopt};
  registry::PromptCatalog prompts{std::nullopt};
  std::unique_ptr<registry::PluginManager> manager;
  std::unique_ptr<WorkerPool> workers;
  std::unique_ptr<Server> server;

  explicit ServerFixture(std::chrono::milliseconds debounce = 100ms) {
    fs::path dir = tmp.path() / "plugins";
    fs::create_directories(dir);
    for (const char* p : {"echo", "version_a", "hostile"}) fs::copy_file(test::test_plugin(p), dir / (std::string(p) + ".wasm"));
    test::spit(dir / "plugins.yml", kPluginsYml);
    registry::PluginPaths paths;
    paths.plugins_dir = dir;
    paths.upload_dir = dir;
    manager = std::make_unique<registry::PluginManager>(plugins, paths, registry::LoadOptions{});
    auto r = manager->load(false);
    if (!r) throw std::runtime_error(r.error().message);
    workers = std::make_unique<WorkerPool>(2);
    ServerConfig cfg;
    cfg.page_size = 2;
    cfg.list_changed_debounce = debounce;
    server = std::make_unique<Server>(Catalogs{plugins, resources, prompts}, *workers, cfg);
  }
  ~ServerFixture() {
    workers.reset();  // finishes every call while the server is still there
    server.reset();
  }

  // A session that went through initialize (+ notifications/initialized).
  std::shared_ptr<Session> session(const std::string& version, bool initialized = true) {
    auto s = server->create_session(Session::Kind::Streamable);
    auto out = std::make_shared<RecordingOutbound>();
    server->handle(s, json::parse(R"({"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": {"protocolVersion": ")" +
                                  version + R"(", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}})"),
                   out);
    auto resp = out->response("init");
    EXPECT_TRUE(resp && resp->contains("result")) << (resp ? json::serialize(*resp) : "no response");
    if (initialized) server->handle(s, json::parse(R"({"jsonrpc": "2.0", "method": "notifications/initialized"})"), out);
    return s;
  }

  // Sends a request and waits for the server to finish it; returns the response.
  std::optional<json::object> request(const std::shared_ptr<Session>& s, const json::value& id, std::string_view method,
                                      json::value params, std::shared_ptr<RecordingOutbound> out = nullptr) {
    if (!out) out = std::make_shared<RecordingOutbound>();
    json::object msg{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
    if (!params.is_null()) msg["params"] = params;
    server->handle(s, msg, out);
    EXPECT_TRUE(out->wait_done(id)) << "request " << method << " never finished";
    EXPECT_EQ(out->done_count(id), 1u);
    return out->response(id);
  }

  json::object call_tool(const std::shared_ptr<Session>& s, const json::value& id, std::string_view tool, json::value args) {
    json::object params{{"name", tool}};
    if (!args.is_null()) params["arguments"] = args;
    auto r = request(s, id, "tools/call", params);
    if (!r) {
      ADD_FAILURE() << "no response to tools/call " << tool;
      return {};
    }
    return *r;
  }
};

int error_code(const json::object& resp) {
  auto* e = resp.if_contains("error");
  if (!e) return 0;
  return static_cast<int>(e->as_object().at("code").as_int64());
}

const json::object& result_of(const json::object& resp) {
  static const json::object empty;
  auto* r = resp.if_contains("result");
  EXPECT_TRUE(r && r->is_object()) << json::serialize(resp);
  return r && r->is_object() ? r->as_object() : empty;
}

std::string first_text(const json::object& result) {
  auto* c = result.if_contains("content");
  if (!c || !c->is_array() || c->as_array().empty()) return "<no content>";
  return std::string(c->as_array()[0].as_object().at("text").as_string());
}

bool is_error(const json::object& result) {
  auto* e = result.if_contains("isError");
  return e && e->is_bool() && e->as_bool();
}

// Arguments the "echo" tool refuses (its schema: a required string "text").
std::vector<json::value> invalid_echo_args() {
  return {json::parse(R"({"text": 5})"), json::parse("{}"), json::parse(R"({"text": null})")};
}

}  // namespace

TEST(McpServer, InitializeNegotiatesVersionAndAnnouncesCapabilities) {
  ServerFixture f;
  auto s = f.server->create_session(Session::Kind::Streamable);
  EXPECT_FALSE(s->id().empty());
  EXPECT_EQ(f.server->find_session(s->id()), s);
  auto resp = f.request(s, 1, "initialize",
                        json::parse(R"({"protocolVersion": "2025-06-18", "capabilities": {"sampling": {}}, "clientInfo": {"name": "c"}})"));
  ASSERT_TRUE(resp);
  const auto& r = result_of(*resp);
  EXPECT_EQ(r.at("protocolVersion"), json::value("2025-06-18"));
  EXPECT_EQ(json::value(r).at_pointer("/capabilities/tools/listChanged"), json::value(true));
  EXPECT_EQ(json::value(r).at_pointer("/capabilities/prompts/listChanged"), json::value(true));
  EXPECT_EQ(json::value(r).at_pointer("/capabilities/resources/listChanged"), json::value(true));
  EXPECT_TRUE(r.at("serverInfo").as_object().contains("name"));
  EXPECT_EQ(s->protocol_version(), "2025-06-18");
  EXPECT_TRUE(s->client_capabilities().contains("sampling"));

  // A second initialize on the same session is refused.
  auto again = f.request(s, 2, "initialize", json::parse(R"({"protocolVersion": "2025-06-18"})"));
  ASSERT_TRUE(again);
  EXPECT_EQ(error_code(*again), kInvalidRequest) << json::serialize(*again);
  EXPECT_EQ(s->protocol_version(), "2025-06-18");

  // An unknown version gets our latest; an old one is kept.
  auto s2 = f.server->create_session(Session::Kind::Streamable);
  auto r2 = f.request(s2, 1, "initialize", json::parse(R"({"protocolVersion": "2099-01-01"})"));
  ASSERT_TRUE(r2);
  EXPECT_EQ(result_of(*r2).at("protocolVersion"), json::value(std::string(kLatestStatefulVersion)));
  auto s3 = f.server->create_session(Session::Kind::Streamable);
  auto r3 = f.request(s3, 1, "initialize", json::parse(R"({"protocolVersion": "2024-11-05"})"));
  ASSERT_TRUE(r3);
  EXPECT_EQ(result_of(*r3).at("protocolVersion"), json::value("2024-11-05"));
  // Missing protocolVersion: invalid params.
  auto s4 = f.server->create_session(Session::Kind::Streamable);
  auto r4 = f.request(s4, 1, "initialize", json::object{});
  ASSERT_TRUE(r4);
  EXPECT_EQ(error_code(*r4), kInvalidParams);
}

TEST(McpServer, PingUnknownMethodAndInvalidMessages) {
  ServerFixture f;
  auto s = f.session("2025-11-25");
  auto ping = f.request(s, "p", "ping", nullptr);
  ASSERT_TRUE(ping);
  EXPECT_EQ(ping->at("result"), json::value(json::object{}));
  auto unknown = f.request(s, 5, "server/discover", nullptr);
  ASSERT_TRUE(unknown);
  EXPECT_EQ(error_code(*unknown), kMethodNotFound);

  auto out = std::make_shared<RecordingOutbound>();
  f.server->handle(s, json::parse(R"({"jsonrpc": "1.0", "id": 3, "method": "ping"})"), out);
  auto bad = out->response(3);
  ASSERT_TRUE(bad);
  EXPECT_EQ(error_code(*bad), kInvalidRequest);
  EXPECT_EQ(out->done_count(3), 1u);
}

TEST(McpServer, ToolsListPaginates) {
  ServerFixture f;
  auto s = f.session("2025-06-18");
  std::vector<std::string> names;
  json::value cursor = nullptr;
  int pages = 0;
  for (;;) {
    json::object params;
    if (!cursor.is_null()) params["cursor"] = cursor;
    auto resp = f.request(s, pages + 10, "tools/list", params);
    ASSERT_TRUE(resp);
    const auto& r = result_of(*resp);
    const auto& tools = r.at("tools").as_array();
    EXPECT_LE(tools.size(), 2u);
    for (const auto& t : tools) {
      names.emplace_back(t.as_object().at("name").as_string());
      EXPECT_EQ(t.as_object().at("inputSchema").as_object().at("type"), json::value("object"));
    }
    ++pages;
    ASSERT_LT(pages, 10);
    auto* next = r.if_contains("nextCursor");
    if (!next) break;
    ASSERT_TRUE(next->is_string());
    cursor = *next;
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(names, (std::vector<std::string>{"echo", "shout", "fail", "rollDice", "infinite_loop"}));

  // The schema and title of one tool.
  auto first = f.request(s, 100, "tools/list", json::object{});
  ASSERT_TRUE(first);
  const auto& shout = result_of(*first).at("tools").as_array()[1].as_object();
  EXPECT_EQ(shout.at("title"), json::value("Shout"));
  EXPECT_EQ(shout.at("inputSchema"),
            json::parse(R"({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]})"));

  // Invalid cursors.
  for (json::value bad : {json::value("not base64 !!"), json::value(base64_encode("offset:99")), json::value(base64_encode("page 2")),
                          json::value(base64_encode("offset:x")), json::value(42)}) {
    auto r = f.request(s, "bad", "tools/list", json::object{{"cursor", bad}});
    ASSERT_TRUE(r);
    EXPECT_EQ(error_code(*r), kInvalidParams) << json::serialize(bad) << " -> " << json::serialize(*r);
  }
}

TEST(McpServer, ToolsCallResults) {
  ServerFixture f;
  auto s = f.session("2025-11-25");
  auto ok = f.call_tool(s, 1, "echo", json::object{{"text", "héllo"}});
  const auto& r = result_of(ok);
  EXPECT_FALSE(is_error(r)) << json::serialize(ok);
  // The plugin input is the JSON of the declared arguments.
  EXPECT_EQ(json::parse(first_text(r)), json::parse(R"({"text": "héllo"})"));
  EXPECT_EQ(r.at("content").as_array()[0].as_object().at("type"), json::value("text"));

  // Undeclared arguments are dropped (as WASImancer's zod schemas do); declared ones keep their order.
  auto extra = f.call_tool(s, 8, "echo", json::parse(R"({"zzz": 1, "text": "x", "aaa": [2]})"));
  EXPECT_FALSE(is_error(result_of(extra))) << json::serialize(extra);
  EXPECT_EQ(first_text(result_of(extra)), R"({"text":"x"})");

  auto up = f.call_tool(s, 2, "shout", json::object{{"text", "abc"}});
  EXPECT_EQ(first_text(result_of(up)), R"({"TEXT":"ABC"})");

  auto dice = f.call_tool(s, 3, "rollDice", json::object{{"numFaces", 6}});
  EXPECT_EQ(first_text(result_of(dice)), "A");

  // The plugin's error is a tool error, with the plugin's text.
  auto fail = f.call_tool(s, 4, "fail", json::object{{"text", "boom"}});
  const auto& fr = result_of(fail);
  EXPECT_TRUE(is_error(fr)) << json::serialize(fail);
  EXPECT_NE(first_text(fr).find("boom"), std::string::npos) << first_text(fr);

  // An unknown tool is a protocol error.
  auto unknown = f.call_tool(s, 5, "nope", json::object{});
  EXPECT_EQ(error_code(unknown), kInvalidParams) << json::serialize(unknown);
  auto no_name = f.request(s, 6, "tools/call", json::object{{"arguments", json::object{}}});
  ASSERT_TRUE(no_name);
  EXPECT_EQ(error_code(*no_name), kInvalidParams);
  auto bad_args = f.request(s, 7, "tools/call", json::object{{"name", "echo"}, {"arguments", "text"}});
  ASSERT_TRUE(bad_args);
  EXPECT_EQ(error_code(*bad_args), kInvalidParams);
}

TEST(McpServer, ArgumentValidationIsToolErrorFrom20251125) {
  ServerFixture f;
  auto s = f.session("2025-11-25");
  for (const json::value& args : invalid_echo_args()) {
    SCOPED_TRACE(json::serialize(args));
    auto resp = f.call_tool(s, "v", "echo", args);
    ASSERT_TRUE(resp.contains("result")) << json::serialize(resp);
    const auto& r = result_of(resp);
    EXPECT_TRUE(is_error(r));
    EXPECT_NE(first_text(r).find("Invalid arguments"), std::string::npos) << first_text(r);
  }
  auto text = f.call_tool(s, "t", "echo", json::parse(R"({"text": 5})"));
  EXPECT_NE(first_text(result_of(text)).find("text: expected string"), std::string::npos) << first_text(result_of(text));
  // An integer argument refuses 2.5.
  auto dice = f.call_tool(s, "d", "rollDice", json::parse(R"({"numFaces": 2.5})"));
  EXPECT_TRUE(is_error(result_of(dice)));
}

TEST(McpServer, ArgumentValidationIsProtocolErrorOn20250618) {
  ServerFixture f;
  auto s = f.session("2025-06-18");
  for (const json::value& args : invalid_echo_args()) {
    SCOPED_TRACE(json::serialize(args));
    auto resp = f.call_tool(s, "v", "echo", args);
    EXPECT_EQ(error_code(resp), kInvalidParams) << json::serialize(resp);
    EXPECT_NE(std::string(resp.at("error").as_object().at("message").as_string()).find("Invalid arguments"), std::string::npos);
  }
  // Valid arguments still work on this version.
  auto ok = f.call_tool(s, "ok", "echo", json::object{{"text", "x"}});
  EXPECT_FALSE(is_error(result_of(ok)));
}

TEST(McpServer, CancelledCallSendsNoResponse) {
  ServerFixture f;
  auto s = f.session("2025-11-25");
  auto out = std::make_shared<RecordingOutbound>();
  auto t0 = std::chrono::steady_clock::now();
  f.server->handle(s, json::parse(R"({"jsonrpc": "2.0", "id": 77, "method": "tools/call", "params": {"name": "infinite_loop"}})"), out);
  // The queue is FIFO: once a task posted after the call runs, a worker has taken the call.
  auto taken = std::make_shared<std::promise<void>>();
  f.workers->post([taken] { taken->set_value(); });
  ASSERT_EQ(taken->get_future().wait_for(10s), std::future_status::ready) << "the call never started";
  std::this_thread::sleep_for(100ms);  // let it spin
  EXPECT_FALSE(out->response(77));
  f.server->handle(s, json::parse(R"({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 77, "reason": "user"}})"),
                   out);
  ASSERT_TRUE(out->wait_done(json::value(77), 20s)) << "the cancelled call never finished";
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 20s);  // far below the plugin's 60 s timeout
  EXPECT_FALSE(out->response(77)) << json::serialize(*out->response(77));
  EXPECT_EQ(out->done_count(json::value(77)), 1u);
  // The worker is free again and the session still works.
  auto ok = f.call_tool(s, 78, "echo", json::object{{"text", "after"}});
  EXPECT_FALSE(is_error(result_of(ok)));
  // Cancelling an id that is not running changes nothing: no answer, and a later request that
  // happens to use that id is served.
  size_t sent = out->count();
  f.server->handle(s, json::parse(R"({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 12345}})"), out);
  EXPECT_EQ(out->count(), sent);
  auto later = f.call_tool(s, 12345, "echo", json::object{{"text", "later"}});
  EXPECT_FALSE(is_error(result_of(later))) << json::serialize(later);
}

TEST(McpServer, ListChangedIsDebouncedAndReachesReadySessions) {
  ServerFixture f(150ms);
  auto ready = f.session("2025-06-18");
  auto ready_stream = std::make_shared<RecordingOutbound>();
  ASSERT_TRUE(ready->attach_stream(ready_stream));
  auto no_stream = f.session("2025-06-18");
  auto not_initialized = f.session("2025-06-18", false);
  auto early_stream = std::make_shared<RecordingOutbound>();
  ASSERT_TRUE(not_initialized->attach_stream(early_stream));

  // A burst of changes.
  auto dice = f.plugins.snapshot()->find_plugin("dice");
  ASSERT_TRUE(dice);
  ASSERT_TRUE(f.plugins.remove("dice").ok());
  ASSERT_TRUE(f.plugins.add(dice).ok());
  ASSERT_TRUE(f.plugins.remove("dice").ok());
  ASSERT_TRUE(f.plugins.add(dice).ok());

  ASSERT_TRUE(ready_stream->wait_method("notifications/tools/list_changed", 1, 10s));
  std::this_thread::sleep_for(600ms);  // well past the debounce: nothing more comes
  EXPECT_EQ(ready_stream->with_method("notifications/tools/list_changed").size(), 1u);
  EXPECT_EQ(ready_stream->count(), 1u);
  EXPECT_EQ(early_stream->count(), 0u);  // not initialized: waits

  // Queued ones arrive once the session is ready.
  auto late = std::make_shared<RecordingOutbound>();
  ASSERT_TRUE(no_stream->attach_stream(late));
  EXPECT_EQ(late->with_method("notifications/tools/list_changed").size(), 1u);
  f.server->handle(not_initialized, json::parse(R"({"jsonrpc": "2.0", "method": "notifications/initialized"})"), early_stream);
  EXPECT_EQ(early_stream->with_method("notifications/tools/list_changed").size(), 1u);

  // A later change is a new notification; prompt changes are their own list.
  ASSERT_TRUE(f.plugins.remove("dice").ok());
  ASSERT_TRUE(ready_stream->wait_method("notifications/tools/list_changed", 2, 10s));
  ASSERT_TRUE(f.prompts.add(json::parse(R"({"name": "p", "messages": [{"role": "user", "text": "hi"}]})")).ok());
  ASSERT_TRUE(ready_stream->wait_method("notifications/prompts/list_changed", 1, 10s));
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(ready_stream->with_method("notifications/tools/list_changed").size(), 2u);
  EXPECT_EQ(ready_stream->with_method("notifications/prompts/list_changed").size(), 1u);

  // tools/list reflects the change.
  auto list = f.request(ready, 1, "tools/list", json::object{{"cursor", base64_encode("offset:2")}});
  ASSERT_TRUE(list);
  const auto& tools = result_of(*list).at("tools").as_array();
  ASSERT_EQ(tools.size(), 2u);
  EXPECT_EQ(tools[0].as_object().at("name"), json::value("fail"));
  EXPECT_EQ(tools[1].as_object().at("name"), json::value("infinite_loop"));
  EXPECT_FALSE(result_of(*list).contains("nextCursor"));
}
