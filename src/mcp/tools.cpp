#include "mcp/tools.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "core/log.hpp"
#include "mcp/entry_options.hpp"
#include "mcp/input_sink.hpp"
#include "mcp/observe.hpp"
#include "mcp/request_state.hpp"
#include "mcp/results.hpp"
#include "mcp/schema.hpp"
#include "mcp/tasks.hpp"

namespace wasimancer::mcp {

namespace {

const char* kContentTypes[] = {"text", "image", "audio", "resource", "resource_link"};

// The plugin input: the arguments' JSON, declared arguments only and in declared order (as
// WASImancer's schema parsing leaves them), as given for a tool with its own inputSchema, or the
// request a self-describing plugin takes (registry/describe.hpp).
std::string plugin_input(const registry::FunctionSpec& fn, const json::object& args) {
  return registry::tool_call_input(fn, args);
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
  ToolCallSink(RequestPtr request, std::optional<json::value> progress_token, WorkerPool& workers,
               std::chrono::seconds client_timeout, const std::atomic<bool>* cancel, InputCollector* inputs)
      : r_(std::move(request)), token_(std::move(progress_token)), workers_(workers), client_timeout_(client_timeout),
        cancel_(cancel), inputs_(inputs) {}

  void plugin_log(const host::PluginOptions& plugin, LogLevel level, std::string_view message) override {
    if (waiting_note_ && level == LogLevel::Warn) {
      // The host's note that a request went unanswered: expected in a multi-round-trip run.
      waiting_note_ = false;
      log().debug("[{}] {}", plugin.name, message);
      return;
    }
    // The call's trace is current on this thread (mcp/observe.hpp): the log line carries it.
    host::CallSink::plugin_log(plugin, level, message);
    auto min = r_->session->log_level();
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
    if (auto* m = o.if_contains("message"); m && m->is_string() && r_->features.progress_message) params["message"] = *m;
    r_->reply->send(make_notification("notifications/progress", std::move(params)));
    return true;
  }

  void client_log(int level, std::string_view message) override {
    level = std::clamp(level, 0, 7);
    auto min = r_->session->log_level();
    if (!min || level < *min) {
      // Stateful sessions that never set a level get every client log (as before); the
      // stateless era sends none without _meta logLevel.
      if (min || r_->stateless()) return;
    }
    send_log(level, "plugin", message);
  }

  Result<std::string> sample(std::string_view request) override {
    if (inputs_) return from_inputs(inputs_->ask("sampling/createMessage", "sampling", request));
    if (!r_->session->client_capabilities().contains("sampling")) {
      return Error(ErrorKind::HostError, "the client does not support sampling");
    }
    return ask("sampling/createMessage", request);
  }

  Result<std::string> elicit(std::string_view request) override {
    if (inputs_) return from_inputs(inputs_->ask("elicitation/create", "elicitation", request));
    if (!r_->features.elicitation || !r_->session->client_capabilities().contains("elicitation")) {
      return Error(ErrorKind::HostError, "the client does not support elicitation");
    }
    return ask("elicitation/create", request);
  }

  // hyper-mcp's list_roots (extism:host/user).
  Result<std::string> list_roots() override {
    if (inputs_) return from_inputs(inputs_->ask("roots/list", "roots", "{}"));
    if (!r_->session->client_capabilities().contains("roots")) return Error(ErrorKind::HostError, "the client does not support roots");
    return ask("roots/list", "{}");
  }

  // hyper-mcp's notify_* (list changes are the registry's: PluginVersion re-describes the plugin).
  void notify(std::string_view method, std::string_view params_json) override {
    boost::system::error_code ec;
    json::value params = json::parse(params_json, ec);
    if (ec || !params.is_object()) return;
    auto& o = params.as_object();
    if (method == "notifications/progress") {
      // The request's own token, whatever the plugin says.
      json::object p{{"progress", o.contains("progress") ? o["progress"] : json::value(0)}};
      if (auto* t = o.if_contains("total")) p["total"] = *t;
      if (auto* m = o.if_contains("message"); m && m->is_string()) p["message"] = *m;
      progress(json::serialize(p));
    } else if (method == "notifications/message") {
      auto* level = o.if_contains("level");
      int l = 1;
      for (int i = 0; i < 8 && level && level->is_string(); ++i) {
        if (level->as_string() == kLogLevels[i]) l = i;
      }
      auto* data = o.if_contains("data");
      client_log(l, data ? (data->is_string() ? std::string(data->as_string()) : json::serialize(*data)) : std::string());
    } else if (method == "notifications/resources/updated") {
      r_->reply->send(make_notification(std::string(method), std::move(o)));
    }
  }

 private:
  Result<std::string> from_inputs(Result<std::string> r) {
    waiting_note_ = !r.ok();
    return r;
  }

  void send_log(int level, std::string_view logger, std::string_view message) {
    r_->reply->send(make_notification("notifications/message",
                                      json::object{{"level", kLogLevels[level]}, {"logger", logger}, {"data", to_valid_utf8(message)}}));
  }

  Result<std::string> ask(std::string_view method, std::string_view request) {
    if (r_->session->kind() == Session::Kind::Stateless) {
      return Error(ErrorKind::HostError, fmt::format("{} needs a session (this request was sent without one)", method));
    }
    boost::system::error_code ec;
    json::value params = json::parse(request, ec);
    if (ec || !params.is_object()) return Error(ErrorKind::HostError, fmt::format("{}: the plugin's request is not a JSON object", method));
    WorkerPool::BlockingScope blocking(workers_);  // waiting on the client must not starve other calls
    auto r = r_->session->request_client(method, std::move(params), r_->reply, Deadline::after(client_timeout_), cancel_);
    if (!r) return r.take_error();
    return json::serialize(*r);
  }

  RequestPtr r_;
  std::optional<json::value> token_;
  WorkerPool& workers_;
  std::chrono::seconds client_timeout_;
  const std::atomic<bool>* cancel_;
  InputCollector* inputs_;  // multi-round-trip (2026-07-28) and tasks: answers instead of requests
  bool waiting_note_ = false;
  std::optional<double> last_progress_;
};

}  // namespace

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

Tools::Tools(Server& server) : server_(server) {
  server_.add_method("tools/list", {[this](const RequestPtr& r) { list(r); }});
  server_.add_method("tools/call", {[this](const RequestPtr& r) { call(r); }});
}

void Tools::list(const RequestPtr& r) {
  auto snap = server_.catalogs().plugins.snapshot();
  const auto& tools = snap->tools();
  auto page = paginate(tools.size(), r->params, server_.config().page_size);
  if (auto* e = std::get_if<RpcError>(&page)) return server_.answer(*r, *e);
  const Page& p = std::get<Page>(page);
  const VersionFeatures& f = r->features;
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
  if (f.stateless) {
    put_cache_hint(result, list_cache_hint(snap->plugins(), server_.config().list_ttl_ms,
                                           [](const auto& e) -> const json::object& { return e->spec.raw; }));
  }
  server_.answer(*r, json::value(std::move(result)));
}

void Tools::call(const RequestPtr& r) {
  auto name = get_string(r->params, "name");
  if (!name) return server_.answer(*r, invalid_params("tools/call: \"name\" must be a string"));
  auto snap = server_.catalogs().plugins.snapshot();
  const registry::ToolRef* ref = snap->find_tool(*name);
  if (!ref) return server_.answer(*r, invalid_params(fmt::format("Unknown tool: {}", *name)));
  if (r->span && r->span->recording()) r->span->attribute("mcp.tool", *name);
  json::object args;
  if (auto* a = r->params.if_contains("arguments"); a && !a->is_null()) {
    if (!a->is_object()) return server_.answer(*r, invalid_params("tools/call: \"arguments\" must be an object"));
    args = a->as_object();
  }
  if (auto err = validate_schema(registry::tool_input_schema(*ref->function), args)) {
    record_rejected_call(*ref->plugin, *ref->function);
    std::string msg = fmt::format("Invalid arguments for tool {}: {}", *name, *err);
    if (r->features.validation_is_tool_error) return server_.answer(*r, json::value(text_result(msg, true)));
    return server_.answer(*r, invalid_params(msg));
  }
  FunctionOptions options = function_options(ref->plugin->spec, *ref->function);
  std::optional<json::object> answers;
  if (r->stateless()) {
    // What the tool cannot work without (-32021 before anything runs).
    json::object caps = r->session->client_capabilities();
    json::object missing;
    for (const auto& kv : options.requires_capabilities) {
      if (!caps.contains(kv.key())) missing[kv.key()] = kv.value();
    }
    if (!missing.empty()) {
      return server_.answer(*r, RpcError{kMissingRequiredClientCapability,
                                         fmt::format("Missing required client capability: tool {} needs {}", *name, json::serialize(missing)),
                                         json::value(json::object{{"requiredCapabilities", std::move(missing)}})});
    }
    // The answers so far: the resumed state's, then this round's inputResponses.
    auto given = InputCollector::parse_input_responses(r->params);
    if (auto* e = std::get_if<RpcError>(&given)) return server_.answer(*r, *e);
    answers = json::object{};
    if (auto* st = r->params.if_contains("requestState"); st && !st->is_null()) {
      if (!st->is_string()) return server_.answer(*r, invalid_params("Invalid params: requestState must be a string"));
      RequestState expected{"tools/call", *name, RequestStateCodec::hash_arguments(args), {}};
      auto opened = server_.request_states().decode(st->as_string(), expected);
      if (auto* e = std::get_if<RpcError>(&opened)) return server_.answer(*r, *e);
      *answers = std::get<RequestState>(opened).answers;
    }
    for (const auto& kv : std::get<json::object>(given)) (*answers)[kv.key()] = kv.value();
  }
  if (server_.tasks().start(r, *ref, args, answers, options)) return;  // tasks extension
  json::object state_args = args;
  run(r, *ref, std::move(args), std::move(answers), options, nullptr, [this, r, state_args](RunOutcome out) {
    if (!out.input_required) return server_.answer(*r, json::value(std::move(out.result)));
    // Multi-round-trip: the client answers and sends the request again with this state.
    json::object irr{{"resultType", "input_required"}, {"inputRequests", std::move(out.input_requests)}};
    RequestState state{"tools/call", get_string(r->params, "name").value_or(""), RequestStateCodec::hash_arguments(state_args),
                       std::move(out.used_answers)};
    auto encoded = server_.request_states().encode(state);
    if (auto* e = std::get_if<RpcError>(&encoded)) return server_.answer(*r, *e);
    irr["requestState"] = std::get<std::string>(encoded);
    server_.answer(*r, json::value(std::move(irr)));
  });
}

void Tools::run(const RequestPtr& r, const registry::ToolRef& ref, json::object args, std::optional<json::object> answers,
                const FunctionOptions& options, std::shared_ptr<std::atomic<bool>> cancel, Done done) {
  std::optional<json::value> token;
  if (auto* meta = r->params.if_contains("_meta"); meta && meta->is_object()) {
    if (auto* t = meta->as_object().if_contains("progressToken"); t && (t->is_string() || t->is_int64() || t->is_uint64())) {
      token = *t;
    }
  }
  // The trace the call belongs to: the request's (a task's run has no span of its own: the
  // trace current where it was started, i.e. the tools/call that created it).
  trace::TraceContext parent = r->span ? r->span->context() : trace::current() ? *trace::current() : trace::TraceContext::root();
  if (!cancel) cancel = r->session->begin_request(r->id);
  server_.begin_call(cancel);
  if (options.poll_stream) r->reply->release_connection();
  // Keyed by plugin: one plugin holds at most its share of the workers, and queued calls are
  // served round-robin across plugins (core/worker_pool.hpp).
  server_.workers().post(ref.plugin->spec.name, [this, r, cancel, token, args = std::move(args), answers = std::move(answers), roots = options.roots,
                          plugin = ref.plugin, fn = ref.function, fn_list = ref.list, done = std::move(done), parent]() mutable {
    (void)fn_list;
    trace::Scope trace_scope(&parent);  // keeps *fn alive: a self-describing plugin's tools may be re-described meanwhile
    struct Finish {
      Server& server;
      std::shared_ptr<std::atomic<bool>> flag;
      ~Finish() { server.end_call(flag); }
    } finish{server_, cancel};
    std::optional<InputCollector> inputs;
    if (answers) inputs.emplace(std::move(*answers), r->session->client_capabilities());
    if (roots) {
      // The client's roots go to the plugin as the input member "_roots".
      std::optional<json::value> got;
      if (inputs) {
        got = inputs->ask_keyed("roots", "roots/list", "roots", json::object{});
      } else if (r->session->kind() != Session::Kind::Stateless && r->session->client_capabilities().contains("roots")) {
        WorkerPool::BlockingScope blocking(server_.workers());
        auto res = r->session->request_client("roots/list", json::object{}, r->reply, Deadline::after(server_.config().client_request_timeout),
                                              cancel.get());
        if (res) got = *res;
      }
      if (got && got->is_object()) {
        if (auto* list = got->as_object().if_contains("roots")) args["_roots"] = *list;
      }
    }
    std::string input = plugin_input(*fn, args);
    if (roots && args.contains("_roots") && !fn->input_schema) {
      json::object with = json::parse(input).as_object();
      with["_roots"] = args["_roots"];
      input = json::serialize(with);
    }
    ToolCallSink sink(r, token, server_.workers(), server_.config().client_request_timeout, cancel.get(), inputs ? &*inputs : nullptr);
    host::CallOptions opts;
    opts.sink = &sink;
    opts.cancel = cancel.get();
    opts.argv = registry::tool_argv(*fn, args);
    // The plugin call's span, metrics, info log line and live-feed event (mcp/observe.hpp).
    ObservedCall observed(parent, *plugin, *fn);
    opts.trace = observed.context();
    host::CallOutcome out = plugin->call(fn->function, input, opts);
    r->session->end_request(r->id);
    if (cancel->load()) {
      if (server_.shutting_down()) {
        // Stopped by a shutdown that could not wait for it: the client gets an error, not silence.
        observed.finish(out, "cancelled");
        log().info("tool \"{}\" (plugin \"{}\"): stopped by the server's shutdown", fn->tool_name, plugin->spec.name);
        return server_.answer(*r, RpcError{kServerError, "the server is shutting down: the call was stopped before it finished",
                                           std::nullopt});
      }
      // Cancelled by the client (or the session ended): no response, as the spec requires.
      observed.finish(out, "cancelled");
      r->reply->request_done(r->id);
      return;
    }
    RunOutcome outcome;
    if (size_t cap = server_.config().max_output_bytes; cap && out.ok() && out.output.size() > cap) {
      // The output cap (WASIMANCER_MAX_OUTPUT_BYTES): a clear tool error instead of the output.
      out.error = Error(ErrorKind::PluginError,
                        fmt::format("the tool's output ({} bytes) is larger than the server's limit of {} bytes per call "
                                    "(WASIMANCER_MAX_OUTPUT_BYTES)", out.output.size(), cap));
      out.output.clear();
      out.output.shrink_to_fit();
    }
    if (inputs && inputs->pending()) {
      observed.finish(out, "input_required", fmt::format("{} request(s)", inputs->input_requests().size()));
      outcome.input_required = true;
      outcome.input_requests = inputs->input_requests();
    } else {
      observed.finish(out);
    }
    if (inputs) outcome.used_answers = inputs->used_answers();
    if (!outcome.input_required) {
      outcome.result = tool_result(out, *fn, r->version);
      if (auto* e = outcome.result.if_contains("isError"); r->span && e && e->is_bool() && e->as_bool()) {
        r->span->fail(out.error ? out.error->message : "the tool returned an error result");
      }
    }
    outcome.call = std::move(out);
    done(std::move(outcome));
  });
}

}  // namespace wasimancer::mcp
