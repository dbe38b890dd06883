// mcp/jsonrpc, mcp/schema, mcp/protocol: message classification, UTF-8 repair, the JSON Schema
// subset, version negotiation and version-gated features.
#include <gtest/gtest.h>

#include <string>

#include <boost/json.hpp>

#include "mcp/jsonrpc.hpp"
#include "mcp/protocol.hpp"
#include "mcp/schema.hpp"

using namespace wasimancer;
using namespace wasimancer::mcp;
namespace json = boost::json;

namespace {

MessageKind kind_of(std::string_view text, std::string* why = nullptr) {
  std::string w;
  MessageKind k = classify(json::parse(text), &w);
  if (why) *why = w;
  return k;
}

// nullopt if valid; the message otherwise.
std::optional<std::string> check(std::string_view schema, std::string_view value) {
  return validate_schema(json::parse(schema), json::parse(value));
}

}  // namespace

// ---- classify ---------------------------------------------------------------------------------

TEST(JsonRpc, ClassifiesRequestsNotificationsAndResponses) {
  EXPECT_EQ(kind_of(R"({"jsonrpc": "2.0", "id": 1, "method": "ping"})"), MessageKind::Request);
  EXPECT_EQ(kind_of(R"({"jsonrpc": "2.0", "id": "abc", "method": "tools/list", "params": {}})"), MessageKind::Request);
  EXPECT_EQ(kind_of(R"({"jsonrpc": "2.0", "id": 0, "method": "x"})"), MessageKind::Request);
  EXPECT_EQ(kind_of(R"({"jsonrpc": "2.0", "id": -7, "method": "x"})"), MessageKind::Request);
  EXPECT_EQ(kind_of(R"({"jsonrpc": "2.0", "id": 18446744073709551615, "method": "x"})"), MessageKind::Request);
  EXPECT_EQ(kind_of(R"({"jsonrpc": "2.0", "id": "", "method": "x"})"), MessageKind::Request);
  EXPECT_EQ(kind_of(R"({"jsonrpc": "2.0", "method": "notifications/initialized"})"), MessageKind::Notification);
  EXPECT_EQ(kind_of(R"({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}})"),
            MessageKind::Notification);
  EXPECT_EQ(kind_of(R"({"jsonrpc": "2.0", "id": 1, "result": {}})"), MessageKind::Response);
  EXPECT_EQ(kind_of(R"({"jsonrpc": "2.0", "id": "x", "result": null})"), MessageKind::Response);
  EXPECT_EQ(kind_of(R"({"jsonrpc": "2.0", "id": 1, "error": {"code": -1, "message": "no"}})"), MessageKind::Response);
  // An error response to a request whose id could not be read has id null.
  EXPECT_EQ(kind_of(R"({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "parse"}})"), MessageKind::Response);
}

TEST(JsonRpc, InvalidMessagesSayWhy) {
  struct Case {
    const char* text;
    const char* why;
  } cases[] = {
      {R"([1, 2])", "object"},
      {R"("ping")", "object"},
      {R"({"id": 1, "method": "ping"})", "jsonrpc"},
      {R"({"jsonrpc": "1.0", "id": 1, "method": "ping"})", "jsonrpc"},
      {R"({"jsonrpc": 2.0, "id": 1, "method": "ping"})", "jsonrpc"},
      {R"({"jsonrpc": "2.0", "id": 1, "method": 5})", "method"},
      {R"({"jsonrpc": "2.0", "id": null, "method": "ping"})", "id"},
      {R"({"jsonrpc": "2.0", "id": 1.5, "method": "ping"})", "id"},
      {R"({"jsonrpc": "2.0", "id": true, "method": "ping"})", "id"},
      {R"({"jsonrpc": "2.0", "id": {"a": 1}, "method": "ping"})", "id"},
      {R"({"jsonrpc": "2.0", "id": [1], "method": "ping"})", "id"},
      {R"({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": "x"})", "params"},
      {R"({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": 3})", "params"},
      {R"({"jsonrpc": "2.0", "id": 1})", "neither"},
      {R"({"jsonrpc": "2.0", "result": {}})", "neither"},
      {R"({"jsonrpc": "2.0"})", "neither"},
  };
  for (const auto& c : cases) {
    std::string why;
    EXPECT_EQ(kind_of(c.text, &why), MessageKind::Invalid) << c.text;
    EXPECT_NE(why.find(c.why), std::string::npos) << c.text << " -> " << why;
  }
}

TEST(JsonRpc, IdsAndBuilders) {
  EXPECT_TRUE(is_valid_id(json::value(1)));
  EXPECT_TRUE(is_valid_id(json::value("x")));
  EXPECT_TRUE(is_valid_id(json::value(uint64_t{1} << 63)));
  EXPECT_FALSE(is_valid_id(json::value(1.0)));
  EXPECT_FALSE(is_valid_id(json::value(nullptr)));
  EXPECT_FALSE(is_valid_id(json::value(false)));

  EXPECT_EQ(json::value(make_result(7, json::object{{"a", 1}})), json::parse(R"({"jsonrpc":"2.0","id":7,"result":{"a":1}})"));
  EXPECT_EQ(json::value(make_error("q", RpcError{kInvalidParams, "bad", std::nullopt})),
            json::parse(R"({"jsonrpc":"2.0","id":"q","error":{"code":-32602,"message":"bad"}})"));
  EXPECT_EQ(json::value(make_error(nullptr, RpcError{kParseError, "p", json::value(json::object{{"x", 1}})})),
            json::parse(R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"p","data":{"x":1}}})"));
  EXPECT_EQ(json::value(make_notification("notifications/tools/list_changed")),
            json::parse(R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})"));
  EXPECT_EQ(json::value(make_request("r1", "sampling/createMessage", json::object{{"m", 1}})),
            json::parse(R"({"jsonrpc":"2.0","id":"r1","method":"sampling/createMessage","params":{"m":1}})"));
  // What we build classifies as what it is.
  std::string why;
  EXPECT_EQ(classify(make_request(1, "x", json::object{}), &why), MessageKind::Request);
  EXPECT_EQ(classify(make_notification("x"), &why), MessageKind::Notification);
  EXPECT_EQ(classify(make_result(1, nullptr), &why), MessageKind::Response);
}

// ---- to_valid_utf8 ----------------------------------------------------------------------------

TEST(Utf8, ValidTextIsUnchanged) {
  for (std::string s : {std::string(""), std::string("plain ascii"), std::string("\x00\x7f", 2), std::string("é ü ß"),
                        std::string("日本語 €"), std::string("emoji 😀 🎉"), std::string("\xf4\x8f\xbf\xbf"),  // U+10FFFF
                        std::string("\xef\xbf\xbd"), std::string("\xed\x9f\xbf"), std::string("\xee\x80\x80"),
                        std::string("\xc2\x80"), std::string("\xe0\xa0\x80"), std::string("\xf0\x90\x80\x80")}) {
    EXPECT_EQ(to_valid_utf8(s), s) << s;
  }
}

TEST(Utf8, InvalidBytesAreReplaced) {
  const std::string R = "\xef\xbf\xbd";  // U+FFFD
  EXPECT_EQ(to_valid_utf8("a\xff" "b"), "a" + R + "b");
  EXPECT_EQ(to_valid_utf8("\x80"), R);                       // lone continuation byte
  EXPECT_EQ(to_valid_utf8("\xc3"), R);                       // truncated at the end
  EXPECT_EQ(to_valid_utf8("\xc3" "A"), R + "A");             // truncated before ASCII
  EXPECT_EQ(to_valid_utf8("\xe2\x82" "A").find('A'), to_valid_utf8("\xe2\x82" "A").size() - 1);  // A survives
  EXPECT_EQ(to_valid_utf8("\xe2\x82" "A").find("\xe2\x82" "A"), std::string::npos);
  // Overlong encodings.
  for (std::string overlong : {std::string("\xc0\xaf"), std::string("\xc1\xbf"), std::string("\xe0\x80\xaf"),
                               std::string("\xf0\x80\x80\xaf")}) {
    std::string out = to_valid_utf8(overlong);
    EXPECT_EQ(out.find(overlong), std::string::npos) << "kept an overlong sequence";
    EXPECT_NE(out.find(R), std::string::npos);
    EXPECT_EQ(to_valid_utf8(out), out);  // the output is valid
  }
  // UTF-16 surrogates encoded in UTF-8.
  for (std::string sur : {std::string("\xed\xa0\x80"), std::string("\xed\xbf\xbf")}) {
    std::string out = to_valid_utf8("x" + sur + "y");
    EXPECT_EQ(out.find(sur), std::string::npos);
    EXPECT_EQ(out.front(), 'x');
    EXPECT_EQ(out.back(), 'y');
    EXPECT_EQ(to_valid_utf8(out), out);
  }
  // Above U+10FFFF, and bytes that never appear in UTF-8.
  for (std::string bad : {std::string("\xf4\x90\x80\x80"), std::string("\xf5\x80\x80\x80"), std::string("\xf8\x88\x80\x80\x80"),
                          std::string("\xfe"), std::string("\xff")}) {
    std::string out = to_valid_utf8(bad);
    EXPECT_EQ(out.find(bad), std::string::npos);
    EXPECT_EQ(to_valid_utf8(out), out);
  }
  // A valid 4-byte character right after invalid bytes survives.
  EXPECT_EQ(to_valid_utf8("\xff😀"), R + "😀");
  // The result always parses as a JSON string.
  std::string junk;
  for (int i = 0; i < 256; ++i) junk.push_back(static_cast<char>(i));
  std::string fixed = to_valid_utf8(junk);
  boost::system::error_code ec;
  json::value v = json::parse(json::serialize(json::value(fixed)), ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(fixed.substr(0, 128), junk.substr(0, 128));  // ASCII untouched
}

// ---- validate_schema --------------------------------------------------------------------------

TEST(Schema, Types) {
  EXPECT_FALSE(check(R"({"type": "string"})", R"("x")"));
  EXPECT_TRUE(check(R"({"type": "string"})", "1"));
  EXPECT_FALSE(check(R"({"type": "number"})", "1"));
  EXPECT_FALSE(check(R"({"type": "number"})", "1.5"));
  EXPECT_FALSE(check(R"({"type": "integer"})", "3"));
  EXPECT_FALSE(check(R"({"type": "integer"})", "3.0"));
  EXPECT_FALSE(check(R"({"type": "integer"})", "-9223372036854775808"));
  EXPECT_FALSE(check(R"({"type": "integer"})", "18446744073709551615"));
  EXPECT_TRUE(check(R"({"type": "integer"})", "3.5"));
  EXPECT_TRUE(check(R"({"type": "integer"})", R"("3")"));
  EXPECT_TRUE(check(R"({"type": "number"})", R"("3")"));
  EXPECT_FALSE(check(R"({"type": "boolean"})", "false"));
  EXPECT_TRUE(check(R"({"type": "boolean"})", "0"));
  EXPECT_FALSE(check(R"({"type": "null"})", "null"));
  EXPECT_TRUE(check(R"({"type": "null"})", "0"));
  EXPECT_FALSE(check(R"({"type": "array"})", "[]"));
  EXPECT_TRUE(check(R"({"type": "array"})", "{}"));
  EXPECT_FALSE(check(R"({"type": "object"})", "{}"));
  EXPECT_TRUE(check(R"({"type": "object"})", "[]"));
  EXPECT_FALSE(check(R"({"type": ["string", "null"]})", "null"));
  EXPECT_FALSE(check(R"({"type": ["string", "null"]})", R"("s")"));
  auto e = check(R"({"type": ["string", "null"]})", "1");
  ASSERT_TRUE(e);
  EXPECT_NE(e->find("string or null"), std::string::npos) << *e;
  EXPECT_FALSE(check("{}", "1"));    // no constraints
  EXPECT_FALSE(check("true", "1"));  // the true schema
  EXPECT_TRUE(check("false", "1"));  // the false schema
  auto t = check(R"({"type": "number"})", R"("abc")");
  ASSERT_TRUE(t);
  EXPECT_NE(t->find("expected number"), std::string::npos) << *t;
  EXPECT_NE(t->find("got string"), std::string::npos) << *t;
}

TEST(Schema, RequiredAndAdditionalProperties) {
  const char* s = R"({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
                      "required": ["a"], "additionalProperties": false})";
  EXPECT_FALSE(check(s, R"({"a": "x"})"));
  EXPECT_FALSE(check(s, R"({"a": "x", "b": 2})"));
  auto missing = check(s, R"({"b": 2})");
  ASSERT_TRUE(missing);
  EXPECT_NE(missing->find("missing required property \"a\""), std::string::npos) << *missing;
  auto extra = check(s, R"({"a": "x", "c": 1})");
  ASSERT_TRUE(extra);
  EXPECT_NE(extra->find("unexpected property \"c\""), std::string::npos) << *extra;
  auto wrong = check(s, R"({"a": "x", "b": "two"})");
  ASSERT_TRUE(wrong);
  EXPECT_NE(wrong->find("b: expected integer"), std::string::npos) << *wrong;

  // additionalProperties as a schema.
  const char* m = R"({"type": "object", "properties": {"id": {"type": "string"}}, "additionalProperties": {"type": "number"}})";
  EXPECT_FALSE(check(m, R"({"id": "x", "w": 1, "h": 2.5})"));
  auto bad = check(m, R"({"id": "x", "w": "wide"})");
  ASSERT_TRUE(bad);
  EXPECT_NE(bad->find("w: expected number"), std::string::npos) << *bad;
  // Without additionalProperties anything else is allowed.
  EXPECT_FALSE(check(R"({"type": "object", "properties": {}})", R"({"z": [1]})"));
  // The empty-arguments schema of an argument-less tool.
  EXPECT_FALSE(check(R"({"type": "object", "properties": {}, "additionalProperties": false})", "{}"));
  EXPECT_TRUE(check(R"({"type": "object", "properties": {}, "additionalProperties": false})", R"({"x": 1})"));
}

TEST(Schema, NestedPathsInMessages) {
  const char* s = R"({"type": "object", "properties": {
      "user": {"type": "object", "required": ["name"], "properties": {
          "name": {"type": "string"},
          "tags": {"type": "array", "items": {"type": "string"}},
          "address": {"type": "object", "properties": {"zip": {"type": "integer"}}}}}}})";
  EXPECT_FALSE(check(s, R"({"user": {"name": "a", "tags": ["x"], "address": {"zip": 1}}})"));
  auto zip = check(s, R"({"user": {"name": "a", "address": {"zip": "x"}}})");
  ASSERT_TRUE(zip);
  EXPECT_NE(zip->find("user.address.zip: expected integer"), std::string::npos) << *zip;
  auto tag = check(s, R"({"user": {"name": "a", "tags": ["x", 2]}})");
  ASSERT_TRUE(tag);
  EXPECT_NE(tag->find("user.tags[1]: expected string"), std::string::npos) << *tag;
  auto req = check(s, R"({"user": {}})");
  ASSERT_TRUE(req);
  EXPECT_NE(req->find("user: missing required property \"name\""), std::string::npos) << *req;
  // The top level is called "arguments".
  auto top = check(R"({"type": "object"})", "[]");
  ASSERT_TRUE(top);
  EXPECT_EQ(top->rfind("arguments:", 0), 0u) << *top;
}

TEST(Schema, EnumConstAndBounds) {
  EXPECT_FALSE(check(R"({"enum": ["a", "b", 3]})", R"("b")"));
  EXPECT_FALSE(check(R"({"enum": ["a", "b", 3]})", "3"));
  auto e = check(R"({"enum": ["a", "b"]})", R"("c")");
  ASSERT_TRUE(e);
  EXPECT_NE(e->find("one of"), std::string::npos) << *e;
  EXPECT_FALSE(check(R"({"const": {"x": [1]}})", R"({"x": [1]})"));
  EXPECT_TRUE(check(R"({"const": {"x": [1]}})", R"({"x": [2]})"));
  EXPECT_TRUE(check(R"({"const": "a"})", R"("b")"));

  EXPECT_FALSE(check(R"({"type": "number", "minimum": 1, "maximum": 6})", "1"));
  EXPECT_FALSE(check(R"({"type": "number", "minimum": 1, "maximum": 6})", "6"));
  EXPECT_FALSE(check(R"({"type": "number", "minimum": 1, "maximum": 6})", "3.5"));
  auto lo = check(R"({"type": "number", "minimum": 1, "maximum": 6})", "0.5");
  ASSERT_TRUE(lo);
  EXPECT_NE(lo->find("at least"), std::string::npos) << *lo;
  auto hi = check(R"({"type": "number", "minimum": 1, "maximum": 6})", "7");
  ASSERT_TRUE(hi);
  EXPECT_NE(hi->find("at most"), std::string::npos) << *hi;
  EXPECT_TRUE(check(R"({"minimum": -1.5})", "-2"));
  EXPECT_TRUE(check(R"({"maximum": 0})", "18446744073709551615"));

  EXPECT_FALSE(check(R"({"type": "string", "minLength": 2, "maxLength": 3})", R"("ab")"));
  EXPECT_TRUE(check(R"({"type": "string", "minLength": 2})", R"("a")"));
  EXPECT_TRUE(check(R"({"type": "string", "maxLength": 3})", R"("abcd")"));
}

// JSON Schema: "both are numbers, and have the same mathematical value".
TEST(Schema, EnumAndConstCompareNumbersByValue) {
  EXPECT_FALSE(check(R"({"enum": [1, 2, 3]})", "2.0"));
  EXPECT_FALSE(check(R"({"const": 5})", "5.0"));
  EXPECT_FALSE(check(R"({"const": 5.0})", "5"));
  EXPECT_FALSE(check(R"({"const": 7})", "7"));
  EXPECT_TRUE(check(R"({"enum": [1, 2, 3]})", "2.5"));
  EXPECT_TRUE(check(R"({"enum": [1, 2, 3]})", R"("2")"));
}

// JSON Schema: minLength/maxLength count characters (code points), not UTF-8 bytes.
TEST(Schema, StringLengthsCountCodePoints) {
  EXPECT_FALSE(check(R"({"type": "string", "maxLength": 2})", R"("éé")"));
  EXPECT_FALSE(check(R"({"type": "string", "maxLength": 1})", R"("😀")"));
  EXPECT_TRUE(check(R"({"type": "string", "minLength": 2})", R"("é")"));
  EXPECT_TRUE(check(R"({"type": "string", "maxLength": 2})", R"("ééé")"));
}

TEST(Schema, Arrays) {
  const char* s = R"({"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1, "maxItems": 3})";
  EXPECT_FALSE(check(s, "[0, 1, 2]"));
  auto few = check(s, "[]");
  ASSERT_TRUE(few);
  EXPECT_NE(few->find("too few"), std::string::npos);
  auto many = check(s, "[1, 2, 3, 4]");
  ASSERT_TRUE(many);
  EXPECT_NE(many->find("too many"), std::string::npos);
  auto item = check(s, "[1, -1]");
  ASSERT_TRUE(item);
  EXPECT_NE(item->find("[1]"), std::string::npos) << *item;
  EXPECT_NE(item->find("at least"), std::string::npos) << *item;
  EXPECT_TRUE(check(R"({"items": false})", "[1]"));
  EXPECT_FALSE(check(R"({"items": false})", "[]"));
  // Objects inside arrays get full paths.
  auto deep = check(R"({"type": "object", "properties": {"pts": {"type": "array", "items": {"type": "object",
                        "properties": {"x": {"type": "number"}}}}}})",
                    R"({"pts": [{"x": 1}, {"x": "one"}]})");
  ASSERT_TRUE(deep);
  EXPECT_NE(deep->find("pts[1].x"), std::string::npos) << *deep;
}

// ---- protocol versions ------------------------------------------------------------------------

TEST(Protocol, NegotiateVersion) {
  for (auto v : kSupportedVersions) {
    EXPECT_TRUE(is_supported_version(v));
    // initialize belongs to the stateful era: a stateless version negotiates to our newest
    // stateful one.
    EXPECT_EQ(negotiate_version(v), is_stateless_version(v) ? kLatestStatefulVersion : v);
  }
  EXPECT_TRUE(is_stateless_version("2026-07-28"));
  EXPECT_FALSE(is_stateless_version("2025-11-25"));
  EXPECT_FALSE(is_stateless_version("2099-01-01"));  // unknown versions are no era at all
  EXPECT_EQ(negotiate_version("2099-01-01"), kLatestStatefulVersion);
  EXPECT_EQ(negotiate_version("2024-10-07"), kLatestStatefulVersion);
  EXPECT_EQ(negotiate_version(""), kLatestStatefulVersion);
  EXPECT_EQ(negotiate_version("2025-06-18 "), kLatestStatefulVersion);
  EXPECT_EQ(supported_versions_json().size(), kSupportedVersions.size());
  EXPECT_EQ(supported_versions_text(), "2026-07-28, 2025-11-25, 2025-06-18, 2025-03-26, 2024-11-05");
  EXPECT_FALSE(is_supported_version("2025-06-19"));
  EXPECT_TRUE(is_supported_version(kDefaultVersion));
  EXPECT_EQ(kSupportedVersions.front(), kLatestVersion);
}

TEST(Protocol, FeaturesGatedByVersion) {
  auto v1 = features_of("2024-11-05");
  EXPECT_FALSE(v1.audio_content);
  EXPECT_FALSE(v1.tool_annotations);
  EXPECT_FALSE(v1.progress_message);
  EXPECT_FALSE(v1.structured_content);
  EXPECT_FALSE(v1.titles);
  EXPECT_FALSE(v1.elicitation);
  EXPECT_FALSE(v1.icons);
  EXPECT_FALSE(v1.validation_is_tool_error);

  auto v2 = features_of("2025-03-26");
  EXPECT_TRUE(v2.audio_content);
  EXPECT_TRUE(v2.tool_annotations);
  EXPECT_TRUE(v2.progress_message);
  EXPECT_FALSE(v2.structured_content);
  EXPECT_FALSE(v2.resource_links);
  EXPECT_FALSE(v2.elicitation);
  EXPECT_FALSE(v2.validation_is_tool_error);

  auto v3 = features_of("2025-06-18");
  EXPECT_TRUE(v3.audio_content);
  EXPECT_TRUE(v3.structured_content);
  EXPECT_TRUE(v3.resource_links);
  EXPECT_TRUE(v3.titles);
  EXPECT_TRUE(v3.elicitation);
  EXPECT_TRUE(v3.completion_context);
  EXPECT_FALSE(v3.icons);
  EXPECT_FALSE(v3.validation_is_tool_error);

  auto v4 = features_of("2025-11-25");
  EXPECT_TRUE(v4.structured_content);
  EXPECT_TRUE(v4.elicitation);
  EXPECT_TRUE(v4.icons);
  EXPECT_TRUE(v4.validation_is_tool_error);
}
