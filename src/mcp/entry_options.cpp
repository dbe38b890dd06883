#include "mcp/entry_options.hpp"

#include "core/log.hpp"

namespace wasimancer::mcp {

namespace json = boost::json;

CacheHint cache_hint_of(const json::object& raw, CacheHint fallback) {
  CacheHint h = fallback;
  if (auto* t = raw.if_contains("ttlMs")) {
    if (t->is_int64() && t->as_int64() >= 0) h.ttl_ms = t->as_int64();
    else if (t->is_uint64()) h.ttl_ms = static_cast<int64_t>(std::min<uint64_t>(t->as_uint64(), INT64_MAX));
    else log().warn("ttlMs must be a non-negative integer (milliseconds); using {}", fallback.ttl_ms);
  }
  if (auto* s = raw.if_contains("cacheScope")) {
    if (s->is_string() && (s->as_string() == "public" || s->as_string() == "private")) h.is_private = s->as_string() == "private";
    else log().warn("cacheScope must be \"public\" or \"private\"; using {}", fallback.is_private ? "private" : "public");
  }
  return h;
}

void combine(CacheHint& list, const CacheHint& entry) {
  list.ttl_ms = std::min(list.ttl_ms, entry.ttl_ms);
  list.is_private = list.is_private || entry.is_private;
}

void put_cache_hint(json::object& result, const CacheHint& hint) {
  result["ttlMs"] = hint.ttl_ms;
  result["cacheScope"] = hint.is_private ? "private" : "public";
}

FunctionOptions function_options(const registry::PluginSpec& plugin, const registry::FunctionSpec& fn) {
  FunctionOptions o;
  const json::object* raw = nullptr;
  if (auto* fns = plugin.raw.if_contains("functions"); fns && fns->is_array()) {
    for (const auto& f : fns->as_array()) {
      if (!f.is_object()) continue;
      const auto& fo = f.as_object();
      auto* dn = fo.if_contains("displayName");
      auto* fnn = fo.if_contains("function");
      std::string name = dn && dn->is_string() ? std::string(dn->as_string()) : fnn && fnn->is_string() ? std::string(fnn->as_string()) : "";
      if (name == fn.tool_name) {
        raw = &fo;
        break;
      }
    }
  }
  if (!raw) return o;
  if (auto* t = raw->if_contains("taskSupport")) {
    std::string v = t->is_string() ? std::string(t->as_string()) : "";
    if (v == "required") o.task_support = TaskSupport::Required;
    else if (v == "optional") o.task_support = TaskSupport::Optional;
    else if (v != "forbidden") log().warn("tool {}: taskSupport must be forbidden, optional or required", fn.tool_name);
  }
  if (auto* r = raw->if_contains("requiresCapabilities")) {
    if (r->is_array()) {
      for (const auto& c : r->as_array()) {
        if (c.is_string()) o.requires_capabilities[c.as_string()] = json::object{};
      }
    } else {
      log().warn("tool {}: requiresCapabilities must be a list of capability names", fn.tool_name);
    }
  }
  if (auto* r = raw->if_contains("roots"); r && r->is_bool()) o.roots = r->as_bool();
  if (auto* b = raw->if_contains("inputsBeforeTask"); b && b->is_bool()) o.inputs_before_task = b->as_bool();
  if (auto* b = raw->if_contains("pollStream"); b && b->is_bool()) o.poll_stream = b->as_bool();
  return o;
}

}  // namespace wasimancer::mcp
