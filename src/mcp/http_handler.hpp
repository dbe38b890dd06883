// mcp/http_handler.hpp: every rule of MCP over HTTP, without sockets: Host/Origin (DNS-rebinding
// protection), authentication, routes (/mcp, /sse, /messages, /health, /), status codes and
// headers, both protocol eras on one endpoint (stateful sessions for clients that start with
// initialize; stateless 2026-07-28 requests with their _meta, Mcp-Method / Mcp-Name /
// Mcp-Param-* header validation), and the framing of answers (JSON or SSE).
//
// The transport calls on_header() once the request head is read: it answers at once (errors,
// GET streams, DELETE) or says how large a body to read; then on_body(). Answers are either
// immediate (status, headers, body) or a ResponseStream the transport pumps to the socket.
// Tests call the same two functions in-process.
//
// Ownership: borrows the mcp::Server (which must outlive it). Thread safety: on_header/on_body
// may run concurrently from any thread; the configuration is read-only after construction.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/crypto.hpp"
#include "mcp/auth.hpp"
#include "mcp/response_stream.hpp"
#include "mcp/server.hpp"

namespace wasimancer::mcp {

struct HttpRules {
  // Host header values accepted besides IP literals, single-label names and *.localhost
  // (globs; "*" accepts any). Protects local servers from DNS rebinding.
  std::vector<std::string> allowed_hosts;
  // Origin values accepted besides those whose host passes the Host rule ("*": any).
  std::vector<std::string> allowed_origins;
  // Bearer token for the MCP endpoints; nullopt disables authentication.
  std::optional<std::string> mcp_token;
  // OAuth 2.1 protected resource (mcp/auth.hpp): JWT access tokens with scope mcp:tools are
  // accepted beside the token above, and /.well-known/oauth-protected-resource is served.
  std::shared_ptr<const OAuthResource> oauth;
  uint64_t max_body_bytes = 4ull << 20;
  // Back-pressure: the answers of one POST (a batch's together) at most, in bytes of JSON; a
  // response past it is replaced by a JSON-RPC error for its id, other messages are dropped.
  uint64_t max_response_bytes = 16ull << 20;
  // Bytes an SSE stream may hold queued for a client that is not reading (ResponseStream);
  // past it the client is disconnected and the queue freed.
  size_t max_stream_queue_bytes = ResponseStream::kDefaultMaxQueuedBytes;
};

struct HttpRequestHead {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query, as sent
  std::vector<std::pair<std::string, std::string>> headers;
  std::string client;  // the client's address (sessions are counted per client); may be empty
  // The first value of a header (names compare case-insensitively), or "".
  std::string_view header(std::string_view name) const;
  bool has_header(std::string_view name) const;
};

struct HttpAnswer {
  HttpHead head;
  std::string body;
  // When set, the response comes from here (head and body above are unused).
  std::shared_ptr<ResponseStream> stream;
};

class HttpHandler {
 public:
  HttpHandler(Server& server, HttpRules rules);

  // The DNS-rebinding rule, for every route (the admin API's too): 403 or nothing.
  std::optional<HttpAnswer> check_host_origin(const HttpRequestHead& head) const;
  // Whether the handler serves this path (else the transport tries its other routes, or asks
  // on_header anyway for the 404).
  // After check_host_origin: an answer to send now (the body, if any, is never read), or the
  // size limit of the body to read before on_body().
  std::variant<HttpAnswer, uint64_t> on_header(const HttpRequestHead& head);
  HttpAnswer on_body(const HttpRequestHead& head, std::string body);

  const HttpRules& rules() const { return rules_; }
  // Whether the request carries the MCP token (always true without authentication): the
  // transport counts such connections as authenticated.
  bool authorized(const HttpRequestHead& head) const;
  // 503 with a JSON-RPC error, for requests that arrive while the server shuts down.
  static HttpAnswer shutting_down();

 private:
  HttpAnswer post_mcp(const HttpRequestHead& head, std::string body);
  HttpAnswer post_stateless(const HttpRequestHead& head, const json::value& body);
  HttpAnswer post_legacy(const HttpRequestHead& head, std::string body);
  HttpAnswer get_stream(const HttpRequestHead& head, const std::shared_ptr<Session>& session);
  HttpAnswer legacy_sse(const HttpRequestHead& head);
  HttpAnswer unauthorized(const HttpRequestHead& head) const;

  HttpAnswer resume(const std::shared_ptr<Session>& session, std::string_view last_event_id);

  Server& server_;
  HttpRules rules_;
  std::optional<SecretDigest> mcp_token_;  // rules_.mcp_token's digest: one hash per request, not two
 public:
  // The events of resumable SSE answers (2025-11-25 clients), kept for a client that reconnects
  // with Last-Event-ID. Internal; public for the Outbounds that fill it.
  struct Replay;

 private:
  std::mutex replays_mu_;
  std::map<std::string, std::shared_ptr<Replay>> replays_;  // stream id -> its events
};

// The Host/Origin rule, exposed for tests. Origins are accepted when listed in allowed_origins
// ("*" accepts every http and https origin), or when they are http(s) origins whose host passes
// the Host rule; opaque origins ("null", file://, other schemes) only when listed exactly.
bool host_allowed(std::string_view host_header, const std::vector<std::string>& allowed);
bool origin_allowed(std::string_view origin, const std::vector<std::string>& allowed_hosts,
                    const std::vector<std::string>& allowed_origins);
// The HTTP status a stateless-era JSON-RPC error is sent with (404 for -32601, 400 for invalid
// requests, params, headers, versions and capabilities, 500 for internal errors).
int http_status_for_error(int code);

}  // namespace wasimancer::mcp
