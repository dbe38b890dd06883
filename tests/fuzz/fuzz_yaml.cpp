// libFuzzer target: the YAML loaders: parse_yaml, then every entry of plugins.yml, resources.yml
// and prompts.yml through its parser; and the writer's promise that what it writes reads back
// as the same value (to_yaml, then parse_yaml).
#include <cstddef>
#include <cstdint>
#include <string>

#include <boost/json.hpp>

#include "registry/catalog.hpp"
#include "registry/plugin_spec.hpp"
#include "registry/yaml_json.hpp"

namespace json = boost::json;
using namespace wasimancer::registry;

namespace {

const json::value* at(const json::value& v, std::initializer_list<const char*> path) {
  const json::value* cur = &v;
  for (const char* k : path) {
    if (!cur->is_object()) return nullptr;
    cur = cur->as_object().if_contains(k);
    if (!cur) return nullptr;
  }
  return cur;
}

template <typename F>
void each(const json::value* list, F f) {
  if (!list || !list->is_array()) return;
  for (const auto& e : list->as_array()) f(e);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto doc = parse_yaml(text);
  if (!doc) return 0;
  each(at(*doc, {"plugins"}), [](const json::value& e) {
    auto p = parse_plugin_spec(e);
    if (p) {
      for (const auto& f : p->functions) (void)tool_input_schema(f);
    }
  });
  each(at(*doc, {"resources", "static"}), [](const json::value& e) { (void)parse_resource_spec(e, false); });
  each(at(*doc, {"resources", "dynamic"}), [](const json::value& e) { (void)parse_resource_spec(e, true); });
  each(at(*doc, {"prompts", "predefined"}), [](const json::value& e) { (void)parse_prompt_spec(e); });
  // Round trip: the server rewrites these files; what it writes must read back unchanged.
  std::string written = to_yaml(*doc);
  auto back = parse_yaml(written);
  if (!back) __builtin_trap();
  if (*back != *doc) __builtin_trap();
  return 0;
}
