// registry/plugin_spec.hpp: one plugins.yml entry (or one admin pluginData body), validated.
//
// WASImancer's keys: name, path, version, description, functions[] with displayName, function,
// arguments[] {name, type, description} and description. Our additions are optional and
// documented in README.md ("plugins.yml"):
//   plugin:   config {k: v}, allowedHosts [globs], maxPages, timeoutMs, maxHttpResponseBytes,
//             maxVarBytes, maxLogBytes, httpResponseHeaders, allowedPaths {host: guest}, kind,
//             trusted, prefixTools, maxInstances
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

// How a tool call reaches the plugin: its own export with the arguments as input (declared
// functions), or a self-describing plugin's call/call_tool with the request around them
// (registry/describe.hpp).
enum class ToolDispatch { Export, V1, V2 };

struct FunctionSpec {
  std::string tool_name;  // displayName, or the function name when absent
  std::string function;   // the wasm export
  ToolDispatch dispatch = ToolDispatch::Export;
  std::string plugin_tool;  // V1/V2: the plugin's own name for the tool
  // A WASI command's arguments after the program name; "{name}" is replaced by the tool
  // argument `name` (its text, or its JSON for non-strings). The input goes to stdin.
  std::vector<std::string> argv;
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
  // `kind: command`: a plain wasm32-wasi program (no Extism PDK) run as a tool: stdin is the
  // arguments' JSON, stdout the result (host/plugin.hpp PluginOptions::command). Without
  // `functions`, one tool named after the plugin.
  bool command = false;
  // `allowedPaths`: host folder → guest path, read-only unless the host folder is written
  // "rw:/folder" ("ro:" is accepted too). Absolute host paths only (host/wasi_fs.hpp).
  std::vector<host::PathGrant> allowed_paths;
  // Serve every tool as "<name>-<tool>" (self-describing plugins whose tools share names).
  bool prefix_tools = false;
  // Instances at once (`maxInstances`); unset: as many as there are workers, but 1 for a
  // self-describing plugin (they keep their state in memory, as hyper-mcp runs them).
  std::optional<uint32_t> max_instances;
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
