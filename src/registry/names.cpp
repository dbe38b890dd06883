#include "registry/names.hpp"

#include <fmt/format.h>

#include <boost/json/serialize.hpp>

#include "core/text.hpp"

namespace wasimancer::registry {

namespace {

bool is_control(char32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F); }

}  // namespace

std::string name_rule() {
  return fmt::format("a name is 1 to {} characters of UTF-8 text, without control characters or '/'", kMaxNameLength);
}

std::optional<std::string> name_problem(std::string_view name) {
  if (name.empty()) return "is empty";
  size_t chars = 0;
  for (size_t i = 0; i < name.size();) {
    char32_t cp = 0;
    size_t n = decode_utf8(name, i, &cp);
    if (n == 0) return "is not valid UTF-8";
    if (is_control(cp)) return fmt::format("contains the control character U+{:04X}", static_cast<uint32_t>(cp));
    if (cp == '/') return "contains '/'";
    if (++chars > kMaxNameLength) return fmt::format("is longer than {} characters", kMaxNameLength);
    i += n;
  }
  return std::nullopt;
}

std::string printable_name(std::string_view name) {
  std::string out;
  size_t chars = 0;
  for (size_t i = 0; i < name.size();) {
    if (++chars > 64) {
      out += "...";
      break;
    }
    char32_t cp = 0;
    size_t n = decode_utf8(name, i, &cp);
    if (n == 0) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(name[i]));
      ++i;
      continue;
    }
    if (is_control(cp)) out += fmt::format("\\u{:04x}", static_cast<uint32_t>(cp));
    else out.append(name.substr(i, n));
    i += n;
  }
  return out;
}

Result<void> check_name(std::string_view what, std::string_view name) {
  if (auto p = name_problem(name)) {
    std::string shown = name.empty() ? std::string() : fmt::format(" \"{}\"", printable_name(name));
    return Error(ErrorKind::InvalidArgument, fmt::format("the {} name{} {} ({})", what, shown, *p, name_rule()));
  }
  return {};
}

Result<std::string> name_from_json(std::string_view what, const boost::json::value* v) {
  if (!v || v->is_null()) return Error(ErrorKind::InvalidArgument, fmt::format("the {} name is missing ({})", what, name_rule()));
  if (!v->is_string()) {
    std::string shown = v->is_number() || v->is_bool() ? fmt::format(" (write \"{}\" in quotes)", boost::json::serialize(*v)) : "";
    return Error(ErrorKind::InvalidArgument, fmt::format("the {} name must be a string{}", what, shown));
  }
  std::string name(v->as_string());
  if (auto r = check_name(what, name); !r) return r.take_error();
  return name;
}

}  // namespace wasimancer::registry
