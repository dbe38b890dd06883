// registry/describe.hpp: self-describing plugins (hyper-mcp's v1 and v2 interfaces, mcp.run's
// servlets). A plugins.yml entry may omit `functions`: the server recognises the interface by
// the module's exports and asks the plugin what it serves.
//
//   v1  exports describe() -> {"tools":[Tool...]} and call({"params":{"name","arguments"}}) ->
//       CallToolResult
//   v2  exports list_tools, call_tool (and optionally list_prompts, get_prompt, list_resources,
//       list_resource_templates, read_resource, complete); each takes {"request": ..., "context":
//       {"id", "_meta"}} (list_* take only the context) and returns MCP JSON
//       (/work/shared/mcp-plugins/hyper-mcp/xtp-plugin-schema.json)
//
// Listing `functions` for such a plugin still works: as a filter (only the tools named by
// `function` are served) and to override a tool's name (displayName), description and title.
// With `prefixTools: true` (or the server's WASIMANCER_PREFIX_TOOLS) every tool is served as
// "<plugin>-<tool>", as hyper-mcp names them, so plugins whose tools share a name can coexist.
//
// Ownership: Description is an immutable value shared by PluginVersion and snapshots. Thread
// safety: pure functions apart from the Runner they call (used by one thread at a time).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "core/error.hpp"
#include "engine/module.hpp"
#include "host/plugin.hpp"
#include "registry/plugin_spec.hpp"

namespace wasimancer::registry {

enum class Interface { Plain, V1, V2 };

Interface detect_interface(const engine::ModuleInfo& info);
std::string_view to_string(Interface i);

struct Description {
  std::vector<FunctionSpec> tools;
  // v2 only, as the plugin lists them (MCP shapes); served beside resources.yml / prompts.yml.
  boost::json::array prompts, resources, resource_templates;
  bool completes = false;  // exports `complete`
};

// Asks the plugin what it serves (bounded: at most 10,000 tools, 64 pages of results). Errors:
// PluginError for a plugin that fails or answers what is not the interface's JSON, with the
// reason; InvalidArgument when `spec.functions` names a tool the plugin does not have.
Result<std::shared_ptr<const Description>> describe(host::Runner& runner, const engine::ModuleInfo& info,
                                                     const PluginSpec& spec, bool prefix_tools);

// The plugin input of a tool call with these arguments: the arguments themselves (declared
// functions), or the v1/v2 request around them.
std::string tool_call_input(const FunctionSpec& fn, const boost::json::object& arguments);

// A WASI command's argv for a call with these arguments (FunctionSpec::argv with "{name}"
// replaced), empty for other plugins.
std::vector<std::string> tool_argv(const FunctionSpec& fn, const boost::json::object& arguments);

// The request context v2 exports take.
boost::json::object request_context(std::string_view id = "wasimancer");

}  // namespace wasimancer::registry
