#include "mcp/http_handler.hpp"

#include <arpa/inet.h>

#include <deque>
#include <set>

#include <fmt/format.h>

#include "core/crypto.hpp"
#include "core/glob.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "mcp/results.hpp"

namespace wasimancer::mcp {

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
    if (ascii_lower(a) == o) return true;  // listed exactly (the only way for "null" or file://)
  }
  // Only web origins from here: "null" (sandboxed frames, file: pages, redirects), file:// and
  // other schemes are opaque; a page there can be anything, so they need an exact entry.
  std::string rest;
  if (o.rfind("http://", 0) == 0) rest = o.substr(7);
  else if (o.rfind("https://", 0) == 0) rest = o.substr(8);
  else return false;
  rest = rest.substr(0, rest.find('/'));
  if (rest.empty()) return false;
  for (const auto& a : allowed_origins) {
    if (a == "*") return true;
  }
  return name_allowed(strip_port(rest), allowed_hosts);
}

int http_status_for_error(int code) {
  switch (code) {
    case kMethodNotFound: return 404;
    case kParseError:
    case kInvalidRequest:
    case kInvalidParams:
    case kHeaderMismatch:
    case kMissingRequiredClientCapability:
    case kUnsupportedProtocolVersion: return 400;
    case kInternalError: return 500;
    default: return 200;
  }
}

// ---- small helpers ------------------------------------------------------------------------------

std::string_view HttpRequestHead::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (ascii_iequals(k, name)) return v;
  }
  return {};
}

bool HttpRequestHead::has_header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (ascii_iequals(k, name)) return true;
  }
  return false;
}

namespace {

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string sse_event_text(std::string_view json_text) {
  std::string out;
  out.reserve(json_text.size() + 24);
  out.append("event: message\ndata: ").append(json_text).append("\n\n");
  return out;
}
std::string sse_event(const json::object& msg) { return sse_event_text(json::serialize(msg)); }

std::string rpc_error_body(int code, std::string_view message, const json::value& id = nullptr) {
  return json::serialize(json::object{{"jsonrpc", "2.0"}, {"error", json::object{{"code", code}, {"message", message}}}, {"id", id}});
}

HttpAnswer answer(int status, std::string body, std::string content_type = "application/json",
                  std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpAnswer a;
  a.head.status = status;
  if (!body.empty()) a.head.content_type = std::move(content_type);
  a.head.headers = std::move(headers);
  a.body = std::move(body);
  return a;
}

HttpAnswer rpc_error(int status, int code, std::string_view message, const json::value& id = nullptr) {
  return answer(status, rpc_error_body(code, message, id));
}

HttpAnswer rpc_error(int status, const RpcError& e, const json::value& id) {
  return answer(status, json::serialize(make_error(id, e)));
}

HttpHead sse_head(int status = 200) {
  HttpHead h;
  h.status = status;
  h.content_type = "text/event-stream";
  h.headers.emplace_back("Cache-Control", "no-cache");
  return h;
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

struct Accepts {
  bool json = false, sse = false;
};
Accepts accepts(std::string_view header) {
  std::string accept = ascii_lower(header);
  bool any = accept.empty() || accept.find("*/*") != std::string::npos;
  return {any || accept.find("application/json") != std::string::npos, accept.find("text/event-stream") != std::string::npos};
}

}  // namespace

struct HttpHandler::Replay {
  std::mutex mu;
  std::string session_id, stream_id;
  uint64_t next = 1;
  std::deque<std::pair<uint64_t, std::string>> events;  // framed SSE events, oldest first
  size_t bytes = 0;
  std::shared_ptr<ResponseStream> consumer;  // where events go now (null: kept until a reconnect)
  bool done = false, delivered = false;
  Clock::time_point done_at{};
  static constexpr size_t kMaxBytes = 8u << 20;

  // Frames and keeps one message, and sends it to the consumer if there is one.
  void add(std::string_view json_text) {
    std::lock_guard lock(mu);
    uint64_t seq = next++;
    std::string text = fmt::format("id: {}:{}\nevent: message\ndata: {}\n\n", stream_id, seq, json_text);
    if (consumer && consumer->open()) consumer->chunk(text);
    bytes += text.size();
    events.emplace_back(seq, std::move(text));
    while (bytes > kMaxBytes && events.size() > 1) {
      bytes -= events.front().second.size();
      events.pop_front();
    }
  }
  void finish() {
    std::lock_guard lock(mu);
    done = true;
    done_at = Clock::now();
    if (consumer && consumer->open()) {
      consumer->end();
      delivered = true;
    }
  }
  void release() {
    std::lock_guard lock(mu);
    if (consumer) consumer->end();
    consumer.reset();
  }
};

namespace {

// ---- Outbounds ------------------------------------------------------------------------------------

// A standalone SSE stream (the GET stream of a session, the legacy transport's stream).
class StreamOutbound : public Outbound {
 public:
  explicit StreamOutbound(std::shared_ptr<ResponseStream> s) : s_(std::move(s)) {}
  void send(json::object message) override { s_->chunk(sse_event(message)); }
  void send_text(std::string_view json_text) { s_->chunk(sse_event_text(json_text)); }
  bool is_open() const override { return s_->open(); }
  void session_ended() override { s_->end(); }

 private:
  std::shared_ptr<ResponseStream> s_;
};

// The response budget of one POST (WASIMANCER_MAX_RESPONSE_BYTES): every message sent for it
// counts, a batch's answers together. A response that does not fit is replaced by a JSON-RPC
// error for its id (so every request is still answered); other messages that do not fit are
// dropped. Not thread-safe: its owner locks.
class ResponseBudget {
 public:
  explicit ResponseBudget(uint64_t limit) : limit_(limit) {}
  // `text` is the message's JSON; false: drop the message.
  bool admit(std::string& text, const json::object& message, bool is_response) {
    if (!limit_ || used_ + text.size() <= limit_) {
      used_ += text.size();
      return true;
    }
    if (!is_response) return false;
    json::value id = nullptr;
    if (auto* i = message.if_contains("id")) id = *i;
    std::string why = fmt::format("the response ({} bytes) is larger than what is left of this request's response budget of {} bytes "
                                  "(WASIMANCER_MAX_RESPONSE_BYTES; a batch's responses count together)",
                                  text.size(), limit_);
    text = json::serialize(make_error(id, RpcError{kServerError, std::move(why), std::nullopt}));
    used_ += text.size();
    return true;
  }

 private:
  uint64_t limit_;
  uint64_t used_ = 0;
};

// A legacy transport POST: its answers travel on the session's SSE stream, within the POST's
// response budget.
class LegacyPostOutbound : public Outbound {
 public:
  LegacyPostOutbound(std::shared_ptr<StreamOutbound> stream, uint64_t budget) : stream_(std::move(stream)), budget_(budget) {}
  void send(json::object message) override {
    std::string text = json::serialize(message);
    std::lock_guard lock(mu_);
    if (budget_.admit(text, message, !message.contains("method"))) stream_->send_text(text);
  }
  bool is_open() const override { return stream_->is_open(); }

 private:
  std::shared_ptr<StreamOutbound> stream_;
  std::mutex mu_;
  ResponseBudget budget_;
};

// The answers to one POST's requests.
//   Sse:  an SSE stream from the start, ended once every request is answered.
//   Json: the responses collected into one JSON body (an array for a batch); nothing else can
//         travel here, so is_open() is false and server-initiated messages look elsewhere.
//   Lazy: (stateless era, one request) JSON with the error's status if the response comes
//         first; an SSE stream as soon as anything else (progress, logs, the listen
//         acknowledgement) must be sent before it.
class PostOutbound : public Outbound {
 public:
  enum class Mode { Sse, Json, Lazy };
  PostOutbound(std::shared_ptr<ResponseStream> s, Mode mode, std::set<std::string> awaiting, bool batch, bool sse_ok,
               std::vector<std::pair<std::string, std::string>> headers, uint64_t budget,
               std::shared_ptr<HttpHandler::Replay> replay = nullptr)
      : s_(std::move(s)), mode_(mode), awaiting_(std::move(awaiting)), batch_(batch), sse_ok_(sse_ok), headers_(std::move(headers)),
        budget_(budget), replay_(std::move(replay)) {
    if (mode_ == Mode::Sse) {
      HttpHead h = sse_head();
      h.hold_for_first_message = true;
      for (auto& kv : headers_) h.headers.push_back(kv);
      s_->start(std::move(h));
      if (replay_) {
        // 2025-11-25 (SEP-1699): a priming event (an id, empty data) and the reconnection delay.
        s_->chunk(fmt::format("id: {}:0\nretry: 3000\ndata: \n\n", replay_->stream_id));
        std::lock_guard lock(replay_->mu);
        replay_->consumer = s_;
      }
    }
  }

  void release_connection() override {
    if (replay_) replay_->release();
  }

  void send(json::object message) override {
    bool is_response = !message.contains("method");
    // Notifications that cannot travel (JSON answers) are not even serialized.
    if (!is_response && mode_ == Mode::Json) return;
    std::string text = json::serialize(message);
    std::lock_guard lock(mu_);
    if (!is_response && mode_ == Mode::Lazy && !s_->started() && !sse_ok_) return;
    if (!budget_.admit(text, message, is_response)) return;
    switch (mode_) {
      case Mode::Sse:
        if (replay_) replay_->add(text);
        else if (is_response && last_awaited(message)) s_->last_chunk(sse_event_text(text));  // request_done ends it anyway
        else s_->chunk(sse_event_text(text));
        return;
      case Mode::Json:
        keep_response(std::move(text));
        return;
      case Mode::Lazy:
        if (!s_->started()) {
          if (is_response) {
            keep_response(std::move(text));
            return;
          }
          HttpHead h = sse_head();
          h.hold_for_first_message = true;
          for (auto& kv : headers_) h.headers.push_back(kv);
          s_->start(std::move(h));
        }
        s_->chunk(sse_event_text(text));
        return;
    }
  }

  // Whether `response` answers the only request this POST still waits for (under mu_).
  bool last_awaited(const json::object& response) const {
    if (awaiting_.size() != 1) return false;
    const json::value* id = response.if_contains("id");
    return id && *awaiting_.begin() == json::serialize(*id);
  }

  void request_done(const json::value& id) override {
    std::lock_guard lock(mu_);
    awaiting_.erase(json::serialize(id));
    if (!awaiting_.empty()) return;
    if (replay_) return replay_->finish();
    if (mode_ == Mode::Sse || (mode_ == Mode::Lazy && s_->started())) {
      s_->end();
      return;
    }
    HttpHead h;
    h.status = 200;
    h.content_type = "application/json";
    h.headers = headers_;
    if (mode_ == Mode::Lazy && !responses_.empty()) {
      // The first response's error code decides the status (parsed back: it is small).
      boost::system::error_code ec;
      json::value first = json::parse(responses_.front(), ec);
      if (auto* e = !ec && first.is_object() ? first.as_object().if_contains("error") : nullptr; e && e->is_object()) {
        if (auto* c = e->as_object().if_contains("code"); c && c->is_int64()) h.status = http_status_for_error(static_cast<int>(c->as_int64()));
      }
    }
    std::string body;
    if (batch_) {
      // As json::serialize writes an array: "[" elements joined by "," "]".
      size_t n = 2;
      for (const auto& r : responses_) n += r.size() + 1;
      body.reserve(n);
      body.push_back('[');
      for (size_t i = 0; i < responses_.size(); ++i) {
        if (i) body.push_back(',');
        body.append(responses_[i]);
      }
      body.push_back(']');
    } else if (!responses_.empty()) {
      body = std::move(responses_.front());
    }
    if (body.empty()) h.content_type.clear();
    s_->complete(std::move(h), std::move(body));
  }

  bool is_open() const override {
    if (replay_) return true;  // kept for a reconnecting client
    return mode_ != Mode::Json && s_->open() && (mode_ == Mode::Sse || sse_ok_);
  }

 private:
  std::shared_ptr<ResponseStream> s_;
  Mode mode_;
  std::mutex mu_;
  void keep_response(std::string text) { responses_.push_back(std::move(text)); }

  std::set<std::string> awaiting_;
  std::vector<std::string> responses_;  // serialized, in arrival order
  bool batch_;
  bool sse_ok_;
  std::vector<std::pair<std::string, std::string>> headers_;
  ResponseBudget budget_;
  std::shared_ptr<HttpHandler::Replay> replay_;
};

class NullOutbound : public Outbound {
 public:
  void send(json::object) override {}
  bool is_open() const override { return false; }
};

// Mcp-Param-* values: "=?base64?...?=" is Base64 (strictly: padding and alphabet checked);
// anything else is literal.
std::optional<std::string> decode_param_header(std::string_view v) {
  constexpr std::string_view pre = "=?base64?", post = "?=";
  if (v.size() < pre.size() + post.size() || v.substr(0, pre.size()) != pre || v.substr(v.size() - post.size()) != post) {
    return std::string(v);
  }
  std::string_view b64 = v.substr(pre.size(), v.size() - pre.size() - post.size());
  if (b64.size() % 4 != 0) return std::nullopt;
  for (size_t i = 0; i < b64.size(); ++i) {
    char c = b64[i];
    bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
    bool pad = c == '=' && i >= b64.size() - 2 && (i == b64.size() - 1 || b64[b64.size() - 1] == '=');
    if (!alpha && !pad) return std::nullopt;
  }
  std::string out;
  if (!base64_decode(b64, out)) return std::nullopt;
  return out;
}

std::string param_text(const json::value& v) { return v.is_string() ? std::string(v.as_string()) : json::serialize(v); }

}  // namespace

// ---- the handler --------------------------------------------------------------------------------

HttpHandler::HttpHandler(Server& server, HttpRules rules) : server_(server), rules_(std::move(rules)) {
  if (rules_.mcp_token) mcp_token_.emplace(*rules_.mcp_token);
}

std::optional<HttpAnswer> HttpHandler::check_host_origin(const HttpRequestHead& head) const {
  auto host = head.header("host");
  if (!host_allowed(host, rules_.allowed_hosts)) {
    return rpc_error(403, kServerError,
                     fmt::format("Forbidden: the Host \"{}\" is not allowed (set WASIMANCER_ALLOWED_HOSTS to add it)", std::string(host)));
  }
  if (auto origin = head.header("origin"); !origin.empty() && !origin_allowed(origin, rules_.allowed_hosts, rules_.allowed_origins)) {
    return rpc_error(403, kServerError,
                     fmt::format("Forbidden: the Origin \"{}\" is not allowed (set WASIMANCER_ALLOWED_ORIGINS to add it)", std::string(origin)));
  }
  return std::nullopt;
}

bool HttpHandler::authorized(const HttpRequestHead& head) const {
  if (!rules_.mcp_token && !rules_.oauth) return true;
  std::string_view auth = head.header("authorization");
  if (mcp_token_ && ascii_istarts_with(auth, "bearer ") && mcp_token_->matches(auth.substr(7))) {
    return true;
  }
  return rules_.oauth && rules_.oauth->check(auth, kToolsScope, head.header("host")).allowed();
}

HttpAnswer HttpHandler::shutting_down() {
  auto a = rpc_error(503, kServerError, "Service Unavailable: the server is shutting down");
  a.head.close_connection = true;
  return a;
}

HttpAnswer HttpHandler::unauthorized(const HttpRequestHead& head) const {
  if (rules_.oauth) {
    // RFC 6750 §3 / RFC 9728 §5.1: 401 for a missing or invalid token, 403 for a missing scope.
    auto d = rules_.oauth->check(head.header("authorization"), kToolsScope, head.header("host"));
    bool scope = d.kind == OAuthResource::Decision::Kind::InsufficientScope;
    return answer(scope ? 403 : 401,
                  json::serialize(json::object{{"error", scope ? "insufficient_scope" : "invalid_token"}, {"error_description", d.description}}),
                  "application/json", {{"WWW-Authenticate", rules_.oauth->www_authenticate(d, kToolsScope, head.header("host"))}});
  }
  bool given = !head.header("authorization").empty();
  std::string desc = given ? "the bearer token is not valid" : "a bearer token is required (Authorization: Bearer <token>)";
  return answer(401, json::serialize(json::object{{"error", "invalid_token"}, {"error_description", desc}}), "application/json",
                {{"WWW-Authenticate", fmt::format("Bearer error=\"invalid_token\", error_description=\"{}\"", desc)}});
}

std::variant<HttpAnswer, uint64_t> HttpHandler::on_header(const HttpRequestHead& head) {
  Target target = parse_target(head.target);
  const std::string& m = head.method;
  auto not_allowed = [](std::string allow) {
    return answer(405, rpc_error_body(kServerError, "Method not allowed"), "application/json", {{"Allow", std::move(allow)}});
  };
  if (target.path == "/health" && m == "GET") return answer(200, R"({"status":"ok"})");
  if (rules_.oauth && m == "GET") {
    // RFC 9728 protected-resource metadata, without a token (browser clients read it too).
    if (auto doc = rules_.oauth->metadata_document(target.path, head.header("host"))) {
      return answer(200, std::move(*doc), "application/json", {{"Access-Control-Allow-Origin", "*"}});
    }
  }
  if (target.path == "/" && m == "GET") {
    // What a newcomer opening the server in a browser sees first.
    return answer(200, json::serialize(json::object{
                           {"name", server_.config().name},
                           {"version", server_.config().version},
                           {"mcp", "/mcp"},
                           {"health", "/health"},
                           {"message", "This is an MCP server: connect an MCP client to /mcp (Streamable HTTP; legacy HTTP+SSE: GET /sse). "
                                       "GET /health answers without a token."}}));
  }
  if (target.path == "/mcp") {
    if (!authorized(head)) return unauthorized(head);
    if (m == "POST") {
      Accepts a = accepts(head.header("accept"));
      if (!a.json && !a.sse) {
        return rpc_error(406, kServerError, "Not Acceptable: the client must accept application/json or text/event-stream");
      }
      if (!ascii_istarts_with(head.header("content-type"), "application/json")) {
        return rpc_error(415, kServerError, "Unsupported Media Type: Content-Type must be application/json");
      }
      return rules_.max_body_bytes;
    }
    if (m == "GET") {
      if (is_stateless_version(std::string(trim_ows(head.header("mcp-protocol-version"))))) {
        // 2026-07-28 has no GET stream: subscriptions/listen replaces it.
        return answer(405, rpc_error_body(kServerError, "Method not allowed: use POST subscriptions/listen for notifications"),
                      "application/json", {{"Allow", "POST"}});
      }
      std::string sid(head.header("mcp-session-id"));
      if (sid.empty()) return legacy_sse(head);  // WASImancer: GET /mcp is the legacy stream
      auto session = server_.find_session(sid);
      if (!session) return rpc_error(404, kSessionNotFound, "Session not found");
      if (auto last = trim_ows(head.header("last-event-id")); !last.empty()) {
        if (!accepts(head.header("accept")).sse) return rpc_error(406, kServerError, "Not Acceptable: the client must accept text/event-stream");
        return resume(session, last);
      }
      return get_stream(head, session);
    }
    if (m == "DELETE") {
      std::string sid(head.header("mcp-session-id"));
      if (sid.empty()) return rpc_error(400, kServerError, "Bad Request: Mcp-Session-Id header is required");
      if (!server_.find_session(sid)) return rpc_error(404, kSessionNotFound, "Session not found");
      server_.end_session(sid);
      return answer(200, "");
    }
    return not_allowed("GET, POST, DELETE");
  }
  if (target.path == "/sse") {
    if (!authorized(head)) return unauthorized(head);
    if (m != "GET") return not_allowed("GET");
    return legacy_sse(head);
  }
  if (target.path == "/messages") {
    if (!authorized(head)) return unauthorized(head);
    if (m != "POST") return not_allowed("POST");
    auto it = target.query.find("sessionId");
    if (it == target.query.end() || it->second.empty()) return rpc_error(400, kServerError, "Bad Request: sessionId is required");
    auto session = server_.find_session(it->second);
    if (!session || session->kind() != Session::Kind::Legacy) return rpc_error(404, kSessionNotFound, "Session not found");
    if (!ascii_istarts_with(head.header("content-type"), "application/json")) {
      return rpc_error(415, kServerError, "Unsupported Media Type: Content-Type must be application/json");
    }
    return rules_.max_body_bytes;
  }
  return answer(404, json::serialize(json::object{
                         {"error", fmt::format("no route for {} {} (MCP is served at /mcp; GET /health for a health check)", m, target.path)}}));
}

HttpAnswer HttpHandler::on_body(const HttpRequestHead& head, std::string body) {
  Target target = parse_target(head.target);
  if (target.path == "/messages") return post_legacy(head, std::move(body));
  return post_mcp(head, std::move(body));
}

HttpAnswer HttpHandler::get_stream(const HttpRequestHead& head, const std::shared_ptr<Session>& session) {
  if (!accepts(head.header("accept")).sse) {
    return rpc_error(406, kServerError, "Not Acceptable: the client must accept text/event-stream");
  }
  auto stream = std::make_shared<ResponseStream>(rules_.max_stream_queue_bytes);
  stream->start(sse_head());  // before attaching: attaching flushes queued notifications into it
  auto out = std::make_shared<StreamOutbound>(stream);
  if (!session->attach_stream(out)) return rpc_error(409, kServerError, "Conflict: only one SSE stream is allowed per session");
  stream->on_finish([session, raw = out.get()] { session->detach_stream(raw); });
  HttpAnswer a;
  a.stream = stream;
  return a;
}

HttpAnswer HttpHandler::resume(const std::shared_ptr<Session>& session, std::string_view last_event_id) {
  auto colon = last_event_id.find(':');
  std::string stream_id(last_event_id.substr(0, colon));
  uint64_t after = 0;
  if (colon != std::string_view::npos) {
    try {
      after = std::stoull(std::string(last_event_id.substr(colon + 1)));
    } catch (...) {
      return rpc_error(400, kServerError, "Bad Request: malformed Last-Event-ID");
    }
  }
  std::shared_ptr<Replay> replay;
  {
    std::lock_guard lock(replays_mu_);
    if (auto it = replays_.find(stream_id); it != replays_.end()) replay = it->second;
  }
  if (!replay || replay->session_id != session->id()) {
    // Not one of our resumable answers: the session's standalone stream, reconnecting.
    HttpRequestHead head;
    head.headers.emplace_back("Accept", "text/event-stream");
    return get_stream(head, session);
  }
  auto stream = std::make_shared<ResponseStream>(rules_.max_stream_queue_bytes);
  stream->start(sse_head());
  {
    std::lock_guard lock(replay->mu);
    for (const auto& [seq, text] : replay->events) {
      if (seq > after) stream->chunk(text);
    }
    if (replay->done) {
      stream->end();
      replay->delivered = true;
    } else {
      if (replay->consumer) replay->consumer->end();
      replay->consumer = stream;
    }
  }
  stream->on_finish([replay, raw = stream.get()] {
    std::lock_guard lock(replay->mu);
    if (replay->consumer.get() == raw) replay->consumer.reset();
  });
  HttpAnswer a;
  a.stream = stream;
  return a;
}

HttpAnswer HttpHandler::legacy_sse(const HttpRequestHead& head) {
  auto session = server_.create_session(Session::Kind::Legacy, head.client);
  auto stream = std::make_shared<ResponseStream>(rules_.max_stream_queue_bytes);
  HttpHead h = sse_head();
  h.close_connection = true;
  stream->start(std::move(h));
  stream->chunk(fmt::format("event: endpoint\ndata: /messages?sessionId={}\n\n", session->id()));
  auto out = std::make_shared<StreamOutbound>(stream);
  session->attach_stream(out);
  Server* server = &server_;
  // The legacy session lives as long as its stream.
  stream->on_finish([server, id = session->id()] { server->end_session(id); });
  HttpAnswer a;
  a.stream = stream;
  return a;
}

HttpAnswer HttpHandler::post_legacy(const HttpRequestHead& head, std::string text) {
  Target target = parse_target(head.target);
  auto session = server_.find_session(target.query["sessionId"]);
  if (!session || session->kind() != Session::Kind::Legacy) return rpc_error(404, kSessionNotFound, "Session not found");
  boost::system::error_code ec;
  json::value body = json::parse(text, ec);
  if (ec) return rpc_error(400, kParseError, "Parse error: " + ec.message());
  std::shared_ptr<Outbound> out;
  if (auto stream = std::dynamic_pointer_cast<StreamOutbound>(session->stream())) {
    out = std::make_shared<LegacyPostOutbound>(std::move(stream), rules_.max_response_bytes);
  } else {
    out = std::make_shared<NullOutbound>();
  }
  std::string traceparent(trim_ows(head.header("traceparent")));
  if (body.is_array()) {
    for (const auto& m : body.as_array()) server_.dispatch(session, inspect(m), out, traceparent);
  } else {
    server_.dispatch(session, inspect(body), out, traceparent);
  }
  return answer(202, "Accepted", "text/plain");
}

HttpAnswer HttpHandler::post_mcp(const HttpRequestHead& head, std::string text) {
  boost::system::error_code ec;
  json::value body = json::parse(text, ec);
  if (ec) return rpc_error(400, kParseError, "Parse error: " + ec.message());
  std::string version_header(trim_ows(head.header("mcp-protocol-version")));
  std::string sid(head.header("mcp-session-id"));

  // The era: a stateless version in the header, or (without a session) a request whose _meta
  // names a protocol version, is served statelessly; everything else keeps the stateful rules.
  bool stateless = is_stateless_version(version_header);
  if (!stateless && sid.empty() && body.is_object()) {
    if (auto* p = body.as_object().if_contains("params"); p && p->is_object()) {
      stateless = Server::meta_protocol_version(p->as_object()).has_value() &&
                  (version_header.empty() || !is_supported_version(version_header));
    }
  }
  if (stateless) return post_stateless(head, body);

  if (!version_header.empty() && !is_supported_version(version_header)) {
    return rpc_error(400, kServerError,
                     fmt::format("Bad Request: unsupported protocol version \"{}\" (supported: {})", version_header, supported_versions_text()));
  }
  bool batch = body.is_array();
  std::vector<json::value> raw;
  if (batch) raw.assign(body.as_array().begin(), body.as_array().end());
  else raw.push_back(body);
  if (raw.empty()) return rpc_error(400, kInvalidRequest, "Invalid Request: empty batch");

  std::vector<Message> messages;
  messages.reserve(raw.size());
  std::set<std::string> request_ids;
  bool has_initialize = false;
  for (const auto& m : raw) {
    Message msg = inspect(m);
    if (msg.kind == MessageKind::Invalid) {
      return rpc_error(400, kInvalidRequest, "Invalid Request: " + msg.why + (batch ? " (in a batch)" : ""));
    }
    if (msg.kind == MessageKind::Request) {
      request_ids.insert(json::serialize(msg.id));
      if (msg.method == "initialize") has_initialize = true;
    }
    messages.push_back(std::move(msg));
  }
  auto route = server_.route_post(sid, has_initialize, messages.size(), version_header, head.client);
  if (route.http_status != 200) return rpc_error(route.http_status, route.error.code, route.error.message);
  const auto& session = route.session;
  std::string traceparent(trim_ows(head.header("traceparent")));

  if (request_ids.empty()) {
    auto null_out = std::make_shared<NullOutbound>();
    for (const auto& m : messages) server_.dispatch(session, m, null_out, traceparent);
    return answer(202, "");
  }
  std::vector<std::pair<std::string, std::string>> headers;
  if (route.created) headers.emplace_back("Mcp-Session-Id", session->id());
  Accepts a = accepts(head.header("accept"));
  auto stream = std::make_shared<ResponseStream>(rules_.max_stream_queue_bytes);
  // 2025-11-25 (SEP-1699): SSE answers of a session are resumable (event ids, a priming
  // event); older clients break on the priming event's empty data, so they get plain streams.
  std::shared_ptr<Replay> replay;
  if (a.sse && !session->id().empty() && session->protocol_version() >= "2025-11-25" &&
      !is_stateless_version(session->protocol_version())) {
    replay = std::make_shared<Replay>();
    replay->session_id = session->id();
    replay->stream_id = random_token(8);
    std::lock_guard lock(replays_mu_);
    std::erase_if(replays_, [](const auto& kv) {
      std::lock_guard l(kv.second->mu);
      return kv.second->done && (kv.second->delivered || Clock::now() - kv.second->done_at > std::chrono::minutes(5));
    });
    replays_[replay->stream_id] = replay;
  }
  auto out = std::make_shared<PostOutbound>(stream, a.sse ? PostOutbound::Mode::Sse : PostOutbound::Mode::Json, std::move(request_ids),
                                            batch, a.sse, std::move(headers), rules_.max_response_bytes, std::move(replay));
  for (const auto& m : messages) server_.dispatch(session, m, out, traceparent);
  HttpAnswer ans;
  ans.stream = stream;
  return ans;
}

HttpAnswer HttpHandler::post_stateless(const HttpRequestHead& head, const json::value& body) {
  if (!body.is_object()) return rpc_error(400, kInvalidRequest, "Invalid Request: protocol version 2026-07-28 has no batches");
  Message msg = inspect(body);
  if (msg.kind == MessageKind::Invalid) return rpc_error(400, kInvalidRequest, "Invalid Request: " + msg.why, msg.id);
  if (msg.kind != MessageKind::Request) return answer(202, "");  // notifications and responses need no answer here
  const json::object& params = msg.params();
  const json::value& id = msg.id;
  // An unknown (or removed) method is 404 before anything else is validated.
  if (!server_.has_method(msg.method, true)) {
    return rpc_error(404, RpcError{kMethodNotFound, fmt::format("Method not found: {}", msg.method), std::nullopt}, id);
  }

  // 1. _meta must carry the protocol version and the client capabilities (-32602).
  auto* meta = params.if_contains("_meta");
  if (!meta || !meta->is_object()) {
    return rpc_error(400, invalid_params(fmt::format("Invalid params: _meta with {} and {} is required", kMetaProtocolVersion,
                                                     kMetaClientCapabilities)), id);
  }
  auto meta_version = get_string(meta->as_object(), kMetaProtocolVersion);
  // 2. The MCP-Protocol-Version header must be there and agree with _meta (-32020).
  std::string version_header(trim_ows(head.header("mcp-protocol-version")));
  if (meta_version && version_header != *meta_version) {
    return rpc_error(400, RpcError{kHeaderMismatch,
                                   version_header.empty()
                                       ? fmt::format("Header mismatch: the MCP-Protocol-Version header is required (the body names {})", *meta_version)
                                       : fmt::format("Header mismatch: MCP-Protocol-Version is {} but _meta names {}", version_header, *meta_version),
                                   std::nullopt}, id);
  }
  // 3. The rest of _meta: a version we speak (-32022), capabilities (-32602).
  auto made = server_.stateless_session(params);
  if (auto* e = std::get_if<RpcError>(&made)) return rpc_error(http_status_for_error(e->code), *e, id);
  auto session = std::get<std::shared_ptr<Session>>(made);

  // 4. Mcp-Method and Mcp-Name must repeat the body (-32020); values are case-sensitive.
  if (!head.has_header("mcp-method")) {
    return rpc_error(400, RpcError{kHeaderMismatch, "Header mismatch: the Mcp-Method header is required", std::nullopt}, id);
  }
  if (std::string(trim_ows(head.header("mcp-method"))) != msg.method) {
    return rpc_error(400, RpcError{kHeaderMismatch, fmt::format("Header mismatch: Mcp-Method is \"{}\" but the body's method is \"{}\"",
                                                                std::string(trim_ows(head.header("mcp-method"))), msg.method),
                                   std::nullopt}, id);
  }
  std::optional<std::string> name;
  if (msg.method == "tools/call" || msg.method == "prompts/get") name = get_string(params, "name");
  else if (msg.method == "resources/read") name = get_string(params, "uri");
  else if (msg.method.rfind("tasks/", 0) == 0) name = get_string(params, "taskId");
  if (name) {
    if (!head.has_header("mcp-name")) {
      return rpc_error(400, RpcError{kHeaderMismatch, "Header mismatch: the Mcp-Name header is required for " + msg.method, std::nullopt}, id);
    }
    if (std::string(trim_ows(head.header("mcp-name"))) != *name) {
      return rpc_error(400, RpcError{kHeaderMismatch, fmt::format("Header mismatch: Mcp-Name is \"{}\" but the body names \"{}\"",
                                                                  std::string(trim_ows(head.header("mcp-name"))), *name),
                                     std::nullopt}, id);
    }
  }
  // 5. Tool parameters marked x-mcp-header must be repeated in Mcp-Param-<Name> (-32020).
  if (msg.method == "tools/call" && name) {
    auto snap = server_.catalogs().plugins.snapshot();
    if (const auto* tool = snap->find_tool(*name)) {
      json::object schema = registry::tool_input_schema(*tool->function);
      const json::object* args = nullptr;
      if (auto* a = params.if_contains("arguments"); a && a->is_object()) args = &a->as_object();
      if (auto* props = schema.if_contains("properties"); props && props->is_object() && args) {
        for (const auto& kv : props->as_object()) {
          if (!kv.value().is_object()) continue;
          auto hdr = get_string(kv.value().as_object(), "x-mcp-header");
          auto* value = args->if_contains(kv.key());
          if (!hdr || !value) continue;
          std::string header_name = "mcp-param-" + *hdr;
          if (!head.has_header(header_name)) {
            return rpc_error(400, RpcError{kHeaderMismatch, fmt::format("Header mismatch: the Mcp-Param-{} header is required", *hdr), std::nullopt}, id);
          }
          auto decoded = decode_param_header(trim_ows(head.header(header_name)));
          if (!decoded) {
            return rpc_error(400, RpcError{kHeaderMismatch, fmt::format("Header mismatch: Mcp-Param-{} is not valid Base64", *hdr), std::nullopt}, id);
          }
          if (*decoded != param_text(*value)) {
            return rpc_error(400, RpcError{kHeaderMismatch,
                                           fmt::format("Header mismatch: Mcp-Param-{} does not match the argument {}", *hdr, std::string(kv.key())),
                                           std::nullopt}, id);
          }
        }
      }
    }
  }
  std::string traceparent;
  if (auto t = get_string(meta->as_object(), "traceparent")) traceparent = *t;
  if (traceparent.empty()) traceparent = std::string(trim_ows(head.header("traceparent")));

  Accepts a = accepts(head.header("accept"));
  auto stream = std::make_shared<ResponseStream>(rules_.max_stream_queue_bytes);
  auto out = std::make_shared<PostOutbound>(stream, PostOutbound::Mode::Lazy, std::set<std::string>{json::serialize(id)}, false, a.sse,
                                            std::vector<std::pair<std::string, std::string>>{}, rules_.max_response_bytes);
  server_.dispatch(session, msg, out, traceparent);
  HttpAnswer ans;
  ans.stream = stream;
  return ans;
}

}  // namespace wasimancer::mcp
