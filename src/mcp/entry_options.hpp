// mcp/entry_options.hpp: the optional keys of plugins.yml, resources.yml and prompts.yml entries
// that only the MCP layer reads (kept in the specs' `raw` objects by the registry):
//
//   ttlMs, cacheScope          plugin, resource, prompt: 2026-07-28 cache hints of the lists the
//                              entry appears in and of resources/read
//   taskSupport                function: "forbidden" (default), "optional", "required" (tasks
//                              extension: a required-task tool refuses clients without it)
//   inputsBeforeTask           function: true to gather client inputs by multi-round-trip
//                              first and become a task only once the client has answered
//   pollStream                 function: true to end a Streamable HTTP SSE answer at once and
//                              let the client fetch the result by reconnecting (GET with
//                              Last-Event-ID, SEP-1699; for long calls behind proxies)
//   requiresCapabilities       function: client capabilities the tool cannot work without
//                              (2026-07-28: -32021 before the plugin runs)
//   roots                      function: true to pass the client's roots to the plugin
//                              (input member "_roots")
//   elicit                     prompt: {key, message, requestedSchema}: values asked of the user
//                              (2026-07-28 multi-round-trip) and substituted as ${name}
//
// Invalid values fall back to the defaults with a warning in the log. Thread safety: pure
// functions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "registry/plugin_spec.hpp"

namespace wasimancer::mcp {

struct CacheHint {
  int64_t ttl_ms = 0;
  bool is_private = false;
};
// The entry's own hint, or `fallback`.
CacheHint cache_hint_of(const boost::json::object& raw, CacheHint fallback);
// The hint of a list: the smallest ttl and the most restrictive scope of its entries (and of
// the default, for an empty list).
void combine(CacheHint& list, const CacheHint& entry);
void put_cache_hint(boost::json::object& result, const CacheHint& hint);
// The hint of a list of entries, each entry's own (`raw_of(entry)`: its plugins.yml/resources.yml
// document) combined, with `ttl_ms` as the default.
template <typename Range, typename RawOf>
CacheHint list_cache_hint(const Range& entries, int64_t ttl_ms, RawOf raw_of) {
  const CacheHint fallback{ttl_ms, false};
  CacheHint hint = fallback;
  for (const auto& e : entries) combine(hint, cache_hint_of(raw_of(e), fallback));
  return hint;
}

enum class TaskSupport { Forbidden, Optional, Required };
struct FunctionOptions {
  TaskSupport task_support = TaskSupport::Forbidden;
  boost::json::object requires_capabilities;  // e.g. {"sampling": {}}
  bool roots = false;
  bool inputs_before_task = false;
  bool poll_stream = false;
};
FunctionOptions function_options(const registry::PluginSpec& plugin, const registry::FunctionSpec& fn);

}  // namespace wasimancer::mcp
