#include "registry/plugin_spec.hpp"

#include <fmt/format.h>

#include "registry/names.hpp"

namespace wasimancer::registry {

namespace json = boost::json;

namespace {

// A number or boolean as a person wrote it (version: 2.5 -> "2.5", not "2.5E0").
std::string scalar_text(const json::value& v) {
  if (v.is_double()) return fmt::format("{}", v.as_double());
  return json::serialize(v);
}

Error field_error(const std::string& where, const std::string& what) {
  return Error(ErrorKind::InvalidArgument, where.empty() ? what : fmt::format("{}: {}", where, what));
}

// Reads an optional string; numbers and booleans are accepted and turned into text.
Result<std::string> get_string(const json::object& o, std::string_view key, const std::string& where, bool required) {
  auto* v = o.if_contains(key);
  if (!v || v->is_null()) {
    if (required) return field_error(where, fmt::format("\"{}\" is required", key));
    return std::string();
  }
  if (v->is_string()) return std::string(v->as_string());
  if (v->is_number() || v->is_bool()) return scalar_text(*v);
  return field_error(where, fmt::format("\"{}\" must be a string", key));
}

template <typename T>
Result<void> get_uint(const json::object& o, std::string_view key, const std::string& where, T* out, uint64_t max) {
  auto* v = o.if_contains(key);
  if (!v || v->is_null()) return {};
  std::optional<uint64_t> n;
  if (v->is_uint64()) n = v->as_uint64();
  else if (v->is_int64() && v->as_int64() >= 0) n = static_cast<uint64_t>(v->as_int64());
  else if (v->is_double() && v->as_double() >= 0 && v->as_double() < 18446744073709551616.0 &&
           v->as_double() == static_cast<double>(static_cast<uint64_t>(v->as_double())))
    n = static_cast<uint64_t>(v->as_double());
  if (!n || *n > max) {
    return field_error(where, fmt::format("\"{}\" must be a whole number between 0 and {}", key, max));
  }
  *out = static_cast<T>(*n);
  return {};
}

Result<std::optional<json::object>> get_object(const json::object& o, std::string_view key, const std::string& where) {
  auto* v = o.if_contains(key);
  if (!v || v->is_null()) return std::optional<json::object>();
  if (!v->is_object()) return field_error(where, fmt::format("\"{}\" must be an object", key));
  return std::optional<json::object>(v->as_object());
}

// A tool's input or output schema: an optional object with "type": "object", as MCP requires.
Result<std::optional<json::object>> get_object_schema(const json::object& o, std::string_view key, const std::string& where) {
  auto schema = get_object(o, key, where);
  if (!schema || !*schema) return schema;
  auto* t = (*schema)->if_contains("type");
  if (!t || !t->is_string() || t->as_string() != "object") {
    return field_error(where, fmt::format("\"{}\" must have \"type\": \"object\"", key));
  }
  return schema;
}

Result<FunctionSpec> parse_function(const json::value& v, const std::string& where, bool command) {
  if (!v.is_object()) return field_error(where, "must be an object");
  const auto& o = v.as_object();
  FunctionSpec f;
  auto fn = get_string(o, "function", where, !command);
  if (!fn) return fn.take_error();
  f.function = command && fn->empty() ? "_start" : *fn;
  if (command && f.function != "_start") {
    return field_error(where, "a command's functions run its \"_start\" (omit \"function\")");
  }
  if (auto* argv = o.if_contains("argv"); argv && !argv->is_null()) {
    if (!command) return field_error(where, "\"argv\" is for plugins of kind command");
    if (!argv->is_array()) return field_error(where, "\"argv\" must be a list of strings");
    for (const auto& a : argv->as_array()) {
      if (!a.is_string()) return field_error(where, "\"argv\" must be a list of strings");
      f.argv.emplace_back(a.as_string());
    }
  }
  if (f.function.empty()) return field_error(where, "\"function\" must not be empty");
  auto display = get_string(o, "displayName", where, false);
  if (!display) return display.take_error();
  f.tool_name = display->empty() ? f.function : *display;
  if (auto r = check_name("tool", f.tool_name); !r) return field_error(where, r.error().message);
  auto desc = get_string(o, "description", where, false);
  if (!desc) return desc.take_error();
  f.description = *desc;
  auto title = get_string(o, "title", where, false);
  if (!title) return title.take_error();
  f.title = *title;
  if (auto* args = o.if_contains("arguments"); args && !args->is_null()) {
    if (!args->is_array()) return field_error(where, "\"arguments\" must be a list");
    size_t i = 0;
    for (const auto& a : args->as_array()) {
      std::string aw = fmt::format("{}.arguments[{}]", where, i++);
      if (!a.is_object()) return field_error(aw, "must be an object with a name");
      ArgumentSpec arg;
      auto name = get_string(a.as_object(), "name", aw, true);
      if (!name) return name.take_error();
      if (name->empty()) return field_error(aw, "\"name\" must not be empty");
      for (const auto& other : f.arguments) {
        if (other.name == *name) return field_error(aw, fmt::format("duplicate argument \"{}\"", *name));
      }
      arg.name = *name;
      auto type = get_string(a.as_object(), "type", aw, false);
      if (!type) return type.take_error();
      arg.type = *type;
      auto ad = get_string(a.as_object(), "description", aw, false);
      if (!ad) return ad.take_error();
      arg.description = *ad;
      f.arguments.push_back(std::move(arg));
    }
  }
  auto output = get_string(o, "output", where, false);
  if (!output) return output.take_error();
  if (*output == "mcp") f.mcp_output = true;
  else if (!output->empty() && *output != "text") {
    return field_error(where, fmt::format("\"output\" must be \"text\" or \"mcp\", not \"{}\"", *output));
  }
  auto in_schema = get_object_schema(o, "inputSchema", where);
  if (!in_schema) return in_schema.take_error();
  f.input_schema = std::move(*in_schema);
  auto out_schema = get_object_schema(o, "outputSchema", where);
  if (!out_schema) return out_schema.take_error();
  f.output_schema = std::move(*out_schema);
  auto ann = get_object(o, "annotations", where);
  if (!ann) return ann.take_error();
  f.annotations = std::move(*ann);
  return f;
}

}  // namespace

Result<PluginSpec> parse_plugin_spec(const json::value& entry) {
  if (!entry.is_object()) return field_error("", "a plugin entry must be an object");
  const auto& o = entry.as_object();
  PluginSpec p;
  p.raw = o;
  auto name = get_string(o, "name", "", true);
  if (!name) return name.take_error();
  p.name = *name;
  if (auto r = check_name("plugin", p.name); !r) return field_error("", fmt::format("\"name\": {}", r.error().message));
  std::string where = fmt::format("plugin \"{}\"", p.name);
  for (auto [key, out] : {std::pair<const char*, std::string*>{"path", &p.path}, {"version", &p.version},
                          {"description", &p.description}}) {
    auto s = get_string(o, key, where, false);
    if (!s) return s.take_error();
    *out = *s;
  }
  if (auto* k = o.if_contains("kind"); k && !k->is_null()) {
    if (!k->is_string() || (k->as_string() != "command" && k->as_string() != "extism")) {
      return field_error(where, "\"kind\" must be \"extism\" or \"command\"");
    }
    p.command = k->as_string() == "command";
  }
  // Without functions, the plugin must describe itself (registry/describe.hpp; checked at load),
  // or be a command (one tool named after it).
  auto* fns = o.if_contains("functions");
  if (fns && !fns->is_null() && !fns->is_array()) return field_error(where, "\"functions\" must be a list");
  size_t i = 0;
  for (const auto& f : fns && fns->is_array() ? fns->as_array() : json::array()) {
    auto fn = parse_function(f, fmt::format("{}.functions[{}]", where, i++), p.command);
    if (!fn) return fn.take_error();
    for (const auto& other : p.functions) {
      if (other.tool_name == fn->tool_name) {
        return field_error(where, fmt::format("two functions have the tool name \"{}\"", fn->tool_name));
      }
    }
    p.functions.push_back(std::move(*fn));
  }
  if (p.command) {
    // A command takes any arguments (as JSON on stdin) unless its function says which.
    for (auto& f : p.functions) {
      if (!f.input_schema && f.arguments.empty()) f.input_schema = json::object{{"type", "object"}};
    }
  }
  if (p.command && p.functions.empty()) {
    FunctionSpec f;
    f.tool_name = p.name;
    f.function = "_start";
    f.description = p.description.empty() ? fmt::format("Runs the {} command", p.name) : p.description;
    f.input_schema = json::object{{"type", "object"}};
    p.functions.push_back(std::move(f));
  }
  if (auto* cfg = o.if_contains("config"); cfg && !cfg->is_null()) {
    if (!cfg->is_object()) return field_error(where, "\"config\" must be a map of names to values");
    for (const auto& kv : cfg->as_object()) {
      if (kv.value().is_string()) p.config[std::string(kv.key())] = std::string(kv.value().as_string());
      else if (kv.value().is_null()) p.config[std::string(kv.key())] = "";
      else if (kv.value().is_number() || kv.value().is_bool()) p.config[std::string(kv.key())] = scalar_text(kv.value());
      else return field_error(where, fmt::format("config \"{}\" must be a string", std::string(kv.key())));
    }
  }
  if (auto* paths = o.if_contains("allowedPaths"); paths && !paths->is_null()) {
    if (!paths->is_object()) return field_error(where, "\"allowedPaths\" must be a map of host folders to guest paths");
    for (const auto& kv : paths->as_object()) {
      host::PathGrant g;
      std::string host_path(kv.key());
      if (host_path.rfind("rw:", 0) == 0) {
        g.writable = true;
        host_path = host_path.substr(3);
      } else if (host_path.rfind("ro:", 0) == 0) {
        host_path = host_path.substr(3);
      }
      if (host_path.empty() || host_path[0] != '/' || host_path.find('\0') != std::string::npos) {
        return field_error(where, fmt::format("\"allowedPaths\": the host folder \"{}\" must be an absolute path", host_path));
      }
      std::string_view rest(host_path);
      for (size_t i = 0; i <= rest.size();) {
        size_t j = rest.find('/', i);
        if (j == std::string_view::npos) j = rest.size();
        if (rest.substr(i, j - i) == "..") {
          return field_error(where, fmt::format("\"allowedPaths\": the host folder \"{}\" must not contain \"..\"", host_path));
        }
        i = j + 1;
      }
      if (!kv.value().is_string() || kv.value().as_string().empty()) {
        return field_error(where, fmt::format("\"allowedPaths\": the guest path for \"{}\" must be a non-empty string", host_path));
      }
      g.host_path = host_path;
      g.guest_path = std::string(kv.value().as_string());
      if (g.guest_path.find('\0') != std::string::npos || g.guest_path.size() > 1024) {
        return field_error(where, "\"allowedPaths\": a guest path must be at most 1024 characters, without NUL");
      }
      p.allowed_paths.push_back(std::move(g));
    }
    if (p.allowed_paths.size() > 64) return field_error(where, "\"allowedPaths\": at most 64 folders");
  }
  if (auto* hosts = o.if_contains("allowedHosts"); hosts && !hosts->is_null()) {
    if (!hosts->is_array()) return field_error(where, "\"allowedHosts\" must be a list of host globs");
    std::vector<std::string> list;
    for (const auto& h : hosts->as_array()) {
      if (!h.is_string() || h.as_string().empty()) return field_error(where, "\"allowedHosts\" entries must be non-empty strings");
      list.emplace_back(h.as_string());
    }
    p.allowed_hosts = std::move(list);
  }
  if (auto r = get_uint(o, "maxPages", where, &p.limits.max_pages, 65536); !r) return r.take_error();
  if (p.limits.max_pages == 0) return field_error(where, "\"maxPages\" must be at least 1");
  if (auto r = get_uint(o, "timeoutMs", where, &p.limits.timeout_ms, 24ull * 3600 * 1000); !r) return r.take_error();
  if (auto r = get_uint(o, "maxHttpResponseBytes", where, &p.limits.max_http_response_bytes, 1ull << 32); !r) return r.take_error();
  if (auto r = get_uint(o, "maxVarBytes", where, &p.limits.max_var_bytes, 1ull << 32); !r) return r.take_error();
  if (auto r = get_uint(o, "maxLogBytes", where, &p.limits.max_log_bytes, 1ull << 32); !r) return r.take_error();
  if (auto* h = o.if_contains("httpResponseHeaders"); h && !h->is_null()) {
    if (!h->is_bool()) return field_error(where, "\"httpResponseHeaders\" must be true or false");
    p.http_response_headers = h->as_bool();
  }
  if (auto* m = o.if_contains("maxInstances"); m && !m->is_null()) {
    uint32_t n = 0;
    if (auto r = get_uint(o, "maxInstances", where, &n, 1024); !r) return r.take_error();
    if (n == 0) return field_error(where, "\"maxInstances\" must be at least 1");
    p.max_instances = n;
  }
  if (auto* t = o.if_contains("prefixTools"); t && !t->is_null()) {
    if (!t->is_bool()) return field_error(where, "\"prefixTools\" must be true or false");
    p.prefix_tools = t->as_bool();
  }
  if (auto* t = o.if_contains("trusted"); t && !t->is_null()) {
    if (!t->is_bool()) return field_error(where, "\"trusted\" must be true or false");
    p.trusted = t->as_bool();
  }
  return p;
}

json::object tool_input_schema(const FunctionSpec& fn) {
  if (fn.input_schema) return *fn.input_schema;
  json::object schema;
  schema["type"] = "object";
  json::object props;
  json::array required;
  for (const auto& a : fn.arguments) {
    json::object p;
    static const char* known[] = {"string", "number", "integer", "boolean", "object", "array"};
    for (const char* k : known) {
      if (a.type == k) p["type"] = k;
    }
    if (!a.description.empty()) p["description"] = a.description;
    props[a.name] = std::move(p);
    required.push_back(json::string(a.name));
  }
  schema["properties"] = std::move(props);
  if (!required.empty()) schema["required"] = std::move(required);
  else schema["additionalProperties"] = false;
  return schema;
}

bool is_recommended_tool_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace wasimancer::registry
