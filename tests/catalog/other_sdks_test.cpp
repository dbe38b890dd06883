// CATALOG.md §4.8: fixtures from the other SDK repositories (dotnet, php, perl, ruby, chicory,
// wamr), run through `wasimancer call`.
#include <gtest/gtest.h>

#include "catalog_cli.hpp"

namespace wasimancer::test::catalog {
namespace {

// ---- dotnet-sdk ----------------------------------------------------------------------------------

FIXTURE_TEST(DotnetFloat, LoadFailsNamingTheExampleFunctions) {  // host fns `example.getf64`/`getf32`
  EXPECT_LOAD_FAILS_NAMING(Cli("extism-dotnet-sdk/float.wasm", "addf64").run(), "\"example\"", "getf64", "getf32");
}

FIXTURE_TEST(DotnetHostMemory, LoadFailsNamingToUpper) {
  EXPECT_LOAD_FAILS_NAMING(Cli("extism-dotnet-sdk/host_memory.wasm", "run_test").input("Frodo").run(), "\"host\"",
                           "to_upper");
}

FIXTURE_TEST(DotnetHttp, DeniedByDefault) {  // fixed https URL; never allowed in a test
  auto r = Cli("extism-dotnet-sdk/http.wasm", "run_test").run();
  EXPECT_CALL_ERROR(r, "host error");
  EXPECT_MESSAGE_STARTS_WITH(r, "HTTP request to https://jsonplaceholder.typicode.com/todos/1 is not allowed");
}

FIXTURE_TEST(DotnetHttp, DeniedByAnotherGlob) {  // BasicTests/ManifestTests L99-113: `google*`
  auto r = Cli("extism-dotnet-sdk/http.wasm", "run_test").allow_host("google*").run();
  EXPECT_CALL_ERROR(r, "host error");
  EXPECT_MESSAGE_STARTS_WITH(r, "HTTP request to https://jsonplaceholder.typicode.com/todos/1 is not allowed");
}

// log.wasm: TinyGo 0.28.1, no trace level; the error line says `erorr` (sic).
FIXTURE_TEST(DotnetLog, DebugLevelShowsFour) {
  for (const char* level : {"debug", "trace"}) {
    SCOPED_TRACE(level);
    auto r = Cli("extism-dotnet-sdk/log.wasm", "run_test").log_level(level).run();
    EXPECT_SUCCESS(r, "");
    EXPECT_EQ(r.levels_and_messages(), (std::vector<std::pair<std::string, std::string>>{
                                           {"debug", "this is a debug log"},
                                           {"info", "this is an info log"},
                                           {"warning", "this is a warning log"},
                                           {"error", "this is an erorr log"}}))
        << r.describe();
  }
}

FIXTURE_TEST(DotnetLog, WarnLevelShowsTwo) {
  auto r = Cli("extism-dotnet-sdk/log.wasm", "run_test").log_level("warn").run();
  EXPECT_SUCCESS(r, "");
  EXPECT_EQ(r.logs_at("warning"), std::vector<std::string>{"this is a warning log"});
  EXPECT_EQ(r.logs_at("error"), std::vector<std::string>{"this is an erorr log"});
  EXPECT_EQ(r.logs.size(), 2u) << r.describe();
}

FIXTURE_TEST(DotnetLoop, TimesOut) {  // another build of extism loop.wasm
  expect_timeout(Cli("extism-dotnet-sdk/loop.wasm", "loop_forever").input("abc123").timeout_ms(500).run());
}

// fs.wasm is a command module reading /mnt/test.txt through a preopen (BasicTests L90-102). File
// system access is "later" (README): the test expects a clear call error saying file access is
// not granted. The plugin itself only logs the failed open and returns normally from `_start`.
FIXTURE_TEST(DotnetFs, ClearFileAccessError) {
  auto r = Cli("extism-dotnet-sdk/fs.wasm", "_start").run();
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  ASSERT_TRUE(r.typed_error) << r.describe();
  EXPECT_MESSAGE_CONTAINS(r, "file system access");
}

// ---- php-sdk, perl-sdk, ruby-sdk -------------------------------------------------------------------

FIXTURE_TEST(PhpCountVowels, TotalPersistsOnOneInstance) {  // CompiledPluginTest L18-27; ✔ harness full output
  EXPECT_SUCCESS(Cli("extism-php-sdk/count_vowels.wasm", "count_vowels").input("Hello World!").loop(2).run(),
                 "{\"count\":3,\"total\":3,\"vowels\":\"aeiouAEIOU\"}\n{\"count\":3,\"total\":6,\"vowels\":\"aeiouAEIOU\"}\n");
}

FIXTURE_TEST(KvStore, LoadFailsNamingKvReadAndKvWrite) {  // PluginTest.php L159-174 (unknown import)
  for (const std::string plugin : {"extism-php-sdk/count_vowels_kvstore.wasm", "extism-perl-sdk/count_vowels_kvstore.wasm",
                                   "extism-ruby-sdk/count_vowels_kvstore.wasm"}) {
    SCOPED_TRACE(plugin);
    EXPECT_LOAD_FAILS_NAMING(Cli(plugin, "count_vowels").input("Hello World!").run(), "extism:host/user", "kv_read",
                             "kv_write");
  }
}

class PhpHttp : public NeedsFixtures {
 protected:
  TestHttpServer server;
  const std::string plugin = "extism-php-sdk/http.wasm";
};

TEST_F(PhpHttp, GetReturnsTheBody) {  // ManifestTest.php L70-83
  expect_get_todo(server, plugin, "http_get");
}

TEST_F(PhpHttp, PostSendsTheData) {
  expect_post_echoes(server, plugin, "http_post", "hello");
}

TEST_F(PhpHttp, DeniedHost) {
  expect_host_denied(server, plugin, "http_get", "/todos/1");
}

// ---- wamr-sdk --------------------------------------------------------------------------------------

FIXTURE_TEST(WamrCountVowels, HelloWorld) {  // c-pdk examples/count-vowels (`_initialize`), with a space
  EXPECT_SUCCESS(Cli("extism-wamr-sdk/count-vowels.wasm", "count_vowels").input("Hello World!").run(), "{\"count\": 3}");
}

// ---- chicory-sdk (hand-written wat; linking fixtures are out of scope) -----------------------------

FIXTURE_TEST(ChicoryCircularImport, LoadFailsNamingTheMissingImports) {  // DependencyGraphTest L16-31
  EXPECT_LOAD_FAILS_NAMING(Cli("extism-chicory-sdk/circular-import-1.wasm", "expr").run(), "\"env-2\"", "\"add\"", "\"sub\"");
  EXPECT_LOAD_FAILS_NAMING(Cli("extism-chicory-sdk/circular-import-2.wasm", "do_expr").run(), "\"env-1\"", "\"expr\"");
  EXPECT_LOAD_FAILS_NAMING(Cli("extism-chicory-sdk/circular-import-main.wasm", "real_do_expr").run(), "\"env-2\"",
                           "\"do_expr\"");
}

FIXTURE_TEST(ChicoryCircularImportMore, LoadFailsNamingTheMissingImports) {  // L34-73
  EXPECT_LOAD_FAILS_NAMING(Cli("extism-chicory-sdk/circular-import-more-add.wasm", "do_expr").run(), "\"expr\".\"expr\"");
  EXPECT_LOAD_FAILS_NAMING(Cli("extism-chicory-sdk/circular-import-more-expr.wasm", "expr").run(), "\"add\".\"add\"",
                           "\"sub\".\"sub\"");
  EXPECT_LOAD_FAILS_NAMING(Cli("extism-chicory-sdk/circular-import-more-main.wasm", "real_do_expr").run(),
                           "\"add\".\"do_expr\"");
}

FIXTURE_TEST(ChicoryCircularImportMore, SubIsALinkTargetThatLoads) {  // no imports; `sub(i32,i32)->(i32)`
  expect_not_a_plugin_function(Cli("extism-chicory-sdk/circular-import-more-sub.wasm", "sub").run(), "sub",
                               "(i32,i32)->(i32)");
}

FIXTURE_TEST(ChicoryImportWasi, StartReturns) {  // PluginTest L75-100: needs only fd_write
  EXPECT_SUCCESS(Cli("extism-chicory-sdk/import-wasi.wasm", "_start").run(), "");
}

FIXTURE_TEST(ChicoryVoidReturn, VoidExportIsRcZero) {
  // Chicory rejects `()->()` (`i32 return code`); the Extism Rust runtime accepts it as rc 0 (✔
  // harness), which is the policy tested here.
  EXPECT_SUCCESS(Cli("extism-chicory-sdk/void-return.wasm", "dummy").run(), "");
}

FIXTURE_TEST(ChicoryKernel, LoadsButIsNotAPlugin) {  // a different build of Extism's kernel
  expect_not_a_plugin_function(Cli("extism-chicory-sdk/extism-runtime.kernel.wasm", "alloc").run(), "alloc",
                               "(i64)->(i64)");
}

}  // namespace
}  // namespace wasimancer::test::catalog
