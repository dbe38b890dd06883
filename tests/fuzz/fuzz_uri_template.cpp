// libFuzzer target: the URI template matcher (registry/catalog.hpp match_uri_template) and ${}
// substitution. Input: the template, a newline, then the URI. Small inputs are checked against
// an exhaustive backtracking reference (differential fuzzing); large ones must simply return.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "registry/catalog.hpp"

namespace {

// Each variable takes one or more characters other than '/', the leftmost as few as possible.
bool reference(std::string_view t, std::string_view u, std::vector<std::string>* values, int depth) {
  if (depth > 64) return false;
  if (t.empty()) return u.empty();
  if (t[0] != '{') return !u.empty() && u[0] == t[0] && reference(t.substr(1), u.substr(1), values, depth + 1);
  size_t close = t.find('}');
  for (size_t len = 1; len <= u.size() && u[len - 1] != '/'; ++len) {
    size_t mark = values->size();
    values->emplace_back(u.substr(0, len));
    if (reference(t.substr(close + 1), u.substr(len), values, depth + 1)) return true;
    values->resize(mark);
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nl = in.find('\n');
  if (nl == std::string_view::npos) return 0;
  std::string_view tmpl = in.substr(0, nl), uri = in.substr(nl + 1);
  std::map<std::string, std::string> vars;
  bool matched = wasimancer::registry::match_uri_template(tmpl, uri, &vars);
  if (!matched && !vars.empty()) __builtin_trap();  // no partial results
  if (matched) (void)wasimancer::registry::substitute("${a} ${b} $ ${ ${} x", vars);

  // Differential check on small, well-formed templates whose variable names are distinct and
  // free of '%' (values are percent-decoded by the matcher, not by the reference).
  bool well_formed = true;
  std::vector<std::string> names;
  for (size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] == '}') well_formed = false;  // a stray '}' (the reference reads it as a literal too, but keep it simple)
    if (tmpl[i] != '{') continue;
    size_t close = tmpl.find('}', i);
    if (close == std::string_view::npos) { well_formed = false; break; }
    std::string name(tmpl.substr(i + 1, close - i - 1));
    if (name.find('{') != std::string::npos) { well_formed = false; break; }
    for (const auto& n : names) well_formed = well_formed && n != name;
    names.push_back(name);
    i = close;
  }
  if (well_formed && tmpl.size() <= 16 && uri.size() <= 16 && names.size() <= 4 && uri.find('%') == std::string_view::npos) {
    std::vector<std::string> want;
    bool expect = reference(tmpl, uri, &want, 0);
    if (expect != matched) __builtin_trap();
    if (expect) {
      for (size_t i = 0; i < names.size(); ++i) {
        if (vars[names[i]] != want[i]) __builtin_trap();
      }
    }
  }
  return 0;
}
