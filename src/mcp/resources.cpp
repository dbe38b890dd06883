#include "mcp/resources.hpp"

#include <set>

#include <fmt/format.h>

#include "mcp/entry_options.hpp"
#include "mcp/plugin_items.hpp"
#include "mcp/results.hpp"

namespace wasimancer::mcp {

Resources::Resources(Server& server) : server_(server) {
  server_.add_method("resources/list", {[this](const RequestPtr& r) { list(r, false); }});
  server_.add_method("resources/templates/list", {[this](const RequestPtr& r) { list(r, true); }});
  server_.add_method("resources/read", {[this](const RequestPtr& r) { read(r); }});
  server_.add_method("resources/subscribe", {[this](const RequestPtr& r) { subscribe(r, true); }, Server::kStateful});
  server_.add_method("resources/unsubscribe", {[this](const RequestPtr& r) { subscribe(r, false); }, Server::kStateful});
}

void Resources::list(const RequestPtr& r, bool templates) {
  // resources/list: the static resources; resources/templates/list: the dynamic ones; then the
  // self-describing plugins' (mcp/plugin_items.hpp).
  auto snap = server_.catalogs().resources.snapshot();
  std::vector<const registry::ResourceSpec*> items;
  std::set<std::string> uris;
  for (const auto& res : snap->items) {
    if (res->dynamic == templates) items.push_back(res.get());
    uris.insert(res->uri);
  }
  std::vector<PluginItem> from_plugins;
  for (auto& pi : plugin_items(*server_.catalogs().plugins.snapshot(), templates ? ItemKind::Template : ItemKind::Resource)) {
    if (!uris.count(pi.plugin_name)) from_plugins.push_back(std::move(pi));
  }
  auto page = paginate(items.size() + from_plugins.size(), r->params, server_.config().page_size);
  if (auto* e = std::get_if<RpcError>(&page)) return server_.answer(*r, *e);
  const Page& p = std::get<Page>(page);
  const VersionFeatures& f = r->features;
  json::array list;
  for (size_t i = p.begin; i < p.end; ++i) {
    if (i >= items.size()) {
      json::object item = from_plugins[i - items.size()].item;
      if (!f.titles) item.erase("title");
      list.push_back(std::move(item));
      continue;
    }
    const auto& res = *items[i];
    json::object item{{templates ? "uriTemplate" : "uri", res.uri}, {"name", res.name}};
    if (f.titles && !res.title.empty()) item["title"] = res.title;
    if (!res.description.empty()) item["description"] = res.description;
    if (!res.mime_type.empty()) item["mimeType"] = res.mime_type;
    list.push_back(std::move(item));
  }
  json::object result{{templates ? "resourceTemplates" : "resources", std::move(list)}};
  if (p.next) result["nextCursor"] = *p.next;
  if (f.stateless) {
    put_cache_hint(result, list_cache_hint(items, server_.config().list_ttl_ms,
                                           [](const auto& e) -> const json::object& { return e->raw; }));
  }
  server_.answer(*r, json::value(std::move(result)));
}

void Resources::read(const RequestPtr& r) {
  auto uri = get_string(r->params, "uri");
  if (!uri) return server_.answer(*r, invalid_params("resources/read: \"uri\" must be a string"));
  auto snap = server_.catalogs().resources.snapshot();
  const registry::ResourceSpec* found = nullptr;
  std::map<std::string, std::string> vars;
  for (const auto& res : snap->items) {
    if (!res->dynamic && res->uri == *uri) {
      found = res.get();
      break;
    }
  }
  if (!found) {
    for (const auto& res : snap->items) {
      if (res->dynamic && registry::match_uri_template(res->uri, *uri, &vars)) {
        found = res.get();
        break;
      }
    }
  }
  if (!found) {
    // A self-describing plugin's resource: the plugin reads it (on a worker).
    if (auto pi = find_plugin_resource(*server_.catalogs().plugins.snapshot(), *uri)) {
      return call_plugin_export(server_, r, pi->plugin, "read_resource", json::object{{"uri", *uri}});
    }
    // 2026-07-28 (SEP-2164): an unknown resource is -32602; before, -32002.
    int code = r->stateless() ? kInvalidParams : kResourceNotFound;
    return server_.answer(*r, RpcError{code, fmt::format("Resource not found: {}", *uri), json::value(json::object{{"uri", *uri}})});
  }
  json::array contents;
  for (const auto& item : found->contents) {
    json::object c = found->dynamic ? substitute_all(item, vars).as_object() : item.as_object();
    c["uri"] = *uri;
    if (!c.contains("mimeType") && !found->mime_type.empty()) c["mimeType"] = found->mime_type;
    contents.push_back(std::move(c));
  }
  json::object result{{"contents", std::move(contents)}};
  if (r->stateless()) put_cache_hint(result, cache_hint_of(found->raw, CacheHint{server_.config().read_ttl_ms, false}));
  server_.answer(*r, json::value(std::move(result)));
}

void Resources::subscribe(const RequestPtr& r, bool subscribe) {
  auto uri = get_string(r->params, "uri");
  if (!uri) return server_.answer(*r, invalid_params("\"uri\" must be a string"));
  if (subscribe) r->session->subscribe(*uri);
  else r->session->unsubscribe(*uri);
  server_.answer(*r, json::value(json::object{}));
}

}  // namespace wasimancer::mcp
