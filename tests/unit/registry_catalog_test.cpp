// registry/catalog: URI templates, substitution, resource and prompt validation, and the
// ResourceCatalog / PromptCatalog managers backed by a YAML file.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "registry/catalog.hpp"
#include "registry/yaml_json.hpp"
#include "temp_dir.hpp"

using namespace wasimancer;
using namespace wasimancer::registry;
using test::slurp;
using test::spit;
using test::TempDir;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

json::value js(std::string_view s) { return json::parse(s); }

json::value static_res(const std::string& name, const std::string& uri, const std::string& text = "hello") {
  return json::object{{"name", name}, {"uri", uri}, {"contents", json::array{json::object{{"text", text}}}}};
}

json::value dynamic_res(const std::string& name, const std::string& uri) {
  return json::object{{"name", name},
                      {"uri", uri},
                      {"arguments", json::array{json::object{{"name", "firstName"}, {"type", "string"}}}},
                      {"contents", json::array{json::object{{"text", "Hello ${firstName}"}}}}};
}

json::value prompt(const std::string& name, const std::string& text = "Say ${x}") {
  return json::object{{"name", name},
                      {"arguments", json::array{json::object{{"name", "x"}, {"type", "string"}}}},
                      {"messages", json::array{json::object{{"role", "user"}, {"text", text}}}}};
}

std::vector<std::string> names_of(const ResourceSnapshot& s) {
  std::vector<std::string> out;
  for (const auto& i : s.items) out.push_back(i->name);
  return out;
}

std::vector<std::string> names_of(const PromptSnapshot& s) {
  std::vector<std::string> out;
  for (const auto& i : s.items) out.push_back(i->name);
  return out;
}

}  // namespace

// ---- URI templates --------------------------------------------------------------------------

TEST(UriTemplate, MatchesLevelOneVariables) {
  std::map<std::string, std::string> vars;
  ASSERT_TRUE(match_uri_template("greet-user://{firstName}/{lastName}", "greet-user://Bob/Morane", &vars));
  EXPECT_EQ(vars, (std::map<std::string, std::string>{{"firstName", "Bob"}, {"lastName", "Morane"}}));

  vars.clear();
  ASSERT_TRUE(match_uri_template("file:///docs/{name}.md", "file:///docs/readme.md", &vars));
  EXPECT_EQ(vars["name"], "readme");

  vars.clear();
  ASSERT_TRUE(match_uri_template("x://{a}-{b}", "x://one-two", &vars));
  EXPECT_EQ(vars["a"], "one");
  EXPECT_EQ(vars["b"], "two");

  // A null vars pointer is fine.
  EXPECT_TRUE(match_uri_template("x://{a}", "x://1", nullptr));
}

TEST(UriTemplate, VariablesNeverSpanSlashesAndAreNonEmpty) {
  std::map<std::string, std::string> vars;
  EXPECT_FALSE(match_uri_template("greet-user://{firstName}/{lastName}", "greet-user://Bob/Morane/Jr", &vars));
  EXPECT_FALSE(match_uri_template("x://{a}", "x://a/b", &vars));
  EXPECT_FALSE(match_uri_template("x://{a}", "x://", &vars));
  EXPECT_FALSE(match_uri_template("x://{a}/{b}", "x:///b", &vars));
  EXPECT_FALSE(match_uri_template("x://{a}/end", "x://a/b/end", &vars));
  // Prefix and suffix must match exactly.
  EXPECT_FALSE(match_uri_template("x://{a}", "y://a", &vars));
  EXPECT_FALSE(match_uri_template("x://{a}.md", "x://a.mdx", &vars));
  EXPECT_FALSE(match_uri_template("x://{a}", "prefix-x://a", &vars));
}

TEST(UriTemplate, PercentDecodesValues) {
  std::map<std::string, std::string> vars;
  ASSERT_TRUE(match_uri_template("greet://{name}", "greet://Jos%C3%A9%20Mar%c3%ada", &vars));
  EXPECT_EQ(vars["name"], "José María");
  vars.clear();
  // An encoded slash is part of one value (it was not a separator in the URI).
  ASSERT_TRUE(match_uri_template("x://{a}/{b}", "x://a%2Fb/c", &vars));
  EXPECT_EQ(vars["a"], "a/b");
  EXPECT_EQ(vars["b"], "c");
  vars.clear();
  // Malformed escapes are kept as they are.
  ASSERT_TRUE(match_uri_template("x://{a}", "x://100%", &vars));
  EXPECT_EQ(vars["a"], "100%");
  vars.clear();
  ASSERT_TRUE(match_uri_template("x://{a}", "x://%zz%4", &vars));
  EXPECT_EQ(vars["a"], "%zz%4");
  vars.clear();
  ASSERT_TRUE(match_uri_template("x://{a}", "x://%41", &vars));
  EXPECT_EQ(vars["a"], "A");
}

TEST(UriTemplate, RegexCharactersInTemplatesAreLiteral) {
  std::map<std::string, std::string> vars;
  ASSERT_TRUE(match_uri_template("a.b+c://(x)[y]*?^$|\\/{v}", "a.b+c://(x)[y]*?^$|\\/val", &vars));
  EXPECT_EQ(vars["v"], "val");
  // '.' is not "any character", '+' not "one or more".
  EXPECT_FALSE(match_uri_template("a.b://{v}", "aXb://v", &vars));
  EXPECT_FALSE(match_uri_template("ab+://{v}", "abbb://v", &vars));
  EXPECT_FALSE(match_uri_template("x://(a|b)/{v}", "x://a/v", &vars));
  EXPECT_TRUE(match_uri_template("x://(a|b)/{v}", "x://(a|b)/v", &vars));
  EXPECT_TRUE(match_uri_template("x://{v}?q=1", "x://thing?q=1", &vars));
  EXPECT_FALSE(match_uri_template("x://{v}?q=1", "x://thingq=1", &vars));
}

TEST(UriTemplate, NoVariablesMeansEquality) {
  EXPECT_TRUE(match_uri_template("config://app", "config://app", nullptr));
  EXPECT_FALSE(match_uri_template("config://app", "config://apps", nullptr));
  EXPECT_FALSE(match_uri_template("config://app", "config://ap", nullptr));
}

// The former std::regex matcher recursed once per character: a 30,000-character URI (or
// 100,000 on a bigger stack) overflowed the stack and killed the server.
TEST(UriTemplate, HugeUrisAreRefusedWithoutRecursion) {
  std::map<std::string, std::string> vars;
  for (size_t n : {size_t(30000), size_t(100000), size_t(1000000), size_t(4) << 20}) {
    std::string uri = "greet-user://" + std::string(n, 'a') + "/b";
    EXPECT_FALSE(match_uri_template("greet-user://{firstName}/{lastName}", uri, &vars)) << n;
    std::string slashes = "greet-user://";
    for (size_t i = 0; i < n / 2; ++i) slashes += "a/";
    EXPECT_FALSE(match_uri_template("greet-user://{firstName}/{lastName}", slashes, &vars)) << n;
  }
  EXPECT_TRUE(vars.empty());
  // A template longer than the limit never matches either.
  std::string long_tmpl = "x://" + std::string(kMaxUriTemplateLength, 'a') + "{v}";
  EXPECT_FALSE(match_uri_template(long_tmpl, "x://" + std::string(kMaxUriTemplateLength, 'a') + "v", nullptr));
}

TEST(UriTemplate, LongUrisWithinTheLimitMatchInLinearTime) {
  // Just under the limit: values of thousands of characters, and a literal that occurs at every
  // position (the worst case for a backtracking matcher).
  std::map<std::string, std::string> vars;
  std::string first(kMaxUriLength / 2 - 20, 'a'), last(kMaxUriLength / 2 - 20, 'b');
  ASSERT_TRUE(match_uri_template("greet-user://{firstName}/{lastName}", "greet-user://" + first + "/" + last, &vars));
  EXPECT_EQ(vars["firstName"], first);
  EXPECT_EQ(vars["lastName"], last);
  std::string dashes(kMaxUriLength - 100, '-');
  vars.clear();
  ASSERT_TRUE(match_uri_template("x://{a}-{b}-{c}", "x://" + dashes, &vars));
  EXPECT_EQ(vars["a"], "-");
  EXPECT_EQ(vars["b"], "-");
  EXPECT_EQ(vars["c"], dashes.substr(4));
  EXPECT_FALSE(match_uri_template("x://{a}-{b}-{c}/end", "x://" + dashes + "/nope", nullptr));
}

namespace {

// The reference semantics, by exhaustive backtracking (small inputs only): each variable takes
// one or more characters other than '/', the leftmost variable as few as possible.
bool reference_match(std::string_view t, std::string_view u, std::vector<std::string>* values) {
  if (t.empty()) return u.empty();
  if (t[0] != '{') return !u.empty() && u[0] == t[0] && reference_match(t.substr(1), u.substr(1), values);
  size_t close = t.find('}');
  for (size_t len = 1; len <= u.size() && u[len - 1] != '/'; ++len) {
    size_t mark = values->size();
    values->emplace_back(u.substr(0, len));
    if (reference_match(t.substr(close + 1), u.substr(len), values)) return true;
    values->resize(mark);
  }
  return false;
}

}  // namespace

TEST(UriTemplate, AgreesWithBacktrackingReference) {
  // Every template and URI over a small alphabet: the linear matcher and the reference agree on
  // whether they match and on every value.
  const std::vector<std::string> templates = {"{a}",         "{a}/{b}",     "{a}-{b}",      "{a}{b}",        "x{a}x{b}x",
                                              "{a}/x/{b}",   "{a}x/{b}",    "{a}/-{b}-",    "-{a}--{b}/{c}", "{a}-/{b}",
                                              "{a}x{b}/x",   "/{a}/",       "{a}{b}{c}"};
  const std::string alphabet = "x-/";
  std::vector<std::string> uris = {""};
  for (size_t len = 1; len <= 7; ++len) {
    std::vector<std::string> next;
    for (const auto& u : uris) {
      if (u.size() == len - 1) {
        for (char c : alphabet) next.push_back(u + c);
      }
    }
    uris.insert(uris.end(), next.begin(), next.end());
  }
  size_t matched = 0;
  for (const auto& t : templates) {
    std::vector<std::string> names;
    for (size_t i = t.find('{'); i != std::string::npos; i = t.find('{', i + 1)) names.push_back(t.substr(i + 1, t.find('}', i) - i - 1));
    for (const auto& u : uris) {
      std::vector<std::string> want;
      bool expect = reference_match(t, u, &want);
      std::map<std::string, std::string> got;
      ASSERT_EQ(match_uri_template(t, u, &got), expect) << t << " vs " << u;
      if (!expect) continue;
      ++matched;
      for (size_t i = 0; i < names.size(); ++i) EXPECT_EQ(got[names[i]], want[i]) << t << " vs " << u << " var " << names[i];
    }
  }
  EXPECT_GT(matched, 100u);
}

TEST(ResourceSpecParse, UriLongerThanTheLimitIsRefused) {
  auto ok = parse_resource_spec(dynamic_res("r", "x://" + std::string(kMaxUriLength - 20, 'a') + "{firstName}"), true);
  EXPECT_TRUE(ok) << ok.error().message;
  auto r = parse_resource_spec(dynamic_res("r", "x://" + std::string(kMaxUriLength, 'a') + "{firstName}"), true);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("longer than"), std::string::npos) << r.error().message;
}

TEST(Substitute, ReplacesKnownNamesOnly) {
  std::map<std::string, std::string> vars{{"a", "1"}, {"name", "Bob"}, {"empty", ""}};
  EXPECT_EQ(substitute("Hello ${name}!", vars), "Hello Bob!");
  EXPECT_EQ(substitute("${a}${a}-${name}", vars), "11-Bob");
  EXPECT_EQ(substitute("x${empty}y", vars), "xy");
  EXPECT_EQ(substitute("keep ${unknown} and $name and ${", vars), "keep ${unknown} and $name and ${");
  EXPECT_EQ(substitute("$${a}", vars), "$1");
  EXPECT_EQ(substitute("", vars), "");
  // Values are not substituted again.
  EXPECT_EQ(substitute("${x}", {{"x", "${a}"}, {"a", "no"}}), "${a}");
}

// ---- validation -------------------------------------------------------------------------------

TEST(ResourceSpecParse, StaticAndDynamic) {
  auto s = parse_resource_spec(js(R"({"name": "info", "uri": "config://info", "title": "T", "description": "D",
      "mimeType": "text/plain", "contents": [{"text": "x"}, {"blob": "aGVsbG8="}], "extra": 1})"), false);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->name, "info");
  EXPECT_EQ(s->uri, "config://info");
  EXPECT_FALSE(s->dynamic);
  EXPECT_EQ(s->title, "T");
  EXPECT_EQ(s->description, "D");
  EXPECT_EQ(s->mime_type, "text/plain");
  EXPECT_EQ(s->contents.size(), 2u);
  EXPECT_TRUE(s->raw.contains("extra"));

  auto d = parse_resource_spec(js(R"({"name": "greet", "uri": "greet://{firstName}",
      "arguments": [{"name": "firstName", "type": "string", "values": ["Bob", "Bill"], "required": false}],
      "contents": [{"text": "Hello ${firstName}"}]})"), true);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_TRUE(d->dynamic);
  ASSERT_EQ(d->arguments.size(), 1u);
  EXPECT_EQ(d->arguments[0].name, "firstName");
  EXPECT_EQ(d->arguments[0].values, (std::vector<std::string>{"Bob", "Bill"}));
  EXPECT_FALSE(d->arguments[0].required);
}

TEST(ResourceSpecParse, Rejections) {
  struct Case {
    const char* json;
    bool dynamic;
    const char* needle;
  } cases[] = {
      {R"({"uri": "a://b", "contents": [{"text": "x"}]})", false, "\"name\""},
      {R"({"name": "r", "contents": [{"text": "x"}]})", false, "\"uri\""},
      {R"({"name": "r", "uri": "a://{x}", "contents": [{"text": "x"}]})", false, "{variables}"},
      {R"({"name": "r", "uri": "a://x", "contents": [{"text": "x"}]})", true, "template"},
      {R"({"name": "r", "uri": "no-scheme", "contents": [{"text": "x"}]})", false, "no scheme"},
      {R"({"name": "r", "uri": "a://b"})", false, "\"contents\""},
      {R"({"name": "r", "uri": "a://b", "contents": []})", false, "\"contents\""},
      {R"({"name": "r", "uri": "a://b", "contents": [{}]})", false, "contents[0]"},
      {R"({"name": "r", "uri": "a://b", "contents": [{"text": "x", "blob": "eA=="}]})", false, "exactly one"},
      {R"({"name": "r", "uri": "a://b", "contents": [{"text": 5}]})", false, "\"text\""},
      {R"({"name": "r", "uri": "a://b", "contents": [{"blob": "not base64!"}]})", false, "\"blob\""},
      {R"({"name": "r", "uri": "a://b", "title": 3, "contents": [{"text": "x"}]})", false, "\"title\""},
      {R"({"name": "r", "uri": "a://{x}", "arguments": [{"name": "x"}, {"name": "x"}], "contents": [{"text": "x"}]})", true,
       "duplicate"},
      {R"({"name": "r", "uri": "a://{x}", "arguments": [{"type": "string"}], "contents": [{"text": "x"}]})", true,
       "arguments[0]"},
      {R"({"name": "r", "uri": "a://{x}", "arguments": [{"name": "x", "values": [1]}], "contents": [{"text": "x"}]})", true,
       "\"values\""},
      {R"({"name": "r", "uri": "a://{x}", "arguments": [{"name": "x", "required": "no"}], "contents": [{"text": "x"}]})",
       true, "\"required\""},
  };
  for (const auto& c : cases) {
    auto r = parse_resource_spec(js(c.json), c.dynamic);
    ASSERT_FALSE(r.ok()) << c.json;
    EXPECT_EQ(r.error().kind, ErrorKind::InvalidArgument);
    EXPECT_NE(r.error().message.find(c.needle), std::string::npos) << c.json << " -> " << r.error().message;
  }
  EXPECT_FALSE(parse_resource_spec(json::value(1), false).ok());
}

TEST(PromptSpecParse, AcceptsAndRejects) {
  auto p = parse_prompt_spec(js(R"({"name": "greet", "title": "G", "description": "D",
      "arguments": [{"name": "x", "required": false}],
      "messages": [{"role": "user", "text": "hi ${x}"},
                   {"role": "assistant", "content": {"type": "image", "data": "AA==", "mimeType": "image/png"}},
                   {"role": "user", "content": {"type": "resource_link", "uri": "a://b", "name": "b"}}]})"));
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->name, "greet");
  EXPECT_EQ(p->title, "G");
  EXPECT_EQ(p->messages.size(), 3u);
  ASSERT_EQ(p->arguments.size(), 1u);
  EXPECT_FALSE(p->arguments[0].required);

  struct Case {
    const char* json;
    const char* needle;
  } cases[] = {
      {R"({"messages": [{"role": "user", "text": "x"}]})", "\"name\""},
      {R"({"name": "p"})", "\"messages\""},
      {R"({"name": "p", "messages": []})", "\"messages\""},
      {R"({"name": "p", "messages": [{"role": "system", "text": "x"}]})", "\"role\""},
      {R"({"name": "p", "messages": [{"text": "x"}]})", "\"role\""},
      {R"({"name": "p", "messages": [{"role": "user"}]})", "exactly one"},
      {R"({"name": "p", "messages": [{"role": "user", "text": "x", "content": {"type": "text", "text": "y"}}]})", "exactly one"},
      {R"({"name": "p", "messages": [{"role": "user", "text": 1}]})", "\"text\""},
      {R"({"name": "p", "messages": [{"role": "user", "content": "x"}]})", "\"content\""},
      {R"({"name": "p", "messages": [{"role": "user", "content": {"type": "video"}}]})", "content.type"},
      {R"({"name": "p", "messages": [{"role": "user", "content": {}}]})", "content.type"},
      {R"({"name": "p", "arguments": [{"name": "a"}, {"name": "a"}], "messages": [{"role": "user", "text": "x"}]})",
       "duplicate"},
      {R"({"name": "p", "messages": [{"role": "user", "text": "x"}, 5]})", "messages[1]"},
  };
  for (const auto& c : cases) {
    auto r = parse_prompt_spec(js(c.json));
    ASSERT_FALSE(r.ok()) << c.json;
    EXPECT_EQ(r.error().kind, ErrorKind::InvalidArgument);
    EXPECT_NE(r.error().message.find(c.needle), std::string::npos) << c.json << " -> " << r.error().message;
  }
}

// ---- ResourceCatalog ---------------------------------------------------------------------------

TEST(ResourceCatalog, AddUpdateRemovePersistAndReload) {
  TempDir dir;
  fs::path file = dir.path() / "resources.yml";
  ResourceCatalog cat(file);
  ASSERT_TRUE(cat.load(false).ok());  // missing file: empty
  EXPECT_TRUE(cat.snapshot()->items.empty());

  auto a = cat.add(static_res("info", "config://info", "version 1"));
  ASSERT_TRUE(a.ok()) << a.error().message;
  auto b = cat.add(dynamic_res("greet", "greet://{firstName}"));
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_TRUE((*b)->dynamic);
  ASSERT_TRUE(fs::exists(file));

  auto u = cat.update("info", static_res("info", "config://info", "version: 2 # not a comment"));
  ASSERT_TRUE(u.ok()) << u.error().message;

  // The file read back by another catalog gives the same items.
  ResourceCatalog again(file);
  auto problems = again.load(false);
  ASSERT_TRUE(problems.ok()) << problems.error().message;
  EXPECT_TRUE(problems->empty());
  auto s1 = cat.snapshot(), s2 = again.snapshot();
  ASSERT_EQ(names_of(*s2), names_of(*s1));
  for (size_t i = 0; i < s1->items.size(); ++i) {
    EXPECT_EQ(s2->items[i]->uri, s1->items[i]->uri);
    EXPECT_EQ(s2->items[i]->dynamic, s1->items[i]->dynamic);
    EXPECT_EQ(json::value(s2->items[i]->contents), json::value(s1->items[i]->contents));
    EXPECT_EQ(json::value(s2->items[i]->raw), json::value(s1->items[i]->raw));
  }
  EXPECT_EQ(s2->find("info")->contents.at(0).as_object().at("text"), json::value("version: 2 # not a comment"));

  // The document layout is WASImancer's.
  auto doc = parse_yaml(slurp(file));
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->at_pointer("/resources/static/0/name"), json::value("info"));
  EXPECT_EQ(doc->at_pointer("/resources/dynamic/0/name"), json::value("greet"));

  auto r = cat.remove("info");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)->name, "info");
  ResourceCatalog third(file);
  ASSERT_TRUE(third.load(false).ok());
  EXPECT_EQ(names_of(*third.snapshot()), (std::vector<std::string>{"greet"}));
}

TEST(ResourceCatalog, ConflictsAndMissing) {
  TempDir dir;
  fs::path file = dir.path() / "resources.yml";
  ResourceCatalog cat(file);
  ASSERT_TRUE(cat.load(false).ok());
  ASSERT_TRUE(cat.add(static_res("a", "x://a")).ok());
  ASSERT_TRUE(cat.add(static_res("b", "x://b")).ok());
  std::string before = slurp(file);
  uint64_t rev = cat.snapshot()->revision;

  auto dup_name = cat.add(static_res("a", "x://other"));
  ASSERT_FALSE(dup_name.ok());
  EXPECT_EQ(dup_name.error().kind, ErrorKind::AlreadyExists);
  auto dup_uri = cat.add(static_res("c", "x://a"));
  ASSERT_FALSE(dup_uri.ok());
  EXPECT_EQ(dup_uri.error().kind, ErrorKind::AlreadyExists);
  auto upd_uri_clash = cat.update("b", static_res("b", "x://a"));
  ASSERT_FALSE(upd_uri_clash.ok());
  EXPECT_EQ(upd_uri_clash.error().kind, ErrorKind::AlreadyExists);

  auto upd_missing = cat.update("zz", static_res("zz", "x://zz"));
  ASSERT_FALSE(upd_missing.ok());
  EXPECT_EQ(upd_missing.error().kind, ErrorKind::NotFound);
  auto rm_missing = cat.remove("zz");
  ASSERT_FALSE(rm_missing.ok());
  EXPECT_EQ(rm_missing.error().kind, ErrorKind::NotFound);

  auto mismatch = cat.update("a", static_res("b", "x://a2"));
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.error().kind, ErrorKind::InvalidArgument);
  EXPECT_NE(mismatch.error().message.find("does not match"), std::string::npos) << mismatch.error().message;

  auto invalid = cat.add(json::object{{"name", "x"}});
  ASSERT_FALSE(invalid.ok());
  EXPECT_EQ(invalid.error().kind, ErrorKind::InvalidArgument);

  // Nothing changed.
  EXPECT_EQ(slurp(file), before);
  EXPECT_EQ(cat.snapshot()->revision, rev);
  EXPECT_EQ(names_of(*cat.snapshot()), (std::vector<std::string>{"a", "b"}));

  // An update may keep its own uri, and may omit the name (taken from the URL).
  json::value body = static_res("ignored", "x://a", "new");
  body.as_object().erase("name");
  auto ok = cat.update("a", body);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ((*ok)->name, "a");
}

TEST(ResourceCatalog, UpdateMovesBetweenStaticAndDynamic) {
  TempDir dir;
  fs::path file = dir.path() / "resources.yml";
  ResourceCatalog cat(file);
  ASSERT_TRUE(cat.load(false).ok());
  ASSERT_TRUE(cat.add(static_res("keep", "x://keep")).ok());
  ASSERT_TRUE(cat.add(static_res("r", "x://r")).ok());

  auto u = cat.update("r", dynamic_res("r", "x://r/{firstName}"));
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_TRUE((*u)->dynamic);
  auto doc = parse_yaml(slurp(file));
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->at_pointer("/resources/static").as_array().size(), 1u) << slurp(file);
  EXPECT_EQ(doc->at_pointer("/resources/static/0/name"), json::value("keep"));
  ASSERT_EQ(doc->at_pointer("/resources/dynamic").as_array().size(), 1u) << slurp(file);
  EXPECT_EQ(doc->at_pointer("/resources/dynamic/0/name"), json::value("r"));

  ResourceCatalog again(file);
  ASSERT_TRUE(again.load(false).ok());
  ASSERT_TRUE(again.snapshot()->find("r"));
  EXPECT_TRUE(again.snapshot()->find("r")->dynamic);

  // And back.
  ASSERT_TRUE(cat.update("r", static_res("r", "x://r")).ok());
  doc = parse_yaml(slurp(file));
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->at_pointer("/resources/static").as_array().size(), 2u);
  EXPECT_TRUE(doc->at_pointer("/resources/dynamic").as_array().empty());
  EXPECT_FALSE(cat.snapshot()->find("r")->dynamic);
}

TEST(ResourceCatalog, ListenersReceiveChanges) {
  ResourceCatalog cat(std::nullopt);  // nothing persisted
  ASSERT_TRUE(cat.load(false).ok());
  uint64_t rev0 = cat.snapshot()->revision;
  std::vector<CatalogChange> seen;
  cat.on_change([&](const CatalogChange& c) { seen.push_back(c); });
  ASSERT_TRUE(cat.add(static_res("a", "x://a")).ok());
  ASSERT_TRUE(cat.update("a", static_res("a", "x://a2")).ok());
  ASSERT_TRUE(cat.remove("a").ok());
  EXPECT_FALSE(cat.remove("a").ok());  // no event for a failure
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].kind, CatalogChange::Added);
  EXPECT_EQ(seen[0].name, "a");
  EXPECT_EQ(seen[0].uri, "x://a");
  EXPECT_EQ(seen[1].kind, CatalogChange::Updated);
  EXPECT_EQ(seen[1].uri, "x://a");  // the URI affected: the old one
  EXPECT_EQ(seen[2].kind, CatalogChange::Removed);
  EXPECT_EQ(seen[2].uri, "x://a2");
  EXPECT_EQ(cat.snapshot()->revision, rev0 + 3);  // one new revision per change
}

TEST(ResourceCatalog, UnknownTopLevelKeysSurviveRewrite) {
  TempDir dir;
  fs::path file = dir.path() / "resources.yml";
  spit(file, R"(# a comment
owner: team-a
settings:
  retention: 30
  labels: [x, "2"]
resources:
  static:
    - name: info
      uri: config://info
      contents:
        - text: hello
      custom: keep-me
  extra_list: [1, 2]
)");
  ResourceCatalog cat(file);
  ASSERT_TRUE(cat.load(false).ok());
  ASSERT_TRUE(cat.add(static_res("two", "config://two")).ok());
  auto doc = parse_yaml(slurp(file));
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->at_pointer("/owner"), json::value("team-a"));
  EXPECT_EQ(doc->at_pointer("/settings"), js(R"({"retention": 30, "labels": ["x", "2"]})"));
  EXPECT_EQ(doc->at_pointer("/resources/extra_list"), js("[1, 2]"));
  EXPECT_EQ(doc->at_pointer("/resources/static/0/custom"), json::value("keep-me"));
  EXPECT_EQ(doc->at_pointer("/resources/static/1/name"), json::value("two"));
}

TEST(ResourceCatalog, LoadSkipBroken) {
  TempDir dir;
  fs::path file = dir.path() / "resources.yml";
  spit(file, R"(resources:
  static:
    - name: good
      uri: x://good
      contents: [{text: ok}]
    - name: broken
      uri: x://broken
    - name: good
      uri: x://again
      contents: [{text: dup name}]
  dynamic:
    - name: tmpl
      uri: x://{a}
      contents: [{text: "${a}"}]
    - name: static-in-dynamic
      uri: x://nothing
      contents: [{text: x}]
)");
  ResourceCatalog strict(file);
  auto s = strict.load(false);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::InvalidArgument);
  EXPECT_NE(s.error().message.find("resources.yml"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("static[1]"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("contents"), std::string::npos) << s.error().message;
  EXPECT_TRUE(strict.snapshot()->items.empty());  // nothing published

  ResourceCatalog lenient(file);
  auto l = lenient.load(true);
  ASSERT_TRUE(l.ok()) << l.error().message;
  ASSERT_EQ(l->size(), 3u);
  EXPECT_NE((*l)[0].find("static[1]"), std::string::npos) << (*l)[0];
  EXPECT_NE((*l)[1].find("static[2]"), std::string::npos) << (*l)[1];
  EXPECT_NE((*l)[1].find("twice"), std::string::npos) << (*l)[1];
  EXPECT_NE((*l)[2].find("dynamic[1]"), std::string::npos) << (*l)[2];
  EXPECT_EQ(names_of(*lenient.snapshot()), (std::vector<std::string>{"good", "tmpl"}));

  // A YAML syntax error fails even with skip_broken, naming the file.
  spit(file, "resources: [unclosed\n");
  ResourceCatalog bad(file);
  auto b = bad.load(true);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().message.find("resources.yml"), std::string::npos);
  EXPECT_NE(b.error().message.find("line"), std::string::npos);
}

// ---- PromptCatalog -----------------------------------------------------------------------------

TEST(PromptCatalog, AddUpdateRemovePersistAndReload) {
  TempDir dir;
  fs::path file = dir.path() / "prompts.yml";
  spit(file, "title: my prompts\nprompts:\n  predefined:\n    - name: first\n      messages: [{role: user, text: hi}]\n");
  PromptCatalog cat(file);
  ASSERT_TRUE(cat.load(false).ok());
  std::vector<CatalogChange> seen;
  cat.on_change([&](const CatalogChange& c) { seen.push_back(c); });

  ASSERT_TRUE(cat.add(prompt("second")).ok());
  auto dup = cat.add(prompt("second"));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().kind, ErrorKind::AlreadyExists);
  ASSERT_TRUE(cat.update("second", prompt("second", "Now ${x}")).ok());
  auto mismatch = cat.update("second", prompt("first"));
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.error().kind, ErrorKind::InvalidArgument);
  auto missing = cat.update("nope", prompt("nope"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::NotFound);
  EXPECT_EQ(cat.remove("nope").error().kind, ErrorKind::NotFound);

  PromptCatalog again(file);
  ASSERT_TRUE(again.load(false).ok());
  EXPECT_EQ(names_of(*again.snapshot()), (std::vector<std::string>{"first", "second"}));
  EXPECT_EQ(again.snapshot()->find("second")->messages.at(0).as_object().at("text"), json::value("Now ${x}"));
  auto doc = parse_yaml(slurp(file));
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->at_pointer("/title"), json::value("my prompts"));

  ASSERT_TRUE(cat.remove("first").ok());
  PromptCatalog third(file);
  ASSERT_TRUE(third.load(false).ok());
  EXPECT_EQ(names_of(*third.snapshot()), (std::vector<std::string>{"second"}));

  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].kind, CatalogChange::Added);
  EXPECT_EQ(seen[1].kind, CatalogChange::Updated);
  EXPECT_EQ(seen[2].kind, CatalogChange::Removed);
  EXPECT_EQ(seen[2].name, "first");
}

TEST(PromptCatalog, LoadSkipBroken) {
  TempDir dir;
  fs::path file = dir.path() / "prompts.yml";
  spit(file, R"(prompts:
  predefined:
    - name: ok
      messages: [{role: user, text: hi}]
    - name: bad-role
      messages: [{role: robot, text: hi}]
    - name: ok
      messages: [{role: user, text: again}]
)");
  PromptCatalog strict(file);
  auto s = strict.load(false);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("predefined[1]"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("role"), std::string::npos) << s.error().message;
  EXPECT_TRUE(strict.snapshot()->items.empty());

  PromptCatalog lenient(file);
  auto l = lenient.load(true);
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->size(), 2u);
  EXPECT_NE((*l)[1].find("predefined[2]"), std::string::npos);
  EXPECT_EQ(names_of(*lenient.snapshot()), (std::vector<std::string>{"ok"}));

  // "prompts.predefined" that is not a list is an error of the file.
  spit(file, "prompts:\n  predefined: {name: x}\n");
  PromptCatalog notlist(file);
  auto n = notlist.load(true);
  ASSERT_FALSE(n.ok());
  EXPECT_NE(n.error().message.find("prompts.predefined"), std::string::npos) << n.error().message;
}

TEST(PromptCatalog, WithoutFileKeepsEverythingInMemory) {
  PromptCatalog cat(std::nullopt);
  ASSERT_TRUE(cat.load(false).ok());
  ASSERT_TRUE(cat.add(prompt("p")).ok());
  EXPECT_TRUE(cat.snapshot()->find("p"));
  auto before = cat.snapshot();
  ASSERT_TRUE(cat.remove("p").ok());
  EXPECT_FALSE(cat.snapshot()->find("p"));
  EXPECT_TRUE(before->find("p"));  // an old snapshot is unchanged
}
