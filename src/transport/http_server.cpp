#include "transport/http_server.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <list>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <sys/socket.h>

#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/beast.hpp>
#include <fmt/format.h>

#include "core/crash_point.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/rate_limit.hpp"
#include "core/text.hpp"
#include "core/thread_name.hpp"
#include "mcp/protocol.hpp"
#include "transport/async_queue.hpp"
#include "transport/http_framing.hpp"

namespace wasimancer::transport {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace json = boost::json;
using tcp = net::ip::tcp;
using net::as_tuple;
using Loop = net::io_context::executor_type;

// The loop of the coroutine running on a connection (co_spawn keeps the executor it was given,
// the loop's own; Boost 1.81).
Loop loop_of(const net::any_io_executor& ex) {
  if (const auto* e = ex.target<Loop>()) return *e;
  throw std::logic_error("a connection's coroutine runs on an unexpected executor");
}

namespace {

using Part = mcp::ResponseStream::Part;
using SteadyClock = std::chrono::steady_clock;
// How long the head of an SSE answer to a POST may wait for the answer's first message; also
// how long a pump waits for the socket after a worker may have written its answer directly
// (StreamWaiter::try_direct) before it looks again (an idle client's connection is then left
// to the idle timeout).
constexpr auto kHeadHold = std::chrono::seconds(1);
// The socket is watched (client_gone) once an answer has taken this long: a quick answer needs
// no watch, and arming one costs two reactor operations (an epoll_ctl and a cancel) per call.
constexpr auto kWatchAfter = std::chrono::milliseconds(20);

// Waits on the connection's loop for a ResponseStream's next part; the stream's waker (any
// thread) cancels the timer through the loop. When the stream overflowed (its client is not
// reading), the write in progress is cancelled too, so the connection closes at once instead of
// at the write deadline. It also watches the socket while the answer is pumped: a client that
// closes its end (an SSE stream it no longer wants, a call it gave up on) is noticed at once,
// not at the next keep-alive write (which would succeed once on a half-closed socket).
struct StreamWaiter : std::enable_shared_from_this<StreamWaiter> {
  explicit StreamWaiter(Loop s) : loop(s), timer(s) {}
  Loop loop;
  net::steady_timer timer;
  beast::tcp_stream* stream = nullptr;  // while the pump runs; touched only on the loop
  // The connection's read buffer: what the watch reads is the client's next request (or the rest
  // of one pipelined), appended there for the connection to parse. Set while the pump runs; only
  // the loop touches it, and nothing else uses the buffer while the watch's read is pending.
  beast::flat_buffer* buffer = nullptr;
  // On the loop: the client left before its answer was out (the watch met the end of its
  // stream, or a failed socket): the pump stops. Implies peer_closed, below.
  bool client_gone = false;
  bool pump_over = false;               // on the loop: the pump waits for the watch to end
  // On the loop: the watch met the end of the client's stream (or a failed socket), before or
  // after the answer went out (after it, a partly sent answer is still finished). The
  // connection must not read again: asio reports the end of a stream once, so a read after it
  // would wait for ever (the connection would stay open in CLOSE-WAIT).
  bool peer_closed = false;
  // A wake is on its way to the loop: later wakes ride on it (the parts of one answer, pushed
  // by a worker a few microseconds apart, cost one hand-off, not one each). The loop clears it
  // before it looks at the stream, so a part pushed after that posts its own wake.
  std::atomic<bool> wake_posted{false};
  std::atomic<bool> abort_wanted{false};
  void wake(bool abort) {
    if (abort) abort_wanted.store(true, std::memory_order_relaxed);
    if (wake_posted.exchange(true, std::memory_order_acq_rel)) return;
    net::post(loop, [self = shared_from_this()] {
      self->wake_posted.store(false, std::memory_order_release);
      if (self->settle_pending) {  // a watch that ended during a direct write: its turn now
        self->settle_pending = false;
        if (self->stream && !self->pump_over) self->settle();
      }
      // Always: a worker's wake that rode on this one may not have its final state visible to
      // settle() yet (kWaited again); the pump, woken here, disarms, which waits for that write.
      self->timer.cancel();
      if (self->abort_wanted.load(std::memory_order_relaxed) && self->stream) self->stream->cancel();
    });
  }
  // Reads (on the loop) what the client sends next, into the connection's buffer: end of
  // stream or an error means the client left; bytes are the next request's and end the watch.
  // When the answer went out directly (below), those bytes are what tells the pump its answer
  // is done, and the connection then parses them without another read. (A read, not a wait for
  // readability: asio re-arms a wait with an epoll_ctl each time; a read costs a speculative
  // recv instead (EAGAIN, as the answer is not out yet) and its data needs no second read:
  // measured 4-7% more in-process calls/s.) The pump does not end while the read is pending
  // (pump()), so what it read is never lost.
  bool watch_pending = false;  // on the loop
  void watch() {
    watch_pending = true;
    auto room = buffer->prepare(beast::read_size(*buffer, 65536));
    stream->socket().async_read_some(room, net::bind_executor(loop, [self = shared_from_this()](boost::system::error_code ec, size_t n) {
      self->watch_pending = false;
      if (n > 0 && self->buffer) self->buffer->commit(n);
      if (ec && ec != net::error::operation_aborted) self->peer_closed = true;
      if (self->pump_over) {
        self->timer.cancel();  // the pump was waiting for this read to end
        return;
      }
      if (!self->stream || ec == net::error::operation_aborted) return;
      self->watch_read = n;
      self->settle();
    }));
  }
  // What a watch that ended means for the pump (on the loop). When it finds a worker in the
  // middle of a direct write, it does not wait for it here: it leaves kWaited, and the worker,
  // once its write is done, wakes the loop, which settles then (settle_pending). Waiting here
  // meant spinning with sched_yield whenever the worker was preempted between its send and its
  // state store (the send wakes the client, which then sends its next request): without it, an
  // in-process call costs 2-7% less CPU (twin servers, four runs).
  size_t watch_read = 0;        // on the loop: what the last watch read
  bool settle_pending = false;  // on the loop: settle() again at the worker's wake
  void settle() {
    int state = direct.load(std::memory_order_acquire);
    if ((state == kWriting && direct.compare_exchange_strong(state, kWaited, std::memory_order_acq_rel)) || state == kWaited) {
      // (kWaited already: an earlier wake ran before the write ended; the worker's own wake,
      // posted after its state store, settles.)
      settle_pending = true;
      return;
    }
    if (state == kWritten || state == kPartial) {
      // The answer went out: the pump finishes, and the connection parses what came (the next
      // request), or closes (the end of the stream: peer_closed).
      timer.cancel();
      return;
    }
    if (watch_read > 0) {
      // A request pipelined before the answer (or one after an answer just written): the
      // loop writes this answer, a direct write would leave the pump waiting for more bytes.
      state = disarm();
      if (state == kWritten || state == kPartial) timer.cancel();
      return;
    }
    client_gone = true;
    timer.cancel();
    stream->cancel();
  }

  // ---- the direct write of a quick SSE answer ----
  // While the pump holds an SSE answer's head for its first message (kArmed), the worker that
  // pushes the answer's end writes head, events and last chunk to the socket itself (a
  // non-blocking send), instead of handing them to the loop: the hand-off back to a network
  // thread (a wake-up of another thread per call) is saved, and the pump learns that its
  // answer is out when the client's next request (or its end of stream) makes the socket
  // readable. What a send cannot take at once, the loop writes (kPartial).
  // Only the loop arms and disarms; only a worker moves kArmed -> kWriting -> kWritten or
  // kPartial. The socket stays open while kWriting: the pump disarms (waiting for a write in
  // progress) before it returns, and nothing closes a busy connection's socket meanwhile.
  // A whole answer (a Complete part: JSON) can go the same way while the pump waits for the
  // first part (complete_mode), written as write() would.
  // kWaited: kWriting, and the loop's watch has ended meanwhile: the worker wakes the loop when
  // its write is done (settle()).
  enum : int { kOff, kArmed, kWriting, kWaited, kWritten, kPartial };
  std::atomic<int> direct{kOff};
  int fd = -1;              // set before kArmed
  std::string direct_out;   // the head (set before kArmed); at kPartial what is left to write
  bool direct_failed = false;  // at kPartial: the socket failed, nothing more can be written
  bool complete_mode = false;  // set before kArmed, with:
  unsigned version = 11;
  std::string_view route;
  const std::atomic<bool>* draining = nullptr;

  // Loop: no direct write from now on. Returns kArmed when none went out, else the state the
  // worker's write left (kWritten, kPartial). A worker inside try_direct is waited for (rare: a
  // pump that ends, or whose hold ran out, while a worker writes or looks at the stream); one
  // that backs out leaves kArmed again, which is then switched off like any other.
  int disarm() {
    for (;;) {
      int state = kArmed;
      if (direct.compare_exchange_strong(state, kOff, std::memory_order_acq_rel)) return kArmed;
      if (state != kWriting && state != kWaited) return state;
      std::this_thread::yield();
    }
  }

  // Worker: writes the answer if it is complete and the pump is holding for it. True when the
  // loop needs no wake (everything was written).
  bool try_direct(mcp::ResponseStream& rs) {
    int state = kArmed;
    if (direct.load(std::memory_order_relaxed) != kArmed ||
        !direct.compare_exchange_strong(state, kWriting, std::memory_order_acq_rel)) {
      return false;
    }
    if (complete_mode) {
      Part part;
      if (draining->load() || !rs.take_if_complete(part)) return back_out();
      direct_out = serialize_complete(std::move(part));
    } else {
      std::vector<Part> parts;
      if (!rs.take_if_ended(parts)) return back_out();
      for (const auto& p : parts) {
        if (p.kind == Part::Chunk && !p.data.empty()) append_chunk(direct_out, p.data);
      }
      direct_out.append(kLastChunk);
    }
    // Counted before the send: a client that has the answer must find it counted.
    metrics::record_http_direct_write();
    size_t sent = 0;
    bool failed = false;
    while (sent < direct_out.size()) {
      ssize_t n = ::send(fd, direct_out.data() + sent, direct_out.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        sent += static_cast<size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        failed = !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
        break;
      }
    }
    pause_point("direct-written");  // tests: the client gets its answer before the state moves on
    if (sent == direct_out.size()) {
      direct_out.clear();
      return end_write(kWritten);
    }
    direct_out.erase(0, sent);
    direct_failed = failed;
    return end_write(kPartial);
  }

  // Worker: the answer is not complete yet (a notification came first): armed again, and the
  // loop is woken for what was pushed.
  bool back_out() {
    pause_point("direct-backout");  // tests: the loop disarms while a worker looks at the stream
    return end_write(kArmed);
  }

  // Worker: leaves kWriting for `to`. True when the loop needs no wake: everything was written
  // and no watch ended meanwhile (kWaited: the loop waits for this write to settle).
  bool end_write(int to) {
    int state = kWriting;
    if (direct.compare_exchange_strong(state, to, std::memory_order_acq_rel)) return to == kWritten;
    direct.store(to, std::memory_order_release);  // kWaited
    return false;
  }

  // The bytes reply() and write() send for a Complete part on a kept-alive connection.
  std::string serialize_complete(Part part) const {
    HttpResponse res{static_cast<http::status>(part.head.status), version};
    if (!part.data.empty()) res.set(http::field::content_type, part.head.content_type);
    for (const auto& [k, v] : part.head.headers) res.set(k, v);
    res.body() = std::move(part.data);
    res.set(http::field::server, "wasimancer");
    res.keep_alive(true);
    res.prepare_payload();
    metrics::record_http_response(route, res.result_int());
    std::ostringstream os;
    os << res;
    return std::move(os).str();
  }
};

bool header_has_token(std::string_view header, std::string_view token) { return ascii_lower(header).find(token) != std::string::npos; }

}  // namespace

// ---- connections ----------------------------------------------------------------------------------

// One accepted connection, as the registry sees it. The fields are guarded by the registry's
// mutex, except `stream`, which only the connection's loop touches. The three flags are
// atomic so the connection's own loop reads them (and sets `busy`) without taking the registry's
// lock on every request; `authenticated` and `dropped` still change only under it.
struct Conn {
  uint64_t id = 0;
  std::string address;
  Loop loop;
  std::atomic<bool> authenticated{false};
  std::atomic<bool> busy{false};     // reading a request's body, or answering it
  std::atomic<bool> dropped{false};  // closed by the registry (evicted, or shutting down): no longer counted
  std::list<std::shared_ptr<Conn>>::iterator waiting_pos;  // in `unauthenticated`, when not authenticated
  beast::tcp_stream* stream = nullptr;
  explicit Conn(Loop s) : loop(s) {}
};

// ---- the server ---------------------------------------------------------------------------------

struct HttpServer::Impl {
  mcp::Server& mcp;
  HttpConfig config;
  // One event loop per network thread (each connection stays on the one it was accepted for):
  // a loop shared by several threads woke its idle threads for each other's work, an epoll_ctl
  // and a futex per request or two. ios[0] also runs the acceptor. Each loop is run by one thread
  // (concurrency hint 1); workers post to it (wakes, direct-write hand-backs), so it keeps its locks.
  // A connection needs no strand: its loop's one thread serialises everything that touches it (a
  // strand's queue and locks on every handler were ~4% of a call's CPU, twin-server A/B).
  std::vector<std::unique_ptr<net::io_context>> ios;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> keep_running;
  size_t next_io = 0;  // round robin, on the accept loop
  net::io_context& io;  // ios[0]
  std::optional<tcp::acceptor> acceptor;
  std::optional<Loop> accept_ex;
  std::vector<std::thread> threads;
  std::vector<std::shared_ptr<RouteHandler>> routes;
  uint16_t bound_port = 0;
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stopped = false;
  std::atomic<bool> draining{false};

  // The connection registry (see HttpConfig::max_connections).
  mutable std::mutex conns_mu;
  std::condition_variable conns_cv;
  uint64_t next_conn = 1;
  size_t open_count = 0;  // counted connections (not dropped)
  std::list<std::shared_ptr<Conn>> unauthenticated;  // oldest first
  std::set<std::shared_ptr<Conn>> all_conns;
  std::map<std::string, size_t> per_address;
  LogThrottle refusals;

  // SSE streams being written, so shutdown can end them.
  std::mutex streams_mu;
  std::list<std::weak_ptr<mcp::ResponseStream>> streams;

  mcp::HttpHandler handler;

  static mcp::HttpRules rules_of(const HttpConfig& c) {
    mcp::HttpRules r;
    r.allowed_hosts = c.allowed_hosts;
    r.allowed_origins = c.allowed_origins;
    r.mcp_token = c.mcp_token;
    r.oauth = c.oauth;
    r.max_body_bytes = c.max_body_bytes;
    r.max_response_bytes = c.max_response_bytes;
    r.max_stream_queue_bytes = c.max_stream_queue_bytes;
    return r;
  }

  Impl(mcp::Server& m, HttpConfig c)
      : mcp(m), config(std::move(c)), ios(make_loops(config.network_threads)), io(*ios[0]), handler(m, rules_of(config)) {}

  static std::vector<std::unique_ptr<net::io_context>> make_loops(size_t n) {
    std::vector<std::unique_ptr<net::io_context>> v;
    for (size_t i = 0; i < std::max<size_t>(1, n); ++i) v.push_back(std::make_unique<net::io_context>(1));
    return v;
  }

  // The connection, with the route label of the request being served (for
  // wasimancer_http_responses_total).
  struct Stream : beast::tcp_stream {
    using beast::tcp_stream::tcp_stream;
    std::string_view route = "other";
    bool head_request = false;  // HEAD: answers are sent without their body
    beast::flat_buffer* buffer = nullptr;  // the connection's read buffer (a pump's watch reads into it)
  };
  using Parser = http::request_parser<http::string_body>;

  net::awaitable<void> accept_loop();
  net::awaitable<void> connection(tcp::socket socket, std::shared_ptr<Conn> conn);
  // Each handler returns whether the connection may be kept alive.
  net::awaitable<bool> dispatch(Stream& stream, beast::flat_buffer& buffer, Parser& parser, Conn& conn);
  net::awaitable<void> await_oauth_keys(const mcp::HttpRequestHead& head);
  net::awaitable<bool> route_request(Stream& stream, beast::flat_buffer& buffer, Parser& parser, RouteHandler& route, Conn& conn);
  net::awaitable<bool> send_answer(Stream& stream, Parser& parser, mcp::HttpAnswer answer);
  net::awaitable<bool> pump(Stream& stream, Parser& parser, std::shared_ptr<mcp::ResponseStream> rs);
  net::awaitable<bool> pump_parts(Stream& stream, Parser& parser, std::shared_ptr<mcp::ResponseStream> rs,
                                  const std::shared_ptr<StreamWaiter>& waiter);

  net::awaitable<bool> write(Stream& stream, HttpResponse res, bool keep_alive);
  net::awaitable<bool> reply(Stream& stream, Parser& parser, http::status status, std::string body,
                             std::string_view content_type = "application/json",
                             std::vector<std::pair<std::string, std::string>> headers = {});
  net::awaitable<bool> read_body(Stream& stream, beast::flat_buffer& buffer, Parser& parser, uint64_t limit);

  // Registry. admit() decides on a new connection: nullptr (refused, with the reason) or its
  // record; `evict` is set to a connection to close to make room.
  std::shared_ptr<Conn> admit(const std::string& address, Loop loop, std::shared_ptr<Conn>& evict, std::string& why);
  void release(Conn& conn);
  void set_authenticated(Conn& conn);
  void drop_locked(Conn& conn);
  static void close_on_loop(const std::shared_ptr<Conn>& conn);
  size_t max_unauthenticated() const { return std::max<size_t>(1, config.max_connections - config.max_connections / 4); }
};

std::shared_ptr<Conn> HttpServer::Impl::admit(const std::string& address, Loop loop, std::shared_ptr<Conn>& evict, std::string& why) {
  std::lock_guard lock(conns_mu);
  if (config.max_connections_per_address && per_address[address] >= config.max_connections_per_address) {
    why = fmt::format("{} connections from this address (WASIMANCER_MAX_CONNECTIONS_PER_ADDRESS)", config.max_connections_per_address);
    if (per_address[address] == 0) per_address.erase(address);
    return nullptr;
  }
  if (open_count >= config.max_connections || unauthenticated.size() >= max_unauthenticated()) {
    // Room is made by closing a connection that has not authenticated and is waiting for its
    // request: the oldest one of the address holding the most such connections (so an attacker's
    // churn of new connections closes its own first, not a client's single one). Connections
    // that authenticated are never closed for a newcomer.
    std::map<std::string_view, size_t> waiting;
    size_t most = 0;
    std::string_view heaviest;
    for (const auto& c : unauthenticated) {
      if (c->busy) continue;
      size_t n = ++waiting[c->address];
      if (n > most) {
        most = n;
        heaviest = c->address;
      }
    }
    for (auto& c : unauthenticated) {
      if (!c->busy && c->address == heaviest) {
        evict = c;
        break;
      }
    }
    if (!evict) {
      why = fmt::format("the limit of {} connections is reached (WASIMANCER_MAX_CONNECTIONS)", config.max_connections);
      return nullptr;
    }
    drop_locked(*evict);
  }
  auto conn = std::make_shared<Conn>(loop);
  conn->id = next_conn++;
  conn->address = address;
  ++open_count;
  ++per_address[address];
  unauthenticated.push_back(conn);
  conn->waiting_pos = std::prev(unauthenticated.end());
  all_conns.insert(conn);
  return conn;
}

void HttpServer::Impl::drop_locked(Conn& c) {
  if (c.dropped) return;
  c.dropped = true;
  --open_count;
  if (auto it = per_address.find(c.address); it != per_address.end() && --it->second == 0) per_address.erase(it);
  if (!c.authenticated) unauthenticated.erase(c.waiting_pos);
}

void HttpServer::Impl::release(Conn& c) {
  std::lock_guard lock(conns_mu);
  drop_locked(c);
  for (auto it = all_conns.begin(); it != all_conns.end(); ++it) {
    if (it->get() == &c) {
      all_conns.erase(it);
      break;
    }
  }
  conns_cv.notify_all();
}

void HttpServer::Impl::set_authenticated(Conn& c) {
  if (c.authenticated) return;  // every later request of the connection
  std::lock_guard lock(conns_mu);
  if (c.authenticated) return;
  if (!c.dropped) unauthenticated.erase(c.waiting_pos);
  c.authenticated = true;
}

void HttpServer::Impl::close_on_loop(const std::shared_ptr<Conn>& conn) {
  // A connection busy with a request finishes it (its loop then sees `dropped` or the drain).
  net::post(conn->loop, [conn] {
    if (!conn->stream || conn->busy) return;
    boost::system::error_code ignore;
    conn->stream->socket().shutdown(tcp::socket::shutdown_both, ignore);
    conn->stream->socket().close(ignore);
  });
}

namespace {
bool body_pending(const http::request_parser<http::string_body>& p) {
  return p.chunked() || (p.content_length() && *p.content_length() > 0);
}
}  // namespace

net::awaitable<bool> HttpServer::Impl::write(Stream& stream, HttpResponse res, bool keep_alive) {
  keep_alive = keep_alive && !draining.load();
  res.set(http::field::server, "wasimancer");
  res.keep_alive(keep_alive);
  res.prepare_payload();
  metrics::record_http_response(stream.route, res.result_int());
  stream.expires_after(config.write_timeout);
  if (stream.head_request) {
    // The head alone, with the Content-Length a GET would get (a body would be read as the
    // start of the next answer).
    http::response_serializer<http::string_body> sr{res};
    auto [ec, n] = co_await http::async_write_header(stream, sr, as_tuple(net::use_awaitable));
    co_return !ec && keep_alive;
  }
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
    stream.expires_after(config.write_timeout);
    auto [ec, n] = co_await http::async_write(stream, cont, as_tuple(net::use_awaitable));
    if (ec) co_return false;
  }
  if (parser.is_done()) co_return true;
  stream.expires_after(config.request_timeout);
  auto [ec, n] = co_await http::async_read(stream, buffer, parser, as_tuple(net::use_awaitable));
  if (ec == http::error::body_limit) {
    co_await reply(stream, parser, http::status::payload_too_large,
                   json::serialize(json::object{{"error", fmt::format("the request body is larger than the limit of {} bytes", limit)}}));
    co_return false;
  }
  co_return !ec;
}

mcp::HttpRequestHead head_of(const HttpHeader& h, const std::string& client) {
  mcp::HttpRequestHead head;
  head.method = std::string(h.method_string());
  head.target = std::string(h.target());
  head.headers.reserve(8);
  for (const auto& f : h) head.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  head.client = client;
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
// comments while idle. Every part queued when the connection gets to it leaves in one write
// (head, events and last chunk of a quick answer together). The stream must make progress:
// once bytes are waiting for the client, it has write_timeout to take all of them (the
// deadline is not renewed while it stays behind). finish() tells the producers when we stop
// (done, or the client left), which also frees what was still queued.
net::awaitable<bool> HttpServer::Impl::pump(Stream& stream, Parser& parser, std::shared_ptr<mcp::ResponseStream> rs) {
  auto ex = co_await net::this_coro::executor;
  auto waiter = std::make_shared<StreamWaiter>(loop_of(ex));
  waiter->stream = &stream;
  waiter->buffer = stream.buffer;
  // Whatever way the pump ends, a late end of the watch touches neither the stream nor the
  // buffer (an exception: the connection closes anyway).
  struct Detach {
    StreamWaiter& w;
    ~Detach() {
      if (w.watch_pending && w.stream) {
        boost::system::error_code ignore;
        w.stream->socket().cancel(ignore);
      }
      w.stream = nullptr;
      w.buffer = nullptr;
    }
  } detach{*waiter};
  const bool keep = co_await pump_parts(stream, parser, std::move(rs), waiter);
  // The watch reads into the connection's buffer: the connection must not read its next request
  // before the watch's read has ended and kept what it read.
  if (waiter->watch_pending) {
    waiter->pump_over = true;
    boost::system::error_code ignore;
    stream.socket().cancel(ignore);  // the watch (nothing else is pending here)
    while (waiter->watch_pending) {
      waiter->timer.expires_after(std::chrono::hours(24));
      co_await waiter->timer.async_wait(as_tuple(net::use_awaitable));
    }
  }
  co_return keep && !waiter->peer_closed;
}

net::awaitable<bool> HttpServer::Impl::pump_parts(Stream& stream, Parser& parser, std::shared_ptr<mcp::ResponseStream> rs,
                                                  const std::shared_ptr<StreamWaiter>& waiter) {
  // (No wake for the parts queued already: next() looks at the queue before it waits.)
  rs->set_waker(
      [weak = std::weak_ptr<StreamWaiter>(waiter), weak_rs = std::weak_ptr<mcp::ResponseStream>(rs)] {
        auto r = weak_rs.lock();
        auto w = weak.lock();
        if (!w) return;
        if (r && w->try_direct(*r)) return;  // written by this thread: nothing for the loop to do
        w->wake(r && r->overflowed());
      },
      false);
  struct Finish {
    std::shared_ptr<mcp::ResponseStream> rs;
    std::shared_ptr<StreamWaiter> waiter;
    Impl& im;
    std::optional<std::list<std::weak_ptr<mcp::ResponseStream>>::iterator> listed;  // in im.streams
    ~Finish() {
      waiter->disarm();  // a worker writing to the socket finishes first
      if (listed) {
        std::lock_guard lock(im.streams_mu);
        im.streams.erase(*listed);
      }
      rs->set_waker(nullptr);
      rs->finish();
    }
  } finish{rs, waiter, *this};
  const auto watch_at = SteadyClock::now() + kWatchAfter;
  bool watch_started = false;  // a watch was started in this pump (next() starts one only once)
  // The next part within `timeout`; false on timeout or when the client left (client_gone).
  auto next = [&](Part& part, SteadyClock::duration timeout) -> net::awaitable<bool> {
    auto until = SteadyClock::now() + timeout;
    for (;;) {
      if (waiter->client_gone) co_return false;
      if (rs->try_pop(part)) co_return true;
      auto now = SteadyClock::now();
      if (now >= until) co_return false;
      if (!watch_started && now >= watch_at) {
        waiter->watch();
        watch_started = true;
      }
      waiter->timer.expires_at(watch_started ? until : std::min(until, watch_at));
      co_await waiter->timer.async_wait(as_tuple(net::use_awaitable));
    }
  };
  const auto& req = parser.get();
  bool keep_alive = req.keep_alive();
  // Lets the worker write the answer itself (StreamWaiter::try_direct; the caller has set what
  // it needs) and waits until its watch reads (the answer went out and the client sent its next
  // request, or left), a wake (the worker left the answer to the loop), or `until`.
  // The response's end (whether the connection stays open) when the answer went out directly;
  // nullopt when the loop must write it.
  auto direct_wait = [&](SteadyClock::time_point until) -> net::awaitable<std::optional<bool>> {
    waiter->fd = stream.socket().native_handle();
    waiter->direct.store(StreamWaiter::kArmed, std::memory_order_release);
    // (Again, if a pipelined request ended an earlier watch: it then ends at once, disarmed.)
    if (!waiter->watch_pending) waiter->watch();
    watch_started = true;
    waiter->timer.expires_at(until);
    co_await waiter->timer.async_wait(as_tuple(net::use_awaitable));
    const int state = waiter->disarm();
    waiter->complete_mode = false;
    if (state == StreamWaiter::kPartial) {
      if (waiter->direct_failed || waiter->client_gone) co_return false;
      stream.expires_after(config.write_timeout);
      auto [wec, wn] = co_await net::async_write(stream, net::buffer(waiter->direct_out), as_tuple(net::use_awaitable));
      if (wec) co_return false;
    }
    if (state == StreamWaiter::kWritten || state == StreamWaiter::kPartial) {
      stream.expires_never();
      co_return keep_alive && !draining.load();
    }
    waiter->direct_out.clear();
    co_return std::nullopt;
  };
  Part part;
  // The first part decides the response's shape; a request may take long (a plugin call).
  if (keep_alive && parser.is_done() && !draining.load() && rs->empty()) {
    // A whole answer (JSON) may be written by the worker. Not longer than kHeadHold: the
    // connection's idle timeout starts only when the pump is done, and a call still running
    // then is answered by the loop as before.
    waiter->complete_mode = true;
    waiter->version = req.version();
    waiter->route = stream.route;
    waiter->draining = &draining;
    if (auto done = co_await direct_wait(SteadyClock::now() + kHeadHold)) co_return *done;
  }
  if (!co_await next(part, std::chrono::hours(24))) {
    if (waiter->client_gone) co_return false;
    co_return co_await reply(stream, parser, http::status::internal_server_error, R"({"error":"the request was not answered"})");
  }
  if (part.kind == Part::Complete) {
    std::vector<std::pair<std::string, std::string>> headers = std::move(part.head.headers);
    if (part.head.close_connection) headers.emplace_back("Connection", "close");
    co_return co_await reply(stream, parser, static_cast<http::status>(part.head.status), std::move(part.data), part.head.content_type,
                             std::move(headers));
  }
  if (part.kind != Part::StreamHead) co_return false;  // Abort: the client fell behind before anything was written
  {
    std::lock_guard lock(streams_mu);
    finish.listed = streams.insert(streams.end(), rs);  // removed by `finish`: no scan per answer
  }
  if (part.head.close_connection || draining.load()) keep_alive = false;
  http::response<http::empty_body> res{static_cast<http::status>(part.head.status), req.version()};
  for (const auto& [k, v] : part.head.headers) res.set(k, v);
  res.set(http::field::server, "wasimancer");
  res.set(http::field::content_type, part.head.content_type);
  res.keep_alive(keep_alive);
  res.chunked(true);
  metrics::record_http_response(stream.route, res.result_int());
  std::string out;
  append_head(out, res.base());

  bool behind = false;  // bytes are waiting for the client: the progress deadline runs
  SteadyClock::time_point deadline{};
  std::vector<Part> parts;
  bool ended = false;
  if (part.head.hold_for_first_message) {
    // An SSE answer to a POST: the head waits (up to kHeadHold) for the first message, so a
    // quick answer leaves as one write (head, event, last chunk) instead of two or three.
    const auto hold_until = SteadyClock::now() + kHeadHold;
    if (keep_alive && rs->empty()) {
      waiter->direct_out = out;  // the head: the worker adds the events and the last chunk
      if (auto done = co_await direct_wait(hold_until)) co_return *done;
    }
    Part first;
    bool got = co_await next(first, std::max(hold_until - SteadyClock::now(), SteadyClock::duration::zero()));
    if (waiter->client_gone) co_return false;
    if (got) {
      if (first.kind == Part::Chunk && !first.data.empty()) append_chunk(out, first.data);
      else if (first.kind == Part::End) ended = true;
      else if (first.kind == Part::Abort) co_return false;
    }
  }
  for (;;) {
    // Everything queued now goes into this write.
    parts.clear();
    rs->pop_all(parts);
    for (auto& p : parts) {
      if (p.kind == Part::Chunk && !p.data.empty()) append_chunk(out, p.data);
      else if (p.kind == Part::End) ended = true;
      else if (p.kind == Part::Abort) co_return false;  // the client fell behind: close, freeing the queue
      if (ended) break;
    }
    if (out.empty() && !ended) {  // (an End alone still has its last chunk to write)
      if (!co_await next(part, config.sse_keepalive)) {
        if (waiter->client_gone) co_return false;
        append_chunk(out, ": keepalive\n\n");
      } else {
        if (part.kind == Part::Chunk && !part.data.empty()) append_chunk(out, part.data);
        else if (part.kind == Part::End) ended = true;
        else if (part.kind == Part::Abort) co_return false;
        if (!ended) continue;  // gather whatever else is queued
      }
    }
    if (ended) out.append(kLastChunk);
    if (!behind) {
      behind = true;
      deadline = SteadyClock::now() + config.write_timeout;
    }
    stream.expires_at(deadline);
    auto [wec, wn] = co_await net::async_write(stream, net::buffer(out), as_tuple(net::use_awaitable));
    if (wec) co_return false;  // the client went away or fell behind: later messages are dropped
    out.clear();
    if (out.capacity() > (64u << 10)) out.shrink_to_fit();
    if (ended) break;
    if (rs->queued_bytes() == 0) behind = false;  // caught up
  }
  stream.expires_never();
  co_return keep_alive && !draining.load();
}

net::awaitable<void> HttpServer::Impl::accept_loop() {
  for (;;) {
    net::io_context& loop = *ios[next_io];  // the new connection's event loop
    auto [ec, socket] = co_await acceptor->async_accept(loop, as_tuple(net::use_awaitable));
    if (ec) {
      if (ec == net::error::operation_aborted || !acceptor->is_open()) co_return;
      refusals.log("accept", spdlog::level::warn, "accept failed: {}", ec.message());
      if (ec == net::error::no_descriptors) {
        // Out of file descriptors: pause a moment instead of spinning.
        net::steady_timer t(co_await net::this_coro::executor, std::chrono::milliseconds(50));
        co_await t.async_wait(as_tuple(net::use_awaitable));
      }
      continue;
    }
    boost::system::error_code ep_ec;
    auto peer = socket.remote_endpoint(ep_ec);
    std::string address = ep_ec ? std::string() : peer.address().to_string();
    std::shared_ptr<Conn> evict;
    std::string why;
    next_io = (next_io + 1) % ios.size();
    auto conn = draining.load() ? nullptr : admit(address, loop.get_executor(), evict, why);
    if (evict) {
      refusals.log("evicted", spdlog::level::info, "closed a connection from {} that had not authenticated, to make room for a new one",
                   evict->address);
      close_on_loop(evict);
    }
    if (!conn) {
      boost::system::error_code ignore;
      socket.close(ignore);
      if (!why.empty()) refusals.log("refused", spdlog::level::warn, "connection from {} refused: {}", address, why);
      continue;
    }
    // Small answers leave in one write, but the SSE stream's later events must not wait for
    // delayed ACKs (Nagle).
    boost::system::error_code nodelay_ec;
    socket.set_option(tcp::no_delay(true), nodelay_ec);
    net::co_spawn(conn->loop, connection(std::move(socket), conn), net::detached);
  }
}

net::awaitable<void> HttpServer::Impl::connection(tcp::socket socket, std::shared_ptr<Conn> conn) {
  Stream stream(std::move(socket));
  conn->stream = &stream;
  struct Guard {
    Impl& im;
    std::shared_ptr<Conn> conn;
    ~Guard() {
      conn->stream = nullptr;
      im.release(*conn);
    }
  } guard{*this, conn};
  beast::flat_buffer buffer;
  stream.buffer = &buffer;
  for (;;) {
    if (conn->dropped || draining.load()) break;
    Parser parser;
    parser.header_limit(config.max_header_bytes);
    // No body limit while reading the header: Beast would reject a large Content-Length there,
    // before the route can answer 401/403 first. read_body() sets the route's limit.
    parser.body_limit(boost::none);
    const bool authenticated = conn->authenticated;
    // Before authentication the whole header must come within header_timeout (slowloris);
    // an authenticated keep-alive connection may wait idle_timeout for its next request.
    stream.expires_after(authenticated ? config.idle_timeout : config.header_timeout);
    auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, as_tuple(net::use_awaitable));
    if (ec) {
      if (ec == http::error::header_limit) {
        HttpResponse res{http::status::request_header_fields_too_large, 11};
        res.body() = R"({"error":"the request headers are too large"})";
        res.set(http::field::content_type, "application/json");
        co_await write(stream, std::move(res), false);
      } else if (ec != http::error::end_of_stream && ec != beast::error::timeout && ec != net::error::eof &&
                 ec != net::error::connection_reset && ec != net::error::operation_aborted && ec != net::error::bad_descriptor) {
        HttpResponse res{http::status::bad_request, 11};
        res.body() = json::serialize(json::object{{"error", "malformed HTTP request: " + ec.message()}});
        res.set(http::field::content_type, "application/json");
        co_await write(stream, std::move(res), false);
      }
      break;
    }
    conn->busy = true;
    bool keep = false;
    try {
      keep = co_await dispatch(stream, buffer, parser, *conn);
    } catch (const std::exception& e) {
      log().error("HTTP request failed: {}", e.what());
      keep = false;
    }
    conn->busy = false;
    if (!keep) break;
  }
  // Close gracefully: stop sending, then read and discard what the client still sends (an
  // upload refused before its body was read) for a moment, so the kernel does not answer it
  // with a reset that could destroy our response before the client reads it.
  boost::system::error_code ignore;
  if (stream.socket().is_open()) {
    stream.socket().shutdown(tcp::socket::shutdown_send, ignore);
    stream.expires_after(std::chrono::seconds(2));
    std::array<char, 16384> scratch;
    size_t drained = 0;
    for (;;) {
      auto [ec, n] = co_await stream.async_read_some(net::buffer(scratch), as_tuple(net::use_awaitable));
      drained += n;
      if (ec || drained > (64u << 20)) break;
    }
  }
  stream.socket().close(ignore);
}

net::awaitable<bool> HttpServer::Impl::dispatch(Stream& stream, beast::flat_buffer& buffer, Parser& parser, Conn& conn) {
  stream.route = metrics::route_label(parser.get().target());
  stream.head_request = parser.get().method() == http::verb::head;
  mcp::HttpRequestHead head = head_of(parser.get(), conn.address);
  if (draining.load()) co_return co_await send_answer(stream, parser, mcp::HttpHandler::shutting_down());
  if (auto refused = handler.check_host_origin(head)) co_return co_await send_answer(stream, parser, std::move(*refused));
  if (config.oauth) co_await await_oauth_keys(head);
  for (auto& r : routes) {
    if (r->matches(parser.get())) co_return co_await route_request(stream, buffer, parser, *r, conn);
  }
  if (!config.serve_mcp) {
    // The --metrics-bind listener: its routes and /health only.
    std::string_view target = parser.get().target();
    std::string_view path = target.substr(0, target.find('?'));
    if (path == "/health" && parser.get().method() == http::verb::get) co_return co_await reply(stream, parser, http::status::ok, R"({"status":"ok"})");
    co_return co_await reply(stream, parser, http::status::not_found,
                             json::serialize(json::object{{"error", fmt::format("no route for {} {}", std::string(parser.get().method_string()), path)}}));
  }
  if (handler.authorized(head)) set_authenticated(conn);
  auto early = handler.on_header(head);
  if (auto* answer = std::get_if<mcp::HttpAnswer>(&early)) co_return co_await send_answer(stream, parser, std::move(*answer));
  if (!co_await read_body(stream, buffer, parser, std::get<uint64_t>(early))) co_return false;
  co_return co_await send_answer(stream, parser, handler.on_body(head, std::move(parser.get().body())));
}

net::awaitable<void> HttpServer::Impl::await_oauth_keys(const mcp::HttpRequestHead& head) {
  // A token naming a key the issuer's set does not have (key rotation, or keys not loaded yet):
  // the request waits for the refetch on a timer, so the network thread serves others meanwhile.
  // Then the routes' checks (MCP's and the admin API's) see the new set.
  auto wanted = config.oauth->keys_pending(head.header("authorization"));
  if (!wanted) co_return;
  net::steady_timer timer(co_await net::this_coro::executor);
  for (auto until = SteadyClock::now() + mcp::OAuthResource::kKeyWait;
       config.oauth->key_generation() < *wanted && SteadyClock::now() < until;) {
    timer.expires_after(std::chrono::milliseconds(20));
    co_await timer.async_wait(as_tuple(net::use_awaitable));
  }
}

net::awaitable<bool> HttpServer::Impl::route_request(Stream& stream, beast::flat_buffer& buffer, Parser& parser, RouteHandler& route,
                                                     Conn& conn) {
  if (auto early = route.check(parser.get())) {
    auto res = std::move(*early);
    bool keep = parser.get().keep_alive() && !body_pending(parser);
    co_return co_await write(stream, std::move(res), keep);
  }
  set_authenticated(conn);  // the route's own token check passed
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
  auto queue = std::make_shared<AsyncQueue<HttpResponse>>(loop_of(ex));
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
  im.accept_ex.emplace(im.io.get_executor());
  net::co_spawn(*im.accept_ex, im.accept_loop(), net::detached);
  for (auto& loop : im.ios) {  // one thread each (config.network_threads of them)
    im.keep_running.push_back(net::make_work_guard(*loop));  // a loop with no connection yet stays up
    im.threads.push_back(named_thread("wm-net", [&l = *loop] { l.run(); }));
  }
  return {};
}

uint16_t HttpServer::port() const { return impl_->bound_port; }

size_t HttpServer::connection_count() const {
  std::lock_guard lock(impl_->conns_mu);
  return impl_->open_count;
}

size_t HttpServer::unauthenticated_count() const {
  std::lock_guard lock(impl_->conns_mu);
  return impl_->unauthenticated.size();
}

void HttpServer::shutdown(std::chrono::milliseconds grace) {
  auto& im = *impl_;
  {
    std::lock_guard lock(im.stop_mu);
    if (im.stopped || im.threads.empty()) return;
  }
  auto deadline = Clock::now() + grace;
  im.draining = true;
  // 1. No new connections.
  net::post(*im.accept_ex, [&im] {
    boost::system::error_code ignore;
    im.acceptor->close(ignore);
  });
  // 2. Connections waiting for a request are closed; busy ones finish their request (new
  //    requests get 503) and close after it.
  {
    std::lock_guard lock(im.conns_mu);
    for (const auto& c : im.all_conns) Impl::close_on_loop(c);
  }
  // 3. Calls in flight finish until the deadline; the rest are answered with an error.
  size_t running = im.mcp.calls_in_flight();
  if (running) log().info("shutting down: waiting up to {} ms for {} call(s) in flight", grace.count(), running);
  im.mcp.drain(deadline);
  // 4. SSE streams end with their last chunk (their connections then close).
  {
    std::lock_guard lock(im.streams_mu);
    for (auto& w : im.streams) {
      if (auto rs = w.lock()) rs->end();
    }
  }
  // 5. Answers are written, connections closed (bounded: a client that does not read is cut).
  {
    std::unique_lock lock(im.conns_mu);
    if (!im.conns_cv.wait_for(lock, std::chrono::seconds(5), [&im] { return im.all_conns.empty(); })) {
      log().warn("shutting down: {} connection(s) still open after 5 s are closed", im.all_conns.size());
    }
  }
  stop();
}

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
  for (auto& loop : im.ios) loop->stop();
  for (auto& t : im.threads) t.join();
  im.threads.clear();
  im.stop_cv.notify_all();
}

void HttpServer::wait() {
  std::unique_lock lock(impl_->stop_mu);
  impl_->stop_cv.wait(lock, [this] { return impl_->stopped; });
}

}  // namespace wasimancer::transport
