// libFuzzer target: the socket-free MCP-over-HTTP handler (mcp::HttpHandler), driven as the
// transport drives it: check_host_origin, on_header, then on_body with at most the body size it
// asked for; every answer (a response, or a ResponseStream) is read to its end, open streams
// are finished as a client that leaves. Beast's parser is not under test here: the input is a
// simple text form of a request that reaches every route, header rule and era:
//
//   byte 0       odd: the handler requires the bearer token "t"; even: no authentication
//   line 1       METHOD TARGET
//   lines        Name: value           (until an empty line)
//   the rest     the body
//
// The server behind it serves an echo plugin, so tools/call reaches a real plugin call.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/files.hpp"
#include "core/log.hpp"
#include "core/worker_pool.hpp"
#include "mcp/http_handler.hpp"
#include "mcp/server.hpp"
#include "registry/catalog.hpp"
#include "registry/plugin_version.hpp"
#include "registry/registry.hpp"

namespace json = boost::json;
using namespace wasimancer;
using namespace std::chrono_literals;

namespace {

struct World {
  registry::Registry plugins;
  registry::ResourceCatalog resources{std::nullopt};
  registry::PromptCatalog prompts{std::nullopt};
  WorkerPool workers{1};
  std::unique_ptr<mcp::Server> server;
  std::unique_ptr<mcp::HttpHandler> open_handler, token_handler;

  World() {
    init_logging(LogLevel::Off);
    auto wasm = read_file(std::filesystem::path(WASIMANCER_FUZZ_PLUGIN_DIR) / "echo.wasm");
    if (wasm) {
      auto spec = registry::parse_plugin_spec(json::parse(R"({"name": "echo", "timeoutMs": 1000, "functions": [
          {"function": "echo", "arguments": [{"name": "text", "type": "string"}]},
          {"function": "upper", "displayName": "shout", "inputSchema": {"type": "object",
            "properties": {"region": {"type": "string", "x-mcp-header": "Region"}}}}]})"));
      auto v = registry::load_plugin_version(*spec,
                                             std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(wasm->data()), wasm->size()),
                                             "echo.wasm", registry::LoadOptions{});
      if (v) (void)plugins.add(*v);
    }
    (void)resources.add(json::parse(R"({"name": "info", "uri": "config://server", "contents": [{"text": "hello"}]})"));
    mcp::ServerConfig cfg;
    cfg.client_request_timeout = std::chrono::seconds(1);
    cfg.max_sessions = 64;
    cfg.max_sessions_per_client = 16;
    server = std::make_unique<mcp::Server>(mcp::Catalogs{plugins, resources, prompts}, workers, cfg);
    mcp::HttpRules rules;
    rules.max_body_bytes = 64 * 1024;
    rules.max_response_bytes = 256 * 1024;
    rules.max_stream_queue_bytes = 64 * 1024;
    open_handler = std::make_unique<mcp::HttpHandler>(*server, rules);
    rules.mcp_token = "t";
    token_handler = std::make_unique<mcp::HttpHandler>(*server, rules);
  }
};

World& world() {
  static World* w = new World();  // never destroyed: libFuzzer exits without running destructors
  return *w;
}

std::string_view next_line(std::string_view& rest) {
  auto nl = rest.find('\n');
  std::string_view line = rest.substr(0, nl);
  rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// Reads an answer to its end; a stream still open after that is finished (the client left).
void drain(World& w, mcp::HttpAnswer& a) {
  if (!a.stream) return;
  mcp::ResponseStream::Part part;
  for (int i = 0; i < 10000; ++i) {
    if (!a.stream->wait_pop(part, i == 0 ? 2000ms : 20ms)) break;
    if (part.kind == mcp::ResponseStream::Part::Complete || part.kind == mcp::ResponseStream::Part::End ||
        part.kind == mcp::ResponseStream::Part::Abort) {
      break;
    }
  }
  a.stream->finish();
  w.workers.wait_idle();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  World& w = world();
  if (size < 2) return 0;
  mcp::HttpHandler& handler = (data[0] & 1) ? *w.token_handler : *w.open_handler;
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  mcp::HttpRequestHead head;
  std::string_view start = next_line(rest);
  auto sp = start.find(' ');
  head.method = std::string(start.substr(0, sp));
  head.target = sp == std::string_view::npos ? "/" : std::string(start.substr(sp + 1));
  head.client = "fuzz";
  while (!rest.empty()) {
    std::string_view line = next_line(rest);
    if (line.empty()) break;
    auto colon = line.find(':');
    std::string_view name = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    head.headers.emplace_back(std::string(name), std::string(value));
  }
  mcp::HttpAnswer answer;
  if (auto refused = handler.check_host_origin(head)) {
    answer = std::move(*refused);
  } else {
    auto early = handler.on_header(head);
    if (auto* a = std::get_if<mcp::HttpAnswer>(&early)) {
      answer = std::move(*a);
    } else {
      uint64_t limit = std::get<uint64_t>(early);
      if (rest.size() > limit) return 0;  // the transport answers 413 itself
      answer = handler.on_body(head, std::string(rest));
    }
  }
  drain(w, answer);
  return 0;
}
