// transport/http_server.hpp: the HTTP server (Boost.Beast on Asio, C++20 coroutines).
//
// Sockets only: every MCP-over-HTTP rule (routes, statuses, headers, sessions, eras, framing)
// is mcp::HttpHandler's; this file reads requests, hands their head and body to it, and writes
// what it answers (a response, or a ResponseStream pumped as chunked SSE). Extra routes (the
// admin API) plug in through RouteHandler. Network threads, each with its own event loop,
// run every connection as a coroutine on one of them; nothing here runs wasm.
//
// Every request is checked in this order, before its body is read: Host and Origin (403),
// authentication (401 for MCP, the route's own check for others), the body size (413); a client
// that sent `Expect: 100-continue` gets `100 Continue` only once those pass.
//
// Connections before authentication are hostile: they get `header_timeout` for each request
// header, at most `max_connections_per_address` per client address, and only part of the
// connection cap (when a new connection needs room, the oldest waiting one of the address holding
// the most waiting connections is closed). Output is
// bounded: SSE streams by their queue budget (mcp::ResponseStream) and a progress deadline per
// stream (write_timeout), POST answers by the response budget (mcp::HttpRules). Lines about
// refused connections are rate-limited.
//
// Ownership: the server borrows the mcp::Server and shares the routes; the mcp::Server must
// outlive it. Thread safety: add_routes() before start(); start(), shutdown() and stop() from one
// thread, wait() and the counts from any; everything else runs on the network threads.
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
  // Connections at most. Connections that have not yet presented a valid token (or, without
  // authentication, sent a complete request) may use at most three quarters of it; when the cap
  // (or that share) is reached, the oldest such connection waiting for its request, of the address
  // holding the most of them, is closed to
  // make room, so clients that have authenticated keep their connections and new ones get in.
  size_t max_connections = 1024;
  size_t max_connections_per_address = 128;    // per client IP address; 0: no limit
  std::chrono::seconds idle_timeout{120};       // an authenticated keep-alive connection with no request
  std::chrono::seconds header_timeout{5};       // a request header before authentication (from accept or the last answer)
  std::chrono::seconds request_timeout{60};     // reading one request body
  // A response must make progress: once the server has bytes the client has not taken, the
  // client has this long to take them all (the deadline is not renewed per chunk).
  std::chrono::seconds write_timeout{60};
  std::chrono::seconds sse_keepalive{15};       // comment lines on idle SSE streams
  uint64_t max_response_bytes = 16ull << 20;    // the answers of one POST (a batch's together)
  size_t max_stream_queue_bytes = 16u << 20;    // bytes queued for an SSE client that is not reading
  // Host header values accepted besides IP literals, single-label names and *.localhost
  // (globs; "*" accepts any). Protects local servers from DNS rebinding.
  std::vector<std::string> allowed_hosts;
  // Origin values accepted besides those whose host passes the Host rule ("*": any http(s)
  // origin; "null" and file:// only when listed).
  std::vector<std::string> allowed_origins;
  // Bearer token for the MCP endpoints; nullopt disables authentication.
  std::optional<std::string> mcp_token;
  // False: only the extra routes and /health are served (the --metrics-bind listener).
  bool serve_mcp = true;
  // OAuth access tokens accepted beside mcp_token (mcp::HttpRules::oauth).
  std::shared_ptr<const mcp::OAuthResource> oauth;
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
  // Graceful shutdown (SIGTERM/SIGINT): stops accepting, closes idle connections, answers new
  // requests with 503, lets the MCP server's calls in flight finish until `grace` has passed
  // (mcp::Server::drain: the rest are answered with a JSON-RPC error), ends SSE streams with
  // their final chunk, waits (briefly) for the answers to be written, then stop().
  void shutdown(std::chrono::milliseconds grace);
  void stop();            // closes the listener and every connection, joins the threads
  void wait();            // blocks until stop()

  // For tests: connections open now, and of those, the ones that have not authenticated.
  size_t connection_count() const;
  size_t unauthenticated_count() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The Host/Origin rule (mcp::HttpHandler's), exposed for tests.
using mcp::host_allowed;
using mcp::origin_allowed;

}  // namespace wasimancer::transport
