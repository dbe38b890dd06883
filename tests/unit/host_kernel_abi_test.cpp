// The kernel-memory part of extism:host/env and the call protocol (extism-abi.md §1, §2), driven
// through our echo.wasm and kernel.wasm test plugins (tests/plugins/README.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "plugin_helpers.hpp"

using namespace wasimancer;
using namespace wasimancer::host;
using namespace wasimancer::test;

namespace {

class Echo : public PluginTest {
 protected:
  void SetUp() override { load("echo"); }
};

class KernelPlugin : public PluginTest {
 protected:
  void SetUp() override { load("kernel"); }
};

std::string all_bytes() {
  std::string s;
  for (int i = 0; i < 256; ++i) s.push_back(static_cast<char>(i));
  return s;
}

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + 7) & 0xff);
  return s;
}

}  // namespace

// ---- echo.wasm ----------------------------------------------------------------------------------

TEST_F(Echo, EchoesBytesExactly) {
  EXPECT_OUT(inst->call("echo", "hello"), "hello");
  EXPECT_OUT(inst->call("echo", all_bytes()), all_bytes());
  EXPECT_OUT(inst->call("echo", std::string("a\0b\0", 4)), std::string("a\0b\0", 4));
}

TEST_F(Echo, EmptyInputGivesEmptyOutput) { EXPECT_OUT(inst->call("echo", ""), ""); }

TEST_F(Echo, LargeInputCrossesTheGuestBuffer) {
  // More than the 64 KiB guest chunk, and not a multiple of it or of 8.
  std::string big = pattern(200 * 1024 + 13);
  auto r = inst->call("echo", big);
  ASSERT_TRUE(r.ok()) << describe(r);
  EXPECT_EQ(r.output.size(), big.size());
  EXPECT_TRUE(r.output == big);
}

TEST_F(Echo, SuccessiveCallsDoNotLeakIntoEachOther) {
  EXPECT_OUT(inst->call("echo", std::string(5000, 'z')), std::string(5000, 'z'));
  EXPECT_OUT(inst->call("echo", "ab"), "ab");
  EXPECT_OUT(inst->call("echo", ""), "");
  EXPECT_OUT(inst->call("echo", "c"), "c");
}

TEST_F(Echo, VoidExport) {
  EXPECT_OUT(inst->call("echo_void", "void says hi"), "void says hi");
  EXPECT_OUT(inst->call("echo_void", ""), "");
}

TEST_F(Echo, ZeroCopyUsesTheInputBlock) {
  EXPECT_OUT(inst->call("echo_zero_copy", "zero copy"), "zero copy");
  EXPECT_OUT(inst->call("echo_zero_copy", all_bytes()), all_bytes());
  EXPECT_OUT(inst->call("echo_zero_copy", ""), "");
}

TEST_F(Echo, Upper) {
  EXPECT_OUT(inst->call("upper", "hello_World!"), "HELLO_WORLD!");
  std::string in = all_bytes(), expected = in;
  for (auto& c : expected)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  EXPECT_OUT(inst->call("upper", in), expected);
}

TEST_F(Echo, EmptyOutputWithoutOutputSet) {
  EXPECT_OUT(inst->call("empty_output", "ignored"), "");
  // The previous call's output must not survive into a call that sets none.
  EXPECT_OUT(inst->call("echo", "previous"), "previous");
  EXPECT_OUT(inst->call("empty_output", "x"), "");
}

TEST_F(Echo, ReturnCodes) {
  EXPECT_PLUGIN_ERR_RC(inst->call("rc", "42"), 42, "Returned non-zero exit code: 42");
  EXPECT_PLUGIN_ERR_RC(inst->call("rc", "-1"), -1, "Returned non-zero exit code: -1");
  EXPECT_PLUGIN_ERR_RC(inst->call("rc", " \t7\n"), 7, "Returned non-zero exit code: 7");

  EXPECT_OUT(inst->call("rc", "0"), "");
  EXPECT_OUT(inst->call("rc", ""), "");
  EXPECT_OUT(inst->call("rc", "not a number"), "");
}

TEST_F(Echo, ErrorTextIsTheFailure) {
  EXPECT_PLUGIN_ERR_RC(inst->call("fail", "boom"), 1, "boom");
  // Non-ASCII error text is returned byte for byte.
  EXPECT_PLUGIN_ERR(inst->call("fail", "\xC3\xA9\xE2\x9C\x93 failed"), "\xC3\xA9\xE2\x9C\x93 failed");
}

TEST_F(Echo, EmptyErrorTextDoesNotCount) {
  // alloc(0) = 0, so error_set(0): no error, and rc 1 is what remains.
  EXPECT_PLUGIN_ERR_RC(inst->call("fail", ""), 1, "Returned non-zero exit code: 1");
}

TEST_F(Echo, ErrorWinsOverReturnCodeZero) {
  EXPECT_PLUGIN_ERR_RC(inst->call("fail_rc0", ""), 0, "err with rc 0");
}

TEST_F(Echo, ClearedErrorIsNoError) { EXPECT_OUT(inst->call("error_then_clear", ""), "cleared"); }

TEST_F(Echo, ErrorGetRoundtrip) { EXPECT_OUT(inst->call("error_get_roundtrip", ""), "roundtrip error message"); }

TEST_F(Echo, ErrorDoesNotSurviveIntoTheNextCall) {
  EXPECT_PLUGIN_ERR(inst->call("fail", "first"), "first");
  EXPECT_OUT(inst->call("echo", "second"), "second");
  EXPECT_TRUE(inst->reusable());
}

TEST_F(Echo, UnknownFunction) {
  auto r = inst->call("no_such_export", "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->kind, ErrorKind::NotFound);
  EXPECT_NE(r.error->message.find("no_such_export"), std::string::npos) << r.error->message;
  EXPECT_TRUE(plugin->check_function("echo").ok());
  EXPECT_TRUE(plugin->check_function("echo_void").ok());
  EXPECT_FALSE(plugin->check_function("no_such_export").ok());
  // The instance is unaffected.
  EXPECT_OUT(inst->call("echo", "still fine"), "still fine");
}

TEST_F(Echo, PluginFunctionsListsExportsButNotLifecycle) {
  auto fns = plugin->plugin_functions();
  auto has = [&](const std::string& n) { return std::find(fns.begin(), fns.end(), n) != fns.end(); };
  for (const char* n : {"echo", "echo_void", "echo_zero_copy", "upper", "empty_output", "rc", "fail", "fail_rc0",
                        "error_then_clear", "error_get_roundtrip"}) {
    EXPECT_TRUE(has(n)) << n;
  }
  EXPECT_FALSE(has("_initialize"));
  EXPECT_FALSE(has("memory"));
}

TEST_F(Echo, InputLargerThanTheKernelLimitIsAClearOom) {
  PluginOptions opts;
  opts.limits.max_pages = 4;  // 256 KiB of kernel memory
  auto i = make_instance(load_plugin("echo", opts));
  ASSERT_TRUE(i);
  std::string big(300 * 1024, 'q');
  auto r = i->call("echo", big);
  EXPECT_OOM(r);
  EXPECT_NE(r.error->message.find(std::to_string(big.size())), std::string::npos) << r.error->message;
  // A fitting input still works on the same instance afterwards.
  EXPECT_OUT(i->call("echo", "fits"), "fits");
}

// ---- kernel.wasm --------------------------------------------------------------------------------

TEST_F(KernelPlugin, AllocZero) { EXPECT_OUT(inst->call("alloc_zero", ""), "0"); }

TEST_F(KernelPlugin, LengthChecks) {
  EXPECT_OUT(inst->call("length_checks", ""), "fresh=16 unsafe=16 interior=0 freed=0 null=0 garbage=0");
}

TEST_F(KernelPlugin, DoubleFree) { EXPECT_OUT(inst->call("double_free", ""), "ok"); }

TEST_F(KernelPlugin, NoReuse) { EXPECT_OUT(inst->call("no_reuse", ""), "differ"); }

TEST_F(KernelPlugin, OutOfBoundsNeverTraps) {
  EXPECT_OUT(inst->call("oob", ""), "load_u8=0 load_u64=0 after_store_u8=0 after_store_u64=0 wrap_u8=0 wrap_u64=0 block=ok");
}

TEST_F(KernelPlugin, UnalignedU64) {
  EXPECT_OUT(inst->call("unaligned_u64", ""), "0807060504030201 0102030405060708");
}

TEST_F(KernelPlugin, InputBlock) {
  for (size_t n : {size_t(0), size_t(1), size_t(7), size_t(8), size_t(9), size_t(4096), size_t(5003)}) {
    SCOPED_TRACE(n);
    EXPECT_OUT(inst->call("input_block", pattern(n)), "ok " + std::to_string(n));
  }
}

TEST_F(KernelPlugin, FreeInput) {
  EXPECT_OUT(inst->call("free_input", "some input"), "0");
  EXPECT_OUT(inst->call("free_input", ""), "0");
}

TEST_F(KernelPlugin, OutputTwiceLastWins) { EXPECT_OUT(inst->call("output_twice", ""), "second"); }

TEST_F(KernelPlugin, AllocMany) { EXPECT_OUT(inst->call("alloc_many", ""), "ok"); }

TEST_F(KernelPlugin, AllocHugeIsNull) { EXPECT_OUT(inst->call("alloc_huge", ""), "0"); }

TEST_F(KernelPlugin, ControlApi) {
  EXPECT_OUT(inst->call("control_api", "abc"), "output=1 memory=1 input=1 reset=1");
}

TEST_F(KernelPlugin, EveryExportAgainOnOneInstance) {
  // The kernel is reset before each call. alloc_many uses ~50 MB of the default 64 MiB kernel
  // limit, so a second round would fail ("FAIL alloc at i") if blocks survived across calls.
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(round);
    EXPECT_OUT(inst->call("no_reuse", ""), "differ");
    EXPECT_OUT(inst->call("alloc_many", ""), "ok");
    EXPECT_OUT(inst->call("length_checks", ""), "fresh=16 unsafe=16 interior=0 freed=0 null=0 garbage=0");
    EXPECT_OUT(inst->call("input_block", pattern(1000)), "ok 1000");
    EXPECT_OUT(inst->call("control_api", ""), "output=1 memory=1 input=1 reset=1");
  }
}
