#include "mcp/jsonrpc.hpp"

namespace wasimancer::mcp {

bool is_valid_id(const json::value& id) { return id.is_string() || id.is_int64() || id.is_uint64(); }

MessageKind classify(const json::value& m, std::string* why) {
  if (!m.is_object()) {
    *why = "a JSON-RPC message must be an object";
    return MessageKind::Invalid;
  }
  const auto& o = m.as_object();
  auto* v = o.if_contains("jsonrpc");
  if (!v || !v->is_string() || v->as_string() != "2.0") {
    *why = "\"jsonrpc\" must be \"2.0\"";
    return MessageKind::Invalid;
  }
  auto* method = o.if_contains("method");
  auto* id = o.if_contains("id");
  if (method) {
    if (!method->is_string()) {
      *why = "\"method\" must be a string";
      return MessageKind::Invalid;
    }
    if (auto* p = o.if_contains("params"); p && !p->is_object() && !p->is_array() && !p->is_null()) {
      *why = "\"params\" must be an object";
      return MessageKind::Invalid;
    }
    if (!id) return MessageKind::Notification;
    if (!is_valid_id(*id)) {
      *why = "\"id\" must be a string or an integer";
      return MessageKind::Invalid;
    }
    return MessageKind::Request;
  }
  if (id && (o.contains("result") || o.contains("error"))) return MessageKind::Response;
  *why = "the message is neither a request, a notification nor a response";
  return MessageKind::Invalid;
}

namespace {
const json::object kEmptyObject;
}

const json::object& Message::params() const {
  if (!raw || !raw->is_object()) return kEmptyObject;
  auto* p = raw->as_object().if_contains("params");
  return (p && p->is_object()) ? p->as_object() : kEmptyObject;
}

Message inspect(const json::value& message) {
  Message m;
  m.raw = &message;
  m.kind = classify(message, &m.why);
  if (message.is_object()) {
    const auto& o = message.as_object();
    if (auto* id = o.if_contains("id"); id && is_valid_id(*id)) m.id = *id;
    if (auto* method = o.if_contains("method"); method && method->is_string()) m.method = std::string(method->as_string());
  }
  return m;
}

json::object make_result(const json::value& id, json::value result) {
  return json::object{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
}

json::object make_error(const json::value& id, const RpcError& e) {
  json::object err{{"code", e.code}, {"message", e.message}};
  if (e.data) err["data"] = *e.data;
  return json::object{{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(err)}};
}

json::object make_notification(std::string_view method, json::value params) {
  json::object n{{"jsonrpc", "2.0"}, {"method", method}};
  if (!params.is_null()) n["params"] = std::move(params);
  return n;
}

json::object make_request(const json::value& id, std::string_view method, json::value params) {
  json::object r{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
  if (!params.is_null()) r["params"] = std::move(params);
  return r;
}

std::string to_valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) >> 6) == 0x2;
    if (ok && len > 1) {
      uint32_t cp = c & (0xff >> (len + 1));
      for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
      if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
          (cp >= 0xd800 && cp <= 0xdfff)) {
        ok = false;
      }
    }
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xef\xbf\xbd";
      ++i;
    }
  }
  return out;
}

}  // namespace wasimancer::mcp
