// transport/http_server.hpp: the HTTP server (Boost.Beast on Asio, C++20 coroutines).
//
// Sockets only: every MCP-over-HTTP rule (routes, statuses, headers, sessions, eras, framing)
// is mcp::HttpHandler's; this file reads requests, hands their head and body to it, and writes
// what it answers (a response, or a ResponseStream pumped as chunked SSE). Extra routes (the
// admin API) plug in through RouteHandler. A small pool of network threads runs every
// connection as a coroutine on its own strand; nothing here runs wasm.
//
// Every request is checked in this order, before its body is read: Host and Origin (403),
// authentication (401 for MCP, the route's own check for others), the body size (413); a client
// that sent `Expect: 100-continue` gets `100 Continue` only once those pass.
//
// Ownership: the server borrows the mcp::Server and shares the routes; the mcp::Server must
// outlive it. Thread safety: add_routes() before start(); start() and stop() from one thread,
// wait() from any; everything else runs on the network threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/beast/http.hpp>

#include "core/error.hpp"
#include "mcp/http_handler.hpp"
#include "mcp/server.hpp"

namespace wasimancer::transport {

namespace http = boost::beast::http;
using HttpRequest = http::request<http::string_body>;
using HttpResponse = http::response<http::string_body>;
using HttpHeader = http::request_header<>;

struct HttpConfig {
  std::string bind_address = "0.0.0.0";  // all interfaces, as WASImancer
  uint16_t port = 3001;
  size_t network_threads = 2;
  uint64_t max_body_bytes = 4ull << 20;        // MCP requests
  uint32_t max_header_bytes = 16 * 1024;
  size_t max_connections = 1024;
  std::chrono::seconds idle_timeout{120};       // a keep-alive connection with no request
  std::chrono::seconds request_timeout{60};     // reading one request (headers and body)
  std::chrono::seconds sse_keepalive{15};       // comment lines on idle SSE streams
  // Host header values accepted besides IP literals, single-label names and *.localhost
  // (globs; "*" accepts any). Protects local servers from DNS rebinding.
  std::vector<std::string> allowed_hosts;
  // Origin values accepted besides those whose host passes the Host rule ("*": any).
  std::vector<std::string> allowed_origins;
  // Bearer token for the MCP endpoints; nullopt disables authentication.
  std::optional<std::string> mcp_token;
  // False: only the extra routes and /health are served (the --metrics-bind listener).
  bool serve_mcp = true;
};

// An extra set of routes (the admin API), adapted by the composition root.
class RouteHandler {
 public:
  virtual ~RouteHandler() = default;
  virtual bool matches(const HttpHeader& header) const = 0;
  // Called with only the header read: a response here is sent at once and the body is never
  // read (authentication, size limits).
  virtual std::optional<HttpResponse> check(const HttpHeader& header) const = 0;
  virtual uint64_t body_limit(const HttpHeader& header) const = 0;
  // May complete on any thread (the work runs on the worker pool).
  virtual void handle(HttpRequest request, std::function<void(HttpResponse)> done) = 0;
  // Routes that answer with a stream of Server-Sent Events (the dashboard's live feed) return a
  // starter here instead of having handle() called: it gets `push`, which queues one SSE chunk
  // and returns false once the client has gone, and returns a function that stops the stream's
  // producer (called when the client leaves).
  using PushChunk = std::function<bool(std::string chunk)>;
  using StreamStart = std::function<std::function<void()>(PushChunk push)>;
  virtual StreamStart stream(const HttpRequest&) { return nullptr; }
};

class HttpServer {
 public:
  HttpServer(mcp::Server& mcp, HttpConfig config);
  ~HttpServer();

  void add_routes(std::shared_ptr<RouteHandler> routes);
  // Binds and starts the network threads. Fails with a clear message (e.g. the port is taken).
  Result<void> start();
  uint16_t port() const;  // the bound port (useful with port 0)
  void stop();            // closes the listener and every connection, joins the threads
  void wait();            // blocks until stop()

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The Host/Origin rule (mcp::HttpHandler's), exposed for tests.
using mcp::host_allowed;
using mcp::origin_allowed;

}  // namespace wasimancer::transport
