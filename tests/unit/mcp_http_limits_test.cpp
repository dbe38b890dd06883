// Issue 15, the MCP-over-HTTP limits, in-process (mcp::HttpHandler, no sockets):
//  - a cap on one call's output (a clear tool error);
//  - a response budget per POST, a batch's answers counted together (JSON, SSE, stateless and
//    legacy answers), every request still answered;
//  - SSE streams whose client does not read are cut off and the session's queue freed;
//  - opaque origins ("null", file://) refused unless listed;
//  - sessions evicted per client, never another client's because one opened many.
#include <gtest/gtest.h>

#include <filesystem>

#include "mcp/http_handler.hpp"
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
  - name: bulk
    path: ./bulk.wasm
    functions:
      - function: repeat
        arguments:
          - name: n
            type: string
  - name: echo
    path: ./echo.wasm
    functions:
      - function: echo
        arguments:
          - name: text
            type: string
)";

using Headers = std::vector<std::pair<std::string, std::string>>;
const Headers kJson = {{"Content-Type", "application/json"}, {"Accept", "application/json"}};
const Headers kBoth = {{"Content-Type", "application/json"}, {"Accept", "application/json, text/event-stream"}};

using Reply = test::HttpReply;

struct Fixture {
  test::TempDir tmp;
  registry::Registry plugins;
  registry::ResourceCatalog resources{std::nullopt};
  registry::PromptCatalog prompts{std::nullopt};
  std::unique_ptr<registry::PluginManager> manager;
  std::unique_ptr<WorkerPool> workers;
  std::unique_ptr<Server> server;
  std::unique_ptr<HttpHandler> handler;

  explicit Fixture(HttpRules rules = {}, ServerConfig cfg = {}) {
    fs::path dir = tmp.path() / "plugins";
    fs::create_directories(dir);
    fs::copy_file(test::test_plugin("bulk"), dir / "bulk.wasm");
    fs::copy_file(test::test_plugin("echo"), dir / "echo.wasm");
    test::spit(dir / "plugins.yml", kPluginsYml);
    registry::PluginPaths paths;
    paths.plugins_dir = dir;
    paths.upload_dir = dir;
    manager = std::make_unique<registry::PluginManager>(plugins, paths, registry::LoadOptions{});
    if (auto r = manager->load(false); !r) throw std::runtime_error(r.error().message);
    workers = std::make_unique<WorkerPool>(2);
    server = std::make_unique<Server>(Catalogs{plugins, resources, prompts}, *workers, std::move(cfg));
    handler = std::make_unique<HttpHandler>(*server, std::move(rules));
  }
  ~Fixture() {
    handler.reset();
    workers.reset();
    server.reset();
  }

  HttpAnswer answer(const HttpRequestHead& head, std::string body) {
    if (auto refused = handler->check_host_origin(head)) return std::move(*refused);
    auto early = handler->on_header(head);
    if (auto* a = std::get_if<HttpAnswer>(&early)) return std::move(*a);
    return handler->on_body(head, std::move(body));
  }

  // One request, its answer read to the end (or for `wait` if the stream stays open).
  Reply send(std::string method, std::string target, Headers headers, std::string body = "", std::string client = "",
             std::chrono::milliseconds wait = 10s) {
    HttpRequestHead head{std::move(method), std::move(target), std::move(headers), std::move(client)};
    return test::read_reply(answer(head, std::move(body)), wait);
  }

  // Reads more of an open stream (for up to 100 ms).
  static void more_into(Reply& r) { r.more(100ms); }

  std::string initialize(const std::string& client) {
    auto r = send("POST", "/mcp", kJson,
                  R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})",
                  client);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.header("Mcp-Session-Id");
  }
};

Headers with_session(Headers h, const std::string& sid) {
  h.emplace_back("Mcp-Session-Id", sid);
  return h;
}

std::string call(int id, std::string_view tool, std::string_view arg_json) {
  return fmt::format(R"({{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{{"name":"{}","arguments":{}}}}})", id, tool, arg_json);
}

std::string repeat_batch(int count, size_t bytes) {
  std::string b = "[";
  for (int i = 0; i < count; ++i) {
    if (i) b += ",";
    b += call(i + 1, "repeat", fmt::format(R"({{"n":"{}"}})", bytes));
  }
  return b + "]";
}

// Checks the answers of a batch of `count` calls of `bytes` each: every id answered once, the
// results that fit the budget whole, the rest -32000 errors naming the setting.
void expect_within_budget(const Reply& r, int count, size_t bytes, size_t budget) {
  auto msgs = r.messages();
  ASSERT_EQ(msgs.size(), static_cast<size_t>(count)) << r.body.substr(0, 300);
  std::set<int64_t> ids;
  size_t results = 0, errors = 0;
  for (const auto& m : msgs) {
    ids.insert(m.at("id").as_int64());
    if (auto* res = m.if_contains("result")) {
      ++results;
      EXPECT_EQ(res->at("content").at(0).at("text").as_string().size(), bytes);
    } else {
      ++errors;
      EXPECT_EQ(m.at("error").at("code").as_int64(), kServerError);
      EXPECT_NE(std::string(m.at("error").at("message").as_string()).find("WASIMANCER_MAX_RESPONSE_BYTES"), std::string::npos);
    }
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(count)) << "every request is answered once";
  EXPECT_EQ(results, budget / (bytes + 200)) << "as many results as the budget holds";
  EXPECT_GT(errors, 0u);
  EXPECT_LE(r.body.size(), budget + count * 600) << "the answer stays within the budget (plus the small errors)";
}

}  // namespace

// ---- the output cap --------------------------------------------------------------------------------

TEST(HttpLimits, AnOutputOverTheCapIsAClearToolError) {
  ServerConfig cfg;
  cfg.max_output_bytes = 100000;
  Fixture f({}, cfg);
  auto small = f.send("POST", "/mcp", kJson, call(1, "repeat", R"({"n":"100000"})"));
  auto m = small.messages();
  ASSERT_EQ(m.size(), 1u) << small.body;
  EXPECT_FALSE(m[0].at("result").as_object().contains("isError"));
  EXPECT_EQ(m[0].at("result").at("content").at(0).at("text").as_string().size(), 100000u);

  auto big = f.send("POST", "/mcp", kJson, call(2, "repeat", R"({"n":"100001"})"));
  m = big.messages();
  ASSERT_EQ(m.size(), 1u) << big.body;
  EXPECT_EQ(m[0].at("result").at("isError"), json::value(true));
  std::string text(m[0].at("result").at("content").at(0).at("text").as_string());
  EXPECT_NE(text.find("100001 bytes"), std::string::npos) << text;
  EXPECT_NE(text.find("WASIMANCER_MAX_OUTPUT_BYTES"), std::string::npos) << text;
  EXPECT_LT(big.body.size(), 1000u);
}

// ---- the response budget ----------------------------------------------------------------------------

TEST(HttpLimits, ABatchsAnswersShareOneBudgetAsJson) {
  HttpRules rules;
  rules.max_response_bytes = 64 * 1024;
  Fixture f(rules);
  // 840 bytes of request would have asked for 20 x 20 KB = 400 KB of answer.
  auto r = f.send("POST", "/mcp", kJson, repeat_batch(20, 20000));
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.streamed);
  expect_within_budget(r, 20, 20000, 64 * 1024);
}

TEST(HttpLimits, ABatchsAnswersShareOneBudgetAsSse) {
  HttpRules rules;
  rules.max_response_bytes = 64 * 1024;
  Fixture f(rules);
  auto r = f.send("POST", "/mcp", kBoth, repeat_batch(20, 20000));
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.streamed);
  expect_within_budget(r, 20, 20000, 64 * 1024);
}

TEST(HttpLimits, OneAnswerOverTheBudgetIsAnError) {
  HttpRules rules;
  rules.max_response_bytes = 10000;
  Fixture f(rules);
  auto r = f.send("POST", "/mcp", kJson, call(9, "repeat", R"({"n":"20000"})"));
  auto m = r.messages();
  ASSERT_EQ(m.size(), 1u) << r.body;
  EXPECT_EQ(m[0].at("id"), json::value(9));
  EXPECT_EQ(m[0].at("error").at("code").as_int64(), kServerError);
  // Answers within the budget are untouched.
  auto ok = f.send("POST", "/mcp", kJson, call(10, "repeat", R"({"n":"5000"})"));
  EXPECT_EQ(ok.messages().at(0).at("result").at("content").at(0).at("text").as_string().size(), 5000u);
}

TEST(HttpLimits, LegacyAnswersShareTheBudgetOfTheirPost) {
  HttpRules rules;
  rules.max_response_bytes = 64 * 1024;
  Fixture f(rules);
  auto sse = f.send("GET", "/sse", {{"Accept", "text/event-stream"}}, "", "", 300ms);
  ASSERT_TRUE(sse.stream);
  auto at = sse.body.find("sessionId=");
  ASSERT_NE(at, std::string::npos) << sse.body;
  std::string sid = sse.body.substr(at + 10, sse.body.find('\n', at) - at - 10);
  auto post = [&](std::string body) {
    return f.send("POST", "/messages?sessionId=" + sid, {{"Content-Type", "application/json"}}, std::move(body));
  };
  EXPECT_EQ(post(R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})").status, 202);
  EXPECT_EQ(post(R"({"jsonrpc":"2.0","method":"notifications/initialized"})").status, 202);
  // The initialize answer travels on the stream too: take it before counting the batch's.
  for (auto until = std::chrono::steady_clock::now() + 20s;
       sse.body.find(R"("id":0)") == std::string::npos && std::chrono::steady_clock::now() < until;) {
    Fixture::more_into(sse);
  }
  ASSERT_NE(sse.body.find(R"("id":0)"), std::string::npos) << sse.body;
  sse.body.clear();
  EXPECT_EQ(post(repeat_batch(20, 20000)).status, 202);
  // Read the stream until all 20 answers came.
  auto until = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < until) {
    Fixture::more_into(sse);
    size_t answers = 0;
    for (const auto& m : sse.messages()) answers += m.contains("id") && m.at("id").as_int64() >= 1;
    if (answers >= 20) break;
  }
  expect_within_budget(sse, 20, 20000, 64 * 1024);
  sse.stream->finish();
}

// ---- streams whose client does not read ----------------------------------------------------------------

TEST(HttpLimits, ALegacyStreamWhoseClientStoppedReadingIsCutOffAndItsSessionEnded) {
  HttpRules rules;
  rules.max_stream_queue_bytes = 256 * 1024;
  Fixture f(rules);
  // The client opens the stream, reads the endpoint, then never reads again.
  HttpRequestHead get{"GET", "/sse", {{"Accept", "text/event-stream"}}, ""};
  HttpAnswer a = f.answer(get, "");
  ASSERT_TRUE(a.stream);
  ResponseStream::Part part;
  std::string endpoint;
  while (endpoint.find("sessionId=") == std::string::npos && a.stream->wait_pop(part, 5s)) endpoint += part.data;
  auto at = endpoint.find("sessionId=");
  ASSERT_NE(at, std::string::npos);
  std::string sid = endpoint.substr(at + 10, endpoint.find('\n', at) - at - 10);
  auto post = [&](std::string body) {
    return f.send("POST", "/messages?sessionId=" + sid, {{"Content-Type", "application/json"}}, std::move(body));
  };
  ASSERT_EQ(post(R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})").status, 202);
  post(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  // 100 answers of 100 KB (10 MB) to a client that reads nothing.
  size_t posted = 0;
  for (int i = 0; i < 100; ++i) {
    auto r = post(call(i + 1, "repeat", R"({"n":"100000"})"));
    if (r.status != 202) break;
    ++posted;
    f.workers->wait_idle();
    EXPECT_LE(a.stream->queued_bytes(), 256u * 1024) << "the queue never holds more than its budget";
    if (a.stream->overflowed()) break;
  }
  EXPECT_TRUE(a.stream->overflowed()) << "the stream was cut off after " << posted << " answers";
  EXPECT_LT(posted, 10u);
  EXPECT_EQ(a.stream->queued_bytes(), 0u);
  // The transport sees Abort, closes the connection and finishes the stream: the session ends.
  bool aborted = false;
  while (a.stream->wait_pop(part, 100ms)) aborted = aborted || part.kind == ResponseStream::Part::Abort;
  EXPECT_TRUE(aborted);
  a.stream->finish();
  EXPECT_EQ(post(call(500, "echo", R"({"text":"hi"})")).status, 404) << "the legacy session ended with its stream";
}

TEST(HttpLimits, AGetStreamWhoseClientStoppedReadingIsCutOff) {
  HttpRules rules;
  rules.max_stream_queue_bytes = 4096;
  ServerConfig cfg;
  cfg.list_changed_debounce = 1ms;
  Fixture f(rules, cfg);
  std::string sid = f.initialize("c");
  ASSERT_FALSE(sid.empty());
  f.send("POST", "/mcp", with_session(kJson, sid), R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  HttpRequestHead get{"GET", "/mcp", {{"Accept", "text/event-stream"}, {"Mcp-Session-Id", sid}}, "c"};
  HttpAnswer a = f.answer(get, "");
  ASSERT_TRUE(a.stream);
  // Notifications to a client that never reads: list_changed after every change.
  for (int i = 0; i < 400 && !a.stream->overflowed(); ++i) {
    auto s = f.server->find_session(sid);
    if (!s) break;
    s->notify(json::object{{"jsonrpc", "2.0"}, {"method", "notifications/message"},
                           {"params", json::object{{"level", "info"}, {"data", std::string(100, 'n')}}}});
  }
  EXPECT_TRUE(a.stream->overflowed());
  EXPECT_EQ(a.stream->queued_bytes(), 0u);
  a.stream->finish();
  // The session itself lives on: a new GET stream can be opened.
  auto again = f.send("GET", "/mcp", {{"Accept", "text/event-stream"}, {"Mcp-Session-Id", sid}}, "", "c", 100ms);
  EXPECT_EQ(again.status, 200);
  if (again.stream) again.stream->finish();
}

// ---- origins ------------------------------------------------------------------------------------------------

TEST(HttpLimits, OpaqueOriginsAreRefusedUnlessListed) {
  EXPECT_FALSE(origin_allowed("file://", {}, {}));
  EXPECT_FALSE(origin_allowed("file:///home/me/page.html", {}, {}));
  EXPECT_FALSE(origin_allowed("null", {}, {}));
  EXPECT_FALSE(origin_allowed("null", {}, {"*"})) << "\"*\" means any web origin, not opaque ones";
  EXPECT_FALSE(origin_allowed("file://", {}, {"*"}));
  EXPECT_FALSE(origin_allowed("chrome-extension://abcdef", {}, {}));
  EXPECT_FALSE(origin_allowed("http://", {}, {}));
  EXPECT_TRUE(origin_allowed("null", {}, {"null"}));
  EXPECT_TRUE(origin_allowed("file://", {}, {"file://"}));
  EXPECT_TRUE(origin_allowed("chrome-extension://abcdef", {}, {"chrome-extension://abcdef"}));
  EXPECT_TRUE(origin_allowed("https://anything.example.com", {}, {"*"}));
  EXPECT_TRUE(origin_allowed("http://localhost:5173", {}, {}));
  EXPECT_TRUE(origin_allowed("http://127.0.0.1:3001", {}, {}));

  Fixture f;
  auto body = call(1, "echo", R"({"text":"hi"})");
  auto with_origin = [&](const char* o) {
    Headers h = kJson;
    h.emplace_back("Origin", o);
    return f.send("POST", "/mcp", h, body).status;
  };
  EXPECT_EQ(with_origin("file://"), 403);
  EXPECT_EQ(with_origin("null"), 403);
  EXPECT_EQ(with_origin("http://localhost:3001"), 200);
}

// ---- sessions per client ------------------------------------------------------------------------------------

TEST(HttpLimits, OneClientOpeningManySessionsEvictsOnlyItsOwn) {
  ServerConfig cfg;
  cfg.max_sessions = 20;
  cfg.max_sessions_per_client = 5;
  Fixture f({}, cfg);
  std::string victim = f.initialize("10.0.0.2");
  ASSERT_FALSE(victim.empty());
  std::vector<std::string> attacker;
  for (int i = 0; i < 50; ++i) attacker.push_back(f.initialize("10.0.0.1"));
  EXPECT_TRUE(f.server->find_session(victim)) << "another client's session survives";
  size_t alive = 0;
  for (const auto& s : attacker) alive += f.server->find_session(s) != nullptr;
  EXPECT_EQ(alive, 5u) << "the client keeps its 5 most recent sessions";
  for (size_t i = attacker.size() - 5; i < attacker.size(); ++i) EXPECT_TRUE(f.server->find_session(attacker[i]));
}

TEST(HttpLimits, AFullTableTakesFromTheClientHoldingTheMost) {
  ServerConfig cfg;
  cfg.max_sessions = 10;
  cfg.max_sessions_per_client = 0;  // no per-client limit: only the fair choice of a victim
  Fixture f({}, cfg);
  std::vector<std::string> small, big;
  for (int i = 0; i < 2; ++i) small.push_back(f.initialize("10.0.0.2"));
  for (int i = 0; i < 30; ++i) big.push_back(f.initialize("10.0.0.1"));
  for (const auto& s : small) EXPECT_TRUE(f.server->find_session(s));
  EXPECT_EQ(f.server->session_count(), 10u);
  // A third client still gets a session, and it is the big one that pays.
  std::string third = f.initialize("10.0.0.3");
  EXPECT_TRUE(f.server->find_session(third));
  for (const auto& s : small) EXPECT_TRUE(f.server->find_session(s));
}
