// registry/plugin_spec.hpp: one plugins.yml entry (or one admin pluginData body), validated.
//
// WASImancer's keys: name, path, version, description, functions[] with displayName, function,
// arguments[] {name, type, description} and description. Our additions are optional and
// documented in README.md ("plugins.yml"):
//   plugin:   config {k: v}, allowedHosts [globs], maxPages, timeoutMs, maxHttpResponseBytes,
//             maxVarBytes, maxLogBytes, httpResponseHeaders
//   function: title, output ("text" | "mcp"), outputSchema, inputSchema, annotations
// Unknown keys are kept in `raw` and written back unchanged.
// Thread safety: values.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "core/error.hpp"
#include "host/plugin.hpp"

namespace wasimancer::registry {

struct ArgumentSpec {
  std::string name;
  std::string type;  // string | number | integer | boolean | object | array | anything else = any
  std::string description;
};

struct FunctionSpec {
  std::string tool_name;  // displayName, or the function name when absent
  std::string function;   // the wasm export
  std::string description;
  std::string title;
  std::vector<ArgumentSpec> arguments;
  // "mcp": the plugin's output is a CallToolResult JSON (content, structuredContent, isError).
  bool mcp_output = false;
  std::optional<boost::json::object> input_schema;   // replaces the schema built from arguments
  std::optional<boost::json::object> output_schema;
  std::optional<boost::json::object> annotations;
};

struct PluginSpec {
  std::string name;
  std::string path;  // relative to PLUGINS_PATH
  std::string version;
  std::string description;
  std::vector<FunctionSpec> functions;
  std::map<std::string, std::string> config;
  std::optional<std::vector<std::string>> allowed_hosts;  // unset: every public host
  host::PluginLimits limits;
  bool http_response_headers = true;
  // `trusted: true`: the operator vouches for the plugin, which then runs in the server's own
  // process instead of a sandbox worker (faster calls, no isolation).
  bool trusted = false;
  boost::json::object raw;  // the entry as given, unknown keys included
};

// Validates an entry; errors are InvalidArgument and name the offending field.
Result<PluginSpec> parse_plugin_spec(const boost::json::value& entry);

// The tool's JSON Schema for its arguments: every declared argument is a required property.
boost::json::object tool_input_schema(const FunctionSpec& fn);

// Whether a tool name follows the MCP guidance ([A-Za-z0-9_.-], 1..128 characters). Other names
// still work (WASImancer users have "say hello"), but some clients reject them.
bool is_recommended_tool_name(std::string_view name);

}  // namespace wasimancer::registry
