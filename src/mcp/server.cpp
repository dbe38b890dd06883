// mcp/server.cpp: the core: construction, the method table, dispatch and answers. The methods
// themselves live with their feature (lifecycle.cpp, tools.cpp, resources.cpp, prompts.cpp,
// notifications.cpp).
#include "mcp/server.hpp"

#include <fmt/format.h>

#include "core/log.hpp"
#include "mcp/observe.hpp"
#include "mcp/notifications.hpp"
#include "mcp/prompts.hpp"
#include "mcp/request_state.hpp"
#include "mcp/results.hpp"
#include "mcp/resources.hpp"
#include "mcp/tasks.hpp"
#include "mcp/tools.hpp"

namespace wasimancer::mcp {

Server::Server(Catalogs catalogs, WorkerPool& workers, ServerConfig config)
    : catalogs_(catalogs), workers_(workers), config_(std::move(config)) {
  request_states_ = std::make_unique<RequestStateCodec>(config_.request_state_key, config_.request_state_ttl,
                                                        config_.max_request_state_bytes);
  add_lifecycle_methods();
  notifier_ = std::make_unique<Notifier>(*this);
  tools_ = std::make_unique<Tools>(*this);
  resources_ = std::make_unique<Resources>(*this);
  prompts_ = std::make_unique<Prompts>(*this);
  tasks_ = std::make_unique<Tasks>(*this, config_.task_store ? config_.task_store() : std::make_unique<MemoryTaskStore>(config_.max_tasks));
}

void Server::drain(Clock::time_point deadline) {
  {
    std::unique_lock lock(calls_mu_);
    calls_cv_.wait_until(lock, deadline, [this] { return calls_.empty(); });
  }
  shutdown();
}

void Server::shutdown() {
  // Calls first, while their sessions and streams still exist: each is cancelled and answers
  // its request with an error.
  {
    std::unique_lock lock(calls_mu_);
    shut_down_ = true;
    for (auto& flag : calls_) flag->store(true);
    calls_cv_.wait(lock, [this] { return calls_.empty(); });
  }
  notifier_->stop_listening();
  std::vector<std::shared_ptr<Session>> sessions;
  {
    std::lock_guard lock(sessions_mu_);
    for (auto& [id, s] : sessions_) sessions.push_back(s);
    sessions_.clear();
    session_client_.clear();
    client_sessions_.clear();
  }
  for (auto& s : sessions) s->close();
  notifier_->close_streams();
}

bool Server::shutting_down() const {
  std::lock_guard lock(calls_mu_);
  return shut_down_;
}

size_t Server::calls_in_flight() const {
  std::lock_guard lock(calls_mu_);
  return calls_.size();
}

Server::~Server() {
  shutdown();
  notifier_.reset();  // joins its thread before the rest goes
}

void Server::add_method(std::string name, Method method) { methods_[std::move(name)] = std::move(method); }

bool Server::has_method(std::string_view method, bool stateless) const {
  auto it = methods_.find(method);
  return it != methods_.end() && (it->second.eras & (stateless ? kStateless : kStateful));
}

void Server::begin_call(const std::shared_ptr<std::atomic<bool>>& cancel) {
  std::lock_guard lock(calls_mu_);
  if (shut_down_) cancel->store(true);
  calls_.insert(cancel);
}

void Server::end_call(const std::shared_ptr<std::atomic<bool>>& cancel) {
  std::lock_guard lock(calls_mu_);
  calls_.erase(cancel);
  calls_cv_.notify_all();
}

json::object Server::server_info() const {
  json::object info{{"name", config_.name}, {"version", config_.version}};
  return info;
}

void Server::handle(const std::shared_ptr<Session>& session, const json::value& message, const std::shared_ptr<Outbound>& reply) {
  dispatch(session, inspect(message), reply);
}

void Server::dispatch(const std::shared_ptr<Session>& session, const Message& m, const std::shared_ptr<Outbound>& reply,
                      std::string traceparent) {
  session->touch();
  switch (m.kind) {
    case MessageKind::Invalid:
      reply->send(make_error(m.id, RpcError{kInvalidRequest, "Invalid Request: " + m.why, std::nullopt}));
      if (!m.id.is_null()) reply->request_done(m.id);
      return;
    case MessageKind::Response:
      session->deliver_response(m.object());
      return;
    case MessageKind::Notification:
      handle_notification(session, m);
      return;
    case MessageKind::Request:
      handle_request(session, m, reply, std::move(traceparent));
      return;
  }
}

void Server::handle_notification(const std::shared_ptr<Session>& session, const Message& m) {
  if (m.method == "notifications/initialized") {
    session->mark_initialized();
  } else if (m.method == "notifications/cancelled") {
    if (auto* id = m.params().if_contains("requestId")) session->cancel_request(*id);
  }
  // Other notifications (roots/list_changed, progress from the client...) need no action.
}

void Server::handle_request(const std::shared_ptr<Session>& session, const Message& m, const std::shared_ptr<Outbound>& reply,
                            std::string traceparent) {
  auto req = std::make_shared<Request>();
  req->session = session;
  req->id = m.id;
  req->method = m.method;
  req->params = m.params();
  req->reply = reply;
  req->version = session->protocol_version();
  req->features = features_of(req->version);
  req->traceparent = std::move(traceparent);
  // The request's trace (_meta.traceparent, else the HTTP header's, else a new one) and span,
  // current on this thread while the method runs here: every log line written for it carries it.
  req->span = request_span(request_trace(req->params, req->traceparent), m.method);
  trace::Scope trace_scope(&req->span->context());
  // An initialize is labelled with the version it negotiates (the session has none yet).
  std::string protocol = req->version;
  if (m.method == "initialize") protocol = negotiate_version(get_string(req->params, "protocolVersion").value_or(""));
  req->in_flight = metrics::record_mcp_request(session->transport(), is_supported_version(protocol) ? protocol : "other",
                                               session->kind() == Session::Kind::Stateless ? "stateless" : "session");
  auto it = methods_.find(m.method);
  if (it == methods_.end() || !(it->second.eras & (req->stateless() ? kStateless : kStateful))) {
    // Also before initialize: dual-era clients probe with server/discover and fall back on -32601.
    return answer(*req, RpcError{kMethodNotFound, fmt::format("Method not found: {}", m.method), std::nullopt});
  }
  const Method& method = it->second;
  if (!req->stateless() && !method.before_initialize && !session->initialize_received() &&
      (session->kind() == Session::Kind::Legacy || session->kind() == Session::Kind::Stdio)) {
    return answer(*req, RpcError{kInvalidRequest, "the session is not initialized: send initialize first", std::nullopt});
  }
  method.handler(req);
}

void Server::answer(const Request& r, json::value result) const {
  if (r.stateless() && result.is_object()) {
    auto& o = result.as_object();
    if (!o.contains("resultType")) o["resultType"] = "complete";
    json::object meta;
    if (auto* m = o.if_contains("_meta"); m && m->is_object()) meta = m->as_object();
    if (!meta.contains(kMetaServerInfo)) meta[kMetaServerInfo] = server_info();
    o["_meta"] = std::move(meta);
  }
  r.reply->send(make_result(r.id, std::move(result)));
  r.reply->request_done(r.id);
}

void Server::answer(const Request& r, const RpcError& error) const {
  if (r.span) r.span->fail(error.message);
  r.reply->send(make_error(r.id, error));
  r.reply->request_done(r.id);
}

void Server::answer(const Request& r, std::variant<json::value, RpcError> outcome) const {
  if (auto* v = std::get_if<json::value>(&outcome)) return answer(r, std::move(*v));
  answer(r, std::get<RpcError>(outcome));
}

}  // namespace wasimancer::mcp
