// libFuzzer target: the JSON-RPC decoder and the MCP dispatcher (mcp::Server::handle), as the
// transports drive them: the body is parsed (Boost.JSON, as the transport does), and each
// message (or each entry of a batch) is handed to the server on a session, stateful or not.
// The server serves an echo plugin, static and dynamic resources and a prompt, so that
// tools/call, resources/read, prompts/get and completion/complete reach real code.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <boost/json.hpp>

#include "core/files.hpp"
#include "core/log.hpp"
#include "core/worker_pool.hpp"
#include "mcp/jsonrpc.hpp"
#include "mcp/server.hpp"
#include "mcp/session.hpp"
#include "registry/catalog.hpp"
#include "registry/plugin_version.hpp"
#include "registry/registry.hpp"

namespace json = boost::json;
using namespace wasimancer;

namespace {

class NullOutbound : public mcp::Outbound {
 public:
  void send(json::object message) override { (void)json::serialize(message); }
};

struct World {
  registry::Registry plugins;
  registry::ResourceCatalog resources{std::nullopt};
  registry::PromptCatalog prompts{std::nullopt};
  WorkerPool workers{1};
  std::unique_ptr<mcp::Server> server;

  World() {
    init_logging(LogLevel::Off);
    auto wasm = read_file(std::filesystem::path(WASIMANCER_FUZZ_PLUGIN_DIR) / "echo.wasm");
    if (wasm) {
      auto spec = registry::parse_plugin_spec(json::parse(R"({"name": "echo", "timeoutMs": 1000, "functions": [
          {"function": "echo", "arguments": [{"name": "text", "type": "string"}]},
          {"function": "upper", "displayName": "shout", "inputSchema": {"type": "object"}}]})"));
      auto v = registry::load_plugin_version(*spec,
                                             std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(wasm->data()), wasm->size()),
                                             "echo.wasm", registry::LoadOptions{});
      if (v) (void)plugins.add(*v);
    }
    (void)resources.add(json::parse(R"({"name": "info", "uri": "config://server", "contents": [{"text": "hello"}]})"));
    (void)resources.add(json::parse(R"({"name": "greet", "uri": "greet-user://{firstName}/{lastName}",
        "arguments": [{"name": "firstName", "values": ["Bob", "Alice"]}], "contents": [{"text": "Hello ${firstName} ${lastName}"}]})"));
    (void)prompts.add(json::parse(R"({"name": "analyst", "arguments": [{"name": "code", "values": ["x", "y"]}],
        "messages": [{"role": "user", "text": "Analyze ${code}"}]})"));
    mcp::ServerConfig cfg;
    cfg.client_request_timeout = std::chrono::seconds(1);
    server = std::make_unique<mcp::Server>(mcp::Catalogs{plugins, resources, prompts}, workers, cfg);
  }
};

World& world() {
  static World* w = new World();  // never destroyed: libFuzzer exits without running destructors
  return *w;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  World& w = world();
  if (size == 0) return 0;
  // The first byte picks the session kind (odd, e.g. "1": a session; even, "0": stateless); the
  // rest is the request body.
  uint8_t mode = data[0];
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  boost::system::error_code ec;
  json::parse_options opts;
  opts.max_depth = 64;
  json::value v = json::parse(body, ec, {}, opts);
  if (ec) return 0;  // the transport answers -32700 itself
  std::shared_ptr<mcp::Session> session;
  if (mode & 1) {
    session = w.server->create_session(mcp::Session::Kind::Streamable);
  } else {
    session = w.server->create_session(mcp::Session::Kind::Stateless);
  }
  auto out = std::make_shared<NullOutbound>();
  if (v.is_array()) {
    for (const auto& m : v.as_array()) w.server->handle(session, m, out);
  } else {
    w.server->handle(session, v, out);
  }
  w.workers.wait_idle();
  if (!session->id().empty()) w.server->end_session(session->id());
  return 0;
}
