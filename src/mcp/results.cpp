#include "mcp/results.hpp"

#include <fmt/format.h>

#include "core/crypto.hpp"
#include "registry/catalog.hpp"

namespace wasimancer::mcp {

RpcError invalid_params(std::string message) { return RpcError{kInvalidParams, std::move(message), std::nullopt}; }

std::optional<std::string> get_string(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_string()) return std::nullopt;
  return std::string(v->as_string());
}

std::variant<Page, RpcError> paginate(size_t total, const json::object& params, size_t page_size) {
  Page p;
  if (auto* c = params.if_contains("cursor"); c && !c->is_null()) {
    std::string decoded;
    if (!c->is_string() || !base64_decode(c->as_string(), decoded) || decoded.rfind("offset:", 0) != 0) {
      return invalid_params("invalid cursor");
    }
    try {
      p.begin = std::stoull(decoded.substr(7));
    } catch (...) {
      return invalid_params("invalid cursor");
    }
    if (p.begin > total) return invalid_params("invalid cursor");
  }
  p.end = std::min(total, p.begin + page_size);
  if (p.end < total) p.next = base64_encode("offset:" + std::to_string(p.end));
  return p;
}

json::value substitute_all(const json::value& v, const std::map<std::string, std::string>& vars) {
  switch (v.kind()) {
    case json::kind::string: return json::string(registry::substitute(v.as_string(), vars));
    case json::kind::array: {
      json::array a;
      for (const auto& x : v.as_array()) a.push_back(substitute_all(x, vars));
      return a;
    }
    case json::kind::object: {
      json::object o;
      for (const auto& kv : v.as_object()) o[kv.key()] = substitute_all(kv.value(), vars);
      return o;
    }
    default: return v;
  }
}

json::value gate_content(json::object block, const VersionFeatures& f, const std::string& version) {
  auto type = get_string(block, "type").value_or("");
  if (type == "audio" && !f.audio_content) {
    return json::object{{"type", "text"}, {"text", fmt::format("[audio content ({}) cannot be sent with protocol version {}]",
                                                               get_string(block, "mimeType").value_or("audio"), version)}};
  }
  if (type == "resource_link" && !f.resource_links) {
    return json::object{{"type", "text"}, {"text", fmt::format("Resource: {} ({})", get_string(block, "name").value_or(""),
                                                               get_string(block, "uri").value_or(""))}};
  }
  if (!f.titles) block.erase("title");
  if (!f.icons) block.erase("icons");
  return block;
}

json::object text_result(std::string text, bool is_error) {
  json::object r{{"content", json::array{json::object{{"type", "text"}, {"text", to_valid_utf8(text)}}}}};
  if (is_error) r["isError"] = true;
  return r;
}

}  // namespace wasimancer::mcp
