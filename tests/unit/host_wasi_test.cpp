// The WASI preview1 subset (extism-abi.md §3) through wasi.wasm (tests/plugins/README.md):
// stdout/stderr captured through a CallSink, random, clocks, args/env, exit codes and proc_exit,
// and the file system that is never granted.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <set>
#include <string>

#include "log_capture.hpp"
#include "plugin_helpers.hpp"

using namespace wasimancer;
using namespace wasimancer::host;
using namespace wasimancer::test;

namespace {

class StdioSink : public CallSink {
 public:
  void plugin_stdout(const PluginOptions& plugin, int fd, std::string_view text) override {
    EXPECT_EQ(plugin.name, "wasi");
    (fd == 1 ? out : fd == 2 ? err : other) += std::string(text);
  }
  void plugin_log(const PluginOptions&, LogLevel, std::string_view message) override { logs += std::string(message); }
  std::string out, err, other, logs;
};

class Wasi : public PluginTest {
 protected:
  // Making the instance runs _initialize, whose wasi-libc preopen scan must see EBADF (or it
  // calls proc_exit(71)).
  void SetUp() override { load("wasi"); }
};

bool is_lower_hex(const std::string& s) { return s.find_first_not_of("0123456789abcdef") == std::string::npos; }

}  // namespace

TEST_F(Wasi, PrintGoesToStdout) {
  StdioSink sink;
  EXPECT_OUT(inst->call("print", "hello wasi", with_sink(&sink)), "");
  EXPECT_EQ(sink.out, "printed: hello wasi\n");
  EXPECT_EQ(sink.err, "");
  EXPECT_EQ(sink.other, "");
  // Again on the same instance: stdio keeps working and nothing is repeated.
  StdioSink sink2;
  EXPECT_OUT(inst->call("print", "second", with_sink(&sink2)), "");
  EXPECT_EQ(sink2.out, "printed: second\n");
}

TEST_F(Wasi, PrintStderrGoesToStderr) {
  StdioSink sink;
  EXPECT_OUT(inst->call("print_stderr", "oops", with_sink(&sink)), "");
  EXPECT_EQ(sink.err, "stderr: oops\n");
  EXPECT_EQ(sink.out, "");
}

// Without a sink (no MCP client: `wasimancer call`, start-up code), stdout goes to the server log
// at info, named after the plugin, one line per write without its newline; stderr likewise.
TEST_F(Wasi, DefaultSinkAcceptsStdout) {
  LogCapture logs;
  EXPECT_OUT(inst->call("print", "to the server log"), "");
  EXPECT_OUT(inst->call("print_stderr", "also logged"), "");
  EXPECT_EQ(logs.text(), "info [wasi] stdout: printed: to the server log\ninfo [wasi] stderr: stderr: also logged\n");
}

TEST_F(Wasi, StdoutCountsAgainstTheLogLimit) {
  PluginOptions o;
  o.limits.max_log_bytes = 64;
  auto i = make_instance(load_plugin("wasi", o));
  ASSERT_TRUE(i);
  StdioSink sink;
  EXPECT_OUT(i->call("print", "short", with_sink(&sink)), "");
  EXPECT_HOST_ERR(i->call("print", std::string(200, 'y'), with_sink(&sink)), "log limit exceeded");
}

TEST_F(Wasi, FailWithStdoutShowsTheOutputInTheError) {
  StdioSink sink;
  auto r = inst->call("fail_with_stdout", "", with_sink(&sink));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.error->kind, ErrorKind::PluginError);
  EXPECT_EQ(r.error->message.rfind("Returned non-zero exit code: 1; plugin output: something went wrong", 0), 0u)
      << r.error->message;
  EXPECT_EQ(sink.out, "something went wrong\n");
  // The captured stdout belongs to that call only: the next call's sink sees only its own.
  StdioSink sink2;
  EXPECT_OUT(inst->call("print", "fine", with_sink(&sink2)), "");
  EXPECT_EQ(sink2.out, "printed: fine\n");
}

TEST_F(Wasi, CapturedStdoutIsPerCall) {
  StdioSink sink;
  EXPECT_OUT(inst->call("print", "earlier call", with_sink(&sink)), "");
  auto r = inst->call("exit_code", "5", with_sink(&sink));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->message.find("earlier call"), std::string::npos) << r.error->message;
}

TEST_F(Wasi, RandomDiffersBetweenCalls) {
  std::set<std::string> seen;
  for (int k = 0; k < 3; ++k) {
    auto r = inst->call("random", "");
    ASSERT_TRUE(r.ok()) << describe(r);
    EXPECT_EQ(r.output.size(), 64u) << r.output;
    EXPECT_TRUE(is_lower_hex(r.output)) << r.output;
    EXPECT_NE(r.output, std::string(64, '0'));
    seen.insert(r.output);
  }
  EXPECT_EQ(seen.size(), 3u);
  // A second instance does not repeat the first one's bytes either.
  auto other = make_instance(plugin);
  ASSERT_TRUE(other);
  auto r = other->call("random", "");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(seen.count(r.output), 0u);
}

TEST_F(Wasi, Clock) {
  auto r = inst->call("clock", "");
  ASSERT_TRUE(r.ok()) << describe(r);
  const std::string prefix = "{\"realtime\":", suffix = ",\"monotonic\":\"ok\"}";
  ASSERT_EQ(r.output.rfind(prefix, 0), 0u) << r.output;
  ASSERT_GT(r.output.size(), prefix.size() + suffix.size()) << r.output;
  ASSERT_EQ(r.output.substr(r.output.size() - suffix.size()), suffix) << r.output;
  std::string secs = r.output.substr(prefix.size(), r.output.size() - prefix.size() - suffix.size());
  ASSERT_EQ(secs.find_first_not_of("0123456789"), std::string::npos) << secs;
  long long now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_LE(std::llabs(std::stoll(secs) - now), 60) << secs << " vs " << now;
}

TEST_F(Wasi, NoArgsNoEnv) { EXPECT_OUT(inst->call("args_env", ""), "{\"argc\":0,\"envc\":0}"); }

TEST_F(Wasi, ExitZeroIsSuccessWithOutput) {
  for (const char* fn : {"exit_code", "proc_exit"}) {
    for (const char* in : {"0", ""}) {
      SCOPED_TRACE(std::string(fn) + "(" + in + ")");
      auto i = make_instance(plugin);
      ASSERT_TRUE(i);
      EXPECT_OUT(i->call(fn, in), "bye");
      // proc_exit leaves the guest unwound mid-call: the owner should rebuild the instance.
      EXPECT_FALSE(i->reusable());
    }
  }
}

TEST_F(Wasi, NonZeroExitIsAFailureWithThatCode) {
  for (const char* fn : {"exit_code", "proc_exit"}) {
    SCOPED_TRACE(fn);
    auto i = make_instance(plugin);
    ASSERT_TRUE(i);
    auto r = i->call(fn, "3");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.rc, 3);
    EXPECT_EQ(r.error->kind, ErrorKind::PluginError);
    EXPECT_EQ(r.error->message.rfind("the plugin exited with code 3", 0), 0u) << r.error->message;
    EXPECT_EQ(r.output, "");
    EXPECT_FALSE(i->reusable());
  }
}

TEST_F(Wasi, ErrorWinsOverProcExitZero) {
  EXPECT_PLUGIN_ERR(inst->call("exit_after_error", ""), "exit after error");
}

TEST_F(Wasi, FileSystemIsDenied) {
  // wasi-libc scanned for preopens in _initialize (none): fopen fails inside the guest and the
  // plugin copes, so the call succeeds.
  EXPECT_OUT(inst->call("fs_denied", ""), "denied");
  EXPECT_OUT(inst->call("fs_denied", ""), "denied");
  EXPECT_TRUE(inst->reusable());
}

TEST_F(Wasi, DescriptorCallsOnStdoutAreNotFileAccess) {
  // fstat/lseek on stdout reach fd_filestat_get/fd_seek, which answer ENOSYS without granted
  // folders; unlike a path (path_open), they are not an attempt to use files: the call succeeds.
  EXPECT_OUT(inst->call("stdout_stat", ""), "ok");
}

