// mcp/observe.hpp: what each MCP request and tool call leaves for the people who run the server
// (issue 13): its trace (W3C traceparent from the request's _meta or HTTP header, or a new
// one), spans (the request, the plugin call; core/otlp.hpp exports them), the tool-call metrics
// (core/metrics.hpp), one info log line per tool call, and the dashboard's live feed.
//
// Thread safety: free functions, safe from any thread; RequestTrace is a value.
#pragma once

#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <string_view>

#include <boost/json.hpp>

#include "core/trace.hpp"
#include "host/plugin.hpp"
#include "registry/plugin_version.hpp"

namespace wasimancer::mcp {

struct RequestTrace {
  trace::TraceContext context;                        // the request's own span
  std::optional<std::array<uint8_t, 8>> parent_span;  // the caller's, when it sent a traceparent
};

// From params._meta.traceparent, else `header` (the HTTP request's traceparent, which the
// transport passes with the message), else the trace current on this thread, else a new trace.
// Invalid traceparents are ignored.
RequestTrace request_trace(const boost::json::object& params, std::string_view header);

// The span of one MCP request (kind server), named after its method.
std::shared_ptr<trace::Span> request_span(const RequestTrace& rt, std::string_view method);

// One tool call's plugin run, observed: a child span of the request ("plugin call"), current on
// this thread (and given to the plugin through context(): CallOptions::trace, so its log lines
// and outgoing HTTP carry it) from construction to finish(). finish() records
// wasimancer_tool_calls_total / _duration_seconds, writes the call's one info log line (tool,
// plugin, version, tier, outcome, ms) and publishes it on the live feed.
// Use on one thread; finish() once.
class ObservedCall {
 public:
  ObservedCall(const trace::TraceContext& parent, const registry::PluginVersion& plugin, const registry::FunctionSpec& fn);
  const trace::TraceContext* context() const { return &span_.context(); }
  // `outcome` overrides the label the call's error gives (cancelled by the client,
  // input_required); `detail` is added to the log line.
  void finish(const host::CallOutcome& out, std::string_view outcome = {}, std::string_view detail = {});

 private:
  const registry::PluginVersion& plugin_;
  const registry::FunctionSpec& fn_;
  trace::Span span_;
  trace::Scope scope_;
  std::chrono::steady_clock::time_point t0_;
};

// A tool call refused before it ran (invalid arguments): counted.
void record_rejected_call(const registry::PluginVersion& plugin, const registry::FunctionSpec& fn);

}  // namespace wasimancer::mcp
