// CATALOG.md §4.4: extism/rust-pdk `test/` fixtures (built from `examples/*.rs`), run through
// `wasimancer call`.
#include <gtest/gtest.h>

#include "catalog_cli.hpp"

namespace wasimancer::test::catalog {
namespace {

// ---- code.wasm and count_vowels.root.wasm (examples/count_vowels.rs) -----------------------------

FIXTURE_TEST(RustPdkCode, CountVowels) {  // ci.yml L30-31 (config {"thing":"1","a":"b"} is ignored)
  for (const std::string plugin : {"extism-rust-pdk/code.wasm", "extism-rust-pdk/count_vowels.root.wasm"}) {
    SCOPED_TRACE(plugin);
    EXPECT_SUCCESS(Cli(plugin, "count_vowels").input("this is a test").config("thing", "1").config("a", "b").run(),
                   "{\"count\":4}");
  }
}

FIXTURE_TEST(RustPdkCode, BadUtf8IsThePluginsError) {  // ✔ harness only: rc −1
  for (const std::string plugin : {"extism-rust-pdk/code.wasm", "extism-rust-pdk/count_vowels.root.wasm"}) {
    SCOPED_TRACE(plugin);
    auto r = Cli(plugin, "count_vowels").input("\xc3").run();
    EXPECT_CALL_ERROR(r, "plugin error");
    EXPECT_MESSAGE_EQ(r, "incomplete utf-8 byte sequence from index 0");
  }
}

// ---- host functions (out of scope: load fails naming the import; linking is out of scope) -------

FIXTURE_TEST(RustPdkHostFunction, LoadFailsNamingHelloWorld) {
  for (const std::string plugin : {"extism-rust-pdk/host_function.wasm", "extism-rust-pdk/host_function_safe.wasm"}) {
    SCOPED_TRACE(plugin);
    EXPECT_LOAD_FAILS_NAMING(Cli(plugin, "count_vowels").input("this is a test").run(), "extism:host/user", "hello_world");
  }
}

FIXTURE_TEST(RustPdkHostFunctionHost, LinkTargetLoadsButIsNotCallable) {  // link target only
  expect_not_a_plugin_function(Cli("extism-rust-pdk/host_function_host.wasm", "hello_world").input("{\"count\":4}").run(),
                               "hello_world", "(i64)->(i64)");
}

// ---- http.wasm (examples/http.rs: GET, logs at trace and info) --------------------------------

class RustPdkHttp : public NeedsFixtures {
 protected:
  TestHttpServer server;
  const std::string plugin = "extism-rust-pdk/http.wasm";
};

TEST_F(RustPdkHttp, GetReturnsTheBody) {  // ci.yml L33-34: body containing `"userId": 1`; method: None → GET
  expect_get_todo(server, plugin, "http_get");
}

TEST_F(RustPdkHttp, LogsAtTraceAndInfo) {
  std::string url = server.url("/todos/1");
  auto r = Cli(plugin, "http_get").input(url_input(url)).allow_host("127.0.0.1").log_level("trace").run();
  EXPECT_SUCCESS_ANY_OUTPUT(r);
  EXPECT_EQ(r.logs_at("trace"),
            std::vector<std::string>{"HTTP Request: HttpRequest { url: \"" + url + "\", headers: {}, method: None }"})
      << r.describe();
  EXPECT_EQ(r.logs_at("info"), std::vector<std::string>{"Request to: " + url}) << r.describe();

  auto info = Cli(plugin, "http_get").input(url_input(url)).allow_host("127.0.0.1").log_level("info").run();
  EXPECT_SUCCESS_ANY_OUTPUT(info);
  EXPECT_TRUE(info.logs_at("trace").empty()) << info.describe();
  EXPECT_EQ(info.logs_at("info"), std::vector<std::string>{"Request to: " + url}) << info.describe();

  auto warn = Cli(plugin, "http_get").input(url_input(url)).allow_host("127.0.0.1").log_level("warn").run();
  EXPECT_SUCCESS_ANY_OUTPUT(warn);
  EXPECT_TRUE(warn.logs.empty()) << warn.describe();
}

TEST_F(RustPdkHttp, WildcardDoesNotReachLoopback) {
  // ci.yml allows `*`; this server never lets `*` reach a loopback address (the host must be named).
  expect_host_denied(server, plugin, "http_get", "/todos/1", "*");
}

TEST_F(RustPdkHttp, DeniedWithoutAllowedHosts) {
  expect_host_denied(server, plugin, "http_get", "/todos/1");
}

// ---- http_headers.wasm (same contract as extism http_headers.wasm) ------------------------------

FIXTURE_TEST(RustPdkHttpHeaders, HeadersOnAndOff) {
  TestHttpServer server;
  std::string in = url_input(server.url("/headers"));
  auto on = Cli("extism-rust-pdk/http_headers.wasm", "http_get").input(in).allow_host("127.0.0.1").run();
  EXPECT_SUCCESS_ANY_OUTPUT(on);
  EXPECT_TRUE(contains(on.out, "\"content-type\":\"text/html; charset=utf-8\"")) << on.out;
  EXPECT_TRUE(contains(on.out, "\"x-test-header\":\"hello\"")) << on.out;
  EXPECT_SUCCESS(Cli("extism-rust-pdk/http_headers.wasm", "http_get").input(in).allow_host("127.0.0.1").no_http_headers().run(),
                 "{}");
  EXPECT_EQ(server.requests().size(), 2u);
}

}  // namespace
}  // namespace wasimancer::test::catalog
