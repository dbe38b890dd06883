// registry/plugin_spec: validation of one plugins.yml entry, the generated tool input schema and
// the tool-name recommendation.
#include <gtest/gtest.h>

#include <string>

#include <boost/json.hpp>

#include "registry/plugin_spec.hpp"
#include "registry/yaml_json.hpp"

using namespace wasimancer;
using namespace wasimancer::registry;
namespace json = boost::json;

namespace {

json::value entry(std::string_view js) { return json::parse(js); }

// The base entry with `patch` merged in at the top level (a null value removes the key).
json::value base_with(std::string_view patch_json) {
  json::object o = json::parse(R"({"name": "p", "path": "./p.wasm",
                                   "functions": [{"function": "f"}]})")
                       .as_object();
  json::object patch = json::parse(patch_json).as_object();
  for (auto& kv : patch) {
    if (kv.value().is_null()) o.erase(kv.key());
    else o[kv.key()] = kv.value();
  }
  return o;
}

// Expects a rejection whose message mentions every one of `needles`.
void expect_rejected(const json::value& v, std::initializer_list<std::string_view> needles) {
  auto r = parse_plugin_spec(v);
  ASSERT_FALSE(r.ok()) << "accepted: " << json::serialize(v);
  EXPECT_EQ(r.error().kind, ErrorKind::InvalidArgument);
  for (auto n : needles) {
    EXPECT_NE(r.error().message.find(n), std::string::npos) << "message \"" << r.error().message << "\" lacks \"" << n << "\"";
  }
}

}  // namespace

TEST(PluginSpec, AcceptsWasimancerEntryFromYaml) {
  auto doc = parse_yaml(R"(
name: roll dice
path: ./roll-dice/wasimancer-plugin-roll-dice.wasm
version: 1.0.0
description: roll dice
functions:
  - displayName: rollDice
    function: rollDice
    arguments:
      - name: numFaces
        type: number
        description: number of faces on the dice
    description: a function to roll dice
)");
  ASSERT_TRUE(doc.ok()) << doc.error().message;
  auto r = parse_plugin_spec(*doc);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const PluginSpec& p = *r;
  EXPECT_EQ(p.name, "roll dice");
  EXPECT_EQ(p.path, "./roll-dice/wasimancer-plugin-roll-dice.wasm");
  EXPECT_EQ(p.version, "1.0.0");
  EXPECT_EQ(p.description, "roll dice");
  ASSERT_EQ(p.functions.size(), 1u);
  const FunctionSpec& f = p.functions[0];
  EXPECT_EQ(f.tool_name, "rollDice");
  EXPECT_EQ(f.function, "rollDice");
  EXPECT_EQ(f.description, "a function to roll dice");
  EXPECT_FALSE(f.mcp_output);
  ASSERT_EQ(f.arguments.size(), 1u);
  EXPECT_EQ(f.arguments[0].name, "numFaces");
  EXPECT_EQ(f.arguments[0].type, "number");
  EXPECT_EQ(f.arguments[0].description, "number of faces on the dice");
  // Defaults of our additions.
  EXPECT_TRUE(p.config.empty());
  EXPECT_FALSE(p.allowed_hosts.has_value());
  EXPECT_EQ(p.limits.max_pages, host::PluginLimits::kDefaultMaxPages);
  EXPECT_EQ(p.limits.timeout_ms, host::PluginLimits::kDefaultTimeoutMs);
  EXPECT_TRUE(p.http_response_headers);
  EXPECT_EQ(json::value(p.raw), *doc);
}

TEST(PluginSpec, ToolNameDefaultsToFunctionAndUnknownKeysAreKept) {
  auto r = parse_plugin_spec(entry(R"({"name": "p", "functions": [{"function": "hello", "displayName": ""},
                                       {"function": "other", "x-custom": 1}], "someday": {"a": [1]}})"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->functions[0].tool_name, "hello");
  EXPECT_EQ(r->functions[1].tool_name, "other");
  ASSERT_TRUE(r->raw.contains("someday"));
  EXPECT_EQ(r->raw.at("someday"), json::parse(R"({"a": [1]})"));
  EXPECT_EQ(r->raw.at("functions").as_array()[1].as_object().at("x-custom"), json::value(1));
}

TEST(PluginSpec, OurAdditions) {
  auto r = parse_plugin_spec(entry(R"({"name": "p", "functions": [{"function": "f", "title": "Eff", "output": "mcp",
      "inputSchema": {"type": "object", "properties": {"a": {"type": "string"}}},
      "outputSchema": {"type": "object"}, "annotations": {"readOnlyHint": true}}],
      "allowedHosts": ["*.example.com", "127.0.0.1"], "maxPages": 16, "timeoutMs": 250,
      "maxHttpResponseBytes": 1000, "maxVarBytes": 0, "maxLogBytes": 77, "httpResponseHeaders": false})"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  const auto& f = r->functions[0];
  EXPECT_EQ(f.title, "Eff");
  EXPECT_TRUE(f.mcp_output);
  ASSERT_TRUE(f.input_schema);
  EXPECT_EQ(f.input_schema->at("type"), json::value("object"));
  ASSERT_TRUE(f.output_schema);
  ASSERT_TRUE(f.annotations);
  EXPECT_EQ(f.annotations->at("readOnlyHint"), json::value(true));
  ASSERT_TRUE(r->allowed_hosts);
  EXPECT_EQ(*r->allowed_hosts, (std::vector<std::string>{"*.example.com", "127.0.0.1"}));
  EXPECT_EQ(r->limits.max_pages, 16u);
  EXPECT_EQ(r->limits.timeout_ms, 250u);
  EXPECT_EQ(r->limits.max_http_response_bytes, 1000u);
  EXPECT_EQ(r->limits.max_var_bytes, 0u);
  EXPECT_EQ(r->limits.max_log_bytes, 77u);
  EXPECT_FALSE(r->http_response_headers);

  auto text = parse_plugin_spec(base_with(R"({"functions": [{"function": "f", "output": "text"}]})"));
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_FALSE(text->functions[0].mcp_output);
  // A whole number written as a float is accepted.
  auto whole = parse_plugin_spec(base_with(R"({"maxPages": 32.0})"));
  ASSERT_TRUE(whole.ok()) << whole.error().message;
  EXPECT_EQ(whole->limits.max_pages, 32u);
}

TEST(PluginSpec, RejectsMissingOrEmptyName) {
  expect_rejected(base_with(R"({"name": null})"), {"\"name\""});
  expect_rejected(base_with(R"({"name": ""})"), {"\"name\""});
  expect_rejected(base_with(R"({"name": ["x"]})"), {"\"name\""});
  expect_rejected(json::value("not an object"), {"object"});
}

// Without functions the plugin must describe itself (hyper-mcp v1/v2) or be a command: decided at
// load, where the module's exports are known (registry_describe_test, registry_command_test).
TEST(PluginSpec, FunctionsMayBeOmittedButNotMistyped) {
  for (const char* patch : {R"({"functions": null})", R"({"functions": []})"}) {
    auto r = parse_plugin_spec(base_with(patch));
    ASSERT_TRUE(r.ok()) << patch << ": " << r.error().message;
    EXPECT_TRUE(r->functions.empty());
  }
  expect_rejected(base_with(R"({"functions": {"function": "f"}})"), {"\"functions\" must be a list", "plugin \"p\""});
}

TEST(PluginSpec, RejectsMissingFunction) {
  expect_rejected(base_with(R"({"functions": [{"displayName": "x"}]})"), {"functions[0]", "\"function\""});
  expect_rejected(base_with(R"({"functions": [{"function": "a"}, {"function": ""}]})"), {"functions[1]", "\"function\""});
  expect_rejected(base_with(R"({"functions": [{"function": "a"}, "b"]})"), {"functions[1]"});
}

TEST(PluginSpec, RejectsDuplicateToolNames) {
  expect_rejected(base_with(R"({"functions": [{"function": "a"}, {"function": "a"}]})"), {"\"a\""});
  // Different exports, same displayName.
  expect_rejected(base_with(R"({"functions": [{"function": "a", "displayName": "t"}, {"function": "b", "displayName": "t"}]})"),
                  {"\"t\""});
  // A displayName equal to another function's export name.
  expect_rejected(base_with(R"({"functions": [{"function": "a"}, {"function": "b", "displayName": "a"}]})"), {"\"a\""});
  // The same export under two tool names is fine.
  EXPECT_TRUE(parse_plugin_spec(base_with(R"({"functions": [{"function": "a"}, {"function": "a", "displayName": "a2"}]})")).ok());
}

TEST(PluginSpec, RejectsBadArguments) {
  expect_rejected(base_with(R"({"functions": [{"function": "f", "arguments": [{"name": "x"}, {"name": "x"}]}]})"),
                  {"duplicate", "\"x\"", "arguments[1]"});
  expect_rejected(base_with(R"({"functions": [{"function": "f", "arguments": [{"type": "string"}]}]})"),
                  {"arguments[0]", "\"name\""});
  expect_rejected(base_with(R"({"functions": [{"function": "f", "arguments": [{"name": ""}]}]})"), {"arguments[0]", "\"name\""});
  expect_rejected(base_with(R"({"functions": [{"function": "f", "arguments": "x"}]})"), {"\"arguments\""});
  expect_rejected(base_with(R"({"functions": [{"function": "f", "arguments": ["x"]}]})"), {"arguments[0]"});
}

TEST(PluginSpec, RejectsBadLimits) {
  expect_rejected(base_with(R"({"maxPages": 0})"), {"\"maxPages\""});
  expect_rejected(base_with(R"({"maxPages": -1})"), {"\"maxPages\""});
  expect_rejected(base_with(R"({"maxPages": "16"})"), {"\"maxPages\""});
  expect_rejected(base_with(R"({"maxPages": "lots"})"), {"\"maxPages\""});
  expect_rejected(base_with(R"({"maxPages": true})"), {"\"maxPages\""});
  expect_rejected(base_with(R"({"maxPages": 1.5})"), {"\"maxPages\""});
  expect_rejected(base_with(R"({"maxPages": 65537})"), {"\"maxPages\""});
  expect_rejected(base_with(R"({"timeoutMs": -5})"), {"\"timeoutMs\""});
  expect_rejected(base_with(R"({"timeoutMs": "soon"})"), {"\"timeoutMs\""});
  expect_rejected(base_with(R"({"timeoutMs": 86400001})"), {"\"timeoutMs\""});
  expect_rejected(base_with(R"({"maxVarBytes": -1})"), {"\"maxVarBytes\""});
  expect_rejected(base_with(R"({"maxLogBytes": [1]})"), {"\"maxLogBytes\""});
  expect_rejected(base_with(R"({"maxHttpResponseBytes": 1e20})"), {"\"maxHttpResponseBytes\""});
  expect_rejected(base_with(R"({"httpResponseHeaders": "yes"})"), {"\"httpResponseHeaders\""});
  expect_rejected(base_with(R"({"allowedHosts": "*"})"), {"\"allowedHosts\""});
  expect_rejected(base_with(R"({"allowedHosts": [""]})"), {"\"allowedHosts\""});
  expect_rejected(base_with(R"({"allowedHosts": [1]})"), {"\"allowedHosts\""});
  // Edges that are allowed.
  EXPECT_TRUE(parse_plugin_spec(base_with(R"({"maxPages": 1})")).ok());
  EXPECT_TRUE(parse_plugin_spec(base_with(R"({"maxPages": 65536})")).ok());
  EXPECT_TRUE(parse_plugin_spec(base_with(R"({"timeoutMs": 0})")).ok());
  EXPECT_TRUE(parse_plugin_spec(base_with(R"({"maxPages": null})")).ok());
}

TEST(PluginSpec, RejectsBadOutputValue) {
  expect_rejected(base_with(R"({"functions": [{"function": "f", "output": "html"}]})"), {"\"output\"", "html", "functions[0]"});
  expect_rejected(base_with(R"({"functions": [{"function": "f", "output": "MCP"}]})"), {"\"output\""});
}

TEST(PluginSpec, RejectsSchemasWithoutTypeObject) {
  expect_rejected(base_with(R"({"functions": [{"function": "f", "inputSchema": {"properties": {}}}]})"), {"\"inputSchema\""});
  expect_rejected(base_with(R"({"functions": [{"function": "f", "inputSchema": {"type": "string"}}]})"), {"\"inputSchema\""});
  expect_rejected(base_with(R"({"functions": [{"function": "f", "inputSchema": {"type": ["object"]}}]})"), {"\"inputSchema\""});
  expect_rejected(base_with(R"({"functions": [{"function": "f", "inputSchema": "object"}]})"), {"\"inputSchema\""});
  expect_rejected(base_with(R"({"functions": [{"function": "f", "outputSchema": {}}]})"), {"\"outputSchema\""});
  expect_rejected(base_with(R"({"functions": [{"function": "f", "outputSchema": {"type": "array"}}]})"), {"\"outputSchema\""});
  expect_rejected(base_with(R"({"functions": [{"function": "f", "annotations": []}]})"), {"\"annotations\""});
}

TEST(PluginSpec, ConfigValuesAreCoercedToStrings) {
  auto r = parse_plugin_spec(base_with(R"({"config": {"s": "text", "i": 5, "neg": -3, "b": true, "f": false,
                                                      "z": null, "d": 1.25, "big": 18446744073709551615}})"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->config.at("s"), "text");
  EXPECT_EQ(r->config.at("i"), "5");
  EXPECT_EQ(r->config.at("neg"), "-3");
  EXPECT_EQ(r->config.at("b"), "true");
  EXPECT_EQ(r->config.at("f"), "false");
  EXPECT_EQ(r->config.at("z"), "");
  EXPECT_EQ(r->config.at("big"), "18446744073709551615");
  // A float is written the way people write it (WASM_VERSION: 1.25 must read back as "1.25").
  EXPECT_EQ(r->config.at("d"), "1.25");
  expect_rejected(base_with(R"({"config": {"k": [1]}})"), {"config", "\"k\""});
  expect_rejected(base_with(R"({"config": {"k": {"a": 1}}})"), {"\"k\""});
  expect_rejected(base_with(R"({"config": ["a"]})"), {"\"config\""});
}

TEST(PluginSpec, UnquotedYamlNumbersInTextFieldsReadAsWritten) {
  // WASImancer users write `version: 1.0.0` (a string) but also `version: 2.5` or `version: 3`.
  auto doc = parse_yaml("name: p\nversion: 2.5\ndescription: 42\nfunctions:\n  - function: f\n    description: true\n");
  ASSERT_TRUE(doc.ok());
  auto r = parse_plugin_spec(*doc);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->description, "42");
  EXPECT_EQ(r->functions[0].description, "true");
  EXPECT_EQ(r->version, "2.5");
}

TEST(PluginSpec, ToolInputSchemaFromArguments) {
  auto r = parse_plugin_spec(base_with(R"({"functions": [{"function": "f", "arguments": [
      {"name": "s", "type": "string", "description": "a string"}, {"name": "n", "type": "number"},
      {"name": "i", "type": "integer"}, {"name": "b", "type": "boolean"}, {"name": "o", "type": "object"},
      {"name": "a", "type": "array"}, {"name": "w", "type": "whatever"}, {"name": "u"}]}]})"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  json::object schema = tool_input_schema(r->functions[0]);
  json::value expected = json::parse(R"({
    "type": "object",
    "properties": {
      "s": {"type": "string", "description": "a string"}, "n": {"type": "number"}, "i": {"type": "integer"},
      "b": {"type": "boolean"}, "o": {"type": "object"}, "a": {"type": "array"}, "w": {}, "u": {}
    },
    "required": ["s", "n", "i", "b", "o", "a", "w", "u"]
  })");
  EXPECT_EQ(json::value(schema), expected) << json::serialize(schema);
  EXPECT_FALSE(schema.contains("additionalProperties"));
}

TEST(PluginSpec, ToolInputSchemaWithoutArgumentsAllowsNothing) {
  auto r = parse_plugin_spec(base_with("{}"));
  ASSERT_TRUE(r.ok());
  json::object schema = tool_input_schema(r->functions[0]);
  EXPECT_EQ(json::value(schema), json::parse(R"({"type": "object", "properties": {}, "additionalProperties": false})"))
      << json::serialize(schema);
}

TEST(PluginSpec, ToolInputSchemaGivenReplacesGenerated) {
  auto r = parse_plugin_spec(base_with(R"({"functions": [{"function": "f", "arguments": [{"name": "x"}],
      "inputSchema": {"type": "object", "properties": {"y": {"type": "integer", "minimum": 1}}}}]})"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(json::value(tool_input_schema(r->functions[0])),
            json::parse(R"({"type": "object", "properties": {"y": {"type": "integer", "minimum": 1}}})"));
}

TEST(PluginSpec, RecommendedToolNames) {
  EXPECT_TRUE(is_recommended_tool_name("rollDice"));
  EXPECT_TRUE(is_recommended_tool_name("a"));
  EXPECT_TRUE(is_recommended_tool_name("get_weather.v2-beta"));
  EXPECT_TRUE(is_recommended_tool_name("ABC_123"));
  EXPECT_TRUE(is_recommended_tool_name(std::string(128, 'x')));
  EXPECT_FALSE(is_recommended_tool_name(std::string(129, 'x')));
  EXPECT_FALSE(is_recommended_tool_name(""));
  EXPECT_FALSE(is_recommended_tool_name("say hello"));
  EXPECT_FALSE(is_recommended_tool_name("a/b"));
  EXPECT_FALSE(is_recommended_tool_name("a:b"));
  EXPECT_FALSE(is_recommended_tool_name("ünï"));
  EXPECT_FALSE(is_recommended_tool_name("tab\t"));
}
