// config_get, var_get and var_set (extism-abi.md §1) through config_vars.wasm
// (tests/plugins/README.md). Vars belong to the CompiledPlugin (one plugin version): they persist
// across calls and across instances of that CompiledPlugin, and a new load starts empty.
#include <gtest/gtest.h>

#include <string>

#include "plugin_helpers.hpp"

using namespace wasimancer;
using namespace wasimancer::host;
using namespace wasimancer::test;

namespace {

PluginOptions with_config() {
  PluginOptions o;
  o.config = {{"WASM_VERSION", "1.2"}, {"empty", ""}, {"utf8", "caf\xC3\xA9 \xE2\x98\x95"}};
  return o;
}

}  // namespace

// ---- config ---------------------------------------------------------------------------------------

TEST(HostConfig, ReadsValues) {
  auto i = make_instance(load_plugin("config_vars", with_config()));
  ASSERT_TRUE(i);
  EXPECT_OUT(i->call("config", "WASM_VERSION"), "1.2");
  EXPECT_OUT(i->call("config", "utf8"), "caf\xC3\xA9 \xE2\x98\x95");
  // Keys are exact: no case folding, no prefix matching.
  EXPECT_OUT(i->call("config", "wasm_version"), "<unset>");
  EXPECT_OUT(i->call("config", "WASM_VERSIO"), "<unset>");
}

TEST(HostConfig, MissingAndEmptyValuesAreNull) {
  auto i = make_instance(load_plugin("config_vars", with_config()));
  ASSERT_TRUE(i);
  EXPECT_OUT(i->call("config", "missing"), "<unset>");
  EXPECT_OUT(i->call("config", "empty"), "<unset>");  // the host returns 0 for an empty value
  EXPECT_OUT(i->call("config", ""), "<unset>");       // config_get(0): the empty key, which is not set
}

TEST(HostConfig, HandleZeroIsTheEmptyKey) {
  PluginOptions o;
  o.config = {{"", "value of the empty key"}};
  auto i = make_instance(load_plugin("config_vars", o));
  ASSERT_TRUE(i);
  EXPECT_OUT(i->call("config", ""), "value of the empty key");
}

TEST(HostConfig, NoConfigAtAll) {
  auto i = make_instance(load_plugin("config_vars"));
  ASSERT_TRUE(i);
  EXPECT_OUT(i->call("config", "WASM_VERSION"), "<unset>");
}

// ---- vars -----------------------------------------------------------------------------------------

TEST(HostVars, CounterPersistsAcrossCalls) {
  auto p = load_plugin("config_vars");
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
  auto i = make_instance(load_plugin("config_vars", o));
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
  auto i = make_instance(load_plugin("config_vars"));
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
  auto i = make_instance(load_plugin("config_vars"));
  ASSERT_TRUE(i);
  for (const char* in : {"0", "-5", "abc", ""}) {
    SCOPED_TRACE(in);
    EXPECT_PLUGIN_ERR_RC(i->call("var_big", in), 1, "var_big: input must be a positive decimal size");
  }
}
