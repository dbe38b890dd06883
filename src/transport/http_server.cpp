#include "transport/http_server.hpp"

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>

#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/beast.hpp>
#include <fmt/format.h>

#include "core/log.hpp"
#include "core/metrics.hpp"
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

namespace {

using Part = mcp::ResponseStream::Part;

// Waits on the connection's strand for a ResponseStream's next part; the stream's waker (any
// thread) cancels the timer through the strand.
struct StreamWaiter : std::enable_shared_from_this<StreamWaiter> {
  explicit StreamWaiter(Strand s) : strand(s), timer(s) {}
  Strand strand;
  net::steady_timer timer;
  void wake() {
    net::post(strand, [self = shared_from_this()] { self->timer.cancel(); });
  }
};

bool header_has_token(std::string_view header, std::string_view token) { return ascii_lower(header).find(token) != std::string::npos; }

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

  mcp::HttpHandler handler;

  static mcp::HttpRules rules_of(const HttpConfig& c) {
    mcp::HttpRules r;
    r.allowed_hosts = c.allowed_hosts;
    r.allowed_origins = c.allowed_origins;
    r.mcp_token = c.mcp_token;
    r.max_body_bytes = c.max_body_bytes;
    return r;
  }

  Impl(mcp::Server& m, HttpConfig c)
      : mcp(m), config(std::move(c)), io(static_cast<int>(std::max<size_t>(1, config.network_threads))),
        handler(m, rules_of(config)) {}

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
  net::awaitable<bool> send_answer(Stream& stream, Parser& parser, mcp::HttpAnswer answer);
  net::awaitable<bool> pump(Stream& stream, Parser& parser, std::shared_ptr<mcp::ResponseStream> rs);

  net::awaitable<bool> write(Stream& stream, HttpResponse res, bool keep_alive);
  net::awaitable<bool> reply(Stream& stream, Parser& parser, http::status status, std::string body,
                             std::string_view content_type = "application/json",
                             std::vector<std::pair<std::string, std::string>> headers = {});
  net::awaitable<bool> read_body(Stream& stream, beast::flat_buffer& buffer, Parser& parser, uint64_t limit);
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

mcp::HttpRequestHead head_of(const HttpHeader& h) {
  mcp::HttpRequestHead head;
  head.method = std::string(h.method_string());
  head.target = std::string(h.target());
  for (const auto& f : h) head.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  return head;
}

net::awaitable<bool> HttpServer::Impl::send_answer(Stream& stream, Parser& parser, mcp::HttpAnswer answer) {
  if (answer.stream) co_return co_await pump(stream, parser, std::move(answer.stream));
  std::vector<std::pair<std::string, std::string>> headers = std::move(answer.head.headers);
  if (answer.head.close_connection) headers.emplace_back("Connection", "close");
  co_return co_await reply(stream, parser, static_cast<http::status>(answer.head.status), std::move(answer.body),
                           answer.head.content_type, std::move(headers));
}

// Writes a ResponseStream: one complete response, or a chunked SSE stream with keep-alive
// comments while idle. finish() tells the producers when we stop (done or the client left).
net::awaitable<bool> HttpServer::Impl::pump(Stream& stream, Parser& parser, std::shared_ptr<mcp::ResponseStream> rs) {
  auto ex = co_await net::this_coro::executor;
  auto waiter = std::make_shared<StreamWaiter>(*ex.template target<Strand>());
  rs->set_waker([weak = std::weak_ptr<StreamWaiter>(waiter)] {
    if (auto w = weak.lock()) w->wake();
  });
  struct Finish {
    std::shared_ptr<mcp::ResponseStream> rs;
    ~Finish() {
      rs->set_waker(nullptr);
      rs->finish();
    }
  } finish{rs};
  auto next = [&](Part& part, std::chrono::steady_clock::duration timeout) -> net::awaitable<bool> {
    auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (rs->try_pop(part)) co_return true;
      if (std::chrono::steady_clock::now() >= until) co_return false;
      waiter->timer.expires_at(until);
      co_await waiter->timer.async_wait(as_tuple(net::use_awaitable));
    }
  };
  const auto& req = parser.get();
  bool keep_alive = req.keep_alive();
  Part part;
  // The first part decides the response's shape; a request may take long (a plugin call).
  if (!co_await next(part, std::chrono::hours(24))) {
    co_return co_await reply(stream, parser, http::status::internal_server_error, R"({"error":"the request was not answered"})");
  }
  if (part.kind == Part::Complete) {
    std::vector<std::pair<std::string, std::string>> headers = std::move(part.head.headers);
    co_return co_await reply(stream, parser, static_cast<http::status>(part.head.status), std::move(part.data), part.head.content_type,
                             std::move(headers));
  }
  if (part.kind != Part::StreamHead) co_return false;
  if (part.head.close_connection) keep_alive = false;
  http::response<http::empty_body> res{static_cast<http::status>(part.head.status), req.version()};
  for (const auto& [k, v] : part.head.headers) res.set(k, v);
  res.set(http::field::server, "wasimancer");
  res.set(http::field::content_type, part.head.content_type);
  res.keep_alive(keep_alive);
  res.chunked(true);
  metrics::record_http_response(stream.route, res.result_int());
  http::response_serializer<http::empty_body> sr{res};
  stream.expires_never();
  auto [ec, n] = co_await http::async_write_header(stream, sr, as_tuple(net::use_awaitable));
  if (ec) co_return false;
  for (;;) {
    std::string item;
    if (co_await next(part, config.sse_keepalive)) {
      if (part.kind == Part::End) break;
      item = std::move(part.data);
    } else {
      item = ": keepalive\n\n";
    }
    stream.expires_after(config.request_timeout);
    auto [wec, wn] = co_await net::async_write(stream, http::make_chunk(net::buffer(item)), as_tuple(net::use_awaitable));
    if (wec) co_return false;  // the client went away: later messages are dropped
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
  stream.route = metrics::route_label(parser.get().target());
  mcp::HttpRequestHead head = head_of(parser.get());
  if (auto refused = handler.check_host_origin(head)) co_return co_await send_answer(stream, parser, std::move(*refused));
  for (auto& r : routes) {
    if (r->matches(parser.get())) co_return co_await route_request(stream, buffer, parser, *r);
  }
  if (!config.serve_mcp) {
    // The --metrics-bind listener: its routes and /health only.
    std::string_view target = parser.get().target();
    std::string_view path = target.substr(0, target.find('?'));
    if (path == "/health" && parser.get().method() == http::verb::get) co_return co_await reply(stream, parser, http::status::ok, R"({"status":"ok"})");
    co_return co_await reply(stream, parser, http::status::not_found,
                             json::serialize(json::object{{"error", fmt::format("no route for {} {}", std::string(parser.get().method_string()), path)}}));
  }
  auto early = handler.on_header(head);
  if (auto* answer = std::get_if<mcp::HttpAnswer>(&early)) co_return co_await send_answer(stream, parser, std::move(*answer));
  if (!co_await read_body(stream, buffer, parser, std::get<uint64_t>(early))) co_return false;
  co_return co_await send_answer(stream, parser, handler.on_body(head, std::move(parser.get().body())));
}

net::awaitable<bool> HttpServer::Impl::route_request(Stream& stream, beast::flat_buffer& buffer, Parser& parser, RouteHandler& route) {
  if (auto early = route.check(parser.get())) {
    auto res = std::move(*early);
    bool keep = parser.get().keep_alive() && !body_pending(parser);
    co_return co_await write(stream, std::move(res), keep);
  }
  if (!co_await read_body(stream, buffer, parser, route.body_limit(parser.get()))) co_return false;
  if (auto start = route.stream(parser.get())) {
    // A stream of Server-Sent Events (the dashboard's live feed), written as MCP's SSE answers are.
    auto rs = std::make_shared<mcp::ResponseStream>();
    rs->start(mcp::HttpHead{200, "text/event-stream", {{"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}}, false});
    auto stop = start([rs](std::string chunk) { return rs->chunk(std::move(chunk)); });
    if (stop) rs->on_finish(std::move(stop));
    co_return co_await pump(stream, parser, std::move(rs));
  }
  HttpRequest req = parser.release();
  bool keep_alive = req.keep_alive();
  unsigned version = req.version();
  auto ex = co_await net::this_coro::executor;
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
    std::string hint;
    if (ec == net::error::address_in_use) {
      hint = fmt::format(" (another program is using port {}: stop it, or choose another port with HTTP_PORT or --port)", im.config.port);
    } else if (ec == net::error::access_denied) {
      hint = " (ports below 1024 need privileges: choose another port with HTTP_PORT or --port)";
    }
    return Error(ErrorKind::Io, fmt::format("cannot listen on {}:{}: {}{}", im.config.bind_address, im.config.port, ec.message(), hint));
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
