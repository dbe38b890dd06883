#include "mcp/plugin_items.hpp"

#include <set>

#include <fmt/format.h>

#include "registry/catalog.hpp"
#include "registry/describe.hpp"

namespace wasimancer::mcp {

namespace json = boost::json;

namespace {

const json::array& list_of(const registry::Description& d, ItemKind kind) {
  switch (kind) {
    case ItemKind::Prompt: return d.prompts;
    case ItemKind::Resource: return d.resources;
    case ItemKind::Template: return d.resource_templates;
  }
  return d.prompts;
}

const char* key_of(ItemKind kind) {
  switch (kind) {
    case ItemKind::Prompt: return "name";
    case ItemKind::Resource: return "uri";
    case ItemKind::Template: return "uriTemplate";
  }
  return "name";
}

}  // namespace

std::vector<PluginItem> plugin_items(const registry::PluginSnapshot& plugins, ItemKind kind) {
  std::vector<PluginItem> out;
  std::set<std::string> seen;
  for (const auto& p : plugins.plugins()) {
    auto d = p->description();
    if (!d) continue;
    for (const auto& v : list_of(*d, kind)) {
      if (!v.is_object()) continue;
      auto* key = v.as_object().if_contains(key_of(kind));
      if (!key || !key->is_string() || key->as_string().empty()) continue;
      PluginItem item{p, v.as_object(), std::string(key->as_string())};
      if (kind == ItemKind::Prompt && p->prefix_tools) item.item["name"] = p->spec.name + "-" + item.plugin_name;
      std::string served(item.item.at(key_of(kind)).as_string());
      if (!seen.insert(served).second) continue;
      out.push_back(std::move(item));
    }
  }
  return out;
}

std::optional<PluginItem> find_plugin_prompt(const registry::PluginSnapshot& plugins, std::string_view name) {
  for (auto& item : plugin_items(plugins, ItemKind::Prompt)) {
    if (item.item.at("name").as_string() == name) return std::move(item);
  }
  return std::nullopt;
}

std::optional<PluginItem> find_plugin_resource(const registry::PluginSnapshot& plugins, std::string_view uri) {
  for (auto& item : plugin_items(plugins, ItemKind::Resource)) {
    if (item.plugin_name == uri) return std::move(item);
  }
  std::map<std::string, std::string> vars;
  for (auto& item : plugin_items(plugins, ItemKind::Template)) {
    if (registry::match_uri_template(item.plugin_name, uri, &vars)) return std::move(item);
  }
  return std::nullopt;
}

void call_plugin_export(Server& server, const RequestPtr& r, std::shared_ptr<const registry::PluginVersion> plugin,
                        std::string export_name, json::object request, std::function<void(json::object&)> shape) {
  // Keyed by plugin, as tool calls are: a plugin's prompts and resources count against its share.
  const std::string key = plugin->spec.name;
  server.workers().post(key, [&server, r, plugin = std::move(plugin), export_name = std::move(export_name),
                              request = std::move(request), shape = std::move(shape)] {
    json::object input{{"request", request}, {"context", registry::request_context()}};
    auto cancel = std::make_shared<std::atomic<bool>>(false);
    server.begin_call(cancel);
    host::CallOptions opts;
    opts.cancel = cancel.get();
    host::CallOutcome out = plugin->call(export_name, json::serialize(input), opts);
    server.end_call(cancel);
    if (!out.ok()) {
      return server.answer(*r, RpcError{kInternalError, fmt::format("plugin \"{}\": {} failed: {}", plugin->spec.name, export_name,
                                                                    out.error->message), std::nullopt});
    }
    boost::system::error_code ec;
    json::value v = json::parse(out.output, ec);
    if (ec || !v.is_object()) {
      return server.answer(*r, RpcError{kInternalError, fmt::format("plugin \"{}\": {} did not answer a JSON object",
                                                                    plugin->spec.name, export_name), std::nullopt});
    }
    if (shape) shape(v.as_object());
    server.answer(*r, std::move(v));
  });
}

}  // namespace wasimancer::mcp
