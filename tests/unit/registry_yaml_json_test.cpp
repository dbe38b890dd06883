// registry/yaml_json: YAML 1.2 core-schema resolution of plain scalars, quoted scalars staying
// strings, error positions, and to_yaml round trips of values that are easy to get wrong.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include <boost/json.hpp>

#include "registry/yaml_json.hpp"

using namespace wasimancer;
using namespace wasimancer::registry;
namespace json = boost::json;

namespace {

json::value parse_ok(std::string_view text) {
  auto r = parse_yaml(text);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message) << "\n--- text ---\n" << text;
  return r.ok() ? *r : json::value();
}

// The value of key "v" in the one-line document "v: <scalar>".
json::value scalar(const std::string& s) {
  json::value doc = parse_ok("v: " + s + "\n");
  if (!doc.is_object() || !doc.as_object().contains("v")) {
    ADD_FAILURE() << "no key v for " << s;
    return {};
  }
  return doc.as_object().at("v");
}

void expect_round_trip(const json::value& v) {
  std::string y = to_yaml(v);
  auto back = parse_yaml(y);
  ASSERT_TRUE(back.ok()) << back.error().message << "\n--- yaml ---\n" << y;
  EXPECT_EQ(*back, v) << "value: " << json::serialize(v) << "\n--- yaml ---\n" << y << "--- read back ---\n"
                      << json::serialize(*back);
}

}  // namespace

TEST(YamlParse, PlainBooleansAndNulls) {
  for (const char* t : {"true", "True", "TRUE"}) EXPECT_EQ(scalar(t), json::value(true)) << t;
  for (const char* f : {"false", "False", "FALSE"}) EXPECT_EQ(scalar(f), json::value(false)) << f;
  for (const char* n : {"null", "Null", "NULL", "~"}) EXPECT_TRUE(scalar(n).is_null()) << n;
  // An empty value is null too.
  json::value doc = parse_ok("v:\n");
  EXPECT_TRUE(doc.as_object().at("v").is_null());
  // YAML 1.1 words are plain strings in 1.2's core schema.
  for (const char* s : {"yes", "no", "on", "off", "y", "n"}) {
    json::value v = scalar(s);
    ASSERT_TRUE(v.is_string()) << s;
    EXPECT_EQ(v.as_string(), s);
  }
}

TEST(YamlParse, QuotedScalarsStayStrings) {
  for (const char* q : {"\"true\"", "'false'", "\"null\"", "'~'", "\"123\"", "'0x1F'", "\"1.5\"", "''", "\"\""}) {
    json::value v = scalar(q);
    ASSERT_TRUE(v.is_string()) << q << " -> " << json::serialize(v);
    std::string inner(q + 1, std::char_traits<char>::length(q) - 2);
    EXPECT_EQ(v.as_string(), inner) << q;
  }
  // An explicit !!str tag too.
  json::value v = scalar("!!str 42");
  ASSERT_TRUE(v.is_string()) << json::serialize(v);
  EXPECT_EQ(v.as_string(), "42");
}

TEST(YamlParse, Integers) {
  EXPECT_EQ(scalar("0"), json::value(0));
  EXPECT_TRUE(scalar("42").is_int64());
  EXPECT_EQ(scalar("42").as_int64(), 42);
  EXPECT_EQ(scalar("-17").as_int64(), -17);
  EXPECT_EQ(scalar("+5").as_int64(), 5);
  // Core schema: hex 0x, octal 0o; a leading zero is still decimal.
  EXPECT_EQ(scalar("0x1F").as_int64(), 31);
  EXPECT_EQ(scalar("0xff").as_int64(), 255);
  EXPECT_EQ(scalar("0o17").as_int64(), 15);
  EXPECT_EQ(scalar("017").as_int64(), 17);
  // Not numbers.
  for (const char* s : {"0o9", "0xZZ", "1_000", "12abc", "0b101"}) {
    json::value v = scalar(s);
    EXPECT_TRUE(v.is_string()) << s << " -> " << json::serialize(v);
  }
}

TEST(YamlParse, BigIntegers) {
  json::value max64 = scalar("9223372036854775807");
  ASSERT_TRUE(max64.is_int64());
  EXPECT_EQ(max64.as_int64(), std::numeric_limits<int64_t>::max());
  json::value min64 = scalar("-9223372036854775808");
  ASSERT_TRUE(min64.is_int64());
  EXPECT_EQ(min64.as_int64(), std::numeric_limits<int64_t>::min());
  // Above INT64_MAX: exact as uint64.
  json::value big = scalar("18446744073709551615");
  ASSERT_TRUE(big.is_uint64()) << json::serialize(big);
  EXPECT_EQ(big.as_uint64(), std::numeric_limits<uint64_t>::max());
  json::value big2 = scalar("9223372036854775808");
  ASSERT_TRUE(big2.is_uint64());
  EXPECT_EQ(big2.as_uint64(), 9223372036854775808ull);
  // Beyond 64 bits: still a number (approximated), never a string or an error.
  json::value huge = scalar("123456789012345678901234567890");
  ASSERT_TRUE(huge.is_double()) << json::serialize(huge);
  EXPECT_NEAR(huge.as_double(), 1.2345678901234568e29, 1e15);
  json::value neg_huge = scalar("-99999999999999999999");
  ASSERT_TRUE(neg_huge.is_double()) << json::serialize(neg_huge);
  EXPECT_LT(neg_huge.as_double(), -9e19);
}

TEST(YamlParse, Floats) {
  ASSERT_TRUE(scalar("1.5").is_double());
  EXPECT_DOUBLE_EQ(scalar("1.5").as_double(), 1.5);
  EXPECT_DOUBLE_EQ(scalar("-0.25").as_double(), -0.25);
  EXPECT_DOUBLE_EQ(scalar(".5").as_double(), 0.5);
  EXPECT_DOUBLE_EQ(scalar("1e3").as_double(), 1000.0);
  EXPECT_DOUBLE_EQ(scalar("2.5E-2").as_double(), 0.025);
  EXPECT_DOUBLE_EQ(scalar("3.").as_double(), 3.0);
  EXPECT_TRUE(scalar("1.0").is_double());
}

TEST(YamlParse, VersionLikeAndOtherTextStayStrings) {
  for (const char* s : {"1.0.0", "v1", "1.2.3-beta", "127.0.0.1", "12:30", "hello world", "a-b"}) {
    json::value v = scalar(s);
    ASSERT_TRUE(v.is_string()) << s << " -> " << json::serialize(v);
    EXPECT_EQ(v.as_string(), s);
  }
}

TEST(YamlParse, DocumentStructure) {
  json::value doc = parse_ok(R"(
plugins:
  - name: roll dice
    version: 1.0.0
    functions:
      - function: rollDice
        arguments:
          - {name: numFaces, type: number}
    count: 3
    tags: [a, "1", 2]
other: {x: null}
)");
  json::value expected = json::parse(R"({
    "plugins": [{"name": "roll dice", "version": "1.0.0",
                 "functions": [{"function": "rollDice", "arguments": [{"name": "numFaces", "type": "number"}]}],
                 "count": 3, "tags": ["a", "1", 2]}],
    "other": {"x": null}})");
  EXPECT_EQ(doc, expected) << json::serialize(doc);
}

TEST(YamlParse, EmptyDocumentIsNull) {
  EXPECT_TRUE(parse_ok("").is_null());
  EXPECT_TRUE(parse_ok("# just a comment\n").is_null());
}

TEST(YamlParse, ErrorsCarryLineAndColumn) {
  // Line and column are 1-based.
  struct Case {
    const char* text;
    const char* where;
  } cases[] = {
      {"a: 1\nb: 2\nc: [1, 2\n", "line 4, column 1"},    // an unclosed flow sequence: found where the input ends
      {"a:\n  b: 1\n c: 2\n", "line 3"},                 // a bad indentation: line 3, not 2
      {"ok: 1\n- item\n", "line 2"},                     // a list item inside a map
      {"a: b: c\n", "line 1, column 5"},                 // the second ':'
      {"x: 1\ny: \"bad \\q escape\"\n", "line 2"},       // an unknown escape
  };
  for (const auto& c : cases) {
    auto r = parse_yaml(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.error().kind, ErrorKind::InvalidArgument) << c.text;
    EXPECT_NE(r.error().message.find(c.where), std::string::npos) << c.text << " -> " << r.error().message;
  }
}

TEST(YamlWrite, RoundTripsTrickyStrings) {
  const char* strings[] = {
      "true", "false", "True", "null", "Null", "~", "123", "-5", "+5", "0x1F", "0o17", "017", "1.5", "1e3", ".5",
      "1.0.0", "", " ", "a: b", "a:b", "key:", "# x", "a #b", "- item", "-", "? q", "[x]", "{x}", "x, y", "'single'",
      "\"double\"", "it's", "say \"hi\"", "@at", "`tick", "%pct", "&anchor", "*alias", "!tag", "|", ">",
      "line1\nline2", "line1\nline2\n", "trailing\n\n", "\nleading newline", "  leading spaces", "trailing spaces  ",
      "  both  ", "tab\there", "\t", "back\\slash", "ünïcødé ✓", "日本語", "emoji 😀", "null\n", "---", "...",
      "- ", "a\r\nb", "control \x01 char", "yes", "no", "on", "off"};
  for (const char* s : strings) {
    SCOPED_TRACE(s);
    expect_round_trip(json::value(s));
    // As a key and as a value in a map, and inside a list.
    expect_round_trip(json::object{{s, s}});
    expect_round_trip(json::array{s, 1, s});
  }
}

TEST(YamlWrite, RoundTripsScalarsOfEveryKind) {
  expect_round_trip(nullptr);
  expect_round_trip(true);
  expect_round_trip(false);
  expect_round_trip(0);
  expect_round_trip(-42);
  expect_round_trip(std::numeric_limits<int64_t>::min());
  expect_round_trip(std::numeric_limits<int64_t>::max());
  expect_round_trip(std::numeric_limits<uint64_t>::max());
  expect_round_trip(1.5);
  expect_round_trip(-0.001);
  expect_round_trip(1.0);
  expect_round_trip(1e300);
  expect_round_trip(123456.789);
}

TEST(YamlWrite, RoundTripsNestedStructures) {
  json::value v = json::parse(R"({
    "plugins": [
      {"name": "roll dice", "path": "./x.wasm", "version": "1.0.0", "config": {"A": "1", "B": "true", "C": ""},
       "functions": [{"function": "f", "arguments": [], "inputSchema": {"type": "object", "properties": {}}}],
       "empty_obj": {}, "empty_list": [], "nested": [[1, [2, []]], {"a": {"b": {"c": null}}}]}
    ],
    "": "empty key",
    "123": "numeric key",
    "true": false,
    "multi": "a\nb\nc"
  })");
  expect_round_trip(v);
  expect_round_trip(json::array{});
  expect_round_trip(json::object{});
  expect_round_trip(json::array{json::array{}, json::object{}, json::array{json::array{nullptr}}});
}

TEST(YamlWrite, QuotesOnlyWhatNeedsIt) {
  // Plain identifiers are written plainly (the file stays readable), keywords and numbers quoted.
  std::string y = to_yaml(json::object{{"name", "roll dice"}, {"version", "1.0.0"}, {"flag", "true"}, {"n", "42"}});
  EXPECT_NE(y.find("name: roll dice"), std::string::npos) << y;
  EXPECT_NE(y.find("version: 1.0.0"), std::string::npos) << y;
  EXPECT_EQ(y.find("flag: true"), std::string::npos) << y;
  EXPECT_EQ(y.find("n: 42"), std::string::npos) << y;
  EXPECT_EQ(y.back(), '\n');
}

// The scalar resolver used std::regex, which recursed once per character: a long run of digits
// (a description of a million digits, say, written by the admin API and read back) overflowed
// the stack.
TEST(YamlParse, HugeScalarsResolveWithoutRecursion) {
  for (size_t n : {size_t(100000), size_t(2) << 20}) {
    std::string digits(n, '7');
    auto v = parse_yaml("a: " + digits + "\nb: " + digits + ".5e3\nc: 0x" + std::string(n, 'f') + "\nd: 0o" + digits + "\n");
    ASSERT_TRUE(v) << v.error().message;
    // Too large for any integer type: kept as text; as a float, infinite: text as well.
    EXPECT_TRUE(v->at("a").is_string());
    EXPECT_EQ(v->at("a").as_string().size(), n);
    EXPECT_TRUE(v->at("c").is_string());
    EXPECT_TRUE(v->at("d").is_string());
    // And a string of them round-trips through the writer (which asks the resolver).
    json::value doc = json::object{{"description", digits}};
    auto back = parse_yaml(to_yaml(doc));
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back->at("description"), doc.at("description"));
  }
}

TEST(YamlParse, NumberShapesMatchTheYamlCoreSchema) {
  struct Case {
    const char* text;
    json::kind kind;
  };
  for (auto c : {Case{"12", json::kind::int64}, Case{"+12", json::kind::int64}, Case{"-12", json::kind::int64},
                 Case{"0x1F", json::kind::int64}, Case{"0o17", json::kind::int64}, Case{"1.5", json::kind::double_},
                 Case{".5", json::kind::double_}, Case{"5.", json::kind::double_}, Case{"-1e3", json::kind::double_},
                 Case{"1E+3", json::kind::double_}, Case{"1e", json::kind::string}, Case{".", json::kind::string},
                 Case{"+", json::kind::string}, Case{"0x", json::kind::string}, Case{"0o8", json::kind::string},
                 Case{"1.2.3", json::kind::string}, Case{"12a", json::kind::string}, Case{"e5", json::kind::string},
                 Case{"-.5", json::kind::double_}, Case{"1e+", json::kind::string}}) {
    auto v = parse_yaml(std::string("v: ") + c.text);
    ASSERT_TRUE(v) << c.text;
    EXPECT_EQ(v->at("v").kind(), c.kind) << c.text;
  }
}

// Found by fuzz_yaml: a byte that is not UTF-8 in a scalar came back as U+FFFD after a rewrite
// (the server changed the user's text). Such a document is refused, with the place.
TEST(YamlParse, TextThatIsNotUtf8IsRefused) {
  for (std::string doc : {std::string("a: x\nuri: greet\xAD" "user://{a}\n"), std::string("k\xFF: v\n"), std::string("- \xC0\xAF\n"),
                          std::string("a: \"\xED\xA0\x80\"\n")}) {
    auto v = parse_yaml(doc);
    ASSERT_FALSE(v) << doc;
    EXPECT_NE(v.error().message.find("not valid UTF-8"), std::string::npos) << v.error().message;
    EXPECT_NE(v.error().message.find("line"), std::string::npos) << v.error().message;
  }
  auto ok = parse_yaml("a: \"déjà vu 😀\"\n");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->at("a"), json::value("déjà vu 😀"));
}

// Found by fuzz_yaml: yaml-cpp's writer turned Unicode noncharacters (U+FDD0-FDEF, U+xFFFE and
// U+xFFFF) into U+FFFD when it escaped a string, so a text stored through the admin API came
// back changed after a restart.
TEST(YamlWrite, NoncharactersRoundTrip) {
  for (std::string s : {std::string("\x01\xEF\xBF\xBF"), std::string("a\xEF\xB7\x90" "b\n"), std::string("\xF0\x9F\xBF\xBE\t"),
                        std::string("\xEF\xBF\xBE"), std::string("x\xF4\x8F\xBF\xBF")}) {
    json::value doc = json::object{{"text", s}, {"list", json::array{json::string(s)}}};
    std::string y = to_yaml(doc);
    auto back = parse_yaml(y);
    ASSERT_TRUE(back) << y;
    EXPECT_EQ(*back, doc) << y;
    EXPECT_EQ(y.find("WMNC"), std::string::npos) << y;
  }
  // Text that looks like the writer's placeholders stays as it is.
  json::value tricky = json::object{{"WMNC00ffffx", "WMNCxx00fffe \xEF\xBF\xBF WMNC"}};
  auto back = parse_yaml(to_yaml(tricky));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, tricky);
}

// Found by fuzz_yaml: a key whose escaped form is longer than YAML's 1024-character limit for an
// implicit key (300 control characters, each written as "\x11") did not read back. Long keys are
// written as explicit keys ("? key").
TEST(YamlWrite, LongKeysRoundTrip) {
  for (std::string key : {std::string(300, '\x11'), std::string(2000, 'k'), std::string(129, '\x01') + "x", std::string(128, 'a')}) {
    json::value doc = json::object{{"plugins", json::array{json::object{{key, 1}, {"b", true}}}}, {key, json::object{{key, key}}}};
    std::string y = to_yaml(doc);
    auto back = parse_yaml(y);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(*back, doc) << key.size();
  }
}
