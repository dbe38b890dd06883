#include "mcp/schema.hpp"

#include <cmath>

#include <fmt/format.h>

namespace wasimancer::mcp {

namespace json = boost::json;

namespace {

bool has_type(const json::value& v, std::string_view t) {
  if (t == "string") return v.is_string();
  if (t == "number") return v.is_number();
  if (t == "integer") {
    if (v.is_int64() || v.is_uint64()) return true;
    return v.is_double() && std::floor(v.as_double()) == v.as_double() && std::isfinite(v.as_double());
  }
  if (t == "boolean") return v.is_bool();
  if (t == "object") return v.is_object();
  if (t == "array") return v.is_array();
  if (t == "null") return v.is_null();
  return true;
}

std::string kind_name(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: return "number";
    case json::kind::string: return "string";
    case json::kind::array: return "array";
    case json::kind::object: return "object";
  }
  return "value";
}

std::string at(const std::string& path) { return path.empty() ? "arguments" : path; }

double num(const json::value& v) { return v.to_number<double>(); }

// JSON Schema equality: numbers by value (2 equals 2.0), everything else structurally.
bool json_equal(const json::value& a, const json::value& b) {
  if (a.is_number() && b.is_number()) return num(a) == num(b);
  if (a.is_array() && b.is_array()) {
    const auto& x = a.as_array();
    const auto& y = b.as_array();
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i) {
      if (!json_equal(x[i], y[i])) return false;
    }
    return true;
  }
  if (a.is_object() && b.is_object()) {
    const auto& x = a.as_object();
    const auto& y = b.as_object();
    if (x.size() != y.size()) return false;
    for (const auto& kv : x) {
      auto* other = y.if_contains(kv.key());
      if (!other || !json_equal(kv.value(), *other)) return false;
    }
    return true;
  }
  return a == b;
}

// Length in code points, as JSON Schema counts it (UTF-8 continuation bytes are not counted).
size_t code_points(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xc0) != 0x80;
  return n;
}

}  // namespace

std::optional<std::string> validate_schema(const json::value& schema, const json::value& v, const std::string& path) {
  if (schema.is_bool()) {
    if (!schema.as_bool()) return fmt::format("{}: not allowed", at(path));
    return std::nullopt;
  }
  if (!schema.is_object()) return std::nullopt;
  const auto& s = schema.as_object();
  if (auto* t = s.if_contains("type")) {
    bool ok = false;
    std::string expected;
    if (t->is_string()) {
      ok = has_type(v, t->as_string());
      expected = std::string(t->as_string());
    } else if (t->is_array()) {
      for (const auto& x : t->as_array()) {
        if (!x.is_string()) continue;
        ok = ok || has_type(v, x.as_string());
        expected += (expected.empty() ? "" : " or ") + std::string(x.as_string());
      }
    } else {
      ok = true;
    }
    if (!ok) return fmt::format("{}: expected {}, got {}", at(path), expected, kind_name(v));
  }
  if (auto* e = s.if_contains("enum"); e && e->is_array()) {
    bool found = false;
    for (const auto& x : e->as_array()) found = found || json_equal(x, v);
    if (!found) return fmt::format("{}: must be one of {}", at(path), json::serialize(*e));
  }
  if (auto* c = s.if_contains("const"); c && !json_equal(*c, v)) return fmt::format("{}: must be {}", at(path), json::serialize(*c));
  if (v.is_number()) {
    if (auto* m = s.if_contains("minimum"); m && m->is_number() && num(v) < num(*m)) return fmt::format("{}: must be at least {}", at(path), json::serialize(*m));
    if (auto* m = s.if_contains("maximum"); m && m->is_number() && num(v) > num(*m)) return fmt::format("{}: must be at most {}", at(path), json::serialize(*m));
  }
  if (v.is_string()) {
    size_t len = code_points(v.as_string());
    if (auto* m = s.if_contains("minLength"); m && m->is_number() && len < num(*m)) return fmt::format("{}: too short", at(path));
    if (auto* m = s.if_contains("maxLength"); m && m->is_number() && len > num(*m)) return fmt::format("{}: too long", at(path));
  }
  if (v.is_array()) {
    const auto& a = v.as_array();
    if (auto* m = s.if_contains("minItems"); m && m->is_number() && a.size() < num(*m)) return fmt::format("{}: too few items", at(path));
    if (auto* m = s.if_contains("maxItems"); m && m->is_number() && a.size() > num(*m)) return fmt::format("{}: too many items", at(path));
    if (auto* items = s.if_contains("items"); items && (items->is_object() || items->is_bool())) {
      for (size_t i = 0; i < a.size(); ++i) {
        if (auto err = validate_schema(*items, a[i], fmt::format("{}[{}]", at(path), i))) return err;
      }
    }
  }
  if (v.is_object()) {
    const auto& o = v.as_object();
    const json::object* props = nullptr;
    if (auto* p = s.if_contains("properties"); p && p->is_object()) props = &p->as_object();
    if (auto* req = s.if_contains("required"); req && req->is_array()) {
      for (const auto& r : req->as_array()) {
        if (r.is_string() && !o.contains(r.as_string())) {
          return fmt::format("{}: missing required property \"{}\"", at(path), std::string(r.as_string()));
        }
      }
    }
    for (const auto& kv : o) {
      std::string child = path.empty() ? std::string(kv.key()) : fmt::format("{}.{}", path, std::string(kv.key()));
      if (props && props->contains(kv.key())) {
        if (auto err = validate_schema(props->at(kv.key()), kv.value(), child)) return err;
      } else if (auto* ap = s.if_contains("additionalProperties")) {
        if (ap->is_bool() && !ap->as_bool()) return fmt::format("{}: unexpected property \"{}\"", at(path), std::string(kv.key()));
        if (ap->is_object()) {
          if (auto err = validate_schema(*ap, kv.value(), child)) return err;
        }
      }
    }
  }
  return std::nullopt;
}

}  // namespace wasimancer::mcp
