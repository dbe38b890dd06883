#include "mcp/observe.hpp"

#include <chrono>

#include <fmt/format.h>

#include "core/event_feed.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/text.hpp"

namespace wasimancer::mcp {

namespace json = boost::json;

RequestTrace request_trace(const json::object& params, std::string_view header) {
  std::optional<trace::TraceContext> incoming;
  if (auto* meta = params.if_contains("_meta"); meta && meta->is_object()) {
    if (auto* t = meta->as_object().if_contains("traceparent"); t && t->is_string()) {
      incoming = trace::TraceContext::parse(t->as_string());
    }
  }
  if (!incoming && !header.empty()) incoming = trace::TraceContext::parse(header);
  if (!incoming) {
    if (const trace::TraceContext* cur = trace::current()) incoming = *cur;
  }
  RequestTrace rt;
  if (incoming) {
    rt.context = incoming->child();
    rt.parent_span = incoming->span_id;
  } else {
    rt.context = trace::TraceContext::root();
  }
  return rt;
}

std::shared_ptr<trace::Span> request_span(const RequestTrace& rt, std::string_view method) {
  auto span = std::make_shared<trace::Span>(method, trace::SpanKind::Server, rt.context, rt.parent_span);
  if (span->recording()) span->attribute("rpc.method", method);
  return span;
}

ObservedCall::ObservedCall(const trace::TraceContext& parent, const registry::PluginVersion& plugin, const registry::FunctionSpec& fn)
    : plugin_(plugin), fn_(fn), span_("plugin call", trace::SpanKind::Internal, &parent), scope_(&span_.context()),
      t0_(std::chrono::steady_clock::now()) {}

void ObservedCall::finish(const host::CallOutcome& out, std::string_view outcome, std::string_view detail) {
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  if (outcome.empty()) outcome = metrics::outcome_label(out.error ? &*out.error : nullptr);
  const auto& plugin = plugin_;
  const auto& fn = fn_;
  metrics::record_tool_call(fn.tool_name, plugin.spec.name, plugin.spec.version, outcome, seconds);
  const bool info = log().should_log(spdlog::level::info);
  const bool feed = events::feed().wants_calls();
  if (!info && !feed && !span_.recording()) return;
  const std::string_view tier = plugin.pool.tier();
  const int64_t ms = static_cast<int64_t>(seconds * 1000);
  if (span_.recording()) {
    span_.attribute("mcp.tool", fn.tool_name);
    span_.attribute("wasimancer.plugin", plugin.spec.name);
    span_.attribute("wasimancer.plugin.version", plugin.spec.version);
    span_.attribute("wasimancer.tier", tier);
    span_.attribute("wasimancer.outcome", outcome);
    if (out.error) span_.fail(out.error->message);
  }
  if (info) {
    char ms_text[24];
    const auto ms_size = fmt::format_to_n(ms_text, sizeof ms_text, "{}", ms).size;
    const trace::LogField values[] = {{"tool", fn.tool_name},   {"plugin", plugin.spec.name},
                                      {"version", plugin.spec.version}, {"tier", tier},
                                      {"outcome", outcome},     {"ms", std::string_view(ms_text, ms_size)}};
    trace::LogFields fields(values);
    // " (<detail>)" when there is one
    const std::string_view open = detail.empty() ? "" : " (", close = detail.empty() ? "" : ")";
    if (outcome == "ok") {
      log().info("tool {} (plugin {} {}, {}): ok in {} ms{}{}{}", fn.tool_name, plugin.spec.name, plugin.spec.version, tier, ms, open,
                 detail, close);
    } else if (out.error) {
      log().info("tool {} (plugin {} {}, {}): {} after {} ms{}{}{}: {}", fn.tool_name, plugin.spec.name, plugin.spec.version, tier,
                 outcome, ms, open, detail, close, out.error->message);
    } else {
      log().info("tool {} (plugin {} {}, {}): {} after {} ms{}{}{}", fn.tool_name, plugin.spec.name, plugin.spec.version, tier, outcome,
                 ms, open, detail, close);
    }
  }
  if (feed) {
    std::string ev = "{\"type\":\"call\",\"tool\":";
    append_json_string(ev, fn.tool_name);
    ev += ",\"plugin\":";
    append_json_string(ev, plugin.spec.name);
    ev += ",\"version\":";
    append_json_string(ev, plugin.spec.version);
    ev += ",\"tier\":";
    append_json_string(ev, tier);
    ev += fmt::format(",\"outcome\":\"{}\",\"ms\":{:.3f},\"traceId\":\"{}\"", outcome, seconds * 1000, span_.context().trace_id_hex());
    if (out.error) {
      ev += ",\"error\":";
      append_json_string(ev, out.error->message.substr(0, 500));
    }
    ev += fmt::format(",\"time\":{}}}", trace::unix_nanos_now() / 1000000);
    events::feed().publish("call", std::move(ev));
  }
}

void record_rejected_call(const registry::PluginVersion& plugin, const registry::FunctionSpec& fn) {
  metrics::record_tool_call(fn.tool_name, plugin.spec.name, plugin.spec.version, "invalid_arguments", 0);
}

}  // namespace wasimancer::mcp
