// The MCP-over-HTTP rules, in-process (mcp::HttpHandler, no sockets): every status code and
// header rule of both protocol eras, session lifecycle, SSE framing and resumption, stateless
// 2026-07-28 validation (_meta, MCP-Protocol-Version, Mcp-Method, Mcp-Name, Mcp-Param-*),
// multi-round-trip requestState (tampered, replayed, expired, other request), caching hints.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/crypto.hpp"
#include "mcp/http_handler.hpp"
#include "mcp/request_state.hpp"
#include "http_reply.hpp"
#include "paths.hpp"
#include "registry/catalog.hpp"
#include "registry/plugin_manager.hpp"
#include "registry/registry.hpp"
#include "temp_dir.hpp"

using namespace wasimancer;
using namespace wasimancer::mcp;
using namespace std::chrono_literals;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

const char* kPluginsYml = R"(plugins:
  - name: echo
    path: ./echo.wasm
    version: 1.0.0
    ttlMs: 5000
    functions:
      - function: echo
        arguments:
          - name: text
            type: string
      - function: echo
        displayName: regional
        inputSchema:
          type: object
          properties:
            region: { type: string, x-mcp-header: Region }
            count: { type: integer, x-mcp-header: Count }
          required: [region]
  - name: mcp
    path: ./mcp_features.wasm
    functions:
      - function: ask_user
      - function: ask_model
        requiresCapabilities: [sampling]
)";

const char* kResourcesYml = R"(resources:
  static:
    - name: info
      uri: config://info
      cacheScope: private
      contents:
        - text: hello
)";

using Reply = test::HttpReply;

struct Fixture {
  test::TempDir tmp;
  registry::Registry plugins;
  registry::ResourceCatalog resources;
  registry::PromptCatalog prompts{std::nullopt};
  std::unique_ptr<registry::PluginManager> manager;
  std::unique_ptr<WorkerPool> workers;
  std::unique_ptr<Server> server;
  std::unique_ptr<HttpHandler> handler;

  static fs::path write_resources(const fs::path& dir) {
    fs::create_directories(dir);
    test::spit(dir / "resources.yml", kResourcesYml);
    return dir / "resources.yml";
  }

  explicit Fixture(std::optional<std::string> token = std::nullopt, ServerConfig cfg = {})
      : resources(write_resources(tmp.path() / "resources")) {
    fs::path dir = tmp.path() / "plugins";
    fs::create_directories(dir);
    fs::copy_file(test::test_plugin("echo"), dir / "echo.wasm");
    fs::copy_file(test::test_plugin("mcp_features"), dir / "mcp_features.wasm");
    test::spit(dir / "plugins.yml", kPluginsYml);
    registry::PluginPaths paths;
    paths.plugins_dir = dir;
    paths.upload_dir = dir;
    manager = std::make_unique<registry::PluginManager>(plugins, paths, registry::LoadOptions{});
    if (auto r = manager->load(false); !r) throw std::runtime_error(r.error().message);
    if (auto r = resources.load(false); !r) throw std::runtime_error(r.error().message);
    workers = std::make_unique<WorkerPool>(2);
    server = std::make_unique<Server>(Catalogs{plugins, resources, prompts}, *workers, std::move(cfg));
    HttpRules rules;
    rules.mcp_token = token;
    rules.max_body_bytes = 1000;
    handler = std::make_unique<HttpHandler>(*server, rules);
  }
  ~Fixture() {
    handler.reset();
    workers.reset();
    server.reset();
  }

  // One request through the handler as a transport would send it. Streams are read to their
  // end (or `wait` for a stream that stays open, then kept in Reply::stream).
  Reply send(std::string method, std::string target, std::vector<std::pair<std::string, std::string>> headers, std::string body = "",
             std::chrono::milliseconds wait = 10s) {
    HttpRequestHead head{std::move(method), std::move(target), std::move(headers), ""};
    HttpAnswer a;
    if (auto refused = handler->check_host_origin(head)) {
      a = std::move(*refused);
    } else {
      auto early = handler->on_header(head);
      if (auto* ans = std::get_if<HttpAnswer>(&early)) {
        a = std::move(*ans);
      } else {
        EXPECT_LE(body.size(), std::get<uint64_t>(early));
        a = handler->on_body(head, std::move(body));
      }
    }
    return test::read_reply(std::move(a), wait, 10s);
  }

  // Reads more of an open stream for up to `wait`.
  static void more(Reply& r, std::chrono::milliseconds wait) { r.more(wait); }
};

using Headers = std::vector<std::pair<std::string, std::string>>;
const Headers kJson = {{"Content-Type", "application/json"}, {"Accept", "application/json"}};
const Headers kBoth = {{"Content-Type", "application/json"}, {"Accept", "application/json, text/event-stream"}};

Headers with(Headers h, std::vector<std::pair<std::string, std::string>> more) {
  for (auto& kv : more) h.push_back(std::move(kv));
  return h;
}

std::string init_body(std::string_view version = "2025-11-25") {
  return fmt::format(R"({{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":"{}","capabilities":{{}},"clientInfo":{{"name":"t","version":"1"}}}}}})",
                     version);
}

// A stateless (2026-07-28) request with its _meta and standard headers.
std::string stateless_body(std::string_view method, json::object params = {}, json::value id = 7, json::object caps = {}) {
  json::object meta{{"io.modelcontextprotocol/protocolVersion", "2026-07-28"},
                    {"io.modelcontextprotocol/clientCapabilities", caps}};
  if (auto* m = params.if_contains("_meta"); m && m->is_object()) {
    for (const auto& kv : m->as_object()) meta[kv.key()] = kv.value();
  }
  params["_meta"] = meta;
  return json::serialize(json::object{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}});
}
Headers stateless_headers(std::string_view method, std::string_view name = "") {
  Headers h = with(kJson, {{"MCP-Protocol-Version", "2026-07-28"}, {"Mcp-Method", std::string(method)}});
  if (!name.empty()) h.emplace_back("Mcp-Name", std::string(name));
  return h;
}

}  // namespace

// ---- routes, Host/Origin, authentication ----------------------------------------------------------

TEST(HttpHandler, HealthAndRootNeedNoTokenAndUnknownPathsAre404) {
  Fixture f("secret");
  auto health = f.send("GET", "/health", {});
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, R"({"status":"ok"})");
  auto root = f.send("GET", "/", {});
  EXPECT_EQ(root.status, 200);
  EXPECT_EQ(root.json().at("mcp"), "/mcp");
  EXPECT_EQ(root.json().at("health"), "/health");
  auto missing = f.send("GET", "/nope", {});
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.body.find("/mcp"), std::string::npos) << missing.body;
}

TEST(HttpHandler, HostAndOriginAreCheckedFirst) {
  Fixture f;
  EXPECT_EQ(f.send("POST", "/mcp", with(kJson, {{"Host", "evil.example.com"}}), init_body()).status, 403);
  EXPECT_EQ(f.send("GET", "/health", {{"Host", "evil.example.com:3001"}}).status, 403);
  EXPECT_EQ(f.send("POST", "/mcp", with(kJson, {{"Origin", "https://evil.example.com"}}), init_body()).status, 403);
  EXPECT_EQ(f.send("POST", "/mcp", with(kJson, {{"Origin", "null"}}), init_body()).status, 403);
  for (const char* host : {"localhost:3001", "127.0.0.1", "[::1]:80", "app.localhost", "mcp-server"}) {
    EXPECT_EQ(f.send("GET", "/health", {{"Host", host}}).status, 200) << host;
  }
  EXPECT_EQ(f.send("POST", "/mcp", with(kJson, {{"Host", "localhost"}, {"Origin", "http://localhost:5173"}}), init_body()).status, 200);
}

TEST(HttpHandler, MissingOrWrongTokenIs401WithWwwAuthenticate) {
  Fixture f("secret");
  for (const auto& auth : std::vector<std::string>{"", "Bearer nope", "Basic c2VjcmV0", "Bearer secretX"}) {
    Headers h = kJson;
    if (!auth.empty()) h.emplace_back("Authorization", auth);
    auto r = f.send("POST", "/mcp", h, init_body());
    EXPECT_EQ(r.status, 401) << auth;
    EXPECT_NE(r.header("WWW-Authenticate").find("Bearer error=\"invalid_token\""), std::string::npos);
    EXPECT_EQ(r.body.find("secret"), std::string::npos) << "the token is never echoed";
  }
  for (const char* path : {"/sse", "/messages?sessionId=x"}) {
    EXPECT_EQ(f.send(std::string_view(path) == "/sse" ? "GET" : "POST", path, kJson).status, 401) << path;
  }
  EXPECT_EQ(f.send("POST", "/mcp", with(kJson, {{"Authorization", "bearer secret"}}), init_body()).status, 200);
}

TEST(HttpHandler, MethodsNotAllowedAre405WithAllow) {
  Fixture f;
  auto put = f.send("PUT", "/mcp", kJson);
  EXPECT_EQ(put.status, 405);
  EXPECT_EQ(put.header("Allow"), "GET, POST, DELETE");
  EXPECT_EQ(f.send("POST", "/sse", kJson).header("Allow"), "GET");
  EXPECT_EQ(f.send("GET", "/messages?sessionId=x", {}).header("Allow"), "POST");
  auto get26 = f.send("GET", "/mcp", {{"Accept", "text/event-stream"}, {"MCP-Protocol-Version", "2026-07-28"}});
  EXPECT_EQ(get26.status, 405) << "2026-07-28 has no GET stream";
  EXPECT_EQ(get26.header("Allow"), "POST");
}

// ---- Streamable HTTP, the stateful era -------------------------------------------------------------

TEST(HttpHandler, PostHeaderRules) {
  Fixture f;
  EXPECT_EQ(f.send("POST", "/mcp", {{"Content-Type", "application/json"}, {"Accept", "text/html"}}, init_body()).status, 406);
  EXPECT_EQ(f.send("POST", "/mcp", {{"Content-Type", "text/plain"}, {"Accept", "application/json"}}, init_body()).status, 415);
  auto bad_version = f.send("POST", "/mcp", with(kJson, {{"MCP-Protocol-Version", "1999-01-01"}}),
                            R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})");
  EXPECT_EQ(bad_version.status, 400);
  EXPECT_EQ(bad_version.code(), kServerError);
  EXPECT_NE(bad_version.body.find("2026-07-28, 2025-11-25"), std::string::npos) << "lists what we support";
  // The body limit comes with the header's answer, before the body is read.
  HttpRequestHead head{"POST", "/mcp", kJson, ""};
  auto early = f.handler->on_header(head);
  ASSERT_TRUE(std::holds_alternative<uint64_t>(early));
  EXPECT_EQ(std::get<uint64_t>(early), 1000u);
}

TEST(HttpHandler, MalformedBodiesAre400) {
  Fixture f;
  auto parse = f.send("POST", "/mcp", kJson, "{not json");
  EXPECT_EQ(parse.status, 400);
  EXPECT_EQ(parse.code(), kParseError);
  auto invalid = f.send("POST", "/mcp", kJson, R"({"jsonrpc":"1.0","id":1,"method":"ping"})");
  EXPECT_EQ(invalid.status, 400);
  EXPECT_EQ(invalid.code(), kInvalidRequest);
  EXPECT_EQ(f.send("POST", "/mcp", kJson, "[]").code(), kInvalidRequest);
  auto in_batch = f.send("POST", "/mcp", kJson, R"([{"jsonrpc":"2.0","id":1,"method":"ping"}, 5])");
  EXPECT_EQ(in_batch.status, 400);
  EXPECT_NE(in_batch.body.find("in a batch"), std::string::npos);
}

TEST(HttpHandler, SessionLifecycle) {
  Fixture f;
  auto init = f.send("POST", "/mcp", kJson, init_body());
  ASSERT_EQ(init.status, 200);
  EXPECT_EQ(init.content_type, "application/json");
  std::string sid = init.header("Mcp-Session-Id");
  ASSERT_FALSE(sid.empty());
  EXPECT_EQ(init.json().at_pointer("/result/protocolVersion"), "2025-11-25");
  auto with_sid = [&](Headers h) { return with(std::move(h), {{"Mcp-Session-Id", sid}, {"MCP-Protocol-Version", "2025-11-25"}}); };

  // Notifications and responses only: 202, no body.
  auto note = f.send("POST", "/mcp", with_sid(kJson), R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  EXPECT_EQ(note.status, 202);
  EXPECT_TRUE(note.body.empty());
  // A second initialize on the session is 400; initialize in a batch is 400.
  EXPECT_EQ(f.send("POST", "/mcp", with_sid(kJson), init_body()).status, 400);
  EXPECT_EQ(f.send("POST", "/mcp", kJson, "[" + init_body() + R"(,{"jsonrpc":"2.0","id":2,"method":"ping"}])").status, 400);
  // SSE when the client takes it: a priming event (2025-11-25) then the answer.
  auto sse = f.send("POST", "/mcp", with_sid(kBoth), R"({"jsonrpc":"2.0","id":2,"method":"ping"})");
  EXPECT_EQ(sse.status, 200);
  EXPECT_TRUE(sse.streamed);
  EXPECT_EQ(sse.content_type, "text/event-stream");
  EXPECT_EQ(sse.body.rfind("id: ", 0), 0u) << sse.body;
  EXPECT_NE(sse.body.find("retry: 3000\ndata: \n\n"), std::string::npos) << sse.body;
  ASSERT_EQ(sse.events().size(), 1u);
  EXPECT_EQ(sse.events()[0].at("id"), 2);
  // Batches answer in one JSON array.
  auto batch = f.send("POST", "/mcp", with_sid(kJson), R"([{"jsonrpc":"2.0","id":"a","method":"ping"},{"jsonrpc":"2.0","id":"b","method":"ping"}])");
  EXPECT_EQ(batch.status, 200);
  EXPECT_EQ(batch.json().as_array().size(), 2u);
  // Unknown session: 404 (-32001); an initialize with a stale id starts a new session.
  auto unknown = f.send("POST", "/mcp", with(kJson, {{"Mcp-Session-Id", "stale"}}), R"({"jsonrpc":"2.0","id":3,"method":"ping"})");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.code(), kSessionNotFound);
  auto reinit = f.send("POST", "/mcp", with(kJson, {{"Mcp-Session-Id", "stale"}}), init_body());
  EXPECT_EQ(reinit.status, 200);
  EXPECT_FALSE(reinit.header("Mcp-Session-Id").empty());
  EXPECT_NE(reinit.header("Mcp-Session-Id"), "stale");

  // The GET stream: 406 without SSE, one per session (409 for a second).
  EXPECT_EQ(f.send("GET", "/mcp", {{"Mcp-Session-Id", sid}, {"Accept", "application/json"}}).status, 406);
  auto stream = f.send("GET", "/mcp", {{"Mcp-Session-Id", sid}, {"Accept", "text/event-stream"}}, "", 100ms);
  EXPECT_EQ(stream.status, 200);
  ASSERT_TRUE(stream.stream);
  EXPECT_EQ(f.send("GET", "/mcp", {{"Mcp-Session-Id", sid}, {"Accept", "text/event-stream"}}, "", 100ms).status, 409);
  EXPECT_EQ(f.send("GET", "/mcp", {{"Mcp-Session-Id", "nope"}, {"Accept", "text/event-stream"}}).status, 404);
  stream.stream->finish();  // the client goes: the stream detaches, a new one may attach
  auto again = f.send("GET", "/mcp", {{"Mcp-Session-Id", sid}, {"Accept", "text/event-stream"}}, "", 100ms);
  EXPECT_EQ(again.status, 200);
  ASSERT_TRUE(again.stream);

  // DELETE: 400 without the header, 404 unknown, 200; then the session is gone.
  EXPECT_EQ(f.send("DELETE", "/mcp", {}).status, 400);
  EXPECT_EQ(f.send("DELETE", "/mcp", {{"Mcp-Session-Id", "nope"}}).status, 404);
  EXPECT_EQ(f.send("DELETE", "/mcp", {{"Mcp-Session-Id", sid}}).status, 200);
  // ... and its GET stream ends (the transport writes the last chunk and the connection is free).
  ResponseStream::Part part;
  bool ended = false;
  while (!ended && again.stream->wait_pop(part, 10s)) ended = part.kind == ResponseStream::Part::End;
  EXPECT_TRUE(ended) << "the GET stream of a deleted session is still open";
  again.stream->finish();
  EXPECT_EQ(f.send("POST", "/mcp", with_sid(kJson), R"({"jsonrpc":"2.0","id":4,"method":"ping"})").status, 404);
}

TEST(HttpHandler, WithoutASessionRequestsAreServedStatelessly) {
  Fixture f;
  auto list = f.send("POST", "/mcp", kJson, R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})");
  EXPECT_EQ(list.status, 200);
  EXPECT_TRUE(list.header("Mcp-Session-Id").empty());
  EXPECT_FALSE(list.json().at_pointer("/result").as_object().contains("ttlMs")) << "no 2026 fields for older versions";
  // server/discover does not exist before 2026-07-28 (dual-era clients fall back on -32601).
  auto discover = f.send("POST", "/mcp", kJson, R"({"jsonrpc":"2.0","id":1,"method":"server/discover","params":{}})");
  EXPECT_EQ(discover.status, 200);
  EXPECT_EQ(discover.code(), kMethodNotFound);
}

TEST(HttpHandler, SseAnswersResumeWithLastEventId) {
  Fixture f;
  auto init = f.send("POST", "/mcp", kJson, init_body());
  std::string sid = init.header("Mcp-Session-Id");
  Headers h = with(kBoth, {{"Mcp-Session-Id", sid}, {"MCP-Protocol-Version", "2025-11-25"}});
  auto sse = f.send("POST", "/mcp", h, R"({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}})");
  ASSERT_EQ(sse.events().size(), 1u);
  // The priming event's id names the stream: a reconnect after it gets everything after it.
  std::string prime_id = sse.body.substr(4, sse.body.find('\n') - 4);
  auto resumed = f.send("GET", "/mcp", {{"Mcp-Session-Id", sid}, {"Accept", "text/event-stream"}, {"Last-Event-ID", prime_id}});
  EXPECT_EQ(resumed.status, 200);
  ASSERT_EQ(resumed.events().size(), 1u) << resumed.body;
  EXPECT_EQ(resumed.events()[0].at("id"), 9);
}

// ---- the legacy HTTP+SSE transport ------------------------------------------------------------------

TEST(HttpHandler, LegacySseTransport) {
  Fixture f;
  auto stream = f.send("GET", "/sse", {{"Accept", "text/event-stream"}}, "", 200ms);
  ASSERT_TRUE(stream.stream);
  EXPECT_EQ(stream.status, 200);
  const std::string marker = "event: endpoint\ndata: /messages?sessionId=";
  auto pos = stream.body.find(marker);
  ASSERT_NE(pos, std::string::npos) << stream.body;
  pos += marker.size();
  std::string sid = stream.body.substr(pos, stream.body.find('\n', pos) - pos);
  std::string target = "/messages?sessionId=" + sid;
  EXPECT_EQ(f.send("POST", "/messages", kJson).status, 400);
  EXPECT_EQ(f.send("POST", "/messages?sessionId=nope", kJson).status, 404);
  EXPECT_EQ(f.send("POST", target, {{"Content-Type", "text/plain"}}).status, 415);
  auto posted = f.send("POST", target, kJson, init_body());
  EXPECT_EQ(posted.status, 202);
  Fixture::more(stream, 300ms);
  ASSERT_FALSE(stream.events().empty()) << stream.body;
  EXPECT_EQ(json::value(stream.events().back()).at_pointer("/result/protocolVersion"), "2025-11-25");
  // The legacy session lives as long as its stream.
  EXPECT_NE(f.server->find_session(sid), nullptr);
  stream.stream->finish();
  EXPECT_EQ(f.server->find_session(sid), nullptr);
}

// ---- 2026-07-28: stateless requests -------------------------------------------------------------------

TEST(HttpHandler, StatelessMetaIsRequired) {
  Fixture f;
  auto no_meta = f.send("POST", "/mcp", stateless_headers("server/discover"),
                        R"({"jsonrpc":"2.0","id":101,"method":"server/discover","params":{}})");
  EXPECT_EQ(no_meta.status, 400);
  EXPECT_EQ(no_meta.code(), kInvalidParams);
  EXPECT_EQ(no_meta.json().at("id"), 101) << "errors carry the request's id";
  auto no_caps = f.send("POST", "/mcp", stateless_headers("server/discover"),
                        R"({"jsonrpc":"2.0","id":102,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}})");
  EXPECT_EQ(no_caps.status, 400);
  EXPECT_EQ(no_caps.code(), kInvalidParams);
  // clientInfo is optional.
  auto ok = f.send("POST", "/mcp", stateless_headers("server/discover"), stateless_body("server/discover"));
  EXPECT_EQ(ok.status, 200) << ok.body;
  json::value ok_json = ok.json();
  const auto& result = ok_json.at("result").as_object();
  EXPECT_EQ(result.at("resultType"), "complete");
  EXPECT_EQ(result.at("supportedVersions").as_array().front(), "2026-07-28");
  EXPECT_TRUE(result.at("capabilities").as_object().contains("tools"));
  EXPECT_FALSE(result.at("capabilities").as_object().contains("logging")) << "logging/setLevel is gone in 2026-07-28";
  EXPECT_TRUE(json::value(result).at_pointer("/capabilities/extensions").as_object().contains("io.modelcontextprotocol/tasks"));
  EXPECT_TRUE(result.contains("ttlMs"));
  EXPECT_EQ(json::value(result).at_pointer("/_meta/io.modelcontextprotocol~1serverInfo/name"), "wasimancer");
}

TEST(HttpHandler, StatelessVersionRules) {
  Fixture f;
  // Header and _meta disagree: -32020.
  auto mismatch = f.send("POST", "/mcp", stateless_headers("server/discover"),
                         R"({"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"v999","io.modelcontextprotocol/clientCapabilities":{}}}})");
  EXPECT_EQ(mismatch.status, 400);
  EXPECT_EQ(mismatch.code(), kHeaderMismatch);
  // Both name a version we do not speak: -32022 with what we support and what was asked.
  auto unsupported = f.send("POST", "/mcp", with(kJson, {{"MCP-Protocol-Version", "v999"}, {"Mcp-Method", "server/discover"}}),
                            R"({"jsonrpc":"2.0","id":2,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"v999","io.modelcontextprotocol/clientCapabilities":{}}}})");
  EXPECT_EQ(unsupported.status, 400);
  EXPECT_EQ(unsupported.code(), kUnsupportedProtocolVersion);
  EXPECT_EQ(unsupported.json().at_pointer("/error/data/requested"), "v999");
  EXPECT_EQ(unsupported.json().at_pointer("/error/data/supported").as_array().size(), kSupportedVersions.size());
  // No header at all: -32020.
  auto no_header = f.send("POST", "/mcp", with(kJson, {{"Mcp-Method", "server/discover"}}), stateless_body("server/discover"));
  EXPECT_EQ(no_header.status, 400);
  EXPECT_EQ(no_header.code(), kHeaderMismatch);
  // Batches do not exist in 2026-07-28.
  EXPECT_EQ(f.send("POST", "/mcp", stateless_headers("server/discover"), "[" + stateless_body("server/discover") + "]").status, 400);
}

TEST(HttpHandler, StatelessMethodAndNameHeaders) {
  Fixture f;
  std::string list = stateless_body("tools/list");
  EXPECT_EQ(f.send("POST", "/mcp", with(kJson, {{"MCP-Protocol-Version", "2026-07-28"}}), list).code(), kHeaderMismatch) << "missing";
  EXPECT_EQ(f.send("POST", "/mcp", stateless_headers("prompts/list"), list).code(), kHeaderMismatch) << "mismatched";
  EXPECT_EQ(f.send("POST", "/mcp", stateless_headers("TOOLS/LIST"), list).code(), kHeaderMismatch) << "values are case-sensitive";
  auto lower = f.send("POST", "/mcp", with(kJson, {{"mcp-protocol-version", "2026-07-28"}, {"mcp-method", "tools/list"}}), list);
  EXPECT_EQ(lower.status, 200) << "names are not: " << lower.body;
  json::value lower_json = lower.json();
  const auto& result = lower_json.at("result").as_object();
  EXPECT_EQ(result.at("ttlMs"), 5000) << "the plugin's ttlMs (smaller than the default)";
  EXPECT_EQ(result.at("cacheScope"), "public");

  json::object call{{"name", "echo"}, {"arguments", json::object{{"text", "hi"}}}};
  std::string body = stateless_body("tools/call", call);
  EXPECT_EQ(f.send("POST", "/mcp", stateless_headers("tools/call"), body).code(), kHeaderMismatch) << "Mcp-Name missing";
  EXPECT_EQ(f.send("POST", "/mcp", stateless_headers("tools/call", "other"), body).code(), kHeaderMismatch) << "Mcp-Name mismatched";
  auto ok = f.send("POST", "/mcp", stateless_headers("tools/call", "  echo  "), body);
  EXPECT_EQ(ok.status, 200) << "whitespace around values is not part of them: " << ok.body;
  EXPECT_EQ(ok.json().at_pointer("/result/resultType"), "complete");
  EXPECT_EQ(ok.json().at_pointer("/result/content/0/text"), R"({"text":"hi"})");

  json::object read{{"uri", "config://info"}};
  auto res = f.send("POST", "/mcp", stateless_headers("resources/read", "config://info"), stateless_body("resources/read", read));
  EXPECT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(res.json().at_pointer("/result/cacheScope"), "private") << "the resource's own cacheScope";
  auto missing = f.send("POST", "/mcp", stateless_headers("resources/read", "config://none"),
                        stateless_body("resources/read", json::object{{"uri", "config://none"}}));
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(missing.code(), kInvalidParams) << "2026-07-28: an unknown resource is -32602";
}

TEST(HttpHandler, StatelessRemovedAndUnknownMethodsAre404) {
  Fixture f;
  for (const char* m : {"initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe", "no/such"}) {
    auto r = f.send("POST", "/mcp", stateless_headers(m), stateless_body(m, {}, 500));
    EXPECT_EQ(r.status, 404) << m;
    EXPECT_EQ(r.code(), kMethodNotFound) << m;
    EXPECT_EQ(r.json().at("id"), 500) << m;
  }
}

TEST(HttpHandler, CustomParameterHeaders) {
  Fixture f;
  auto call = [&](json::object args, Headers extra) {
    std::string body = stateless_body("tools/call", json::object{{"name", "regional"}, {"arguments", std::move(args)}});
    return f.send("POST", "/mcp", with(stateless_headers("tools/call", "regional"), std::move(extra)), body);
  };
  EXPECT_EQ(call({{"region", "eu"}}, {}).code(), kHeaderMismatch) << "the header is required when the argument is given";
  EXPECT_EQ(call({{"region", "eu"}}, {{"Mcp-Param-Region", "us"}}).code(), kHeaderMismatch);
  EXPECT_EQ(call({{"region", "eu"}}, {{"Mcp-Param-Region", "eu"}}).status, 200);
  EXPECT_EQ(call({{"region", "Hello"}}, {{"mcp-param-region", "=?base64?SGVsbG8=?="}}).status, 200) << "Base64 is decoded";
  EXPECT_EQ(call({{"region", "Hello"}}, {{"Mcp-Param-Region", "=?base64?SGVsbG8?="}}).code(), kHeaderMismatch) << "bad padding";
  EXPECT_EQ(call({{"region", "Hello"}}, {{"Mcp-Param-Region", "=?base64?SGVs!!!bG8=?="}}).code(), kHeaderMismatch) << "bad alphabet";
  EXPECT_EQ(call({{"region", "SGVsbG8="}}, {{"Mcp-Param-Region", "SGVsbG8="}}).status, 200) << "no prefix: literal";
  EXPECT_EQ(call({{"region", "eu"}, {"count", 3}}, {{"Mcp-Param-Region", "eu"}, {"Mcp-Param-Count", "3"}}).status, 200) << "numbers as text";
}

TEST(HttpHandler, MissingRequiredCapabilityIs400) {
  Fixture f;
  auto r = f.send("POST", "/mcp", stateless_headers("tools/call", "ask_model"),
                  stateless_body("tools/call", json::object{{"name", "ask_model"}, {"arguments", json::object{}}}));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.code(), kMissingRequiredClientCapability);
  EXPECT_TRUE(r.json().at_pointer("/error/data/requiredCapabilities").as_object().contains("sampling"));
}

TEST(HttpHandler, MultiRoundTripResumesOnceWithAnIntactState) {
  Fixture f;
  json::object caps{{"elicitation", json::object{}}};
  auto call = [&](json::object extra) {
    json::object params{{"name", "ask_user"}, {"arguments", json::object{}}};
    for (auto& kv : extra) params[kv.key()] = kv.value();
    return f.send("POST", "/mcp", stateless_headers("tools/call", "ask_user"), stateless_body("tools/call", params, 1, caps));
  };
  auto r1 = call({});
  ASSERT_EQ(r1.status, 200) << r1.body;
  json::value r1_json = r1.json();
  const auto& irr = r1_json.at("result").as_object();
  EXPECT_EQ(irr.at("resultType"), "input_required");
  ASSERT_TRUE(irr.at("inputRequests").as_object().contains("elicitation-1")) << r1.body;
  EXPECT_EQ(json::value(irr).at_pointer("/inputRequests/elicitation-1/method"), "elicitation/create");
  std::string state(irr.at("requestState").as_string());
  json::object answer{{"elicitation-1", json::object{{"action", "accept"}, {"content", json::object{{"name", "Ann"}}}}}};

  auto tampered = call({{"inputResponses", answer}, {"requestState", state + "x"}});
  EXPECT_EQ(tampered.status, 400);
  EXPECT_EQ(tampered.code(), kInvalidParams);
  EXPECT_NE(tampered.body.find("integrity"), std::string::npos) << tampered.body;

  auto r2 = call({{"inputResponses", answer}, {"requestState", state}});
  ASSERT_EQ(r2.status, 200) << r2.body;
  EXPECT_EQ(r2.json().at_pointer("/result/resultType"), "complete");
  EXPECT_NE(json::serialize(r2.json().at_pointer("/result/content/0/text")).find("Ann"), std::string::npos) << r2.body;

  auto replay = call({{"inputResponses", answer}, {"requestState", state}});
  EXPECT_EQ(replay.code(), kInvalidParams);
  EXPECT_NE(replay.body.find("already used"), std::string::npos) << replay.body;

  auto invalid = call({{"inputResponses", json::object{{"elicitation-1", 12345}}}});
  EXPECT_EQ(invalid.code(), kInvalidParams) << "answers must be objects";
  // A state of another tool's call is refused.
  auto other = f.send("POST", "/mcp", stateless_headers("tools/call", "echo"),
                      stateless_body("tools/call", json::object{{"name", "echo"}, {"arguments", json::object{{"text", "x"}}}, {"requestState", state}}, 2, caps));
  EXPECT_EQ(other.code(), kInvalidParams);
}

TEST(HttpHandler, ExpiredAndOversizedStatesAreRefused) {
  RequestStateCodec past("key", std::chrono::seconds(-1), 4096);
  RequestState s{"tools/call", "t", RequestStateCodec::hash_arguments(json::object{}), {}};
  auto text = std::get<std::string>(past.encode(s));
  auto opened = past.decode(text, s);
  ASSERT_TRUE(std::holds_alternative<RpcError>(opened));
  EXPECT_NE(std::get<RpcError>(opened).message.find("expired"), std::string::npos);
  // Another key (another deployment) cannot open it; the same key (another replica) can.
  RequestStateCodec a("shared", std::chrono::seconds(60), 4096), b("shared", std::chrono::seconds(60), 4096), c("other", std::chrono::seconds(60), 4096);
  auto t2 = std::get<std::string>(a.encode(s));
  EXPECT_TRUE(std::holds_alternative<RpcError>(c.decode(t2, s)));
  EXPECT_TRUE(std::holds_alternative<RequestState>(b.decode(t2, s)));
  // Size bound: a state with large answers is not made, and a large one is not read.
  RequestStateCodec small("k", std::chrono::seconds(60), 200);
  s.answers["a"] = json::object{{"text", std::string(500, 'x')}};
  EXPECT_TRUE(std::holds_alternative<RpcError>(small.encode(s)));
  EXPECT_TRUE(std::holds_alternative<RpcError>(small.decode(std::string(300, 'y'), s)));
}
