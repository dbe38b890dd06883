// wasimancer-ceiling: the machine's ceiling for the HTTP benchmarks (`make bench`).
//
// A minimal Boost.Beast server doing the least an MCP server must do per tools/call: read the
// request, parse its JSON body, and answer with the JSON-RPC result, as one SSE event when the
// client accepts text/event-stream (what SDK clients send), else as JSON; every answer in one
// write. No authentication, sessions, plugins or workers. bench.cpp reports our HTTP figures as
// ratios to this server's, measured in the same run.
//
// With `hop`, each answer is built on a separate pool of threads (as wasimancer runs every tool
// call off its network threads) and handed back to the connection's thread for the write: the
// same server with the thread hand-off our design requires, to show what that hand-off costs on
// this machine by itself.
//
//   wasimancer-ceiling PORT [THREADS] [hop]
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

asio::thread_pool* g_workers = nullptr;  // set with `hop`

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  explicit Connection(tcp::socket s) : socket_(std::move(s)) { socket_.set_option(tcp::no_delay(true)); }
  void start() { read(); }

 private:
  void read() {
    req_ = {};
    http::async_read(socket_, buffer_, req_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return;
      if (!g_workers) return self->answer();
      asio::post(*g_workers, [self] {
        self->build();
        asio::post(self->socket_.get_executor(), [self] { self->write(); });
      });
    });
  }

  void answer() {
    build();
    write();
  }

  void build() {
    json::value id = nullptr;
    boost::system::error_code ec;
    json::value body = json::parse(req_.body(), ec);
    if (!ec && body.is_object()) {
      if (auto* v = body.as_object().if_contains("id")) id = *v;
    }
    std::string result = json::serialize(json::object{
        {"jsonrpc", "2.0"}, {"id", id}, {"result", json::object{{"content", json::array{json::object{{"type", "text"}, {"text", ""}}}}}}});
    bool sse = req_[http::field::accept].find("text/event-stream") != beast::string_view::npos;
    res_ = {};
    res_.version(11);
    res_.result(http::status::ok);
    res_.keep_alive(req_.keep_alive());
    if (sse) {
      res_.set(http::field::content_type, "text/event-stream");
      res_.set(http::field::cache_control, "no-cache");
      res_.body() = "event: message\ndata: " + result + "\n\n";
    } else {
      res_.set(http::field::content_type, "application/json");
      res_.body() = std::move(result);
    }
    res_.prepare_payload();
  }

  void write() {
    // Header and body in one buffer sequence: one write, one packet.
    http::async_write(socket_, res_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec || !self->res_.keep_alive()) return;
      self->read();
    });
  }

  tcp::socket socket_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
  http::response<http::string_body> res_;
};

void accept(tcp::acceptor& acceptor) {
  acceptor.async_accept([&acceptor](beast::error_code ec, tcp::socket s) {
    if (!ec) std::make_shared<Connection>(std::move(s))->start();
    accept(acceptor);
  });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: wasimancer-ceiling PORT [THREADS]\n";
    return 2;
  }
  int port = std::atoi(argv[1]);
  int threads = argc > 2 ? std::atoi(argv[2]) : static_cast<int>(std::thread::hardware_concurrency());
  if (threads < 1) threads = 1;
  std::unique_ptr<asio::thread_pool> workers;
  if (argc > 3 && std::string(argv[3]) == "hop") {
    workers = std::make_unique<asio::thread_pool>(threads);
    g_workers = workers.get();
  }
  asio::io_context io(threads);
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
  accept(acceptor);
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&] { io.run(); });
  io.run();
  for (auto& t : pool) t.join();
}
