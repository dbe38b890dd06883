// mcp/observe.hpp: what each MCP request and tool call leaves for the people who run the server
// (issue 13): its trace (W3C traceparent from the request's _meta or HTTP header, or a new
// one), spans (the request, the plugin call; core/otlp.hpp exports them), the tool-call metrics
// (core/metrics.hpp), one info log line per tool call, and the dashboard's live feed.
//
// Thread safety: free functions, safe from any thread; RequestTrace is a value.
#pragma once

#include <array>
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

// From params._meta.traceparent, else the trace current on this thread (the transport sets the
// HTTP request's traceparent header as current while it hands messages over), else a new trace.
RequestTrace request_trace(const boost::json::object& params);

// The span of one MCP request (kind server), named after its method.
std::shared_ptr<trace::Span> request_span(const RequestTrace& rt, std::string_view method);

// Runs one tool call on `plugin` as a child span of `parent`, with the trace current on this
// thread and in `options.trace` (so the plugin's log lines and outgoing HTTP carry it), then
// records wasimancer_tool_calls_total / _duration_seconds, writes the call's info log line
// (tool, plugin, version, tier, outcome, ms) and publishes it on the live feed.
host::CallOutcome observed_call(const trace::TraceContext& parent, const registry::PluginVersion& plugin,
                                const registry::FunctionSpec& fn, std::string_view input, host::CallOptions options);

// A tool call refused before it ran (invalid arguments): counted, logged at debug level.
void record_rejected_call(const registry::PluginVersion& plugin, const registry::FunctionSpec& fn);

}  // namespace wasimancer::mcp
