#include "transport/stdio.hpp"

#include <cstring>
#include <mutex>
#include <set>
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
  // A message the server will answer (and then call request_done for): a request, or an invalid
  // message with a valid id.
  void started(const mcp::Message& m) {
    if (m.id.is_null() || m.kind == mcp::MessageKind::Response || m.kind == mcp::MessageKind::Notification) return;
    std::lock_guard lock(mu_);
    in_flight_.insert(json::serialize(m.id));
  }
  void request_done(const json::value& id) override {
    std::lock_guard lock(mu_);
    if (auto it = in_flight_.find(json::serialize(id)); it != in_flight_.end()) in_flight_.erase(it);
  }
  bool idle() {
    std::lock_guard lock(mu_);
    return in_flight_.empty();
  }

 private:
  std::FILE* out_;
  std::mutex mu_;
  std::multiset<std::string> in_flight_;  // ids of the requests not answered yet
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
    auto handle_one = [&](const json::value& raw) {
      mcp::Message m = mcp::inspect(raw);
      stdout_stream->started(m);
      // A request whose _meta names a protocol version is a stateless (2026-07-28) request:
      // served on its own short-lived session, whatever the stdio session's state.
      if (m.kind == mcp::MessageKind::Request && !session->initialize_received() &&
          mcp::Server::meta_protocol_version(m.params())) {
        auto made = server.stateless_session(m.params());
        if (auto* e = std::get_if<mcp::RpcError>(&made)) {
          stdout_stream->send(mcp::make_error(m.id, *e));
          stdout_stream->request_done(m.id);
          return;
        }
        std::get<std::shared_ptr<mcp::Session>>(made)->set_transport("stdio");
        std::string traceparent;
        if (auto* meta = m.params().if_contains("_meta"); meta && meta->is_object()) {
          if (auto* t = meta->as_object().if_contains("traceparent"); t && t->is_string()) traceparent = std::string(t->as_string());
        }
        server.dispatch(std::get<std::shared_ptr<mcp::Session>>(made), m, stdout_stream, traceparent);
        return;
      }
      server.dispatch(session, m, stdout_stream);
    };
    if (msg.is_array()) {
      for (const auto& m : msg.as_array()) handle_one(m);
    } else {
      handle_one(msg);
    }
  }
  // stdin closed: let running calls answer (a client usually waits for them) for a short while.
  for (int i = 0; i < 100 && !stdout_stream->idle(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  server.end_session(session->id());
  log().info("stdin closed: stdio session ended");
  return 0;
}

}  // namespace wasimancer::transport
