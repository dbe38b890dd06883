#include "transport/stdio.hpp"

#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "core/log.hpp"
#include "mcp/jsonrpc.hpp"

namespace wasimancer::transport {

namespace json = boost::json;

namespace {

class StdoutOutbound : public mcp::Outbound {
 public:
  explicit StdoutOutbound(std::FILE* out) : out_(out) {}
  void send(json::object message) override {
    std::string line = json::serialize(message);  // serialize never emits raw newlines
    line.push_back('\n');
    std::lock_guard lock(mu_);
    std::fwrite(line.data(), 1, line.size(), out_);
    std::fflush(out_);
  }
  void request_done(const json::value&) override {
    std::lock_guard lock(mu_);
    --in_flight_;
  }
  void started() {
    std::lock_guard lock(mu_);
    ++in_flight_;
  }
  int in_flight() {
    std::lock_guard lock(mu_);
    return in_flight_;
  }

 private:
  std::FILE* out_;
  std::mutex mu_;
  int in_flight_ = 0;
};

}  // namespace

int run_stdio(mcp::Server& server, std::FILE* in, std::FILE* out) {
  auto session = server.create_session(mcp::Session::Kind::Stdio);
  auto stdout_stream = std::make_shared<StdoutOutbound>(out);
  session->attach_stream(stdout_stream);
  std::string line;
  char buf[65536];
  constexpr size_t kMaxLine = 64ull << 20;
  bool overlong = false;
  while (std::fgets(buf, sizeof buf, in)) {
    size_t n = std::strlen(buf);
    bool complete = n > 0 && buf[n - 1] == '\n';
    if (!overlong) line.append(buf, n);
    if (line.size() > kMaxLine) {
      overlong = true;
      line.clear();
    }
    if (!complete) continue;
    if (overlong) {
      stdout_stream->send(mcp::make_error(nullptr, {mcp::kInvalidRequest, "Invalid Request: the message is larger than 64 MiB", std::nullopt}));
      overlong = false;
      continue;
    }
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    if (line.empty()) continue;
    boost::system::error_code ec;
    json::value msg = json::parse(line, ec);
    line.clear();
    if (ec) {
      stdout_stream->send(mcp::make_error(nullptr, {mcp::kParseError, "Parse error: " + ec.message(), std::nullopt}));
      continue;
    }
    auto handle_one = [&](const json::value& m) {
      if (m.is_object() && m.as_object().contains("method") && m.as_object().contains("id")) stdout_stream->started();
      server.handle(session, m, stdout_stream);
    };
    if (msg.is_array()) {
      for (const auto& m : msg.as_array()) handle_one(m);
    } else {
      handle_one(msg);
    }
  }
  // stdin closed: let running calls answer (a client usually waits for them) for a short while.
  for (int i = 0; i < 100 && stdout_stream->in_flight() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  server.end_session(session->id());
  log().info("stdin closed: stdio session ended");
  return 0;
}

}  // namespace wasimancer::transport
