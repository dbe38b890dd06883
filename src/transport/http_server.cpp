#include "transport/http_server.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>

#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/beast.hpp>
#include <fmt/format.h>

#include "core/crypto.hpp"
#include "core/glob.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/trace.hpp"
#include "core/text.hpp"
#include "mcp/protocol.hpp"
#include "transport/async_queue.hpp"

namespace wasimancer::transport {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace json = boost::json;
using tcp = net::ip::tcp;
using net::as_tuple;
using Strand = net::strand<net::io_context::executor_type>;

// ---- Host / Origin ------------------------------------------------------------------------------

namespace {

std::string strip_port(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    auto end = host.find(']');
    return std::string(end == std::string_view::npos ? host : host.substr(1, end - 1));
  }
  auto colon = host.rfind(':');
  if (colon != std::string_view::npos && host.find(':') == colon) return std::string(host.substr(0, colon));
  return std::string(host);
}

bool is_ip_literal(const std::string& h) {
  unsigned char buf[16];
  return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

bool name_allowed(const std::string& host, const std::vector<std::string>& allowed) {
  for (const auto& a : allowed) {
    if (a == "*" || glob_match(ascii_lower(a), host)) return true;
  }
  // Names a DNS-rebinding attacker cannot make a browser send: IP literals, single-label names
  // (localhost, docker service names) and *.localhost.
  if (is_ip_literal(host)) return true;
  if (host.find('.') == std::string::npos) return true;
  return host.size() > 10 && host.compare(host.size() - 10, 10, ".localhost") == 0;
}

}  // namespace

bool host_allowed(std::string_view host_header, const std::vector<std::string>& allowed) {
  if (host_header.empty()) return true;
  return name_allowed(ascii_lower(strip_port(host_header)), allowed);
}

bool origin_allowed(std::string_view origin, const std::vector<std::string>& allowed_hosts,
                    const std::vector<std::string>& allowed_origins) {
  std::string o = ascii_lower(origin);
  for (const auto& a : allowed_origins) {
    if (a == "*" || ascii_lower(a) == o) return true;
  }
  auto scheme_end = o.find("://");
  if (scheme_end == std::string::npos) return false;  // "null" and other opaque origins
  std::string rest = o.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find('/'));
  return name_allowed(strip_port(rest), allowed_hosts);
}

// ---- Outbound implementations ---------------------------------------------------------------------

namespace {

std::string sse_event(const json::object& msg) { return "event: message\ndata: " + json::serialize(msg) + "\n\n"; }

using TextQueue = AsyncQueue<std::string>;

// Messages written as SSE events. For a POST's stream it closes once every request of the POST
// is done; a standalone stream stays open until the client goes or the session ends.
class SseOutbound : public mcp::Outbound {
 public:
  SseOutbound(std::shared_ptr<TextQueue> q, std::set<std::string> awaiting)
      : q_(std::move(q)), awaiting_(std::move(awaiting)), close_when_done_(!awaiting_.empty()) {}
  void send(json::object message) override { q_->push(sse_event(message)); }
  void request_done(const json::value& id) override {
    std::lock_guard lock(mu_);
    awaiting_.erase(json::serialize(id));
    if (close_when_done_ && awaiting_.empty()) q_->close();
  }
  bool is_open() const override { return !q_->closed(); }

 private:
  std::shared_ptr<TextQueue> q_;
  std::mutex mu_;
  std::set<std::string> awaiting_;
  bool close_when_done_;
};

// Responses collected for a POST answered with application/json. It cannot carry anything else,
// so is_open() is false and server-initiated messages look for another stream.
class JsonOutbound : public mcp::Outbound {
 public:
  JsonOutbound(std::shared_ptr<TextQueue> q, std::set<std::string> awaiting, bool batch)
      : q_(std::move(q)), awaiting_(std::move(awaiting)), batch_(batch) {}
  void send(json::object message) override {
    if (message.contains("method")) return;  // notifications and requests cannot travel here
    std::lock_guard lock(mu_);
    responses_.push_back(std::move(message));
  }
  void request_done(const json::value& id) override {
    std::lock_guard lock(mu_);
    awaiting_.erase(json::serialize(id));
    if (!awaiting_.empty()) return;
    if (batch_) q_->push(json::serialize(responses_));
    else q_->push(responses_.empty() ? std::string() : json::serialize(responses_.front()));
    q_->close();
  }
  bool is_open() const override { return false; }

 private:
  std::shared_ptr<TextQueue> q_;
  std::mutex mu_;
  std::set<std::string> awaiting_;
  json::array responses_;
  bool batch_;
};

class NullOutbound : public mcp::Outbound {
 public:
  void send(json::object) override {}
  bool is_open() const override { return false; }
};

std::string rpc_error_body(int code, std::string_view message) {
  return json::serialize(json::object{{"jsonrpc", "2.0"}, {"error", json::object{{"code", code}, {"message", message}}}, {"id", nullptr}});
}

bool header_has_token(std::string_view header, std::string_view token) {
  std::string h = ascii_lower(header);
  return h.find(token) != std::string::npos;
}

struct Target {
  std::string path;
  std::map<std::string, std::string> query;
};

Target parse_target(std::string_view t) {
  Target out;
  auto q = t.find('?');
  out.path = percent_decode(t.substr(0, q));
  if (q == std::string_view::npos) return out;
  std::string_view rest = t.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view kv = rest.substr(0, amp);
    auto eq = kv.find('=');
    out.query[percent_decode(kv.substr(0, eq), true)] = eq == std::string_view::npos ? "" : percent_decode(kv.substr(eq + 1), true);
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return out;
}

}  // namespace

// ---- the server ---------------------------------------------------------------------------------

struct HttpServer::Impl {
  mcp::Server& mcp;
  HttpConfig config;
  net::io_context io;
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  std::vector<std::shared_ptr<RouteHandler>> routes;
  std::atomic<size_t> connections{0};
  uint16_t bound_port = 0;
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stopped = false;

  Impl(mcp::Server& m, HttpConfig c)
      : mcp(m), config(std::move(c)), io(static_cast<int>(std::max<size_t>(1, config.network_threads))) {}

  // The connection, with the route label of the request being served (for
  // wasimancer_http_responses_total).
  struct Stream : beast::tcp_stream {
    using beast::tcp_stream::tcp_stream;
    std::string_view route = "other";
  };
  using Parser = http::request_parser<http::string_body>;

  net::awaitable<void> accept_loop();
  net::awaitable<void> connection(tcp::socket socket);
  // Each handler returns whether the connection may be kept alive.
  net::awaitable<bool> dispatch(Stream& stream, beast::flat_buffer& buffer, Parser& parser);
  net::awaitable<bool> route_request(Stream& stream, beast::flat_buffer& buffer, Parser& parser, RouteHandler& route);
  net::awaitable<bool> mcp_post(Stream& stream, beast::flat_buffer& buffer, Parser& parser);
  net::awaitable<bool> mcp_get_stream(Stream& stream, Parser& parser, std::shared_ptr<mcp::Session> session);
  net::awaitable<bool> legacy_sse(Stream& stream, Parser& parser);
  net::awaitable<bool> legacy_post(Stream& stream, beast::flat_buffer& buffer, Parser& parser, const Target& target);
  net::awaitable<bool> mcp_delete(Stream& stream, Parser& parser);

  net::awaitable<bool> write(Stream& stream, HttpResponse res, bool keep_alive);
  net::awaitable<bool> reply(Stream& stream, Parser& parser, http::status status, std::string body,
                             std::string_view content_type = "application/json",
                             std::vector<std::pair<std::string, std::string>> headers = {});
  net::awaitable<bool> read_body(Stream& stream, beast::flat_buffer& buffer, Parser& parser, uint64_t limit);
  net::awaitable<bool> stream_events(Stream& stream, std::shared_ptr<TextQueue> queue, HttpResponse head, bool keep_alive);

  bool authorized(const Parser& parser) const;
  net::awaitable<bool> unauthorized(Stream& stream, Parser& parser);
  net::awaitable<bool> method_not_allowed(Stream& stream, Parser& parser, std::string_view allow);
};

namespace {
bool body_pending(const http::request_parser<http::string_body>& p) {
  return p.chunked() || (p.content_length() && *p.content_length() > 0);
}
}  // namespace

net::awaitable<bool> HttpServer::Impl::write(Stream& stream, HttpResponse res, bool keep_alive) {
  res.set(http::field::server, "wasimancer");
  res.keep_alive(keep_alive);
  res.prepare_payload();
  metrics::record_http_response(stream.route, res.result_int());
  stream.expires_after(config.request_timeout);
  auto [ec, n] = co_await http::async_write(stream, res, as_tuple(net::use_awaitable));
  co_return !ec && keep_alive;
}

net::awaitable<bool> HttpServer::Impl::reply(Stream& stream, Parser& parser, http::status status, std::string body,
                                             std::string_view content_type,
                                             std::vector<std::pair<std::string, std::string>> headers) {
  const auto& req = parser.get();
  HttpResponse res{status, req.version()};
  if (!body.empty()) res.set(http::field::content_type, content_type);
  for (auto& [k, v] : headers) res.set(k, v);
  res.body() = std::move(body);
  // A body we never read cannot be skipped reliably: close the connection then.
  bool keep = req.keep_alive() && (parser.is_done() || !body_pending(parser));
  co_return co_await write(stream, std::move(res), keep);
}

net::awaitable<bool> HttpServer::Impl::read_body(Stream& stream, beast::flat_buffer& buffer, Parser& parser, uint64_t limit) {
  if (parser.content_length() && *parser.content_length() > limit) {
    co_await reply(stream, parser, http::status::payload_too_large,
                   json::serialize(json::object{{"error", fmt::format("the request body is larger than the limit of {} bytes", limit)}}));
    co_return false;
  }
  parser.body_limit(limit);
  const auto& req = parser.get();
  if (header_has_token(req[http::field::expect], "100-continue")) {
    http::response<http::empty_body> cont{http::status::continue_, req.version()};
    auto [ec, n] = co_await http::async_write(stream, cont, as_tuple(net::use_awaitable));
    if (ec) co_return false;
  }
  stream.expires_after(config.request_timeout);
  auto [ec, n] = co_await http::async_read(stream, buffer, parser, as_tuple(net::use_awaitable));
  if (ec == http::error::body_limit) {
    co_await reply(stream, parser, http::status::payload_too_large,
                   json::serialize(json::object{{"error", fmt::format("the request body is larger than the limit of {} bytes", limit)}}));
    co_return false;
  }
  co_return !ec;
}

bool HttpServer::Impl::authorized(const Parser& parser) const {
  if (!config.mcp_token) return true;
  std::string_view auth = parser.get()[http::field::authorization];
  if (auth.size() < 7 || ascii_lower(auth.substr(0, 7)) != "bearer ") return false;
  return constant_time_equal(auth.substr(7), *config.mcp_token);
}

net::awaitable<bool> HttpServer::Impl::unauthorized(Stream& stream, Parser& parser) {
  bool given = !parser.get()[http::field::authorization].empty();
  std::string desc = given ? "the bearer token is not valid" : "a bearer token is required (Authorization: Bearer <token>)";
  co_return co_await reply(stream, parser, http::status::unauthorized,
                           json::serialize(json::object{{"error", "invalid_token"}, {"error_description", desc}}),
                           "application/json",
                           {{"WWW-Authenticate", fmt::format("Bearer error=\"invalid_token\", error_description=\"{}\"", desc)}});
}

net::awaitable<bool> HttpServer::Impl::method_not_allowed(Stream& stream, Parser& parser, std::string_view allow) {
  co_return co_await reply(stream, parser, http::status::method_not_allowed, rpc_error_body(mcp::kServerError, "Method not allowed"),
                           "application/json", {{"Allow", std::string(allow)}});
}

net::awaitable<bool> HttpServer::Impl::stream_events(Stream& stream, std::shared_ptr<TextQueue> queue, HttpResponse head,
                                                     bool keep_alive) {
  http::response<http::empty_body> res{head.result(), head.version()};
  for (const auto& f : head) res.set(f.name_string(), f.value());
  res.set(http::field::server, "wasimancer");
  res.set(http::field::content_type, "text/event-stream");
  res.set(http::field::cache_control, "no-cache");
  res.keep_alive(keep_alive);
  res.chunked(true);
  metrics::record_http_response(stream.route, res.result_int());
  http::response_serializer<http::empty_body> sr{res};
  stream.expires_never();
  auto [ec, n] = co_await http::async_write_header(stream, sr, as_tuple(net::use_awaitable));
  if (ec) {
    queue->close();
    co_return false;
  }
  for (;;) {
    std::string item;
    auto status = co_await queue->pop(item, config.sse_keepalive);
    if (status == TextQueue::Status::Closed) break;
    if (status == TextQueue::Status::Timeout) item = ": keepalive\n\n";
    stream.expires_after(config.request_timeout);
    auto [wec, wn] = co_await net::async_write(stream, http::make_chunk(net::buffer(item)), as_tuple(net::use_awaitable));
    if (wec) {
      queue->close();  // the client went away: later messages are dropped
      co_return false;
    }
  }
  stream.expires_after(config.request_timeout);
  auto [fec, fn] = co_await net::async_write(stream, http::make_chunk_last(), as_tuple(net::use_awaitable));
  co_return !fec && keep_alive;
}

net::awaitable<void> HttpServer::Impl::accept_loop() {
  for (;;) {
    auto [ec, socket] = co_await acceptor->async_accept(as_tuple(net::use_awaitable));
    if (ec) {
      if (ec == net::error::operation_aborted || !acceptor->is_open()) co_return;
      log().warn("accept failed: {}", ec.message());
      continue;
    }
    if (connections.load() >= config.max_connections) {
      boost::system::error_code ignore;
      socket.close(ignore);
      log().warn("connection refused: the limit of {} connections is reached", config.max_connections);
      continue;
    }
    // SSE answers are written as several small writes (header, events, final chunk); without
    // TCP_NODELAY, Nagle's algorithm and delayed ACKs add ~40 ms to each answer.
    boost::system::error_code nodelay_ec;
    socket.set_option(tcp::no_delay(true), nodelay_ec);
    net::co_spawn(net::make_strand(io), connection(std::move(socket)), net::detached);
  }
}

net::awaitable<void> HttpServer::Impl::connection(tcp::socket socket) {
  ++connections;
  struct Guard {
    std::atomic<size_t>& c;
    ~Guard() { --c; }
  } guard{connections};
  Stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    Parser parser;
    parser.header_limit(config.max_header_bytes);
    // No body limit while reading the header: Beast would reject a large Content-Length there,
    // before the route can answer 401/403 first. read_body() sets the route's limit.
    parser.body_limit(boost::none);
    stream.expires_after(config.idle_timeout);
    auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, as_tuple(net::use_awaitable));
    if (ec) {
      if (ec == http::error::header_limit) {
        HttpResponse res{http::status::request_header_fields_too_large, 11};
        res.body() = R"({"error":"the request headers are too large"})";
        res.set(http::field::content_type, "application/json");
        co_await write(stream, std::move(res), false);
      } else if (ec != http::error::end_of_stream && ec != beast::error::timeout && ec != net::error::eof &&
                 ec != net::error::connection_reset && ec != net::error::operation_aborted) {
        HttpResponse res{http::status::bad_request, 11};
        res.body() = json::serialize(json::object{{"error", "malformed HTTP request: " + ec.message()}});
        res.set(http::field::content_type, "application/json");
        co_await write(stream, std::move(res), false);
      }
      break;
    }
    bool keep = false;
    try {
      keep = co_await dispatch(stream, buffer, parser);
    } catch (const std::exception& e) {
      log().error("HTTP request failed: {}", e.what());
      keep = false;
    }
    if (!keep) break;
  }
  // Close gracefully: stop sending, then read and discard what the client still sends (an
  // upload refused before its body was read) for a moment, so the kernel does not answer it
  // with a reset that could destroy our response before the client reads it.
  boost::system::error_code ignore;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignore);
  stream.expires_after(std::chrono::seconds(2));
  std::array<char, 16384> scratch;
  size_t drained = 0;
  for (;;) {
    auto [ec, n] = co_await stream.async_read_some(net::buffer(scratch), as_tuple(net::use_awaitable));
    drained += n;
    if (ec || drained > (64u << 20)) break;
  }
  stream.socket().close(ignore);
}

net::awaitable<bool> HttpServer::Impl::dispatch(Stream& stream, beast::flat_buffer& buffer, Parser& parser) {
  const auto& req = parser.get();
  stream.route = metrics::route_label(req.target());
  if (!host_allowed(req[http::field::host], config.allowed_hosts)) {
    co_return co_await reply(stream, parser, http::status::forbidden,
                             rpc_error_body(mcp::kServerError, fmt::format("Forbidden: the Host \"{}\" is not allowed "
                                                                           "(set WASIMANCER_ALLOWED_HOSTS to add it)",
                                                                           std::string(req[http::field::host]))));
  }
  if (auto origin = req[http::field::origin]; !origin.empty() && !origin_allowed(origin, config.allowed_hosts, config.allowed_origins)) {
    co_return co_await reply(stream, parser, http::status::forbidden,
                             rpc_error_body(mcp::kServerError, fmt::format("Forbidden: the Origin \"{}\" is not allowed "
                                                                           "(set WASIMANCER_ALLOWED_ORIGINS to add it)",
                                                                           std::string(origin))));
  }
  Target target = parse_target(req.target());
  for (auto& r : routes) {
    if (r->matches(req)) co_return co_await route_request(stream, buffer, parser, *r);
  }
  if (target.path == "/health" && req.method() == http::verb::get) {
    co_return co_await reply(stream, parser, http::status::ok, R"({"status":"ok"})");
  }
  if (!config.serve_mcp) {
    co_return co_await reply(stream, parser, http::status::not_found,
                             json::serialize(json::object{{"error", fmt::format("no route for {} {}", std::string(req.method_string()), target.path)}}));
  }
  if (target.path == "/mcp") {
    if (!authorized(parser)) co_return co_await unauthorized(stream, parser);
    switch (req.method()) {
      case http::verb::post: co_return co_await mcp_post(stream, buffer, parser);
      case http::verb::get: {
        std::string sid(req["mcp-session-id"]);
        if (sid.empty()) co_return co_await legacy_sse(stream, parser);  // WASImancer: GET /mcp is the legacy stream
        auto session = mcp.find_session(sid);
        if (!session) {
          co_return co_await reply(stream, parser, http::status::not_found, rpc_error_body(mcp::kSessionNotFound, "Session not found"));
        }
        co_return co_await mcp_get_stream(stream, parser, session);
      }
      case http::verb::delete_: co_return co_await mcp_delete(stream, parser);
      default: co_return co_await method_not_allowed(stream, parser, "GET, POST, DELETE");
    }
  }
  if (target.path == "/sse") {
    if (!authorized(parser)) co_return co_await unauthorized(stream, parser);
    if (req.method() != http::verb::get) co_return co_await method_not_allowed(stream, parser, "GET");
    co_return co_await legacy_sse(stream, parser);
  }
  if (target.path == "/messages") {
    if (!authorized(parser)) co_return co_await unauthorized(stream, parser);
    if (req.method() != http::verb::post) co_return co_await method_not_allowed(stream, parser, "POST");
    co_return co_await legacy_post(stream, buffer, parser, target);
  }
  co_return co_await reply(stream, parser, http::status::not_found,
                           json::serialize(json::object{{"error", fmt::format("no route for {} {}", std::string(req.method_string()), target.path)}}));
}

net::awaitable<bool> HttpServer::Impl::route_request(Stream& stream, beast::flat_buffer& buffer, Parser& parser, RouteHandler& route) {
  if (auto early = route.check(parser.get())) {
    auto res = std::move(*early);
    bool keep = parser.get().keep_alive() && !body_pending(parser);
    co_return co_await write(stream, std::move(res), keep);
  }
  if (!co_await read_body(stream, buffer, parser, route.body_limit(parser.get()))) co_return false;
  HttpRequest req = parser.release();
  bool keep_alive = req.keep_alive();
  unsigned version = req.version();
  auto ex = co_await net::this_coro::executor;
  if (auto start = route.stream(req)) {
    auto queue = std::make_shared<TextQueue>(*ex.template target<Strand>());
    auto stop = start([queue](std::string chunk) { return queue->push(std::move(chunk)); });
    HttpResponse head{http::status::ok, version};
    head.set("X-Accel-Buffering", "no");
    bool keep = co_await stream_events(stream, queue, std::move(head), keep_alive);
    queue->close();
    if (stop) stop();
    co_return keep;
  }
  auto queue = std::make_shared<AsyncQueue<HttpResponse>>(ex.template target<Strand>() ? *ex.template target<Strand>()
                                                                                       : net::make_strand(io));
  route.handle(std::move(req), [queue](HttpResponse res) {
    queue->push(std::move(res));
    queue->close();
  });
  HttpResponse res;
  auto status = co_await queue->pop(res, std::chrono::hours(24));
  if (status != AsyncQueue<HttpResponse>::Status::Item) {
    res = HttpResponse{http::status::internal_server_error, version};
    res.body() = R"({"error":"the request was not answered"})";
    res.set(http::field::content_type, "application/json");
  }
  res.version(version);
  co_return co_await write(stream, std::move(res), keep_alive);
}

net::awaitable<bool> HttpServer::Impl::mcp_post(Stream& stream, beast::flat_buffer& buffer, Parser& parser) {
  const auto& hdr = parser.get();
  std::string accept = ascii_lower(hdr[http::field::accept]);
  bool any = accept.empty() || accept.find("*/*") != std::string::npos;
  bool accept_json = any || accept.find("application/json") != std::string::npos;
  bool accept_sse = accept.find("text/event-stream") != std::string::npos;
  if (!accept_json && !accept_sse) {
    co_return co_await reply(stream, parser, http::status::not_acceptable,
                             rpc_error_body(mcp::kServerError, "Not Acceptable: the client must accept application/json or text/event-stream"));
  }
  std::string ctype = ascii_lower(hdr[http::field::content_type]);
  if (ctype.rfind("application/json", 0) != 0) {
    co_return co_await reply(stream, parser, http::status::unsupported_media_type,
                             rpc_error_body(mcp::kServerError, "Unsupported Media Type: Content-Type must be application/json"));
  }
  std::string version_header(hdr["mcp-protocol-version"]);
  if (!version_header.empty() && !mcp::is_supported_version(version_header)) {
    co_return co_await reply(stream, parser, http::status::bad_request,
                             rpc_error_body(mcp::kServerError, fmt::format("Bad Request: unsupported protocol version \"{}\" "
                                                                           "(supported: 2025-11-25, 2025-06-18, 2025-03-26, 2024-11-05)",
                                                                           version_header)));
  }
  std::string sid(hdr["mcp-session-id"]);
  if (!co_await read_body(stream, buffer, parser, config.max_body_bytes)) co_return false;

  boost::system::error_code ec;
  json::value body = json::parse(parser.get().body(), ec);
  if (ec) co_return co_await reply(stream, parser, http::status::bad_request, rpc_error_body(mcp::kParseError, "Parse error: " + ec.message()));
  bool batch = body.is_array();
  std::vector<json::value> messages;
  if (batch) messages.assign(body.as_array().begin(), body.as_array().end());
  else messages.push_back(body);
  if (messages.empty()) co_return co_await reply(stream, parser, http::status::bad_request, rpc_error_body(mcp::kInvalidRequest, "Invalid Request: empty batch"));

  std::set<std::string> request_ids;
  bool has_initialize = false;
  for (const auto& m : messages) {
    std::string why;
    auto kind = mcp::classify(m, &why);
    if (kind == mcp::MessageKind::Invalid) {
      co_return co_await reply(stream, parser, http::status::bad_request,
                               rpc_error_body(mcp::kInvalidRequest, "Invalid Request: " + why + (batch ? " (in a batch)" : "")));
    }
    if (kind == mcp::MessageKind::Request) {
      request_ids.insert(json::serialize(m.as_object().at("id")));
      if (m.as_object().at("method").as_string() == "initialize") has_initialize = true;
    }
  }
  std::shared_ptr<mcp::Session> session;
  if (!sid.empty()) {
    session = mcp.find_session(sid);
    // An initialize that carries a stale session id starts a new session (clients that kept an
    // old id must be able to recover); anything else with an unknown id is 404.
    if (!session && !has_initialize) {
      co_return co_await reply(stream, parser, http::status::not_found, rpc_error_body(mcp::kSessionNotFound, "Session not found"));
    }
  }
  bool new_session = false;
  if (has_initialize) {
    if (messages.size() > 1) {
      co_return co_await reply(stream, parser, http::status::bad_request,
                               rpc_error_body(mcp::kInvalidRequest, "Invalid Request: initialize must be sent on its own"));
    }
    if (session && session->initialize_received()) {
      co_return co_await reply(stream, parser, http::status::bad_request,
                               rpc_error_body(mcp::kInvalidRequest, "Invalid Request: the session is already initialized"));
    }
    if (!session) {
      session = mcp.create_session(mcp::Session::Kind::Streamable);
      new_session = true;
    }
  } else if (!session) {
    // No session id: served statelessly, as WASImancer's clients expect.
    session = mcp.create_session(mcp::Session::Kind::Stateless);
    session->set_protocol_version(version_header.empty() ? std::string(mcp::kDefaultVersion) : version_header);
  }

  auto ex = co_await net::this_coro::executor;
  Strand strand = *ex.template target<Strand>();
  // The HTTP traceparent is the trace of every message of this POST without one in its _meta
  // (current only while they are handed over: never across a co_await).
  auto incoming = trace::TraceContext::parse(hdr["traceparent"]);
  auto handle_all = [&](const std::shared_ptr<mcp::Outbound>& out) {
    trace::Scope trace_scope(incoming ? &*incoming : nullptr);
    for (const auto& m : messages) mcp.handle(session, m, out);
  };
  if (request_ids.empty()) {
    handle_all(std::make_shared<NullOutbound>());
    co_return co_await reply(stream, parser, http::status::accepted, "");
  }
  auto queue = std::make_shared<TextQueue>(strand);
  HttpResponse head{http::status::ok, parser.get().version()};
  if (new_session) head.set("Mcp-Session-Id", session->id());
  bool keep_alive = parser.get().keep_alive();
  if (accept_sse) {
    handle_all(std::make_shared<SseOutbound>(queue, request_ids));
    co_return co_await stream_events(stream, queue, std::move(head), keep_alive);
  }
  handle_all(std::make_shared<JsonOutbound>(queue, request_ids, batch));
  std::string result;
  co_await queue->pop(result, std::chrono::hours(24));
  head.set(http::field::content_type, "application/json");
  head.body() = std::move(result);
  co_return co_await write(stream, std::move(head), keep_alive);
}

net::awaitable<bool> HttpServer::Impl::mcp_get_stream(Stream& stream, Parser& parser, std::shared_ptr<mcp::Session> session) {
  const auto& hdr = parser.get();
  if (ascii_lower(hdr[http::field::accept]).find("text/event-stream") == std::string::npos) {
    co_return co_await reply(stream, parser, http::status::not_acceptable,
                             rpc_error_body(mcp::kServerError, "Not Acceptable: the client must accept text/event-stream"));
  }
  auto ex = co_await net::this_coro::executor;
  auto queue = std::make_shared<TextQueue>(*ex.template target<Strand>());
  auto out = std::make_shared<SseOutbound>(queue, std::set<std::string>{});
  if (!session->attach_stream(out)) {
    co_return co_await reply(stream, parser, http::status::conflict,
                             rpc_error_body(mcp::kServerError, "Conflict: only one SSE stream is allowed per session"));
  }
  bool keep = co_await stream_events(stream, queue, HttpResponse{http::status::ok, hdr.version()}, hdr.keep_alive());
  session->detach_stream(out.get());
  co_return keep;
}

net::awaitable<bool> HttpServer::Impl::legacy_sse(Stream& stream, Parser& parser) {
  const auto& hdr = parser.get();
  auto session = mcp.create_session(mcp::Session::Kind::Legacy);
  auto ex = co_await net::this_coro::executor;
  auto queue = std::make_shared<TextQueue>(*ex.template target<Strand>());
  queue->push(fmt::format("event: endpoint\ndata: /messages?sessionId={}\n\n", session->id()));
  auto out = std::make_shared<SseOutbound>(queue, std::set<std::string>{});
  session->attach_stream(out);
  bool keep = co_await stream_events(stream, queue, HttpResponse{http::status::ok, hdr.version()}, false);
  mcp.end_session(session->id());  // the legacy session lives as long as its stream
  co_return keep;
}

net::awaitable<bool> HttpServer::Impl::legacy_post(Stream& stream, beast::flat_buffer& buffer, Parser& parser, const Target& target) {
  auto it = target.query.find("sessionId");
  if (it == target.query.end() || it->second.empty()) {
    co_return co_await reply(stream, parser, http::status::bad_request, rpc_error_body(mcp::kServerError, "Bad Request: sessionId is required"));
  }
  auto session = mcp.find_session(it->second);
  if (!session || session->kind() != mcp::Session::Kind::Legacy) {
    co_return co_await reply(stream, parser, http::status::not_found, rpc_error_body(mcp::kSessionNotFound, "Session not found"));
  }
  if (ascii_lower(parser.get()[http::field::content_type]).rfind("application/json", 0) != 0) {
    co_return co_await reply(stream, parser, http::status::unsupported_media_type,
                             rpc_error_body(mcp::kServerError, "Unsupported Media Type: Content-Type must be application/json"));
  }
  if (!co_await read_body(stream, buffer, parser, config.max_body_bytes)) co_return false;
  boost::system::error_code ec;
  json::value body = json::parse(parser.get().body(), ec);
  if (ec) co_return co_await reply(stream, parser, http::status::bad_request, rpc_error_body(mcp::kParseError, "Parse error: " + ec.message()));
  std::shared_ptr<mcp::Outbound> out = session->stream();
  if (!out) out = std::make_shared<NullOutbound>();
  {
    auto incoming = trace::TraceContext::parse(parser.get()["traceparent"]);
    trace::Scope trace_scope(incoming ? &*incoming : nullptr);
    if (body.is_array()) {
      for (const auto& m : body.as_array()) mcp.handle(session, m, out);
    } else {
      mcp.handle(session, body, out);
    }
  }
  co_return co_await reply(stream, parser, http::status::accepted, "Accepted", "text/plain");
}

net::awaitable<bool> HttpServer::Impl::mcp_delete(Stream& stream, Parser& parser) {
  std::string sid(parser.get()["mcp-session-id"]);
  if (sid.empty()) {
    co_return co_await reply(stream, parser, http::status::bad_request, rpc_error_body(mcp::kServerError, "Bad Request: Mcp-Session-Id header is required"));
  }
  if (!mcp.find_session(sid)) {
    co_return co_await reply(stream, parser, http::status::not_found, rpc_error_body(mcp::kSessionNotFound, "Session not found"));
  }
  mcp.end_session(sid);
  co_return co_await reply(stream, parser, http::status::ok, "");
}

// ---- HttpServer ---------------------------------------------------------------------------------

HttpServer::HttpServer(mcp::Server& mcp, HttpConfig config) : impl_(std::make_unique<Impl>(mcp, std::move(config))) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::add_routes(std::shared_ptr<RouteHandler> routes) { impl_->routes.push_back(std::move(routes)); }

Result<void> HttpServer::start() {
  auto& im = *impl_;
  boost::system::error_code ec;
  auto addr = net::ip::make_address(im.config.bind_address, ec);
  if (ec) return Error(ErrorKind::InvalidArgument, fmt::format("invalid bind address \"{}\"", im.config.bind_address));
  tcp::endpoint ep(addr, im.config.port);
  im.acceptor.emplace(im.io);
  im.acceptor->open(ep.protocol(), ec);
  if (!ec) im.acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) im.acceptor->bind(ep, ec);
  if (!ec) im.acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return Error(ErrorKind::Io, fmt::format("cannot listen on {}:{}: {}", im.config.bind_address, im.config.port, ec.message()));
  }
  im.bound_port = im.acceptor->local_endpoint().port();
  net::co_spawn(net::make_strand(im.io), im.accept_loop(), net::detached);
  size_t n = std::max<size_t>(1, im.config.network_threads);
  for (size_t i = 0; i < n; ++i) im.threads.emplace_back([&im] { im.io.run(); });
  return {};
}

uint16_t HttpServer::port() const { return impl_->bound_port; }

void HttpServer::stop() {
  auto& im = *impl_;
  {
    std::lock_guard lock(im.stop_mu);
    if (im.stopped) return;
    im.stopped = true;
  }
  if (im.acceptor) {
    net::post(im.io, [&im] {
      boost::system::error_code ignore;
      im.acceptor->close(ignore);
    });
  }
  im.io.stop();
  for (auto& t : im.threads) t.join();
  im.threads.clear();
  im.stop_cv.notify_all();
}

void HttpServer::wait() {
  std::unique_lock lock(impl_->stop_mu);
  impl_->stop_cv.wait(lock, [this] { return impl_->stopped; });
}

}  // namespace wasimancer::transport
