// tests/catalog/catalog_cli.hpp: runs `wasimancer call` on a plugin of the third-party corpus
// (../shared/plugins, or WASIMANCER_FIXTURES; the tests are FIXTURE_TESTs, skipped without it)
// and parses what it prints, for the catalog tests (one test file per CATALOG.md section).
//
//   auto r = Cli("extism-extism/code.wasm", "count_vowels").input("aaa").loop(2).run();
//   EXPECT_SUCCESS(r, "{...}\n{...}\n");
//   EXPECT_CALL_ERROR(r, "out of memory");   // then inspect r.error_message
//
// The SDKs' HTTP plugins run against a TestHttpServer on 127.0.0.1 (url_input, expect_get_todo,
// expect_post_echoes, expect_host_denied at the end of this file).
//
// Plugin paths are relative to the shared plugins folder and are written as string literals
// ("owner-repo/file.wasm"): coverage_test.cpp scans the test sources for such literals to check
// that every fixture has a test.
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "http_server.hpp"
#include "paths.hpp"
#include "process.hpp"

namespace wasimancer::test::catalog {

using namespace std::chrono_literals;

// A plugin log line printed by spdlog: `<timestamp> <level> [FILE] <message>`.
struct LogLine {
  std::string level;  // trace, debug, info, warning, error
  std::string file;   // the plugin path as given on the command line
  std::string message;
};

struct CliResult {
  std::vector<std::string> argv;
  int exit_code = -1;
  std::string out;
  std::string err;
  bool timed_out = false;
  std::chrono::milliseconds elapsed{0};

  // The final `error ...` report on stderr, if any.
  bool has_error = false;
  bool typed_error = false;   // `error (<kind>): <message>` rather than `error: <message>`
  std::string error_kind;     // e.g. "trap", "timeout", "out of memory" (empty when untyped)
  std::string error_message;  // everything after `error (<kind>): ` or `error: `
  std::vector<LogLine> logs;  // plugin log lines, in order

  bool load_failed() const { return has_error && !typed_error && error_message.rfind("cannot load ", 0) == 0; }

  // Messages logged at `level` (spdlog names: trace, debug, info, warning, error).
  std::vector<std::string> logs_at(const std::string& level) const {
    std::vector<std::string> v;
    for (const auto& l : logs)
      if (l.level == level) v.push_back(l.message);
    return v;
  }

  // {level, message} of every plugin log line, in order.
  std::vector<std::pair<std::string, std::string>> levels_and_messages() const {
    std::vector<std::pair<std::string, std::string>> v;
    for (const auto& l : logs) v.emplace_back(l.level, l.message);
    return v;
  }

  std::string describe() const {
    std::ostringstream s;
    s << "command:";
    for (const auto& a : argv) s << " '" << (a.size() > 200 ? a.substr(0, 200) + "..." : a) << "'";
    s << "\nexit code: " << exit_code << (timed_out ? " (killed: process timeout)" : "")
      << "\nelapsed: " << elapsed.count() << " ms"
      << "\nstdout (" << out.size() << " bytes): " << (out.size() > 2000 ? out.substr(0, 2000) + "..." : out)
      << "\nstderr: " << (err.size() > 4000 ? err.substr(0, 4000) + "..." : err);
    return s.str();
  }
};

inline CliResult parse_cli_output(CliResult r) {
  // The error report is the last line that starts with "error (" or "error: "; the message runs
  // to the end of stderr (it may span lines, e.g. with captured plugin output).
  size_t pos = std::string::npos;
  for (size_t i = 0; i < r.err.size();) {
    if (r.err.compare(i, 7, "error (") == 0 || r.err.compare(i, 7, "error: ") == 0) pos = i;
    size_t nl = r.err.find('\n', i);
    if (nl == std::string::npos) break;
    i = nl + 1;
  }
  if (pos != std::string::npos) {
    r.has_error = true;
    std::string rest = r.err.substr(pos);
    while (!rest.empty() && (rest.back() == '\n' || rest.back() == '\r')) rest.pop_back();
    if (rest.compare(0, 7, "error (") == 0) {
      auto close = rest.find("): ");
      if (close != std::string::npos) {
        r.typed_error = true;
        r.error_kind = rest.substr(7, close - 7);
        r.error_message = rest.substr(close + 3);
      } else {
        r.error_message = rest;
      }
    } else {
      r.error_message = rest.substr(7);
    }
  }
  static const std::regex log_re(R"(^\S+ (trace|debug|info|warning|error|critical) +\[([^\]]*)\] ?(.*)$)");
  std::istringstream lines(pos == std::string::npos ? r.err : r.err.substr(0, pos));
  std::string line;
  while (std::getline(lines, line)) {
    std::smatch m;
    if (std::regex_match(line, m, log_re)) r.logs.push_back({m[1].str(), m[2].str(), m[3].str()});
  }
  return r;
}

class Cli {
 public:
  Cli(std::string plugin, std::string function) : plugin_(std::move(plugin)), function_(std::move(function)) {}

  // The input bytes. Short text goes through --input, anything else (large, binary, NUL)
  // through --input-file.
  Cli& input(std::string bytes) {
    input_ = std::move(bytes);
    has_input_ = true;
    return *this;
  }
  Cli& config(const std::string& key, const std::string& value) { return arg("--config").arg(key + "=" + value); }
  Cli& allow_host(const std::string& glob) { return arg("--allow-host").arg(glob); }
  Cli& timeout_ms(uint64_t ms) { return arg("--timeout-ms").arg(std::to_string(ms)); }
  Cli& max_pages(uint64_t n) { return arg("--max-pages").arg(std::to_string(n)); }
  Cli& max_var_bytes(uint64_t n) { return arg("--max-var-bytes").arg(std::to_string(n)); }
  Cli& max_http_response_bytes(uint64_t n) { return arg("--max-http-response-bytes").arg(std::to_string(n)); }
  Cli& log_level(const std::string& level) { return arg("--log-level").arg(level); }
  Cli& no_http_headers() { return arg("--no-http-headers"); }
  Cli& loop(unsigned n) { return arg("--loop").arg(std::to_string(n)); }
  Cli& arg(std::string a) {
    extra_.push_back(std::move(a));
    return *this;
  }
  // How long the process may run before the test kills it (a hang is a failure, not a wait).
  Cli& process_timeout(std::chrono::milliseconds t) {
    process_timeout_ = t;
    return *this;
  }

  CliResult run() const {
    std::vector<std::string> argv{binary(), "call", shared_plugin(plugin_), function_};
    std::filesystem::path input_file;
    if (has_input_) {
      bool plain = input_.size() <= 1024 && input_.find('\0') == std::string::npos && !input_.empty() &&
                   input_.front() != '-';
      if (plain) {
        argv.push_back("--input");
        argv.push_back(input_);
      } else {
        static std::atomic<int> counter{0};
        input_file = std::filesystem::temp_directory_path() /
                     ("wasimancer-catalog-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".in");
        std::ofstream(input_file, std::ios::binary).write(input_.data(), static_cast<std::streamsize>(input_.size()));
        argv.push_back("--input-file");
        argv.push_back(input_file.string());
      }
    }
    argv.insert(argv.end(), extra_.begin(), extra_.end());
    auto start = std::chrono::steady_clock::now();
    ProcessResult p = run_process(argv, "", process_timeout_);
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    if (!input_file.empty()) {
      std::error_code ec;
      std::filesystem::remove(input_file, ec);
    }
    CliResult r;
    r.argv = std::move(argv);
    r.exit_code = p.exit_code;
    r.out = std::move(p.out);
    r.err = std::move(p.err);
    r.timed_out = p.timed_out;
    r.elapsed = elapsed;
    return parse_cli_output(std::move(r));
  }

 private:
  std::string plugin_;
  std::string function_;
  std::string input_;
  bool has_input_ = false;
  std::vector<std::string> extra_;
  std::chrono::milliseconds process_timeout_ = 180s;  // a safety net only: a busy machine building native code may need long
};

// ---- assertions ---------------------------------------------------------------------------------

// The call succeeded (exit 0) and printed exactly `output` on stdout.
inline ::testing::AssertionResult CallSucceeds(const CliResult& r, const std::string& output) {
  if (r.exit_code == 0 && !r.timed_out && r.out == output) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected success with output (" << output.size() << " bytes): " << output
                                       << "\n"
                                       << r.describe();
}

// The call succeeded (exit 0), whatever it printed.
inline ::testing::AssertionResult CallSucceedsAnyOutput(const CliResult& r) {
  if (r.exit_code == 0 && !r.timed_out) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected success\n" << r.describe();
}

// The call failed (exit 1) with `error (<kind>): <message>`.
inline ::testing::AssertionResult CallFailsWith(const CliResult& r, const std::string& kind) {
  if (r.exit_code == 1 && r.typed_error && r.error_kind == kind) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected the call to fail with `error (" << kind << "): ...`\n"
                                       << r.describe();
}

// Loading failed (`error: cannot load FILE: <message>`, exit 1) and the message names every
// string of `needles` (e.g. the missing import's module and name).
inline ::testing::AssertionResult LoadFailsNaming(const CliResult& r, const std::vector<std::string>& needles) {
  bool ok = r.exit_code == 1 && r.load_failed();
  for (const auto& n : needles) ok = ok && r.error_message.find(n) != std::string::npos;
  if (ok) return ::testing::AssertionSuccess();
  auto f = ::testing::AssertionFailure() << "expected `error: cannot load ...` naming:";
  for (const auto& n : needles) f << " [" << n << "]";
  return f << "\n" << r.describe();
}

inline bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }
inline bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

#define EXPECT_SUCCESS(r, output) EXPECT_TRUE(::wasimancer::test::catalog::CallSucceeds((r), (output)))
#define EXPECT_SUCCESS_ANY_OUTPUT(r) EXPECT_TRUE(::wasimancer::test::catalog::CallSucceedsAnyOutput(r))
#define EXPECT_CALL_ERROR(r, kind) EXPECT_TRUE(::wasimancer::test::catalog::CallFailsWith((r), (kind)))
#define ASSERT_CALL_ERROR(r, kind) ASSERT_TRUE(::wasimancer::test::catalog::CallFailsWith((r), (kind)))
#define EXPECT_LOAD_FAILS_NAMING(r, ...) \
  EXPECT_TRUE(::wasimancer::test::catalog::LoadFailsNaming((r), std::vector<std::string>{__VA_ARGS__}))
// The message (of the parsed error report) contains `needle`.
#define EXPECT_MESSAGE_CONTAINS(r, needle)                                                             \
  EXPECT_TRUE(::wasimancer::test::catalog::contains((r).error_message, (needle)))                      \
      << "error message lacks [" << (needle) << "]\n"                                                  \
      << (r).describe()
#define EXPECT_MESSAGE_EQ(r, text) EXPECT_EQ((r).error_message, (text)) << (r).describe()
#define EXPECT_MESSAGE_STARTS_WITH(r, prefix)                                                          \
  EXPECT_TRUE(::wasimancer::test::catalog::starts_with((r).error_message, (prefix)))                   \
      << "error message does not start with [" << (prefix) << "]\n"                                    \
      << (r).describe()

// A timeout test: the call hit its limit (kind timeout, message starting with `timeout`, as the
// Rust runtime's exact message is `timeout`) and the process ended by itself (it is killed only
// after the 180 s process timeout). No wall-clock bound: a busy machine may be slow to start it.
inline void expect_timeout(const CliResult& r) {
  EXPECT_FALSE(r.timed_out) << "the process had to be killed\n" << r.describe();
  EXPECT_CALL_ERROR(r, "timeout");
  EXPECT_MESSAGE_STARTS_WITH(r, "timeout");
}

// A module that is not a plugin (a kernel, a link target) still loads: calling an export whose
// type is not ()->() / ()->(i32) is refused with `error (invalid argument): ...` naming the
// function and its type, not with a load error.
inline void expect_not_a_plugin_function(const CliResult& r, const std::string& function, const std::string& type) {
  EXPECT_FALSE(r.load_failed()) << "the module should load\n" << r.describe();
  EXPECT_CALL_ERROR(r, "invalid argument");
  EXPECT_MESSAGE_CONTAINS(r, "\"" + function + "\"");
  EXPECT_MESSAGE_CONTAINS(r, type);
}

// Calling an export that does not exist: `error (not found): ...` naming the function.
inline void expect_function_not_found(const CliResult& r, const std::string& function) {
  EXPECT_FALSE(r.load_failed()) << "the module should load\n" << r.describe();
  EXPECT_CALL_ERROR(r, "not found");
  EXPECT_MESSAGE_CONTAINS(r, "\"" + function + "\"");
}

// Input/output helpers.
inline std::string repeat(const std::string& s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

inline std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line)) v.push_back(line);
  return v;
}

// ---- the SDKs' HTTP plugins against TestHttpServer ----------------------------------------------
// Each test owns its TestHttpServer (its requests() are what that test's calls sent).

// What TestHttpServer serves at /todos/1: jsonplaceholder's todo 1, as the SDKs' tests expect it.
inline const std::string kTodoBody =
    "{\n  \"userId\": 1,\n  \"id\": 1,\n  \"title\": \"delectus aut autem\",\n  \"completed\": false\n}";

// The input of the SDKs' HTTP plugins: {"url": URL}, plus `more` members (`"method": "POST"`).
inline std::string url_input(const std::string& url, const std::string& more = "") {
  return "{\"url\": \"" + url + "\"" + (more.empty() ? "" : ", " + more) + "}";
}

// `function` GETs /todos/1 with the host allowed by `allow`: the output is kTodoBody and the
// server received one more request, a GET of /todos/1.
inline void expect_get_todo(const TestHttpServer& server, const std::string& plugin, const std::string& function,
                            const std::string& allow = "127.0.0.1") {
  size_t before = server.requests().size();
  EXPECT_SUCCESS(Cli(plugin, function).input(url_input(server.url("/todos/1"))).allow_host(allow).run(), kTodoBody);
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), before + 1);
  EXPECT_EQ(reqs.back().method, "GET");
  EXPECT_EQ(reqs.back().target, "/todos/1");
}

// `function` POSTs `data` to /echo: the output is `data` (echoed) and the server received one
// more request, a POST carrying `data`.
inline void expect_post_echoes(const TestHttpServer& server, const std::string& plugin, const std::string& function,
                               const std::string& data) {
  size_t before = server.requests().size();
  auto r = Cli(plugin, function)
               .input(url_input(server.url("/echo"), "\"method\": \"POST\", \"data\": \"" + data + "\""))
               .allow_host("127.0.0.1")
               .run();
  EXPECT_SUCCESS(r, data);
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), before + 1);
  EXPECT_EQ(reqs.back().method, "POST");
  EXPECT_EQ(reqs.back().body, data);
}

// `function` is refused a request to `path` (allowed hosts: `allow`, none when empty): a host
// error naming the URL, and nothing reached the server.
inline void expect_host_denied(const TestHttpServer& server, const std::string& plugin, const std::string& function,
                               const std::string& path, const std::string& allow = "") {
  std::string url = server.url(path);
  Cli cli(plugin, function);
  cli.input(url_input(url));
  if (!allow.empty()) cli.allow_host(allow);
  auto r = cli.run();
  EXPECT_CALL_ERROR(r, "host error");
  EXPECT_MESSAGE_STARTS_WITH(r, "HTTP request to " + url + " is not allowed");
  EXPECT_TRUE(server.requests().empty()) << server.requests().size() << " request(s) reached the server";
}

}  // namespace wasimancer::test::catalog
