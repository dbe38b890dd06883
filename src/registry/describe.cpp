#include "registry/describe.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

namespace wasimancer::registry {

namespace json = boost::json;

namespace {

constexpr size_t kMaxTools = 10'000;
constexpr int kMaxPages = 64;

bool exports_function(const engine::ModuleInfo& info, std::string_view name) {
  const engine::ExportDesc* e = info.find_export(name);
  return e && e->kind == engine::ExternKind::Func;
}

Error describe_error(std::string_view what) { return Error(ErrorKind::PluginError, fmt::format("describing the plugin: {}", what)); }

// Calls `function` with `input` and parses the answer as a JSON object.
Result<json::object> ask(host::Runner& runner, std::string_view function, std::string_view input) {
  host::CallOutcome out = runner.call(function, input);
  if (!out.ok()) return describe_error(fmt::format("{} failed: {}", function, out.error->message));
  boost::system::error_code ec;
  json::value v = json::parse(out.output, ec);
  if (ec || !v.is_object()) {
    return describe_error(fmt::format("{} did not answer a JSON object{}", function, ec ? ": " + ec.message() : ""));
  }
  return std::move(v.as_object());
}

// One MCP Tool JSON -> FunctionSpec.
Result<FunctionSpec> tool_of(const json::value& v, Interface iface) {
  if (!v.is_object()) return describe_error("a tool is not an object");
  const auto& o = v.as_object();
  auto* name = o.if_contains("name");
  if (!name || !name->is_string() || name->as_string().empty()) return describe_error("a tool has no name");
  FunctionSpec f;
  f.plugin_tool = std::string(name->as_string());
  f.tool_name = f.plugin_tool;
  f.function = iface == Interface::V1 ? "call" : "call_tool";
  f.dispatch = iface == Interface::V1 ? ToolDispatch::V1 : ToolDispatch::V2;
  f.mcp_output = true;
  if (auto* d = o.if_contains("description"); d && d->is_string()) f.description = std::string(d->as_string());
  if (auto* t = o.if_contains("title"); t && t->is_string()) f.title = std::string(t->as_string());
  auto schema = [&](const char* key) -> Result<std::optional<json::object>> {
    auto* s = o.if_contains(key);
    if (!s || s->is_null()) return std::optional<json::object>();
    if (!s->is_object()) return describe_error(fmt::format("tool \"{}\": {} is not an object", f.plugin_tool, key));
    json::object schema_obj = s->as_object();
    if (!schema_obj.contains("type")) schema_obj["type"] = "object";
    return std::optional<json::object>(std::move(schema_obj));
  };
  auto in = schema("inputSchema");
  if (!in) return in.take_error();
  f.input_schema = in->value_or(json::object{{"type", "object"}});
  auto out = schema("outputSchema");
  if (!out) return out.take_error();
  f.output_schema = std::move(*out);
  if (auto* a = o.if_contains("annotations"); a && a->is_object()) f.annotations = a->as_object();
  return f;
}

// A v2 list_* export, following nextCursor (bounded).
Result<json::array> list_all(host::Runner& runner, std::string_view function, std::string_view key) {
  json::array all;
  json::value cursor;
  for (int page = 0; page < kMaxPages; ++page) {
    json::object req{{"context", request_context()}};
    if (!cursor.is_null()) req["request"] = json::object{{"cursor", cursor}};
    auto r = ask(runner, function, json::serialize(req));
    if (!r) return r.take_error();
    auto* items = r->if_contains(key);
    if (!items || !items->is_array()) return describe_error(fmt::format("{} answered no \"{}\" list", function, key));
    for (auto& it : items->as_array()) all.push_back(it);
    if (all.size() > kMaxTools) return describe_error(fmt::format("{} lists more than {} items", function, kMaxTools));
    auto* next = r->if_contains("nextCursor");
    if (!next || next->is_null() || (next->is_string() && next->as_string().empty())) return all;
    cursor = *next;
  }
  return describe_error(fmt::format("{} keeps answering more pages", function));
}

}  // namespace

Interface detect_interface(const engine::ModuleInfo& info) {
  if (exports_function(info, "list_tools") && exports_function(info, "call_tool")) return Interface::V2;
  if (exports_function(info, "describe") && exports_function(info, "call")) return Interface::V1;
  return Interface::Plain;
}

std::string_view to_string(Interface i) {
  switch (i) {
    case Interface::V1: return "v1";
    case Interface::V2: return "v2";
    default: return "declared";
  }
}

json::object request_context(std::string_view id) { return json::object{{"id", id}, {"_meta", json::object{}}}; }

Result<std::shared_ptr<const Description>> describe(host::Runner& runner, const engine::ModuleInfo& info, const PluginSpec& spec,
                                                     bool prefix_tools) {
  const Interface iface = detect_interface(info);
  auto d = std::make_shared<Description>();
  json::array tools;
  if (iface == Interface::V1) {
    auto r = ask(runner, "describe", "");
    if (!r) return r.take_error();
    auto* t = r->if_contains("tools");
    if (!t || !t->is_array()) return describe_error("describe answered no \"tools\" list");
    tools = t->as_array();
  } else if (iface == Interface::V2) {
    auto t = list_all(runner, "list_tools", "tools");
    if (!t) return t.take_error();
    tools = std::move(*t);
  } else {
    return Error(ErrorKind::Internal, "describe: not a self-describing plugin");
  }
  if (tools.size() > kMaxTools) return describe_error(fmt::format("more than {} tools", kMaxTools));
  std::set<std::string> seen;
  for (const auto& v : tools) {
    auto f = tool_of(v, iface);
    if (!f) return f.take_error();
    if (!seen.insert(f->plugin_tool).second) return describe_error(fmt::format("two tools are named \"{}\"", f->plugin_tool));
    d->tools.push_back(std::move(*f));
  }
  // `functions`, when given: a filter, and overrides.
  if (!spec.functions.empty()) {
    std::vector<FunctionSpec> kept;
    for (const auto& want : spec.functions) {
      auto it = std::find_if(d->tools.begin(), d->tools.end(), [&](const FunctionSpec& f) { return f.plugin_tool == want.function; });
      if (it == d->tools.end()) {
        std::vector<std::string> names;
        for (const auto& f : d->tools) names.push_back(f.plugin_tool);
        return Error(ErrorKind::InvalidArgument,
                     fmt::format("function \"{}\" is not a tool of plugin \"{}\" (its tools: {})", want.function, spec.name,
                                 names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "))));
      }
      FunctionSpec f = *it;
      f.tool_name = want.tool_name;
      if (!want.description.empty()) f.description = want.description;
      if (!want.title.empty()) f.title = want.title;
      if (want.annotations) f.annotations = want.annotations;
      kept.push_back(std::move(f));
    }
    d->tools = std::move(kept);
  }
  if (prefix_tools) {
    for (auto& f : d->tools) f.tool_name = spec.name + "-" + f.tool_name;
  }
  if (iface == Interface::V2) {
    // Prompts and resources are optional parts of the interface: listed when exported.
    struct List {
      const char* function;
      const char* key;
      json::array* into;
    };
    for (const List& l : {List{"list_prompts", "prompts", &d->prompts}, List{"list_resources", "resources", &d->resources},
                          List{"list_resource_templates", "resourceTemplates", &d->resource_templates}}) {
      if (!exports_function(info, l.function)) continue;
      auto items = list_all(runner, l.function, l.key);
      if (!items) return items.take_error();
      *l.into = std::move(*items);
    }
    d->completes = exports_function(info, "complete");
  }
  return std::shared_ptr<const Description>(std::move(d));
}

std::string tool_call_input(const FunctionSpec& fn, const json::object& arguments) {
  switch (fn.dispatch) {
    case ToolDispatch::V1:
      return json::serialize(json::object{{"params", json::object{{"name", fn.plugin_tool}, {"arguments", arguments}}}});
    case ToolDispatch::V2:
      return json::serialize(json::object{{"request", json::object{{"name", fn.plugin_tool}, {"arguments", arguments}}},
                                          {"context", request_context()}});
    case ToolDispatch::Export: break;
  }
  if (fn.input_schema) return json::serialize(arguments);
  json::object ordered;
  for (const auto& a : fn.arguments) {
    if (auto* v = arguments.if_contains(a.name)) ordered[a.name] = *v;
  }
  return json::serialize(ordered);
}

std::vector<std::string> tool_argv(const FunctionSpec& fn, const json::object& arguments) {
  std::vector<std::string> out;
  for (const auto& tmpl : fn.argv) {
    std::string a;
    for (size_t i = 0; i < tmpl.size();) {
      size_t open = tmpl.find('{', i);
      size_t close = open == std::string::npos ? std::string::npos : tmpl.find('}', open);
      if (close == std::string::npos) {
        a += tmpl.substr(i);
        break;
      }
      a += tmpl.substr(i, open - i);
      if (auto* v = arguments.if_contains(tmpl.substr(open + 1, close - open - 1))) {
        a += v->is_string() ? std::string(v->as_string()) : json::serialize(*v);
      }
      i = close + 1;
    }
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace wasimancer::registry
