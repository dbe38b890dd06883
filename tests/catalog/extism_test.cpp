// CATALOG.md §4.1: extism/extism `wasm/` fixtures (the Rust runtime's own tests), run through
// `wasimancer call`.
#include <gtest/gtest.h>

#include "catalog_cli.hpp"

namespace wasimancer::test::catalog {
namespace {

const std::string kCode = "extism-extism/code.wasm";
const std::string kDefaultVowels = "aeiouAEIOU";

std::string count_json(int count, int total, const std::string& vowels = kDefaultVowels) {
  return "{\"count\":" + std::to_string(count) + ",\"total\":" + std::to_string(total) + ",\"vowels\":\"" + vowels + "\"}";
}

// ---- code.wasm (Rust PDK count_vowels: input/output, config, vars, error_set, memory limit) ----

FIXTURE_TEST(ExtismCode, HelloWorldOnAFreshInstance) {  // js-sdk mod.test.ts L184-201
  EXPECT_SUCCESS(Cli(kCode, "count_vowels").input("hello world").run(), count_json(3, 3));
}

FIXTURE_TEST(ExtismCode, CountField) {  // go-sdk extism_test.go L90-114, runtime.rs L360-371
  EXPECT_SUCCESS(Cli(kCode, "count_vowels").input("aaaaaa").run(), count_json(6, 6));
  EXPECT_SUCCESS(Cli(kCode, "count_vowels").input("bbbbbbb").run(), count_json(0, 0));
  EXPECT_SUCCESS(Cli(kCode, "count_vowels").input("abc123").run(), count_json(1, 1));
}

FIXTURE_TEST(ExtismCode, EmptyInputStillProducesOutput) {
  EXPECT_SUCCESS(Cli(kCode, "count_vowels").input("").run(), count_json(0, 0));
  EXPECT_SUCCESS(Cli(kCode, "count_vowels").run(), count_json(0, 0));
}

FIXTURE_TEST(ExtismCode, TotalPersistsAcrossCallsOfOneInstance) {
  // go-sdk L801-822 uses "aaa" then "bbba" (3, then total 4); the CLI repeats one input, so the
  // running total of "aaa" is 3, 6, 9.
  EXPECT_SUCCESS(Cli(kCode, "count_vowels").input("aaa").loop(3).run(),
                 count_json(3, 3) + "\n" + count_json(3, 6) + "\n" + count_json(3, 9) + "\n");
}

FIXTURE_TEST(ExtismCode, LargeInput) {  // 1182 × the runtime.rs string → count 11820
  std::string in = repeat("aeiouAEIOU____________________________________&smtms_y?", 1182);
  EXPECT_SUCCESS(Cli(kCode, "count_vowels").input(in).run(), count_json(11820, 11820));
}

FIXTURE_TEST(ExtismCode, ConfigVowels) {  // ruby-sdk test_extism.rb L66-79; each run is a fresh instance
  const std::string v = "aeiouyAEIOUY";
  struct Case {
    const char* input;
    int count;
  } cases[] = {{"this is a test", 4},
               {"this is a test again", 7},
               {"this is a test thrice", 6},
               {"\xF0\x9F\x8C\x8Ehello\xF0\x9F\x8C\x8Eworld\xF0\x9F\x8C\x8E", 3},
               {"does y count?", 5}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.input);
    EXPECT_SUCCESS(Cli(kCode, "count_vowels").input(c.input).config("vowels", v).run(), count_json(c.count, c.count, v));
  }
}

FIXTURE_TEST(ExtismCode, InvalidUtf8IsThePluginsError) {  // ✔ harness: rc −1 with error_set
  auto r = Cli(kCode, "count_vowels").input(std::string("\xff\xfe" "a")).run();
  EXPECT_CALL_ERROR(r, "plugin error");
  EXPECT_MESSAGE_EQ(r, "invalid utf-8 sequence of 1 bytes from index 0");
}

FIXTURE_TEST(ExtismCode, VarsDisabled) {  // max_var_bytes 0 → the host function var_set fails the call
  auto r = Cli(kCode, "count_vowels").input("hello").max_var_bytes(0).run();
  EXPECT_CALL_ERROR(r, "host error");
  EXPECT_MESSAGE_EQ(r, "Vars are disabled by this host");
}

// runtime.rs L430-455 (test_memory_max): 131072 × "a". The module declares 17 initial pages, so
// max_pages 16 fails (at instantiation, which Rust does lazily in the call) with exactly `oom`;
// 17 is fine because, in the Rust runtime, the initial memory is charged during instantiation and
// the budget is then reset to a fresh growth budget (the harness saw the plugin grow 17 → 23
// pages).
FIXTURE_TEST(ExtismCode, MemoryLimitBelowInitialMemoryIsOom) {
  auto r = Cli(kCode, "count_vowels").input(std::string(131072, 'a')).max_pages(16).run();
  EXPECT_CALL_ERROR(r, "out of memory");
  EXPECT_MESSAGE_STARTS_WITH(r, "oom");
}

FIXTURE_TEST(ExtismCode, MemoryLimitOfSeventeenPagesIsEnough) {
  EXPECT_SUCCESS(Cli(kCode, "count_vowels").input(std::string(131072, 'a')).max_pages(17).run(),
                 count_json(131072, 131072));
}

FIXTURE_TEST(ExtismCode, NoMemoryLimitIsFine) {
  EXPECT_SUCCESS(Cli(kCode, "count_vowels").input(std::string(131072, 'a')).run(), count_json(131072, 131072));
}

FIXTURE_TEST(ExtismCode, UnknownExport) {  // js-sdk L376-392: function "reticulate_splines" does not exist
  expect_function_not_found(Cli(kCode, "reticulate_splines").run(), "reticulate_splines");
}

// ---- code-functions.wasm, reflect.wasm: user host functions (out of scope) ----------------------

FIXTURE_TEST(ExtismCodeFunctions, LoadFailsNamingTheUserHostFunction) {
  EXPECT_LOAD_FAILS_NAMING(Cli("extism-extism/code-functions.wasm", "count_vowels").input("Hello World").run(),
                           "extism:host/user", "hello_world");
}

FIXTURE_TEST(ExtismReflect, LoadFailsNamingTheUserHostFunction) {
  EXPECT_LOAD_FAILS_NAMING(Cli("extism-extism/reflect.wasm", "reflect").input("Hello, world!").run(),
                           "extism:host/user", "host_reflect");
}

// upper.wasm is a link target only (module name `extism:host/user` for reflect.wasm); linking is
// out of scope. It imports only the kernel, so it loads, and its one export is not a plugin function.
FIXTURE_TEST(ExtismUpper, LoadsButIsNotCallable) {
  expect_not_a_plugin_function(Cli("extism-extism/upper.wasm", "host_reflect").input("Hello").run(), "host_reflect",
                               "(i64)->(i64)");
}

// ---- small wat / C fixtures ----------------------------------------------------------------------

FIXTURE_TEST(ExtismEcho, EchoesBytes) {  // ✔ 14 bytes and 65537 bytes
  EXPECT_SUCCESS(Cli("extism-extism/echo.wasm", "echo").input("Hello, world!!").run(), "Hello, world!!");
  std::string big(65537, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 % 256);
  EXPECT_SUCCESS(Cli("extism-extism/echo.wasm", "echo").input(big).run(), big);
}

FIXTURE_TEST(ExtismConsume, ReadsInputAndOutputsNothing) {  // bench.rs L104-130 asserts b""
  EXPECT_SUCCESS(Cli("extism-extism/consume.wasm", "consume").input(std::string(100000, 'x')).run(), "");
}

FIXTURE_TEST(ExtismAllocations, KernelStress) {  // bench.rs L197-206: rc 0, empty output
  EXPECT_SUCCESS(Cli("extism-extism/allocations.wasm", "allocations").run(), "");
}

FIXTURE_TEST(ExtismGlobals, CountPersistsOnOneInstance) {  // runtime.rs L349-358: {"count": i} = 0, 1, 2
  EXPECT_SUCCESS(Cli("extism-extism/globals.wasm", "globals").loop(3).run(),
                 "{\"count\": 0}\n{\"count\": 1}\n{\"count\": 2}\n");
}

FIXTURE_TEST(ExtismUnreachable, TrapFailsTheCall) {  // issues.rs L31-57 (Rust rc 134, trap "unreachable")
  auto r = Cli("extism-extism/unreachable.wasm", "do_unreachable").run();
  EXPECT_CALL_ERROR(r, "trap");
  EXPECT_MESSAGE_CONTAINS(r, "unreachable");
}

// ---- empty.wasm: logs an empty message via handle 0 (issue #620) -------------------------------

FIXTURE_TEST(ExtismEmpty, EmptyOutputAndAnEmptyInfoLog) {
  auto r = Cli("extism-extism/empty.wasm", "test").log_level("info").run();
  EXPECT_SUCCESS(r, "");
  ASSERT_EQ(r.logs.size(), 1u) << r.describe();
  EXPECT_EQ(r.logs[0].level, "info");
  EXPECT_EQ(r.logs[0].message, "");
}

FIXTURE_TEST(ExtismEmpty, InfoLogIsFilteredAtTheDefaultLevel) {
  auto r = Cli("extism-extism/empty.wasm", "test").run();
  EXPECT_SUCCESS(r, "");
  EXPECT_TRUE(r.logs.empty()) << r.describe();
}

// ---- loop.wasm: timeout ---------------------------------------------------------------------------

FIXTURE_TEST(ExtismLoop, TimesOut) {  // runtime.rs L216-240: timeout_ms → exactly `timeout`
  expect_timeout(Cli("extism-extism/loop.wasm", "loop_forever").input("abc123").timeout_ms(500).run());
}

// ---- read_write.wasm: WASI file system (later: a clear error that file access is not granted) ----

FIXTURE_TEST(ExtismReadWrite, ReadIsAClearFileAccessError) {
  auto r = Cli("extism-extism/read_write.wasm", "try_read").config("path", "/mnt/test.txt").run();
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  ASSERT_TRUE(r.typed_error) << r.describe();
  EXPECT_MESSAGE_STARTS_WITH(r, "Failed to read file:");  // ✔ harness without a preopen
  EXPECT_MESSAGE_CONTAINS(r, "file system access");
}

FIXTURE_TEST(ExtismReadWrite, WriteIsAClearFileAccessError) {
  auto r = Cli("extism-extism/read_write.wasm", "try_write").config("path", "/mnt/test.txt").input("hello hello!").run();
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  ASSERT_TRUE(r.typed_error) << r.describe();
  EXPECT_MESSAGE_CONTAINS(r, "file system access");
}

FIXTURE_TEST(ExtismReadWrite, NoPathConfig) {  // ✔ harness: rc 1, `Path not found in config`
  auto r = Cli("extism-extism/read_write.wasm", "try_read").run();
  EXPECT_CALL_ERROR(r, "plugin error");
  EXPECT_MESSAGE_STARTS_WITH(r, "Path not found in config");
}

// ---- extism-runtime.kernel.wasm: Extism's kernel, not a plugin ----------------------------------

FIXTURE_TEST(ExtismKernel, LoadsButIsNotAPlugin) {
  expect_not_a_plugin_function(Cli("extism-extism/extism-runtime.kernel.wasm", "alloc").run(), "alloc", "(i64)->(i64)");
}

// ---- http.wasm (export `http_request`; URL, method, headers and body from the input) -------------

class ExtismHttp : public NeedsFixtures {
 protected:
  TestHttpServer server;
  const std::string plugin = "extism-extism/http.wasm";
};

TEST_F(ExtismHttp, GetReturnsTheBodyTwice) {  // runtime.rs L602-616 (identical on the 2nd call)
  auto r = Cli(plugin, "http_request").input(url_input(server.url("/todos/1"))).allow_host("127.0.0.1").loop(2).run();
  EXPECT_SUCCESS(r, kTodoBody + "\n" + kTodoBody + "\n");
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  for (const auto& q : reqs) {
    EXPECT_EQ(q.method, "GET");  // the Rust PDK sends "method":null → GET
    EXPECT_EQ(q.target, "/todos/1");
    EXPECT_EQ(q.body, "");
  }
}

TEST_F(ExtismHttp, PostSendsTheData) {  // runtime.rs L618-645
  expect_post_echoes(server, plugin, "http_request", "testing 123...");
  expect_post_echoes(server, plugin, "http_request", std::string(10000, 'a'));
}

TEST_F(ExtismHttp, RequestHeadersAreSent) {
  auto r = Cli(plugin, "http_request")
               .input(url_input(server.url("/echo"), "\"headers\": {\"x-custom\": \"some value\"}"))
               .allow_host("127.0.0.1")
               .run();
  EXPECT_SUCCESS(r, "");
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  bool found = false;
  for (const auto& [k, v] : reqs[0].headers) found = found || (k == "x-custom" && v == "some value");
  EXPECT_TRUE(found) << "x-custom header not received";
}

TEST_F(ExtismHttp, NotFoundStatusStillReturnsTheBody) {  // ✔ harness: a 404 returns the body, rc 0
  EXPECT_SUCCESS(Cli(plugin, "http_request").input(url_input(server.url("/status/404"))).allow_host("127.0.0.1").run(),
                 "status 404");
}

TEST_F(ExtismHttp, EmptyBodyGivesEmptyOutput) {  // ✔ harness
  EXPECT_SUCCESS(Cli(plugin, "http_request").input(url_input(server.url("/empty"))).allow_host("127.0.0.1").run(), "");
}

TEST_F(ExtismHttp, NoAllowedHostsDenies) {  // runtime.rs L593-600; pdk.rs L229-232 wording
  expect_host_denied(server, plugin, "http_request", "/todos/1");
}

TEST_F(ExtismHttp, WildcardDoesNotReachLoopback) {  // our policy: loopback needs the host named
  expect_host_denied(server, plugin, "http_request", "/todos/1", "*");
}

TEST_F(ExtismHttp, BadInputIsThePluginsError) {  // ✔ harness: `expected ident at line 1 column 2`
  auto r = Cli(plugin, "http_request").input("nope").allow_host("127.0.0.1").run();
  EXPECT_CALL_ERROR(r, "plugin error");
  EXPECT_MESSAGE_EQ(r, "expected ident at line 1 column 2");
}

TEST_F(ExtismHttp, OneMillisecondTimeout) {  // runtime.rs L275-302: timeout_ms 1 → `timeout`
  expect_timeout(Cli(plugin, "http_request").input(url_input(server.url("/slow/60000"))).allow_host("127.0.0.1").timeout_ms(1).run());
}

// The HTTP request gets the call's remaining time: the server would answer after 60 s, later
// than the 30 s after which the process is killed, so a process that ends by itself with a
// timeout was cut while it waited.
TEST_F(ExtismHttp, SlowServerTimesOut) {
  expect_timeout(Cli(plugin, "http_request").input(url_input(server.url("/slow/60000"))).allow_host("127.0.0.1").timeout_ms(500).run());
}

// ---- http_headers.wasm (export `http_get`; output = the response headers as JSON) -------------

class ExtismHttpHeaders : public NeedsFixtures {
 protected:
  TestHttpServer server;
  const std::string plugin = "extism-extism/http_headers.wasm";
  std::string input(const std::string& path) { return url_input(server.url(path)); }
};

TEST_F(ExtismHttpHeaders, HeadersEnabled) {  // runtime.rs L812-825; go-sdk L463-485
  auto r = Cli(plugin, "http_get").input(input("/headers")).allow_host("127.0.0.1").run();
  EXPECT_SUCCESS_ANY_OUTPUT(r);
  EXPECT_TRUE(starts_with(r.out, "{") && r.out.back() == '}') << r.out;
  EXPECT_TRUE(contains(r.out, "\"content-type\":\"text/html; charset=utf-8\"")) << r.out;
  EXPECT_TRUE(contains(r.out, "\"x-test-header\":\"hello\"")) << "header names must be lower-cased: " << r.out;
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "GET");  // "method":null
}

TEST_F(ExtismHttpHeaders, HeadersDisabledGiveEmptyObject) {  // runtime.rs L827-840; go-sdk L487-507
  EXPECT_SUCCESS(Cli(plugin, "http_get").input(input("/headers")).allow_host("127.0.0.1").no_http_headers().run(), "{}");
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST_F(ExtismHttpHeaders, LogsTheRequestAtInfo) {
  std::string url = server.url("/headers");
  auto r = Cli(plugin, "http_get").input(input("/headers")).allow_host("127.0.0.1").log_level("info").run();
  EXPECT_SUCCESS_ANY_OUTPUT(r);
  EXPECT_EQ(r.logs_at("info"), std::vector<std::string>{"Request to: " + url}) << r.describe();
  auto quiet = Cli(plugin, "http_get").input(input("/headers")).allow_host("127.0.0.1").run();
  EXPECT_SUCCESS_ANY_OUTPUT(quiet);
  EXPECT_TRUE(quiet.logs.empty()) << quiet.describe();
}

TEST_F(ExtismHttpHeaders, DeniedHost) {
  expect_host_denied(server, plugin, "http_get", "/headers", "*.example.com");
}

}  // namespace
}  // namespace wasimancer::test::catalog
