#include "mcp/server.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "core/crypto.hpp"
#include "core/log.hpp"
#include "mcp/observe.hpp"
#include "mcp/protocol.hpp"
#include "mcp/schema.hpp"

namespace wasimancer::mcp {

namespace {

const json::object kEmptyParams;

const json::object& params_of(const json::object& msg) {
  auto* p = msg.if_contains("params");
  return (p && p->is_object()) ? p->as_object() : kEmptyParams;
}

RpcError invalid_params(std::string message) { return RpcError{kInvalidParams, std::move(message), std::nullopt}; }

std::optional<std::string> get_string(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_string()) return std::nullopt;
  return std::string(v->as_string());
}

// ---- pagination ---------------------------------------------------------------------------------

struct Page {
  size_t begin = 0, end = 0;
  std::optional<std::string> next;
};

std::variant<Page, RpcError> paginate(size_t total, const json::object& params, size_t page_size) {
  Page p;
  if (auto* c = params.if_contains("cursor"); c && !c->is_null()) {
    std::string decoded;
    if (!c->is_string() || !base64_decode(c->as_string(), decoded) || decoded.rfind("offset:", 0) != 0) {
      return invalid_params("invalid cursor");
    }
    try {
      p.begin = std::stoull(decoded.substr(7));
    } catch (...) {
      return invalid_params("invalid cursor");
    }
    if (p.begin > total) return invalid_params("invalid cursor");
  }
  p.end = std::min(total, p.begin + page_size);
  if (p.end < total) p.next = base64_encode("offset:" + std::to_string(p.end));
  return p;
}

// ---- content ------------------------------------------------------------------------------------

// Replaces ${arg} in every string inside `v`.
json::value substitute_all(const json::value& v, const std::map<std::string, std::string>& vars) {
  switch (v.kind()) {
    case json::kind::string: return json::string(registry::substitute(v.as_string(), vars));
    case json::kind::array: {
      json::array a;
      for (const auto& x : v.as_array()) a.push_back(substitute_all(x, vars));
      return a;
    }
    case json::kind::object: {
      json::object o;
      for (const auto& kv : v.as_object()) o[kv.key()] = substitute_all(kv.value(), vars);
      return o;
    }
    default: return v;
  }
}

// Makes a content block fit the negotiated version: types it does not know become text.
json::value gate_content(json::object block, const VersionFeatures& f, const std::string& version) {
  auto type = get_string(block, "type").value_or("");
  if (type == "audio" && !f.audio_content) {
    return json::object{{"type", "text"}, {"text", fmt::format("[audio content ({}) cannot be sent with protocol version {}]",
                                                               get_string(block, "mimeType").value_or("audio"), version)}};
  }
  if (type == "resource_link" && !f.resource_links) {
    return json::object{{"type", "text"}, {"text", fmt::format("Resource: {} ({})", get_string(block, "name").value_or(""),
                                                               get_string(block, "uri").value_or(""))}};
  }
  if (!f.titles) block.erase("title");
  if (!f.icons) block.erase("icons");
  return block;
}

json::object text_result(std::string text, bool is_error) {
  json::object r{{"content", json::array{json::object{{"type", "text"}, {"text", to_valid_utf8(text)}}}}};
  if (is_error) r["isError"] = true;
  return r;
}

const char* kContentTypes[] = {"text", "image", "audio", "resource", "resource_link"};

// The result of a tools/call from what the plugin returned.
json::object tool_result(const host::CallOutcome& out, const registry::FunctionSpec& fn, const std::string& version) {
  VersionFeatures f = features_of(version);
  if (!out.ok()) return text_result(out.note ? out.error->message + "\n(note: " + *out.note + ")" : out.error->message, true);
  if (fn.mcp_output) {
    boost::system::error_code ec;
    json::value v = json::parse(to_valid_utf8(out.output), ec);
    if (ec || !v.is_object()) {
      return text_result(fmt::format("the plugin's output is not an MCP tool result (JSON object): {}",
                                     ec ? ec.message() : "not an object"), true);
    }
    json::object& o = v.as_object();
    json::object result;
    json::array content;
    if (auto* c = o.if_contains("content")) {
      if (!c->is_array()) return text_result("the plugin's tool result has a \"content\" that is not a list", true);
      for (const auto& item : c->as_array()) {
        auto type = item.is_object() ? get_string(item.as_object(), "type") : std::nullopt;
        bool known = false;
        for (const char* t : kContentTypes) known = known || (type && *type == t);
        if (!known) return text_result("the plugin's tool result has a content item of unknown type", true);
        content.push_back(gate_content(item.as_object(), f, version));
      }
    }
    bool is_error = false;
    if (auto* e = o.if_contains("isError"); e && e->is_bool()) is_error = e->as_bool();
    if (auto* sc = o.if_contains("structuredContent"); sc && !sc->is_null()) {
      if (!sc->is_object()) return text_result("the plugin's structuredContent is not an object", true);
      if (fn.output_schema && !is_error) {
        if (auto err = validate_schema(*fn.output_schema, *sc)) {
          return text_result(fmt::format("the plugin's structuredContent does not match the tool's outputSchema: {}", *err), true);
        }
      }
      if (f.structured_content) result["structuredContent"] = *sc;
      if (content.empty()) content.push_back(json::object{{"type", "text"}, {"text", json::serialize(*sc)}});
    } else if (fn.output_schema && !is_error && f.structured_content) {
      return text_result("the tool declares an outputSchema, but the plugin returned no structuredContent", true);
    }
    result["content"] = std::move(content);
    if (is_error) result["isError"] = true;
    if (auto* m = o.if_contains("_meta"); m && m->is_object()) result["_meta"] = *m;
    return result;
  }
  json::object result = text_result(out.output, false);
  if (fn.output_schema && f.structured_content) {
    boost::system::error_code ec;
    json::value v = json::parse(to_valid_utf8(out.output), ec);
    if (ec || !v.is_object()) return text_result("the tool declares an outputSchema, but the plugin's output is not a JSON object", true);
    if (auto err = validate_schema(*fn.output_schema, v)) {
      return text_result(fmt::format("the plugin's output does not match the tool's outputSchema: {}", *err), true);
    }
    result["structuredContent"] = std::move(v);
  }
  return result;
}

// The plugin input: the arguments' JSON, declared arguments only and in declared order (as
// WASImancer's schema parsing leaves them), or as given for a tool with its own inputSchema.
std::string plugin_input(const registry::FunctionSpec& fn, const json::object& args) {
  if (fn.input_schema) return json::serialize(args);
  json::object ordered;
  for (const auto& a : fn.arguments) {
    if (auto* v = args.if_contains(a.name)) ordered[a.name] = *v;
  }
  return json::serialize(ordered);
}

int mcp_level_of(LogLevel l) {
  switch (l) {
    case LogLevel::Trace:
    case LogLevel::Debug: return 0;
    case LogLevel::Info: return 1;
    case LogLevel::Warn: return 3;
    case LogLevel::Error: return 4;
    case LogLevel::Off: return 7;
  }
  return 1;
}

// Side effects of one tools/call: plugin logs and MCP host functions reach this client.
class ToolCallSink : public host::CallSink {
 public:
  ToolCallSink(std::shared_ptr<Session> session, std::shared_ptr<Outbound> reply, std::optional<json::value> progress_token,
               WorkerPool& workers, std::chrono::seconds client_timeout, const std::atomic<bool>* cancel)
      : session_(std::move(session)), reply_(std::move(reply)), token_(std::move(progress_token)), workers_(workers),
        client_timeout_(client_timeout), cancel_(cancel) {}

  void plugin_log(const host::PluginOptions& plugin, LogLevel level, std::string_view message) override {
    host::CallSink::plugin_log(plugin, level, message);
    auto min = session_->log_level();
    int l = mcp_level_of(level);
    if (!min || l < *min) return;
    send_log(l, plugin.name, message);
  }

  bool progress(std::string_view text) override {
    if (!token_) return false;
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec || !v.is_object()) return false;
    auto& o = v.as_object();
    auto* p = o.if_contains("progress");
    if (!p || !p->is_number()) return false;
    double progress = p->to_number<double>();
    if (last_progress_ && progress < *last_progress_) return false;
    last_progress_ = progress;
    json::object params{{"progressToken", *token_}, {"progress", *p}};
    if (auto* t = o.if_contains("total"); t && t->is_number()) params["total"] = *t;
    if (auto* m = o.if_contains("message"); m && m->is_string() && features_of(session_->protocol_version()).progress_message) {
      params["message"] = *m;
    }
    reply_->send(make_notification("notifications/progress", std::move(params)));
    return true;
  }

  void client_log(int level, std::string_view message) override {
    level = std::clamp(level, 0, 7);
    auto min = session_->log_level();
    if (min && level < *min) return;
    send_log(level, "plugin", message);
  }

  Result<std::string> sample(std::string_view request) override {
    if (!session_->client_capabilities().contains("sampling")) {
      return Error(ErrorKind::HostError, "the client does not support sampling");
    }
    return ask("sampling/createMessage", request);
  }

  Result<std::string> elicit(std::string_view request) override {
    if (!features_of(session_->protocol_version()).elicitation || !session_->client_capabilities().contains("elicitation")) {
      return Error(ErrorKind::HostError, "the client does not support elicitation");
    }
    return ask("elicitation/create", request);
  }

 private:
  void send_log(int level, std::string_view logger, std::string_view message) {
    reply_->send(make_notification("notifications/message",
                                   json::object{{"level", kLogLevels[level]}, {"logger", logger}, {"data", to_valid_utf8(message)}}));
  }

  Result<std::string> ask(std::string_view method, std::string_view request) {
    if (session_->kind() == Session::Kind::Stateless) {
      return Error(ErrorKind::HostError, fmt::format("{} needs a session (this request was sent without one)", method));
    }
    boost::system::error_code ec;
    json::value params = json::parse(request, ec);
    if (ec || !params.is_object()) return Error(ErrorKind::HostError, fmt::format("{}: the plugin's request is not a JSON object", method));
    WorkerPool::BlockingScope blocking(workers_);  // waiting on the client must not starve other calls
    auto r = session_->request_client(method, std::move(params), reply_, Deadline::after(client_timeout_), cancel_);
    if (!r) return r.take_error();
    return json::serialize(*r);
  }

  std::shared_ptr<Session> session_;
  std::shared_ptr<Outbound> reply_;
  std::optional<json::value> token_;
  WorkerPool& workers_;
  std::chrono::seconds client_timeout_;
  const std::atomic<bool>* cancel_;
  std::optional<double> last_progress_;
};

}  // namespace

// ---- Server -------------------------------------------------------------------------------------

Server::Server(Catalogs catalogs, WorkerPool& workers, ServerConfig config)
    : catalogs_(catalogs), workers_(workers), config_(std::move(config)) {
  listener_tokens_[0] = catalogs_.plugins.on_change([this](const registry::PluginSnapshot&) { mark_changed(0); });
  listener_tokens_[1] = catalogs_.resources.on_change([this](const registry::CatalogChange& c) { resource_changed(c); });
  listener_tokens_[2] = catalogs_.prompts.on_change([this](const registry::CatalogChange&) { mark_changed(2); });
  notifier_ = std::thread([this] { notifier_loop(); });
}

void Server::shutdown() {
  catalogs_.plugins.remove_listener(listener_tokens_[0]);
  catalogs_.resources.remove_listener(listener_tokens_[1]);
  catalogs_.prompts.remove_listener(listener_tokens_[2]);
  std::vector<std::shared_ptr<Session>> sessions;
  {
    std::lock_guard lock(sessions_mu_);
    for (auto& [id, s] : sessions_) sessions.push_back(s);
    sessions_.clear();
  }
  for (auto& s : sessions) s->close();
  std::unique_lock lock(calls_mu_);
  shut_down_ = true;
  for (auto& flag : calls_) flag->store(true);
  calls_cv_.wait(lock, [this] { return calls_.empty(); });
}

Server::~Server() {
  shutdown();
  {
    std::lock_guard lock(notify_mu_);
    stopping_ = true;
  }
  notify_cv_.notify_all();
  notifier_.join();
}

std::shared_ptr<Session> Server::create_session(Session::Kind kind) {
  auto s = std::make_shared<Session>(kind == Session::Kind::Stateless ? "" : random_token(16), kind, std::string(kDefaultVersion));
  if (kind == Session::Kind::Stateless) return s;
  std::shared_ptr<Session> evicted;
  {
    std::lock_guard lock(sessions_mu_);
    if (sessions_.size() >= config_.max_sessions) {
      auto oldest = sessions_.begin();
      for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
        if (it->second->last_activity() < oldest->second->last_activity()) oldest = it;
      }
      evicted = oldest->second;
      sessions_.erase(oldest);
    }
    sessions_[s->id()] = s;
  }
  if (evicted) {
    log().info("session limit ({}) reached: ended the least recently used session", config_.max_sessions);
    evicted->close();
  }
  return s;
}

std::shared_ptr<Session> Server::find_session(const std::string& id) const {
  std::lock_guard lock(sessions_mu_);
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : it->second;
}

void Server::end_session(const std::string& id) {
  std::shared_ptr<Session> s;
  {
    std::lock_guard lock(sessions_mu_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return;
    s = it->second;
    sessions_.erase(it);
  }
  s->close();
}

std::vector<std::shared_ptr<Session>> Server::all_sessions() const {
  std::lock_guard lock(sessions_mu_);
  std::vector<std::shared_ptr<Session>> out;
  for (const auto& [id, s] : sessions_) out.push_back(s);
  return out;
}

size_t Server::session_count() const {
  std::lock_guard lock(sessions_mu_);
  return sessions_.size();
}

std::vector<Server::SessionCount> Server::session_counts() const {
  std::map<std::pair<std::string, std::string>, SessionCount> counts;
  for (const auto& s : all_sessions()) {
    std::string transport = s->kind() == Session::Kind::Legacy ? "legacy"
                            : s->kind() == Session::Kind::Stdio ? "stdio"
                            : s->kind() == Session::Kind::Stateless ? "stateless"
                                                                    : "streamable";
    std::string protocol = s->initialize_received() ? s->protocol_version() : "uninitialized";
    auto& c = counts[{transport, protocol}];
    c.transport = transport;
    c.protocol = protocol;
    ++c.sessions;
    if (s->has_stream()) ++c.streams;
  }
  std::vector<SessionCount> out;
  for (auto& [k, c] : counts) out.push_back(std::move(c));
  return out;
}

void Server::handle(const std::shared_ptr<Session>& session, const json::value& message, const std::shared_ptr<Outbound>& reply) {
  session->touch();
  std::string why;
  switch (classify(message, &why)) {
    case MessageKind::Invalid: {
      json::value id = nullptr;
      if (message.is_object()) {
        if (auto* i = message.as_object().if_contains("id"); i && is_valid_id(*i)) id = *i;
      }
      reply->send(make_error(id, RpcError{kInvalidRequest, "Invalid Request: " + why, std::nullopt}));
      if (!id.is_null()) reply->request_done(id);
      return;
    }
    case MessageKind::Response:
      session->deliver_response(message.as_object());
      return;
    case MessageKind::Notification:
      handle_notification(session, message.as_object());
      return;
    case MessageKind::Request:
      handle_request(session, message.as_object(), reply);
      return;
  }
}

void Server::handle_notification(const std::shared_ptr<Session>& session, const json::object& note) {
  std::string method(note.at("method").as_string());
  const json::object& params = params_of(note);
  if (method == "notifications/initialized") {
    session->mark_initialized();
  } else if (method == "notifications/cancelled") {
    if (auto* id = params.if_contains("requestId")) session->cancel_request(*id);
  }
  // Other notifications (roots/list_changed, progress from the client...) need no action.
}

void Server::answer(const std::shared_ptr<Outbound>& reply, const json::value& id, Handled result) {
  if (auto* r = std::get_if<json::value>(&result)) reply->send(make_result(id, std::move(*r)));
  else reply->send(make_error(id, std::get<RpcError>(result)));
  reply->request_done(id);
}

void Server::handle_request(const std::shared_ptr<Session>& session, const json::object& req, const std::shared_ptr<Outbound>& reply) {
  const json::value& id = req.at("id");
  std::string method(req.at("method").as_string());
  const json::object& params = params_of(req);
  Session& s = *session;
  // The request's trace: on every log line written while it is handled, and its span.
  auto span = request_span(request_trace(params), method);
  trace::Scope scope(&span->context());

  static const std::set<std::string, std::less<>> known = {
      "initialize", "ping", "tools/list", "tools/call", "resources/list", "resources/templates/list",
      "resources/read", "resources/subscribe", "resources/unsubscribe", "prompts/list", "prompts/get",
      "completion/complete", "logging/setLevel"};
  if (!known.count(method)) {
    // Also before initialize: dual-era clients probe with server/discover and fall back on -32601.
    return answer(reply, id, RpcError{kMethodNotFound, fmt::format("Method not found: {}", method), std::nullopt});
  }
  if (method != "initialize" && method != "ping" && !s.initialize_received() &&
      (s.kind() == Session::Kind::Legacy || s.kind() == Session::Kind::Stdio)) {
    return answer(reply, id, RpcError{kInvalidRequest, "the session is not initialized: send initialize first", std::nullopt});
  }
  if (method == "initialize") return answer(reply, id, initialize(s, params));
  if (method == "ping") return answer(reply, id, json::object{});
  if (method == "tools/list") return answer(reply, id, tools_list(s, params));
  if (method == "tools/call") return tools_call(session, id, params, reply, std::move(span));
  if (method == "resources/list") return answer(reply, id, resources_list(s, params, false));
  if (method == "resources/templates/list") return answer(reply, id, resources_list(s, params, true));
  if (method == "resources/read") return answer(reply, id, resources_read(s, params));
  if (method == "resources/subscribe") return answer(reply, id, resources_subscribe(s, params, true));
  if (method == "resources/unsubscribe") return answer(reply, id, resources_subscribe(s, params, false));
  if (method == "prompts/list") return answer(reply, id, prompts_list(s, params));
  if (method == "prompts/get") return answer(reply, id, prompts_get(s, params));
  if (method == "completion/complete") return answer(reply, id, completion_complete(s, params));
  if (method == "logging/setLevel") return answer(reply, id, logging_set_level(s, params));
  answer(reply, id, RpcError{kMethodNotFound, fmt::format("Method not found: {}", method), std::nullopt});
}

Server::Handled Server::initialize(Session& s, const json::object& params) {
  auto requested = get_string(params, "protocolVersion");
  if (!requested) return invalid_params("initialize: \"protocolVersion\" must be a string");
  json::object caps, info;
  if (auto* c = params.if_contains("capabilities"); c && c->is_object()) caps = c->as_object();
  if (auto* i = params.if_contains("clientInfo"); i && i->is_object()) info = i->as_object();
  std::string version = negotiate_version(*requested);
  if (!s.record_initialize(version, caps, info)) {
    return RpcError{kInvalidRequest, "the session is already initialized", std::nullopt};
  }
  VersionFeatures f = features_of(version);
  json::object server_info{{"name", config_.name}, {"version", config_.version}};
  if (f.titles) server_info["title"] = "wasimancer";
  json::object result{
      {"protocolVersion", version},
      {"capabilities", json::object{{"tools", json::object{{"listChanged", true}}},
                                    {"resources", json::object{{"subscribe", true}, {"listChanged", true}}},
                                    {"prompts", json::object{{"listChanged", true}}},
                                    {"logging", json::object{}},
                                    {"completions", json::object{}}}},
      {"serverInfo", std::move(server_info)}};
  if (!config_.instructions.empty()) result["instructions"] = config_.instructions;
  log().debug("session {} initialized by {} with protocol {}", s.id().empty() ? "(stateless)" : s.id(),
              get_string(info, "name").value_or("an unnamed client"), version);
  return json::value(std::move(result));
}

Server::Handled Server::tools_list(Session& s, const json::object& params) {
  auto snap = catalogs_.plugins.snapshot();
  const auto& tools = snap->tools();
  auto page = paginate(tools.size(), params, config_.page_size);
  if (auto* e = std::get_if<RpcError>(&page)) return *e;
  const Page& p = std::get<Page>(page);
  VersionFeatures f = features_of(s.protocol_version());
  json::array list;
  for (size_t i = p.begin; i < p.end; ++i) {
    const auto& t = tools[i];
    const auto& fn = *t.function;
    std::string desc = fn.description;
    if (desc.empty()) desc = t.plugin->spec.description;
    if (desc.empty()) desc = fmt::format("Calls {} in plugin {}", fn.function, t.plugin->spec.name);
    json::object tool{{"name", fn.tool_name}, {"description", desc}, {"inputSchema", registry::tool_input_schema(fn)}};
    if (f.titles && !fn.title.empty()) tool["title"] = fn.title;
    if (f.structured_content && fn.output_schema) tool["outputSchema"] = *fn.output_schema;
    if (f.tool_annotations && fn.annotations) tool["annotations"] = *fn.annotations;
    list.push_back(std::move(tool));
  }
  json::object result{{"tools", std::move(list)}};
  if (p.next) result["nextCursor"] = *p.next;
  return json::value(std::move(result));
}

void Server::tools_call(const std::shared_ptr<Session>& session, const json::value& id, const json::object& params,
                        const std::shared_ptr<Outbound>& reply, std::shared_ptr<trace::Span> span) {
  auto name = get_string(params, "name");
  if (!name) return answer(reply, id, invalid_params("tools/call: \"name\" must be a string"));
  auto snap = catalogs_.plugins.snapshot();
  const registry::ToolRef* ref = snap->find_tool(*name);
  if (!ref) return answer(reply, id, invalid_params(fmt::format("Unknown tool: {}", *name)));
  json::object args;
  if (auto* a = params.if_contains("arguments"); a && !a->is_null()) {
    if (!a->is_object()) return answer(reply, id, invalid_params("tools/call: \"arguments\" must be an object"));
    args = a->as_object();
  }
  std::string version = session->protocol_version();
  if (auto err = validate_schema(registry::tool_input_schema(*ref->function), args)) {
    record_rejected_call(*ref->plugin, *ref->function);
    std::string msg = fmt::format("Invalid arguments for tool {}: {}", *name, *err);
    if (features_of(version).validation_is_tool_error) return answer(reply, id, json::value(text_result(msg, true)));
    return answer(reply, id, invalid_params(msg));
  }
  std::optional<json::value> token;
  if (auto* meta = params.if_contains("_meta"); meta && meta->is_object()) {
    if (auto* t = meta->as_object().if_contains("progressToken"); t && (t->is_string() || t->is_int64() || t->is_uint64())) {
      token = *t;
    }
  }
  auto cancel = session->begin_request(id);
  {
    std::lock_guard lock(calls_mu_);
    if (shut_down_) cancel->store(true);
    calls_.insert(cancel);
  }
  std::string input = plugin_input(*ref->function, args);
  if (span->recording()) span->attribute("mcp.tool", *name);
  workers_.post([this, session, id, reply, cancel, token, version, input = std::move(input), plugin = ref->plugin,
                 fn = ref->function, span = std::move(span)] {
    trace::Scope scope(&span->context());
    ToolCallSink sink(session, reply, token, workers_, config_.client_request_timeout, cancel.get());
    host::CallOptions opts;
    opts.sink = &sink;
    opts.cancel = cancel.get();
    host::CallOutcome out = observed_call(span->context(), *plugin, *fn, input, opts);
    session->end_request(id);
    struct Done {
      Server* self;
      std::shared_ptr<std::atomic<bool>> flag;
      ~Done() {
        std::lock_guard lock(self->calls_mu_);
        self->calls_.erase(flag);
        self->calls_cv_.notify_all();
      }
    } done{this, cancel};
    if (cancel->load()) {
      // Cancelled by the client (or the session ended): no response, as the spec requires.
      reply->request_done(id);
      return;
    }
    json::object result = tool_result(out, *fn, version);
    if (auto* e = result.if_contains("isError"); e && e->is_bool() && e->as_bool()) {
      span->fail(out.error ? out.error->message : "the tool returned an error result");
    }
    answer(reply, id, json::value(std::move(result)));
  });
}

Server::Handled Server::resources_list(Session& s, const json::object& params, bool templates) {
  // resources/list: the static resources; resources/templates/list: the dynamic ones.
  auto snap = catalogs_.resources.snapshot();
  std::vector<const registry::ResourceSpec*> items;
  for (const auto& r : snap->items) {
    if (r->dynamic == templates) items.push_back(r.get());
  }
  auto page = paginate(items.size(), params, config_.page_size);
  if (auto* e = std::get_if<RpcError>(&page)) return *e;
  const Page& p = std::get<Page>(page);
  VersionFeatures f = features_of(s.protocol_version());
  json::array list;
  for (size_t i = p.begin; i < p.end; ++i) {
    const auto& r = *items[i];
    json::object item{{templates ? "uriTemplate" : "uri", r.uri}, {"name", r.name}};
    if (f.titles && !r.title.empty()) item["title"] = r.title;
    if (!r.description.empty()) item["description"] = r.description;
    if (!r.mime_type.empty()) item["mimeType"] = r.mime_type;
    list.push_back(std::move(item));
  }
  json::object result{{templates ? "resourceTemplates" : "resources", std::move(list)}};
  if (p.next) result["nextCursor"] = *p.next;
  return json::value(std::move(result));
}

Server::Handled Server::resources_read(Session&, const json::object& params) {
  auto uri = get_string(params, "uri");
  if (!uri) return invalid_params("resources/read: \"uri\" must be a string");
  auto snap = catalogs_.resources.snapshot();
  const registry::ResourceSpec* found = nullptr;
  std::map<std::string, std::string> vars;
  for (const auto& r : snap->items) {
    if (!r->dynamic && r->uri == *uri) {
      found = r.get();
      break;
    }
  }
  if (!found) {
    for (const auto& r : snap->items) {
      if (r->dynamic && registry::match_uri_template(r->uri, *uri, &vars)) {
        found = r.get();
        break;
      }
    }
  }
  if (!found) return RpcError{kResourceNotFound, fmt::format("Resource not found: {}", *uri), json::value(json::object{{"uri", *uri}})};
  json::array contents;
  for (const auto& item : found->contents) {
    json::object c = found->dynamic ? substitute_all(item, vars).as_object() : item.as_object();
    c["uri"] = *uri;
    if (!c.contains("mimeType") && !found->mime_type.empty()) c["mimeType"] = found->mime_type;
    contents.push_back(std::move(c));
  }
  return json::value(json::object{{"contents", std::move(contents)}});
}

Server::Handled Server::resources_subscribe(Session& s, const json::object& params, bool subscribe) {
  auto uri = get_string(params, "uri");
  if (!uri) return invalid_params("\"uri\" must be a string");
  if (subscribe) s.subscribe(*uri);
  else s.unsubscribe(*uri);
  return json::value(json::object{});
}

Server::Handled Server::prompts_list(Session& s, const json::object& params) {
  auto snap = catalogs_.prompts.snapshot();
  auto page = paginate(snap->items.size(), params, config_.page_size);
  if (auto* e = std::get_if<RpcError>(&page)) return *e;
  const Page& p = std::get<Page>(page);
  VersionFeatures f = features_of(s.protocol_version());
  json::array list;
  for (size_t i = p.begin; i < p.end; ++i) {
    const auto& pr = *snap->items[i];
    json::object item{{"name", pr.name}};
    if (f.titles && !pr.title.empty()) item["title"] = pr.title;
    item["description"] = pr.description.empty() ? fmt::format("The {} prompt", pr.name) : pr.description;
    json::array args;
    for (const auto& a : pr.arguments) {
      json::object arg{{"name", a.name}, {"required", a.required}};
      if (!a.description.empty()) arg["description"] = a.description;
      args.push_back(std::move(arg));
    }
    item["arguments"] = std::move(args);
    list.push_back(std::move(item));
  }
  json::object result{{"prompts", std::move(list)}};
  if (p.next) result["nextCursor"] = *p.next;
  return json::value(std::move(result));
}

Server::Handled Server::prompts_get(Session& s, const json::object& params) {
  auto name = get_string(params, "name");
  if (!name) return invalid_params("prompts/get: \"name\" must be a string");
  auto prompt = catalogs_.prompts.snapshot()->find(*name);
  if (!prompt) return invalid_params(fmt::format("Unknown prompt: {}", *name));
  std::map<std::string, std::string> vars;
  if (auto* a = params.if_contains("arguments"); a && a->is_object()) {
    for (const auto& kv : a->as_object()) {
      vars[std::string(kv.key())] = kv.value().is_string() ? std::string(kv.value().as_string()) : json::serialize(kv.value());
    }
  }
  for (const auto& arg : prompt->arguments) {
    if (arg.required && !vars.count(arg.name)) {
      return invalid_params(fmt::format("Missing required argument \"{}\" for prompt {}", arg.name, *name));
    }
  }
  VersionFeatures f = features_of(s.protocol_version());
  json::array messages;
  for (const auto& m : prompt->messages) {
    const auto& mo = m.as_object();
    json::value content;
    if (auto* t = mo.if_contains("text")) {
      content = json::object{{"type", "text"}, {"text", registry::substitute(t->as_string(), vars)}};
    } else {
      content = gate_content(substitute_all(mo.at("content"), vars).as_object(), f, s.protocol_version());
    }
    messages.push_back(json::object{{"role", mo.at("role")}, {"content", std::move(content)}});
  }
  json::object result{{"messages", std::move(messages)}};
  if (!prompt->description.empty()) result["description"] = prompt->description;
  return json::value(std::move(result));
}

Server::Handled Server::completion_complete(Session&, const json::object& params) {
  auto* ref = params.if_contains("ref");
  auto* argument = params.if_contains("argument");
  if (!ref || !ref->is_object() || !argument || !argument->is_object()) {
    return invalid_params("completion/complete: \"ref\" and \"argument\" are required");
  }
  auto type = get_string(ref->as_object(), "type").value_or("");
  auto arg_name = get_string(argument->as_object(), "name").value_or("");
  auto value = get_string(argument->as_object(), "value").value_or("");
  const std::vector<registry::CatalogArgument>* args = nullptr;
  std::shared_ptr<const registry::PromptSpec> prompt;
  std::shared_ptr<const registry::ResourceSnapshot> rsnap;
  if (type == "ref/prompt") {
    auto pname = get_string(ref->as_object(), "name").value_or("");
    prompt = catalogs_.prompts.snapshot()->find(pname);
    if (!prompt) return invalid_params(fmt::format("Unknown prompt: {}", pname));
    args = &prompt->arguments;
  } else if (type == "ref/resource") {
    auto uri = get_string(ref->as_object(), "uri").value_or("");
    rsnap = catalogs_.resources.snapshot();
    for (const auto& r : rsnap->items) {
      if (r->uri == uri) args = &r->arguments;
    }
    if (!args) return invalid_params(fmt::format("Unknown resource template: {}", uri));
  } else {
    return invalid_params("completion/complete: ref.type must be ref/prompt or ref/resource");
  }
  json::array values;
  size_t total = 0;
  for (const auto& a : *args) {
    if (a.name != arg_name) continue;
    for (const auto& v : a.values) {
      if (v.rfind(value, 0) != 0) continue;
      ++total;
      if (values.size() < 100) values.push_back(json::string(v));
    }
  }
  return json::value(json::object{
      {"completion", json::object{{"values", std::move(values)}, {"total", total}, {"hasMore", total > 100}}}});
}

Server::Handled Server::logging_set_level(Session& s, const json::object& params) {
  auto level = get_string(params, "level");
  auto l = level ? parse_mcp_log_level(*level) : std::nullopt;
  if (!l) return invalid_params("logging/setLevel: \"level\" must be one of debug, info, notice, warning, error, critical, alert, emergency");
  s.set_log_level(*l);
  return json::value(json::object{});
}

// ---- change notifications ----------------------------------------------------------------------

void Server::mark_changed(int which) {
  {
    std::lock_guard lock(notify_mu_);
    changed_[which] = true;
  }
  notify_cv_.notify_all();
}

void Server::resource_changed(const registry::CatalogChange& change) {
  mark_changed(1);
  if (change.kind == registry::CatalogChange::Added) return;
  bool is_template = change.uri.find('{') != std::string::npos;
  for (auto& s : all_sessions()) {
    for (const auto& sub : s->subscriptions()) {
      if (sub == change.uri || (is_template && registry::match_uri_template(change.uri, sub, nullptr))) {
        s->notify(make_notification("notifications/resources/updated", json::object{{"uri", sub}}));
      }
    }
  }
}

void Server::notifier_loop() {
  static const char* methods[] = {"notifications/tools/list_changed", "notifications/resources/list_changed",
                                  "notifications/prompts/list_changed"};
  std::unique_lock lock(notify_mu_);
  auto next_sweep = Clock::now() + std::chrono::seconds(30);
  while (!stopping_) {
    notify_cv_.wait_until(lock, next_sweep, [this] { return stopping_ || changed_[0] || changed_[1] || changed_[2]; });
    if (stopping_) break;
    if (changed_[0] || changed_[1] || changed_[2]) {
      // Let a burst of changes settle into one notification per list.
      notify_cv_.wait_for(lock, config_.list_changed_debounce, [this] { return stopping_; });
      bool which[3] = {changed_[0], changed_[1], changed_[2]};
      changed_[0] = changed_[1] = changed_[2] = false;
      lock.unlock();
      auto sessions = all_sessions();
      for (int i = 0; i < 3; ++i) {
        if (!which[i]) continue;
        for (auto& s : sessions) s->notify(make_notification(methods[i]));
      }
      lock.lock();
    }
    if (Clock::now() >= next_sweep) {
      next_sweep = Clock::now() + std::chrono::seconds(30);
      lock.unlock();
      std::vector<std::string> idle;
      {
        std::lock_guard sl(sessions_mu_);
        for (auto& [id, s] : sessions_) {
          if (!s->has_stream() && Clock::now() - s->last_activity() > config_.session_idle_timeout) idle.push_back(id);
        }
      }
      for (auto& id : idle) end_session(id);
      if (!idle.empty()) log().info("ended {} idle session(s)", idle.size());
      lock.lock();
    }
  }
}

}  // namespace wasimancer::mcp
