#include "registry/yaml_json.hpp"

#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <string_view>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "core/crypto.hpp"
#include "core/text.hpp"

namespace wasimancer::registry {

namespace json = boost::json;

namespace {

bool is_null_word(const std::string& s) { return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL"; }
bool is_true_word(const std::string& s) { return s == "true" || s == "True" || s == "TRUE"; }
bool is_false_word(const std::string& s) { return s == "false" || s == "False" || s == "FALSE"; }

// Hand-written scanners (std::regex recurses once per character: a long scalar would overflow
// the stack). Each returns whether all of `s` has the shape described.
bool is_digit(char c, int base) {
  if (base == 8) return c >= '0' && c <= '7';
  if (base == 16) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  return c >= '0' && c <= '9';
}

// Advances `i` over digits of `base`; returns how many.
size_t skip_digits(std::string_view s, size_t& i, int base = 10) {
  size_t start = i;
  while (i < s.size() && is_digit(s[i], base)) ++i;
  return i - start;
}

// [-+]?[0-9]+
bool is_decimal_int(std::string_view s) {
  size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  return skip_digits(s, i) > 0 && i == s.size();
}

// 0o[0-7]+ or 0x[0-9a-fA-F]+ (prefix "0o" or "0x")
bool is_prefixed_int(std::string_view s, std::string_view prefix, int base) {
  if (s.substr(0, 2) != prefix) return false;
  size_t i = 2;
  return skip_digits(s, i, base) > 0 && i == s.size();
}

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool is_float_text(std::string_view s) {
  size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (skip_digits(s, i) == 0) return false;
  } else {
    if (skip_digits(s, i) == 0) return false;
    if (i < s.size() && s[i] == '.') {
      ++i;
      skip_digits(s, i);
    }
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    if (skip_digits(s, i) == 0) return false;
  }
  return i == s.size();
}

bool parse_int(const std::string& s, json::value* out) {
  int base = 10;
  std::string digits = s;
  if (is_prefixed_int(s, "0o", 8)) { base = 8; digits = s.substr(2); }
  else if (is_prefixed_int(s, "0x", 16)) { base = 16; digits = s.substr(2); }
  else if (!is_decimal_int(s)) return false;
  errno = 0;
  if (digits[0] == '-') {
    long long v = std::strtoll(digits.c_str(), nullptr, base);
    if (errno == ERANGE) return false;
    *out = static_cast<int64_t>(v);
  } else {
    unsigned long long v = std::strtoull(digits.c_str() + (digits[0] == '+' ? 1 : 0), nullptr, base);
    if (errno == ERANGE) return false;
    if (v <= static_cast<unsigned long long>(INT64_MAX)) *out = static_cast<int64_t>(v);
    else *out = static_cast<uint64_t>(v);
  }
  return true;
}

bool parse_float(const std::string& s, json::value* out) {
  if (is_float_text(s)) {
    try {
      *out = std::stod(s);
      return true;
    } catch (...) {
      return false;
    }
  }
  return false;
}

json::value resolve_plain(const std::string& s) {
  if (is_null_word(s)) return nullptr;
  if (is_true_word(s)) return true;
  if (is_false_word(s)) return false;
  json::value v;
  if (parse_int(s, &v)) return v;
  if (parse_float(s, &v)) return v;
  return json::string(s);
}

// YAML text is Unicode: a scalar with bytes that are not UTF-8 would not survive a rewrite (the
// writer replaces them) nor a JSON answer, so the document is refused, naming the place.
const std::string& checked_utf8(const YAML::Node& n, const std::string& s) {
  if (!is_valid_utf8(s)) throw YAML::ParserException(n.Mark(), "the text is not valid UTF-8");
  return s;
}

json::value convert(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null: return nullptr;
    case YAML::NodeType::Scalar:
      checked_utf8(n, n.Scalar());
      if (n.Tag() == "!" || n.Tag() == "tag:yaml.org,2002:str") return json::string(n.Scalar());
      return resolve_plain(n.Scalar());
    case YAML::NodeType::Sequence: {
      json::array a;
      for (const auto& item : n) a.push_back(convert(item));
      return a;
    }
    case YAML::NodeType::Map: {
      json::object o;
      for (const auto& kv : n) o[checked_utf8(kv.first, kv.first.as<std::string>())] = convert(kv.second);
      return o;
    }
  }
  return nullptr;
}

// Plain (unquoted) only for simple text that reads back as the same string: letters, digits
// and a few harmless characters, starting with a letter, digit, '_' or '/'. Everything else
// (indicators, "---", leading or trailing spaces, ": ", " #") is double-quoted.
bool needs_quotes(const std::string& s) {
  if (s.empty() || s.back() == ' ') return true;
  unsigned char c0 = static_cast<unsigned char>(s[0]);
  if (!(std::isalnum(c0) || c0 == '_' || c0 == '/' || c0 >= 0x80)) return true;
  for (unsigned char c : s) {
    bool ok = std::isalnum(c) || c >= 0x80 || std::string_view("_./ +()-=,;").find(static_cast<char>(c)) != std::string_view::npos;
    if (!ok) return true;
  }
  json::value r = resolve_plain(s);
  return !r.is_string() || s != json::string_view(r.as_string());
}

bool has_noncharacter(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    size_t n = decode_utf8(s, i, &cp);
    if (n == 0) return false;  // not UTF-8: written as it is
    if ((cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE) return true;
    i += n;
  }
  return false;
}

// The placeholder of this process's to_yaml calls: letters and digits only, so the writer copies
// it as it is; random, so no text contains it by chance.
const std::string& placeholder_tag() {
  static const std::string tag = "WMNC" + random_token(12) + "x";
  return tag;
}

// The text with each noncharacter, and the 'W' of any copy of the tag already in it, replaced by
// a placeholder (so that the only placeholders in the output are ours).
std::string with_placeholders(std::string_view s) {
  const std::string& tag = placeholder_tag();
  std::string out;
  for (size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    size_t n = decode_utf8(s, i, &cp);
    bool nonchar = n > 0 && ((cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE);
    if (nonchar || s.substr(i, tag.size()) == tag) {
      out += fmt::format("{}{:06x}", tag, static_cast<uint32_t>(cp));
    } else {
      out.append(s.substr(i, n == 0 ? 1 : n));
    }
    i += n == 0 ? 1 : n;
  }
  return out;
}

bool needs_placeholders(std::string_view s) { return has_noncharacter(s) || s.find(placeholder_tag()) != std::string_view::npos; }

// Replaces the placeholders with YAML escapes (\uXXXX, or \UXXXXXXXX above the BMP).
std::string resolve_placeholders(std::string text) {
  const std::string& tag = placeholder_tag();
  size_t pos = 0;
  while ((pos = text.find(tag, pos)) != std::string::npos) {
    std::string hex = text.substr(pos + tag.size(), 6);
    if (hex.size() != 6 || hex.find_first_not_of("0123456789abcdef") != std::string::npos) {
      pos += tag.size();  // not one of ours (cannot happen: every copy in a text was replaced)
      continue;
    }
    uint32_t cp = static_cast<uint32_t>(std::stoul(hex, nullptr, 16));
    std::string esc = cp <= 0xFFFF ? fmt::format("\\u{:04X}", cp) : fmt::format("\\U{:08X}", cp);
    text.replace(pos, tag.size() + 6, esc);
    pos += esc.size();
  }
  return text;
}

// Multi-line strings are double-quoted too: a literal block would add a final newline. Unicode
// noncharacters (U+FDD0-FDEF, U+xFFFE/xFFFF): yaml-cpp's writer turns them into U+FFFD when it
// escapes (found by fuzz_yaml), so each is written as a placeholder that to_yaml replaces with a
// \u escape afterwards.
void emit_string(YAML::Emitter& e, const std::string& s) {
  if (needs_placeholders(s)) e << YAML::DoubleQuoted << with_placeholders(s);
  else if (needs_quotes(s) || s.find_first_of("\n\r\t") != std::string::npos) e << YAML::DoubleQuoted << s;
  else e << s;
}

constexpr size_t kMaxImplicitKeyBytes = 128;

void emit(YAML::Emitter& e, const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: e << YAML::Null; break;
    case json::kind::bool_: e << (v.as_bool() ? "true" : "false"); break;
    case json::kind::int64: e << v.as_int64(); break;
    case json::kind::uint64: e << v.as_uint64(); break;
    case json::kind::double_: {
      // Shortest text that reads back as the same number, and still as a float.
      std::string s = fmt::format("{}", v.as_double());
      if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
      e << s;
      break;
    }
    case json::kind::string: {
      emit_string(e, std::string(v.as_string()));
      break;
    }
    case json::kind::array:
      e << YAML::BeginSeq;
      for (const auto& item : v.as_array()) emit(e, item);
      e << YAML::EndSeq;
      break;
    case json::kind::object:
      e << YAML::BeginMap;
      for (const auto& kv : v.as_object()) {
        // An implicit key may be at most 1024 characters once written, and escapes can make a
        // key four times longer (found by fuzz_yaml): longer keys are written explicitly ("? key").
        if (kv.key().size() > kMaxImplicitKeyBytes) e << YAML::LongKey;
        e << YAML::Key;
        emit_string(e, std::string(kv.key()));
        e << YAML::Value;
        emit(e, kv.value());
      }
      e << YAML::EndMap;
      break;
  }
}

}  // namespace

Result<json::value> parse_yaml(std::string_view text) {
  try {
    YAML::Node n = YAML::Load(std::string(text));
    return convert(n);
  } catch (const YAML::Exception& e) {
    return Error(ErrorKind::InvalidArgument,
                 fmt::format("YAML syntax error at line {}, column {}: {}", e.mark.line + 1, e.mark.column + 1, e.msg));
  }
}

std::string to_yaml(const json::value& v) {
  YAML::Emitter e;
  e.SetIndent(2);
  e.SetSeqFormat(YAML::Block);
  e.SetMapFormat(YAML::Block);
  emit(e, v);
  std::string out = resolve_placeholders(e.c_str());
  if (out.empty() || out.back() != '\n') out += '\n';
  return out;
}

}  // namespace wasimancer::registry
