#include "http_server.hpp"

#include <chrono>

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <boost/json.hpp>

namespace wasimancer::test {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

struct TestHttpServer::Impl {
  net::io_context io;
  tcp::acceptor acceptor{io};
  std::thread thread;
  std::atomic<bool> stopping{false};
  mutable std::mutex mu;
  std::vector<RecordedRequest> requests;
  std::vector<std::thread> workers;
  std::vector<std::shared_ptr<tcp::socket>> sockets;  // shut down by the destructor

  void serve(std::shared_ptr<tcp::socket> sp) {
    tcp::socket& sock = *sp;
    boost::beast::flat_buffer buf;
    for (;;) {
      http::request<http::string_body> req;
      boost::system::error_code ec;
      http::read(sock, buf, req, ec);
      if (ec) return;
      RecordedRequest rec;
      rec.method = std::string(req.method_string());
      rec.target = std::string(req.target());
      for (const auto& f : req) rec.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
      rec.body = req.body();
      {
        std::lock_guard lock(mu);
        requests.push_back(rec);
      }
      http::response<http::string_body> res{http::status::ok, req.version()};
      res.set(http::field::server, "wasimancer-test");
      res.keep_alive(req.keep_alive());
      std::string target(req.target());
      std::string path = target.substr(0, target.find('?'));
      std::string query = target.find('?') == std::string::npos ? "" : target.substr(target.find('?') + 1);
      if (path == "/todos/1") {
        res.set(http::field::content_type, "application/json; charset=utf-8");
        res.body() = "{\n  \"userId\": 1,\n  \"id\": 1,\n  \"title\": \"delectus aut autem\",\n  \"completed\": false\n}";
      } else if (path == "/echo") {
        res.set("x-method", req.method_string());
        res.set(http::field::content_type, "text/plain");
        res.body() = req.body();
      } else if (path == "/request") {
        boost::json::object o, h;
        o["method"] = rec.method;
        o["target"] = rec.target;
        for (auto& [k, v] : rec.headers) {
          std::string lk = k;
          for (auto& c : lk) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          h[lk] = v;
        }
        o["headers"] = h;
        o["body"] = rec.body;
        res.set(http::field::content_type, "application/json");
        res.body() = boost::json::serialize(o);
      } else if (path.rfind("/status/", 0) == 0) {
        int code = std::atoi(path.substr(8).c_str());
        res.result(static_cast<unsigned>(code));
        res.body() = "status " + std::to_string(code);
      } else if (path.rfind("/bytes/", 0) == 0) {
        res.body() = std::string(std::strtoull(path.substr(7).c_str(), nullptr, 10), 'a');
      } else if (path == "/headers") {
        res.set(http::field::content_type, "text/html; charset=utf-8");
        res.set("X-Test-Header", "hello");
        res.body() = "<html>ok</html>";
      } else if (path == "/redirect") {
        res.result(http::status::found);
        res.set(http::field::location, query.rfind("to=", 0) == 0 ? query.substr(3) : "/");
      } else if (path.rfind("/slow/", 0) == 0) {
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::atoi(path.substr(6).c_str()));
        while (!stopping && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        res.body() = "slow";
      } else if (path == "/empty") {
        res.body() = "";
      } else {
        res.result(http::status::not_found);
        res.body() = "not found";
      }
      res.prepare_payload();
      http::write(sock, res, ec);
      if (ec || !res.keep_alive()) return;
    }
  }
};

TestHttpServer::TestHttpServer() : impl_(std::make_unique<Impl>()) {
  tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen();
  port_ = impl_->acceptor.local_endpoint().port();
  impl_->thread = std::thread([impl = impl_.get()] {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket sock(impl->io);
      impl->acceptor.accept(sock, ec);
      if (impl->stopping) return;
      if (ec) continue;
      auto sp = std::make_shared<tcp::socket>(std::move(sock));
      std::lock_guard lock(impl->mu);
      impl->sockets.push_back(sp);
      impl->workers.emplace_back([impl, sp] { impl->serve(sp); });
    }
  });
}

TestHttpServer::~TestHttpServer() {
  impl_->stopping = true;
  boost::system::error_code ec;
  // Wake the blocking accept with a connection of our own.
  {
    tcp::socket s(impl_->io);
    s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_), ec);
  }
  impl_->thread.join();
  impl_->acceptor.close(ec);
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(impl_->mu);
    workers.swap(impl_->workers);
    // Unblock workers waiting on keep-alive connections; they finish and are joined.
    for (auto& s : impl_->sockets) s->shutdown(tcp::socket::shutdown_both, ec);
  }
  for (auto& w : workers) w.join();
}

std::vector<RecordedRequest> TestHttpServer::requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->requests;
}

}  // namespace wasimancer::test
