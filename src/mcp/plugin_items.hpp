// mcp/plugin_items.hpp: the prompts, resources and resource templates that self-describing (v2)
// plugins serve (registry/describe.hpp), beside those of prompts.yml and resources.yml.
//
// Lists show the YAML catalogs' items first, then each plugin's, in registry order; a plugin item
// whose name (prompts) or URI (resources) the YAML catalogs or an earlier plugin already serve is
// left out. With the plugin's prefixTools, its prompts are named "<plugin>-<name>". Reading a
// resource, getting a prompt or completing an argument of a plugin's item calls the plugin
// (read_resource, get_prompt, complete) on a worker, never on the calling (network) thread.
//
// Ownership: items hold the plugin version they came from. Thread safety: pure functions of the
// snapshots given; call_export posts to the worker pool and answers from there.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "mcp/server.hpp"
#include "registry/registry.hpp"

namespace wasimancer::mcp {

struct PluginItem {
  std::shared_ptr<const registry::PluginVersion> plugin;
  boost::json::object item;   // as served (prompt name prefixed when the plugin asks)
  std::string plugin_name;    // the plugin's own name for a prompt; the uri/uriTemplate for resources
};

enum class ItemKind { Prompt, Resource, Template };

std::vector<PluginItem> plugin_items(const registry::PluginSnapshot& plugins, ItemKind kind);

// The plugin item a prompt name or resource URI (exact, then by template) refers to.
std::optional<PluginItem> find_plugin_prompt(const registry::PluginSnapshot& plugins, std::string_view name);
std::optional<PluginItem> find_plugin_resource(const registry::PluginSnapshot& plugins, std::string_view uri);

// Calls `export_name` of `plugin` with {"request": request, "context": ...} on a worker and
// answers `r` with the plugin's JSON object result (`shape` may adjust it), or an RPC error
// naming the failure.
void call_plugin_export(Server& server, const RequestPtr& r, std::shared_ptr<const registry::PluginVersion> plugin,
                        std::string export_name, boost::json::object request,
                        std::function<void(boost::json::object&)> shape = {});

}  // namespace wasimancer::mcp
