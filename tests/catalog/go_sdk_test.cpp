// CATALOG.md §4.2: extism/go-sdk `wasm/` fixtures (TinyGo go-pdk plugins and c-pdk tests), run
// through `wasimancer call`.
#include <gtest/gtest.h>

#include <regex>

#include "catalog_cli.hpp"

namespace wasimancer::test::catalog {
namespace {

// ---- c-pdk tests -----------------------------------------------------------------------------------

FIXTURE_TEST(GoSdkFail, ErrorSetWithRcOne) {  // go-sdk L199-210: rc 1, error exactly `Some error message`
  auto r = Cli("extism-go-sdk/fail.wasm", "run_test").run();
  EXPECT_CALL_ERROR(r, "plugin error");
  EXPECT_MESSAGE_EQ(r, "Some error message");
  EXPECT_EQ(r.out, "");
}

FIXTURE_TEST(GoSdkHello, HelloWorld) {  // go-sdk L212-227
  EXPECT_SUCCESS(Cli("extism-go-sdk/hello.wasm", "run_test").run(), "Hello, world!");
}

FIXTURE_TEST(GoSdkAlloc, KernelGrowsBeyond640KiB) {  // go-sdk L158-168: rc 0, output ""
  EXPECT_SUCCESS(Cli("extism-go-sdk/alloc.wasm", "run_test").run(), "");
}

// ---- input_offset.wasm (wat, 0-page memory) ------------------------------------------------------

FIXTURE_TEST(GoSdkInputOffset, LengthOfTheInputBlock) {  // go-sdk L890-903: u64 LE 11
  EXPECT_SUCCESS(Cli("extism-go-sdk/input_offset.wasm", "input_offset_length").input("hello world").run(),
                 std::string("\x0b\0\0\0\0\0\0\0", 8));
}

// ---- config.wasm -----------------------------------------------------------------------------------

FIXTURE_TEST(GoSdkConfig, ThingIsSet) {  // go-sdk L170-197
  EXPECT_SUCCESS(Cli("extism-go-sdk/config.wasm", "run_test").config("thing", "hello").run(), "{\"config\": \"hello\"}");
}

FIXTURE_TEST(GoSdkConfig, ThingUnsetOrEmpty) {
  EXPECT_SUCCESS(Cli("extism-go-sdk/config.wasm", "run_test").run(), "{\"config\": \"<unset by host>\"}");
  EXPECT_SUCCESS(Cli("extism-go-sdk/config.wasm", "run_test").config("thing", "").run(),
                 "{\"config\": \"<unset by host>\"}");
}

// ---- var.wasm (var `a`, 4-byte LE u32, doubled each call) ----------------------------------------

FIXTURE_TEST(GoSdkVar, UnsetVarReadsZeroOnEveryCall) {
  // js-sdk L605-620: no var set → `a: 0`, and `a` becomes 0 (doubling 0), so it stays 0 on the
  // same instance. Vars seeded by an SDK host (go-sdk L672-699) are out of scope.
  EXPECT_SUCCESS(Cli("extism-go-sdk/var.wasm", "run_test").loop(2).run(), "a: 0\na: 0\n");
}

FIXTURE_TEST(GoSdkVar, VarsDisabled) {  // go-sdk L701-717; Rust message
  auto r = Cli("extism-go-sdk/var.wasm", "run_test").max_var_bytes(0).run();
  EXPECT_CALL_ERROR(r, "host error");
  EXPECT_MESSAGE_CONTAINS(r, "Vars are disabled by this host");
}

// ---- exit.wasm (call `_start`; proc_exit(config code)) --------------------------------------------

FIXTURE_TEST(GoSdkExit, ZeroIsSuccess) {  // ✔ harness: rc 0
  EXPECT_SUCCESS(Cli("extism-go-sdk/exit.wasm", "_start").config("code", "0").run(), "");
}

FIXTURE_TEST(GoSdkExit, NonZeroCodesFailNamingTheCode) {  // go-sdk L229-256; dotnet L38-52; php L35-46
  struct Case {
    const char* config;  // nullptr: unset
    const char* code;
  } cases[] = {{"1", "1"}, {"2", "2"}, {"500", "500"}, {"abc", "1"}, {nullptr, "2"}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.config ? c.config : "(unset)");
    Cli cli("extism-go-sdk/exit.wasm", "_start");
    if (c.config) cli.config("code", c.config);
    auto r = cli.run();
    EXPECT_EQ(r.exit_code, 1) << r.describe();
    ASSERT_TRUE(r.typed_error) << r.describe();
    EXPECT_TRUE(std::regex_search(r.error_message, std::regex(std::string("(^|[^0-9-])") + c.code + "($|[^0-9])")))
        << "message should name exit code " << c.code << "\n" << r.describe();
  }
}

FIXTURE_TEST(GoSdkExit, MinusOne) {  // go-sdk expects exit code 0xffffffff (i32 −1)
  auto r = Cli("extism-go-sdk/exit.wasm", "_start").config("code", "-1").run();
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  ASSERT_TRUE(r.typed_error) << r.describe();
  EXPECT_TRUE(contains(r.error_message, "-1") || contains(r.error_message, "4294967295") ||
              contains(r.error_message, "0xffffffff"))
      << r.describe();
}

// ---- log.wasm (get_log_level + log_trace … log_error) ----------------------------------------------

const std::string kLog = "extism-go-sdk/log.wasm";

FIXTURE_TEST(GoSdkLog, TraceLevelShowsAllFive) {  // go-sdk L535-610; js-sdk L394-421
  auto r = Cli(kLog, "run_test").log_level("trace").run();
  EXPECT_SUCCESS(r, "");
  EXPECT_EQ(r.levels_and_messages(), (std::vector<std::pair<std::string, std::string>>{
                                         {"trace", "this is a trace log"},
                                         {"debug", "this is a debug log"},
                                         {"info", "this is an info log"},
                                         {"warning", "this is a warning log"},
                                         {"error", "this is an error log"}}))
      << r.describe();
  for (const auto& l : r.logs) EXPECT_EQ(l.file, shared_plugin(kLog));  // `[FILE]` is the path given to `call`
}

FIXTURE_TEST(GoSdkLog, WarnLevelShowsWarnAndError) {  // go-sdk L509-533
  auto r = Cli(kLog, "run_test").log_level("warn").run();
  EXPECT_SUCCESS(r, "");
  EXPECT_EQ(r.logs_at("warning"), std::vector<std::string>{"this is a warning log"});
  EXPECT_EQ(r.logs_at("error"), std::vector<std::string>{"this is an error log"});
  EXPECT_EQ(r.logs.size(), 2u) << r.describe();
}

FIXTURE_TEST(GoSdkLog, InfoLevelShowsInfoWarnError) {  // js-sdk L423-446
  auto r = Cli(kLog, "run_test").log_level("info").run();
  EXPECT_SUCCESS(r, "");
  EXPECT_EQ(r.levels_and_messages(), (std::vector<std::pair<std::string, std::string>>{
                                         {"info", "this is an info log"},
                                         {"warning", "this is a warning log"},
                                         {"error", "this is an error log"}}))
      << r.describe();
}

FIXTURE_TEST(GoSdkLog, DefaultLevelIsErrorAndOffSilences) {
  auto r = Cli(kLog, "run_test").run();
  EXPECT_SUCCESS(r, "");
  ASSERT_EQ(r.logs.size(), 1u) << r.describe();
  EXPECT_EQ(r.logs[0].level, "error");
  EXPECT_EQ(r.logs[0].message, "this is an error log");
  auto off = Cli(kLog, "run_test").log_level("off").run();
  EXPECT_SUCCESS(off, "");
  EXPECT_TRUE(off.logs.empty()) << off.describe();
  EXPECT_EQ(off.err, "");
}

// ---- println.wasm, noop.wasm, replace.wasm, throw.wasm ------------------------------------------

FIXTURE_TEST(GoSdkPrintln, StdoutGoesToTheLogNotTheOutput) {  // ✔ harness only: fd 1 gets the text
  auto r = Cli("extism-go-sdk/println.wasm", "run_test").input("bob").log_level("info").run();
  EXPECT_SUCCESS(r, "");
  EXPECT_EQ(r.logs_at("info"), std::vector<std::string>{"stdout: this was printed from the plugin bob"}) << r.describe();
  auto quiet = Cli("extism-go-sdk/println.wasm", "run_test").input("bob").run();
  EXPECT_SUCCESS(quiet, "");
  EXPECT_TRUE(quiet.logs.empty()) << quiet.describe();
}

FIXTURE_TEST(GoSdkNoop, NoOutput) {  // benchmark only: rc 0, no output
  EXPECT_SUCCESS(Cli("extism-go-sdk/noop.wasm", "run_test").run(), "");
}

FIXTURE_TEST(GoSdkReplace, ReplacesTestWithWasm) {  // ✔
  EXPECT_SUCCESS(Cli("extism-go-sdk/replace.wasm", "run_test").input("this is a test, test!").run(), "this is a wasm, wasm!");
}

FIXTURE_TEST(GoSdkThrow, CustomError) {  // ✔ harness only: rc 1, `my custom error`
  auto r = Cli("extism-go-sdk/throw.wasm", "run_test").run();
  EXPECT_CALL_ERROR(r, "plugin error");
  EXPECT_MESSAGE_EQ(r, "my custom error");
}

// ---- sleep.wasm (busy-waits on the WASI clock for config `duration` seconds) ---------------------

FIXTURE_TEST(GoSdkSleep, ZeroSeconds) {  // go-sdk L991-1019
  EXPECT_SUCCESS(Cli("extism-go-sdk/sleep.wasm", "run_test").config("duration", "0").run(), "slept for 0 seconds");
}

FIXTURE_TEST(GoSdkSleep, OneSecondTakesAtLeastOneSecond) {  // §5: wall time ≥ N s
  auto r = Cli("extism-go-sdk/sleep.wasm", "run_test").config("duration", "1").run();
  EXPECT_SUCCESS(r, "slept for 1 seconds");
  EXPECT_GE(r.elapsed, 1000ms);
}

FIXTURE_TEST(GoSdkSleep, TimesOut) {  // go-sdk L612-636: duration 3 + timeout 100 ms; Rust `timeout`
  expect_timeout(Cli("extism-go-sdk/sleep.wasm", "run_test").config("duration", "30").timeout_ms(500).run());
}

// ---- fs.wasm (WASI file system: later → a clear error that file access is not granted) ----------

FIXTURE_TEST(GoSdkFs, ClearFileAccessError) {
  auto r = Cli("extism-go-sdk/fs.wasm", "run_test").run();
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  ASSERT_TRUE(r.typed_error) << r.describe();
  EXPECT_MESSAGE_CONTAINS(r, "file system access");
  // Without the preopen the plugin logs `open /mnt/test.txt: errno 76` (✔) and returns 1.
  EXPECT_EQ(r.logs_at("error"), std::vector<std::string>{"open /mnt/test.txt: errno 76"}) << r.describe();
}

// ---- http.wasm (fixed https URL: a denied-host error unless allowed; never allowed here) --------

FIXTURE_TEST(GoSdkHttp, DeniedByDefault) {  // go-sdk L441-461
  auto r = Cli("extism-go-sdk/http.wasm", "run_test").run();
  EXPECT_CALL_ERROR(r, "host error");
  EXPECT_MESSAGE_STARTS_WITH(r, "HTTP request to https://jsonplaceholder.typicode.com/todos/1 is not allowed");
}

FIXTURE_TEST(GoSdkHttp, DeniedByAnotherGlob) {  // go-sdk L441-461: ["google.*"]
  auto r = Cli("extism-go-sdk/http.wasm", "run_test").allow_host("google.*").run();
  EXPECT_CALL_ERROR(r, "host error");
  EXPECT_MESSAGE_STARTS_WITH(r, "HTTP request to https://jsonplaceholder.typicode.com/todos/1 is not allowed");
}

// ---- user host functions and linked modules (out of scope: load fails naming the import) --------

FIXTURE_TEST(GoSdkHost, LoadFailsNamingMult) {
  EXPECT_LOAD_FAILS_NAMING(Cli("extism-go-sdk/host.wasm", "run_test").run(), "extism:host/user", "mult");
}

FIXTURE_TEST(GoSdkHostMemory, LoadFailsNamingToUpper) {  // custom namespace `host`
  EXPECT_LOAD_FAILS_NAMING(Cli("extism-go-sdk/host_memory.wasm", "run_test").input("Frodo").run(), "\"host\"", "to_upper");
}

FIXTURE_TEST(GoSdkHostMultiple, LoadFailsNamingBothFunctions) {
  auto r = Cli("extism-go-sdk/host_multiple.wasm", "say_green").input("John Doe").run();
  EXPECT_LOAD_FAILS_NAMING(r, "extism:host/user", "hostGreenMessage", "hostPurpleMessage");
}

FIXTURE_TEST(GoSdkMain, LoadFailsNamingTheLinkedModule) {  // main.wasm imports lib.capitalize
  EXPECT_LOAD_FAILS_NAMING(Cli("extism-go-sdk/main.wasm", "run_test").input("benjamin").run(), "\"lib\"", "capitalize");
}

FIXTURE_TEST(GoSdkLib, LinkTargetLoadsButIsNotCallable) {  // lib.wasm: link target only (name `lib`)
  expect_not_a_plugin_function(Cli("extism-go-sdk/lib.wasm", "capitalize").run(), "capitalize", "(i64)->(i64)");
}

FIXTURE_TEST(GoSdkNestedInstr, LoadFailsNamingTheObserveFunctions) {
  EXPECT_LOAD_FAILS_NAMING(Cli("extism-go-sdk/nested.c.instr.wasm", "_start").run(), "dylibso_observe",
                           "instrument_enter");
}

}  // namespace
}  // namespace wasimancer::test::catalog
