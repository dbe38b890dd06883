// config_get, var_get and var_set (extism-abi.md §1) through config_vars.wasm
// (tests/plugins/README.md). Vars belong to the CompiledPlugin (one plugin version): they persist
// across calls and across instances of that CompiledPlugin, and a new load starts empty.
#include <gtest/gtest.h>

#include <span>
#include <string>

#include "core/files.hpp"
#include "host/plugin.hpp"
#include "plugin_helpers.hpp"
#include "paths.hpp"

using namespace wasimancer;
using namespace wasimancer::host;
using wasimancer::test::describe;
using wasimancer::test::load_plugin;
using wasimancer::test::make_instance;

namespace {

// A host function failed: the call traps with a HostError containing `text`.
#define EXPECT_HOST_ERR(outcome, text)                                                                   \
  do {                                                                                                   \
    const CallOutcome& o_ = (outcome);                                                                   \
    ASSERT_TRUE(o_.error.has_value()) << describe(o_);                                                   \
    EXPECT_EQ(o_.error->kind, ErrorKind::HostError) << describe(o_);                                     \
    EXPECT_NE(o_.error->message.find(text), std::string::npos) << describe(o_);                          \
    EXPECT_NE(o_.rc, 0) << describe(o_);                                                                 \
    EXPECT_EQ(o_.output, "") << describe(o_);                                                            \
  } while (0)

PluginOptions with_config() {
  PluginOptions o;
  o.config = {{"WASM_VERSION", "1.2"}, {"empty", ""}, {"utf8", "caf\xC3\xA9 \xE2\x98\x95"}};
  return o;
}

}  // namespace

// ---- config ---------------------------------------------------------------------------------------

TEST(HostConfig, ReadsValues) {
  auto p = load_plugin("config_vars", with_config());
  ASSERT_TRUE(p);
  auto i = make_instance(p);
  ASSERT_TRUE(i);
  EXPECT_OUT(i->call("config", "WASM_VERSION"), "1.2");
  EXPECT_OUT(i->call("config", "utf8"), "caf\xC3\xA9 \xE2\x98\x95");
  // Keys are exact: no case folding, no prefix matching.
  EXPECT_OUT(i->call("config", "wasm_version"), "<unset>");
  EXPECT_OUT(i->call("config", "WASM_VERSIO"), "<unset>");
}

TEST(HostConfig, MissingAndEmptyValuesAreNull) {
  auto p = load_plugin("config_vars", with_config());
  ASSERT_TRUE(p);
  auto i = make_instance(p);
  ASSERT_TRUE(i);
  EXPECT_OUT(i->call("config", "missing"), "<unset>");
  EXPECT_OUT(i->call("config", "empty"), "<unset>");  // the host returns 0 for an empty value
  EXPECT_OUT(i->call("config", ""), "<unset>");       // config_get(0): the empty key, which is not set
}

TEST(HostConfig, HandleZeroIsTheEmptyKey) {
  PluginOptions o;
  o.config = {{"", "value of the empty key"}};
  auto p = load_plugin("config_vars", o);
  ASSERT_TRUE(p);
  auto i = make_instance(p);
  ASSERT_TRUE(i);
  EXPECT_OUT(i->call("config", ""), "value of the empty key");
}

TEST(HostConfig, NoConfigAtAll) {
  auto p = load_plugin("config_vars");
  ASSERT_TRUE(p);
  auto i = make_instance(p);
  ASSERT_TRUE(i);
  EXPECT_OUT(i->call("config", "WASM_VERSION"), "<unset>");
}

// ---- vars -----------------------------------------------------------------------------------------

TEST(HostVars, CounterPersistsAcrossCalls) {
  auto p = load_plugin("config_vars");
  ASSERT_TRUE(p);
  auto i = make_instance(p);
  ASSERT_TRUE(i);
  EXPECT_OUT(i->call("var_counter", ""), "1");
  EXPECT_OUT(i->call("var_counter", ""), "2");
  EXPECT_OUT(i->call("var_counter", ""), "3");
  EXPECT_OUT(i->call("var_get", "count"), "3");
  EXPECT_EQ(p->vars().get("count").value_or("<none>"), "3");
}

TEST(HostVars, SharedByInstancesOfOneCompiledPlugin) {
  auto p = load_plugin("config_vars");
  ASSERT_TRUE(p);
  auto a = make_instance(p);
  ASSERT_TRUE(a);
  EXPECT_OUT(a->call("var_counter", ""), "1");
  EXPECT_OUT(a->call("var_counter", ""), "2");
  auto b = make_instance(p);
  ASSERT_TRUE(b);
  EXPECT_OUT(b->call("var_counter", ""), "3");
  EXPECT_OUT(a->call("var_counter", ""), "4");
  a.reset();
  auto c = make_instance(p);
  ASSERT_TRUE(c);
  EXPECT_OUT(c->call("var_get", "count"), "4");
}

TEST(HostVars, ANewLoadStartsEmpty) {
  auto p1 = load_plugin("config_vars");
  auto p2 = load_plugin("config_vars");
  ASSERT_TRUE(p1 && p2);
  auto a = make_instance(p1);
  auto b = make_instance(p2);
  ASSERT_TRUE(a && b);
  EXPECT_OUT(a->call("var_counter", ""), "1");
  EXPECT_OUT(a->call("var_counter", ""), "2");
  EXPECT_OUT(b->call("var_get", "count"), "<unset>");
  EXPECT_OUT(b->call("var_counter", ""), "1");
}

TEST(HostVars, SetGetDelete) {
  auto p = load_plugin("config_vars");
  ASSERT_TRUE(p);
  auto i = make_instance(p);
  ASSERT_TRUE(i);
  EXPECT_OUT(i->call("var_get", "v"), "<unset>");
  EXPECT_OUT(i->call("var_set_input", "hello vars"), "");
  EXPECT_OUT(i->call("var_get", "v"), "hello vars");
  std::string bin("\0\x01\xff zero", 8);
  EXPECT_OUT(i->call("var_set_input", bin), "");
  EXPECT_OUT(i->call("var_get", "v"), bin);
  // Empty input: var_set("v", 0) deletes it.
  EXPECT_OUT(i->call("var_set_input", ""), "");
  EXPECT_OUT(i->call("var_get", "v"), "<unset>");
  EXPECT_FALSE(p->vars().get("v").has_value());

  EXPECT_OUT(i->call("var_set_input", "again"), "");
  EXPECT_OUT(i->call("var_delete", "v"), "");
  EXPECT_OUT(i->call("var_get", "v"), "<unset>");
  // Deleting a missing key is fine.
  EXPECT_OUT(i->call("var_delete", "never-set"), "");
}

TEST(HostVars, HostSideValuesAreVisible) {
  auto p = load_plugin("config_vars");
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->vars().set("count", std::string_view("41")).ok());
  auto i = make_instance(p);
  ASSERT_TRUE(i);
  EXPECT_OUT(i->call("var_counter", ""), "42");
  ASSERT_TRUE(p->vars().set("count", std::string_view("not a number")).ok());
  auto bad = i->call("var_counter", "");
  ASSERT_FALSE(bad.ok()) << describe(bad);
  EXPECT_EQ(bad.error->message, "var count is not a number");
}

TEST(HostVars, DisabledVars) {
  PluginOptions o;
  o.limits.max_var_bytes = 0;
  auto p = load_plugin("config_vars", o);
  ASSERT_TRUE(p);
  auto i = make_instance(p);
  ASSERT_TRUE(i);
  EXPECT_HOST_ERR(i->call("var_counter", ""), "Vars are disabled by this host");
  EXPECT_HOST_ERR(i->call("var_set_input", "x"), "Vars are disabled by this host");
  // Reading is harmless: nothing is ever stored.
  EXPECT_OUT(i->call("var_get", "count"), "<unset>");
  // A host error is a trap, not a reason to discard the instance.
  EXPECT_TRUE(i->reusable());
  EXPECT_OUT(i->call("config", "x"), "<unset>");
}

TEST(HostVars, StoreFullAtDefaultLimit) {
  auto p = load_plugin("config_vars");
  ASSERT_TRUE(p);
  auto i = make_instance(p);
  ASSERT_TRUE(i);
  EXPECT_OUT(i->call("var_big", "1000"), "stored 1000");
  EXPECT_HOST_ERR(i->call("var_big", "2000000"), "Variable store is full");
  // The failed set changed nothing.
  EXPECT_OUT(i->call("var_get", "big"), std::string(1000, 'b'));
  // Just under the 1 MiB default: key "big" (3) + value + 48 == 1 MiB fits.
  EXPECT_OUT(i->call("var_big", std::to_string((1 << 20) - 3 - 48)), "stored " + std::to_string((1 << 20) - 3 - 48));
  auto big = i->call("var_get", "big");
  ASSERT_TRUE(big.ok()) << describe(big);
  EXPECT_EQ(big.output, std::string((1 << 20) - 3 - 48, 'b'));
  // One byte more does not fit.
  EXPECT_HOST_ERR(i->call("var_big", std::to_string((1 << 20) - 3 - 48 + 1)), "Variable store is full");
}

TEST(HostVars, StoreFullCountsKeysValuesAndOverheadOfEveryEntry) {
  PluginOptions o;
  o.limits.max_var_bytes = 1024;
  auto p = load_plugin("config_vars", o);
  ASSERT_TRUE(p);
  auto i = make_instance(p);
  ASSERT_TRUE(i);
  // "big": 3 + 973 + 48 = 1024: exactly the limit.
  EXPECT_OUT(i->call("var_big", "973"), "stored 973");
  EXPECT_EQ(p->vars().bytes(), 1024u);
  // Any other entry, even a 1-byte one, is over the limit now.
  EXPECT_HOST_ERR(i->call("var_set_input", "x"), "Variable store is full");
  // Replacing "big" releases its old cost first (vars.hpp: the total after the set counts).
  EXPECT_OUT(i->call("var_big", "900"), "stored 900");
  EXPECT_EQ(p->vars().bytes(), 3u + 900 + 48);
  // "v": 1 + 20 + 48 = 69, total 1020.
  EXPECT_OUT(i->call("var_set_input", std::string(20, 'v')), "");
  EXPECT_EQ(p->vars().bytes(), 1020u);
  // "big" = 905 would make 3 + 905 + 48 + 69 = 1025.
  EXPECT_HOST_ERR(i->call("var_big", "905"), "Variable store is full");
  EXPECT_OUT(i->call("var_big", "904"), "stored 904");
  // Deleting frees the space again.
  EXPECT_OUT(i->call("var_delete", "big"), "");
  EXPECT_EQ(p->vars().bytes(), 69u);
  EXPECT_OUT(i->call("var_counter", ""), "1");
}

TEST(HostVars, VarBigRejectsBadInput) {
  auto p = load_plugin("config_vars");
  ASSERT_TRUE(p);
  auto i = make_instance(p);
  ASSERT_TRUE(i);
  for (const char* in : {"0", "-5", "abc", ""}) {
    SCOPED_TRACE(in);
    auto r = i->call("var_big", in);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error->kind, ErrorKind::PluginError);
    EXPECT_EQ(r.error->message, "var_big: input must be a positive decimal size");
    EXPECT_EQ(r.rc, 1);
  }
}
