#include "observe/observe_routes.hpp"

#include <algorithm>
#include <chrono>
#include <mutex>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "core/crypto.hpp"
#include "core/event_feed.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/text.hpp"
#include "core/trace.hpp"
#include "mcp/jsonrpc.hpp"
#include "mcp/observe.hpp"
#include "mcp/schema.hpp"
#include "registry/describe.hpp"

namespace wasimancer::observe {

namespace json = boost::json;

const char* const kDashboardCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

namespace {

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

Response json_response(http::status status, const json::value& body) {
  Response res{status, 11};
  res.set(http::field::content_type, "application/json; charset=utf-8");
  res.set(http::field::cache_control, "no-store");
  res.body() = json::serialize(body);
  return res;
}

Response error_response(http::status status, std::string_view message) {
  return json_response(status, json::object{{"error", message}});
}

bool is_api(std::string_view path) { return path.rfind("/ui/api/", 0) == 0; }

// Registers the scrape-time figures; returns the collector tokens.
std::vector<uint64_t> register_collectors(registry::Registry& plugins, mcp::Server& mcp) {
  auto& r = metrics::registry();
  std::vector<uint64_t> tokens;
  auto each_plugin = [&plugins](auto fn) {
    std::vector<metrics::Sample> out;
    auto snap = plugins.snapshot();
    for (const auto& v : snap->plugins()) fn(*v, out);
    return out;
  };
  tokens.push_back(r.add_collector(
      "wasimancer_plugin_info", "Loaded plugin versions (1), with the tier new calls run on and where they run",
      "gauge", {"plugin", "version", "tier", "isolation", "quarantined"}, [each_plugin] {
        return each_plugin([](const registry::PluginVersion& v, std::vector<metrics::Sample>& out) {
          out.push_back({{v.spec.name, v.spec.version, std::string(v.pool.tier()), v.sandbox ? "process" : "none",
                          v.quarantined() ? "true" : "false"},
                         1});
        });
      }));
  tokens.push_back(r.add_collector("wasimancer_instance_pool_idle", "Idle (warm) instances in each plugin version's pool",
                                   "gauge", {"plugin", "version"}, [each_plugin] {
                                     return each_plugin([](const registry::PluginVersion& v, std::vector<metrics::Sample>& out) {
                                       out.push_back({{v.spec.name, v.spec.version}, double(v.pool.stats().idle)});
                                     });
                                   }));
  tokens.push_back(r.add_collector("wasimancer_instance_pool_in_use", "Instances of each plugin version's pool leased to calls",
                                   "gauge", {"plugin", "version"}, [each_plugin] {
                                     return each_plugin([](const registry::PluginVersion& v, std::vector<metrics::Sample>& out) {
                                       out.push_back({{v.spec.name, v.spec.version}, double(v.pool.stats().leased)});
                                     });
                                   }));
  tokens.push_back(r.add_collector("wasimancer_instance_pool_created_total",
                                   "Instances each plugin version's pool has made", "counter", {"plugin", "version"},
                                   [each_plugin] {
                                     return each_plugin([](const registry::PluginVersion& v, std::vector<metrics::Sample>& out) {
                                       out.push_back({{v.spec.name, v.spec.version}, double(v.pool.stats().created)});
                                     });
                                   }));
  tokens.push_back(r.add_collector("wasimancer_instance_pool_acquires_total",
                                   "Instances handed to calls by each pool", "counter", {"plugin", "version"}, [each_plugin] {
                                     return each_plugin([](const registry::PluginVersion& v, std::vector<metrics::Sample>& out) {
                                       out.push_back({{v.spec.name, v.spec.version}, double(v.pool.stats().acquires)});
                                     });
                                   }));
  tokens.push_back(r.add_collector("wasimancer_instance_pool_waits_total",
                                   "Calls that found no idle instance and waited (for one to come back to a capped pool, or for a new one)", "counter",
                                   {"plugin", "version"}, [each_plugin] {
                                     return each_plugin([](const registry::PluginVersion& v, std::vector<metrics::Sample>& out) {
                                       out.push_back({{v.spec.name, v.spec.version}, double(v.pool.stats().waits)});
                                     });
                                   }));
  tokens.push_back(r.add_collector("wasimancer_instance_pool_wait_seconds_total",
                                   "Time calls waited for an instance (a capped pool's, instantiation, or starting a sandbox worker)",
                                   "counter", {"plugin", "version"}, [each_plugin] {
                                     return each_plugin([](const registry::PluginVersion& v, std::vector<metrics::Sample>& out) {
                                       out.push_back({{v.spec.name, v.spec.version}, v.pool.stats().wait_seconds});
                                     });
                                   }));
  tokens.push_back(r.add_collector("wasimancer_sessions", "MCP sessions by transport and protocol revision", "gauge",
                                   {"transport", "protocol"}, [&mcp] {
                                     std::vector<metrics::Sample> out;
                                     for (const auto& c : mcp.session_counts()) out.push_back({{c.transport, c.protocol}, double(c.sessions)});
                                     return out;
                                   }));
  tokens.push_back(r.add_collector("wasimancer_open_streams", "MCP sessions with an SSE stream open, by transport and protocol revision",
                                   "gauge", {"transport", "protocol"}, [&mcp] {
                                     std::vector<metrics::Sample> out;
                                     for (const auto& c : mcp.session_counts()) out.push_back({{c.transport, c.protocol}, double(c.streams)});
                                     return out;
                                   }));
  tokens.push_back(r.add_collector("wasimancer_registry_revision",
                                   "Revision of the plugin registry being served (every publish, update or remove adds one)",
                                   "gauge", {}, [&plugins] {
                                     return std::vector<metrics::Sample>{{{}, double(plugins.snapshot()->revision())}};
                                   }));
  tokens.push_back(r.add_collector("wasimancer_dashboard_subscribers", "Clients following the live feed", "gauge", {}, [] {
    return std::vector<metrics::Sample>{{{}, events::feed().wants_calls() ? 1.0 : 0.0}};
  }));
  return tokens;
}

}  // namespace

ObserveRoutes::ObserveRoutes(registry::Registry& plugins, registry::ResourceCatalog& resources, registry::PromptCatalog& prompts,
                             mcp::Server& mcp, WorkerPool& workers, health::Readiness& readiness, ObserveConfig config)
    : plugins_(plugins), resources_(resources), prompts_(prompts), mcp_(mcp), workers_(workers), readiness_(readiness),
      config_(std::move(config)) {
  // The scrape-time figures are registered once per server: the --metrics-bind listener's
  // routes expose the same process registry.
  if (!config_.metrics_only) collectors_ = register_collectors(plugins_, mcp_);
}

ObserveRoutes::~ObserveRoutes() {
  for (auto t : collectors_) metrics::registry().remove_collector(t);
}

bool ObserveRoutes::matches(const Header& h) const {
  std::string_view p = path_of(h.target());
  if (p == "/metrics" || p == "/healthz" || p == "/readyz") return true;
  if (config_.metrics_only) return false;
  return p == "/observe" || p == "/ui" || p.rfind("/ui/", 0) == 0;
}

bool ObserveRoutes::admin_authorized(const Header& h) const {
  std::string_view auth = h[http::field::authorization];
  return auth.size() > 7 && ascii_lower(auth.substr(0, 7)) == "bearer " && constant_time_equal(auth.substr(7), config_.admin_token);
}

std::optional<Response> ObserveRoutes::check(const Header& h) const {
  std::string_view p = path_of(h.target());
  const bool get = h.method() == http::verb::get || h.method() == http::verb::head;
  if (p == "/metrics") {
    if (!get) return error_response(http::status::method_not_allowed, "/metrics accepts GET");
    if (config_.metrics_open) return std::nullopt;
    std::string_view auth = h[http::field::authorization];
    bool ok = admin_authorized(h);
    if (!ok && config_.metrics_token && auth.size() > 7 && ascii_lower(auth.substr(0, 7)) == "bearer ") {
      ok = constant_time_equal(auth.substr(7), *config_.metrics_token);
    }
    if (!ok) {
      auto res = error_response(http::status::unauthorized,
                                auth.empty() ? "/metrics needs Authorization: Bearer <WASIMANCER_ADMIN_TOKEN or WASIMANCER_METRICS_TOKEN>"
                                             : "the token is not valid for /metrics");
      res.set(http::field::www_authenticate, "Bearer");
      return res;
    }
    return std::nullopt;
  }
  if (p == "/observe") {
    if (!admin_authorized(h)) {
      return error_response(http::status::forbidden, h[http::field::authorization].empty()
                                                          ? "/observe needs Authorization: Bearer <WASIMANCER_ADMIN_TOKEN>"
                                                          : "the admin token is not valid");
    }
    if (h.method() != http::verb::get && h.method() != http::verb::put) {
      auto res = error_response(http::status::method_not_allowed, "/observe accepts GET and PUT");
      res.set(http::field::allow, "GET, PUT");
      return res;
    }
    return std::nullopt;
  }
  if (is_api(p)) {
    if (!admin_authorized(h)) {
      return error_response(http::status::forbidden, h[http::field::authorization].empty()
                                                          ? "the dashboard API needs Authorization: Bearer <WASIMANCER_ADMIN_TOKEN>"
                                                          : "the admin token is not valid");
    }
    if (p == "/ui/api/call") {
      if (h.method() != http::verb::post) return error_response(http::status::method_not_allowed, "/ui/api/call accepts POST");
      return std::nullopt;
    }
    if (p == "/ui/api/catalog" || p == "/ui/api/events") {
      if (!get) return error_response(http::status::method_not_allowed, fmt::format("{} accepts GET", p));
      return std::nullopt;
    }
    return error_response(http::status::not_found, "no such dashboard API route");
  }
  if (!get) return error_response(http::status::method_not_allowed, fmt::format("{} accepts GET", p));
  return std::nullopt;
}

uint64_t ObserveRoutes::body_limit(const Header& h) const {
  const std::string_view p = path_of(h.target());
  if (p == "/observe") return 64u << 10;
  return p == "/ui/api/call" ? (4ull << 20) : 0;
}

void ObserveRoutes::handle(Request req, std::function<void(Response)> done) {
  if (auto early = check(req)) return done(std::move(*early));
  std::string_view p = path_of(req.target());
  if (p == "/metrics") return done(metrics(req));
  if (p == "/healthz") return done(json_response(http::status::ok, json::object{{"status", "ok"}}));
  if (p == "/readyz") return done(readyz(req));
  if (p == "/observe") {
    if (req.method() != http::verb::put) return done(settings());
    Response res = change_settings(req);
    if (res.result() != http::status::ok) metrics::record_admin_change("observe", "update", false);
    return done(std::move(res));
  }
  if (p == "/ui/api/catalog") return done(catalog(req));
  if (p == "/ui/api/call") return call_tool(req, std::move(done));
  if (p == "/ui/api/events") return done(error_response(http::status::not_acceptable, "the live feed is a stream"));
  done(asset(req));
}

Response ObserveRoutes::metrics(const Request&) const {
  Response res{http::status::ok, 11};
  res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  res.set(http::field::cache_control, "no-store");
  res.body() = metrics::registry().expose();
  return res;
}

Response ObserveRoutes::readyz(const Request&) const {
  auto report = readiness_.check();
  json::object checks;
  for (const auto& c : report.checks) checks[c.name] = c.ok ? json::value("ok") : json::value(json::string(c.reason));
  json::object body{{"status", report.ready ? "ready" : "not ready"}, {"checks", std::move(checks)}};
  for (const auto& [name, value] : report.facts) body[name] = value;
  return json_response(report.ready ? http::status::ok : http::status::service_unavailable, std::move(body));
}

Response ObserveRoutes::settings() const {
  json::object body{{"logLevel", to_string(log_level())},
                    {"logFormat", log_format() == LogFormat::Json ? "json" : "text"},
                    {"metrics", metrics::enabled()},
                    {"traceExport", config_.trace_export}};
  // A ratio only means something when spans go somewhere.
  if (config_.trace_export) body["traceSampleRatio"] = trace::sample_ratio();
  else body["traceSampleRatio"] = nullptr;
  return json_response(http::status::ok, body);
}

Response ObserveRoutes::change_settings(const Request& req) const {
  boost::system::error_code ec;
  json::value body = json::parse(req.body(), ec);
  constexpr std::string_view kFields = "logLevel, metrics, traceSampleRatio";
  if (ec || !body.is_object()) {
    return error_response(http::status::bad_request, fmt::format("the body must be a JSON object with any of {}", kFields));
  }
  const json::object& o = body.as_object();
  if (o.empty()) return error_response(http::status::bad_request, fmt::format("nothing to change: give any of {}", kFields));
  // Every field is checked before anything changes.
  std::optional<LogLevel> level;
  std::optional<bool> metrics_on;
  std::optional<double> ratio;
  for (const auto& [key, value] : o) {
    if (key == "logLevel") {
      if (value.is_string()) level = parse_log_level(value.as_string());
      if (!level) return error_response(http::status::bad_request, "\"logLevel\" must be one of trace, debug, info, warn, error, off");
    } else if (key == "metrics") {
      if (!value.is_bool()) return error_response(http::status::bad_request, "\"metrics\" must be true or false");
      metrics_on = value.as_bool();
    } else if (key == "traceSampleRatio") {
      if (!value.is_number()) return error_response(http::status::bad_request, "\"traceSampleRatio\" must be a number from 0 to 1");
      double r = value.to_number<double>();
      if (r == 0) r = 0;  // -0 is 0
      if (!(r >= 0 && r <= 1)) return error_response(http::status::bad_request, "\"traceSampleRatio\" must be a number from 0 to 1");
      if (!config_.trace_export) {
        return error_response(http::status::bad_request,
                              "no spans are exported: traceSampleRatio needs an OTLP endpoint, set at start (WASIMANCER_OTLP_ENDPOINT)");
      }
      ratio = r;
    } else if (key == "logFormat") {
      return error_response(http::status::bad_request, "the log format is set at start (--log-format, WASIMANCER_LOG_FORMAT)");
    } else {
      return error_response(http::status::bad_request, fmt::format("unknown setting \"{}\" (settings: {})", std::string_view(key), kFields));
    }
  }
  // One change at a time, so that what is logged as "before" is what was in effect.
  static std::mutex change_mu;
  std::lock_guard change_lock(change_mu);
  std::string what;
  auto note = [&what](std::string_view name, const std::string& before, const std::string& after) {
    if (!what.empty()) what += ", ";
    what += fmt::format("{} {} -> {}", name, before, after);
  };
  if (level) note("log level", std::string(to_string(log_level())), std::string(to_string(*level)));
  if (metrics_on) note("metrics", metrics::enabled() ? "on" : "off", *metrics_on ? "on" : "off");
  if (ratio) note("trace sample ratio", fmt::format("{}", trace::sample_ratio()), fmt::format("{}", *ratio));
  // Logged before the level changes when the level in effect shows it (so that a change to a
  // quieter level is still seen), else after (a change from error or off to a louder level).
  const bool shown_now = log().should_log(spdlog::level::warn);
  if (shown_now) log().warn("observe settings changed through the admin API: {}", what);
  if (level) set_log_level(*level);
  if (metrics_on) metrics::set_enabled(*metrics_on);
  if (ratio) trace::set_sample_ratio(*ratio);
  if (!shown_now) log().warn("observe settings changed through the admin API: {}", what);
  metrics::record_admin_change("observe", "update", true);
  events::feed().publish("admin", json::serialize(json::object{
      {"type", "admin"}, {"object", "observe"}, {"action", "update"}, {"status", 200}, {"name", what},
      {"time", std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count()}}));
  return settings();
}

Response ObserveRoutes::asset(const Request& req) const {
  std::string_view p = path_of(req.target());
  if (p == "/ui" || p == "/ui/") p = "/ui/index.html";
  for (const auto& a : ui_assets()) {
    if (p != a.path) continue;
    Response res{http::status::ok, 11};
    res.set(http::field::content_type, a.content_type);
    res.set("Content-Security-Policy", kDashboardCsp);
    res.set("X-Content-Type-Options", "nosniff");
    res.set("X-Frame-Options", "DENY");
    res.set("Referrer-Policy", "no-referrer");
    res.set("Cross-Origin-Opener-Policy", "same-origin");
    res.set(http::field::cache_control, "no-cache");
    if (req.method() != http::verb::head) res.body() = std::string(a.body);
    return res;
  }
  return error_response(http::status::not_found, fmt::format("no dashboard file {}", p));
}

Response ObserveRoutes::catalog(const Request&) const {
  json::array resources, prompts;
  for (const auto& r : resources_.snapshot()->items) {
    json::object o = r->raw;
    o["dynamic"] = r->dynamic;
    resources.push_back(std::move(o));
  }
  for (const auto& p : prompts_.snapshot()->items) prompts.push_back(p->raw);
  return json_response(http::status::ok, json::object{{"resources", std::move(resources)}, {"prompts", std::move(prompts)}});
}

void ObserveRoutes::call_tool(const Request& req, std::function<void(Response)> done) {
  boost::system::error_code ec;
  json::value body = json::parse(req.body(), ec);
  if (ec || !body.is_object()) return done(error_response(http::status::bad_request, "the body must be a JSON object {\"tool\", \"arguments\"}"));
  const auto& o = body.as_object();
  auto* name = o.if_contains("tool");
  if (!name || !name->is_string()) return done(error_response(http::status::bad_request, "\"tool\" must be a string"));
  json::object args;
  if (auto* a = o.if_contains("arguments"); a && !a->is_null()) {
    if (!a->is_object()) return done(error_response(http::status::bad_request, "\"arguments\" must be an object"));
    args = a->as_object();
  }
  auto snap = plugins_.snapshot();
  const registry::ToolRef* ref = snap->find_tool(name->as_string());
  if (!ref) return done(error_response(http::status::not_found, fmt::format("no tool named \"{}\"", std::string(name->as_string()))));
  if (auto err = mcp::validate_schema(registry::tool_input_schema(*ref->function), args)) {
    mcp::record_rejected_call(*ref->plugin, *ref->function);
    return done(error_response(http::status::bad_request, fmt::format("invalid arguments: {}", *err)));
  }
  // The plugin input (and a WASI command's argv) as tools/call makes them.
  std::string input = registry::tool_call_input(*ref->function, args);
  std::vector<std::string> argv = registry::tool_argv(*ref->function, args);
  auto incoming = trace::TraceContext::parse(req["traceparent"]);
  // Keyed by plugin, as tools/call is (core/worker_pool.hpp: one plugin holds at most its share).
  workers_.post(ref->plugin->spec.name, [plugin = ref->plugin, fn = ref->function, fn_list = ref->list, input = std::move(input),
                                         argv = std::move(argv), incoming, done = std::move(done)] {
    (void)fn_list;  // keeps *fn alive while a self-describing plugin is re-described
    mcp::RequestTrace rt;
    if (incoming) {
      rt.context = incoming->child();
      rt.parent_span = incoming->span_id;
    } else {
      rt.context = trace::TraceContext::root();
    }
    auto span = mcp::request_span(rt, "dashboard tools/call");
    trace::Scope scope(&span->context());
    auto t0 = std::chrono::steady_clock::now();
    host::CallOutcome out;
    {
      mcp::ObservedCall observed(span->context(), *plugin, *fn);
      host::CallOptions opts;
      opts.trace = observed.context();
      opts.argv = argv;
      out = plugin->call(fn->function, input, opts);
      observed.finish(out);
    }
    if (out.error) span->fail(out.error->message);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    json::object result{{"tool", fn->tool_name},
                        {"plugin", plugin->spec.name},
                        {"version", plugin->spec.version},
                        {"tier", plugin->pool.tier()},
                        {"ms", ms},
                        {"traceId", span->context().trace_id_hex()},
                        {"outcome", metrics::outcome_label(out.error ? &*out.error : nullptr)}};
    if (out.ok()) {
      result["output"] = json::string(mcp::to_valid_utf8(out.output));
    } else {
      result["isError"] = true;
      result["error"] = out.error->message;
      if (out.note) result["note"] = *out.note;
    }
    done(json_response(http::status::ok, result));
  });
}

std::function<std::function<void()>(ObserveRoutes::PushChunk)> ObserveRoutes::stream(const Request& req) const {
  if (path_of(req.target()) != "/ui/api/events" || !admin_authorized(req)) return nullptr;
  uint64_t after = 0;
  if (auto last = req["last-event-id"]; !last.empty()) {
    try {
      after = std::stoull(std::string(last));
    } catch (...) {
      after = 0;
    }
  }
  return [after](PushChunk push) -> std::function<void()> {
    push(": wasimancer live feed\n\n");
    uint64_t token = events::feed().subscribe(std::move(push), after);
    return [token] {
      if (token) events::feed().unsubscribe(token);
    };
  };
}

}  // namespace wasimancer::observe
