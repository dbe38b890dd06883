#include "mcp/prompts.hpp"

#include <fmt/format.h>

#include "mcp/results.hpp"

namespace wasimancer::mcp {

Prompts::Prompts(Server& server) : server_(server) {
  server_.add_method("prompts/list", {[this](const RequestPtr& r) { list(r); }});
  server_.add_method("prompts/get", {[this](const RequestPtr& r) { get(r); }});
  server_.add_method("completion/complete", {[this](const RequestPtr& r) { complete(r); }});
}

void Prompts::list(const RequestPtr& r) {
  auto snap = server_.catalogs().prompts.snapshot();
  auto page = paginate(snap->items.size(), r->params, server_.config().page_size);
  if (auto* e = std::get_if<RpcError>(&page)) return server_.answer(*r, *e);
  const Page& p = std::get<Page>(page);
  const VersionFeatures& f = r->features;
  json::array list;
  for (size_t i = p.begin; i < p.end; ++i) {
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
  server_.answer(*r, json::value(std::move(result)));
}

void Prompts::get(const RequestPtr& r) {
  auto name = get_string(r->params, "name");
  if (!name) return server_.answer(*r, invalid_params("prompts/get: \"name\" must be a string"));
  auto prompt = server_.catalogs().prompts.snapshot()->find(*name);
  if (!prompt) return server_.answer(*r, invalid_params(fmt::format("Unknown prompt: {}", *name)));
  std::map<std::string, std::string> vars;
  if (auto* a = r->params.if_contains("arguments"); a && a->is_object()) {
    for (const auto& kv : a->as_object()) {
      vars[std::string(kv.key())] = kv.value().is_string() ? std::string(kv.value().as_string()) : json::serialize(kv.value());
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
  if (type == "ref/prompt") {
    auto pname = get_string(ref->as_object(), "name").value_or("");
    prompt = server_.catalogs().prompts.snapshot()->find(pname);
    if (!prompt) return server_.answer(*r, invalid_params(fmt::format("Unknown prompt: {}", pname)));
    args = &prompt->arguments;
  } else if (type == "ref/resource") {
    auto uri = get_string(ref->as_object(), "uri").value_or("");
    rsnap = server_.catalogs().resources.snapshot();
    for (const auto& res : rsnap->items) {
      if (res->uri == uri) args = &res->arguments;
    }
    if (!args) return server_.answer(*r, invalid_params(fmt::format("Unknown resource template: {}", uri)));
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
