#include "mcp/prompts.hpp"

#include <fmt/format.h>

#include "mcp/plugin_items.hpp"

#include "mcp/entry_options.hpp"
#include "mcp/input_sink.hpp"
#include "mcp/request_state.hpp"
#include "mcp/results.hpp"

namespace wasimancer::mcp {

Prompts::Prompts(Server& server) : server_(server) {
  server_.add_method("prompts/list", {[this](const RequestPtr& r) { list(r); }});
  server_.add_method("prompts/get", {[this](const RequestPtr& r) { get(r); }});
  server_.add_method("completion/complete", {[this](const RequestPtr& r) { complete(r); }});
}

void Prompts::list(const RequestPtr& r) {
  auto snap = server_.catalogs().prompts.snapshot();
  std::vector<PluginItem> from_plugins;  // self-describing plugins' prompts (mcp/plugin_items.hpp)
  for (auto& pi : plugin_items(*server_.catalogs().plugins.snapshot(), ItemKind::Prompt)) {
    if (!snap->find(std::string(pi.item.at("name").as_string()))) from_plugins.push_back(std::move(pi));
  }
  auto page = paginate(snap->items.size() + from_plugins.size(), r->params, server_.config().page_size);
  if (auto* e = std::get_if<RpcError>(&page)) return server_.answer(*r, *e);
  const Page& p = std::get<Page>(page);
  const VersionFeatures& f = r->features;
  json::array list;
  for (size_t i = p.begin; i < p.end; ++i) {
    if (i >= snap->items.size()) {
      json::object item = from_plugins[i - snap->items.size()].item;
      if (!f.titles) item.erase("title");
      list.push_back(std::move(item));
      continue;
    }
    const auto& pr = *snap->items[i];
    json::object item{{"name", pr.name}};
    if (f.titles && !pr.title.empty()) item["title"] = pr.title;
    item["description"] = pr.description.empty() ? fmt::format("The {} prompt", pr.name) : pr.description;
    json::array args;
    for (const auto& a : pr.arguments) {
      json::object arg{{"name", a.name}, {"required", a.required}};
      if (!a.description.empty()) arg["description"] = a.description;
      args.push_back(std::move(arg));
    }
    item["arguments"] = std::move(args);
    list.push_back(std::move(item));
  }
  json::object result{{"prompts", std::move(list)}};
  if (p.next) result["nextCursor"] = *p.next;
  if (f.stateless) {
    put_cache_hint(result, list_cache_hint(snap->items, server_.config().list_ttl_ms,
                                           [](const auto& e) -> const json::object& { return e->raw; }));
  }
  server_.answer(*r, json::value(std::move(result)));
}

void Prompts::get(const RequestPtr& r) {
  auto name = get_string(r->params, "name");
  if (!name) return server_.answer(*r, invalid_params("prompts/get: \"name\" must be a string"));
  auto prompt = server_.catalogs().prompts.snapshot()->find(*name);
  if (!prompt) {
    // A self-describing plugin's prompt: the plugin makes it (on a worker).
    if (auto pi = find_plugin_prompt(*server_.catalogs().plugins.snapshot(), *name)) {
      json::object req{{"name", pi->plugin_name}};
      if (auto* a = r->params.if_contains("arguments"); a && a->is_object()) req["arguments"] = *a;
      return call_plugin_export(server_, r, pi->plugin, "get_prompt", std::move(req));
    }
    return server_.answer(*r, invalid_params(fmt::format("Unknown prompt: {}", *name)));
  }
  std::map<std::string, std::string> vars;
  if (auto* a = r->params.if_contains("arguments"); a && a->is_object()) {
    for (const auto& kv : a->as_object()) {
      vars[std::string(kv.key())] = kv.value().is_string() ? std::string(kv.value().as_string()) : json::serialize(kv.value());
    }
  }
  // A prompt with `elicit` asks the user for values (2026-07-28: multi-round-trip).
  if (auto* el = prompt->raw.if_contains("elicit"); el && el->is_object() && r->stateless()) {
    const auto& e = el->as_object();
    std::string key = get_string(e, "key").value_or("prompt_input");
    json::object schema;
    if (auto* rs = e.if_contains("requestedSchema"); rs && rs->is_object()) schema = rs->as_object();
    bool have_all = true;
    if (auto* req = schema.if_contains("required"); req && req->is_array()) {
      for (const auto& n : req->as_array()) have_all = have_all && n.is_string() && vars.count(std::string(n.as_string()));
    } else {
      have_all = false;
    }
    if (!have_all) {
      auto given = InputCollector::parse_input_responses(r->params);
      if (auto* err = std::get_if<RpcError>(&given)) return server_.answer(*r, *err);
      json::object answers;
      json::object args_json;
      if (auto* a = r->params.if_contains("arguments"); a && a->is_object()) args_json = a->as_object();
      RequestState expected{"prompts/get", *name, RequestStateCodec::hash_arguments(args_json), {}};
      if (auto* st = r->params.if_contains("requestState"); st && !st->is_null()) {
        if (!st->is_string()) return server_.answer(*r, invalid_params("Invalid params: requestState must be a string"));
        auto opened = server_.request_states().decode(st->as_string(), expected);
        if (auto* err = std::get_if<RpcError>(&opened)) return server_.answer(*r, *err);
        answers = std::get<RequestState>(opened).answers;
      }
      for (const auto& kv : std::get<json::object>(given)) answers[kv.key()] = kv.value();
      InputCollector inputs(std::move(answers), r->session->client_capabilities());
      json::object params{{"message", get_string(e, "message").value_or("Please provide the values for this prompt")},
                          {"requestedSchema", schema}};
      auto answer = inputs.ask_keyed(key, "elicitation/create", "elicitation", std::move(params));
      if (answer && answer->is_object()) {
        const auto& ao = answer->as_object();
        auto action = get_string(ao, "action").value_or("");
        if (auto* c = ao.if_contains("content"); action == "accept" && c && c->is_object()) {
          for (const auto& kv : c->as_object()) {
            vars[std::string(kv.key())] = kv.value().is_string() ? std::string(kv.value().as_string()) : json::serialize(kv.value());
          }
        }
      } else if (inputs.pending()) {
        expected.answers = inputs.used_answers();
        auto encoded = server_.request_states().encode(expected);
        if (auto* err = std::get_if<RpcError>(&encoded)) return server_.answer(*r, *err);
        return server_.answer(*r, json::value(json::object{{"resultType", "input_required"},
                                                           {"inputRequests", inputs.input_requests()},
                                                           {"requestState", std::get<std::string>(encoded)}}));
      }
    }
  }
  for (const auto& arg : prompt->arguments) {
    if (arg.required && !vars.count(arg.name)) {
      return server_.answer(*r, invalid_params(fmt::format("Missing required argument \"{}\" for prompt {}", arg.name, *name)));
    }
  }
  json::array messages;
  for (const auto& m : prompt->messages) {
    const auto& mo = m.as_object();
    json::value content;
    if (auto* t = mo.if_contains("text")) {
      content = json::object{{"type", "text"}, {"text", registry::substitute(t->as_string(), vars)}};
    } else {
      content = gate_content(substitute_all(mo.at("content"), vars).as_object(), r->features, r->version);
    }
    messages.push_back(json::object{{"role", mo.at("role")}, {"content", std::move(content)}});
  }
  json::object result{{"messages", std::move(messages)}};
  if (!prompt->description.empty()) result["description"] = prompt->description;
  server_.answer(*r, json::value(std::move(result)));
}

void Prompts::complete(const RequestPtr& r) {
  const auto& params = r->params;
  auto* ref = params.if_contains("ref");
  auto* argument = params.if_contains("argument");
  if (!ref || !ref->is_object() || !argument || !argument->is_object()) {
    return server_.answer(*r, invalid_params("completion/complete: \"ref\" and \"argument\" are required"));
  }
  auto type = get_string(ref->as_object(), "type").value_or("");
  auto arg_name = get_string(argument->as_object(), "name").value_or("");
  auto value = get_string(argument->as_object(), "value").value_or("");
  const std::vector<registry::CatalogArgument>* args = nullptr;
  std::shared_ptr<const registry::PromptSpec> prompt;
  std::shared_ptr<const registry::ResourceSnapshot> rsnap;
  // A self-describing plugin's prompt or resource: the plugin completes it, if it can.
  auto plugin_complete = [&](std::optional<PluginItem> pi, json::object plugin_ref) {
    auto d = pi->plugin->description();
    if (!d || !d->completes) {
      return server_.answer(*r, json::value(json::object{
                                    {"completion", json::object{{"values", json::array{}}, {"total", 0}, {"hasMore", false}}}}));
    }
    json::object req = params;
    req.erase("_meta");
    req["ref"] = std::move(plugin_ref);
    call_plugin_export(server_, r, pi->plugin, "complete", std::move(req));
  };
  if (type == "ref/prompt") {
    auto pname = get_string(ref->as_object(), "name").value_or("");
    prompt = server_.catalogs().prompts.snapshot()->find(pname);
    if (!prompt) {
      if (auto pi = find_plugin_prompt(*server_.catalogs().plugins.snapshot(), pname)) {
        return plugin_complete(pi, json::object{{"type", "ref/prompt"}, {"name", pi->plugin_name}});
      }
      return server_.answer(*r, invalid_params(fmt::format("Unknown prompt: {}", pname)));
    }
    args = &prompt->arguments;
  } else if (type == "ref/resource") {
    auto uri = get_string(ref->as_object(), "uri").value_or("");
    rsnap = server_.catalogs().resources.snapshot();
    for (const auto& res : rsnap->items) {
      if (res->uri == uri) args = &res->arguments;
    }
    if (!args) {
      for (auto& pi : plugin_items(*server_.catalogs().plugins.snapshot(), ItemKind::Template)) {
        if (pi.plugin_name == uri) return plugin_complete(std::move(pi), ref->as_object());
      }
      return server_.answer(*r, invalid_params(fmt::format("Unknown resource template: {}", uri)));
    }
  } else {
    return server_.answer(*r, invalid_params("completion/complete: ref.type must be ref/prompt or ref/resource"));
  }
  json::array values;
  size_t total = 0;
  for (const auto& a : *args) {
    if (a.name != arg_name) continue;
    for (const auto& v : a.values) {
      if (v.rfind(value, 0) != 0) continue;
      ++total;
      if (values.size() < 100) values.push_back(json::string(v));
    }
  }
  server_.answer(*r, json::value(json::object{
                         {"completion", json::object{{"values", std::move(values)}, {"total", total}, {"hasMore", total > 100}}}}));
}

}  // namespace wasimancer::mcp
